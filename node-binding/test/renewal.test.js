'use strict';
// Session id renewal (issue 20): `renewInterval` and `renewGrace`, over HTTP with real cookies,
// on the package MemoryStore (its native fast path, and its JSON methods behind a valid()
// hook), a JS store of one's own with compareAndSet, RedisStore on one redis-server and on a
// 3-master cluster.
//
// The record stays under its key (ctx.sessionId is the key throughout); a renewal gives the
// cookie a new id, written as an alias record {"_ks":{"of":key}}; the replaced id loads the same
// session for renewGrace and answers with the current id's cookie; after that it loads nothing.
// The engine's clock in Node is Date.now(): every test here stubs it (restored in `finally`).
// Store TTLs stay real time; they are far longer than these tests.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, makeApp, serve, Client, cookieNamed } = require('./helpers');
const { startRedis, connected } = require('./redis-harness');

const { SECOND, MINUTE, TEN_YEARS, withClock, countNativeJsonCalls, nativeGetJson } = require('./lifetime-fixtures');

const { MemoryStore, RedisStore, BaseStore } = session;

/**
 * Holds requests in the handler (after their session was loaded): `enter()` waits for
 * `release()`; `entered(n)` resolves once n requests are held.
 */
function holding() {
  let count = 0;
  const waiters = [];
  let open;
  const released = new Promise((resolve) => (open = resolve));
  return {
    async enter() {
      count++;
      for (const w of waiters) if (count >= w.n) w.resolve();
      await released;
    },
    entered(n) {
      return count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }));
    },
    release: () => open(),
    get count() {
      return count;
    },
  };
}

let hold = null; // the current test's holding(), for the /gated routes

/** The app: each route answers with what the app sees of its session. */
async function routes(ctx) {
  const [, route, arg] = ctx.path.split('/');
  switch (route) {
    case 'login':
      ctx.session.user = arg || 'ann';
      break;
    case 'write':
      ctx.session[arg] = true;
      break;
    case 'gated':
      await hold.enter();
      ctx.session[arg] = true;
      break;
    case 'gatedread':
      await hold.enter();
      break;
    case 'logout':
      ctx.session = null;
      break;
    case 'regenerate': {
      const { user } = ctx.session;
      await ctx.regenerateSession();
      ctx.session.user = user;
      break;
    }
    default: // 'read'
  }
  const s = ctx.session;
  ctx.body =
    s === null
      ? { sid: ctx.sessionId ?? null, loggedOut: true }
      : {
          sid: ctx.sessionId,
          isNew: s.isNew,
          user: s.user ?? null,
          keys: Object.keys(s).filter((k) => k !== 'cookie'),
          json: JSON.stringify(s),
          hasKs: '_ks' in s,
        };
}

/** A store of one's own with compare-and-set and a user index (its `user` field). */
class CasStore extends BaseStore {
  constructor() {
    super();
    this.map = new Map(); // sid → the record's JSON
    this.index = new Map(); // user → Set of sids
  }
  async get(sid) {
    const v = this.map.get(sid);
    return v === undefined ? null : JSON.parse(v);
  }
  async set(sid, sess) {
    this.map.set(sid, JSON.stringify(sess));
  }
  async destroy(sid) {
    this.map.delete(sid);
  }
  async touch(sid) {
    return this.map.has(sid);
  }
  async compareAndSet(sid, expected, json) {
    const now = this.map.get(sid);
    if (now === undefined) return null;
    if (now !== expected) return now;
    this.map.set(sid, JSON.stringify(JSON.parse(json)));
    return true;
  }
  async indexUserSession(user, sid) {
    if (!this.index.has(user)) this.index.set(user, new Set());
    this.index.get(user).add(sid);
  }
  /** Destroys the records in the user's index that still name the user. */
  async destroyUserSessions(user) {
    let n = 0;
    for (const sid of this.index.get(user) ?? []) {
      const v = this.map.get(sid);
      if (v !== undefined && JSON.parse(v).user === user) {
        this.map.delete(sid);
        n++;
      }
    }
    this.index.delete(user);
    return n;
  }
}

/**
 * The stores under test. `open()` → { make() (a new, empty store on the fixture's backend:
 * { store, options (extra session options), raw(sid) (the stored record, parsed, or null),
 * ttl(sid) (Redis: the key's PTTL), close() }), close() }.
 */
