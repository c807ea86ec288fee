'use strict';
// What leaves the middleware: the engine's Set-Cookie values on the response, and errors.

/**
 * Adds the Set-Cookie values as Koa's cookies module does with `overwrite: true`: earlier
 * entries for the same names (`names`: 'key=' and 'key.sig=') go, ours are appended.
 */
function sendCookies(ctx, values, names) {
  if (values.length === 0) return;
  const res = ctx.res;
  if (ctx.headerSent || res.headersSent) {
    // Too late to set a header: report it, never throw from a response already on its way.
    const err = new Error(`koa-session-ts: session cookie not sent: headers were already sent (${ctx.method} ${ctx.path})`);
    err.expose = false;
    ctx.app.emit('error', err, ctx);
    return;
  }
  const prev = res.getHeader('Set-Cookie');
  if (prev === undefined) return res.setHeader('Set-Cookie', values);
  const kept = (Array.isArray(prev) ? prev : [String(prev)]).filter((v) => !names.some((n) => v.startsWith(n)));
  res.setHeader('Set-Cookie', kept.concat(values));
}

/** The default errorHandler: names the error after the store call that failed, and rethrows. */
function defaultErrorHandler(err, type) {
  err.name = `session middleware ${type} error`;
  throw err;
}

function toError(err) {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : `non-error thrown: ${String(err)}`, { cause: err });
}

/**
 * Koa's error response starts by removing every header, then sets `err.headers`: carry the
 * session cookies there, so a session saved while the handler failed stays reachable.
 */
function keepCookiesOnError(error, cookies) {
  if (!cookies || cookies.length === 0 || error === null || typeof error !== 'object') return;
  try {
    const headers = typeof error.headers === 'object' ? { ...error.headers } : {};
    let prev = [];
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() !== 'set-cookie') continue;
      prev = prev.concat(headers[name]);
      delete headers[name];
    }
    error.headers = { ...headers, 'Set-Cookie': prev.concat(cookies) };
  } catch {
    // A frozen or exotic error object: the session is saved; the cookie just stays off.
  }
}

module.exports = { sendCookies, defaultErrorHandler, toError, keepCookiesOnError };
