'use strict';
// Several processes on one Redis (as under node:cluster or PM2): three worker processes, each
// a Koa app with its own RedisStore, share one throwaway redis-server. Parallel requests on one
// session, spread over the three, each set a different key: all answer 2xx and every key is
// kept (merges across processes retry with backoff within a time budget, core/src/merge.rs).
// A logout on one worker racing a slower write on another stays a logout. Renewal
// (renewInterval, renewGrace) across the processes: three more workers with a short interval
// and grace, 60 writers of one session whose id is due for renewal, on real time (the workers
// cannot share a stubbed clock).
// MP_TRIALS, MP_REQUESTS and MP_WORKERS change the load (default 10 trials of 60 requests, 3
// workers); MP_SPREAD=ms spreads each request's write over 0..ms after a common 50 ms.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { fork } = require('node:child_process');
const { request, parseSetCookie, cookieNamed, sleep } = require('./helpers');
const { startRedis, stopRedisSync } = require('./redis-harness');

const WORKERS = Number(process.env.MP_WORKERS || 3);
const TRIALS = Number(process.env.MP_TRIALS || 10);
const REQUESTS = Number(process.env.MP_REQUESTS || 60);
const SPREAD = Number(process.env.MP_SPREAD || 0);

let redis;
const workers = [];

