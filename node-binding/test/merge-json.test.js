'use strict';
// The native stores' merging commit and touch, as the middleware calls them (the JSON-string
// record under Symbol.for('koa-session-ts.jsonStore')): parallel merges of different keys
// into one session keep every key, untouched values keep their exact text, a merge after a
// logout writes nothing, and touch never creates a session. MemoryStore answers
// synchronously, RedisStore (one server and a 3-master cluster) with Promises.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { session } = require('./helpers');
const { startRedis, stopRedisSync, connected } = require('./redis-harness');

const { MemoryStore, RedisStore } = session;
const kJsonStore = Symbol.for('koa-session-ts.jsonStore');

// Values JSON.parse + JSON.stringify would change: they must come back as written.
const LOADED = '{"cookie":{"maxAge":600000},"big":9007199254740993,"tenth":0.1,"huge":1e300,"u":"\\u00e9","deep":[[[[{"a":[1.50]}]]]]}';
const withKey = (i) => `${LOADED.slice(0, -1)},"k${i}":${i}}`;

function checkAllKeys(record, n) {
  assert.ok(record.startsWith(LOADED.slice(0, -1)), `untouched values keep their text: ${record}`);
  const parsed = JSON.parse(record);
  for (let i = 0; i < n; i++) assert.equal(parsed[`k${i}`], i, `k${i} kept`);
}

test('MemoryStore: mergeJson and touchJson are synchronous and keep every key', () => {
  const store = new MemoryStore();
  const fast = store[kJsonStore];
  fast.setJson('s', LOADED, 60000);
  for (let i = 0; i < 50; i++) {
    // Every request loaded LOADED; each merge lands on what the others wrote.
    assert.equal(fast.mergeJson('s', LOADED, withKey(i), 60000), 'merged');
  }
  checkAllKeys(fast.getJson('s'), 50);
  assert.equal(fast.touchJson('s', 60000), true);
  fast.destroyJson('s');
  assert.equal(fast.mergeJson('s', LOADED, withKey(99), 60000), 'gone');
  assert.equal(fast.getJson('s'), null, 'a merge after a logout writes nothing');
  assert.equal(fast.touchJson('s', 60000), false);
  assert.equal(fast.getJson('s'), null, 'touch creates nothing');
  assert.equal(store.size, 0);
  assert.throws(() => fast.mergeJson('s', '[]', '{}', 1000), /not a JSON object/);
});

for (const mode of ['single', 'cluster']) {
  describe(`RedisStore mergeJson / touchJson on ${mode === 'single' ? 'one redis-server' : 'a 3-master Redis Cluster'}`, () => {
    let redis;
    let store;

    before(async () => {
      redis = await startRedis({ cluster: mode === 'cluster' });
      store = new RedisStore(redis.target());
      await connected(store);
    });

    after(async () => {
      if (store) await store.quit();
      if (redis) stopRedisSync(redis);
    });

    test('50 parallel merges of different keys keep all 50, values byte for byte', async () => {
      const fast = store[kJsonStore];
      await fast.setJson('m', LOADED, 600000);
      const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => fast.mergeJson('m', LOADED, withKey(i), 600000)));
      assert.deepEqual(new Set(outcomes), new Set(['merged']));
      // As another client (koa-redis) reads it.
      checkAllKeys(await redis.cli('GET', 'koa:sess:m'), 50);
      const ttl = Number(await redis.cli('PTTL', 'koa:sess:m'));
      assert.ok(ttl > 0 && ttl <= 600000, `PTTL ${ttl}`);
    });

    test('a merge after a logout writes nothing; touch reports and never creates', async () => {
      const fast = store[kJsonStore];
      await fast.setJson('out', LOADED, 600000);
      assert.equal(await fast.touchJson('out', 5000), true);
      const ttl = Number(await redis.cli('PTTL', 'koa:sess:out'));
      assert.ok(ttl > 0 && ttl <= 5000, `PTTL after touch ${ttl}`);
      assert.equal(await redis.cli('GET', 'koa:sess:out'), LOADED, 'touch leaves the record as it was');
      await fast.destroyJson('out');
      assert.equal(await fast.mergeJson('out', LOADED, withKey(1), 600000), 'gone');
      assert.equal(await redis.cli('EXISTS', 'koa:sess:out'), '0');
      assert.equal(await fast.touchJson('out', 5000), false);
      assert.equal(await redis.cli('EXISTS', 'koa:sess:out'), '0');
    });

    test('failures reject with the store error codes', async () => {
      const fast = store[kJsonStore];
      await redis.cli('RPUSH', 'koa:sess:list', 'a');
      await assert.rejects(fast.mergeJson('list', '{}', '{"a":1}', 1000), { code: 'ERR_REDIS_SERVER', message: /WRONGTYPE/ });
      await assert.rejects(fast.mergeJson('x', '[]', '{}', 1000), { code: 'ERR_REDIS_REJECTED', message: /not a JSON object/ });
      const closed = new RedisStore(redis.target());
      await closed.quit();
      await assert.rejects(closed[kJsonStore].mergeJson('x', '{}', '{}', 1000), { code: 'ERR_REDIS_CLOSED' });
      await assert.rejects(closed[kJsonStore].touchJson('x', 1000), { code: 'ERR_REDIS_CLOSED' });
    });
  });
}
