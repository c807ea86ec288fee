'use strict';
// The core life of a session through Koa: create, load, change detection, sessionSave,
// allowEmpty, rolling, null destroy, regenerate, ctx properties, stacking.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { KOA_VERSION, session, withApp, makeApp, serve, cookieNamed } = require('./helpers');

const { MemoryStore } = session;

const counter = async (ctx) => {
  ctx.session.n = (ctx.session.n || 0) + 1;
  ctx.body = { n: ctx.session.n, sid: ctx.sessionId };
};

test(`runs on koa ${KOA_VERSION}`, () => {
  assert.match(KOA_VERSION, /^[23]\./);
});

test('a new session is saved and its signed cookie sent only once it changes', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/set') ctx.session.user = 'ann';
    ctx.body = { session: ctx.session, sid: ctx.sessionId };
  }, async (srv) => {
    const c = srv.client();
    const r0 = await c.get('/');
    assert.equal(r0.setCookies.length, 0, 'an untouched new session sends no cookie');
    assert.equal(store.size, 0);
    assert.deepEqual(r0.json.session, { cookie: { httpOnly: true, maxAge: 86400000, overwrite: true, path: '/', secure: false, signed: true } });
    assert.match(r0.json.sid, /^[A-Za-z0-9_-]{32}$/);

    const r1 = await c.get('/set');
    const sid = cookieNamed(r1, 'koa.sid');
    const sig = cookieNamed(r1, 'koa.sid.sig');
    assert.ok(sid && sig, 'session cookie and signature sent');
    assert.equal(sid.value, r1.json.sid);
    assert.equal(sid.attrs.path, '/');
    assert.ok(sid.attrs.httponly);
    const ttl = Date.parse(sid.attrs.expires) - Date.now();
    assert.ok(ttl > 86_000_000 && ttl <= 86_400_000, `cookie expires in a day (${ttl})`);
    assert.equal(store.size, 1);
    assert.equal((await store.get(sid.value)).user, 'ann');

    const r2 = await c.get('/');
    assert.equal(r2.json.sid, sid.value, 'same session on the next request');
    assert.equal(r2.json.session.user, 'ann');
    assert.equal(r2.setCookies.length, 0, 'unchanged session: no cookie, no write');
  });
});

test('counter across requests, and the cookie is re-sent on each change', async () => {
  await withApp({}, counter, async (srv) => {
    const c = srv.client();
    for (let i = 1; i <= 3; i++) {
      const r = await c.get('/');
      assert.equal(r.json.n, i);
      assert.ok(cookieNamed(r, 'koa.sid'));
    }
  });
});

test('key option names the cookie', async () => {
  await withApp({ key: 'my.sess' }, counter, async (srv) => {
    const c = srv.client();
    const r = await c.get('/');
    assert.ok(cookieNamed(r, 'my.sess'));
    assert.ok(cookieNamed(r, 'my.sess.sig'));
    assert.equal((await c.get('/')).json.n, 2);
  });
});

test('sessionSave = false leaves store and cookie untouched; true forces a save', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    if (ctx.query.save === 'false') {
      ctx.session.nested.x = 99; // a nested change, not saved (no aliasing into the store)
      ctx.session.other = 1;
      ctx.sessionSave = false;
    } else if (ctx.query.save === 'true') {
      ctx.sessionSave = true;
    } else if (ctx.path === '/init') {
      ctx.session.nested = { x: 1 };
    }
    ctx.body = { session: ctx.session, save: ctx.sessionSave };
  }, async (srv) => {
    const c = srv.client();
    const fresh = await c.get('/?save=true');
    assert.equal(fresh.json.save, true);
    assert.ok(cookieNamed(fresh, 'koa.sid'), 'forced save of an empty new session sends the cookie');
    assert.equal(store.size, 1);
    await c.get('/init');
    const r = await c.get('/?save=false');
    assert.equal(r.setCookies.length, 0);
    const again = await c.get('/');
    assert.equal(again.json.session.nested.x, 1, 'nested change with sessionSave=false is not persisted');
    assert.equal(again.json.session.other, undefined);
    assert.equal(again.json.save, null, 'sessionSave defaults to null');
    const forced = await c.get('/?save=true');
    assert.ok(cookieNamed(forced, 'koa.sid'), 'sessionSave=true re-saves an unchanged session');
  });
});

