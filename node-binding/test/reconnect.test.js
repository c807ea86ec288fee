'use strict';
// Store outages: DISCONNECT then CONNECT within reconnectTimeout resumes waiting requests;
// past it they fail with 'timeout:session store is unavailable', later ones with 'session
// store is unavailable' until CONNECT; after a reconnect no old timer fails anything.
// Behaviour is asserted, never durations.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { session, withApp, sleep } = require('./helpers');

const { MemoryStore, RedisStore, CONNECT, DISCONNECT } = session;

const counter = async (ctx) => {
  ctx.session.n = (ctx.session.n || 0) + 1;
  ctx.body = { n: ctx.session.n };
};

test('DISCONNECT then CONNECT within reconnectTimeout: the waiting request goes on', async () => {
  const store = new MemoryStore();
  await withApp({ store, reconnectTimeout: 2000 }, counter, async (srv, app) => {
    const c = srv.client();
    await c.get('/');
    store.emit(DISCONNECT);
    let done = false;
    const pending = c.get('/').then((r) => ((done = true), r));
    await sleep(50);
    assert.equal(done, false, 'the request waits while the store is disconnected');
    store.emit(CONNECT);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.json.n, 2);
    assert.equal(app.errors.length, 0);
  });
});

test('beyond reconnectTimeout: timeout error, then "unavailable" at once, until CONNECT', async () => {
  const store = new MemoryStore();
  await withApp({ store, reconnectTimeout: 100 }, counter, async (srv, app) => {
    const c = srv.client();
    await c.get('/');
    store.emit(DISCONNECT);
    const r1 = await c.get('/');
    assert.equal(r1.status, 500);
    assert.equal(app.errors[0].message, 'timeout:session store is unavailable');
    const r2 = await c.get('/');
    assert.equal(r2.status, 500);
    assert.equal(app.errors[1].message, 'session store is unavailable');
    store.emit(CONNECT);
    const r3 = await c.get('/');
    assert.equal(r3.status, 200);
    assert.equal(r3.json.n, 2);
  });
});

test('lowercase connect / disconnect events work too', async () => {
  const store = new MemoryStore();
  await withApp({ store, reconnectTimeout: 100 }, counter, async (srv, app) => {
    const c = srv.client();
    store.emit('disconnect');
    assert.equal((await c.get('/')).status, 500);
    assert.equal(app.errors[0].message, 'timeout:session store is unavailable');
    store.emit('connect');
    assert.equal((await c.get('/')).status, 200);
  });
});

test('after a successful reconnect, no timer from the outage fails a request', async () => {
  const store = new MemoryStore();
  await withApp({ store, reconnectTimeout: 100 }, counter, async (srv, app) => {
    const c = srv.client();
    await c.get('/');
    // Several short outages, each healed before its timeout.
    for (let i = 0; i < 3; i++) {
      store.emit(DISCONNECT);
      const pending = c.get('/');
      await sleep(10);
      store.emit(CONNECT);
      assert.equal((await pending).status, 200);
    }
    // Well past every old timeout: requests (and ones waiting on a new outage) still succeed.
    await sleep(250);
    for (let i = 0; i < 3; i++) assert.equal((await c.get('/')).status, 200);
    store.emit(DISCONNECT);
    const waiting = c.get('/');
    await sleep(60);
    store.emit(CONNECT);
    assert.equal((await waiting).status, 200);
    await sleep(150);
    assert.equal((await c.get('/')).status, 200);
    assert.deepEqual(app.errors.map((e) => e.message), []);
  });
});

test('many middlewares on one store do not leak listeners', async () => {
  const store = new MemoryStore();
  const warnings = [];
  const onWarning = (w) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    for (let i = 0; i < 20; i++) session({ store });
    await new Promise((r) => setImmediate(r));
    assert.equal(store.listenerCount(CONNECT), 1);
    assert.ok(!warnings.includes('MaxListenersExceededWarning'));
  } finally {
    process.off('warning', onWarning);
  }
});

