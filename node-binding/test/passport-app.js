'use strict';
// The Koa app the passport and user-index tests share: koa-passport 6 with passport-local,
// @koa/router and koa-bodyparser, as a Koa app is built. `extraRoutes(router, auth)` adds
// a test's own routes.
const { Koa, session } = require('./helpers');
const { KoaPassport } = require('koa-passport');
const { Strategy: LocalStrategy } = require('passport-local');
const Router = require('@koa/router');
const bodyParser = require('koa-bodyparser');

const USERS = new Map([
  ['1', { id: '1', username: 'ann', password: 'correct horse' }],
  ['2', { id: '2', username: 'bob', password: 'battery staple' }],
]);

function passportApp(sessionOptions, extraRoutes = () => {}) {
  const passport = new KoaPassport();
  passport.use(
    new LocalStrategy((username, password, done) => {
      const user = [...USERS.values()].find((u) => u.username === username);
      done(null, user && user.password === password ? user : false);
    }),
  );
  passport.serializeUser((user, done) => done(null, user.id));
  passport.deserializeUser((id, done) => done(null, USERS.get(id) || false));

  const app = new Koa();
  app.keys = ['passport-test-key'];
  app.errors = [];
  app.on('error', (err) => app.errors.push(err));
  app.use(bodyParser());
  app.use(session(sessionOptions));
  app.use(passport.initialize());
  app.use(passport.session());

  const router = new Router();
  router.post('/login', passport.authenticate('local', { successRedirect: '/me', failureRedirect: '/login-failed' }));
  router.get('/login-failed', (ctx) => {
    ctx.status = 401;
    ctx.body = { error: 'wrong user name or password' };
  });
  router.post('/logout', async (ctx) => {
    await ctx.logout();
    ctx.body = { out: true };
  });
  const auth = async (ctx, next) => {
    if (!ctx.isAuthenticated()) {
      ctx.status = 401;
      ctx.body = { error: 'log in first' };
      return;
    }
    await next();
  };
  router.get('/me', auth, (ctx) => {
    ctx.body = { user: ctx.state.user.username, cart: ctx.session.cart || [] };
  });
  router.post('/cart', auth, (ctx) => {
    ctx.session.cart = [...(ctx.session.cart || []), ctx.request.body.item];
    ctx.body = { cart: ctx.session.cart };
  });
  extraRoutes(router, auth);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

async function login(client, username, password) {
  const res = await client.post('/login', { username, password });
  return res;
}

module.exports = { USERS, passportApp, login };
