'use strict';
// Session lifetimes (issue 20): `idleTimeout` and `absoluteTimeout`, over HTTP with real
// cookies, on the package MemoryStore (its native fast path, and its JSON methods), a JS store
// of one's own with compareAndSet, RedisStore on one redis-server and on a 3-master cluster.
// The engine's clock in Node is Date.now(): most tests stub it (a fake clock, restored in
// `finally`), so that windows of minutes take no time. Store TTLs stay real time: with a
// stubbed clock they only clean up, the engine's verdicts come from the record's "_ks" times.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { session, makeApp, serve, sleep } = require('./helpers');
const { startRedis, connected } = require('./redis-harness');

const { kJsonStore, SECOND, MINUTE, TEN_YEARS, withClock, countNativeJsonCalls, nativeGetJson } = require('./lifetime-fixtures');

const { MemoryStore, RedisStore, BaseStore } = session;

/** The app: each route answers with what the app sees of its session. */
async function routes(ctx) {
  switch (ctx.path) {
    case '/login':
      ctx.session.user = ctx.query.u || 'ann';
      break;
    case '/write':
      ctx.session.n = (ctx.session.n || 0) + 1;
      break;
    case '/forge':
      // The app tries to set the engine's times itself (and changes something real).
      ctx.session._ks = { created: 1, active: 1 };
      ctx.session.forged = true;
      break;
    case '/regenerate': {
      const { user } = ctx.session;
      await ctx.regenerateSession();
      ctx.session.user = user;
      break;
    }
    case '/regenerate-verb': {
      const { user } = ctx.session;
      await ctx.session.regenerate();
      ctx.session.user = user;
      break;
    }
    default: // '/read'
  }
  const s = ctx.session;
  ctx.body = {
    sid: ctx.sessionId,
    isNew: s.isNew,
    user: s.user ?? null,
    n: s.n ?? null,
    keys: Object.keys(s),
    json: JSON.stringify(s),
    hasKs: '_ks' in s || s._ks !== undefined,
  };
}

/** A store of one's own that opts in to compare-and-set; counts its calls, keeps the last TTL of each id. */
class CasStore extends BaseStore {
  constructor() {
    super();
    this.map = new Map(); // sid → the record's JSON, as JSON.stringify writes it
    this.ttls = new Map();
    this.calls = { get: 0, set: 0, destroy: 0, touch: 0, compareAndSet: 0 };
  }
  async get(sid) {
    this.calls.get++;
    const v = this.map.get(sid);
    return v === undefined ? null : JSON.parse(v);
  }
  async set(sid, sess, ttl) {
    this.calls.set++;
    this.map.set(sid, JSON.stringify(sess));
    this.ttls.set(sid, ttl);
  }
  async destroy(sid) {
    this.calls.destroy++;
    this.map.delete(sid);
    this.ttls.delete(sid);
  }
  async touch(sid, ttl) {
    this.calls.touch++;
    if (!this.map.has(sid)) return false;
    this.ttls.set(sid, ttl);
    return true;
  }
  async compareAndSet(sid, expected, json, ttl) {
    this.calls.compareAndSet++;
    const now = this.map.get(sid);
    if (now === undefined) return null;
    if (now !== expected) return now;
    // Kept as get's objects serialize, so the next load's JSON is these exact bytes.
    this.map.set(sid, JSON.stringify(JSON.parse(json)));
    this.ttls.set(sid, ttl);
    return true;
  }
}

/**
 * Counts the commands clients send to the servers (`ports`) while it runs, with MONITOR: the
 * top-level ones only (a script's own GET / SET are its EVAL's, not store calls). An EVALSHA
 * that a node refuses with NOSCRIPT is followed by an EVAL: two round trips, both counted.
 */
