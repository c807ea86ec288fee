'use strict';
// The depth and size policy and the `cookie` field rule, as they reach Koa through the core:
// a store record over a limit, or whose `cookie` field is not an object, is corrupt (a new
// session, a warning, never a 500 on that or later requests), and data over a limit is
// refused at commit with the core's message. Refusing it already when `ctx.session` is set
// is the middleware's part (see fuzz/README.md).
const test = require('node:test');
const assert = require('node:assert/strict');
const { withApp, session } = require('./helpers');

const MAX_DEPTH = 64;

/** `{"d":[[...]]}` nested `depth` levels in all (the object is level 1). */
function nestedJson(depth) {
  return `{"d":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
}

/** The same as an object, built without recursion. */
function nestedObject(depth) {
  let v = [];
  for (let i = 2; i < depth; i++) v = [v];
  return { d: v };
}

/** A JS store holding whatever it is given; `plant(sid, record)` replaces a record as is. */
function plainStore() {
  const data = new Map();
  return {
    data,
    get: async (sid) => (data.has(sid) ? data.get(sid) : null),
    set: async (sid, sess) => void data.set(sid, JSON.stringify(sess)),
    destroy: async (sid) => void data.delete(sid),
  };
}

const handler = async (ctx) => {
  if (ctx.path === '/login') ctx.session.user = 'ann';
  if (ctx.path === '/deep') ctx.session.d = nestedObject(Number(ctx.query.depth)).d;
  ctx.body = { user: ctx.session.user ?? null, sid: ctx.sessionId ?? null };
};

/**
 * Logs in, swaps the stored record for `bad`, then checks the next requests. With `memory`
 * the store is the native MemoryStore (the addon's one-call path) and `bad` goes in through
 * its public `set`, over a record the engine wrote (which loads unchecked).
 */
async function corruptRecordStartsAFreshSession(bad, { memory = false } = {}) {
  const store = memory ? new session.MemoryStore() : plainStore();
  const warnings = [];
  const logger = { warn: (m) => warnings.push(m), error: () => {} };
  const before = [async (ctx, next) => {
    ctx.logger = logger;
    await next();
  }];
  await withApp({ store }, handler, { before }, async (srv, app) => {
    const c = srv.client();
    const login = await c.get('/login');
    assert.equal(login.status, 200);
    const { sid } = login.json;
    if (memory) {
      assert.equal(store.size, 1);
      await store.set(sid, bad);
    } else {
      assert.equal(store.data.size, 1);
      store.data.set(sid, bad);
    }
    for (let i = 0; i < 3; i++) {
      const r = await c.get(i === 1 ? '/login' : '/');
      assert.equal(r.status, 200, `request ${i}: ${r.text}`);
      if (i === 0) {
        assert.equal(r.json.user, null, 'the corrupt record is not the session');
        assert.notEqual(r.json.sid, sid, 'a new id, not the one the record was under');
      }
    }
    assert.equal((await c.get('/')).json.user, 'ann', 'the new session works');
    assert.equal(warnings.length, 1, `one warning for the corrupt record: ${warnings}`);
    assert.deepEqual(app.errors, []);
  });
}

test('a stored record nested 20,000 deep (as a JSON string) is corrupt: a new session, no 500', () =>
  corruptRecordStartsAFreshSession(nestedJson(20000)));

test('a stored record nested 20,000 deep (as an object) is corrupt: a new session, no 500', () =>
  corruptRecordStartsAFreshSession(nestedObject(20000)));

test('a stored record one level over the depth limit is corrupt', () =>
  corruptRecordStartsAFreshSession(nestedJson(MAX_DEPTH + 1)));

test('a stored record over 1 MiB is corrupt', () =>
  corruptRecordStartsAFreshSession(JSON.stringify({ user: 'ann', blob: 'x'.repeat(1024 * 1024) })));

test('a stored record whose cookie field is not an object is corrupt', async () => {
  await corruptRecordStartsAFreshSession('{"cookie":5,"user":"ann"}');
  await corruptRecordStartsAFreshSession({ cookie: 'x', user: 'ann' });
});

test('the native MemoryStore: a record set through its API over one the engine wrote is checked at load', async () => {
  await corruptRecordStartsAFreshSession({ cookie: 5, user: 'ann' }, { memory: true });
  await corruptRecordStartsAFreshSession({ user: 'ann', blob: 'x'.repeat(1024 * 1024) }, { memory: true });
  await corruptRecordStartsAFreshSession(nestedObject(MAX_DEPTH + 1), { memory: true });
});

test('a stored record at the depth limit loads and saves', async () => {
  const store = plainStore();
  await withApp({ store }, handler, async (srv) => {
    const c = srv.client();
    const { sid } = (await c.get('/login')).json;
    const atLimit = JSON.parse(nestedJson(MAX_DEPTH));
    atLimit.user = 'ann';
    store.data.set(sid, JSON.stringify(atLimit));
    const r = await c.get('/login');
    assert.equal(r.status, 200);
    assert.equal(r.json.sid, sid);
    assert.equal(r.json.user, 'ann');
  });
});

test('session data over the depth limit is refused at commit with the core message', async () => {
  // Today the refusal comes when the request ends (the core checks the JSON handed back);
  // refusing when ctx.session is set is the middleware's part.
  const store = plainStore();
  await withApp({ store }, handler, async (srv, app) => {
    const ok = await srv.request(`/deep?depth=${MAX_DEPTH}`);
    assert.equal(ok.status, 200);
    assert.equal(store.data.size, 1, 'at the limit: saved');
    const over = await srv.request(`/deep?depth=${MAX_DEPTH + 1}`);
    assert.equal(over.status, 500);
    assert.equal(store.data.size, 1, 'over the limit: nothing saved');
    assert.equal(over.setCookies.length, 0, 'and no cookie sent');
    assert.equal(app.errors.length, 1);
    assert.match(app.errors[0].message, /nested deeper than 64 levels/);
  });
});