const fixtures = [
  {
    // The engine's own calls read and write the native store (requestBegin / memoryFinish):
    // its JSON methods are wrapped to show that the middleware never calls them (viaJs).
    name: 'MemoryStore (native fast path)',
    native: true,
    open: () => ({
      make() {
        const store = new MemoryStore();
        const getJson = nativeGetJson(store);
        const counter = countNativeJsonCalls(store);
        return { store, options: {}, counter, raw: (sid) => JSON.parse(getJson(sid)), close() {} };
      },
      close() {},
    }),
  },
  {
    // A valid() hook takes the middleware off the native path: the store's JSON methods are
    // called from JS. The hook accepts everything and keeps what it was shown.
    name: 'MemoryStore (JSON methods, valid hook)',
    open: () => ({
      make() {
        const store = new MemoryStore();
        const getJson = nativeGetJson(store);
        const seen = [];
        return {
          store,
          options: {
            valid: (ctx, s) => {
              seen.push(JSON.stringify(s));
              return true;
            },
          },
          seen,
          raw: (sid) => JSON.parse(getJson(sid)),
          close() {},
        };
      },
      close() {},
    }),
  },
  {
    name: 'a JS store with compareAndSet',
    open: () => ({
      make() {
        const store = new CasStore();
        return { store, options: {}, raw: (sid) => (store.map.has(sid) ? JSON.parse(store.map.get(sid)) : null), close() {} };
      },
      close() {},
    }),
  },
  ...[
    ['RedisStore (one redis-server)', false],
    ['RedisStore (3-master cluster)', true],
  ].map(([name, cluster]) => ({
    name,
    async open() {
      const redis = await startRedis({ cluster });
      const opened = [];
      let n = 0;
      return {
        async make() {
          const prefix = `rn${n++}:`;
          const store = new RedisStore({ ...redis.target(), prefix });
          await connected(store);
          opened.push(store);
          const ttl = async (sid) => Number(await redis.cli('PTTL', `${prefix}${sid}`));
          return { store, options: {}, raw: (sid) => store.get(sid), ttl, close() {} };
        },
        async close() {
          for (const s of opened) await s.quit();
          await redis.stop();
        },
      };
    },
  })),
];

/** A new client whose jar is a copy of `jar` (a browser holding exactly those cookies). */
const holder = (srv, jar) => {
  const c = new Client(srv.port);
  c.jar = new Map(jar);
  return c;
};

/** The session cookie a response sets: its value, or null when it sets none; a cleared one is 'cleared'. */
function sidCookie(res) {
  const all = res.cookies.filter((c) => c.name === 'koa.sid');
  assert.ok(all.length <= 1, `at most one koa.sid Set-Cookie: ${res.setCookies}`);
  if (all.length === 0) return null;
  return all[0].cleared ? 'cleared' : all[0].value;
}

