'use strict';
// Bad input: wrong option types, unserializable sessions, huge and malformed Cookie
// headers, handlers that throw after changing the session.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { session, withApp, cookieNamed } = require('./helpers');

const { MemoryStore } = session;

test('wrong option types are a TypeError at session() time, naming the option', () => {
  const cases = [
    [{ key: 5 }, /option "key"/],
    [{ key: 'a;b' }, /option "key"/],
    [{ key: '' }, /option "key"/],
    [{ reconnectTimeout: '10' }, /option "reconnectTimeout"/],
    [{ reconnectTimeout: -1 }, /option "reconnectTimeout"/],
    [{ defer: 'yes' }, /option "defer"/],
    [{ rolling: 1 }, /option "rolling"/],
    [{ allowEmpty: null }, /option "allowEmpty"/],
    [{ genSid: 'x' }, /option "genSid"/],
    [{ errorHandler: {} }, /option "errorHandler"/],
    [{ errorHanlder: 1 }, /option "errorHanlder"/],
    [{ valid: true }, /option "valid"/],
    [{ beforeSave: [] }, /option "beforeSave"/],
    [{ store: {} }, /option "store"/],
    [{ store: 'redis' }, /option "store"/],
    [{ cookieOptions: 'x' }, /option "cookieOptions"/],
    [{ cookieOptions: { maxAge: '1d' } }, /option "cookieOptions.maxAge"/],
    [{ cookieOptions: { maxAge: NaN } }, /option "cookieOptions.maxAge"/],
    [{ cookieOptions: { httpOnly: 'true' } }, /option "cookieOptions.httpOnly"/],
    [{ cookieOptions: { secure: 1 } }, /option "cookieOptions.secure"/],
    [{ cookieOptions: { signed: 'no' } }, /option "cookieOptions.signed"/],
    [{ cookieOptions: { path: 5 } }, /option "cookieOptions.path"/],
    [{ cookieOptions: { path: '/a;b' } }, /option "cookieOptions.path"/],
    [{ cookieOptions: { domain: 'x\r\ny' } }, /option "cookieOptions.domain"/],
    [{ cookieOptions: { sameSite: 'sometimes' } }, /option "cookieOptions.sameSite"/],
    [{ cookieOptions: { priority: 'urgent' } }, /option "cookieOptions.priority"/],
    [{ cookieOptions: { expires: 'not a date' } }, /option "cookieOptions.expires"/],
    [{ cookieOptions: { expires: new Date(NaN) } }, /option "cookieOptions.expires"/],
  ];
  for (const [opts, re] of cases) {
    assert.throws(() => session(opts), (err) => err instanceof TypeError && re.test(err.message), JSON.stringify(opts));
  }
  assert.throws(() => session('opts'), TypeError);
  // Accepted forms.
  for (const ok of [undefined, null, {}, { cookieOptions: { maxAge: null, sameSite: true, expires: new Date(Date.now() + 1e6) } }, { cookieOptions: { maxAge: 'session' } }]) {
    assert.equal(typeof session(ok), 'function');
  }
});

test('an unserializable session (BigInt, cycle) is a clear error and nothing is written', async () => {
  for (const kind of ['bigint', 'cycle']) {
    const store = new MemoryStore();
    await withApp({ store }, async (ctx) => {
      if (ctx.path === '/login') ctx.session.user = 'ann';
      if (ctx.path === '/bad') {
        if (kind === 'bigint') ctx.session.n = 10n;
        else ctx.session.self = ctx.session;
      }
      ctx.body = { sid: ctx.sessionId };
    }, async (srv, app) => {
      const c = srv.client();
      const { sid } = (await c.get('/login')).json;
      const r = await c.get('/bad');
      assert.equal(r.status, 500);
      assert.match(app.errors[0].message, /ctx\.session cannot be saved: it is not serializable to JSON/);
      assert.equal(r.setCookies.length, 0);
      assert.equal((await store.get(sid)).user, 'ann', 'the stored session is intact');
      assert.equal((await store.get(sid)).n, undefined);
      assert.equal(store.size, 1);
    });
  }
});

test('huge and malformed Cookie headers never break a request', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    ctx.session.n = (ctx.session.n || 0) + 1;
    ctx.body = { n: ctx.session.n, sid: ctx.sessionId };
  }, async (srv) => {
    const c = srv.client();
    const { sid } = (await c.get('/')).json;
    const good = c.cookieHeader();
    const headers = [
      'koa.sid',
      '=;=;;;',
      'koa.sid=; koa.sid.sig=',
      'koa.sid="quoted"; koa.sid.sig="x"',
      'koa.sid=\u00e9\u00e9; koa.sid.sig=\u00ff',
      `koa.sid=${'a'.repeat(5000)}; koa.sid.sig=${'b'.repeat(5000)}`,
      `${'x=1; '.repeat(2000)}${good}`,
      `koa.sid=${sid}; koa.sid.sig=%%%%`,
      `koa.sid=../../etc/passwd; koa.sid.sig=AAAA`,
    ];
    for (const cookie of headers) {
      const r = await srv.request('/', { headers: { cookie: Buffer.from(cookie, 'latin1').toString('latin1') } });
      assert.equal(r.status, 200, cookie.slice(0, 60));
    }
    // A long but valid header still finds the session.
    const r = await srv.request('/', { headers: { cookie: `${'x=1; '.repeat(2000)}${good}` } });
    assert.equal(r.json.sid, sid);
  });
});

test('a handler that throws after changing the session: the change is saved, the error propagates', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/login') ctx.session.user = 'ann';
    if (ctx.path === '/fail') {
      ctx.session.step = 2;
      throw new Error('handler failed');
    }
    ctx.body = { sid: ctx.sessionId, session: ctx.session };
  }, async (srv, app) => {
    const c = srv.client();
    const { sid } = (await c.get('/login')).json;
    const r = await c.get('/fail');
    assert.equal(r.status, 500);
    assert.equal(app.errors[0].message, 'handler failed');
    assert.equal((await store.get(sid)).step, 2);
    const again = await c.get('/');
    assert.equal(again.json.session.step, 2);
  });
  // A new session changed before the throw is saved and its cookie survives Koa's error response.
  const store2 = new MemoryStore();
  await withApp({ store: store2 }, async (ctx) => {
    ctx.session.x = 1;
    const err = new Error('nope');
    err.status = 400;
    err.expose = true;
    throw err;
  }, async (srv) => {
    const r = await srv.request('/');
    assert.equal(r.status, 400);
    const ck = cookieNamed(r, 'koa.sid');
    assert.ok(ck);
    assert.equal((await store2.get(ck.value)).x, 1);
  });
});

test('a store failure while the handler also failed: the handler error wins, both reported', async () => {
  const store = new MemoryStore();
  store.set = async () => {
    throw new Error('store down');
  };
  await withApp({ store }, async (ctx) => {
    ctx.session.x = 1;
    throw new Error('handler error');
  }, async (srv, app) => {
    const r = await srv.request('/');
    assert.equal(r.status, 500);
    const messages = app.errors.map((e) => e.message).sort();
    assert.deepEqual(messages, ['handler error', 'store down']);
  });
});
