// CommonJS: require('koa-session-ts') as the README shows it.
const Koa = require('koa');
const session = require('koa-session-ts');
const { MemoryStore } = require('koa-session-ts');

const app = new Koa();
app.keys = ['fresh-app secret'];
app.use(session({ store: new MemoryStore() }));
app.use(async (ctx) => {
  ctx.session.views = (ctx.session.views || 0) + 1;
  ctx.body = { form: 'cjs', views: ctx.session.views };
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
