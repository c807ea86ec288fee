// defer: true, typed: the program declares TypeOptions { defer: true }, so ctx.session is a
// Promise (compiled with tsconfig.defer.json: the declaration holds for the whole program).
import Koa from 'koa';
import type { AddressInfo } from 'node:net';
import session, { type Session } from 'koa-session-ts';

declare module 'koa-session-ts' {
  interface TypeOptions {
    defer: true;
  }
}

const app = new Koa();
app.keys = ['fresh-app secret'];
app.use(session({ defer: true }));
app.use(async (ctx) => {
  // @ts-expect-error: with defer the session is a Promise: await it
  ctx.session.views = 1;
  const s: Session = await ctx.session;
  s.views = (typeof s.views === 'number' ? s.views : 0) + 1;
  ctx.body = { form: 'defer-mts', views: s.views };
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