async function redisMonitor(redis) {
  const counts = {};
  const procs = redis.ports.map((port) => {
    const p = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'MONITOR'], { stdio: ['ignore', 'pipe', 'ignore'] });
    p.marks = new Set();
    p.ready = new Promise((resolve, reject) => {
      let buf = '';
      p.stdout.setEncoding('utf8');
      p.stdout.on('data', (d) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line === 'OK') resolve();
          const m = /^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"(?: "([^"]*)")?/.exec(line);
          if (m === null || m[1] === 'lua') continue;
          const cmd = m[2].toLowerCase();
          if (cmd === 'echo') p.marks.add(m[3]);
          else counts[cmd] = (counts[cmd] || 0) + 1;
        }
      });
      p.on('error', reject);
      p.on('exit', () => resolve());
    });
    return p;
  });
  await Promise.all(procs.map((p) => p.ready));
  return {
    /** Stops counting (once every node's output is in) and returns { command: calls }. */
    async stop() {
      const mark = `lt-mark-${Math.random()}`;
      for (const [i, port] of redis.ports.entries()) {
        await redis.cliAt(port, 'ECHO', mark);
        while (!procs[i].marks.has(mark)) await sleep(5);
      }
      await Promise.all(
        procs.map((p) => {
          const exited = new Promise((resolve) => p.once('exit', resolve));
          p.kill();
          return exited;
        }),
      );
      return counts;
    },
  };
}

/** Counting by snapshots of `stats()`: the difference at stop(). */
function counting(stats) {
  const before = stats();
  return {
    stop() {
      const after = stats();
      const delta = (k) => (after[k] === null ? null : after[k] - before[k]);
      const d = { reads: delta('reads'), writes: delta('writes'), touches: delta('touches'), destroys: delta('destroys') };
      if (after.viaJs !== undefined) d.viaJs = delta('viaJs');
      return d;
    },
  };
}

