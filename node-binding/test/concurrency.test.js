'use strict';
// Commits that merge, through Koa over real HTTP: parallel requests on one session each set a
// different key and all keys are kept; a logout racing a slower write stays a logout. On the
// native MemoryStore, and on RedisStore (one server and a 3-master cluster).
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { withApp, session, sleep } = require('./helpers');
const { startRedis, stopRedisSync, connected } = require('./redis-harness');

const { MemoryStore, RedisStore } = session;
const N = 50;

function handler(ctx) {
  return (async () => {
    if (ctx.path === '/login') ctx.session.user = 'ann';
    else if (ctx.path === '/logout') ctx.session = null;
    else if (ctx.path === '/set') {
      const k = ctx.query.k;
      // All requests have loaded the session before any of them commits.
      await sleep(Number(ctx.query.wait || 0));
      ctx.session[k] = { n: Number(k.slice(1)), big: 2 ** 53, tenth: 0.1 };
    }
    ctx.body = ctx.session === null ? 'out' : ctx.session;
  })();
}

async function scenario(store) {
  await withApp({ store }, handler, async (srv) => {
    const client = srv.client();
    await client.get('/login');
    const cookie = client.cookieHeader();
    const keys = Array.from({ length: N }, (_, i) => `k${i}`);
    const answers = await Promise.all(keys.map((k) => srv.request(`/set?k=${k}&wait=100`, { headers: { cookie } })));
    assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([200]));
    const after = await srv.request('/', { headers: { cookie } });
    for (const k of keys) assert.deepEqual(after.json[k], { n: Number(k.slice(1)), big: 2 ** 53, tenth: 0.1 }, k);
    assert.equal(after.json.user, 'ann');

    // A logout racing a slower write: the write finds the record gone and writes nothing.
    const slow = srv.request('/set?k=late&wait=300', { headers: { cookie } });
    await sleep(100);
    assert.equal((await srv.request('/logout', { headers: { cookie } })).status, 200);
    const late = await slow;
    assert.ok(late.setCookies.some((c) => /^koa\.sid=;/.test(c)), `the slow request clears the cookie: ${late.setCookies}`);
    const again = await srv.request('/', { headers: { cookie } });
    assert.equal(again.json.user, undefined, 'still logged out');
  });
}

test(`MemoryStore: ${N} parallel requests keep all ${N} keys; a logout stays a logout`, () => scenario(new MemoryStore()));

for (const cluster of [false, true]) {
  describe(`RedisStore (${cluster ? '3-master cluster' : 'one server'})`, () => {
    let redis;
    let store;
    before(async () => {
      redis = await startRedis({ cluster });
      store = new RedisStore(redis.target());
      await connected(store);
    });
    after(async () => {
      if (store) await store.quit();
      if (redis) stopRedisSync(redis);
    });
    test(`${N} parallel requests keep all ${N} keys; a logout stays a logout`, () => scenario(store));
  });
}

/** A store of one's own that opts in to merging: JSON strings, compareAndSet on their bytes. */
class CasStore extends session.BaseStore {
  constructor() {
    super();
    this.map = new Map();
  }
  async get(sid) {
    await sleep(1);
    const v = this.map.get(sid);
    return v === undefined ? null : v;
  }
  async set(sid, sess) {
    await sleep(1);
    this.map.set(sid, JSON.stringify(sess));
  }
  async destroy(sid) {
    this.map.delete(sid);
  }
  async compareAndSet(sid, expected, json) {
    await sleep(1);
    const now = this.map.get(sid);
    if (now === undefined) return null;
    if (now !== expected) return now;
    this.map.set(sid, json);
    return true;
  }
}

test(`a JS store with compareAndSet: ${N} parallel requests keep all ${N} keys; a logout stays a logout`, () => scenario(new CasStore()));
