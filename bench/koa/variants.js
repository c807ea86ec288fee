'use strict';
// The Koa apps under test, shared by server.js (HTTP) and in-process.js (no HTTP): one
// session middleware per variant, and the same handler for all.
//   /new    a new visitor whose handler writes the session
//   /read   a returning visitor that only reads
//   /write  a returning visitor that writes every request
//   /login  a new visitor who logs in: the handler puts a user id (`uid`) in the session, a
//           new user each request (`/login?u=NAME`: that user)
//
// The session-lifetime variants (`lifetimes` below) run on a movable clock: `/clock?advance=MS`,
// answered before the session layer, moves Date.now() forward by MS in that server's process
// (the engine's clock in Node). run.js --count uses it to measure the requests that come half an
// idle window or a renewal interval after the last one, without waiting for them.
//
// KS_BENCH_PACKAGE=DIR loads koa-session-ts from DIR instead of this repository's
// node-binding/ (to compare two builds, e.g. a worktree of an older commit, with the same
// harness).
const path = require('path');

const PACKAGE = process.env.KS_BENCH_PACKAGE || path.join(__dirname, '..', '..', 'node-binding');

function ours() {
  const m = require(path.resolve(PACKAGE));
  return { session: m.default || m, RedisStore: m.RedisStore };
}

// Distinct user ids for /login, per process.
let logins = 0;

// What any session layer's JS must do at the least, with the record and cookies ours makes
// (same JSON, same cookie lengths): read the Cookie header, parse the session, stringify and
// compare it, send two Set-Cookie headers when it changed. No store, no signing, no ids.
const FLOOR_JSON = '{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true},"count":5}';
const FLOOR_FRESH = '{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true}}';
const FLOOR_COOKIES = [
  'koa.sid=DOk1HUT_k5cp9JQcnYjq7o4lx5erJCq1; path=/; expires=Sat, 28 Nov 2026 00:09:32 GMT; httponly',
  'koa.sid.sig=9_Y7uuM1yAM3E6sI9xdfGhuZyjQ; path=/; expires=Sat, 28 Nov 2026 00:09:32 GMT; httponly',
];

// RedisStore on the run's redis-server, with `options` for session().
function oursRedis(redisPort, options) {
  const { session, RedisStore } = ours();
  return session({ store: new RedisStore({ url: `redis://127.0.0.1:${redisPort}` }), ...options });
}

// Session lifetimes (README "Session lifetimes"), each option alone, on RedisStore.
const lifetimes = {
  'ours-redis-idle': { idleTimeout: 30 * 60_000 },
  'ours-redis-renew': { renewInterval: 15 * 60_000 }, // renewGrace: the default, 1 min
};

const variants = {
  bare: () => null,
  'js-floor': () => async (ctx, next) => {
    const header = ctx.req.headers.cookie;
    const json = typeof header === 'string' && header.includes('koa.sid=') ? FLOOR_JSON : FLOOR_FRESH;
    ctx.session = JSON.parse(json);
    await next();
    if (JSON.stringify(ctx.session) !== json) ctx.res.setHeader('Set-Cookie', FLOOR_COOKIES);
  },
  'ours-memory': () => ours().session(),
  // MemoryStore with each user's index of sessions (README "Log out everywhere").
  'ours-memory-user': () => ours().session({ userField: 'uid' }),
  'ours-redis': (app, redisPort) => oursRedis(redisPort, {}),
  // The same with each user's index of sessions kept in the store (README "Log out everywhere").
  'ours-redis-user': (app, redisPort) => oursRedis(redisPort, { userField: 'uid' }),
  ...Object.fromEntries(Object.entries(lifetimes).map(([name, options]) => [name, (app, redisPort) => {
    movableClock(app);
    return oursRedis(redisPort, options);
  }])),
  'koa-session-ts-0.2.3': () => require('koa-session-ts-0.2.3').default(),
  'koa-generic-session-memory': () => require('koa-generic-session')(),
  'koa-generic-session-redis': (app, redisPort) =>
    require('koa-generic-session')({ store: require('koa-redis')({ host: '127.0.0.1', port: Number(redisPort) }) }),
  'koa-session-7-cookie': (app) => require('koa-session').createSession({ signed: true }, app),
  'koa-session-7-map': (app) => {
    const map = new Map();
    const store = {
      get: (key) => map.get(key),
      set: (key, sess) => { map.set(key, sess); },
      destroy: (key) => { map.delete(key); },
    };
    return require('koa-session').createSession({ signed: true, store }, app);
  },
};

/**
 * Makes Date.now() movable for this process: `GET /clock?advance=MS` moves it forward by MS
 * (answered by a middleware put before the session layer, so it loads no session).
 */
function movableClock(app) {
  const realNow = Date.now;
  let offset = 0;
  Date.now = () => realNow() + offset;
  app.use(async (ctx, next) => {
    if (ctx.path !== '/clock') return next();
    offset += Number(ctx.query.advance);
    ctx.body = String(offset);
  });
}

/** Adds `variant`'s middleware and the bench handler to `app` (keys set here). */
function setUp(app, variant, redisPort) {
  if (!variants[variant]) throw new Error(`unknown variant ${variant}; one of ${Object.keys(variants).join(', ')}`);
  app.keys = ['bench-key-1', 'bench-key-2'];
  const middleware = variants[variant](app, redisPort);
  if (middleware) app.use(middleware);
  app.use(async (ctx) => {
    if (!middleware) { ctx.body = 'ok'; return; }
    switch (ctx.path) {
      case '/new':
      case '/write': {
        const s = ctx.session;
        s.count = (s.count || 0) + 1;
        ctx.body = 'ok';
        break;
      }
      case '/read':
        ctx.body = String(ctx.session.count);
        break;
      case '/login': {
        const s = ctx.session;
        s.uid = ctx.query.u || `u${++logins}`;
        s.count = 1;
        ctx.body = 'ok';
        break;
      }
      default:
        ctx.status = 404;
    }
  });
}

module.exports = { setUp, names: Object.keys(variants), lifetimes };