const REDIS_WRITES = ['set', 'setex', 'psetex', 'eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'getex'];
const REDIS_TOUCHES = ['pexpire', 'expire', 'pexpireat', 'expireat'];
const REDIS_DESTROYS = ['del', 'unlink'];

/**
 * The stores under test. Each fixture: `open()` → { store, options (extra session options),
 * raw(sid) (the stored record, parsed, or null; never through the counted calls), count()
 * (starts counting store calls; its stop() resolves to { reads, writes, touches, destroys },
 * null where not observable), observe(sid) (after each request of a counted run), ttl(sid)
 * (the store TTL last given, or null where not observable), close() }.
 */
const fixtures = [
  {
    // The engine's own calls read and write the native store (memoryFinish): no JS runs, so
    // writes are counted as changes of the stored bytes seen after each request (each write
    // stamps a new activity time; a touch only moves the TTL, and reads do not touch here).
    // Its JSON methods are wrapped too, to show that the middleware never calls them (viaJs).
    name: 'MemoryStore (native fast path)',
    realTime: true,
    open() {
      const store = new MemoryStore();
      const getJson = nativeGetJson(store);
      const counter = countNativeJsonCalls(store);
      let last = null;
      let versions = 0;
      return {
        store,
        options: {},
        raw: (sid) => {
          const j = getJson(sid);
          return j === null ? null : JSON.parse(j);
        },
        count: () => counting(() => ({ reads: null, writes: versions, touches: null, destroys: null, viaJs: counter.viaJs })),
        observe(sid) {
          const j = getJson(sid);
          if (j !== last) {
            if (last !== null && j !== null) versions++;
            last = j;
          }
        },
        ttl: () => null,
        close() {},
      };
    },
  },
  {
    // A valid() hook takes the middleware off the native path: the store's JSON methods are
    // called from JS, and wrapped here to count them.
    name: 'MemoryStore (JSON methods, valid hook)',
    open() {
      const store = new MemoryStore();
      const native = store[kJsonStore];
      const calls = { getJson: 0, setJson: 0, mergeJson: 0, touchJson: 0, destroyJson: 0 };
      const ttls = new Map();
      const getJson = nativeGetJson(store);
      for (const m of Object.keys(calls)) {
        const orig = native[m];
        native[m] = function counted(...args) {
          calls[m]++;
          if (m === 'setJson') ttls.set(args[0], args[2]);
          if (m === 'mergeJson') ttls.set(args[0], args[3]);
          if (m === 'touchJson') ttls.set(args[0], args[1]);
          return orig.apply(this, args);
        };
      }
      return {
        store,
        options: { valid: () => true },
        raw: (sid) => {
          const j = getJson(sid);
          return j === null ? null : JSON.parse(j);
        },
        count: () => counting(() => ({ reads: calls.getJson, writes: calls.setJson + calls.mergeJson, touches: calls.touchJson, destroys: calls.destroyJson })),
        observe() {},
        ttl: (sid) => ttls.get(sid) ?? null,
        close() {},
      };
    },
  },
  {
    name: 'a JS store with compareAndSet',
    open() {
      const store = new CasStore();
      return {
        store,
        options: {},
        raw: (sid) => (store.map.has(sid) ? JSON.parse(store.map.get(sid)) : null),
        count: () => counting(() => ({ reads: store.calls.get, writes: store.calls.set + store.calls.compareAndSet, touches: store.calls.touch, destroys: store.calls.destroy })),
        observe() {},
        ttl: (sid) => store.ttls.get(sid) ?? null,
        close() {},
      };
    },
  },
  ...[
    ['RedisStore (one redis-server)', false],
    ['RedisStore (3-master cluster)', true],
  ].map(([name, cluster]) => ({
    // Counted at the servers, with MONITOR on every master.
    name,
    realTime: !cluster, // its TTLs run out by themselves
    async open() {
      const redis = await startRedis({ cluster });
      const store = new RedisStore({ ...redis.target(), prefix: 'lt:' });
      await connected(store);
      const sum = (t, names) => names.reduce((a, n) => a + (t[n] || 0), 0);
      return {
        store,
        options: {},
        raw: (sid) => store.get(sid), // GET, from JS: no redis-cli process per look
        async count() {
          const m = await redisMonitor(redis);
          return {
            async stop() {
              const t = await m.stop();
              return { reads: t.get || 0, writes: sum(t, REDIS_WRITES), touches: sum(t, REDIS_TOUCHES), destroys: sum(t, REDIS_DESTROYS), all: t };
            },
          };
        },
        observe() {},
        ttl: async (sid) => Number(await redis.cli('PTTL', `lt:${sid}`)),
        async close() {
          await store.quit();
          await redis.stop();
        },
      };
    },
  })),
];

for (const fx of fixtures) {
  describe(`lifetimes on ${fx.name}`, () => {
    let f;
    before(async () => {
      f = await fx.open();
    });
    after(async () => {
      if (f) await f.close();
    });

    /** Serves an app with the session options (plus the fixture's) on this store; `fn(srv, app)`. */
    async function served(options, fn, handler = routes) {
      const app = makeApp({ store: f.store, ...f.options, ...options }, handler);
      const srv = await serve(app);
      try {
        await fn(srv, app);
        assert.deepEqual(app.errors, [], 'no app errors');
      } finally {
        await srv.close();
      }
    }

    /** A read that must find the logged-in session `sid`. */
    async function alive(c, sid, path = '/read', what = '') {
      const r = await c.get(path);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.sid, sid, `same session ${what}`);
      assert.equal(r.json.user, 'ann', `still logged in ${what}`);
      assert.equal(r.json.isNew, false, what);
      return r;
    }

    /** Logs a new client in at the clock's time: { c, t0 (that time), sid }. */
    async function loggedIn(srv, clock) {
      const c = srv.client();
      const t0 = clock.now;
      const sid = (await c.get('/login')).json.sid;
      return { c, t0, sid };
    }

    /** Logs a new client in at the clock's time, then starts counting store calls: { c, t0, sid, counter }. */
    async function loginCounted(srv, clock) {
      const { c, t0, sid } = await loggedIn(srv, clock);
      f.observe(sid);
      return { c, t0, sid, counter: await f.count() };
    }

    /**
     * The request finds `oldSid` over: a new session under another id, without the old data
     * (empty; a '/write' then saves its own n = 1, stamped anew); the old record is gone.
     */
    async function expired(c, oldSid, path = '/read') {
      assert.ok(await f.raw(oldSid), 'the record is still in the store before the request: the verdict is the engine\'s');
      const r = await c.get(path);
      assert.equal(r.status, 200, r.text);
      assert.notEqual(r.json.sid, oldSid, 'a new session id');
      assert.equal(r.json.isNew, true);
      assert.equal(r.json.user, null, 'the old data is gone');
      assert.equal(await f.raw(oldSid), null, 'the old record is destroyed');
      if (path === '/write') {
        assert.deepEqual(r.json.keys, ['cookie', 'n'], 'a new session with only what this request wrote');
        const fresh = await f.raw(r.json.sid);
        assert.equal(fresh.n, 1);
        assert.deepEqual(fresh._ks, { created: Date.now(), active: Date.now() }, 'its own times');
        assert.equal(fresh.user, undefined);
        return r;
      }
      assert.deepEqual(r.json.keys, ['cookie'], 'a new empty session');
      assert.equal(await f.raw(r.json.sid), null, 'an empty new session is not stored');
      // The client's next request does not bring the old session back either.
      const again = await c.get('/read');
      assert.equal(again.json.user, null);
      assert.notEqual(again.json.sid, oldSid);
      return r;
    }

    test('idle: reads spaced 0.4 and 0.6 of the window and 1 ms short of it keep it alive for many windows (each read past half refreshes); a full window without requests ends it', () =>
      withClock(async (clock) => {
        const W = MINUTE;
        await served({ idleTimeout: W }, async (srv) => {
          const c = srv.client();
          const t0 = clock.now;
          const login = await c.get('/login');
          const sid = login.json.sid;
          assert.deepEqual((await f.raw(sid))._ks, { created: t0, active: t0 });
          let active = t0;
          let refreshes = 0;
          const step = async (gap, label) => {
            const now = clock.advance(gap);
            await alive(c, sid, '/read', `${label} at +${now - t0} ms`);
            const ks = (await f.raw(sid))._ks;
            assert.equal(ks.created, t0, 'reads never move created');
            if (now - active > W / 2) {
              assert.equal(ks.active, now, `a read past half the window writes its time (${label})`);
              active = now;
              refreshes++;
            } else {
              assert.equal(ks.active, active, `a read within half the window writes nothing (${label})`);
            }
          };
          // About 10 windows of reads every 0.4 W: every other read refreshes (the last one too).
          for (let i = 0; i < 24; i++) await step(0.4 * W, '0.4 W');
          assert.equal(clock.now - t0, 9.6 * W);
          assert.equal(refreshes, 12);
          assert.equal(active, clock.now);
          // 0.6 W apart: each read refreshes, so the session lives on.
          for (let i = 0; i < 10; i++) await step(0.6 * W, '0.6 W');
          assert.equal(refreshes, 22);
          // One ms short of the window: alive, and refreshed.
          await step(W - 1, 'W - 1 ms');
          await step(W - 1, 'W - 1 ms');
          assert.equal(refreshes, 24);
          // Writes are activity too.
          for (let i = 0; i < 3; i++) {
            const now = clock.advance(0.3 * W);
            const r = await alive(c, sid, '/write', 'write');
            assert.equal(r.json.n, i + 1);
            assert.equal((await f.raw(sid))._ks.active, now, 'a write stamps its time');
            active = now;
          }
          // A full window without requests: over.
          clock.set(active + W);
          await expired(c, sid);
        });
      }));

    test('absolute: constant reads and writes do not extend it; a new session exactly at created + absoluteTimeout', () =>
      withClock(async (clock) => {
        const W = MINUTE;
        const A = 5 * MINUTE;
        await served({ idleTimeout: W, absoluteTimeout: A }, async (srv) => {
          const { c, t0, sid } = await loggedIn(srv, clock);
          for (let k = 1; k < 15; k++) {
            clock.set(t0 + k * 20 * SECOND);
            await alive(c, sid, k % 2 ? '/read' : '/write', `step ${k}`);
            assert.equal((await f.raw(sid))._ks.created, t0, 'activity never moves created');
          }
          // A read (no write: the last one was 20 s ago) one ms before the deadline: alive.
          clock.set(t0 + A - 1);
          await alive(c, sid, '/read', 'one ms before the absolute deadline');
          clock.set(t0 + A);
          await expired(c, sid, '/read');
        });
      }));

    test('absoluteTimeout alone: reads write nothing (no idle window to keep open); over at created + absoluteTimeout', () =>
      withClock(async (clock) => {
        const A = 10 * MINUTE;
        await served({ absoluteTimeout: A }, async (srv) => {
          const { c, t0, sid, counter } = await loginCounted(srv, clock);
          for (let k = 1; k < 10; k++) {
            clock.set(t0 + k * MINUTE);
            await alive(c, sid, '/read', `read ${k}`);
            f.observe(sid);
          }
          const d = await counter.stop();
          assert.equal(d.writes + (d.touches ?? 0), 0, `no writes nor touches: ${JSON.stringify(d)}`);
          assert.deepEqual((await f.raw(sid))._ks, { created: t0, active: t0 });
          clock.set(t0 + A - 1);
          await alive(c, sid, '/read', 'one ms before the deadline');
          clock.set(t0 + A);
          await expired(c, sid);
        });
      }));

    for (const [path, how] of [
      ['/regenerate', 'ctx.regenerateSession()'],
      ['/regenerate-verb', 'ctx.session.regenerate()'],
    ]) {
      test(`absolute: ${how} restarts the absolute clock (a new record, created at the regenerate)`, () =>
        withClock(async (clock) => {
          const W = MINUTE;
          const A = 5 * MINUTE;
          await served({ idleTimeout: W, absoluteTimeout: A }, async (srv) => {
            const { c, t0, sid: sid1 } = await loggedIn(srv, clock);
            for (let k = 1; k <= 10; k++) {
              clock.set(t0 + k * 20 * SECOND);
              await alive(c, sid1, k % 2 ? '/read' : '/write', `step ${k}`);
            }
            const t1 = clock.now; // t0 + 200 s
            const regen = await c.get(path);
            const sid2 = regen.json.sid;
            assert.notEqual(sid2, sid1, 'a new id');
            assert.equal(regen.json.user, 'ann');
            assert.equal(await f.raw(sid1), null, 'the old record is gone');
            assert.deepEqual((await f.raw(sid2))._ks, { created: t1, active: t1 }, 'the absolute clock starts again');
            for (let k = 1; k < 15; k++) {
              clock.set(t1 + k * 20 * SECOND);
              await alive(c, sid2, k % 2 ? '/read' : '/write', `after the regenerate, step ${k} (${clock.now - t0 >= A ? 'past' : 'before'} the first deadline)`);
              assert.equal((await f.raw(sid2))._ks.created, t1);
            }
            clock.set(t1 + A - 1);
            await alive(c, sid2, '/read', 'one ms before the new deadline');
            clock.set(t1 + A);
            await expired(c, sid2, '/write');
          });
        }));
    }

    test('read-heavy: 1,000 reads within one idle window cost at most 3 store writes or touches (counted at the store)', (t) =>
      withClock(async (clock) => {
        const W = 100 * SECOND;
        await served({ idleTimeout: W }, async (srv) => {
          const { c, t0, sid, counter } = await loginCounted(srv, clock);
          for (let i = 1; i <= 1000; i++) {
            clock.set(t0 + i * 99); // the last at t0 + 99 s: within the window
            const r = await c.get('/read');
            if (r.json.sid !== sid || r.json.user !== 'ann') assert.fail(`read ${i}: the session was lost: ${r.text}`);
            f.observe(sid);
          }
          const d = await counter.stop();
          const cost = d.writes + (d.touches ?? 0);
          const detail = d.all ? ` (commands: ${JSON.stringify(d.all)})` : '';
          t.diagnostic(`${fx.name}: 1,000 reads → ${d.writes} writes, ${d.touches ?? 'n/a'} touches, ${d.destroys ?? 'n/a'} destroys, ${d.reads ?? 'n/a'} store reads${detail}`);
          assert.ok(cost <= 3, `at most 3 writes or touches, counted ${JSON.stringify(d)}`);
          assert.ok(cost > 0, `the read past half the window refreshes the activity time, counted ${JSON.stringify(d)}`);
          if (d.destroys !== null) assert.equal(d.destroys, 0);
          if (d.viaJs !== undefined) assert.equal(d.viaJs, 0, 'the native path: the middleware called no JS store method');
          if (d.reads !== null) assert.equal(d.reads, 1000, 'each request read the store once');
          assert.ok((await f.raw(sid))._ks.active > t0 + W / 2, 'the refresh is in the record');
        });
      }));

    test('"_ks": never in ctx.session, JSON.stringify(ctx.session) nor the valid() argument; in the stored record; the app cannot forge it', () =>
      withClock(async (clock) => {
        const opts = { idleTimeout: MINUTE, absoluteTimeout: 10 * MINUTE };
        const seen = [];
        const valid = (ctx, s) => {
          seen.push({ keys: Object.keys(s), json: JSON.stringify(s), has: '_ks' in s });
          return true;
        };
        await served(opts, async (srv) => {
          const c = srv.client();
          const t0 = clock.now;
          const login = await c.get('/login');
          const { sid } = login.json;
          for (const r of [login, await c.get('/read')]) {
            assert.deepEqual(r.json.keys, ['cookie', 'user']);
            assert.equal(r.json.hasKs, false);
            assert.doesNotMatch(r.json.json, /_ks/);
          }
          const stored = await f.raw(sid);
          assert.deepEqual(stored._ks, { created: t0, active: t0 }, 'the record holds the engine\'s times');
          assert.equal(stored.user, 'ann');
          // The app sets "_ks" itself: the engine writes its own times over it.
          const t1 = clock.advance(5 * SECOND);
          const forged = await c.get('/forge');
          assert.equal(forged.status, 200);
          const after = await f.raw(sid);
          assert.equal(after.forged, true, 'the app\'s real change is stored');
          assert.deepEqual(after._ks, { created: t0, active: t1 }, 'not the forged times');
          const next = await c.get('/read');
          assert.deepEqual(next.json.keys, ['cookie', 'user', 'forged']);
          assert.equal(next.json.hasKs, false);

          // The valid() hook on the same store (and cookie) sees the data without "_ks".
          await served({ ...opts, valid }, async (srv2) => {
            const c2 = srv2.client();
            c2.jar = new Map(c.jar);
            clock.advance(SECOND);
            const r = await c2.get('/read');
            assert.equal(r.json.sid, sid);
            assert.equal(r.json.user, 'ann');
            assert.equal(r.json.hasKs, false);
          });
          assert.equal(seen.length, 1);
          assert.deepEqual(seen[0].keys, ['cookie', 'user', 'forged']);
          assert.equal(seen[0].has, false);
          assert.doesNotMatch(seen[0].json, /_ks/);
        });
      }));

    test('a record stored before the options were on (no "_ks", or an unreadable one) loads with its data and is stamped', () =>
      withClock(async (clock) => {
        const W = MINUTE;
        const plainOptions = { store: f.store, ...f.options };
        // Written by a middleware without the options, on the same store.
        const plain = makeApp(plainOptions, async (ctx) => {
          if (ctx.path === '/login') ctx.session.user = 'ann';
          if (ctx.path === '/junk') ctx.session._ks = 'not times';
          ctx.body = { sid: ctx.sessionId };
        });
        const plainSrv = await serve(plain);
        try {
          for (const path of ['/login', '/junk']) {
            const c = plainSrv.client();
            const { sid } = (await c.get('/login')).json;
            if (path === '/junk') await c.get('/junk');
            const before = await f.raw(sid);
            assert.equal(before.user, 'ann');
            if (path === '/login') assert.equal('_ks' in before, false, 'no times without the options');
            else assert.equal(before._ks, 'not times');
            await served({ idleTimeout: W, absoluteTimeout: 10 * W }, async (srv) => {
              const c2 = srv.client();
              c2.jar = new Map(c.jar);
              const t1 = clock.advance(7 * SECOND);
              const r = await alive(c2, sid, '/read', `(record ${path})`);
              assert.deepEqual(r.json.keys, ['cookie', 'user']);
              assert.equal(r.json.hasKs, false);
              const stamped = await f.raw(sid);
              assert.deepEqual(stamped._ks, { created: t1, active: t1 }, 'its clock starts at its first load');
              assert.equal(stamped.user, 'ann');
              // From then on, the usual lifetimes.
              clock.advance(W / 4);
              await alive(c2, sid, '/read', 'within the window');
              assert.deepEqual((await f.raw(sid))._ks, { created: t1, active: t1 });
              clock.set(t1 + W);
              await expired(c2, sid);
            });
          }
          assert.deepEqual(plain.errors, []);
        } finally {
          await plainSrv.close();
        }
      }));

    test('off (0 / null): no "_ks" in the record, nothing expires', () =>
      withClock(async (clock) => {
        for (const off of [{ idleTimeout: 0, absoluteTimeout: null }, { idleTimeout: null, absoluteTimeout: 0 }]) {
          await served(off, async (srv) => {
            const c = srv.client();
            const { sid } = (await c.get('/login')).json;
            assert.equal('_ks' in (await f.raw(sid)), false);
            clock.advance(20 * 3600 * SECOND); // within the cookie's day, far past any window
            await alive(c, sid, '/read', JSON.stringify(off));
          });
        }
      }));

    test('store TTL: never past the first deadline (idle, absolute, or the cookie\'s own)', () =>
      withClock(async (clock) => {
        const ttlAfter = async (sid, max, what) => {
          const ttl = await f.ttl(sid);
          if (ttl === null) return; // not observable on this path
          assert.ok(ttl > 0 && ttl <= max, `${what}: store TTL ${ttl} ms, at most ${max}`);
          assert.ok(ttl > max - 1000, `${what}: store TTL ${ttl} ms, about ${max}`);
        };
        await served({ idleTimeout: 5000, absoluteTimeout: 8000 }, async (srv) => {
          const c = srv.client();
          const { sid } = (await c.get('/login')).json;
          await ttlAfter(sid, 5000, 'login: the idle window');
          clock.advance(4000);
          await alive(c, sid, '/write');
          await ttlAfter(sid, 4000, 'a write at +4 s: what is left of the absolute 8 s');
          clock.advance(2000);
          await alive(c, sid, '/read'); // within half the window: nothing written
          clock.advance(1000);
          await alive(c, sid, '/read'); // past half the window: refreshed
          assert.equal((await f.raw(sid))._ks.active, clock.now);
          await ttlAfter(sid, 1000, 'a refresh at +7 s: 1 s left of the absolute');
        });
        await served({ idleTimeout: 5000, cookieOptions: { maxAge: 2000 } }, async (srv) => {
          const c = srv.client();
          const { sid } = (await c.get('/login')).json;
          await ttlAfter(sid, 2000, 'a cookie maxAge shorter than the idle window');
        });
      }));

    // Real time on the stores where it adds something: the native path's clock, Redis's TTLs.
    if (fx.realTime) test('real time (no stubbed clock): an 800 ms idle window, kept alive by reads, then over', async () => {
      await served({ idleTimeout: 800 }, async (srv) => {
        const c = srv.client();
        const { sid } = (await c.get('/login')).json;
        await sleep(500);
        await alive(c, sid, '/read', 'after 500 ms');
        await sleep(500);
        await alive(c, sid, '/read', 'after 1000 ms: the read at 500 ms refreshed it');
        await sleep(900);
        const r = await c.get('/read');
        assert.notEqual(r.json.sid, sid);
        assert.equal(r.json.user, null);
        assert.equal(await f.raw(sid), null, 'gone from the store');
      });
    });
  });
}