for (const fx of fixtures) {
  describe(`renewal on ${fx.name}`, () => {
    let backend;
    const made = [];
    before(async () => {
      backend = await fx.open();
    });
    after(async () => {
      for (const m of made) await m.close();
      if (backend) await backend.close();
    });

    /** A new empty store on the backend: { store, options, raw, ... }. */
    async function fresh() {
      const m = await backend.make();
      made.push(m);
      return m;
    }

    /** Serves the routes with `options` on a new store (or `f`); `fn(srv, f, app)`. */
    async function served(options, fn, f = null) {
      f = f ?? (await fresh());
      const app = makeApp({ store: f.store, ...f.options, ...options }, routes);
      const srv = await serve(app);
      try {
        await fn(srv, f, app);
        assert.deepEqual(app.errors, [], 'no app errors');
      } finally {
        await srv.close();
      }
    }

    /** A request with `c` that must find the session `key` with `keys` (user ann); returns the response. */
    async function alive(c, key, keys, path = '/read', what = '') {
      const r = await c.get(path);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.sid, key, `ctx.sessionId is the record's key ${what}`);
      assert.equal(r.json.isNew, false, `the stored session ${what}`);
      assert.equal(r.json.user, 'ann', `still logged in ${what}`);
      assert.deepEqual([...r.json.keys].sort(), [...keys].sort(), `the session's data ${what}`);
      assert.equal(r.json.hasKs, false, `the app never sees "_ks" ${what}`);
      return r;
    }

    /** A request with `c` that must find no session: a new, empty one, under another id. */
    async function nothing(c, key, what = '') {
      const r = await c.get('/read');
      assert.equal(r.status, 200, r.text);
      assert.notEqual(r.json.sid, key, `not the session ${what}`);
      assert.equal(r.json.isNew, true, `a new session ${what}`);
      assert.equal(r.json.user, null, what);
      assert.deepEqual(r.json.keys, [], `empty ${what}`);
      return r;
    }

    /**
     * Runs `fn` on a fake clock with renewInterval I = 10 min and renewGrace G = 1 min (plus
     * `options`) on a new store, after a login with a new client at t0:
     * fn({ clock, srv, f, c, key, t0, I, G }).
     */
    function loggedInRenewing(options, fn) {
      return withClock(async (clock) => {
        const I = 10 * MINUTE;
        const G = MINUTE;
        await served({ renewInterval: I, renewGrace: G, ...options }, async (srv, f) => {
          const t0 = clock.now;
          const { c, key } = await login(srv);
          await fn({ clock, srv, f, c, key, t0, I, G });
        });
      });
    }

    /** Logs in with a new client at the clock's time: { c, key }. */
    async function login(srv) {
      const c = srv.client();
      const r = await c.get('/login');
      assert.equal(r.status, 200, r.text);
      const key = r.json.sid;
      assert.equal(sidCookie(r), key);
      return { c, key };
    }

    /**
     * Renews the session `key` that `c` logged in to at t0: at t0 + I, with a read; then moves
     * to the middle of the grace G. { jarK (the cookies of the key's id), n1 (the new id), jarN (its cookies) }.
     */
    async function renewedMidGrace(clock, c, key, t0, I, G) {
      const jarK = new Map(c.jar);
      clock.set(t0 + I);
      const n1 = sidCookie(await alive(c, key, ['user'], '/read', 'renewing'));
      const jarN = new Map(c.jar);
      clock.advance(G / 2);
      return { jarK, n1, jarN };
    }

    test('after renewInterval the response carries a new cookie id; data kept, ctx.sessionId unchanged, an alias record {"_ks":{"of":key}} under the new id; not before', () =>
      loggedInRenewing({}, async ({ clock, f, c, key, t0, I, G }) => {
        assert.deepEqual((await f.raw(key))._ks, { created: t0, active: t0 });

        clock.set(t0 + I - 1);
        const early = await alive(c, key, ['user'], '/read', 'one ms before the interval');
        assert.equal(sidCookie(early), null, 'no renewal before the interval: no cookie');

        clock.set(t0 + I);
        const oldSig = c.jar.get('koa.sid.sig');
        const renewed = await alive(c, key, ['user'], '/read', 'at the renewal');
        const n1 = sidCookie(renewed);
        assert.ok(typeof n1 === 'string' && n1 !== key && n1.length >= 32, `a new cookie id: ${renewed.setCookies}`);
        assert.notEqual(cookieNamed(renewed, 'koa.sid.sig')?.value, oldSig, 'its signature cookie too');
        assert.equal(c.jar.get('koa.sid'), n1);
        assert.deepEqual(await f.raw(n1), { _ks: { of: key } }, 'the alias record');
        const rec = await f.raw(key);
        assert.equal(rec.user, 'ann', 'the record stays under its key, data kept');
        assert.deepEqual(rec._ks, { created: t0, active: t0 + I, issued: t0 + I, sid: n1, old: { [key]: t0 + I + G } });
        if (f.ttl) {
          // Real-time TTLs: the record's is the cookie's day. Without an idle or absolute timeout
          // nothing bounds how long the record may yet live (the app may lengthen its cookie), so
          // the alias gets the longest TTL (ten years) and cannot die before it.
          const [recTtl, aliasTtl] = [await f.ttl(key), await f.ttl(n1)];
          assert.ok(recTtl > 86400000 - 10 * SECOND && recTtl <= 86400000, `record PTTL ${recTtl}`);
          assert.ok(aliasTtl > TEN_YEARS - 10 * SECOND && aliasTtl <= TEN_YEARS, `alias PTTL ${aliasTtl}`);
        }

        // The new id is the session: no cookie on reads until the next interval.
        clock.advance(I / 2);
        const next = await alive(c, key, ['user'], '/read', 'with the new id');
        assert.equal(sidCookie(next), null, 'nothing to renew yet');

        // A writing request renews too, and its write is kept.
        clock.set(t0 + 2 * I);
        const w = await alive(c, key, ['user', 'a'], '/write/a', 'at the second renewal, writing');
        const n2 = sidCookie(w);
        assert.ok(typeof n2 === 'string' && n2 !== n1 && n2 !== key);
        assert.deepEqual(await f.raw(n2), { _ks: { of: key } });
        const rec2 = await f.raw(key);
        assert.equal(rec2.a, true);
        assert.equal(rec2._ks.sid, n2);
        assert.deepEqual(rec2._ks.old, { [n1]: t0 + 2 * I + G }, 'the key\'s grace was over: dropped');
        await alive(c, key, ['user', 'a'], '/read', 'after the second renewal');
        if (f.counter) assert.equal(f.counter.viaJs, 0, 'the native path: no JS store method was called');
        if (f.seen) for (const s of f.seen) assert.doesNotMatch(s, /_ks/, 'valid() never sees "_ks"');
      }));

    test('20 different-key writes with the old cookie during the grace, 10 loaded before the renewing request commits and 10 after, sent concurrently: all 20 kept, every response sets the new id', () =>
      loggedInRenewing({}, async ({ clock, srv, f, c, key, t0, I, G }) => {
        const oldJar = new Map(c.jar);
        let n1;
        let newJars;
        hold = holding();
        try {
          // Loaded just before the interval (so not due for renewal themselves), then held.
          clock.set(t0 + I - 1);
          const clients = Array.from({ length: 20 }, () => holder(srv, oldJar));
          const before = clients.slice(0, 10).map((h, i) => h.get(`/gated/k${i}`));
          await hold.entered(10);
          // The renewing request, with the same old cookie, commits while they are held.
          clock.set(t0 + I);
          const renew = await alive(holder(srv, oldJar), key, ['user'], '/read', 'the renewing request');
          n1 = sidCookie(renew);
          assert.ok(typeof n1 === 'string' && n1 !== key);
          assert.equal((await f.raw(key))._ks.sid, n1, 'the renewal is committed');
          // Ten more with the replaced id, loaded after the renewal, within the grace.
          clock.advance(G / 2);
          const late = clients.slice(10).map((h, i) => h.get(`/gated/k${10 + i}`));
          await hold.entered(20);
          hold.release();
          const res = await Promise.all([...before, ...late]);
          const cookies = res.map(sidCookie);
          const sids = res.map((r) => r.json?.sid);
          assert.deepEqual(res.map((r) => r.status), Array(20).fill(200), res.map((r) => r.text).join('\n'));
          assert.deepEqual(sids, Array(20).fill(key), 'every request had the session (ctx.sessionId the key)');
          assert.deepEqual(cookies, Array(20).fill(n1), 'every response sets the new id\'s cookie');
          for (const r of res) {
            assert.ok(!r.setCookies.some((line) => line.includes(key)), `no response sends the replaced id back: ${r.setCookies}`);
          }
          newJars = clients.map((h) => new Map(h.jar));
        } finally {
          hold.release();
          hold = null;
        }
        const keys = ['user', ...Array.from({ length: 20 }, (_, i) => `k${i}`)];
        const rec = await f.raw(key);
        assert.deepEqual(Object.keys(rec).filter((k) => k !== 'cookie' && k !== '_ks').sort(), keys.sort(), 'all 20 writes are in the record');
        assert.equal(rec._ks.sid, n1, 'still the one renewal\'s id');
        clock.set(t0 + I + G);
        // Each of the 20 clients now holds the new id (signed right): it loads everything after the grace.
        for (const [i, jar] of newJars.entries()) {
          assert.equal(jar.get('koa.sid'), n1);
          await alive(holder(srv, jar), key, keys, '/read', `client ${i}'s cookie after the grace`);
        }
        await nothing(holder(srv, oldJar), key, 'the old id after the grace');
        if (f.counter) assert.equal(f.counter.viaJs, 0, 'the native path: no JS store method was called');
      }));

    test('after renewGrace the replaced id loads nothing (a new session; the record untouched); the current id keeps all the data; the same one renewal later for an alias id', () =>
      loggedInRenewing({}, async ({ clock, srv, f, c, key, t0, I, G }) => {
        await alive(c, key, ['user', 'a'], '/write/a');
        const jarK = new Map(c.jar);
        const T1 = clock.set(t0 + I);
        const n1 = sidCookie(await alive(c, key, ['user', 'a'], '/read', 'renewing'));
        const jarN1 = new Map(c.jar);

        clock.set(T1 + G - 1);
        const graced = await alive(holder(srv, jarK), key, ['user', 'a', 'b'], '/write/b', 'the replaced id, 1 ms before the grace ends');
        assert.equal(sidCookie(graced), n1, 'answered with the current id');

        clock.set(T1 + G);
        const dead = await nothing(holder(srv, jarK), key, 'the replaced id at the end of its grace');
        assert.notEqual(sidCookie(dead), n1);
        // A write through the dead id is a session of its own: the record gets nothing.
        const own = await holder(srv, jarK).get('/write/stray');
        assert.notEqual(own.json.sid, key);
        assert.deepEqual(own.json.keys, ['stray']);
        const rec = await f.raw(key);
        assert.ok(rec !== null, 'the record is still there');
        assert.equal(rec.stray, undefined, 'untouched by the dead id');
        await alive(holder(srv, jarN1), key, ['user', 'a', 'b'], '/read', 'the current id after the grace');

        // One renewal later the first alias id is replaced, and dies the same way.
        const T2 = clock.set(T1 + I);
        const cur = holder(srv, jarN1);
        const n2 = sidCookie(await alive(cur, key, ['user', 'a', 'b'], '/read', 'second renewal'));
        assert.ok(typeof n2 === 'string' && n2 !== n1 && n2 !== key);
        const jarN2 = new Map(cur.jar);
        clock.set(T2 + G - 1);
        assert.equal(sidCookie(await alive(holder(srv, jarN1), key, ['user', 'a', 'b'], '/read', 'the alias id in its grace')), n2);
        await nothing(holder(srv, jarK), key, 'the key\'s own id stays dead');
        clock.set(T2 + G);
        await nothing(holder(srv, jarN1), key, 'the alias id after its grace');
        await alive(holder(srv, jarN2), key, ['user', 'a', 'b'], '/read', 'the current id after the second grace');
      }));

    test('renewGrace 0 / null / absent: the default grace of 60 s', () =>
      withClock(async (clock) => {
        const I = 10 * MINUTE;
        for (const grace of [{ renewGrace: 0 }, { renewGrace: null }, {}]) {
          await served({ renewInterval: I, ...grace }, async (srv) => {
            const t0 = clock.now;
            const { c, key } = await login(srv);
            const jarK = new Map(c.jar);
            const T = clock.set(t0 + I);
            const n1 = sidCookie(await alive(c, key, ['user'], '/read', 'renewing'));
            clock.set(T + 60000 - 1);
            assert.equal(sidCookie(await alive(holder(srv, jarK), key, ['user'], '/read', `${JSON.stringify(grace)}: within 60 s`)), n1);
            clock.set(T + 60000);
            await nothing(holder(srv, jarK), key, `${JSON.stringify(grace)}: at 60 s`);
            await alive(c, key, ['user'], '/read', 'the current id');
          });
        }
      }));

    test('renewInterval 0 / null: off (no "_ks" in the record, no new id ever)', () =>
      withClock(async (clock) => {
        for (const off of [{ renewInterval: 0 }, { renewInterval: null, renewGrace: 5000 }]) {
          await served(off, async (srv, f) => {
            const { c, key } = await login(srv);
            assert.equal('_ks' in (await f.raw(key)), false);
            clock.advance(20 * 3600 * SECOND); // within the cookie's day
            const r = await alive(c, key, ['user', 'x'], '/write/x', JSON.stringify(off));
            assert.equal(sidCookie(r), key, 'the cookie keeps its id');
          });
        }
      }));

    for (const via of ['old', 'new']) {
      test(`logout (ctx.session = null) through the ${via} id during the grace ends both ids; neither brings the session back`, () =>
        loggedInRenewing({}, async ({ clock, srv, f, c, key, t0, I, G }) => {
          const { jarK, n1, jarN } = await renewedMidGrace(clock, c, key, t0, I, G);
          const out = await holder(srv, via === 'old' ? jarK : jarN).get('/logout');
          assert.equal(out.status, 200, out.text);
          assert.equal(out.json.loggedOut, true);
          assert.equal(sidCookie(out), 'cleared', 'the logout clears the cookie');
          assert.equal(await f.raw(key), null, 'the record is destroyed');
          await nothing(holder(srv, jarK), key, 'the old id after the logout');
          await nothing(holder(srv, jarN), key, 'the new id after the logout');
          // Writes through either id start sessions of their own; the record stays gone.
          for (const jar of [jarK, jarN]) {
            const r = await holder(srv, jar).get('/write/again');
            assert.notEqual(r.json.sid, key);
            assert.notEqual(r.json.sid, n1);
            assert.deepEqual(r.json.keys, ['again']);
          }
          assert.equal(await f.raw(key), null);
        }));
    }

    test('an unchanged request with the replaced id, in flight during the grace: it gets the current id; in flight during a logout: its cookie is cleared, the session stays ended', () =>
      loggedInRenewing({}, async ({ clock, srv, f, c, key, t0, I, G }) => {
        const { jarK, n1, jarN } = await renewedMidGrace(clock, c, key, t0, I, G);
        for (const logout of [false, true]) {
          hold = holding();
          try {
            const inFlight = holder(srv, jarK).get('/gatedread');
            await hold.entered(1);
            if (logout) assert.equal(sidCookie(await holder(srv, jarN).get('/logout')), 'cleared');
            hold.release();
            const r = await inFlight;
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.sid, key, 'it had loaded the session');
            if (logout) {
              assert.equal(sidCookie(r), 'cleared', 'the session ended meanwhile: no cookie names it');
              assert.ok(!r.setCookies.some((line) => line.includes(n1)), `the current id is not re-planted: ${r.setCookies}`);
            } else {
              assert.equal(sidCookie(r), n1, 'the current id\'s cookie');
            }
          } finally {
            hold.release();
            hold = null;
          }
        }
        assert.equal(await f.raw(key), null, 'the logged-out record is not re-created');
        await nothing(holder(srv, jarN), key, 'the new id after the logout');
        await nothing(holder(srv, jarK), key, 'the old id after the logout');
      }));

    test('two renewals at once (both loaded before either commits): one session with one new id, sent to both; it loads all the data during the grace and after it; the old id dies with the grace', () =>
      loggedInRenewing({}, async ({ clock, srv, f, c, key, t0, I, G }) => {
        const jarK = new Map(c.jar);
        const T = clock.set(t0 + I);
        hold = holding();
        let ra;
        let rb;
        const a = holder(srv, jarK);
        const b = holder(srv, jarK);
        try {
          const pa = a.get('/gated/a');
          const pb = b.get('/gated/b');
          await hold.entered(2);
          hold.release();
          [ra, rb] = await Promise.all([pa, pb]);
        } finally {
          hold.release();
          hold = null;
        }
        const jarA = new Map(a.jar);
        const jarB = new Map(b.jar);
        assert.equal(ra.status, 200, ra.text);
        assert.equal(rb.status, 200, rb.text);
        assert.equal(ra.json.sid, key);
        assert.equal(rb.json.sid, key);
        const idA = sidCookie(ra);
        const idB = sidCookie(rb);
        assert.ok(typeof idA === 'string' && idA !== key, `renewed: ${idA}`);
        // The renewal stored second found the first one and sent its id: one new id.
        assert.equal(idB, idA, 'both responses name the same new id');
        const data = ['user', 'a', 'b'];
        const rec = await f.raw(key);
        assert.equal(rec.a, true);
        assert.equal(rec.b, true);
        const current = rec._ks.sid;
        assert.equal(current, idA, 'the id both were sent is current');
        assert.deepEqual(await f.raw(idA), { _ks: { of: key } }, 'it has its alias');
        assert.deepEqual(Object.keys(rec._ks.old), [jarK.get('koa.sid')], 'only the replaced id is in grace');

        clock.set(T + G - 1);
        for (const [jar, name] of [[jarA, 'A'], [jarB, 'B'], [jarK, 'the key']]) {
          const r = await alive(holder(srv, jar), key, data, '/read', `id ${name} within the grace`);
          const sent = sidCookie(r);
          if (jar.get('koa.sid') === current) assert.equal(sent, null, 'the current id: no cookie');
          else assert.equal(sent, current, `id ${name}: answered with the current id`);
        }

        clock.set(T + G);
        const after = [];
        for (const jar of [jarA, jarB, jarK]) after.push(await holder(srv, jar).get('/read'));
        for (const r of after.slice(0, 2)) {
          assert.equal(r.json.isNew, false, `the new id works after the grace: ${r.text}`);
          assert.equal(r.json.sid, key);
          assert.deepEqual([...r.json.keys].sort(), [...data].sort(), 'with all the data');
        }
        assert.equal(after[2].json.isNew, true, 'the old id is dead after the grace');
        assert.deepEqual(after[2].json.keys, []);
      }));

    test('with userField: destroyUserSessions during the grace ends both ids', () =>
      loggedInRenewing({ userField: 'user' }, async ({ clock, srv, f, c, key, t0, I, G }) => {
        const bob = srv.client();
        const bobKey = (await bob.get('/login/bob')).json.sid;
        const { jarK, n1, jarN } = await renewedMidGrace(clock, c, key, t0, I, G);
        assert.ok(typeof n1 === 'string' && n1 !== key);
        if (typeof f.store.userSessions === 'function') {
          const listed = await f.store.userSessions('ann');
          assert.deepEqual(listed.map((s) => s.id), [key], 'one session, listed under its key (not the alias)');
        }
        assert.equal(await f.store.destroyUserSessions('ann'), 1);
        assert.equal(await f.raw(key), null);
        await nothing(holder(srv, jarK), key, 'the old id after destroyUserSessions');
        await nothing(holder(srv, jarN), key, 'the new id after destroyUserSessions');
        const b = await bob.get('/read');
        assert.equal(b.json.sid, bobKey);
        assert.equal(b.json.user, 'bob', 'another user is left alone');
      }));

    test('regenerateSession() through the old id during the grace ends every id; the regenerated session lives on its own id', () =>
      loggedInRenewing({}, async ({ clock, srv, f, c, key, t0, I, G }) => {
        const { jarK, n1, jarN } = await renewedMidGrace(clock, c, key, t0, I, G);
        const regen = holder(srv, jarK);
        const r = await regen.get('/regenerate');
        assert.equal(r.status, 200, r.text);
        const fresh = r.json.sid;
        assert.ok(fresh !== key && fresh !== n1);
        assert.equal(sidCookie(r), fresh);
        assert.equal(await f.raw(key), null, 'the old record is destroyed');
        await nothing(holder(srv, jarK), key, 'the key id after the regenerate');
        await nothing(holder(srv, jarN), key, 'the renewed id after the regenerate');
        await alive(regen, fresh, ['user'], '/read', 'the regenerated session');
      }));

    test('with idleTimeout and absoluteTimeout: renewals do not move the absolute deadline; an idle window without requests still ends the session (a renewal counts as activity)', () =>
      withClock(async (clock) => {
        const I = MINUTE;
        const G = 30 * SECOND;
        const W = 2 * MINUTE;
        const A = 5 * MINUTE;
        await served({ renewInterval: I, renewGrace: G, idleTimeout: W, absoluteTimeout: A }, async (srv, f) => {
          // Absolute: a request every 50 s renews every other time; created stays t0.
          const t0 = clock.now;
          const { c, key } = await login(srv);
          const ids = new Set([key]);
          let jarGraced = null;
          for (let k = 1; k * 50 * SECOND < A; k++) {
            clock.set(t0 + k * 50 * SECOND);
            const before = c.jar.get('koa.sid');
            const jarBefore = new Map(c.jar);
            const r = await alive(c, key, ['user'], '/read', `at +${k * 50} s`);
            const id = sidCookie(r);
            if (id !== null && id !== before) {
              ids.add(id);
              jarGraced = jarBefore;
            }
            const ks = (await f.raw(key))._ks;
            assert.equal(ks.created, t0, 'renewals never move created');
          }
          assert.ok(ids.size >= 3, `renewed at least twice: ${ids.size - 1} renewals`);
          // 20 s before the deadline a renewal (the last one was at +200 s): the id it replaces
          // is in its grace past the deadline. (Not later: the store TTL, real time on Redis, is
          // what is left of the absolute lifetime.)
          clock.set(t0 + A - 20 * SECOND);
          const jarBefore = new Map(c.jar);
          const last = await alive(c, key, ['user'], '/read', '20 s before the absolute deadline');
          assert.ok(sidCookie(last) !== null && sidCookie(last) !== jarBefore.get('koa.sid'), 'renewed');
          jarGraced = jarBefore;
          assert.equal((await f.raw(key))._ks.old[jarGraced.get('koa.sid')], t0 + A - 20 * SECOND + G, 'its grace outlasts the deadline');
          clock.set(t0 + A - 1);
          assert.equal(sidCookie(await alive(c, key, ['user'], '/read', 'one ms before the absolute deadline')), null);
          const jarCurrent = new Map(c.jar);
          clock.set(t0 + A);
          await nothing(holder(srv, jarGraced), key, 'a replaced id, within its grace, at the absolute deadline');
          await nothing(holder(srv, jarCurrent), key, 'the current id at the absolute deadline');
          assert.equal(await f.raw(key), null, 'the record is destroyed');

          // Idle: a renewal is activity, and the window runs from it; a whole window without requests ends it.
          const t1 = clock.advance(SECOND);
          const s2 = await login(srv);
          clock.set(t1 + I);
          const n1 = sidCookie(await alive(s2.c, s2.key, ['user'], '/read', 'renewing'));
          assert.ok(typeof n1 === 'string' && n1 !== s2.key);
          assert.equal((await f.raw(s2.key))._ks.active, t1 + I, 'the renewal wrote the activity time');
          clock.set(t1 + I + W - 1);
          // (This read, a whole interval after the renewal, renews again: the client follows.)
          await alive(s2.c, s2.key, ['user'], '/read', 'one ms before the idle window from the renewal ends (past the login\'s window)');
          const active = (await f.raw(s2.key))._ks.active;
          assert.equal(active, t1 + I + W - 1);
          clock.set(active + W);
          await nothing(s2.c, s2.key, 'a whole idle window without requests');
          assert.equal(await f.raw(s2.key), null, 'the record is destroyed');
        });
      }));

    if (!fx.native) {
      test('valid() sees the session behind a renewed id, never its alias record: a valid() that checks the data keeps the session', () =>
        withClock(async (clock) => {
          const I = 10 * MINUTE;
          const seen = [];
          const valid = (ctx, s) => {
            seen.push(JSON.stringify(s));
            return s.user !== undefined;
          };
          await served({ renewInterval: I, valid }, async (srv, f) => {
            const t0 = clock.now;
            const { c, key } = await login(srv);
            clock.set(t0 + I);
            const n1 = sidCookie(await alive(c, key, ['user'], '/read', 'renewing'));
            assert.ok(typeof n1 === 'string' && n1 !== key);
            seen.length = 0;
            clock.advance(SECOND);
            const r = await c.get('/read');
            assert.ok(
              !seen.includes('{}'),
              `valid() is shown the session's data only, never the alias record; it was shown ${JSON.stringify(seen)}; the request got ${r.text}, Set-Cookie ${r.setCookies}; the record is ${JSON.stringify(await f.raw(key))}`,
            );
            await alive(holder(srv, c.jar), key, ['user'], '/read', 'the renewed id');
          });
        }));
    }
  });
}

