// Types for koa-session-ts, CommonJS form (hand-written; the addon's own generated types are
// in native/binding.d.ts). The `require` entry, lib/index.js, exports the session() function
// itself, with the stores, the constants, `default` and `session` as its properties: so these
// declarations are `export =` of a function merged with a namespace. The ESM entry's types,
// index.d.mts, re-export them. Works with @types/koa 2.x and 3.x.
import type { EventEmitter } from 'node:events';
import type { Middleware, ParameterizedContext } from 'koa';

type KoaContext = ParameterizedContext<any, any, any>;

/**
 * Returns the Koa middleware. `options.defer: true` needs the `TypeOptions` declaration
 * (see `session.TypeOptions`), so that `ctx.session` is typed as the Promise it then is.
 * The context properties come from the augmentation of Koa's ExtendableContext below; the
 * middleware asks nothing of the app's state and context types (`{}`), so it fits any app,
 * typed ones included, and `Koa.Middleware`.
 */
declare function session(options?: session.SessionOptions): Middleware<{}, {}>;

// `typeof session` inside the namespace would name the namespace's own `session` member.
type SessionFunction = typeof session;

declare namespace session {
  /** The per-session cookie options kept inside the session (`ctx.session.cookie`). */
  export interface SessionCookie {
    httpOnly?: boolean;
    /** Lifetime in ms; null or 'session' for a browser-session cookie. */
    maxAge?: number | null | 'session';
    expires?: Date | string | number | null;
    overwrite?: boolean;
    path?: string | null;
    domain?: string | null;
    secure?: boolean;
    signed?: boolean;
    sameSite?: boolean | 'strict' | 'lax' | 'none' | 'Strict' | 'Lax' | 'None';
    priority?: 'low' | 'medium' | 'high' | 'Low' | 'Medium' | 'High';
    partitioned?: boolean;
  }

  /** A session: its cookie options plus whatever the application stores (JSON data). */
  export interface Session {
    cookie: SessionCookie;
    [key: string]: any;
  }

  /**
   * Type-level settings, declared once per program by augmenting this interface:
   *
   * ```ts
   * declare module 'koa-session-ts' {
   *   interface TypeOptions { defer: true }
   * }
   * ```
   *
   * - `defer: true`: `ctx.session` is typed `Promise<Session>` (for apps that pass
   *   `defer: true`), and `session({ defer: true })` type-checks (`defer: false` does not).
   *   Without it, `ctx.session` is a `Session` and `defer: true` is a type error, so an
   *   explicit option and the types cannot disagree.
   * - `defer: boolean`: a program with both kinds of middleware; `ctx.session` is
   *   `Session | Promise<Session>` (narrow it, or `await` it: awaiting a session is harmless).
   */
  export interface TypeOptions {}

  /** `TypeOptions['defer']`, or false when it is not declared. */
  export type Deferred = TypeOptions extends { defer: infer D extends boolean } ? D : false;

  /** What `ctx.session` reads as: a Session, or a Promise of one with `defer`. */
  export type SessionValue = Deferred extends true ? Promise<Session> : Session;

  /** What a store method may return: a value, a Promise, a thunk or a generator. */
  export type StoreResult<T> =
    | T
    | PromiseLike<T>
    | ((callback: (err: unknown, value?: T) => void) => void)
    | Generator<unknown, T, any>;

  /** The store interface. `get` resolving null/undefined (or failing with code ENOENT) is a miss. */
  export interface SessionStore {
    get(sid: string): StoreResult<Session | null | undefined>;
    set(sid: string, session: Session, ttl?: number): StoreResult<unknown>;
    destroy(sid: string): StoreResult<unknown>;
    touch?(sid: string, ttl: number): StoreResult<unknown>;
    on?(event: string, listener: (...args: any[]) => void): unknown;
    /**
     * Optional: `false` when the store is down right now (it emitted DISCONNECT and no
     * CONNECT since). A middleware created while it is false treats the store as
     * disconnected from the start; any other value (or none) counts as up.
     */
    readonly connected?: boolean;
  }

  export const CONNECT: 'CONNECT';
  export const DISCONNECT: 'DISCONNECT';

  /** Base class for stores: an EventEmitter that reports CONNECT / DISCONNECT. */
  export abstract class BaseStore extends EventEmitter implements SessionStore {
    prefix: string;
    constructor(prefix?: string);
    abstract get(sid: string): StoreResult<Session | null | undefined>;
    /** Resolves to the TTL in ms: `ttl` when given, else from `sess.cookie.maxAge` / `expires`. */
    set(sid: string, sess: Session, ttl?: number): Promise<any>;
    abstract destroy(sid: string): StoreResult<unknown>;
    /** See SessionStore#connected: set it false with DISCONNECT and true with CONNECT. */
    connected?: boolean;
  }

  export interface MemoryStoreOptions {
    prefix?: string;
    /** At most this many sessions; at the limit the one closest to expiry is evicted. */
    maxEntries?: number;
  }

  /** In-process store on the native engine: JSON copies, TTL expiry, optional size cap. */
  export class MemoryStore extends BaseStore {
    constructor(options?: string | MemoryStoreOptions | null);
    get(sid: string): Promise<Session | null>;
    set(sid: string, sess: Session, ttl?: number): Promise<void>;
    destroy(sid: string): Promise<void>;
    touch(sid: string, ttl: number): Promise<boolean>;
    /** Sessions held (expired ones not yet swept included). */
    readonly size: number;
    /** Removes expired sessions now; returns how many went. */
    sweep(): number;
  }

