'use strict';
// The session object's own API (koa-session 6.4+ names, which passport ≥ 0.6 calls):
// regenerate(cb?) and save(cb?), isNew, maxAge, externalKey, length and populated. They are
// never data: not enumerable, never in JSON or the store, never a change.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { session, withApp, cookieNamed } = require('./helpers');

const { MemoryStore, BaseStore } = session;

test('the verbs are not data: not enumerable, not in JSON, not in the store, not a change', async () => {
  const store = new MemoryStore();
  const seen = [];
  await withApp({ store }, async (ctx) => {
    const s = ctx.session;
    seen.push({
      keys: Object.keys(s),
      json: JSON.stringify(s),
      types: [typeof s.regenerate, typeof s.save],
      forIn: (() => { const k = []; for (const x in s) k.push(x); return k; })(),
      isNew: s.isNew,
      populated: s.populated,
    });
    if (ctx.path === '/set') s.n = 1;
    ctx.body = 'ok';
  }, async (srv) => {
    const c = srv.client();
    const first = await c.get('/read');
    assert.equal(first.setCookies.length, 0, 'reading a new session (and its verbs) saves nothing');
    const set = await c.get('/set');
    const sid = cookieNamed(set, 'koa.sid').value;
    assert.deepEqual(Object.keys(await store.get(sid)), ['cookie', 'n']);
    const again = await c.get('/read');
    assert.equal(again.setCookies.length, 0, 'a loaded session with verbs is unchanged');
    for (const s of seen) {
      assert.deepEqual(s.types, ['function', 'function']);
      assert.ok(!s.keys.includes('regenerate') && !s.keys.includes('save') && !s.keys.includes('isNew'));
      assert.deepEqual(s.keys, s.forIn);
      assert.ok(!/regenerate|save|isNew|populated/.test(s.json), s.json);
    }
    assert.equal(seen[0].isNew, true);
    assert.equal(seen[0].populated, false);
    assert.equal(seen.at(-1).isNew, false, 'a session from the store is not new');
    assert.equal(seen.at(-1).populated, true);
  });
});

test('session.regenerate(): a new id, the old record destroyed, ctx.session is the new object; callback and Promise', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/login-cb') {
      const before = ctx.session;
      before.old = true;
      await new Promise((resolve, reject) => ctx.session.regenerate((err) => (err ? reject(err) : resolve())));
      assert.notEqual(ctx.session, before);
      assert.equal(ctx.session.old, undefined);
      assert.equal(ctx.session.isNew, true);
      ctx.session.user = 'ann'; // keeps writing to ctx.session: the new one
    } else if (ctx.path === '/login-promise') {
      const fresh = await ctx.session.regenerate();
      assert.equal(fresh, ctx.session);
      ctx.session.user = 'bob';
    }
    ctx.body = { user: ctx.session.user ?? null, sid: ctx.sessionId };
  }, async (srv) => {
    const c = srv.client();
    await c.get('/x', {}); // nothing saved yet
    const seed = await c.get('/login-cb');
    const sid1 = seed.json.sid;
    assert.equal(store.size, 1);
    assert.equal((await store.get(sid1)).user, 'ann');
    const r = await c.get('/login-promise');
    assert.notEqual(r.json.sid, sid1);
    assert.equal(await store.get(sid1), null, 'the old record is destroyed');
    assert.equal((await store.get(r.json.sid)).user, 'bob');
    assert.equal((await c.get('/me')).json.user, 'bob');
  });
});

test('session.save(): saved at the end of the request even if unchanged; callback and Promise', async () => {
  const store = new MemoryStore();
  let sets = 0;
  const orig = store.set.bind(store);
  store.set = (...a) => {
    sets++;
    return orig(...a);
  };
  await withApp({ store, allowEmpty: false }, async (ctx) => {
    if (ctx.path === '/save-cb') await new Promise((resolve, reject) => ctx.session.save((err) => (err ? reject(err) : resolve())));
    if (ctx.path === '/save-promise') assert.equal(await ctx.session.save(), undefined);
    ctx.body = { sid: ctx.sessionId ?? null, save: ctx.sessionSave };
  }, async (srv) => {
    const c = srv.client();
    const none = await c.get('/none');
    assert.equal(none.setCookies.length, 0, 'an empty new session is not saved');
    const saved = await c.get('/save-cb');
    assert.equal(saved.json.save, true);
    assert.ok(cookieNamed(saved, 'koa.sid'), 'an empty session is saved when save() was called');
    assert.equal(store.size, 1);
    const before = sets;
    await c.get('/save-promise');
    assert.ok(sets > before || store.size === 1, 'an unchanged loaded session is written again');
  });
});