/** Forks WORKERS workers on the test's Redis, `env` added; resolves with them once each listens. */
async function startWorkers(env = {}) {
  const group = [];
  for (let i = 0; i < WORKERS; i++) {
    const child = fork(path.join(__dirname, 'multi-process-worker.js'), [], {
      env: { ...process.env, REDIS_URL: redis.url, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    group.push(child);
    workers.push(child); // stopped in `after`
  }
  const ports = await Promise.all(
    group.map(
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
  ports.forEach((port, i) => (group[i].port = port));
  return group;
}

before(async () => {
  redis = await startRedis();
  await startWorkers();
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

const RENEW_INTERVAL = 2000;
const RENEW_GRACE = 4000;

test(`renewal over ${WORKERS} processes (renewInterval ${RENEW_INTERVAL} ms, renewGrace ${RENEW_GRACE} ms): ${REQUESTS} writers of a session due for renewal, all kept, one id current after the grace`, async (t) => {
  const group = await startWorkers({ MP_RENEW_INTERVAL_MS: String(RENEW_INTERVAL), MP_RENEW_GRACE_MS: String(RENEW_GRACE) });
  const at = (i, p, cookie) => request(group[i % WORKERS].port, p, { headers: cookie ? { cookie } : {} });
  const cookieWith = (sid, sig) => `koa.sid=${sid}; koa.sid.sig=${sig}`;
  const login = await at(0, '/login');
  assert.equal(login.status, 200);
  const cookie = cookieOf(login);
  const key = sidOf(cookie);
  const stored = async () => JSON.parse(await redis.cli('GET', `koa:sess:${key}`));
  assert.equal((await stored()).user, 'ann');
  // The id is due for renewal when the writers load the session: every one of them may renew.
  await sleep(RENEW_INTERVAL + 200);

  const mine = Array.from({ length: REQUESTS }, (_, i) => ({ k: `r${i}`, n: i }));
  const burst = performance.now();
  const answers = await Promise.all(mine.map(({ k, n }, i) => at(i, `/set?k=${k}&n=${n}&wait=50`, cookie)));
  const burstMs = performance.now() - burst;
  const bad = answers.filter((r) => r.status < 200 || r.status > 299);
  assert.deepEqual(bad.map((r) => `${r.status} ${r.json ? r.json.failed : r.text}`), [], `${bad.length} of ${REQUESTS} requests failed`);

  // Every response sets a session cookie, never the old id again; which ids went out.
  const sent = new Map(); // new id -> the cookie header its response makes
  for (const [i, r] of answers.entries()) {
    const c = r.setCookies.map(parseSetCookie);
    const sid = c.find((x) => x.name === 'koa.sid');
    const sig = c.find((x) => x.name === 'koa.sid.sig');
    assert.ok(sid && !sid.cleared && sig && !sig.cleared, `response ${i} sets the session cookie: ${r.setCookies}`);
    assert.notEqual(sid.value, key, `response ${i} sets a new id`);
    sent.set(sid.value, cookieWith(sid.value, sig.value));
  }
  const record = await stored();
  const current = record._ks && record._ks.sid;
  t.diagnostic(`${REQUESTS} writers over ${WORKERS} processes in ${Math.round(burstMs)} ms: ${sent.size} distinct new id(s) set; the record names ${current ? 'one of them' : 'none'} current and ${record._ks && record._ks.old ? Object.keys(record._ks.old).length : 0} replaced id(s) in grace (the old one and those of the other renewals: each writer loaded the session due, and renewals at once are not merged into one)`);
  assert.ok(sent.has(current), `the record's current id is one the responses set: ${JSON.stringify(record._ks)}`);
  assert.equal(record.user, 'ann');
  const lostIn = (json) => mine.filter(({ k, n }) => !json || JSON.stringify(json[k]) !== JSON.stringify(expected(n))).map(({ k }) => k);
  assert.deepEqual(lostIn(record), [], 'every key in the record');

  // During the grace: the old id and every id a response set load the whole session, on every
  // worker, and the answers' cookies name the current id (none of these is due yet).
  for (const [label, c] of [['the old id', cookie], ...[...sent].map(([sid, c]) => [`new id ${sid.slice(0, 6)}`, c])]) {
    for (let w = 0; w < WORKERS; w++) {
      const r = await at(w, '/', c);
      assert.equal(r.status, 200);
      assert.equal(r.json.user, 'ann', `${label} on worker ${w} within the grace: ${r.text.slice(0, 200)}`);
      assert.deepEqual(lostIn(r.json), [], `${label} on worker ${w} within the grace loads every key`);
      const set = cookieNamed(r, 'koa.sid');
      if (set) assert.equal(set.value, current, `${label} on worker ${w} within the grace gets the current id's cookie`);
      else assert.equal(sidOf(c), current, `${label} on worker ${w}: only the current id gets no cookie`);
    }
  }
  const checked = performance.now() - burst;
  assert.ok(checked < Math.min(RENEW_INTERVAL, RENEW_GRACE), `the checks within the grace took ${Math.round(checked)} ms: too slow for these intervals`);

  // After the grace: the old id and every new id but the current one load nothing, on any
  // worker, and begin no session; the current one loads everything.
  await sleep(RENEW_GRACE + 500 - (performance.now() - burst));
  for (const [label, c] of [['the old id', cookie], ...[...sent].filter(([sid]) => sid !== current).map(([sid, c]) => [`replaced id ${sid.slice(0, 6)}`, c])]) {
    for (let w = 0; w < WORKERS; w++) {
      const r = await at(w, '/', c);
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.json), ['cookie'], `${label} on worker ${w} after the grace loads nothing: ${r.text.slice(0, 200)}`);
      assert.ok(r.setCookies.map(parseSetCookie).every((x) => x.cleared), `${label}: no new session: ${r.setCookies}`);
    }
  }
  let cur = sent.get(current);
  for (let w = 0; w < WORKERS; w++) {
    const r = await at(w, '/', cur);
    assert.equal(r.status, 200);
    assert.equal(r.json.user, 'ann', `the current id on worker ${w} after the grace: ${r.text.slice(0, 200)}`);
    assert.deepEqual(lostIn(r.json), [], `the current id on worker ${w} after the grace loads every key`);
    if (cookieNamed(r, 'koa.sid')) cur = cookieOf(r); // it is due again: renewed, the browser would follow
  }
  assert.equal(sidOf(cookieOf(login)), key);
  assert.equal((await stored()).user, 'ann', 'the record stays under its key');
});
