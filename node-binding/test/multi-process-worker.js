'use strict';
// One worker of multi-process.test.js: a Koa app with a RedisStore on the Redis the parent
// started (REDIS_URL), on a free loopback port that it reports to the parent over IPC.
// MP_RENEW_INTERVAL_MS / MP_RENEW_GRACE_MS: the store's sessions get renewInterval / renewGrace.
// It exits when the parent disconnects (or dies).
const { makeApp, serve, session, sleep } = require('./helpers');

const { RedisStore } = session;

/** A failed request (a session commit included) answers 500 with the error's code and message. */
async function failures(ctx, next) {
  try {
    await next();
  } catch (err) {
    ctx.status = 500;
    ctx.body = { failed: `${err.code}: ${err.message}` };
  }
}

async function main() {
  const store = new RedisStore({ url: process.env.REDIS_URL });
  const opts = { store };
  if (process.env.MP_RENEW_INTERVAL_MS) opts.renewInterval = Number(process.env.MP_RENEW_INTERVAL_MS);
  if (process.env.MP_RENEW_GRACE_MS) opts.renewGrace = Number(process.env.MP_RENEW_GRACE_MS);
  const app = makeApp(opts, async (ctx) => {
    if (ctx.path === '/login') ctx.session.user = 'ann';
    else if (ctx.path === '/logout') ctx.session = null;
    else if (ctx.path === '/set') {
      const k = ctx.query.k;
      // Every request of a trial has loaded the session before any of them commits.
      await sleep(Number(ctx.query.wait || 0));
      ctx.session[k] = { n: Number(ctx.query.n), big: 2 ** 53 + 1, tenth: 0.1 };
    }
    ctx.set('x-worker', String(process.pid));
    ctx.body = ctx.session === null ? 'out' : ctx.session;
  }, { before: [failures] });
  const srv = await serve(app);
  process.on('disconnect', async () => {
    await srv.close();
    await store.quit().catch(() => {});
    process.exit(0);
  });
  process.send({ port: srv.port });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
