'use strict';
// defer: true — ctx.session is a promise; nothing is loaded unless it is read or set.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { session, withApp, cookieNamed } = require('./helpers');

const { MemoryStore } = session;

function countingStore() {
  const store = new MemoryStore();
  store.count = { get: 0, set: 0, destroy: 0 };
  for (const m of ['get', 'set', 'destroy']) {
    const orig = MemoryStore.prototype[m];
    store[m] = function (...a) {
      store.count[m]++;
      return orig.apply(this, a);
    };
  }
  return store;
}

test('defer: untouched requests load nothing; reads and writes work through await', async () => {
  const store = countingStore();
  await withApp({ store, defer: true }, async (ctx) => {
    if (ctx.path === '/login') {
      const s = await ctx.session;
      s.user = 'ann';
    } else if (ctx.path === '/me') {
      const s = await ctx.session;
      ctx.body = { user: s.user ?? null, sid: ctx.sessionId };
      return;
    } else if (ctx.path === '/logout') {
      ctx.session = null;
    }
    ctx.body = { sid: ctx.sessionId ?? null };
  }, async (srv) => {
    const c = srv.client();
    const r0 = await c.get('/login');
    assert.ok(cookieNamed(r0, 'koa.sid'));
    const before = { ...store.count };
    const untouched = await c.get('/static');
    assert.deepEqual(store.count, before, 'no store call when the session is not used');
    assert.equal(untouched.setCookies.length, 0);
    assert.equal(untouched.json.sid, null);
    const me = await c.get('/me');
    assert.equal(me.json.user, 'ann');
    assert.equal(me.json.sid, cookieNamed(r0, 'koa.sid').value);
    const out = await c.get('/logout');
    assert.ok(cookieNamed(out, 'koa.sid').cleared);
    assert.ok(cookieNamed(out, 'koa.sid.sig').cleared);
    assert.equal(store.size, 0);
  });
});

test('defer: assigning a whole new session without reading it saves it under the existing id', async () => {
  const store = new MemoryStore();
  await withApp({ store, defer: true }, async (ctx) => {
    if (ctx.path === '/login') (await ctx.session).user = 'ann';
    if (ctx.path === '/replace') ctx.session = { user: 'bob' };
    const s = await ctx.session;
    ctx.body = { user: s.user, sid: ctx.sessionId };
  }, async (srv) => {
    const c = srv.client();
    const { sid } = (await c.get('/login')).json;
    const r = await c.get('/replace');
    assert.equal(r.json.user, 'bob');
    assert.equal(r.json.sid, sid);
    assert.equal((await store.get(sid)).user, 'bob');
  });
});

test('defer: regenerateSession loads, destroys the old record and saves the new one', async () => {
  const store = new MemoryStore();
  await withApp({ store, defer: true }, async (ctx) => {
    if (ctx.path === '/login') (await ctx.session).user = 'ann';
    if (ctx.path === '/regen') {
      const s = await ctx.regenerateSession();
      s.user = 'ann';
      assert.equal(await ctx.session, s);
    }
    ctx.body = { sid: ctx.sessionId ?? null };
  }, async (srv) => {
    const c = srv.client();
    const { sid } = (await c.get('/login')).json;
    const r = await c.get('/regen');
    assert.notEqual(r.json.sid, sid);
    assert.equal(await store.get(sid), null);
    assert.equal((await store.get(r.json.sid)).user, 'ann');
  });
});

test('defer: a handler that throws after changing the session still saves it', async () => {
  const store = new MemoryStore();
  await withApp({ store, defer: true }, async (ctx) => {
    (await ctx.session).user = 'ann';
    ctx.throw(418, 'after the change');
  }, async (srv) => {
    const r = await srv.client().get('/');
    assert.equal(r.status, 418);
    const sid = cookieNamed(r, 'koa.sid');
    assert.ok(sid, 'cookie still sent with the error response');
    assert.equal((await store.get(sid.value)).user, 'ann');
  });
});

test('defer: sessionSave, rolling and allowEmpty apply as in normal mode', async () => {
  const store = new MemoryStore();
  await withApp({ store, defer: true, allowEmpty: true }, async (ctx) => {
    await ctx.session;
    if (ctx.query.nosave) {
      (await ctx.session).x = 1;
      ctx.sessionSave = false;
    }
    ctx.body = 'ok';
  }, async (srv) => {
    const c = srv.client();
    assert.equal((await srv.client().get('/?nosave=1')).setCookies.length, 0);
    const r = await c.get('/');
    assert.ok(cookieNamed(r, 'koa.sid'), 'allowEmpty saves the empty session once it is read');
    assert.equal(store.size, 1);
  });
});
