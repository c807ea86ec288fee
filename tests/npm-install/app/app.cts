// Strict TypeScript, CommonJS (module: nodenext, .cts): `import = require` and the
// default import (the `default` property).
import Koa = require('koa');
import type { AddressInfo } from 'node:net';
import session = require('koa-session-ts');
import fromDefault from 'koa-session-ts';

const app = new Koa();
app.keys = ['fresh-app secret'];
const middleware: Koa.Middleware = fromDefault({ store: new session.MemoryStore({ maxEntries: 100 }) });
app.use(middleware);
app.use(session.default());
app.use(async (ctx) => {
  const s: session.Session = ctx.session;
  s.views = (typeof s.views === 'number' ? s.views : 0) + 1;
  ctx.sessionSave = null;
  ctx.body = { form: 'cts', views: s.views };
});
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
