'use strict';
// The fault test: a Koa app on RedisStore under steady requests while its redis-server
// (appendonly yes, appendfsync always) is killed and restarted on the same port. During the
// outage requests wait at most reconnectTimeout and fail with the documented errors; after
// the restart they succeed with no manual action; no acknowledged write is lost. Behaviour
// is asserted, not durations (only a generous bound that catches hangs).
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, makeApp, serve, sleep } = require('./helpers');
const { startRedis, stopRedisSync, connected } = require('./redis-harness');

const { RedisStore } = session;

const RECONNECT_TIMEOUT = 1500;
const CLIENTS = 3;
const HANG = 10000; // no single request may take this long
const TIMEOUT_ERROR = 'timeout:session store is unavailable';
const DOWN_ERROR = 'session store is unavailable';

let redis;
let store;
after(async () => {
  if (store) await store.quit();
  if (redis) stopRedisSync(redis);
});

/** Waits until `cond()` holds, checking every 20 ms; fails after `ms`. */
async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('redis-server killed and restarted under steady requests: documented errors, recovery, no lost write', async () => {
  redis = await startRedis({ aof: true });
  // Default timeouts (2 s each): fsync-always writes on a busy disk can be slow.
  store = new RedisStore({ url: redis.url });
  const storeEvents = [];
  store.on('CONNECT', () => storeEvents.push('CONNECT'));
  store.on('DISCONNECT', () => storeEvents.push('DISCONNECT'));
  await connected(store);

  // The outermost middleware turns an error into a 500 whose body names it, so each
  // response can be matched with its error.
  const reportErrors = async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      ctx.status = 500;
      ctx.body = { error: err.message };
    }
  };
  const app = makeApp({ store, reconnectTimeout: RECONNECT_TIMEOUT }, async (ctx) => {
    ctx.session.n = (ctx.session.n || 0) + 1;
    ctx.body = { n: ctx.session.n };
  }, { before: [reportErrors] });
  const srv = await serve(app);

  let phase = 'before'; // before -> outage -> after
  let stop = false;
  let killAt = Infinity;
  const log = []; // { client, phase, status, n, error, ms }

  async function client(id) {
    const c = srv.client();
    while (!stop) {
      const at = phase;
      const t0 = Date.now();
      const r = await c.get('/');
      const end = Date.now();
      log.push({ client: id, phase: at, status: r.status, n: r.json && r.json.n, error: r.json && r.json.error, ms: end - t0, end });
      // Steady, not flooding: failures during the outage come back at once.
      await sleep(10);
    }
  }

  const done = Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  try {
    const count = (pred) => log.filter(pred).length;
    await until(() => count((e) => e.status === 200) >= 10 * CLIENTS, 20000, 'steady traffic');

    phase = 'outage';
    killAt = Date.now();
    await redis.kill();
    // Long enough for both documented errors: the requests that waited out reconnectTimeout,
    // then those that fail at once while the store stays away.
    await until(
      () => count((e) => e.error === TIMEOUT_ERROR) >= 1 && count((e) => e.phase === 'outage' && e.error === DOWN_ERROR) >= 3,
      20000,
      'both outage errors',
    );

    await redis.restart();
    phase = 'after';
    // No manual action: every client gets through again, and keeps getting through.
    for (let id = 0; id < CLIENTS; id++) {
      await until(() => log.some((e) => e.client === id && e.phase === 'after' && e.status === 200), 20000, `client ${id} to recover`);
    }
    const recovered = count(() => true);
    await until(() => count(() => true) >= recovered + 5 * CLIENTS, 20000, 'traffic after the restart');
  } finally {
    stop = true;
    await done;
    await srv.close();
  }

  // Every failure is a 500 with one of the documented errors; nothing hung.
  for (const e of log) {
    assert.ok(e.ms < HANG, `a request took ${e.ms} ms`);
    if (e.status === 200) continue;
    assert.equal(e.status, 500, JSON.stringify(e));
    assert.ok(e.error === TIMEOUT_ERROR || e.error === DOWN_ERROR, `unexpected error: ${JSON.stringify(e)}`);
  }
  assert.equal(log.filter((e) => e.end < killAt && e.status !== 200).length, 0, 'no failure before the kill');
  const lastAfter = log.filter((e) => e.phase === 'after').slice(-CLIENTS * 3);
  assert.ok(lastAfter.every((e) => e.status === 200), `steady success after the restart: ${JSON.stringify(log.filter((e) => e.phase === 'after'))} ${storeEvents}`);

  // No acknowledged write is lost: each client's acknowledged counter values go up by one
  // from one 200 to the next, except that a write in flight when the server died (applied,
  // never acknowledged) may add one more. Never less: that would be a lost write.
  for (let id = 0; id < CLIENTS; id++) {
    let last = null;
    let failedSince = false;
    let acrossOutage = 0;
    for (const e of log.filter((x) => x.client === id)) {
      if (e.status !== 200) {
        failedSince = true;
        continue;
      }
      if (last !== null) {
        const step = e.n - last;
        if (failedSince) {
          acrossOutage++;
          assert.ok(step === 1 || step === 2, `client ${id}: ${last} -> ${e.n} across the outage`);
        } else {
          assert.equal(step, 1, `client ${id}: ${last} -> ${e.n}`);
        }
      }
      last = e.n;
      failedSince = false;
    }
    assert.equal(acrossOutage, 1, `client ${id} was acknowledged before and after the outage`);
  }
  // The store reported the outage and the recovery.
  assert.deepEqual(storeEvents.slice(0, 3), ['CONNECT', 'DISCONNECT', 'CONNECT']);
  assert.equal(storeEvents.at(-1), 'CONNECT');
  assert.equal(store.status, 'connected');
});
