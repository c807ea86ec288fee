'use strict';
const { BaseStore, CONNECT, DISCONNECT, storeTtl } = require('../base-store');
const { NativeRedisStore, STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH } = require('../../loader');
const { kJsonStore } = require('./json-store');
const { serialize } = require('../session-json');

const kNative = Symbol('koa-session-ts.nativeRedisStore');
const kReported = Symbol('koa-session-ts.reportedState');

/** Error codes of failed operations, by the native reply's errorKind. */
const CODES = Object.freeze({
  unavailable: 'ERR_REDIS_UNAVAILABLE',
  timeout: 'ERR_REDIS_TIMEOUT',
  backend: 'ERR_REDIS_SERVER',
  rejected: 'ERR_REDIS_REJECTED',
  closed: 'ERR_REDIS_CLOSED',
});

function typeError(message) {
  return new TypeError(`RedisStore: ${message}`);
}

function checkOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw typeError('options must be an object: { url } for one server or { nodes } for a Redis Cluster');
  }
  const { url, nodes, prefix = 'koa:sess:', connectTimeout, responseTimeout, failoverTimeout } = options;
  let { waitForReplica } = options;
  if (url !== undefined && typeof url !== 'string') throw typeError('option "url" must be a string such as redis://127.0.0.1:6379');
  if (nodes !== undefined && (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every((n) => typeof n === 'string'))) {
    throw typeError('option "nodes" must be a non-empty array of node URLs (strings)');
  }
  if ((url === undefined) === (nodes === undefined)) {
    throw typeError('give exactly one of the options "url" (one server) and "nodes" (a Redis Cluster)');
  }
  if (typeof prefix !== 'string') throw typeError('option "prefix" must be a string');
  if (waitForReplica === false || waitForReplica === null) waitForReplica = undefined;
  // true: wait as long as one answer may take.
  if (waitForReplica === true) waitForReplica = responseTimeout === undefined ? 2000 : responseTimeout;
  const limits = [
    ['connectTimeout', connectTimeout],
    ['responseTimeout', responseTimeout],
    ['failoverTimeout', failoverTimeout],
    ['waitForReplica', waitForReplica],
  ];
  for (const [name, v] of limits) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > 86400000)) {
      throw typeError(`option "${name}" must be a number of ms from 1 to 86400000`);
    }
  }
  return { url, nodes, prefix, connectTimeout, responseTimeout, failoverTimeout, waitForReplica };
}

function checkSid(sid, method) {
  if (typeof sid !== 'string') throw new TypeError(`RedisStore#${method}: the session id must be a string`);
  return sid;
}

/** Brings the emitted CONNECT / DISCONNECT in line with the native state (transitions only). */
function report(store) {
  const state = store[kNative].state;
  if (state !== 'connected' && state !== 'disconnected') return;
  if (store[kReported] === state) return;
  store[kReported] = state;
  store.emit(state === 'connected' ? CONNECT : DISCONNECT);
}

/**
 * The native reply as a value, or an Error with a stable `code` (the server's message kept).
 * Values are strings, booleans or null; a failure is the only object.
 */
function settle(store, reply) {
  const failed = reply !== null && typeof reply === 'object';
  // A success while CONNECT is the last event reported has nothing new to report; the
  // native state read is skipped on that common path (it costs a native call).
  if (failed || store[kReported] !== 'connected') report(store);
  if (!failed) return reply;
  const err = new Error(reply.error || `redis: ${reply.errorKind}`);
  err.code = CODES[reply.errorKind] || 'ERR_REDIS';
  throw err;
}

function getJson(store, sid) {
  return store[kNative].getJson(sid).then((r) => settle(store, r));
}

function setJson(store, sid, json, ttlMs) {
  return store[kNative].setJson(sid, json, ttlMs).then((r) => { settle(store, r); });
}

function destroyJson(store, sid) {
  return store[kNative].destroy(sid).then((r) => { settle(store, r); });
}

/** Resolves 'merged' | 'gone' | 'conflict' (see NativeRedisStore#mergeJson). */
function mergeJson(store, sid, loadedJson, json, ttlMs) {
  return store[kNative].mergeJson(sid, loadedJson, json, ttlMs).then((r) => settle(store, r));
}

/** Resolves true when the session existed (PEXPIRE), false when not (nothing created). */
function touchJson(store, sid, ttlMs) {
  return store[kNative].touch(sid, ttlMs).then((r) => settle(store, r));
}