test('allowEmpty saves a new untouched session', async () => {
  const store = new MemoryStore();
  await withApp({ store, allowEmpty: true }, (ctx) => {
    ctx.body = 'x';
  }, async (srv) => {
    const r = await srv.client().get('/');
    assert.ok(cookieNamed(r, 'koa.sid'));
    assert.equal(store.size, 1);
  });
});

test('rolling refreshes the TTL and re-sends the cookie on every request with a session', async () => {
  const store = new MemoryStore();
  let writes = 0;
  const set = store.set;
  store.set = function (...a) {
    writes++;
    return set.apply(this, a);
  };
  let touches = 0;
  const touch = store.touch;
  store.touch = function (...a) {
    touches++;
    return touch.apply(this, a);
  };
  await withApp({ store, rolling: true }, async (ctx) => {
    if (ctx.path === '/login') ctx.session.user = 'u';
    ctx.body = 'ok';
  }, async (srv) => {
    const c = srv.client();
    const r0 = await c.get('/');
    assert.equal(r0.setCookies.length, 0, 'rolling does not save an empty new session');
    await c.get('/login');
    assert.equal(writes, 1);
    const r = await c.get('/');
    assert.ok(cookieNamed(r, 'koa.sid'), 'cookie re-sent although nothing changed');
    assert.equal(writes, 1, 'unchanged data is not rewritten');
    assert.equal(touches, 1, 'its TTL is refreshed instead');
  });
});

test('ctx.session = null destroys the record and clears both cookies with the right path', async () => {
  const store = new MemoryStore();
  await withApp({ store, cookieOptions: { path: '/app' } }, async (ctx) => {
    if (ctx.path === '/app/login') ctx.session.user = 'u';
    if (ctx.path === '/app/logout') ctx.session = null;
    ctx.body = { session: ctx.session };
  }, async (srv) => {
    const c = srv.client();
    const login = await c.get('/app/login');
    const sid = cookieNamed(login, 'koa.sid').value;
    assert.equal(cookieNamed(login, 'koa.sid').attrs.path, '/app');
    assert.ok(await store.get(sid));
    const out = await c.get('/app/logout');
    const a = cookieNamed(out, 'koa.sid');
    const b = cookieNamed(out, 'koa.sid.sig');
    for (const ck of [a, b]) {
      assert.ok(ck && ck.cleared, 'cleared');
      assert.equal(ck.value, '');
      assert.equal(ck.attrs.expires, 'Thu, 01 Jan 1970 00:00:00 GMT');
      assert.equal(ck.attrs.path, '/app', 'cleared on the path it was set on');
    }
    assert.equal(await store.get(sid), null, 'record destroyed');
    assert.equal(out.json.session, null);
    const after = await c.get('/app/');
    assert.equal(after.json.session.user, undefined);
  });
});

test('null on a new session does nothing', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    ctx.session = null;
    ctx.body = 'x';
  }, async (srv) => {
    const r = await srv.client().get('/');
    assert.equal(r.setCookies.length, 0);
    assert.equal(store.size, 0);
  });
});

test('regenerateSession: old record gone, new id, new data saved (also when the data is the same)', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/login') {
      ctx.session.user = 'ann';
    } else if (ctx.path === '/regen-same') {
      const before = ctx.sessionId;
      const s = await ctx.regenerateSession();
      assert.equal(s, ctx.session);
      assert.notEqual(ctx.sessionId, before);
      ctx.session.user = 'ann'; // same data as before: must still be saved under the new id
    } else if (ctx.path === '/regen-empty') {
      await ctx.regenerateSession();
    }
    ctx.body = { sid: ctx.sessionId, session: ctx.session };
  }, async (srv) => {
    const c = srv.client();
    const r1 = await c.get('/login');
    const oldSid = r1.json.sid;
    const r2 = await c.get('/regen-same');
    const newSid = cookieNamed(r2, 'koa.sid').value;
    assert.notEqual(newSid, oldSid);
    assert.equal(r2.json.sid, newSid);
    assert.equal(await store.get(oldSid), null, 'old record destroyed');
    assert.equal((await store.get(newSid)).user, 'ann', 'same data saved under the new id');
    const r3 = await c.get('/');
    assert.equal(r3.json.sid, newSid);
    assert.equal(r3.json.session.user, 'ann');
    // Regenerate with nothing in the new session: old record gone, stale cookies cleared.
    const r4 = await c.get('/regen-empty');
    assert.equal(await store.get(newSid), null);
    assert.ok(cookieNamed(r4, 'koa.sid').cleared);
    assert.equal(store.size, 0);
  });
});

