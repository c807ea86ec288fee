'use strict';
// The engine's Set-Cookie values on a Koa response, also when the app threw, with the cache
// headers that keep a shared cache from handing them to someone else (core's rule).

const { cacheHeaders } = require('../loader');

// Core's answer when the response has neither header, asked once: most responses are that case,
// and a native call per response costs more than the rest of sending a cookie.
const DEFAULT_CACHE_HEADERS = cacheHeaders(null, null);

/** A header's value as one string, or null when unset. */
const headerText = (v) => (v === undefined || v === null ? null : Array.isArray(v) ? v.join(', ') : String(v));

/**
 * [Cache-Control, Vary] to set beside the session's Set-Cookie (null: leave it), by core's
 * rule, from the app's own values of those headers as a response holds them (unset: undefined
 * or null).
 */
function cacheHeadersFor(appCacheControl, appVary) {
  const cacheControl = headerText(appCacheControl);
  const vary = headerText(appVary);
  return cacheControl === null && vary === null ? DEFAULT_CACHE_HEADERS : cacheHeaders(cacheControl, vary);
}

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
  // (Lower-case names: getHeader and setHeader lower-case theirs, and an already lower-case
  // literal costs no new string per call. Header names are case-insensitive on the wire.)
  const [cacheControl, vary] = cacheHeadersFor(res.getHeader('cache-control'), res.getHeader('vary'));
  if (cacheControl !== null) res.setHeader('cache-control', cacheControl);
  if (vary !== null) res.setHeader('vary', vary);
  const prev = res.getHeader('set-cookie');
  if (prev === undefined) return res.setHeader('set-cookie', values);
  const kept = (Array.isArray(prev) ? prev : [String(prev)]).filter((v) => !names.some((n) => v.startsWith(n)));
  res.setHeader('set-cookie', kept.concat(values));
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
    let cc = null;
    let vary = null;
    for (const [name, v] of Object.entries(typeof error.headers === 'object' ? error.headers ?? {} : {})) {
      const lower = name.toLowerCase();
      if (lower === 'set-cookie') prev = prev.concat(v);
      else headers[name] = v;
      if (lower === 'cache-control') cc = v;
      if (lower === 'vary') vary = v;
    }
    const [cacheControl, varyOut] = cacheHeadersFor(cc, vary);
    for (const [name, v] of [['Cache-Control', cacheControl], ['Vary', varyOut]]) {
      if (v === null) continue;
      for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
      headers[name] = v;
    }
    error.headers = { ...headers, 'Set-Cookie': prev.concat(cookies) };
  } catch {
    // A frozen or exotic error object: the session is saved; the cookie just stays off.
  }
}

module.exports = { sendCookies, keepCookiesOnError };
