'use strict';
// Errors on their way out of the middleware.

/** The default errorHandler: names the error after the store call that failed, and rethrows. */
function defaultErrorHandler(err, type) {
  err.name = `session middleware ${type} error`;
  throw err;
}

function toError(err) {
  if (err instanceof Error) return err;
  const e = new Error(typeof err === 'string' ? err : `non-error thrown: ${String(err)}`);
  e.cause = err;
  return e;
}

/**
 * Koa's error response starts by removing every header, then sets `err.headers`: carry the
 * session cookies there, so a session saved while the handler failed stays reachable.
 */
function keepCookiesOnError(error, cookies) {
  if (!cookies || cookies.length === 0 || error === null || typeof error !== 'object') return;
  try {
    const headers = error.headers && typeof error.headers === 'object' ? { ...error.headers } : {};
    let prev = [];
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'set-cookie') {
        prev = prev.concat(headers[name]);
        delete headers[name];
      }
    }
    headers['Set-Cookie'] = prev.concat(cookies);
    error.headers = headers;
  } catch {
    // A frozen or exotic error object: the session is saved; the cookie just stays off.
  }
}

module.exports = { defaultErrorHandler, toError, keepCookiesOnError };
