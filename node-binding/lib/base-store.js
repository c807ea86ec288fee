'use strict';
const { EventEmitter } = require('node:events');
const { sessionTtlMs } = require('../loader');
const { recordJson } = require('./session-json');

/** Emitted by a store when it can serve requests again (lowercase 'connect' works too). */
const CONNECT = 'CONNECT';
/** Emitted by a store when it lost its backend; requests wait up to `reconnectTimeout`. */
const DISCONNECT = 'DISCONNECT';

/**
 * The store interface: `get(sid)`, `set(sid, session, ttlMs)`, `destroy(sid)`, optional
 * `touch(sid, ttlMs)` and `compareAndSet(sid, expected, json, ttlMs)`. Each may return a
 * value, a Promise, a thunk or a generator.
 */
class BaseStore extends EventEmitter {
  constructor(prefix = 'koa:sess') {
    super();
    this.prefix = prefix;
  }

  /**
   * Returns (a Promise of) the TTL in ms for `sess`, as the original package's BaseStore#set
   * did: `ttl` when given; else the ms until `sess.cookie.expires` when it has one (it wins
   * over maxAge), else `sess.cookie.maxAge`, else one day. Subclasses call
   * `await super.set(sid, sess, ttl)` to get it. (The native stores bound their own TTLs.)
   */
  async set(sid, sess, ttl) {
    if (ttl) return ttl;
    const cookie = sess !== null && typeof sess === 'object' ? sess.cookie : undefined;
    if (cookie === null || typeof cookie !== 'object') return ONE_DAY_MS;
    // A stored session holds `expires` as an ISO string, a fresh one may hold a Date. JavaScript's
    // clock, so fake timers (sinon, jest) apply.
    const expires = cookie.expires ? new Date(cookie.expires).getTime() : NaN;
    if (Number.isFinite(expires)) return Math.ceil(expires - Date.now());
    return cookie.maxAge || ONE_DAY_MS;
  }
}

const ONE_DAY_MS = 86400000;

/** The TTL a native store is given for `sess` when the caller gave `ttl` (or did not): the engine's rule. */
function storeTtl(sess, ttl) {
  if (typeof ttl === 'number' && ttl > 0) return ttl;
  return sessionTtlMs(recordJson(sess), undefined, Date.now());
}

module.exports = { BaseStore, CONNECT, DISCONNECT, storeTtl };
