// Strict TypeScript, ES module (module: nodenext): default and named imports, types,
// a store subclass, the Koa context augmentation.
import Koa from 'koa';
import type { AddressInfo } from 'node:net';
import session, { BaseStore, CONNECT, MemoryStore, session as named, type Session, type SessionOptions } from 'koa-session-ts';

class MapStore extends BaseStore {
  private readonly data = new Map<string, string>();
  async get(sid: string): Promise<Session | null> {
    const json = this.data.get(sid);
    return json === undefined ? null : (JSON.parse(json) as Session);
  }
  override async set(sid: string, sess: Session, ttl?: number): Promise<number> {
    const ms: number = await super.set(sid, sess, ttl);
    this.data.set(sid, JSON.stringify(sess));
    return ms;
  }
  async destroy(sid: string): Promise<void> {
    this.data.delete(sid);
  }
}

const options: SessionOptions = { store: new MapStore(), rolling: false };
const app = new Koa();
app.keys = ['fresh-app secret'];
app.use(session(options));
// The same function under its other names; the second middleware on a request does nothing.
app.use(named({ store: new MemoryStore() }));
app.use(async (ctx) => {
  const s: Session = ctx.session;
  s.views = (typeof s.views === 'number' ? s.views : 0) + 1;
  const id: string | undefined = ctx.sessionId;
  ctx.body = { form: 'mts', views: s.views, id: typeof id, store: ctx.sessionStore instanceof MapStore };
});
// Type errors only (never called: the middleware would throw on these options at run time).
function typeErrors(): void {
  // @ts-expect-error: options are type-checked
  session({ rolling: 'yes' });
  // @ts-expect-error: defer: true needs TypeOptions { defer: true } (see tsconfig.defer.json)
  session({ defer: true });
}
void typeErrors;
void CONNECT;
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