test('a store call that fails as its store disconnects waits for CONNECT and is made again', async () => {
  const store = new MemoryStore();
  const realGet = store.get;
  let failNext = false;
  store.get = function get(sid) {
    if (failNext) {
      failNext = false;
      // The backend went away during this call: the store says so, then the call fails.
      store.emit(DISCONNECT);
      return Promise.reject(new Error('connection lost'));
    }
    return realGet.call(store, sid);
  };
  await withApp({ store, reconnectTimeout: 2000 }, counter, async (srv, app) => {
    const c = srv.client();
    assert.equal((await c.get('/')).json.n, 1);
    failNext = true;
    let done = false;
    const pending = c.get('/').then((r) => ((done = true), r));
    await sleep(50);
    assert.equal(done, false, 'the request waits for the store like any request during an outage');
    store.emit(CONNECT);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.json.n, 2, 'the read was made again and found the session');
    assert.deepEqual(app.errors, []);
  });
  // Past reconnectTimeout: the documented error, not the store's.
  await withApp({ store, reconnectTimeout: 100 }, counter, async (srv, app) => {
    const c = srv.client();
    await c.get('/');
    failNext = true;
    assert.equal((await c.get('/')).status, 500);
    assert.equal(app.errors[0].message, 'timeout:session store is unavailable');
    store.emit(CONNECT);
  });
  // A store error without DISCONNECT is a store error, as before (errorHandler, type get).
  const seen = [];
  await withApp({ store, errorHandler: (err, type) => seen.push([type, err.message]) }, counter, async (srv) => {
    const c = srv.client();
    await c.get('/');
    store.get = () => Promise.reject(new Error('bad reply'));
    const r = await c.get('/');
    assert.equal(r.status, 200);
    assert.equal(r.json.n, 1, 'a new session');
  });
  assert.deepEqual(seen, [['get', 'bad reply']]);
});

// A store that went down before session() was created: its DISCONNECT reached no middleware,
// so the middleware reads `store.connected` when it is created.
test('a RedisStore that reported DISCONNECT before session() was created: requests wait reconnectTimeout and fail with the documented error', async () => {
  // Port 1 on loopback refuses connections: a server that is not running.
  const store = new RedisStore({ url: 'redis://127.0.0.1:1', connectTimeout: 500, responseTimeout: 500 });
  const events = [];
  store.on(DISCONNECT, () => events.push(DISCONNECT));
  await assert.rejects(store.ping(), (err) => err.code === 'ERR_REDIS_UNAVAILABLE');
  assert.deepEqual(events, [DISCONNECT]);
  assert.equal(store.connected, false);
  try {
    await withApp({ store, reconnectTimeout: 150 }, counter, async (srv, app) => {
      const c = srv.client();
      assert.equal((await c.get('/')).status, 500);
      // Not the store's own ERR_REDIS_UNAVAILABLE ('session middleware get error'): the wait's.
      assert.deepEqual(app.errors.map((e) => e.message), ['timeout:session store is unavailable']);
      assert.equal((await c.get('/')).status, 500);
      assert.equal(app.errors[1].message, 'session store is unavailable');
    });
  } finally {
    await store.close();
  }
  assert.equal(store.connected, true, 'a closed store is not an outage');
});

test('a store of one\'s own with connected === false when session() is created starts out disconnected; CONNECT ends it', async () => {
  const store = new MemoryStore();
  store.connected = false;
  await withApp({ store, reconnectTimeout: 2000 }, counter, async (srv, app) => {
    const c = srv.client();
    let done = false;
    const pending = c.get('/').then((r) => ((done = true), r));
    await sleep(50);
    assert.equal(done, false, 'the request waits for CONNECT');
    store.connected = true;
    store.emit(CONNECT);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.json.n, 1);
    assert.deepEqual(app.errors, []);
  });
  // connected missing, true or not a boolean: up, as before.
  for (const value of [undefined, true, 0, null]) {
    const up = new MemoryStore();
    up.connected = value;
    await withApp({ store: up, reconnectTimeout: 100 }, counter, async (srv, app) => {
      assert.equal((await srv.client().get('/')).status, 200, `connected = ${value}`);
      assert.deepEqual(app.errors, []);
    });
  }
});
