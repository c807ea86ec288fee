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
   * Returns (a Promise of) the TTL in ms for `sess`: `ttl` when given, else computed by the
   * engine from `sess.cookie.maxAge` / `sess.cookie.expires` (one day for a browser-session
   * cookie). Subclasses call `await super.set(sid, sess, ttl)` to get it.
   */
  async set(sid, sess, ttl) {
    return storeTtl(sess, ttl);
  }
}

/** The TTL a store should use for `sess` when the caller gave `ttl` (or did not). */
function storeTtl(sess, ttl) {
  if (typeof ttl === 'number' && ttl > 0) return ttl;
  // JavaScript's clock, so fake timers (sinon, jest) apply to `cookie.expires`.
  return sessionTtlMs(recordJson(sess), undefined, Date.now());
}

module.exports = { BaseStore, CONNECT, DISCONNECT, storeTtl };
