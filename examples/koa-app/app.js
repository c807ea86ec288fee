'use strict';
// koa-session-ts demo: a small Koa app with a login form (koa-passport + passport-local), CSRF
// protection on every POST (koa-csrf), a counter kept in the session, logout by POST, a page
// that sends 20 parallel writes to one session and shows that none is lost, and a "your devices"
// page that lists the user's sessions and signs out all the others (userField).
//   node app.js                         MemoryStore, http://127.0.0.1:3000/ (PORT=8080 for another port)
//   node app.js --redis redis://127.0.0.1:6380    or REDIS_URL=...; REDIS_PREFIX (default koa:sess:)
//   SESSION_KEY=...                     the cookie signing key (app.keys)
// Session lifetimes (README "Session lifetimes"), in ms; 0 turns one off (renewGrace: 0 is its 60 s):
//   KS_IDLE_TIMEOUT_MS      idleTimeout, default 1800000 (30 min without a request)
//   KS_ABSOLUTE_TIMEOUT_MS  absoluteTimeout, default 43200000 (12 h after login)
//   KS_RENEW_INTERVAL_MS    renewInterval, default 900000 (a new session id every 15 min in use)
//   KS_RENEW_GRACE_MS       renewGrace, default 60000 (the replaced id keeps working for 1 min)
// e.g. KS_RENEW_INTERVAL_MS=5000 KS_RENEW_GRACE_MS=10000 shows renewal: the cookie's id changes
// every 5 s of use while the login, the counter and the parallel page's writes carry on.
// With Redis, the C and C++ example servers (examples/c-server, examples/cpp-server: --redis URL
// --keys SESSION_KEY) given the same Redis and prefix share these sessions: same cookie, same
// record. They show the session's `user` field, which a login here sets too.
const path = require('node:path');
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { setTimeout: sleep } = require('node:timers/promises');
const Koa = require('koa');
const Router = require('@koa/router');
const bodyParser = require('koa-bodyparser');
const CSRF = require('koa-csrf');
const passport = require('koa-passport');
const session = require('koa-session-ts');
const { DEMO_CREDENTIALS, loadUsers, setUpPassport } = require('./users');
const views = require('./views');

const USAGE = 'usage: node app.js [--redis URL]   (env: PORT, REDIS_URL, REDIS_PREFIX, SESSION_KEY, ' +
  'KS_IDLE_TIMEOUT_MS, KS_ABSOLUTE_TIMEOUT_MS, KS_RENEW_INTERVAL_MS, KS_RENEW_GRACE_MS)';
