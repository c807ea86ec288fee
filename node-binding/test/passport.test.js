'use strict';
// koa-passport 6 (passport 0.7, which calls req.session.regenerate(cb) at login and
// req.session.save(cb) at login and logout) with passport-local, @koa/router and
// koa-bodyparser, as a Koa app is built: on the default MemoryStore and on RedisStore.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, serve, Client, cookieNamed } = require('./helpers');
const { startRedis } = require('./redis-harness');
const { passportApp, login } = require('./passport-app');

function suite(name, makeOptions) {
  describe(`koa-passport 6 on ${name}`, () => {
    let srv;
    let app;
    before(async () => {
      const options = await makeOptions();
      app = passportApp(options);
      app.__store = options.store;
      srv = await serve(app);
    });
    after(async () => {
      await srv.close();
      const store = app.__store;
      if (store && typeof store.close === 'function') await store.close();
    });

    test('logs in, stays logged in, keeps data set after login; logout ends it; the old cookie no longer authenticates', async () => {
      const c = new Client(srv.port);
      const anon = await c.get('/me');
      assert.equal(anon.status, 401);
      const before = { ...Object.fromEntries(c.jar) };

      const res = await login(c, 'ann', 'correct horse');
      assert.equal(res.status, 302, res.text);
      assert.equal(res.headers.location, '/me');
      const sid = cookieNamed(res, 'koa.sid');
      assert.ok(sid && !sid.cleared, 'a session cookie is set at login');
      assert.notEqual(sid.value, before['koa.sid'], 'login gives a new session id (regenerate)');

      assert.deepEqual((await c.get('/me')).json, { user: 'ann', cart: [] });
      assert.deepEqual((await c.post('/cart', { item: 'apple' })).json, { cart: ['apple'] });
      assert.deepEqual((await c.post('/cart', { item: 'pear' })).json, { cart: ['apple', 'pear'] });
      assert.deepEqual((await c.get('/me')).json, { user: 'ann', cart: ['apple', 'pear'] });

      const loggedIn = c.cookieHeader();
      const out = await c.post('/logout');
      assert.equal(out.status, 200, out.text);
      assert.deepEqual(out.json, { out: true });
      assert.equal((await c.get('/me')).status, 401, 'logged out');
      const replay = await srv.request('/me', { headers: { cookie: loggedIn } });
      assert.equal(replay.status, 401, 'the pre-logout cookie no longer authenticates');
      assert.deepEqual(app.errors, []);
    });

    test('a wrong password fails and leaves the visitor logged out', async () => {
      const c = new Client(srv.port);
      const res = await login(c, 'ann', 'wrong');
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, '/login-failed');
      assert.equal((await c.get('/login-failed')).status, 401);
      assert.equal((await c.get('/me')).status, 401);
      const nobody = await login(c, 'nobody', 'x');
      assert.equal(nobody.headers.location, '/login-failed');
    });

    test('two parallel logins both succeed (one browser double-submitting, and two browsers)', async () => {
      const same = new Client(srv.port);
      await same.get('/me');
      const [a, b] = await Promise.all([login(same, 'ann', 'correct horse'), login(same, 'ann', 'correct horse')]);
      for (const r of [a, b]) {
        assert.equal(r.status, 302, r.text);
        assert.equal(r.headers.location, '/me');
      }
      assert.equal((await same.get('/me')).json.user, 'ann');

      const c1 = new Client(srv.port);
      const c2 = new Client(srv.port);
      const [r1, r2] = await Promise.all([login(c1, 'ann', 'correct horse'), login(c2, 'bob', 'battery staple')]);
      assert.equal(r1.headers.location, '/me');
      assert.equal(r2.headers.location, '/me');
      assert.equal((await c1.get('/me')).json.user, 'ann');
      assert.equal((await c2.get('/me')).json.user, 'bob');
      assert.deepEqual(app.errors, []);
    });

    test('switching user at login replaces the session: the first user\'s data is gone', async () => {
      const c = new Client(srv.port);
      await login(c, 'ann', 'correct horse');
      await c.post('/cart', { item: 'secret' });
      const first = c.cookieHeader();
      await login(c, 'bob', 'battery staple');
      assert.deepEqual((await c.get('/me')).json, { user: 'bob', cart: [] });
      assert.equal((await srv.request('/me', { headers: { cookie: first } })).status, 401, 'ann\'s old id is destroyed');
    });
  });
}

suite('the default MemoryStore', async () => ({}));

describe('RedisStore', () => {
  let redis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    if (redis) await redis.stop();
  });
  suite('RedisStore (one redis-server)', async () => ({ store: new session.RedisStore({ ...redis.target(), prefix: 'passport:' }) }));
});