describe('lifetime options', () => {
  const plain = { get() {}, set() {}, destroy() {} };

  test('a store without compareAndSet is refused with either timeout, naming the option and compare-and-set', () => {
    for (const option of ['idleTimeout', 'absoluteTimeout']) {
      assert.throws(
        () => session({ store: plain, [option]: 60000 }),
        (e) => e instanceof TypeError && e.message.includes(`"${option}"`) && /compare-and-set/.test(e.message) && /compareAndSet/.test(e.message),
        option,
      );
      assert.throws(() => session({ store: { ...plain, touch() {} }, [option]: 60000 }), TypeError, 'touch is not enough');
      assert.doesNotThrow(() => session({ store: { ...plain, compareAndSet() {} }, [option]: 60000 }));
    }
    assert.throws(() => session({ store: plain, idleTimeout: 1000, absoluteTimeout: 5000 }), /idleTimeout/);
    assert.doesNotThrow(() => session({ idleTimeout: 1000, absoluteTimeout: 5000 }), 'the default MemoryStore has compare-and-set');
  });

  test('bad values are TypeErrors naming the option; 0 / null / undefined are off (no store requirement); 1 ms to 10 years accepted', () => {
    for (const option of ['idleTimeout', 'absoluteTimeout']) {
      for (const bad of [-1, 1.5, 'x', '1000', TEN_YEARS + 1, NaN, Infinity, -Infinity, true, {}, [], 1e300]) {
        assert.throws(
          () => session({ [option]: bad }),
          (e) => e instanceof TypeError && e.message.startsWith(`koa-session-ts: option "${option}": `),
          `${option}: ${String(bad)}`,
        );
      }
      for (const off of [0, null, undefined]) assert.doesNotThrow(() => session({ store: plain, [option]: off }), `${option}: ${off}`);
      for (const ok of [1, 300, TEN_YEARS]) assert.doesNotThrow(() => session({ [option]: ok }), `${option}: ${ok}`);
    }
  });
});