describe('renewal options', () => {
  const plain = { get() {}, set() {}, destroy() {} };

  test('bad renewInterval / renewGrace values are TypeErrors naming the option; 0 / null / undefined are accepted; 1 ms to 10 years accepted', () => {
    for (const option of ['renewInterval', 'renewGrace']) {
      for (const bad of [-1, 1.5, 'x', '1000', TEN_YEARS + 1, NaN, Infinity, -Infinity, true, {}, [], 1e300]) {
        assert.throws(
          () => session({ renewInterval: 60000, [option]: bad }),
          (e) => e instanceof TypeError && e.message.startsWith(`koa-session-ts: option "${option}": `),
          `${option}: ${String(bad)}`,
        );
      }
      for (const off of [0, null, undefined]) assert.doesNotThrow(() => session({ renewInterval: 60000, [option]: off }), `${option}: ${off}`);
      for (const ok of [1, 300, TEN_YEARS]) assert.doesNotThrow(() => session({ renewInterval: 60000, [option]: ok }), `${option}: ${ok}`);
    }
    // renewGrace is checked without renewInterval too.
    assert.throws(() => session({ renewGrace: -5 }), /option "renewGrace"/);
  });

  test('a store without compareAndSet is refused with renewInterval, naming it; off (0 / null) asks nothing of the store', () => {
    assert.throws(
      () => session({ store: plain, renewInterval: 60000 }),
      (e) => e instanceof TypeError && e.message.includes('"renewInterval"') && /compareAndSet/.test(e.message),
    );
    assert.throws(() => session({ store: { ...plain, touch() {} }, renewInterval: 60000, renewGrace: 1000 }), /renewInterval/, 'touch is not enough');
    assert.doesNotThrow(() => session({ store: { ...plain, compareAndSet() {} }, renewInterval: 60000 }));
    for (const off of [0, null]) assert.doesNotThrow(() => session({ store: plain, renewInterval: off }), `renewInterval: ${off}`);
    assert.doesNotThrow(() => session({ store: plain, renewGrace: 1000 }), 'renewGrace alone renews nothing');
    assert.doesNotThrow(() => session({ renewInterval: 60000 }), 'the default MemoryStore has compare-and-set');
  });
});
