'use strict';
// Stores: the native MemoryStore standalone, BaseStore, user stores returning a value, a
// Promise, a thunk or a generator, ENOENT misses, stores that throw, garbage records,
// methods replaced at run time.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { session, withApp, cookieNamed } = require('./helpers');

const { MemoryStore, BaseStore, CONNECT, DISCONNECT } = session;

const setUser = async (ctx) => {
  if (ctx.path === '/login') ctx.session.user = ctx.query.u || 'ann';
  if (ctx.path === '/logout') ctx.session = null;
  ctx.body = { sid: ctx.sessionId, user: ctx.session ? ctx.session.user ?? null : null };
};

test('MemoryStore standalone: equal-but-new objects, TTL reset, unknown destroy resolves', async () => {
  const s = new MemoryStore();
  assert.ok(s instanceof BaseStore);
  assert.ok(s instanceof EventEmitter);
  const sess = { cookie: { maxAge: 1000 }, nested: { a: 1 } };
  await s.set('id1', sess, 50);
  const a = await s.get('id1');
  assert.deepEqual(a, sess);
  assert.notEqual(a, sess);
  a.nested.a = 2;
  sess.nested.a = 3;
  assert.equal((await s.get('id1')).nested.a, 1, 'neither the caller nor a reader changes stored data');
  await new Promise((r) => setTimeout(r, 30));
  await s.set('id1', sess, 80); // resets the TTL
  await new Promise((r) => setTimeout(r, 40));
  assert.ok(await s.get('id1'), 'still there: set again reset the TTL');
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(await s.get('id1'), null, 'expired');
  await s.destroy('never-existed');
  assert.equal(await s.get('nope'), null);
  // TTL from the session's cookie when not given.
  await s.set('id2', { cookie: { maxAge: 40 } });
  assert.ok(await s.get('id2'));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(await s.get('id2'), null);
  // Long TTLs are exact (no 24.8-day timer overflow).
  await s.set('id3', { cookie: {} }, 60 * 86400000);
  assert.ok(await s.get('id3'));
  assert.equal(await s.touch('id3', 1000), true);
  assert.equal(await s.touch('missing', 1000), false);
  await assert.rejects(s.set('id4', { n: 10n }), TypeError);
  await assert.rejects(s.set('id4', 'str'), TypeError);
  // It can report connection state like any store.
  let got = 0;
  s.on(CONNECT, () => got++);
  s.emit(CONNECT);
  assert.equal(got, 1);
  assert.throws(() => new MemoryStore({ maxEntries: -1 }), /maxEntries/);
  const capped = new MemoryStore({ maxEntries: 2 });
  for (const id of ['a', 'b', 'c']) await capped.set(id, { cookie: {} }, 10000);
  assert.equal(capped.size, 2);
});

test('BaseStore#set returns the TTL computed from cookie.maxAge / expires, or the one given', async () => {
  const b = new BaseStore();
  assert.equal(b.prefix, 'koa:sess');
  assert.equal(new BaseStore('p:').prefix, 'p:');
  assert.equal(await b.set('s', { cookie: { maxAge: 5000 } }), 5000);
  assert.equal(await b.set('s', { cookie: { maxAge: 5000 } }, 1234), 1234);
  assert.equal(await b.set('s', {}), 86400000);
  const left = await b.set('s', { cookie: { expires: new Date(Date.now() + 60000) } });
  assert.ok(left > 58000 && left <= 60000, `${left}`);
  const leftIso = await b.set('s', { cookie: { expires: new Date(Date.now() + 60000).toISOString() } });
  assert.ok(leftIso > 58000 && leftIso <= 60000, `${leftIso}`);
  // A subclass computes its TTL through super.set.
  class Sub extends BaseStore {
    async set(sid, sess, ttl) {
      this.last = await super.set(sid, sess, ttl);
    }
  }
  const sub = new Sub();
  await sub.set('x', { cookie: { maxAge: 777 } });
  assert.equal(sub.last, 777);
  assert.equal(CONNECT, 'CONNECT');
  assert.equal(DISCONNECT, 'DISCONNECT');
});

/** A JS store over a Map whose methods answer in the given style. */
function styledStore(style) {
  const data = new Map();
  const calls = [];
  const answer = (fn) => {
    switch (style) {
      case 'value':
        return fn();
      case 'promise':
        return new Promise((resolve, reject) => setImmediate(() => { try { resolve(fn()); } catch (e) { reject(e); } }));
      case 'thunk':
        return (cb) => setImmediate(() => { let v; try { v = fn(); } catch (e) { return cb(e); } cb(null, v); });
      case 'generator':
        return (function* () {
          yield new Promise((r) => setImmediate(r));
          const inner = yield (cb) => cb(null, 'thunk-inside');
          assert.equal(inner, 'thunk-inside');
          return fn();
        })();
      default:
        throw new Error(style);
    }
  };
  class S extends BaseStore {
    get(sid) {
      calls.push(['get', sid]);
      return answer(() => (data.has(sid) ? JSON.parse(data.get(sid)) : null));
    }
    set(sid, sess, ttl) {
      calls.push(['set', sid, ttl]);
      return answer(() => void data.set(sid, JSON.stringify(sess)));
    }
    destroy(sid) {
      calls.push(['destroy', sid]);
      return answer(() => void data.delete(sid));
    }
  }
  const s = new S();
  s.data = data;
  s.calls = calls;
  return s;
}

