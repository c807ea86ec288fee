'use strict';
// RedisStore and broken data: records that are not JSON objects (placed with redis-cli) are a
// new session and a warning, never a crash; a key of the wrong type (WRONGTYPE) and a full
// server (OOM) reach the errorHandler with the server's message.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, withApp } = require('./helpers');
const { startRedis, stopRedisSync, connected } = require('./redis-harness');

const { RedisStore } = session;

const login = async (ctx) => {
  if (ctx.path === '/login') ctx.session.user = 'ann';
  ctx.body = { sid: ctx.sessionId, user: ctx.session.user ?? null };
};

/** Collects process warnings emitted while `fn` runs. */
async function warningsDuring(fn) {
  const seen = [];
  const on = (w) => seen.push(w);
  process.on('warning', on);
  try {
    await fn();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', on);
  }
  return seen;
}

describe('RedisStore with bad records and server errors', () => {
  let redis;
  let store;
  before(async () => {
    redis = await startRedis();
    store = new RedisStore({ url: redis.url });
    await connected(store);
  });
  after(async () => {
    if (store) await store.quit();
    if (redis) stopRedisSync(redis);
  });

  const garbage = ['not json', '{"cookie":', '[1,2]', '"a string"', 'null', '42', 'true', '\u00ff\u00fe'];

  test('store.get: a record that is not a JSON object is null and a warning', async () => {
    for (const value of garbage) {
      await redis.cli('SET', 'koa:sess:junk', value);
      const warnings = await warningsDuring(async () => assert.equal(await store.get('junk'), null, value));
      assert.ok(
        warnings.some((w) => w.code === 'KOA_SESSION_CORRUPT_RECORD' && w.message.includes('koa:sess:junk')),
        `a warning for ${JSON.stringify(value)}`,
      );
    }
    // Invalid UTF-8 bytes: redis-cli writes them with the escape syntax inside double quotes.
    await redis.cli('EVAL', "redis.call('SET', KEYS[1], '\\255\\254{')", '1', 'koa:sess:junk');
    assert.equal(await store.get('junk'), null);
  });

  test('through Koa: a garbage record is a new session under a new id, never a crash', async () => {
    await withApp({ store }, login, async (srv, app) => {
      for (const value of garbage) {
        const c = srv.client();
        const sid = (await c.get('/login')).json.sid;
        await redis.cli('SET', `koa:sess:${sid}`, value);
        const r = await c.get('/');
        assert.equal(r.status, 200, value);
        assert.equal(r.json.user, null, 'a fresh session');
        assert.notEqual(r.json.sid, sid, 'never the old (client-held) id');
        assert.ok(r.cookies.some((k) => k.name === 'koa.sid' && k.cleared), 'the stale cookie is cleared');
      }
      assert.deepEqual(app.errors, []);
    });
  });

  test('WRONGTYPE: the errorHandler gets the server message', async () => {
    const seen = [];
    // Returning normally: the request goes on with a new session.
    const errorHandler = (err, type) => {
      seen.push({ type, message: err.message, code: err.code });
    };
    await withApp({ store, errorHandler }, login, async (srv, app) => {
      const c = srv.client();
      const sid = (await c.get('/login')).json.sid;
      await redis.cli('DEL', `koa:sess:${sid}`);
      await redis.cli('RPUSH', `koa:sess:${sid}`, 'x');
      const r = await c.get('/login');
      // The get failed (handled: a new session), then the save under a new id succeeded.
      assert.equal(r.status, 200);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].type, 'get');
      assert.equal(seen[0].code, 'ERR_REDIS_SERVER');
      assert.match(seen[0].message, /WRONGTYPE/);
      assert.deepEqual(app.errors, []);
    });
    // The store on its own: the same error, and the connection stays usable.
    await redis.cli('RPUSH', 'koa:sess:wt', 'x');
    await assert.rejects(store.get('wt'), (err) => err.code === 'ERR_REDIS_SERVER' && /WRONGTYPE/.test(err.message));
    assert.equal(store.status, 'connected', 'a server error is not a disconnect');
    await store.set('ok', { cookie: {} }, 1000);
  });

  test('default errorHandler: a server error is a 500 named "session middleware get error"', async () => {
    await withApp({ store }, login, async (srv, app) => {
      const c = srv.client();
      const sid = (await c.get('/login')).json.sid;
      await redis.cli('DEL', `koa:sess:${sid}`);
      await redis.cli('SADD', `koa:sess:${sid}`, 'x');
      const r = await c.get('/');
      assert.equal(r.status, 500);
      assert.equal(app.errors.length, 1);
      assert.equal(app.errors[0].name, 'session middleware get error');
      assert.match(app.errors[0].message, /WRONGTYPE/);
    });
  });

  test('OOM: a save refused by a full server reaches the errorHandler as type set, no cookie', async () => {
    const seen = [];
    await redis.cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    await redis.cli('CONFIG', 'SET', 'maxmemory', '1');
    try {
      await withApp(
        { store, errorHandler: (err, type) => seen.push({ type, message: err.message }) },
        login,
        async (srv) => {
          const r = await srv.client().get('/login');
          assert.equal(r.status, 200);
          assert.deepEqual(r.cookies, [], 'no cookie for a session that was not saved');
        },
      );
    } finally {
      await redis.cli('CONFIG', 'SET', 'maxmemory', '0');
    }
    assert.equal(seen.length, 1);
    assert.equal(seen[0].type, 'set');
    assert.match(seen[0].message, /OOM/);
  });
});
