'use strict';
// koa-session-ts demo: a visit counter, login (a new session id against session fixation)
// and logout, on the default in-process MemoryStore, or on Redis when REDIS_URL is set.
//   node app.js          (PORT=8080 node app.js for another port)
//   REDIS_URL=redis://127.0.0.1:6380 [REDIS_PREFIX=koa:sess:] node app.js
// With Redis, the C example server (examples/c-server, --redis URL) given the same Redis,
// prefix and SESSION_KEY (its --keys) shares these sessions: same cookie, same record.
const Koa = require('koa');
const session = require('koa-session-ts');

const app = new Koa();
app.keys = [process.env.SESSION_KEY || 'demo-only-key-change-me'];

let store; // undefined: the default MemoryStore
if (process.env.REDIS_URL) {
  store = new session.RedisStore({ url: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX || 'koa:sess:' });
  store.on('DISCONNECT', () => console.warn('session store: Redis unreachable'));
  store.on('CONNECT', () => console.info('session store: Redis connected'));
}

app.use(session({ store, cookieOptions: { maxAge: 30 * 60 * 1000, sameSite: 'lax' } }));

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(ctx, body) {
  ctx.type = 'html';
  ctx.body = `<!doctype html><title>koa-session-ts demo</title>
<h1>koa-session-ts demo</h1>
${body}
<p>session id: <code>${escape(ctx.sessionId)}</code></p>
<p><a href="/">counter</a> · <a href="/login?user=alice">log in as alice</a> · <a href="/logout">log out</a></p>`;
}

app.use(async (ctx) => {
  switch (ctx.path) {
    case '/': {
      ctx.session.views = (ctx.session.views || 0) + 1;
      const who = ctx.session.user ? `Logged in as <b>${escape(ctx.session.user)}</b>.` : 'Not logged in.';
      return page(ctx, `<p>${who}</p><p>You have seen this page ${ctx.session.views} time(s).</p>`);
    }
    case '/login': {
      const user = String(ctx.query.user || '').trim();
      if (!/^[\w.-]{1,64}$/.test(user)) {
        ctx.status = 400;
        return page(ctx, '<p>Give a user name: <code>/login?user=alice</code></p>');
      }
      // A new session id at login: the old record is destroyed, the data starts fresh.
      const views = ctx.session.views || 0;
      await ctx.regenerateSession();
      ctx.session.user = user;
      ctx.session.views = views;
      return ctx.redirect('/');
    }
    case '/logout':
      ctx.session = null; // destroys the record and clears the cookies
      return ctx.redirect('/');
    case '/api/session':
      ctx.body = { sessionId: ctx.sessionId, session: ctx.session };
      return;
    default:
      ctx.status = 404;
      return page(ctx, '<p>Not found.</p>');
  }
});

const port = Number(process.env.PORT || 3000);
const host = '127.0.0.1';
const server = app.listen(port, host, () => {
  console.log(`koa-session-ts demo listening on http://${host}:${server.address().port}/`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    if (store) store.quit();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
