'use strict';
// One SessionEngine per distinct `app.keys`: built on the first request of an app and again
// only when its keys change (apps may set app.keys after `session()` is called).

const { SessionEngine } = require('../loader');

let warnedNoKeys = false;
let warnedOpaque = false;

/** The signing keys of `app.keys` as Buffers (newest first), or null. */
function readKeys(appKeys) {
  if (appKeys === undefined || appKeys === null) return null;
  let list = appKeys;
  if (!Array.isArray(list)) {
    // A Keygrip-like object that exposes its keys; keygrip 1.x keeps them private.
    if (Array.isArray(appKeys.keys)) list = appKeys.keys;
    else {
      if (!warnedOpaque) {
        warnedOpaque = true;
        process.emitWarning(
          'koa-session-ts: app.keys is a Keygrip instance whose keys cannot be read; session cookies are NOT signed. Set app.keys to an array of keys.',
          'KoaSessionWarning',
        );
      }
      return null;
    }
  }
  const keys = [];
  for (const k of list) {
    if (typeof k === 'string') keys.push(Buffer.from(k));
    else if (k instanceof Uint8Array) keys.push(Buffer.from(k));
    else if (k !== undefined && k !== null) keys.push(Buffer.from(String(k)));
  }
  return keys.length > 0 ? keys : null;
}

function sameList(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class EngineCache {
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
    if (this.signed && keys === null && !warnedNoKeys && (source === undefined || source === null)) {
      warnedNoKeys = true;
      process.emitWarning(
        'koa-session-ts: app.keys is not set, so session cookies are not signed. Set app.keys (or cookieOptions.signed = false to silence this).',
        'KoaSessionWarning',
      );
    }
    const engine = new SessionEngine({ ...this.engineOptions, keys: keys === null ? undefined : keys });
    this.source = source;
    this.snapshot = Array.isArray(source) ? source.slice() : null;
    this.current = { engine, id: engine.id, freshJson: engine.freshSessionJson };
    return this.current;
  }
}

module.exports = { EngineCache };