test('regenerateSession on a new session destroys nothing and saves', async () => {
  const store = new MemoryStore();
  const destroyed = [];
  const d = store.destroy;
  store.destroy = function (sid) {
    destroyed.push(sid);
    return d.call(this, sid);
  };
  await withApp({ store }, async (ctx) => {
    await ctx.regenerateSession();
    ctx.session.x = 1;
    ctx.body = { sid: ctx.sessionId };
  }, async (srv) => {
    const r = await srv.client().get('/');
    assert.deepEqual(destroyed, []);
    assert.equal(cookieNamed(r, 'koa.sid').value, r.json.sid);
    assert.equal((await store.get(r.json.sid)).x, 1);
  });
});

test('ctx properties: sessionStore, sessionId, sessionSave, regenerateSession', async () => {
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    assert.equal(ctx.sessionStore, store);
    assert.throws(() => {
      ctx.sessionStore = {};
    }, TypeError);
    assert.equal(typeof ctx.regenerateSession, 'function');
    assert.equal(ctx.sessionSave, null);
    assert.equal(typeof ctx.sessionId, 'string');
    assert.throws(() => {
      ctx.sessionId = 'x';
    }, /read-only/);
    assert.throws(() => {
      ctx.session = 'not an object';
    }, /must be an object/);
    ctx.body = 'ok';
  }, async (srv) => {
    const r = await srv.request('/');
    assert.equal(r.status, 200, r.text);
  });
});

test('an upstream ctx.sessionId wins over the cookie', async () => {
  const store = new MemoryStore();
  await store.set('upstream-id-0123456789', { cookie: { maxAge: 1000000 }, who: 'upstream' }, 1000000);
  const before = [async (ctx, next) => {
    if (ctx.query.up) ctx.sessionId = ctx.query.up;
    await next();
  }];
  await withApp({ store }, async (ctx) => {
    ctx.body = { sid: ctx.sessionId, who: ctx.session.who };
  }, { before }, async (srv) => {
    const c = srv.client();
    await c.get('/'); // no cookie yet
    const r = await c.get('/?up=upstream-id-0123456789');
    assert.equal(r.json.sid, 'upstream-id-0123456789');
    assert.equal(r.json.who, 'upstream');
  });
});

test('two stacked session middlewares: the second is a no-op', async () => {
  const store1 = new MemoryStore();
  const store2 = new MemoryStore();
  const app = makeApp(false, null);
  app.use(session({ store: store1 }));
  app.use(session({ store: store2, key: 'other' }));
  app.use(async (ctx) => {
    ctx.session.n = (ctx.session.n || 0) + 1;
    ctx.body = { n: ctx.session.n, first: ctx.sessionStore === store1 };
  });
  const srv = await serve(app);
  try {
    const c = srv.client();
    const r1 = await c.get('/');
    const r2 = await c.get('/');
    assert.equal(r1.json.first, true);
    assert.equal(r2.json.n, 2);
    assert.equal(store1.size, 1);
    assert.equal(store2.size, 0);
    assert.equal(r1.setCookies.filter((s) => s.startsWith('other')).length, 0);
  } finally {
    await srv.close();
  }
});

test('path scoping matches by segment: /app covers /app and /app/x, not /apple', async () => {
  await withApp({ cookieOptions: { path: '/app' } }, async (ctx) => {
    ctx.body = { has: ctx.session !== undefined && ctx.session !== null };
    if (ctx.session) ctx.session.seen = true;
  }, async (srv) => {
    const c = srv.client();
    assert.equal((await c.get('/apple')).json.has, false);
    assert.equal((await c.get('/')).json.has, false);
    assert.equal((await c.get('/app')).json.has, true);
    assert.equal((await c.get('/app/x?y=1')).json.has, true);
  });
});

