'use strict';
const { JsonStore, kJsonStore } = require('./json-store');
const { batchOf, walkIds } = require('./operators');
const { NativeMemoryStore, STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH, STORE_CAN_USER_INDEX } = require('../../loader');

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
    // The native store has the JSON methods (synchronous; a merge runs under its lock and is
    // never a 'conflict'). Its id is read once: a native getter costs more than a data property.
    const caps = STORE_CAN_COMPARE_AND_SET | STORE_CAN_TOUCH | STORE_CAN_USER_INDEX;
    Object.defineProperty(this, kJsonStore, { value: Object.assign(native, { caps, memoryId: native.id }) });
  }

  /** Sessions held (expired ones not yet swept included). */
  get size() {
    return this[kJsonStore].size;
  }

  /** Removes expired sessions now (they also go lazily); returns how many went. */
  sweep() {
    return this[kJsonStore].sweep();
  }

  /** Resolves to the number of live sessions (expired ones not counted). */
  async length() {
    return this[kJsonStore].length();
  }

  /**
   * Every session id, as an async iterator fetching `batch` ids at a time (default 1000):
   * `for await (const id of store.ids({ batch: 100 }))`. An id held for the whole walk comes
   * exactly once. Ids are credentials: never show or log them.
   */
  ids(options) {
    const batch = batchOf(this, options);
    const native = this[kJsonStore];
    return walkIds(async (cursor, n) => native.idsPage(cursor, n), batch);
  }

  /** Removes every session; resolves to how many went. */
  async clear() {
    return this[kJsonStore].clear();
  }
}

module.exports = { MemoryStore };