let args;
try {
  args = parseArgs({ options: { redis: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const PARALLEL = 20; // requests the parallel page sends

/** A lifetime option from the environment: unset or blank -> the default, 0 -> off (null). */
function msFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    console.error(`${name} must be a whole number of milliseconds (0: off), not ${JSON.stringify(raw)}\n${USAGE}`);
    process.exit(2);
  }
  const ms = Number(raw.trim());
  return ms === 0 ? null : ms;
}
const LIFETIMES = Object.fromEntries(Object.entries({
  idleTimeout: msFromEnv('KS_IDLE_TIMEOUT_MS', 30 * 60_000),
  absoluteTimeout: msFromEnv('KS_ABSOLUTE_TIMEOUT_MS', 12 * 3_600_000),
  renewInterval: msFromEnv('KS_RENEW_INTERVAL_MS', 15 * 60_000),
  renewGrace: msFromEnv('KS_RENEW_GRACE_MS', 60_000),
}).filter(([, ms]) => ms !== null)); // off: the option left out
const STATIC = {
  '/static/app.css': ['text/css', fs.readFileSync(path.join(__dirname, 'public', 'app.css'))],
  '/static/parallel.js': ['application/javascript', fs.readFileSync(path.join(__dirname, 'public', 'parallel.js'))],
};

/** A short name for a browser, from its User-Agent: what a devices page shows. */
function deviceName(agent) {
  const browser = /(Firefox|Edg|OPR|Chrome|Safari)\/[\d.]+/.exec(agent || '');
  const os = /(Windows|Android|iPhone|iPad|Mac OS X|Linux)/.exec(agent || '');
  const name = browser ? browser[1].replace('Edg', 'Edge').replace('OPR', 'Opera') : 'a browser';
  return `${/Headless/.test(agent || '') ? 'headless ' : ''}${name}${os ? ` on ${os[1]}` : ''}`;
}

function createApp(users) {
  const app = new Koa();
  app.keys = [process.env.SESSION_KEY || 'demo-only-key-change-me'];

  const redisUrl = args.redis || process.env.REDIS_URL;
  let store; // undefined: the default MemoryStore
  if (redisUrl) {
    const prefix = process.env.REDIS_PREFIX || 'koa:sess:';
    store = new session.RedisStore({ url: redisUrl, prefix });
    store.on('DISCONNECT', () => console.warn('session store: Redis unreachable'));
    store.on('CONNECT', () => console.info('session store: Redis connected'));
    app.context.storeName = `Redis (key prefix ${prefix})`;
  } else {
    app.context.storeName = 'in-process MemoryStore';
  }

  // Headers for every response: nothing cached (a page seen logged in is not shown again from
  // the cache after logout), scripts and styles from this origin only, no framing.
  app.use(async (ctx, next) => {
    ctx.set({
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
    });
    await next();
  });

  // The two static files, before the session middleware: they need no session.
  app.use(async (ctx, next) => {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? STATIC[ctx.path] : undefined;
    if (!file) return next();
    ctx.type = file[0];
    ctx.body = file[1];
  });

  // userField: the engine indexes each session under passport's user (session.passport.user),
  // so that the devices page can list them and sign out all but this one.
  // The lifetimes (KS_*_MS above). The cookie lives 30 min after the last response that set it,
  // the default idle window; renewal sets it again every renewInterval while the session is used.
  app.use(session({
    store,
    userField: 'passport.user',
    ...LIFETIMES,
    cookieOptions: { maxAge: 30 * 60 * 1000, sameSite: 'lax' },
  }));
  app.use(bodyParser({ enableTypes: ['form', 'json'], formLimit: '16kb', jsonLimit: '16kb' }));
  setUpPassport(passport, users);
  app.use(passport.initialize());
  app.use(passport.session());
  // koa-csrf keeps its secret in ctx.session and checks the token of every POST (form field
  // _csrf, or an X-CSRF-Token header for fetch).
  app.use(CSRF({
    errorHandler(ctx) {
      if (ctx.path.startsWith('/api/')) {
        ctx.status = 403;
        ctx.body = { error: 'invalid CSRF token' };
        return;
      }
      views.errorPage(ctx, 403, 'Form expired', 'This form is out of date (its CSRF token is not valid for your session): reload the page and try again.');
    },
  }));

  // Pages for what no route answers (a 405 from allowedMethods stays one).
  app.use(async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body == null) views.errorPage(ctx, 404, 'Not found', `Nothing at ${ctx.path}.`);
  });

  const router = new Router();

  router.get('/', (ctx) => {
    const n = (ctx.session.views || 0) + 1;
    ctx.session.views = n;
    views.counterPage(ctx, n);
  });

  router.post('/counter/reset', (ctx) => {
    delete ctx.session.views;
    ctx.redirect('/');
  });

  router.get('/login', (ctx) => views.loginPage(ctx));

  router.post('/login', async (ctx, next) => {
    const count = ctx.session.views;
    await passport.authenticate('local', async (err, user, info) => {
      if (err) throw err;
      if (!user) {
        ctx.status = 401;
        const username = typeof ctx.request.body.username === 'string' ? ctx.request.body.username : '';
        return views.loginPage(ctx, { error: (info && info.message) || 'Wrong user name or password.', username });
      }
      // passport: ctx.session.regenerate() (a new id; the old record is destroyed), then the
      // user goes into the new session, then ctx.session.save().
      await ctx.login(user);
      if (count) ctx.session.views = count; // the counter carries over, as a cart would
      ctx.session.user = user.username; // what the C and C++ example servers show
      ctx.session.device = deviceName(ctx.get('user-agent')); // for the devices page
      ctx.redirect('/');
    })(ctx, next);
  });

  router.post('/logout', async (ctx) => {
    // passport: removes the user, saves, then regenerates the session (the old record is
    // destroyed, so a copy of the old cookie logs no one in).
    await ctx.logout();
    ctx.redirect('/');
  });

  // The user's sessions: when each logged in and from what, never the ids (they are secrets).
  router.get('/devices', async (ctx) => {
    if (!ctx.state.user) return ctx.redirect('/login');
    const list = await ctx.sessionStore.userSessions(ctx.state.user.username);
    const devices = list.map((s) => ({ since: s.since, device: s.session.device || 'unknown', current: s.id === ctx.sessionId }));
    const ended = /^\d+$/.test(String(ctx.query.ended)) ? Number(ctx.query.ended) : null;
    views.devicesPage(ctx, devices, ended);
  });

  router.post('/devices/sign-out-others', async (ctx) => {
    if (!ctx.state.user) return ctx.redirect('/login');
    const ended = await ctx.sessionStore.destroyUserSessions(ctx.state.user.username, { except: ctx.sessionId });
    ctx.redirect(`/devices?ended=${ended}`);
  });

  // data-stale: whether the session holds keys of an earlier run, which the first run clears.
  router.get('/parallel', (ctx) => views.parallelPage(ctx, PARALLEL, Object.keys(ctx.session).some((k) => /^parallel\d\d$/.test(k))));

  router.post('/api/parallel/reset', (ctx) => {
    for (const k of Object.keys(ctx.session)) if (/^parallel\d\d$/.test(k)) delete ctx.session[k];
    ctx.body = { ok: true };
  });

  let inFlight = 0;
  router.post('/api/parallel/:n', async (ctx) => {
    const n = Number(ctx.params.n);
    if (!Number.isInteger(n) || n < 1 || n > PARALLEL) ctx.throw(404);
    inFlight++;
    try {
      await sleep(10 + Math.random() * 40); // a handler with some work to do: the requests overlap
      const key = `parallel${String(n).padStart(2, '0')}`;
      ctx.session[key] = `set by request ${n} at ${new Date().toISOString()}`;
      ctx.body = { key, inFlight };
    } finally {
      inFlight--;
    }
  });

  // What the session holds, for the parallel page and the cross-runtime test; the CSRF secret
  // stays on the server, and the session id is not shown.
  router.get('/api/session', (ctx) => {
    const { secret, ...data } = ctx.session;
    ctx.body = { user: ctx.state.user ? ctx.state.user.username : null, session: data };
  });

  app.use(router.routes());
  app.use(router.allowedMethods());
  return { app, store };
}

async function main() {
  const { app, store } = createApp(await loadUsers());
  const port = Number(process.env.PORT || 3000);
  const host = '127.0.0.1';
  const server = app.listen(port, host, () => {
    console.log(`koa-session-ts demo listening on http://${host}:${server.address().port}/`);
    const lifetimes = Object.entries(LIFETIMES).map(([name, ms]) => `${name} ${ms} ms`).join(', ');
    console.log(`session lifetimes: ${lifetimes || 'none'} (KS_*_MS)`);
    console.log(`demo users: ${DEMO_CREDENTIALS.map((c) => `${c.username} / ${c.password}`).join(', ')}`);
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      if (store) store.quit();
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
