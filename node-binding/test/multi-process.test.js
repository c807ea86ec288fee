'use strict';
// Several processes on one Redis (as under node:cluster or PM2): three worker processes, each
// a Koa app with its own RedisStore, share one throwaway redis-server. Parallel requests on one
// session, spread over the three, each set a different key: all answer 2xx and every key is
// kept (merges across processes retry with backoff within a time budget, core/src/merge.rs).
// A logout on one worker racing a slower write on another stays a logout.
// MP_TRIALS, MP_REQUESTS and MP_WORKERS change the load (default 10 trials of 60 requests, 3
// workers); MP_SPREAD=ms spreads each request's write over 0..ms after a common 50 ms.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { fork } = require('node:child_process');
const { request, parseSetCookie, sleep } = require('./helpers');
const { startRedis, stopRedisSync } = require('./redis-harness');

const WORKERS = Number(process.env.MP_WORKERS || 3);
const TRIALS = Number(process.env.MP_TRIALS || 10);
const REQUESTS = Number(process.env.MP_REQUESTS || 60);
const SPREAD = Number(process.env.MP_SPREAD || 0);

let redis;
const workers = [];

before(async () => {
  redis = await startRedis();
  for (let i = 0; i < WORKERS; i++) {
    const child = fork(path.join(__dirname, 'multi-process-worker.js'), [], {
      env: { ...process.env, REDIS_URL: redis.url },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    workers.push(child);
  }
  const ports = await Promise.all(
    workers.map(
      (child, i) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`worker ${i} did not start within 20 s`)), 20000);
          child.once('message', (m) => {
            clearTimeout(t);
            resolve(m.port);
          });
          child.once('exit', (code) => reject(new Error(`worker ${i} exited (${code}) before starting`)));
        }),
    ),
  );
  ports.forEach((port, i) => (workers[i].port = port));
});

after(async () => {
  await Promise.all(
    workers.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const t = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          child.disconnect();
        }),
    ),
  );
  if (redis) stopRedisSync(redis);
});

const on = (i, p, cookie) => request(workers[i % WORKERS].port, p, { headers: cookie ? { cookie } : {} });

/** The cookie header a response's Set-Cookie values make. */
function cookieOf(res) {
  return res.setCookies
    .map(parseSetCookie)
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}

const sidOf = (cookie) => /(?:^|; )koa\.sid=([^;]*)/.exec(cookie)[1];
const expected = (n) => ({ n, big: 2 ** 53 + 1, tenth: 0.1 });

test(`${TRIALS} × ${REQUESTS} parallel requests on one session over ${WORKERS} processes: all 2xx, every key kept`, async (t) => {
  const login = await on(0, '/login');
  assert.equal(login.status, 200);
  const cookie = cookieOf(login);
  let failed = 0;
  let slowest = 0;
  const reasons = new Set();
  const keys = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const mine = Array.from({ length: REQUESTS }, (_, i) => ({ k: `t${trial}_${i}`, n: trial * REQUESTS + i }));
    keys.push(...mine);
    const answers = await Promise.all(
      mine.map(async ({ k, n }, i) => {
        const t0 = performance.now();
        const wait = 50 + Math.floor(Math.random() * SPREAD);
        const r = await on(i, `/set?k=${k}&n=${n}&wait=${wait}`, cookie);
        slowest = Math.max(slowest, performance.now() - t0 - wait);
        return r;
      }),
    );
    const bad = answers.filter((r) => r.status < 200 || r.status > 299);
    failed += bad.length;
    for (const r of bad) reasons.add(`${r.status} ${r.json ? r.json.failed : r.text}`);
    t.diagnostic(`trial ${trial + 1}: ${REQUESTS} requests, ${bad.length} failed`);
  }
  // Every worker reads the one record, with every key of every trial in it, exactly.
  let lost = 0;
  for (let w = 0; w < WORKERS; w++) {
    const now = await on(w, '/', cookie);
    assert.equal(now.status, 200);
    assert.equal(now.json.user, 'ann');
    lost = Math.max(lost, keys.filter(({ k, n }) => JSON.stringify(now.json[k]) !== JSON.stringify(expected(n))).length);
  }
  const stats = await redis.cli('INFO', 'commandstats');
  const cas = /cmdstat_evalsha:calls=(\d+)/.exec(stats);
  t.diagnostic(`${TRIALS * REQUESTS} requests: ${failed} failed, ${lost} of ${keys.length} keys lost; ${cas ? cas[1] : 0} compare-and-sets; slowest answer ${Math.round(slowest)} ms after its write began`);
  assert.deepEqual([...reasons], [], `${failed} requests failed`);
  assert.equal(lost, 0, `${lost} keys lost`);
});

test('a logout on one process racing a slower write on another stays a logout', async () => {
  const login = await on(0, '/login');
  const cookie = cookieOf(login);
  const sid = sidOf(cookie);
  assert.equal(await redis.cli('EXISTS', `koa:sess:${sid}`), '1');
  // Worker 1 loads the session, then writes 300 ms later; worker 2 logs out meanwhile.
  const slow = on(1, '/set?k=late&n=1&wait=300', cookie);
  await sleep(100);
  const logout = await on(2, '/logout', cookie);
  assert.equal(logout.status, 200);
  assert.equal(await redis.cli('EXISTS', `koa:sess:${sid}`), '0', 'the logout destroyed the record');
  const late = await slow;
  assert.equal(late.status, 200);
  assert.ok(
    late.setCookies.some((c) => /^koa\.sid=;/.test(c)),
    `the slower write clears the cookie: ${late.setCookies}`,
  );
  // The slower write re-created nothing, and the old cookie loads no session on any worker.
  assert.equal(await redis.cli('EXISTS', `koa:sess:${sid}`), '0', 'the slower write re-created the record');
  for (let w = 0; w < WORKERS; w++) {
    const again = await on(w, '/', cookie);
    assert.equal(again.status, 200);
    assert.deepEqual(Object.keys(again.json), ['cookie'], `worker ${w} loads no session: ${again.text}`);
    // At most the unknown id's cookies are cleared: no session is begun for it.
    assert.ok(again.setCookies.map(parseSetCookie).every((c) => c.cleared), `no new session: ${again.setCookies}`);
  }
  assert.equal(await redis.cli('EXISTS', `koa:sess:${sid}`), '0');
});
