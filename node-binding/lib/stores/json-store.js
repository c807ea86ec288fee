'use strict';
// The JSON-string fast path. A store class whose data already lives as JSON (the native
// stores) puts a `kJsonStore` record on its prototype naming its own get/set/destroy and
// string-based equivalents. The middleware uses the string methods only while the store's
// method is still the prototype's one (checked on every call), so replacing `store.get`
// at run time is honoured. The native MemoryStore also names its registry id (`memoryId`),
// so the middleware's native calls can use the store without a JS call in between.
//
// The record's members, each called with the store first:
//   getJson(store, sid) -> string | null        setJson(store, sid, json, ttlMs)
//   destroyJson(store, sid)
//   mergeJson(store, sid, loadedJson, json, ttlMs) -> 'merged' | 'gone' | 'conflict'
//     A merging commit: `loadedJson` is the record exactly as getJson returned it, `json` the
//     session now; only the request's top-level changes reach the stored record. 'gone': the
//     record no longer exists and nothing was written (clear the cookies); 'conflict': other
//     writers won every attempt, nothing was written. (MemoryStore never answers 'conflict'.)
//   touchJson(store, sid, ttlMs) -> boolean     a new expiry only; false (and nothing
//     created) when there is no such session.
// The MemoryStore's methods return values, the RedisStore's Promises (rejecting like its
// other operations, with a stable `code`).

const kJsonStore = Symbol.for('koa-session-ts.jsonStore');

module.exports = { kJsonStore };