/**
 * Sessions in Redis or a Redis Cluster, on the engine's native RedisStore (redis-rs on tokio):
 * key `<prefix><sid>`, value the session JSON, expiry set with the write (`SET ... PX`) — the
 * records koa-generic-session + koa-redis keep. Connects in the background, reconnects by
 * itself, and emits 'CONNECT' / 'DISCONNECT' on each change, which the middleware's
 * `reconnectTimeout` waits on.
 *
 * `new RedisStore({ url })` or `new RedisStore({ nodes: [url, ...] })`, plus optional
 * `prefix` (default 'koa:sess:'), `connectTimeout` and `responseTimeout` (ms, 2000 each),
 * `failoverTimeout` (Redis Cluster: how long an operation waits for its slot to have a
 * master again, ms, default 10000) and `waitForReplica` (durability, off by default: ms, or
 * true for `responseTimeout`; each write is acknowledged only once a replica holds it).
 *
 * CONNECT / DISCONNECT describe the store as a whole: for a cluster, DISCONNECT means no
 * master answers. One master lost is a failover: the operations on its slots wait (up to
 * `failoverTimeout`) and the others go on; no event is emitted for it.
 */
class RedisStore extends BaseStore {
  constructor(options) {
    const o = checkOptions(options);
    super(o.prefix);
    // The native side holds the callback for as long as it lives: a weak reference lets an
    // unused store be collected (its connection goes with it).
    const self = new WeakRef(this);
    let native;
    try {
      native = new NativeRedisStore(o, () => {
        const store = self.deref();
        if (store !== undefined) report(store);
      });
    } catch (err) {
      // A malformed URL and the like: a clear error now, never later.
      const e = new Error(err.message);
      e.code = 'ERR_REDIS_CONFIG';
      throw e;
    }
    Object.defineProperty(this, kNative, { value: native });
    Object.defineProperty(this, kReported, { value: null, writable: true });
  }

  /** A new object each call; null for a miss or a record that is not a JSON object. */
  async get(sid) {
    const json = await getJson(this, checkSid(sid, 'get'));
    if (json === null) return null;
    let sess;
    try {
      sess = JSON.parse(json);
    } catch {
      sess = undefined;
    }
    if (sess === null || typeof sess !== 'object' || Array.isArray(sess)) {
      process.emitWarning(`RedisStore: the record under "${this.prefix}${sid}" is not a JSON object; treated as no session`, {
        code: 'KOA_SESSION_CORRUPT_RECORD',
      });
      return null;
    }
    return sess;
  }

  /** Writes the session with its TTL: `ttl` ms when given, else from `sess.cookie`. */
  async set(sid, sess, ttl) {
    checkSid(sid, 'set');
    const json = serialize(sess);
    await setJson(this, sid, json, storeTtl(sess, ttl));
  }

  /** Removes the session; an unknown id is fine. */
  async destroy(sid) {
    await destroyJson(this, checkSid(sid, 'destroy'));
  }

  /** Sets the session's expiry to `ttl` ms from now; resolves false when there is no such session. */
  async touch(sid, ttl) {
    checkSid(sid, 'touch');
    if (typeof ttl !== 'number' || Number.isNaN(ttl)) throw new TypeError('RedisStore#touch: ttl must be a number of ms');
    return settle(this, await this[kNative].touch(sid, ttl));
  }

  /** One PING; resolves true, or rejects like any operation (e.g. to fail fast at startup). */
  async ping() {
    settle(this, await this[kNative].ping());
    return true;
  }

  /** 'connecting' | 'connected' | 'disconnected' | 'closed'. */
  get status() {
    // A change seen here is reported first, so listeners never learn of it after a reader did.
    report(this);
    return this[kNative].state;
  }

  /**
   * false while the server is unreachable: from the DISCONNECT this store reports until its
   * next CONNECT; true otherwise (connecting and closed included). A middleware created while
   * it is false starts out waiting for CONNECT, as if it had heard the DISCONNECT.
   */
  get connected() {
    return this.status !== 'disconnected';
  }

  /** Closes the connection; later operations reject with code ERR_REDIS_CLOSED. Idempotent. */
  async close() {
    this[kNative].close();
  }

  /** The same as close() (koa-redis' name). */
  async quit() {
    this[kNative].close();
  }
}

Object.defineProperty(RedisStore.prototype, kJsonStore, {
  value: Object.freeze({
    get: RedisStore.prototype.get,
    set: RedisStore.prototype.set,
    destroy: RedisStore.prototype.destroy,
    getJson,
    setJson,
    destroyJson,
    mergeJson,
    touchJson,
    caps: STORE_CAN_COMPARE_AND_SET | STORE_CAN_TOUCH,
  }),
});

module.exports = { RedisStore };
