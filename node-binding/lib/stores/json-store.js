'use strict';
// The stores whose records live as JSON in native code (MemoryStore, RedisStore). Each keeps
// a `kJsonStore` object of string-based methods; JsonStore gives them the object API on top
// of it, and the middleware calls the string methods directly (no parse, no stringify) while
// the store's get/set/destroy are still JsonStore's own (checked on every call, so replacing
// `store.get` at run time is honoured).
//
// The JSON methods:
//   getJson(sid) -> string | null        setJson(sid, json, ttlMs)        destroyJson(sid)
//   touchJson(sid, ttlMs) -> found: a new expiry only; nothing is created
//   mergeJson(sid, loadedJson, json, ttlMs) -> 'merged' | 'gone' | 'conflict'
//     A merging commit: `loadedJson` is the record exactly as getJson returned it, `json` the
//     session now; only the request's top-level changes reach the stored record. 'gone': the
//     record no longer exists and nothing was written; 'conflict': other writers kept winning
//     for the whole retry budget (core/src/merge.rs), nothing was written.
// and the data: `caps` (STORE_CAN_* bits) and, for the MemoryStore, `memoryId` (its registry
// id, by which the engine's calls use it themselves). MemoryStore's methods return values,
// RedisStore's Promises (rejecting with a stable `code`).

const { BaseStore, storeTtl } = require('../base-store');
const { serialize, parseObject } = require('../session-json');

const kJsonStore = Symbol.for('koa-session-ts.jsonStore');

function checkSid(store, sid, method) {
  if (typeof sid !== 'string') throw new TypeError(`${store.constructor.name}#${method}: the session id must be a string`);
  return sid;
}

class JsonStore extends BaseStore {
  /** A new object each call; null for a miss or a record that is not a JSON object. */
  async get(sid) {
    const json = await this[kJsonStore].getJson(checkSid(this, sid, 'get'));
    const sess = json === null ? null : parseObject(json);
    if (sess !== undefined) return sess;
    process.emitWarning(`${this.constructor.name}: the record under "${this.prefix}${sid}" is not a JSON object; treated as no session`, {
      code: 'KOA_SESSION_CORRUPT_RECORD',
    });
    return null;
  }

  /** Writes the session with its TTL: `ttl` ms when given, else from `sess.cookie`. */
  async set(sid, sess, ttl) {
    await this[kJsonStore].setJson(checkSid(this, sid, 'set'), serialize(sess), storeTtl(sess, ttl));
  }

  /** Removes the session; an unknown id is fine. */
  async destroy(sid) {
    await this[kJsonStore].destroyJson(checkSid(this, sid, 'destroy'));
  }

  /** Sets the session's expiry to `ttl` ms from now; resolves false when there is no such session. */
  async touch(sid, ttl) {
    checkSid(this, sid, 'touch');
    if (typeof ttl !== 'number' || Number.isNaN(ttl)) throw new TypeError(`${this.constructor.name}#touch: ttl must be a number of ms`);
    return this[kJsonStore].touchJson(sid, ttl);
  }
}

module.exports = { JsonStore, kJsonStore };
