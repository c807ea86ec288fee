'use strict';
// A response that sets the session cookie tells shared caches not to hand it to anyone else:
// Vary: Cookie, and Cache-Control: no-cache="Set-Cookie" unless the app chose its own
// (core/src/cache_headers.rs). Responses that set no session cookie are left alone.
const test = require('node:test');
const assert = require('node:assert/strict');
const { makeApp, serve } = require('./helpers');

async function withServer(handler, fn) {
  const srv = await serve(makeApp({}, handler));
  try {
    await fn(srv.client());
  } finally {
    await srv.close();
  }
}

test('a response that sets the session cookie says Vary: Cookie and no-cache="Set-Cookie"', async () => {
  await withServer((ctx) => {
    if (ctx.path === '/set') ctx.session.n = 1;
    ctx.body = 'ok';
  }, async (c) => {
    const r = await c.get('/set');
    assert.equal(r.setCookies.length, 2);
    assert.equal(r.headers['cache-control'], 'no-cache="Set-Cookie"');
    assert.equal(r.headers.vary, 'Cookie');
    // Reading it back sets no cookie: nothing added.
    const read = await c.get('/read');
    assert.equal(read.setCookies.length, 0);
    assert.equal(read.headers['cache-control'], undefined);
    assert.equal(read.headers.vary, undefined);
  });
});

test("the app's own Cache-Control is kept and its Vary gains Cookie once", async () => {
  await withServer((ctx) => {
    ctx.set('Cache-Control', 'private, max-age=10');
    ctx.vary(ctx.path === '/already' ? 'cookie' : 'Accept-Encoding');
    ctx.session.n = 1;
    ctx.body = 'ok';
  }, async (c) => {
    const r = await c.get('/x');
    assert.equal(r.headers['cache-control'], 'private, max-age=10');
    assert.equal(r.headers.vary, 'Accept-Encoding, Cookie');
    const again = await c.get('/already');
    assert.equal(again.headers.vary, 'cookie');
  });
});

test('a logout (cookies cleared) and an error response carry the headers too', async () => {
  await withServer((ctx) => {
    if (ctx.path === '/login') ctx.session.user = 'ann';
    if (ctx.path === '/logout') ctx.session = null;
    if (ctx.path === '/fail') {
      ctx.session.n = 2;
      ctx.throw(500, 'boom');
    }
    ctx.body = 'ok';
  }, async (c) => {
    await c.get('/login');
    const fail = await c.get('/fail');
    assert.equal(fail.status, 500);
    assert.ok(fail.setCookies.length > 0);
    assert.equal(fail.headers['cache-control'], 'no-cache="Set-Cookie"');
    assert.equal(fail.headers.vary, 'Cookie');
    const out = await c.get('/logout');
    assert.ok(out.setCookies.some((v) => v.startsWith('koa.sid=;')));
    assert.equal(out.headers['cache-control'], 'no-cache="Set-Cookie"');
  });
});
