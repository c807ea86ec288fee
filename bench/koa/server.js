'use strict';
// One Koa app per session layer, same routes for all:
//   /new    a new visitor whose handler writes the session
//   /read   a returning visitor that only reads
//   /write  a returning visitor that writes every request
// Usage: node server.js <variant> <port> [redisPort]
const path = require('path');
const Koa = require('koa');

const [variant, port, redisPort] = process.argv.slice(2);
const app = new Koa();
app.keys = ['bench-key-1', 'bench-key-2'];
app.silent = true;

function ours() {
  const m = require(path.join(__dirname, '..', '..', 'node-binding'));
  return { session: m.default || m, RedisStore: m.RedisStore };
}

const variants = {
  bare: () => null,
  'ours-memory': () => ours().session(),
  'ours-redis': () => {
    const { session, RedisStore } = ours();
    return session({ store: new RedisStore({ url: `redis://127.0.0.1:${redisPort}` }) });
  },
  'koa-session-ts-0.2.3': () => require('koa-session-ts-0.2.3').default(),
  'koa-generic-session-memory': () => require('koa-generic-session')(),
  'koa-generic-session-redis': () =>
    require('koa-generic-session')({ store: require('koa-redis')({ host: '127.0.0.1', port: Number(redisPort) }) }),
  'koa-session-7-cookie': () => require('koa-session').createSession({ signed: true }, app),
  'koa-session-7-map': () => {
    const map = new Map();
    const store = {
      get: (key) => map.get(key),
      set: (key, sess) => { map.set(key, sess); },
      destroy: (key) => { map.delete(key); },
    };
    return require('koa-session').createSession({ signed: true, store }, app);
  },
};

if (!variants[variant]) {
  console.error(`unknown variant ${variant}; one of ${Object.keys(variants).join(', ')}`);
  process.exit(2);
}
const middleware = variants[variant]();
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
    default:
      ctx.status = 404;
  }
});

const server = app.listen(Number(port), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