test('the verbs survive ctx.session = {...}, and a class instance gets them as own non-enumerable properties', async () => {
  const store = new MemoryStore();
  class Bag {
    constructor() {
      this.kind = 'bag';
    }
  }
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/plain') ctx.session = { a: 1 };
    else if (ctx.path === '/spread') ctx.session = { ...ctx.session, b: 2 };
    else if (ctx.path === '/bag') ctx.session = new Bag();
    assert.equal(typeof ctx.session.regenerate, 'function');
    assert.equal(typeof ctx.session.save, 'function');
    assert.ok(!Object.keys(ctx.session).includes('save'));
    if (ctx.path === '/bag') assert.ok(ctx.session instanceof Bag, 'the app\'s class is kept');
    if (ctx.path === '/regen') await ctx.session.regenerate();
    ctx.body = { s: JSON.stringify(ctx.session), sid: ctx.sessionId };
  }, async (srv) => {
    const c = srv.client();
    const a = await c.get('/plain');
    assert.deepEqual((await store.get(a.json.sid)), { a: 1 });
    const b = await c.get('/spread');
    assert.deepEqual((await store.get(b.json.sid)), { a: 1, b: 2 });
    const bag = await c.get('/bag');
    assert.deepEqual((await store.get(bag.json.sid)), { kind: 'bag' });
    const r = await c.get('/regen');
    assert.notEqual(r.json.sid, bag.json.sid);
  });
});

test('a data key named like a verb or a property is data: it shadows, and is stored', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/set') {
      ctx.session.length = 3;
      ctx.session.populated = 'yes';
      ctx.session.isNew = 'no';
    }
    ctx.body = { length: ctx.session.length, populated: ctx.session.populated, isNew: ctx.session.isNew, sid: ctx.sessionId };
  }, async (srv) => {
    const c = srv.client();
    const r = await c.get('/set');
    assert.deepEqual([r.json.length, r.json.populated, r.json.isNew], [3, 'yes', 'no']);
    const back = await c.get('/read');
    assert.deepEqual([back.json.length, back.json.populated, back.json.isNew], [3, 'yes', 'no']);
    assert.equal((await store.get(r.json.sid)).length, 3);
  });
});

test('a stored record\'s keys named like the prototype\'s (maxAge, toString, __proto__) load as data', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/set') ctx.session.n = 1;
    const s = ctx.session;
    ctx.body = {
      sid: ctx.sessionId,
      maxAge: s.maxAge,
      toString: s.toString,
      ownProto: Object.prototype.hasOwnProperty.call(s, '__proto__'),
      polluted: s.polluted ?? null,
      verbs: [typeof s.regenerate, typeof s.save],
      keys: Object.keys(s),
    };
  }, async (srv) => {
    const c = srv.client();
    const { sid } = (await c.get('/set')).json;
    const record = JSON.parse('{"cookie":{"httpOnly":true,"path":"/","overwrite":true,"signed":true,"maxAge":86400000},"maxAge":5,"toString":"x","__proto__":{"polluted":1},"n":1}');
    await store.set(sid, record, 86400000);
    const r = await c.get('/read');
    assert.deepEqual(r.json, {
      sid,
      maxAge: 5,
      toString: 'x',
      ownProto: true,
      polluted: null,
      verbs: ['function', 'function'],
      keys: ['cookie', 'maxAge', 'toString', '__proto__', 'n'],
    });
    assert.equal(r.setCookies.length, 0, 'loaded as stored: unchanged, nothing written');
    assert.equal(({}).polluted, undefined);
  });
});

test('maxAge reads and sets the session\'s own cookie.maxAge; length and populated count data keys', async () => {
  await withApp({ cookieOptions: { maxAge: 60000 } }, async (ctx) => {
    const before = ctx.session.maxAge;
    const len0 = ctx.session.length;
    if (ctx.path === '/remember') ctx.session.maxAge = 7 * 86400000;
    ctx.session.x = 1;
    ctx.body = { before, len0, len1: ctx.session.length, populated: ctx.session.populated, after: ctx.session.maxAge, key: ctx.session.externalKey === ctx.sessionId };
  }, async (srv) => {
    const r = await srv.client().get('/remember');
    assert.deepEqual(r.json, { before: 60000, len0: 0, len1: 1, populated: true, after: 7 * 86400000, key: true });
    const days = (Date.parse(cookieNamed(r, 'koa.sid').attrs.expires) - Date.now()) / 86400000;
    assert.ok(days > 6.9 && days <= 7, `${days}`);
  });
});

