'use strict';
// Signing with app.keys (rotation, tampering, no keys), secure cookies over HTTP and behind
// a proxy, headers already sent, and the hooks: genSid, valid, beforeSave, errorHandler.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { session, withApp, makeApp, serve, cookieNamed, request } = require('./helpers');

const { MemoryStore } = session;

function sign(key, data) {
  return crypto.createHmac('sha1', key).update(data).digest('base64url');
}

const setUser = async (ctx) => {
  if (ctx.path === '/login') ctx.session.user = 'ann';
  ctx.body = { sid: ctx.sessionId, user: ctx.session.user ?? null };
};

test('signatures are keygrip-compatible (HMAC-SHA1 of "name=value", base64url)', async () => {
  await withApp({}, setUser, { keys: ['s3cret'] }, async (srv) => {
    const r = await srv.client().get('/login');
    const sid = cookieNamed(r, 'koa.sid').value;
    assert.equal(cookieNamed(r, 'koa.sid.sig').value, sign('s3cret', `koa.sid=${sid}`));
  });
});

test('a cookie signed by an older key is accepted and re-signed with the current key', async () => {
  const store = new MemoryStore();
  let sid;
  await withApp({ store }, setUser, { keys: ['old-key'] }, async (srv) => {
    sid = (await srv.client().get('/login')).json.sid;
  });
  await withApp({ store }, setUser, { keys: ['new-key', 'old-key'] }, async (srv) => {
    const cookie = `koa.sid=${sid}; koa.sid.sig=${sign('old-key', `koa.sid=${sid}`)}`;
    const r = await srv.request('/', { headers: { cookie } });
    assert.equal(r.json.user, 'ann', 'old-key cookie accepted');
    assert.equal(r.json.sid, sid);
    const sig = cookieNamed(r, 'koa.sid.sig');
    assert.ok(sig, 're-signed although the session did not change');
    assert.equal(sig.value, sign('new-key', `koa.sid=${sid}`));
    assert.equal(cookieNamed(r, 'koa.sid'), undefined, 'only the signature cookie is re-sent');
    // With the new signature: accepted, nothing re-sent.
    const r2 = await srv.request('/', { headers: { cookie: `koa.sid=${sid}; koa.sid.sig=${sig.value}` } });
    assert.equal(r2.json.user, 'ann');
    assert.equal(r2.setCookies.length, 0);
  });
});

test('a tampered or missing signature starts a new session and clears the stale cookies', async () => {
  const store = new MemoryStore();
  await withApp({ store }, setUser, { keys: ['k'] }, async (srv) => {
    const sid = (await srv.client().get('/login')).json.sid;
    for (const cookie of [`koa.sid=${sid}; koa.sid.sig=AAAAAAAAAAAAAAAAAAAAAAAAAAA`, `koa.sid=${sid}`]) {
      const r = await srv.request('/', { headers: { cookie } });
      assert.equal(r.json.user, null);
      assert.notEqual(r.json.sid, sid, 'never adopts the client-chosen id');
      assert.ok(cookieNamed(r, 'koa.sid').cleared);
      assert.ok(cookieNamed(r, 'koa.sid.sig').cleared);
    }
    assert.ok(await store.get(sid), 'the real record is untouched');
  });
});

test('an unknown (expired) session id is not adopted: new id, stale cookie cleared', async () => {
  await withApp({}, setUser, { keys: ['k'] }, async (srv) => {
    const sid = 'x'.repeat(32);
    const r = await srv.request('/', { headers: { cookie: `koa.sid=${sid}; koa.sid.sig=${sign('k', `koa.sid=${sid}`)}` } });
    assert.notEqual(r.json.sid, sid);
    assert.ok(cookieNamed(r, 'koa.sid').cleared);
  });
});

