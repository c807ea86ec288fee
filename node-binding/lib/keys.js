'use strict';
// One SessionEngine per distinct `app.keys`: built on the first request of an app and again
// only when its keys change (apps may set app.keys after `session()` is called).

const { SessionEngine } = require('../loader');

const KEYS_FORM = "app.keys must be an array of strings or Buffers, e.g. app.keys = ['a long random secret']";
const warned = new Set();

function warnOnce(text) {
  if (warned.has(text)) return;
  warned.add(text);
  process.emitWarning(`koa-session-ts: ${text}`, 'KoaSessionWarning');
}

function describe(v) {
  if (v === '') return 'an empty string';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return 'a string';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v).slice(0, 40)}`;
}

function keysError(what) {
  return new TypeError(`koa-session-ts: ${KEYS_FORM}; ${what}`);
}

/**
 * The signing keys of `app.keys` as Buffers (newest first), or null for unsigned cookies
 * (with a one-time warning saying why). A value that cannot be keys is a TypeError.
 */
function readKeys(appKeys) {
  if (appKeys === undefined || appKeys === null) {
    warnOnce('app.keys is not set, so session cookies are not signed. Set app.keys = [\'a long random secret\'] (or cookieOptions.signed = false to silence this).');
    return null;
  }
  let list = appKeys;
  if (!Array.isArray(list)) {
    if (typeof appKeys === 'object' && Array.isArray(appKeys.keys)) list = appKeys.keys;
    else if (typeof appKeys === 'object' && typeof appKeys.sign === 'function') {
      // keygrip 1.x keeps its keys private.
      warnOnce('app.keys is a Keygrip instance whose keys cannot be read; session cookies are NOT signed. Set app.keys to an array of keys.');
      return null;
    } else throw keysError(`got ${describe(appKeys)}`);
  }
  if (list.length === 0) {
    warnOnce('app.keys is empty, so session cookies are not signed. Set app.keys = [\'a long random secret\'] (or cookieOptions.signed = false to silence this).');
    return null;
  }
  return list.map((k, i) => {
    if ((typeof k === 'string' || k instanceof Uint8Array) && k.length > 0) return Buffer.from(k);
    throw keysError(`app.keys[${i}] is ${describe(k)}`);
  });
}

function sameList(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class EngineCache {
  /** engineOptions: the options JSON checked by options.js; signed: cookieOptions.signed. */
  constructor(engineOptions, signed) {
    this.engineOptions = engineOptions;
    this.signed = signed;
    this.source = undefined;
    this.snapshot = null;
    this.current = null;
  }

  /** { engine, id, freshJson } for this app's keys (id: the engine's id for the request calls). */
  get(app) {
    const source = app.keys;
    const c = this.current;
    if (c !== null && source === this.source && (!Array.isArray(source) || sameList(source, this.snapshot))) return c;
    const keys = this.signed ? readKeys(source) : null;
    const engine = new SessionEngine(this.engineOptions, keys);
    this.source = source;
    this.snapshot = Array.isArray(source) ? source.slice() : null;
    this.current = { engine, id: engine.id, freshJson: engine.freshSessionJson };
    return this.current;
  }
}

module.exports = { EngineCache };
