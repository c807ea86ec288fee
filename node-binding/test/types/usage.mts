// The ESM form (index.d.mts): every name index.mjs exports, as values and as types, and the
// Koa context augmentation seen from an ES module.
import Koa from 'koa';
import session, { session as named, BaseStore, MemoryStore, RedisStore, CONNECT, DISCONNECT } from 'koa-session-ts';
import type { Session, SessionCookie, SessionOptions, SessionStore, StoreResult, RedisErrorCode, ErrorType, SessionContext, TypeOptions } from 'koa-session-ts';
import * as all from 'koa-session-ts';

const same: typeof session = named;
const viaNamespace: typeof session = all.default;
void same;
void viaNamespace;
const events: ['CONNECT', 'DISCONNECT'] = [CONNECT, DISCONNECT];
void events;

class ListStore extends BaseStore {
  get(_sid: string): StoreResult<Session | null> {
    return null;
  }
  destroy(_sid: string): StoreResult<unknown> {
    return undefined;
  }
}
const stores: SessionStore[] = [new ListStore(), new MemoryStore(), new RedisStore({ url: 'redis://127.0.0.1:6380' })];
const cookie: SessionCookie = { sameSite: 'strict' };
const options: SessionOptions = { store: stores[0], cookieOptions: cookie };
const code: RedisErrorCode = 'ERR_REDIS_TIMEOUT';
const type: ErrorType = 'destroy';
const noTypeOptions: TypeOptions = {};
void code;
void type;
void noTypeOptions;

const app = new Koa();
app.use(session(options));
app.use(async (ctx, next) => {
  const s: Session = ctx.session;
  s.n = 1;
  const api: Pick<SessionContext, 'sessionSave'> = ctx;
  api.sessionSave = true;
  await next();
});

const timed: SessionOptions = { store: new MemoryStore(), idleTimeout: 15 * 60 * 1000, absoluteTimeout: null };
const renewing: SessionOptions = { store: new MemoryStore(), renewInterval: 10 * 60 * 1000, renewGrace: null };
app.use(session(renewing));
app.use(session(timed));
