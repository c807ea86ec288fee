'use strict';
// Log out everywhere (issue 19): with `userField: 'passport.user'` the engine keeps each
// user's index of sessions, and `ctx.sessionStore.destroyUserSessions(user, { except })` ends
// them, on the default MemoryStore, RedisStore and a 3-master Redis Cluster, driven over HTTP
// by koa-passport logins.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, serve, Client, cookieNamed } = require('./helpers');
const { startRedis, connected } = require('./redis-harness');
const { passportApp, login } = require('./passport-app');

const ANN = '1';
const BOB = '2';

/** A gate the /slow route waits on: a request held in flight while the test acts. */
function gate() {
  let open;
  const opened = new Promise((resolve) => (open = resolve));
  return { opened, open };
}

function usersApp(options, gates) {
  return passportApp({ ...options, userField: 'passport.user' }, (router, auth) => {
    router.post('/logout-others', auth, async (ctx) => {
      ctx.body = { ended: await ctx.sessionStore.destroyUserSessions(ctx.state.user.id, { except: ctx.sessionId }) };
    });
    router.get('/devices', auth, async (ctx) => {
      const list = await ctx.sessionStore.userSessions(ctx.state.user.id);
      ctx.body = list.map((s) => ({ since: s.since, current: s.id === ctx.sessionId, cart: s.session.cart || [] }));
    });
    router.post('/slow', auth, async (ctx) => {
      gates.entered.open();
      await gates.release.opened;
      ctx.session.late = true;
      ctx.body = { late: true };
    });
    router.post('/bad-user', auth, (ctx) => {
      ctx.session.passport = { user: true };
      ctx.body = {};
    });
  });
}

async function loggedIn(port, who = ['ann', 'correct horse']) {
  const c = new Client(port);
  const res = await login(c, ...who);
  assert.equal(res.headers.location, '/me', res.text);
  return c;
}

const sidOf = (c) => c.jar.get('koa.sid');

function suite(name, makeStore) {
  describe(`log out everywhere on ${name}`, () => {
    let srv;
    let app;
    let store;
    const gates = {};
    before(async () => {
      store = await makeStore();
      app = usersApp({ store }, gates);
      srv = await serve(app);
    });
    after(async () => {
      await srv.close();
      if (typeof store.close === 'function') await store.close();
    });

    test('5 logins of one user: userSessions lists exactly them; destroyUserSessions ends all 5, and no cookie loads a session after', async () => {
      const anns = await Promise.all([1, 2, 3, 4, 5].map(() => loggedIn(srv.port)));
      const bob = await loggedIn(srv.port, ['bob', 'battery staple']);
      await anns[0].post('/cart', { item: 'apple' });
      const listed = await store.userSessions(ANN);
      assert.deepEqual(listed.map((s) => s.id).sort(), anns.map(sidOf).sort());
      for (const s of listed) assert.ok(Number.isFinite(s.since) && s.since > 0 && s.session.passport.user === ANN);
      assert.equal((await store.userSessions(BOB)).length, 1);

      const sids = anns.map(sidOf);
      assert.equal(await store.destroyUserSessions(ANN), 5);
      for (const [i, c] of anns.entries()) {
        assert.equal((await c.get('/me')).status, 401, 'the cookie loads no session');
        assert.equal(await store.get(sids[i]), null);
      }
      assert.deepEqual(await store.userSessions(ANN), []);
      assert.equal((await bob.get('/me')).json.user, 'bob', 'another user is left alone');
      assert.equal(await store.destroyUserSessions(ANN), 0);
      assert.deepEqual(app.errors, []);
    });

    test('"sign out of all other devices": except keeps exactly the current session', async () => {
      const anns = await Promise.all([1, 2, 3].map(() => loggedIn(srv.port)));
      const devices = (await anns[1].get('/devices')).json;
      assert.equal(devices.length, 3);
      assert.equal(devices.filter((d) => d.current).length, 1);
      const res = await anns[1].post('/logout-others');
      assert.deepEqual(res.json, { ended: 2 });
      assert.equal((await anns[0].get('/me')).status, 401);
      assert.equal((await anns[2].get('/me')).status, 401);
      assert.equal((await anns[1].get('/me')).json.user, 'ann', 'the current session survives');
      assert.deepEqual((await store.userSessions(ANN)).map((s) => s.id), [sidOf(anns[1])]);
      await store.destroyUserSessions(ANN);
    });

    test('a request in flight during destroyUserSessions does not bring its session back', async () => {
      const c = await loggedIn(srv.port);
      const sid = sidOf(c);
      gates.entered = gate();
      gates.release = gate();
      const slow = c.post('/slow');
      await gates.entered.opened;
      assert.equal(await store.destroyUserSessions(ANN), 1);
      gates.release.open();
      const res = await slow;
      assert.equal(res.status, 200, res.text);
      const cookie = cookieNamed(res, 'koa.sid');
      assert.ok(cookie && cookie.cleared, 'the response clears the session cookie');
      assert.equal(await store.get(sid), null, 'no record was re-created');
      assert.deepEqual(await store.userSessions(ANN), []);
      assert.equal((await srv.request('/me', { headers: { cookie: `koa.sid=${sid}` } })).status, 401);
    });

    test('a user id that is not a string or number is an error at commit, and the stored session is kept', async () => {
      const c = await loggedIn(srv.port);
      await c.post('/cart', { item: 'pear' });
      const before = await store.get(sidOf(c));
      app.errors.length = 0;
      const res = await c.post('/bad-user');
      assert.equal(res.status, 500);
      assert.match(String(app.errors[0] && app.errors[0].message), /'passport\.user' must be a non-empty string .* or a number, got a boolean/);
      assert.deepEqual(await store.get(sidOf(c)), before, 'nothing lost');
      assert.deepEqual((await c.get('/me')).json, { user: 'ann', cart: ['pear'] });
      app.errors.length = 0;
      await store.destroyUserSessions(ANN);
    });

    test('logout (passport removes its user) and a later login of another user', async () => {
      const c = await loggedIn(srv.port);
      await c.post('/logout');
      assert.deepEqual(await store.userSessions(ANN), [], 'a logged-out session is not listed');
      await login(c, 'bob', 'battery staple');
      assert.ok((await store.userSessions(BOB)).some((s) => s.id === sidOf(c)), 'listed under the new user');
      await store.destroyUserSessions(BOB);
      assert.equal((await c.get('/me')).status, 401);
    });
  });
}

