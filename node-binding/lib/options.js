'use strict';
// Checks `session(options)` once, at startup. The store and the functions are JavaScript
// values and are checked here; every other option is plain data, checked by the engine
// (core/src/options.rs: types, defaults, unknown options, nonsensical values) in one native
// call, whose error becomes a TypeError naming the option.

const { checkSessionOptions } = require('../loader');

const PREFIX = 'koa-session-ts: ';
const FUNCTIONS = ['genSid', 'errorHandler', 'errorHanlder', 'valid', 'beforeSave'];

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(String(v)).slice(0, 40)}`;
}

/**
 * The data options as JSON for the engine: Dates as unix ms; a value JSON cannot hold (a
 * function, NaN, an invalid Date, ...) as `{"$js": "<what it is>"}`, which the engine
 * names in its error instead of silently dropping or nulling it.
 */
function toJson(data) {
  try {
    return JSON.stringify(data, function replacer(name, v) {
      const raw = this[name];
      if (raw instanceof Date) return Number.isNaN(raw.getTime()) ? { $js: 'an invalid Date' } : raw.getTime();
      if (typeof v === 'number' && !Number.isFinite(v)) return { $js: String(v) };
      if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return { $js: `a ${typeof v}` };
      return v;
    });
  } catch (err) {
    const e = new TypeError(`${PREFIX}options must be plain data besides store and the functions (${err.message})`);
    e.cause = err;
    throw e;
  }
}

function checkStore(store) {
  if (store === undefined || store === null) return null;
  if (typeof store !== 'object' && typeof store !== 'function') {
    throw new TypeError(`${PREFIX}option "store" must be a store object, got ${describe(store)}`);
  }
  for (const m of ['get', 'set', 'destroy']) {
    if (typeof store[m] !== 'function') {
      throw new TypeError(`${PREFIX}option "store" must have get, set and destroy methods (missing ${m})`);
    }
  }
  return store;
}

function normalizeOptions(options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${PREFIX}options must be an object, got ${describe(options)}`);
  }
  const data = {};
  for (const name of Object.keys(options)) {
    if (name !== 'store' && !FUNCTIONS.includes(name)) data[name] = options[name];
  }
  for (const name of FUNCTIONS) {
    const v = options[name];
    if (v !== undefined && typeof v !== 'function') {
      throw new TypeError(`${PREFIX}option "${name}" must be a function, got ${describe(v)}`);
    }
  }
  const store = checkStore(options.store);
  // The engine options: what SessionEngine is built from (with the app's keys) per app.
  const engineOptions = toJson(data);
  let checked;
  try {
    checked = checkSessionOptions(engineOptions);
  } catch (err) {
    const e = new TypeError(PREFIX + err.message);
    e.cause = err;
    throw e;
  }
  return {
    key: checked.key,
    store,
    reconnectTimeout: checked.reconnectTimeout,
    storeTimeout: checked.storeTimeout,
    defer: checked.defer,
    signed: checked.signed,
    genSid: options.genSid || null,
    errorHandler: options.errorHandler || options.errorHanlder || null,
    valid: options.valid || null,
    beforeSave: options.beforeSave || null,
    engineOptions,
  };
}

module.exports = { normalizeOptions };
