'use strict';
// Checks `session(options)` once, at startup, in one native call: the engine checks every
// option but the store (core/src/options.rs: types, defaults, unknown options, which options
// must be functions) and throws a TypeError naming the option. The store is checked here.

const { checkSessionOptions } = require('../loader');

function normalizeOptions(options) {
  const checked = checkSessionOptions(options);
  const o = options || {};
  const store = o.store ?? null;
  const missing = store === null ? undefined : ['get', 'set', 'destroy'].find((m) => typeof Object(store)[m] !== 'function');
  if (missing !== undefined) {
    throw new TypeError(`koa-session-ts: option "store" must be a store object with get, set and destroy methods (missing ${missing})`);
  }
  return {
    ...checked,
    store,
    genSid: o.genSid || null,
    errorHandler: o.errorHandler || o.errorHanlder || null,
    valid: o.valid || null,
    beforeSave: o.beforeSave || null,
  };
}

module.exports = { normalizeOptions };