test('cookieOptions attributes reach the cookie and the session record', async () => {
  const store = new MemoryStore();
  await withApp({ store, cookieOptions: { maxAge: 5000, domain: 'example.test', sameSite: 'Lax', priority: 'High', httpOnly: false, partitioned: true } }, async (ctx) => {
    ctx.session.x = 1;
    ctx.body = { session: ctx.session };
  }, async (srv) => {
    const r = await srv.client().get('/');
    const ck = cookieNamed(r, 'koa.sid');
    assert.equal(ck.attrs.domain, 'example.test');
    assert.equal(ck.attrs.samesite, 'lax');
    assert.equal(ck.attrs.priority, 'high');
    assert.equal(ck.attrs.httponly, undefined);
    assert.equal(ck.attrs.partitioned, true);
    assert.ok(Date.parse(ck.attrs.expires) - Date.now() <= 5000);
    assert.equal(r.json.session.cookie.maxAge, 5000);
    assert.equal(r.json.session.cookie.sameSite, 'lax');
  });
});

test('a per-session cookie.maxAge (remember me) sets the cookie lifetime and the store TTL', async () => {
  const store = new MemoryStore();
  const ttls = [];
  const set = store.set;
  store.set = function (sid, sess, ttl) {
    ttls.push(ttl);
    return set.call(this, sid, sess, ttl);
  };
  const ninetyDays = 90 * 86400000;
  await withApp({ store }, async (ctx) => {
    ctx.session.user = 'u';
    ctx.session.cookie.maxAge = ninetyDays;
    ctx.body = 'ok';
  }, async (srv) => {
    const r = await srv.client().get('/');
    const left = Date.parse(cookieNamed(r, 'koa.sid').attrs.expires) - Date.now();
    assert.ok(left > ninetyDays - 60000 && left <= ninetyDays, `${left}`);
    assert.deepEqual(ttls, [ninetyDays]);
    // 90 days is past setTimeout's 24.8-day limit: the record is still there.
    assert.ok(await store.get(cookieNamed(r, 'koa.sid').value));
  });
});

test('Set-Cookie from other middleware is kept; an earlier one for our names is replaced', async () => {
  await withApp({}, async (ctx) => {
    ctx.cookies.set('other', '1', { signed: false });
    ctx.cookies.set('koa.sid', 'handler-written', { signed: false });
    ctx.session.x = 1;
    ctx.body = 'ok';
  }, async (srv) => {
    const r = await srv.request('/');
    assert.equal(r.setCookies.filter((s) => s.startsWith('other=1')).length, 1);
    const ours = r.setCookies.filter((s) => s.startsWith('koa.sid='));
    assert.equal(ours.length, 1);
    assert.notEqual(ours[0].split(';')[0], 'koa.sid=handler-written');
  });
});

test('large and non-ASCII sessions round-trip exactly, and an unchanged one is not re-saved', async () => {
  // Sizes around the native side's 1 KiB one-pass string conversion, with 2-, 3- and 4-byte
  // UTF-8 characters straddling the boundary, plus a lone surrogate (JSON.stringify escapes
  // it as \ud800, so it survives too).
  const values = [];
  for (const n of [990, 1000, 1010, 1020, 1030, 4000]) {
    for (const ch of ['é', '€', '😀']) values.push(ch.repeat(Math.ceil(n / Buffer.byteLength(ch))));
  }
  values.push('x'.repeat(5000), `a\uD800b`);
  const store = new MemoryStore();
  await withApp({ store }, async (ctx) => {
    if (ctx.path === '/set') ctx.session.v = ctx.get('x-i') === '' ? null : values[Number(ctx.get('x-i'))];
    ctx.body = { v: ctx.session.v ?? null };
  }, async (srv) => {
    const c = srv.client();
    for (let i = 0; i < values.length; i++) {
      const expected = values[i];
      const set = await c.get('/set', { headers: { 'x-i': String(i) } });
      assert.ok(cookieNamed(set, 'koa.sid'), `value ${i}: saved`);
      const r = await c.get('/');
      assert.equal(r.json.v, expected, `value ${i} (${Buffer.byteLength(values[i])} bytes) read back`);
      assert.equal(r.setCookies.length, 0, `value ${i}: unchanged, so no cookie and no write`);
      assert.equal((await store.get(cookieNamed(set, 'koa.sid').value)).v, expected);
    }
  });
});
