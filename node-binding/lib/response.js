'use strict';
// The engine's Set-Cookie values on a Koa response, also when the app threw.

/**
 * Adds the Set-Cookie values as Koa's cookies module does with `overwrite: true`: earlier
 * entries for the same names (`names`: 'key=' and 'key.sig=') go, ours are appended.
 */
function sendCookies(ctx, values, names) {
  const res = ctx.res;
  if (ctx.headerSent || res.headersSent) {
    // Too late to set a header: report it, never throw from a response already on its way.
    const message = `koa-session-ts: session cookie not sent: headers were already sent (${ctx.method} ${ctx.path})`;
    ctx.app.emit('error', Object.assign(new Error(message), { expose: false }), ctx);
    return;
  }
  const prev = res.getHeader('Set-Cookie');
  if (prev === undefined) return res.setHeader('Set-Cookie', values);
  const kept = (Array.isArray(prev) ? prev : [String(prev)]).filter((v) => !names.some((n) => v.startsWith(n)));
  res.setHeader('Set-Cookie', kept.concat(values));
}

/**
 * Koa's error response starts by removing every header, then sets `err.headers`: carry the
 * session cookies there, so a session saved while the handler failed stays reachable.
 */
function keepCookiesOnError(error, cookies) {
  if (!cookies || cookies.length === 0 || error === null || typeof error !== 'object') return;
  try {
    const headers = {};
    let prev = [];
    for (const [name, v] of Object.entries(typeof error.headers === 'object' ? error.headers ?? {} : {})) {
      if (name.toLowerCase() === 'set-cookie') prev = prev.concat(v);
      else headers[name] = v;
    }
    error.headers = { ...headers, 'Set-Cookie': prev.concat(cookies) };
  } catch {
    // A frozen or exotic error object: the session is saved; the cookie just stays off.
  }
}

module.exports = { sendCookies, keepCookiesOnError };
