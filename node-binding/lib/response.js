'use strict';
// Adding the engine's Set-Cookie values to a Koa response, as Koa's cookies module does with
// `overwrite: true`: earlier Set-Cookie entries for the same names go, then ours are appended.

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
  let list;
  if (prev === undefined) list = values;
  else {
    const kept = (Array.isArray(prev) ? prev : [String(prev)]).filter((v) => !names.some((n) => v.startsWith(n)));
    list = kept.concat(values);
  }
  res.setHeader('Set-Cookie', list);
}

module.exports = { sendCookies };
