// ESM: the default import and a named one.
import Koa from 'koa';
import session, { MemoryStore } from 'koa-session-ts';

const app = new Koa();
app.keys = ['fresh-app secret'];
app.use(session({ store: new MemoryStore() }));
app.use(async (ctx) => {
  ctx.session.views = (ctx.session.views || 0) + 1;
  ctx.body = { form: 'esm', views: ctx.session.views };
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