for (const style of ['value', 'promise', 'thunk', 'generator']) {
  test(`a store whose methods return a ${style}`, async () => {
    const store = styledStore(style);
    await withApp({ store }, setUser, async (srv) => {
      const c = srv.client();
      const { sid } = (await c.get('/login')).json;
      assert.equal(JSON.parse(store.data.get(sid)).user, 'ann');
      assert.equal((await c.get('/')).json.user, 'ann');
      const out = await c.get('/logout');
      assert.ok(cookieNamed(out, 'koa.sid').cleared);
      assert.equal(store.data.has(sid), false);
      assert.deepEqual(store.calls.map((x) => x[0]), ['set', 'get', 'get', 'destroy']);
      assert.equal(store.calls[0][2], 86400000, 'the middleware hands the store the TTL');
    });
  });
}

test('generator methods (function*) and plain-object stores work', async () => {
  const data = new Map();
  const store = {
    *get(sid) {
      return data.get(sid) ?? null;
    },
    *set(sid, sess) {
      data.set(sid, sess);
    },
    *destroy(sid) {
      data.delete(sid);
    },
  };
  await withApp({ store }, setUser, async (srv) => {
    const c = srv.client();
    await c.get('/login');
    assert.equal((await c.get('/')).json.user, 'ann');
  });
});

test('a get error with code ENOENT is a miss', async () => {
  const store = new MemoryStore();
  store.get = async () => {
    throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  };
  await withApp({ store }, setUser, async (srv) => {
    const r = await srv.request('/', { headers: { cookie: 'koa.sid=abc; koa.sid.sig=' + require('node:crypto').createHmac('sha1', 'key-1').update('koa.sid=abc').digest('base64url') } });
    assert.equal(r.status, 200);
    assert.notEqual(r.json.sid, 'abc');
  });
});

function failing(method) {
  const store = new MemoryStore();
  const orig = store[method];
  store.fail = false;
  store[method] = function (...a) {
    if (this.fail) return Promise.reject(new Error(`${method} exploded`));
    return orig.apply(this, a);
  };
  return store;
}

test('store errors on get / set / destroy go to the default errorHandler (500, renamed error)', async () => {
  for (const [method, path, type] of [['get', '/', 'get'], ['set', '/login?u=bob', 'set'], ['destroy', '/logout', 'destroy']]) {
    const store = failing(method);
    await withApp({ store }, setUser, async (srv, app) => {
      const c = srv.client();
      await c.get('/login');
      store.fail = true;
      const r = await c.get(path);
      assert.equal(r.status, 500, `${method}`);
      assert.equal(app.errors[0].message, `${method} exploded`);
      assert.equal(app.errors[0].name, `session middleware ${type} error`);
      assert.equal(r.setCookies.length, 0, 'no cookie when the store write failed');
    });
  }
});

test('errorHandler (and the errorHanlder spelling) receives store errors with their message', async () => {
  for (const name of ['errorHandler', 'errorHanlder']) {
    const seen = [];
    const store = failing('get');
    await withApp({ store, [name]: (err, type, ctx) => seen.push([err.message, type, typeof ctx.path]) }, setUser, async (srv) => {
      const c = srv.client();
      const { sid } = (await c.get('/login')).json;
      store.fail = true;
      const r = await c.get('/');
      assert.equal(r.status, 200, 'a handler that does not throw lets the request go on');
      assert.equal(r.json.user, null, 'with a new session');
      assert.notEqual(r.json.sid, sid);
      assert.deepEqual(seen, [['get exploded', 'get', 'string']]);
    });
  }
  const sets = [];
  const store = failing('set');
  store.fail = true;
  await withApp({ store, errorHandler: (err, type) => sets.push(type) }, setUser, async (srv) => {
    const r = await srv.request('/login');
    assert.equal(r.status, 200);
    assert.equal(r.setCookies.length, 0, 'a session the store did not take gets no cookie');
    assert.deepEqual(sets, ['set']);
  });
});

