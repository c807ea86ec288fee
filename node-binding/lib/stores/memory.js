'use strict';
const { JsonStore, kJsonStore } = require('./json-store');
const { NativeMemoryStore, STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH } = require('../../loader');

const kNative = Symbol('koa-session-ts.nativeMemoryStore');
// The native store's registry id, read once (a native getter costs more than the lookup).
const kId = Symbol('koa-session-ts.nativeMemoryStoreId');

/**
 * An in-process store on the engine's native MemoryStore: sessions are held as JSON (so
 * `get` always returns a new object and nothing read can change what is stored), expire by
 * TTL without a timer per entry, and may be capped with `{ maxEntries }`.
 * `new MemoryStore()`, `new MemoryStore(prefix)` or `new MemoryStore({ prefix, maxEntries })`.
 */
class MemoryStore extends JsonStore {
  constructor(options) {
    const o = options !== null && typeof options === 'object' ? options : { prefix: options };
    const native = new NativeMemoryStore(o.maxEntries);
    super(o.prefix ?? 'koa:sess');
    Object.defineProperties(this, { [kNative]: { value: native }, [kId]: { value: native.id } });
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

// Synchronous; mergeJson never answers 'conflict' (it runs under the store's lock).
Object.defineProperty(MemoryStore.prototype, kJsonStore, {
  value: Object.freeze({
    getJson: (store, sid) => store[kNative].getJson(sid),
    setJson: (store, sid, json, ttlMs) => store[kNative].setJson(sid, json, ttlMs),
    destroyJson: (store, sid) => store[kNative].destroy(sid),
    mergeJson: (store, sid, loadedJson, json, ttlMs) => store[kNative].mergeJson(sid, loadedJson, json, ttlMs),
    touchJson: (store, sid, ttlMs) => store[kNative].touch(sid, ttlMs),
    caps: STORE_CAN_COMPARE_AND_SET | STORE_CAN_TOUCH,
    memoryId: (store) => store[kId],
  }),
});

module.exports = { MemoryStore };
