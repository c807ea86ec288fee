// Type-checked by `make test-node` (tsc --noEmit): every option, every ctx property, stores.
// This file is CommonJS (package.json has no "type"): koa-session-ts resolves to index.d.ts.
import Koa from 'koa';
import session, { BaseStore, MemoryStore, RedisStore, CONNECT, DISCONNECT } from 'koa-session-ts';
import type { Session, SessionObject, SessionOptions, SessionStore, RedisStoreOptions, StoreIdsOptions, UserSessionInfo } from 'koa-session-ts';

class MapStore extends BaseStore {
  private data = new Map<string, string>();
  async get(sid: string): Promise<Session | null> {
    const v = this.data.get(sid);
    return v === undefined ? null : (JSON.parse(v) as Session);
  }
  async set(sid: string, sess: Session, ttl?: number): Promise<number> {
    const ms: number = await super.set(sid, sess, ttl);
    this.data.set(sid, JSON.stringify(sess));
    return ms;
  }
  async destroy(sid: string): Promise<void> {
    this.data.delete(sid);
  }
}

const thunkStore: SessionStore = {
  get: (sid: string) => (cb: (err: unknown, value?: Session | null) => void) => cb(null, sid ? null : null),
  set: function* (_sid: string, _sess: Session) {
    yield Promise.resolve();
  },
  destroy: (_sid: string) => undefined,
};

const store = new MapStore('app:sess:');
store.emit(CONNECT);
store.on(DISCONNECT, () => undefined);

const options: SessionOptions = {
  key: 'app.sid',
  store,
  reconnectTimeout: 5000,
  cookieOptions: {
    httpOnly: true,
    maxAge: 3600_000,
    expires: new Date(Date.now() + 3600_000),
    overwrite: true,
    path: '/',
    domain: 'example.com',
    secure: false,
    signed: true,
    sameSite: 'lax',
    priority: 'high',
    partitioned: false,
  },
  defer: false,
  rolling: true,
  allowEmpty: false,
  genSid: (_ctx, length) => `id-${length}`,
  errorHandler: (err, type, ctx) => {
    ctx.status = 503;
    if (type === 'get') return;
    throw err;
  },
  errorHanlder: async () => undefined,
  valid: (ctx, s) => s.cookie !== undefined && ctx.path !== '/x',
  beforeSave: async (_ctx, s) => {
    s.savedAt = Date.now();
  },
};

const app = new Koa();
app.keys = ['k1', 'k2'];
app.use(session(options));
app.use(session({ store: thunkStore, defer: false, genSid: async () => 'async-id' }));
app.use(session({ store: new MemoryStore({ maxEntries: 1000 }) }));
app.use(session());

app.use(async (ctx, next) => {
  const s: Session = ctx.session;
  s.views = (s.views ?? 0) + 1;
  const id: string | undefined = ctx.sessionId;
  ctx.sessionSave = true;
  ctx.sessionSave = null;
  const st: SessionStore = ctx.sessionStore;
  const fresh: Session = await ctx.regenerateSession();
  fresh.user = 'ann';
  ctx.session = { cookie: { maxAge: 1000 }, user: 'bob' };
  ctx.session = null;
  ctx.body = { id, st: typeof st };
  await next();
});

// Typed contexts work too.
interface AppState {
  user?: string;
}
const typed = new Koa<AppState, { requestId: string }>();
typed.use(session()).use(async (ctx) => {
  const user: string | undefined = ctx.state.user;
  ctx.body = `${ctx.requestId} ${user} ${ctx.sessionId}`;
});
const plain: Koa.Middleware = session();
void plain;
typed.use(async (ctx) => {
  ctx.session.count = 1;
  // koa-session's session API (passport calls regenerate and save).
  const fresh: SessionObject | void = await ctx.session.regenerate();
  void fresh;
  ctx.session.regenerate((err?: Error) => void err);
  await ctx.session.save();
  const isNew: boolean = ctx.session.isNew;
  const populated: boolean = ctx.session.populated;
  ctx.session.maxAge = 7 * 86400000;
  void [isNew, populated];
  // @ts-expect-error isNew is read-only
  ctx.session.isNew = true;
  ctx.body = ctx.requestId + String(ctx.state.user) + String(ctx.sessionId);
});