test('a failed store call in regenerate() or save() reaches the callback and the Promise, as through errorHandler', async () => {
  // defer mode: the verbs load the session first, and that load fails.
  class Broken extends BaseStore {
    async get() {
      throw new Error('store down');
    }
    async set() {}
    async destroy() {}
  }
  const results = [];
  const handled = [];
  const errorHandler = (err, type) => {
    handled.push(type);
    throw err;
  };
  await withApp({ store: new Broken(), defer: true, errorHandler }, async (ctx) => {
    // A session object tied to this request before anything was loaded: one the app assigns.
    const s = {};
    ctx.session = s;
    if (ctx.path === '/cb') results.push(await new Promise((resolve) => s.regenerate(resolve)));
    else results.push(await s.save().then(() => null, (err) => err));
    ctx.body = 'ok';
  }, { keys: false }, async (srv, app) => {
    app.silent = true;
    const cookie = { cookie: 'koa.sid=abcdefghijklmnopqrstuvwxyzABCDEF' };
    await srv.client().get('/cb', { headers: cookie });
    await srv.client().get('/promise', { headers: cookie });
  });
  assert.equal(results.length, 2);
  for (const err of results) assert.match(String(err && err.message), /store down/);
  assert.deepEqual(handled.slice(0, 2), ['get', 'get']);
});

test('defer: the cookie path is checked when the session is first read', async () => {
  const store = new MemoryStore();
  await withApp({ store, defer: true, cookieOptions: { path: '/app' } }, async (ctx) => {
    if (ctx.path === '/app/leave') ctx.path = '/elsewhere';
    const s = await ctx.session;
    if (s) s.n = 1;
    ctx.body = { has: s !== undefined, sid: ctx.sessionId ?? null };
  }, async (srv) => {
    const c = srv.client();
    const left = await c.get('/app/leave');
    assert.deepEqual(left.json, { has: false, sid: null });
    assert.equal(left.setCookies.length, 0);
    assert.equal(store.size, 0);
    const inside = await c.get('/app/x');
    assert.equal(inside.json.has, true);
    assert.equal(store.size, 1);
  });
});

test('BaseStore#set returns what the original package returned', async () => {
  class Store extends BaseStore {
    async set(sid, sess, ttl) {
      return super.set(sid, sess, ttl);
    }
  }
  const s = new Store();
  const fixed = Date.parse('2026-01-01T00:00:00.000Z');
  const realNow = Date.now;
  Date.now = () => fixed;
  try {
    const decades = fixed + 40 * 365 * 86400000;
    assert.equal(await s.set('id', { cookie: { expires: new Date(decades) } }), decades - fixed, 'no 10-year cap');
    assert.equal(await s.set('id', { cookie: { expires: new Date(decades).toISOString(), maxAge: 1000 } }), decades - fixed, 'expires wins over maxAge');
    assert.equal(await s.set('id', { cookie: { maxAge: 5000 } }), 5000);
    assert.equal(await s.set('id', { cookie: {} }), 86400000);
    assert.equal(await s.set('id', {}), 86400000);
    assert.equal(await s.set('id', { cookie: { maxAge: 5000 } }, 42), 42, 'a given ttl wins');
    assert.equal(await s.set('id', { cookie: { expires: 'not a date', maxAge: 7000 } }), 7000);
  } finally {
    Date.now = realNow;
  }
});

test('a session object kept past the end of its request no longer answers the verbs, and neither it nor a copy keeps the request', async () => {
  let kept;
  let copy;
  await withApp({}, async (ctx) => {
    kept = ctx.session;
    copy = { ...ctx.session };
    ctx.body = 'ok';
  }, async (srv) => {
    await srv.client().get('/');
  });
  assert.throws(() => kept.save(), { name: 'TypeError', message: /not the ctx\.session of a request in progress/ });
  assert.equal(JSON.stringify(kept).includes('save'), false);
  // Whatever the objects still hold (a spread copies symbol keys) no longer reaches the request.
  for (const o of [kept, copy]) {
    for (const sym of Object.getOwnPropertySymbols(o)) {
      const held = o[sym];
      const reachable = held !== null && typeof held === 'object' ? Object.values(held) : [held];
      assert.ok(reachable.every((v) => v === null || typeof v !== 'object'), 'no object (a request, a ctx) is reachable from the slot');
    }
  }
});