suite('the default MemoryStore', async () => new session.MemoryStore());

for (const [group, name, cluster] of [['RedisStore', 'RedisStore (one redis-server)', false], ['Redis Cluster', 'RedisStore (3-master cluster)', true]]) {
  describe(group, () => {
    let redis;
    before(async () => {
      redis = await startRedis({ cluster });
    });
    after(async () => {
      if (redis) await redis.stop();
    });
    suite(name, async () => {
      const store = new session.RedisStore({ ...redis.target(), prefix: 'users:' });
      await connected(store);
      return store;
    });
  });
}

describe('userField options and stores', () => {
  test('a store without a user index (or compare-and-set) is refused when the middleware is created, naming what it lacks', () => {
    const plain = { get() {}, set() {}, destroy() {} };
    assert.throws(() => session({ store: plain, userField: 'passport.user' }), (e) => e instanceof TypeError && /userField.*compare-and-set \(compareAndSet\) and a user index \(indexUserSession\)/.test(e.message));
    const cas = { ...plain, compareAndSet() {} };
    assert.throws(() => session({ store: cas, userField: 'uid' }), /lacks it/);
    assert.doesNotThrow(() => session({ store: { ...cas, indexUserSession() {} }, userField: 'uid' }));
    assert.doesNotThrow(() => session({ store: plain }), 'without userField nothing is asked');
  });

  test('userField is checked: a name or dotted path', () => {
    for (const bad of ['', 'a..b', '.a', 5, {}]) {
      assert.throws(() => session({ userField: bad }), (e) => e instanceof TypeError && /userField/.test(e.message), String(bad));
    }
    assert.doesNotThrow(() => session({ userField: null }));
  });

  test('one store serves one userField; userSessions and destroyUserSessions check their arguments', async () => {
    const store = new session.MemoryStore();
    await assert.rejects(store.userSessions('ann'), /no userField/);
    session({ store, userField: 'uid' });
    assert.throws(() => session({ store, userField: 'other' }), /already serves userField 'uid'/);
    assert.deepEqual(await store.userSessions('ann'), []);
    await assert.rejects(store.userSessions(''), TypeError);
    await assert.rejects(store.userSessions({}), TypeError);
    await assert.rejects(store.destroyUserSessions('ann', { except: 5 }), TypeError);
    await assert.rejects(store.destroyUserSessions('ann', { nope: 1 }), /unknown option "nope"/);
    assert.equal(await store.destroyUserSessions(42), 0);
  });
});