  export interface RedisStoreOptions {
    /** One server: `redis://[user:pass@]host[:port][/db]`, `rediss://...`, `unix:///path.sock`. */
    url?: string;
    /** A Redis Cluster: one or more node URLs (the others are discovered). Give url or nodes. */
    nodes?: string[];
    /** Key prefix (default 'koa:sess:', as koa-generic-session). */
    prefix?: string;
    /** Limit for one connection attempt, in ms (default 2000). */
    connectTimeout?: number;
    /** Limit for one answer from the server, in ms (default 2000). */
    responseTimeout?: number;
    /**
     * Redis Cluster: how long an operation whose slot lost its master waits for a replica to be
     * promoted, in ms (default 10000). Keep it within the middleware's reconnectTimeout.
     */
    failoverTimeout?: number;
    /**
     * Durability (off by default): each write is acknowledged only once one replica holds it
     * (`WAIT 1 <ms>`); ms, or true for responseTimeout. A master with no replica in sync then
     * refuses writes (ERR_REDIS_UNAVAILABLE).
     */
    waitForReplica?: number | boolean;
  }

  /** `err.code` of a failed RedisStore operation. */
  export type RedisErrorCode =
    | 'ERR_REDIS_UNAVAILABLE'
    | 'ERR_REDIS_TIMEOUT'
    | 'ERR_REDIS_SERVER'
    | 'ERR_REDIS_REJECTED'
    | 'ERR_REDIS_CLOSED';

  /**
   * Sessions in Redis or a Redis Cluster (native, redis-rs on tokio), in the records
   * koa-generic-session + koa-redis keep. Emits CONNECT / DISCONNECT on connection changes.
   */
  export class RedisStore extends BaseStore {
    /** Throws at once for a wrong option type (TypeError) or a malformed URL (code ERR_REDIS_CONFIG). */
    constructor(options: RedisStoreOptions);
    /** A new object; null for a miss or a record that is not a JSON object (with a process warning). */
    get(sid: string): Promise<Session | null>;
    /** TTL: `ttl` ms when given, else from `sess.cookie.maxAge` / `expires`. */
    set(sid: string, sess: Session, ttl?: number): Promise<void>;
    destroy(sid: string): Promise<void>;
    /** Resolves false when there is no such session. */
    touch(sid: string, ttl: number): Promise<boolean>;
    ping(): Promise<true>;
    readonly status: 'connecting' | 'connected' | 'disconnected' | 'closed';
    /** false from a reported DISCONNECT until the next CONNECT; true otherwise. */
    readonly connected: boolean;
    close(): Promise<void>;
    quit(): Promise<void>;
  }

  export type ErrorType = 'get' | 'set' | 'destroy';

  export interface SessionOptions {
    /** Cookie name (default 'koa.sid'). */
    key?: string;
    /** Default: a new MemoryStore. */
    store?: SessionStore;
    /** How long requests wait for a disconnected store to come back, in ms (default 10000). */
    reconnectTimeout?: number;
    /** The longest one call to a store of your own may take, in ms (default 5000; 0: no limit). */
    storeTimeout?: number;
    cookieOptions?: SessionCookie;
    /**
     * `ctx.session` becomes a Promise; nothing is loaded unless it is read or set.
     * `true` type-checks once the program declares `interface TypeOptions { defer: true }`
     * (or `defer: boolean`) in `declare module 'koa-session-ts'`, which types `ctx.session`
     * as a Promise: see `TypeOptions`.
     */
    defer?: Deferred;
    /** Re-save the session and re-send the cookie on every request. */
    rolling?: boolean;
    /** Save new sessions even when nothing was put in them. */
    allowEmpty?: boolean;
    /** Session id generator (default: 24 random bytes, base64url). May be async. */
    genSid?: (ctx: KoaContext, length: number) => string | PromiseLike<string>;
    /** Store errors; the default renames the error `session middleware <type> error` and rethrows. */
    errorHandler?: (err: Error, type: ErrorType, ctx: KoaContext) => void | PromiseLike<void>;
    /** The original README's spelling of errorHandler. */
    errorHanlder?: (err: Error, type: ErrorType, ctx: KoaContext) => void | PromiseLike<void>;
    /** false: the loaded session is discarded (new id, old cookie cleared). */
    valid?: (ctx: KoaContext, session: Session) => boolean | PromiseLike<boolean>;
    /** Runs before each store write; may change the session. */
    beforeSave?: (ctx: KoaContext, session: Session) => void | PromiseLike<void>;
  }

  /** Per-request session API added to Koa's context. */
  export interface SessionContext {
    /**
     * The session; set it to null to destroy the session. A `Promise<Session>` when
     * `TypeOptions` declares `defer: true` (then `await ctx.session`).
     */
    get session(): SessionValue;
    set session(value: Session | Record<string, any> | null);
    /** The session id (read-only once the middleware runs; set it upstream to choose the id). */
    sessionId?: string;
    /** null: save when changed; true: force a save; false: touch neither store nor cookie. */
    sessionSave: boolean | null;
    readonly sessionStore: SessionStore;
    /** Destroys the stored session, starts a fresh one under a new id, and returns it. */
    regenerateSession(): Promise<Session>;
  }

  /** The function itself, as `require('koa-session-ts').default` and `import session from`. */
  const _default: SessionFunction;
  export { _default as default };
  /** The function itself, for `const { session } = require('koa-session-ts')`. */
  export const session: SessionFunction;
}

declare module 'koa' {
  interface ExtendableContext extends session.SessionContext {}
}

export = session;