test('no app.keys: unsigned cookies, a one-time warning, never a 500', async () => {
  const warnings = [];
  const onWarning = (w) => w.name === 'KoaSessionWarning' && warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    await withApp({}, setUser, { keys: null }, async (srv) => {
      const c = srv.client();
      const r = await c.get('/login');
      assert.equal(r.status, 200);
      assert.ok(cookieNamed(r, 'koa.sid'));
      assert.equal(cookieNamed(r, 'koa.sid.sig'), undefined);
      assert.equal((await c.get('/')).json.user, 'ann');
      await c.get('/');
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(warnings.filter((m) => /app\.keys is not set/.test(m)).length, 1);
  } finally {
    process.off('warning', onWarning);
  }
});

test('cookieOptions.signed = false: unsigned even with app.keys', async () => {
  await withApp({ cookieOptions: { signed: false } }, setUser, { keys: ['k'] }, async (srv) => {
    const c = srv.client();
    const r = await c.get('/login');
    assert.equal(cookieNamed(r, 'koa.sid.sig'), undefined);
    assert.equal((await c.get('/')).json.user, 'ann');
  });
});

test('app.keys set after session() and changed at run time are picked up', async () => {
  const app = makeApp({}, setUser, { keys: null });
  app.keys = ['first'];
  const srv = await serve(app);
  try {
    const r = await srv.client().get('/login');
    const sid = cookieNamed(r, 'koa.sid').value;
    assert.equal(cookieNamed(r, 'koa.sid.sig').value, sign('first', `koa.sid=${sid}`));
    app.keys = ['second', 'first'];
    const r2 = await srv.request('/', { headers: { cookie: `koa.sid=${sid}; koa.sid.sig=${sign('first', `koa.sid=${sid}`)}` } });
    assert.equal(r2.json.user, 'ann');
    assert.equal(cookieNamed(r2, 'koa.sid.sig').value, sign('second', `koa.sid=${sid}`));
  } finally {
    await srv.close();
  }
});

test('secure cookies are refused over plain HTTP with Koa\'s error, and nothing is written', async () => {
  const store = new MemoryStore();
  await withApp({ store, cookieOptions: { secure: true } }, setUser, async (srv, app) => {
    const r = await srv.request('/login');
    assert.equal(r.status, 500);
    // Koa's words first, then which option and how to fix it (options.test.js checks the rest).
    assert.match(app.errors[0].message, /^Cannot send secure cookie over unencrypted connection: .*cookieOptions\.secure/);
    assert.equal(store.size, 0, 'store not written before the cookie failed');
    assert.equal(r.setCookies.length, 0);
  });
});

test('secure cookies are sent behind a trusted proxy (app.proxy + X-Forwarded-Proto)', async () => {
  await withApp({ cookieOptions: { secure: true } }, setUser, { proxy: true }, async (srv) => {
    const r = await srv.request('/login', { headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(r.status, 200);
    assert.ok(cookieNamed(r, 'koa.sid').attrs.secure);
  });
  await withApp({ cookieOptions: { secure: true } }, setUser, { proxy: false }, async (srv) => {
    const r = await srv.request('/login', { headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(r.status, 500, 'an untrusted X-Forwarded-Proto is ignored');
  });
});

test('headers already sent: the session is saved, the cookie is reported, nothing throws', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    ctx.session.x = 1;
    ctx.respond = false;
    ctx.res.writeHead(200, { 'content-type': 'text/plain' });
    ctx.res.end('streamed');
  }, async (srv, app) => {
    const r = await srv.request('/');
    assert.equal(r.text, 'streamed');
    assert.equal(r.setCookies.length, 0);
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(app.errors.length, 1);
    assert.match(app.errors[0].message, /headers were already sent/);
  });
});

test('genSid: sync and async generators are used; a bad id is a clear error', async () => {
  let n = 0;
  await withApp({ genSid: (ctx, len) => `sync-${len}-${++n}` }, setUser, async (srv) => {
    assert.equal((await srv.client().get('/login')).json.sid, 'sync-24-1');
  });
  await withApp({ genSid: async () => 'async-generated-id' }, setUser, async (srv) => {
    const r = await srv.client().get('/login');
    assert.equal(r.json.sid, 'async-generated-id');
    assert.equal(cookieNamed(r, 'koa.sid').value, 'async-generated-id');
  });
  for (const bad of [() => 42, () => 'has space', () => '']) {
    await withApp({ genSid: bad }, setUser, async (srv, app) => {
      const r = await srv.request('/login');
      assert.equal(r.status, 500);
      assert.match(app.errors[0].message, /genSid must return a string|session id is invalid/);
    });
  }
});

test('valid(ctx, session) = false: new session, new id, old cookie cleared', async () => {
  const store = new MemoryStore();
  const seen = [];
  await withApp({ store, valid: (ctx, s) => (seen.push(s.user), ctx.get('x-valid') !== 'no') }, setUser, async (srv) => {
    const c = srv.client();
    const { sid } = (await c.get('/login')).json;
    assert.equal((await c.get('/')).json.user, 'ann');
    const r = await c.get('/', { headers: { 'x-valid': 'no' } });
    assert.equal(r.json.user, null);
    assert.notEqual(r.json.sid, sid);
    assert.ok(cookieNamed(r, 'koa.sid').cleared);
    assert.deepEqual(seen, ['ann', 'ann']);
  });
});

test('beforeSave runs before each store write and its changes are saved', async () => {
  const store = new MemoryStore();
  const calls = [];
  await withApp({ store, beforeSave: (ctx, s) => { calls.push(ctx.path); s.savedAt = 'now'; } }, setUser, async (srv) => {
    const c = srv.client();
    await c.get('/');
    assert.deepEqual(calls, [], 'no write, no beforeSave');
    const r = await c.get('/login');
    assert.deepEqual(calls, ['/login']);
    assert.equal((await store.get(r.json.sid)).savedAt, 'now');
  });
});

test('beforeSave may be async', async () => {
  const store = new MemoryStore();
  await withApp({ store, beforeSave: async (ctx, s) => { await new Promise((r) => setImmediate(r)); s.late = true; } }, setUser, async (srv) => {
    const r = await srv.client().get('/login');
    assert.equal((await store.get(r.json.sid)).late, true);
  });
});

test('response without a session outside the path is untouched by the middleware', async () => {
  await withApp({ cookieOptions: { path: '/api' } }, (ctx) => {
    ctx.body = { session: ctx.session === undefined ? 'none' : 'some' };
  }, async (srv) => {
    const r = await request(srv.port, '/other');
    assert.equal(r.json.session, 'none');
    assert.equal(r.setCookies.length, 0);
  });
});