const mem = new MemoryStore();
void mem.get('x').then((s: Session | null) => s?.cookie.maxAge);
void mem.touch('x', 1000).then((b: boolean) => b);
const n: number = mem.size + mem.sweep();
void n;

const redisOptions: RedisStoreOptions = { url: 'redis://127.0.0.1:6380/0', prefix: 'app:sess:', connectTimeout: 500, responseTimeout: 500 };
const redis = new RedisStore(redisOptions);
const cluster = new RedisStore({ nodes: ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'] });
app.use(session({ store: redis, reconnectTimeout: 1500 }));
redis.on(CONNECT, () => undefined);
void redis.get('x').then((s: Session | null) => s?.cookie);
void redis.touch('x', 1000).then((b: boolean) => b);
void redis.ping().then((ok: true) => ok);
const status: 'connecting' | 'connected' | 'disconnected' | 'closed' = cluster.status;
void status;
void redis.quit();
void cluster.close();
// Operator calls: a count, ids in batches (an async iterator), clear.
void (async () => {
  const total: number = (await mem.length()) + (await redis.length());
  const batch: StoreIdsOptions = { batch: 100 };
  for await (const id of redis.ids(batch)) void (id satisfies string);
  for await (const id of mem.ids()) void id.length;
  const removed: number = (await mem.clear()) + (await cluster.clear());
  void [total, removed];
  // @ts-expect-error: the batch size is a number
  mem.ids({ batch: '10' });
})();

// @ts-expect-error: options are type-checked
session({ rolling: 'yes' });
// @ts-expect-error: defer: true needs `interface TypeOptions { defer: true }` (tests/npm-install/app/defer.mts)
session({ defer: true });
// A store that is down when a middleware is created says so with connected === false.
const down: SessionStore = { ...thunkStore, connected: false };
void down;
const redisUp: boolean = redis.connected;
void redisUp;
// @ts-expect-error: RedisStore needs its options
new RedisStore();
// @ts-expect-error: sessionSave is boolean or null
app.use(async (ctx) => { ctx.sessionSave = 'x'; });

// Log out everywhere: userField, and the user-index calls of the native stores.
app.use(session({ store: redis, userField: 'passport.user' }));
app.use(async (ctx) => {
  const others: number = await redis.destroyUserSessions('42', { except: ctx.sessionId ?? null });
  const mine: UserSessionInfo[] = await mem.userSessions(42);
  for (const s of mine) void [s.since satisfies number, s.session.cookie, s.id satisfies string];
  void others;
  // @ts-expect-error: except is a session id
  await redis.destroyUserSessions('42', { except: 5 });
  // Through ctx.sessionStore: optional on the store interface, so asserted.
  const ended: number = await ctx.sessionStore.destroyUserSessions!('42', { except: ctx.sessionId });
  const listed: UserSessionInfo[] | undefined = await ctx.sessionStore.userSessions?.('42');
  void [ended, listed];
  // @ts-expect-error: a store need not have it
  await ctx.sessionStore.destroyUserSessions('42');
});
const indexing: SessionStore = { ...thunkStore, indexUserSession: async (_user: string, _sid: string) => undefined };
void indexing;

// Session lifetimes (ms; 0 or null: off).
app.use(session({ store: mem, idleTimeout: 30 * 60 * 1000, absoluteTimeout: 8 * 60 * 60 * 1000 }));
const lifetimes: SessionOptions = { idleTimeout: null, absoluteTimeout: 0 };
void lifetimes;
// @ts-expect-error: a number of ms
session({ idleTimeout: '30m' });
// @ts-expect-error: a number of ms
session({ absoluteTimeout: true });
// Id renewal (ms; renewInterval 0 or null: off; renewGrace 0 or null: 60 s).
app.use(session({ store: mem, renewInterval: 15 * 60 * 1000, renewGrace: 30 * 1000, idleTimeout: 30 * 60 * 1000 }));
const renewal: SessionOptions = { renewInterval: null, renewGrace: 0 };
void renewal;
// @ts-expect-error: a number of ms
session({ renewInterval: '15m' });
// @ts-expect-error: a number of ms
session({ renewGrace: false });
