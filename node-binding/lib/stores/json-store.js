'use strict';
// The JSON-string fast path. A store class whose data already lives as JSON (the native
// stores) puts a `kJsonStore` record on its prototype naming its own get/set/destroy and
// string-based equivalents. The middleware uses the string methods only while the store's
// method is still the prototype's one (checked on every call), so replacing `store.get`
// at run time is honoured. The native MemoryStore also names its registry id (`memoryId`),
// so the middleware's native calls can use the store without a JS call in between.

const kJsonStore = Symbol.for('koa-session-ts.jsonStore');

module.exports = { kJsonStore };