test('a store that throws synchronously is handled like a rejection', async () => {
  const store = new MemoryStore();
  store.get = () => {
    throw new Error('sync boom');
  };
  await withApp({ store }, setUser, async (srv, app) => {
    const c = srv.client();
    store.get = MemoryStore.prototype.get;
    await c.get('/login');
    store.get = () => {
      throw new Error('sync boom');
    };
    const r = await c.get('/');
    assert.equal(r.status, 500);
    assert.equal(app.errors[0].message, 'sync boom');
  });
});

test('garbage from a store starts a new session (and the old cookie is cleared)', async () => {
  const garbage = ['not json', 42, true, [1, 2], '[]', '{"broken":', { n: 10n }, 'null'];
  for (const g of garbage) {
    const store = new MemoryStore();
    const warns = [];
    await withApp({ store }, setUser, { before: [async (ctx, next) => { ctx.logger = { warn: (m) => warns.push(m) }; await next(); }] }, async (srv) => {
      const c = srv.client();
      const { sid } = (await c.get('/login')).json;
      store.get = async () => g;
      const r = await c.get('/');
      assert.equal(r.status, 200, String(g));
      assert.equal(r.json.user, null);
      assert.notEqual(r.json.sid, sid);
      assert.ok(cookieNamed(r, 'koa.sid').cleared);
      assert.equal(warns.length, 1, 'the unusable record is logged');
    });
  }
});

test('a store returning a JSON string record is read as that JSON', async () => {
  const store = new MemoryStore();
  await withApp({ store }, setUser, async (srv) => {
    const c = srv.client();
    await c.get('/login');
    const get = MemoryStore.prototype.get;
    store.get = async function (sid) {
      return JSON.stringify(await get.call(this, sid));
    };
    assert.equal((await c.get('/')).json.user, 'ann');
  });
});

test('store methods replaced at run time are honoured (looked up on every call)', async () => {
  const store = new MemoryStore();
  const log = [];
  await withApp({ store }, setUser, async (srv) => {
    const c = srv.client();
    await c.get('/login');
    const { get, set, destroy } = MemoryStore.prototype;
    store.get = function (sid) {
      log.push('get');
      return get.call(this, sid);
    };
    store.set = function (...a) {
      log.push('set');
      return set.apply(this, a);
    };
    store.destroy = function (sid) {
      log.push('destroy');
      return destroy.call(this, sid);
    };
    await c.get('/login2');
    await c.get('/logout');
    assert.deepEqual(log, ['get', 'get', 'destroy']);
    delete store.get;
    await c.get('/');
    assert.deepEqual(log, ['get', 'get', 'destroy']);
  });
});

test('the session handed to a JS store is a copy: later mutation does not reach it', async () => {
  const held = new Map();
  const store = {
    get: async (sid) => held.get(sid) ?? null,
    set: async (sid, sess) => void held.set(sid, sess),
    destroy: async (sid) => void held.delete(sid),
  };
  let kept;
  await withApp({ store }, async (ctx) => {
    ctx.session.user = 'ann';
    kept = ctx.session;
    ctx.body = 'ok';
  }, async (srv) => {
    await srv.request('/');
    kept.user = 'mallory';
    assert.equal([...held.values()][0].user, 'ann');
  });
});

test('MemoryStore operator calls: length, ids in batches (5,000 sessions, none twice), clear', async () => {
  const s = new MemoryStore();
  assert.equal(await s.length(), 0);
  for await (const id of s.ids()) assert.fail(`an empty store listed ${id.length} characters`);
  for (let i = 0; i < 5000; i++) await s.set(`sid-${i}`, { i }, 60000);
  await s.set('short', { i: -1 }, 1);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(await s.length(), 5000, 'an expired session does not count');

  const iterator = s.ids({ batch: 7 });
  assert.equal(typeof iterator[Symbol.asyncIterator], 'function');
  const seen = new Set();
  for await (const id of iterator) {
    assert.ok(!seen.has(id), 'an id came twice');
    seen.add(id);
  }
  assert.equal(seen.size, 5000);
  for (let i = 0; i < 5000; i++) assert.ok(seen.has(`sid-${i}`));

  // Ids are fetched a batch at a time: sessions removed mid-walk are not listed later.
  const walk = s.ids({ batch: 10 });
  const first = await walk.next();
  assert.equal(first.done, false);
  for (let i = 0; i < 5000; i++) if (i % 2) await s.destroy(`sid-${i}`);
  let rest = 0;
  for await (const id of walk) rest += Number(id.slice(4)) % 2;
  assert.ok(rest <= 10, `at most the first batch's odd ids remain, got ${rest}`);

  for (const bad of [{ batch: 0 }, { batch: 1.5 }, { batch: '10' }, { size: 10 }, 'x']) {
    assert.throws(() => s.ids(bad), TypeError, JSON.stringify(bad));
  }
  assert.equal(await s.clear(), 2500);
  assert.equal(await s.length(), 0);
  assert.equal(await s.get('sid-0'), null);
});
