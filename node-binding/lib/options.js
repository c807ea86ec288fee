'use strict';
// Checks `session(options)` once, up front: a wrong type is a TypeError naming the option,
// at startup rather than on some later request.

const { SessionEngine } = require('../loader');

const PREFIX = 'koa-session-ts: ';

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(String(v)).slice(0, 40)}`;
}

function fail(name, expected, v) {
  return new TypeError(`${PREFIX}option "${name}" must be ${expected}, got ${describe(v)}`);
}

function check(o, name, type, expected) {
  const v = o[name];
  if (v !== undefined && typeof v !== type) throw fail(name, expected, v);
  return v;
}

const ONE_DAY = 86400000;

function cookieNumber(name, v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(`cookieOptions.${name}`, 'a finite number', v);
  return v;
}

function toUnixMs(v) {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw fail('cookieOptions.expires', 'a valid Date', v);
    return v.getTime();
  }
  if (typeof v === 'number') return cookieNumber('expires', v);
  if (typeof v === 'string') {
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw fail('cookieOptions.expires', 'a Date, a date string or unix ms', v);
    return t;
  }
  throw fail('cookieOptions.expires', 'a Date, a date string or unix ms', v);
}

/** cookieOptions → the engine's cookie settings (without keys, known per app). */
function cookieSettings(c) {
  if (c === undefined || c === null) c = {};
  if (typeof c !== 'object' || Array.isArray(c)) throw fail('cookieOptions', 'an object', c);
  for (const name of ['httpOnly', 'secure', 'signed', 'overwrite', 'partitioned']) {
    if (c[name] !== undefined && typeof c[name] !== 'boolean') throw fail(`cookieOptions.${name}`, 'a boolean', c[name]);
  }
  for (const name of ['path', 'domain']) {
    const v = c[name];
    if (v !== undefined && v !== null && typeof v !== 'string') throw fail(`cookieOptions.${name}`, 'a string', v);
  }
  // Optional engine settings are `undefined` when absent (napi objects take no nulls).
  let maxAge = ONE_DAY;
  if ('maxAge' in c && c.maxAge !== undefined) {
    maxAge = c.maxAge === null || c.maxAge === 'session' ? undefined : cookieNumber('maxAge', c.maxAge);
  }
  let sameSite;
  const ss = c.sameSite;
  if (ss === true) sameSite = 'strict';
  else if (typeof ss === 'string' && /^(strict|lax|none)$/i.test(ss)) sameSite = ss.toLowerCase();
  else if (ss !== undefined && ss !== null && ss !== false) {
    throw fail('cookieOptions.sameSite', "true, false, 'strict', 'lax' or 'none'", ss);
  }
  let priority;
  const p = c.priority;
  if (typeof p === 'string' && /^(low|medium|high)$/i.test(p)) priority = p.toLowerCase();
  else if (p !== undefined && p !== null) throw fail('cookieOptions.priority', "'low', 'medium' or 'high'", p);
  return {
    path: c.path === undefined ? '/' : c.path || undefined,
    domain: c.domain || undefined,
    maxAge,
    expires: c.expires === undefined || c.expires === null ? undefined : toUnixMs(c.expires),
    httpOnly: c.httpOnly === undefined ? true : c.httpOnly,
    secure: c.secure === true,
    sameSite,
    priority,
    partitioned: c.partitioned === true,
    // Signed when the app has keys, unless explicitly turned off.
    signed: c.signed !== false,
  };
}

function normalizeOptions(options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${PREFIX}options must be an object, got ${describe(options)}`);
  }
  const o = options;
  const key = check(o, 'key', 'string', 'a string') ?? 'koa.sid';
  const reconnectTimeout = check(o, 'reconnectTimeout', 'number', 'a number of milliseconds') ?? 10000;
  if (!(reconnectTimeout >= 0) || !Number.isFinite(reconnectTimeout)) {
    throw fail('reconnectTimeout', 'a finite number >= 0', reconnectTimeout);
  }
  const storeTimeout = check(o, 'storeTimeout', 'number', 'a number of milliseconds') ?? 5000;
  if (!(storeTimeout >= 0) || !Number.isFinite(storeTimeout)) {
    throw fail('storeTimeout', 'a finite number >= 0', storeTimeout);
  }
  for (const name of ['defer', 'rolling', 'allowEmpty']) check(o, name, 'boolean', 'a boolean');
  for (const name of ['genSid', 'errorHandler', 'errorHanlder', 'valid', 'beforeSave']) {
    check(o, name, 'function', 'a function');
  }
  const store = o.store;
  if (store !== undefined && store !== null) {
    if (typeof store !== 'object' && typeof store !== 'function') throw fail('store', 'a store object', store);
    for (const m of ['get', 'set', 'destroy']) {
      if (typeof store[m] !== 'function') {
        throw new TypeError(`${PREFIX}option "store" must have get, set and destroy methods (missing ${m})`);
      }
    }
  }
  const cookie = cookieSettings(o.cookieOptions);
  const engineOptions = {
    key,
    path: cookie.path,
    domain: cookie.domain,
    maxAge: cookie.maxAge,
    expires: cookie.expires,
    httpOnly: cookie.httpOnly,
    secure: cookie.secure,
    sameSite: cookie.sameSite,
    priority: cookie.priority,
    partitioned: cookie.partitioned,
    rolling: o.rolling === true,
    allowEmpty: o.allowEmpty === true,
  };
  // Let the engine validate what it owns (cookie name and attribute syntax) now.
  try {
    new SessionEngine({ ...engineOptions, path: '/', domain: undefined });
  } catch (err) {
    throw new TypeError(`${PREFIX}option "key": ${err.message}`);
  }
  try {
    new SessionEngine(engineOptions);
  } catch (err) {
    const which = /domain/.test(err.message) ? 'cookieOptions.domain' : /path/.test(err.message) ? 'cookieOptions.path' : 'cookieOptions';
    throw new TypeError(`${PREFIX}option "${which}": ${err.message}`);
  }
  return {
    key,
    store: store || null,
    reconnectTimeout,
    storeTimeout,
    defer: o.defer === true,
    signed: cookie.signed,
    genSid: o.genSid || null,
    errorHandler: o.errorHandler || o.errorHanlder || null,
    valid: o.valid || null,
    beforeSave: o.beforeSave || null,
    engineOptions,
  };
}

module.exports = { normalizeOptions };
