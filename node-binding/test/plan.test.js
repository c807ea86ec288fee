'use strict';
// The engine's plan, executed by the middleware: store operations only at the end of the
// request and in the engine's order; per-session cookie options; JavaScript's clock.
const test = require('node:test');
const assert = require('node:assert/strict');
const { withApp, cookieNamed, session } = require('./helpers');

const { BaseStore } = session;

/** A JS store that records every call, in order. */
class RecordingStore extends BaseStore {
  constructor() {
    super();
    this.map = new Map();
    this.calls = [];
  }
  async get(sid) {
    this.calls.push(['get', sid]);
    const v = this.map.get(sid);
    return v === undefined ? null : JSON.parse(v);
  }
  async set(sid, sess, ttl) {
    this.calls.push(['set', sid, ttl]);
    this.map.set(sid, JSON.stringify(sess));
  }
  async destroy(sid) {
    this.calls.push(['destroy', sid]);
    this.map.delete(sid);
  }
}

test('regenerate changes nothing in the store until the end of the request, then destroys before it saves', async () => {
  const store = new RecordingStore();
  let seenDuring;
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/login') {
      const old = ctx.sessionId;
      await ctx.regenerateSession();
      seenDuring = store.map.has(old);
      ctx.session.user = 'ann';
      if (ctx.query.fail) throw new Error('handler failed');
    } else ctx.session.n = 1;
    ctx.body = 'ok';
  }, async (srv) => {
    for (const fail of [false, true]) {
      const client = srv.client();
      await client.get('/');
      const old = client.jar.get('koa.sid');
      store.calls.length = 0;
      const res = await client.get(`/login${fail ? '?fail=1' : ''}`);
      assert.equal(res.status, fail ? 500 : 200);
      assert.equal(seenDuring, true, 'the old record is still there while the handler runs');
      const writes = store.calls.filter((c) => c[0] !== 'get');
      assert.deepEqual(writes.map((c) => c[0]), ['destroy', 'set'], `fail=${fail}`);
      assert.equal(writes[0][1], old);
      assert.notEqual(writes[1][1], old);
      assert.equal(JSON.parse(store.map.get(writes[1][1])).user, 'ann');
      assert.equal(store.map.has(old), false);
    }
  });
});

test('per-session cookie options: httpOnly false and a longer maxAge reach the Set-Cookie', async () => {
  await withApp({}, (ctx) => {
    ctx.session.cookie.httpOnly = false;
    ctx.session.cookie.maxAge = 7 * 86400000;
    ctx.session.n = 1;
    ctx.body = 'ok';
  }, async (srv) => {
    const res = await srv.client().get('/');
    const sid = cookieNamed(res, 'koa.sid');
    assert.equal(sid.attrs.httponly, undefined, res.setCookies[0]);
    const days = (Date.parse(sid.attrs.expires) - Date.now()) / 86400000;
    assert.ok(days > 6.9 && days <= 7, `${days}`);
  });
});

test('BaseStore#set computes the TTL with JavaScript\'s clock (fake timers apply)', async () => {
  class Store extends BaseStore {
    async set(sid, sess) {
      return super.set(sid, sess);
    }
  }
  const fixed = Date.parse('2001-02-03T04:05:06.000Z');
  const realNow = Date.now;
  Date.now = () => fixed;
  try {
    const ttl = await new Store().set('sid', { cookie: { expires: new Date(fixed + 5000).toISOString(), maxAge: null } });
    assert.equal(ttl, 5000);
  } finally {
    Date.now = realNow;
  }
});

test('the cookie expiry follows JavaScript\'s clock', async () => {
  const fixed = Date.parse('2030-01-01T00:00:00.000Z');
  await withApp({}, (ctx) => {
    ctx.session.n = 1;
    ctx.body = 'ok';
  }, async (srv) => {
    const realNow = Date.now;
    Date.now = () => fixed;
    let res;
    try {
      res = await srv.client().get('/');
    } finally {
      Date.now = realNow;
    }
    assert.equal(cookieNamed(res, 'koa.sid').attrs.expires, 'Wed, 02 Jan 2030 00:00:00 GMT');
  });
});

test('NODE_DEBUG=koa-session-ts says why: a tampered cookie, an unsaved session, a save', async () => {
  const { spawnSync } = require('node:child_process');
  const script = `
    const { makeApp, serve } = require(${JSON.stringify(require.resolve('./helpers'))});
    (async () => {
      const srv = await serve(makeApp({}, (ctx) => { if (ctx.path === '/w') ctx.session.n = 1; ctx.body = 'ok'; }));
      const c = srv.client();
      await c.get('/w');
      console.log('SID=' + c.jar.get('koa.sid'));
      await c.get('/');
      await srv.request('/', { headers: { cookie: 'koa.sid=' + c.jar.get('koa.sid') + '; koa.sid.sig=forged' } });
      await srv.close();
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, NODE_DEBUG: 'koa-session-ts' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const log = r.stderr;
  assert.match(log, /saved: a new session that holds data/);
  assert.match(log, /store: session written whole/);
  assert.match(log, /not saved: the session is unchanged/);
  assert.match(log, /session cookie refused: bad signature/);
  assert.doesNotMatch(log, /"n":1/, 'no session data in the log');
  const ids = [...log.matchAll(/\(session ([^)]*)\)/g)].map((m) => m[1]);
  assert.ok(ids.length > 0 && ids.every((t) => /^#[0-9a-f]{12}$/.test(t)), `ids appear only as tags: ${ids}`);
  assert.ok(new Set(ids).size < ids.length, 'one session keeps one tag through the log');
  const sid = /SID=([A-Za-z0-9_-]+)/.exec(r.stdout)[1];
  assert.ok(!log.includes(sid.slice(0, 6)), 'no part of an id is logged');
});

test('a store call that never settles fails within storeTimeout, through errorHandler', async () => {
  class Stuck extends BaseStore {
    get() {
      return new Promise(() => {});
    }
    set() {
      return () => {}; // a thunk that never calls back
    }
    destroy() {}
  }
  const seen = [];
  const errorHandler = (err, type) => {
    seen.push([type, err.code, err.message]);
    throw err;
  };
  const handler = (ctx) => {
    ctx.session.n = 1;
    ctx.body = 'ok';
  };
  await withApp({ store: new Stuck(), storeTimeout: 150, errorHandler }, handler, { keys: false }, async (srv) => {
    const write = await srv.request('/');
    assert.equal(write.status, 500);
    const read = await srv.request('/', { headers: { cookie: 'koa.sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    assert.equal(read.status, 500);
  });
  assert.deepEqual(seen.map((s) => s.slice(0, 2)), [['set', 'ERR_SESSION_STORE_TIMEOUT'], ['get', 'ERR_SESSION_STORE_TIMEOUT']]);
  assert.match(seen[0][2], /session store set did not answer within 150 ms \(storeTimeout\)/);
});
