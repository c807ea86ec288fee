'use strict';
const { BaseStore, storeTtl } = require('../base-store');
const { NativeMemoryStore, STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH } = require('../../loader');
const { kJsonStore } = require('./json-store');
const { serialize } = require('../session-json');

const kNative = Symbol('koa-session-ts.nativeMemoryStore');
// The native store's registry id, read once (a native getter costs more than the lookup).
const kId = Symbol('koa-session-ts.nativeMemoryStoreId');

/**
 * An in-process store on the engine's native MemoryStore: sessions are held as JSON (so
 * `get` always returns a new object and nothing read can change what is stored), expire by
 * TTL without a timer per entry, and may be capped with `{ maxEntries }`.
 * `new MemoryStore()`, `new MemoryStore(prefix)` or `new MemoryStore({ prefix, maxEntries })`.
 */
class MemoryStore extends BaseStore {
  constructor(options) {
    const o = options !== null && typeof options === 'object' ? options : { prefix: options };
    super(o.prefix === undefined || o.prefix === null ? 'koa:sess' : o.prefix);
    const max = o.maxEntries;
    if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 0xffffffff)) {
      throw new TypeError('MemoryStore: option "maxEntries" must be a positive integer');
    }
    const native = new NativeMemoryStore({ maxEntries: max });
    Object.defineProperty(this, kNative, { value: native });
    Object.defineProperty(this, kId, { value: native.id });
  }

  async get(sid) {
    const json = this[kNative].getJson(String(sid));
    return json === null ? null : JSON.parse(json);
  }

  async set(sid, sess, ttl) {
    const json = serialize(sess);
    this[kNative].setJson(String(sid), json, storeTtl(sess, ttl));
  }

  async destroy(sid) {
    this[kNative].destroy(String(sid));
  }

  /** Extends a session's expiry; resolves false when there is no such session. */
  async touch(sid, ttl) {
    return this[kNative].touch(String(sid), Number(ttl));
  }

  /** Sessions held (expired ones not yet swept included). */
  get size() {
    return this[kNative].size;
  }

  /** Removes expired sessions now (they also go lazily); returns how many went. */
  sweep() {
    return this[kNative].sweep();
  }
}

Object.defineProperty(MemoryStore.prototype, kJsonStore, {
  value: Object.freeze({
    get: MemoryStore.prototype.get,
    set: MemoryStore.prototype.set,
    destroy: MemoryStore.prototype.destroy,
    getJson: (store, sid) => store[kNative].getJson(sid),
    setJson: (store, sid, json, ttlMs) => store[kNative].setJson(sid, json, ttlMs),
    destroyJson: (store, sid) => store[kNative].destroy(sid),
    // Synchronous, like the others: 'merged' | 'gone'; true when the session existed.
    mergeJson: (store, sid, loadedJson, json, ttlMs) => store[kNative].mergeJson(sid, loadedJson, json, ttlMs),
    touchJson: (store, sid, ttlMs) => store[kNative].touch(sid, ttlMs),
    caps: STORE_CAN_COMPARE_AND_SET | STORE_CAN_TOUCH,
    // For the middleware's native calls that read and write this store themselves.
    memoryId: (store) => store[kId],
  }),
});

module.exports = { MemoryStore };
