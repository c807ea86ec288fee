// defer: true from CommonJS TypeScript; TypeOptions is declared in defer.mts (one program).
import Koa = require('koa');
import type { AddressInfo } from 'node:net';
import session = require('koa-session-ts');

const app = new Koa();
app.keys = ['fresh-app secret'];
app.use(session({ defer: true }));
app.use(async (ctx) => {
  const pending: Promise<session.Session> = ctx.session;
  const s = await pending;
  s.views = (typeof s.views === 'number' ? s.views : 0) + 1;
  ctx.body = { form: 'defer-cts', views: s.views };
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
