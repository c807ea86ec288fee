// @ts-check
// Plain JavaScript checked by tsc (checkJs): the README's require form.
const Koa = require('koa');
const session = require('koa-session-ts');

const app = new Koa();
app.keys = ['fresh-app secret'];
app.use(session({ store: new session.MemoryStore(), cookieOptions: { maxAge: 30 * 60 * 1000 } }));
app.use(async (ctx) => {
  ctx.session.views = (ctx.session.views || 0) + 1;
  ctx.body = { form: 'ts-check', views: ctx.session.views };
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${address && typeof address === 'object' ? address.port : address}`);
});
