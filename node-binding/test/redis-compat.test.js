'use strict';
// Switching from koa-generic-session@2.3.1 + koa-redis@4.0.1 (the real npm packages): one
// browser (one cookie jar) talks to a Koa app on theirs and a Koa app on ours, both with
// their defaults plus the same app.keys and the same Redis. Each reads, changes and destroys
// the other's sessions without logging anyone out.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const genericSession = require('koa-generic-session');
const koaRedis = require('koa-redis');
const { session, makeApp, serve } = require('./helpers');
const { startRedis, stopRedisSync, connected } = require('./redis-harness');

const { RedisStore } = session;

const KEYS = ['compat-key-2', 'compat-key-1'];

// The same handler on both apps.
async function handler(ctx) {
  if (ctx.path === '/logout') {
    ctx.session = null;
    ctx.body = { out: true };
    return;
  }
  if (ctx.path === '/login') ctx.session.user = ctx.query.u || 'ann';
  ctx.session.n = (ctx.session.n || 0) + 1;
  ctx.body = { sid: ctx.sessionId, user: ctx.session.user || null, n: ctx.session.n };
}

describe('koa-generic-session + koa-redis <-> koa-session-ts + RedisStore', () => {
  let redis;
  let theirStore;
  let ourStore;
  let theirs;
  let ours;

  before(async () => {
    redis = await startRedis();
    // koa-generic-session defaults: key 'koa.sid', prefix 'koa:sess:', signed cookie.
    theirStore = koaRedis({ url: redis.url });
    theirs = await serve(makeApp(false, handler, { keys: KEYS, before: [genericSession({ store: theirStore })] }));
    // Ours with its defaults: key 'koa.sid', prefix 'koa:sess:', signed when app.keys is set.
    ourStore = new RedisStore({ url: redis.url });
    await connected(ourStore);
    ours = await serve(makeApp({ store: ourStore }, handler, { keys: KEYS }));
  });

  after(async () => {
    if (ours) await ours.close();
    if (theirs) await theirs.close();
    if (ourStore) await ourStore.quit();
    if (theirStore) {
      // koa-generic-session answers every 'disconnect' (quit included) with a 10 s timer whose
      // rejection nothing handles (a bug of theirs that ours fixes): unhook it before quitting.
      theirStore.removeAllListeners('disconnect');
      await theirStore.quit();
    }
    if (redis) stopRedisSync(redis);
  });

  /** One browser that sends its cookies to whichever app it calls. */
  function browser() {
    const jar = theirs.client();
    return {
      jar,
      async on(app, path) {
        jar.port = app.port;
        const r = await jar.get(path);
        assert.equal(r.status, 200, `${path}: ${r.text}`);
        return r;
      },
    };
  }

  test('a session written by theirs is read by ours, and ours writes what theirs reads', async () => {
    const b = browser();
    const login = await b.on(theirs, '/login?u=ann');
    assert.deepEqual(login.json, { sid: login.json.sid, user: 'ann', n: 1 });
    assert.ok(b.jar.jar.has('koa.sid') && b.jar.jar.has('koa.sid.sig'), 'a signed koa.sid cookie');
    const sid = login.json.sid;
    assert.match(sid, /^[A-Za-z0-9_-]{32}$/, 'uid-safe(24), the same id format as ours');
    const theirRecord = JSON.parse(await redis.cli('GET', `koa:sess:${sid}`));
    assert.equal(theirRecord.user, 'ann');
    assert.equal(theirRecord.cookie.maxAge, 86400000);
    // koa-redis writes SETEX in whole seconds.
    const ttl = Number(await redis.cli('PTTL', `koa:sess:${sid}`));
    assert.ok(ttl > 86300000 && ttl <= 86400000, `PTTL ${ttl}`);

    const read = await b.on(ours, '/');
    assert.deepEqual(read.json, { sid, user: 'ann', n: 2 }, 'ours loaded their session under the same id');
    assert.ok(!read.cookies.some((c) => c.cleared), 'nobody was logged out');
    const ourRecord = JSON.parse(await redis.cli('GET', `koa:sess:${sid}`));
    assert.equal(ourRecord.n, 2);
    assert.deepEqual(Object.keys(ourRecord), Object.keys(theirRecord), 'the record keeps its shape');

    const back = await b.on(theirs, '/');
    assert.deepEqual(back.json, { sid, user: 'ann', n: 3 }, 'theirs reads what ours wrote');
    assert.deepEqual((await b.on(ours, '/')).json, { sid, user: 'ann', n: 4 });
  });

  test('a session written by ours is read and changed by theirs, and ours sees the change', async () => {
    const b = browser();
    const login = await b.on(ours, '/login?u=bob');
    const sid = login.json.sid;
    assert.deepEqual(login.json, { sid, user: 'bob', n: 1 });
    const pttl = Number(await redis.cli('PTTL', `koa:sess:${sid}`));
    assert.ok(pttl > 86300000 && pttl <= 86400000, `PTTL ${pttl}`);

    const changed = await b.on(theirs, '/login?u=carol');
    assert.deepEqual(changed.json, { sid, user: 'carol', n: 2 }, 'theirs loaded ours and changed it');
    const seen = await b.on(ours, '/');
    assert.deepEqual(seen.json, { sid, user: 'carol', n: 3 }, 'ours sees their change');
  });

  test('logout on either side logs out on both', async () => {
    for (const [first, second] of [[ours, theirs], [theirs, ours]]) {
      const b = browser();
      const sid = (await b.on(first, '/login?u=dan')).json.sid;
      await b.on(second, '/logout');
      assert.equal(await redis.cli('EXISTS', `koa:sess:${sid}`), '0');
      const after = await b.on(first, '/');
      assert.equal(after.json.user, null, 'a new session');
      assert.notEqual(after.json.sid, sid);
    }
  });

  test('with idleTimeout / absoluteTimeout on ours, theirs reads and writes the same records and keeps our times', async () => {
    const realNow = Date.now;
    let now = realNow();
    Date.now = () => now;
    const timed = await serve(makeApp({ store: ourStore, idleTimeout: 3_600_000, absoluteTimeout: 7_200_000 }, handler, { keys: KEYS }));
    try {
      const b = browser();
      const login = await b.on(timed, '/login?u=fay');
      const sid = login.json.sid;
      const stamped = JSON.parse(await redis.cli('GET', `koa:sess:${sid}`));
      assert.deepEqual(stamped._ks, { created: now, active: now }, 'ours keeps its times in the record');
      // Theirs sees one more field, carries it along when it saves, and changes the data.
      const theirWrite = await b.on(theirs, '/login?u=gus');
      assert.deepEqual(theirWrite.json, { sid, user: 'gus', n: 2 });
      const after = JSON.parse(await redis.cli('GET', `koa:sess:${sid}`));
      assert.deepEqual(after._ks, stamped._ks, 'their save kept our times');
      // Ours reads their change, never shows the times, and still ends the session on time.
      now += 3_000_000;
      assert.deepEqual((await b.on(timed, '/')).json, { sid, user: 'gus', n: 3 });
      now += 3_000_000;
      assert.deepEqual((await b.on(timed, '/')).json, { sid, user: 'gus', n: 4 }, 'activity keeps it alive');
      now += 1_300_000;
      const over = await b.on(timed, '/');
      assert.notEqual(over.json.sid, sid, 'absoluteTimeout ended it despite the activity');
      assert.equal(over.json.user, null);
      assert.equal(await redis.cli('EXISTS', `koa:sess:${sid}`), '0', 'and destroyed the record');
    } finally {
      Date.now = realNow;
      await timed.close();
    }
  });

  test('cookies signed by the other app with an older key of app.keys still work', async () => {
    // Theirs signs with KEYS[0]; an app whose first key is new still accepts it (key rotation).
    const rotated = await serve(makeApp({ store: ourStore }, handler, { keys: ['newest-key', ...KEYS] }));
    try {
      const b = browser();
      const sid = (await b.on(theirs, '/login?u=eve')).json.sid;
      const r = await b.on(rotated, '/');
      assert.deepEqual(r.json, { sid, user: 'eve', n: 2 });
      assert.ok(r.cookies.some((c) => c.name === 'koa.sid.sig'), 're-signed with the newest key');
    } finally {
      await rotated.close();
    }
  });
});
