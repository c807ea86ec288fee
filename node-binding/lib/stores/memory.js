'use strict';
const { JsonStore, kJsonStore } = require('./json-store');
const { NativeMemoryStore, STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH } = require('../../loader');

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
    const caps = STORE_CAN_COMPARE_AND_SET | STORE_CAN_TOUCH;
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
}

module.exports = { MemoryStore };
