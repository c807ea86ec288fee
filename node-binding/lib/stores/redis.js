'use strict';
const { CONNECT, DISCONNECT } = require('../base-store');
const { JsonStore, kJsonStore } = require('./json-store');
const { batchOf, walkIds } = require('./operators');
const { NativeRedisStore, STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH, STORE_CAN_USER_INDEX } = require('../../loader');

const kNative = Symbol('koa-session-ts.nativeRedisStore');
const kReported = Symbol('koa-session-ts.reportedState');

/** Brings the emitted CONNECT / DISCONNECT in line with the native state (transitions only). */
function report(store) {
  const state = store[kNative].state;
  if ((state !== 'connected' && state !== 'disconnected') || store[kReported] === state) return;
  store[kReported] = state;
  store.emit(state === 'connected' ? CONNECT : DISCONNECT);
}

/** The native reply's value, or its failure thrown as an Error with the failure's stable `code`. */
function settle(store, reply) {
  const failed = reply !== null && typeof reply === 'object' && !Array.isArray(reply);
  // A success while CONNECT is the last event reported has nothing new to report; the
  // native state read is skipped on that common path (it costs a native call).
  if (failed || store[kReported] !== 'connected') report(store);
  if (failed) throw Object.assign(new Error(reply.error), { code: reply.code });
  return reply;
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
 * A wrong option is a TypeError naming it; a malformed URL an Error with code ERR_REDIS_CONFIG.
 *
 * CONNECT / DISCONNECT describe the store as a whole: for a cluster, DISCONNECT means no
 * master answers. One master lost is a failover: the operations on its slots wait (up to
 * `failoverTimeout`) and the others go on; no event is emitted for it.
 */
class RedisStore extends JsonStore {
  constructor(options) {
    // The native side holds the state callback for as long as it lives: a weak reference
    // lets an unused store be collected (its connection goes with it).
    let self = null;
    const native = new NativeRedisStore(options, () => {
      if (self?.deref() !== undefined) report(self.deref());
    });
    super(native.prefix);
    self = new WeakRef(this);
    // The JSON methods (json-store.js): the native ones, their replies settled.
    const settled = (reply) => reply.then((r) => settle(this, r));
    const json = {
      getJson: (sid) => settled(native.getJson(sid)),
      setJson: (sid, json, ttlMs) => settled(native.setJson(sid, json, ttlMs)),
      destroyJson: (sid) => settled(native.destroyJson(sid)),
      mergeJson: (sid, loaded, json, ttlMs) => settled(native.mergeJson(sid, loaded, json, ttlMs)),
      touchJson: (sid, ttlMs) => settled(native.touchJson(sid, ttlMs)),
      indexUserSession: (user, sid, nowMs) => settled(native.indexUserSession(user, sid, nowMs)),
      userSessions: (field, user, nowMs) => settled(native.userSessions(field, user, nowMs)),
      destroyUserSessions: (user, except) => settled(native.destroyUserSessions(user, except)),
      caps: STORE_CAN_COMPARE_AND_SET | STORE_CAN_TOUCH | STORE_CAN_USER_INDEX,
    };
    Object.defineProperties(this, { [kNative]: { value: native }, [kJsonStore]: { value: json }, [kReported]: { value: null, writable: true } });
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

  /**
   * Resolves to the number of sessions: the keys under this store's prefix, counted with
   * SCAN on the server or on every master of a cluster (in time proportional to the keys).
   */
  async length() {
    return settle(this, await this[kNative].length());
  }

  /**
   * Every session id (without the prefix), as an async iterator fetching about `batch` ids
   * at a time (default 1000) with SCAN MATCH <prefix>*, on every master of a cluster:
   * `for await (const id of store.ids({ batch: 100 }))`. As SCAN: an id held for the whole
   * walk comes at least once. Ids are credentials: never show or log them.
   */
  ids(options) {
    const batch = batchOf(this, options);
    const native = this[kNative];
    // A page is an array, the one object reply that is not a failure.
    return walkIds(async (cursor, n) => {
      const reply = await native.idsPage(cursor, n);
      return Array.isArray(reply) ? (report(this), reply) : settle(this, reply);
    }, batch);
  }

  /**
   * Removes every session of this store: the keys under its prefix only (others' keys are
   * never touched), found with SCAN and removed with UNLINK batch by batch, on every master of
   * a cluster. Resolves to how many went.
   */
  async clear() {
    return settle(this, await this[kNative].clear());
  }

  /** Closes the connection; later operations reject with code ERR_REDIS_CLOSED. Idempotent. */
  async close() {
    this[kNative].close();
  }

}

/** The same as close() (koa-redis' name). */
RedisStore.prototype.quit = RedisStore.prototype.close;

module.exports = { RedisStore };
