'use strict';
// koa-session-ts: the Koa middleware. Options are checked once (options.js); each request
// gets a ContextSession (context-session.js), which runs the engine's per-request calls and
// executes the plan the engine makes. No session rule lives in JavaScript.

const native = require('../loader');
const { BaseStore, CONNECT, DISCONNECT } = require('./base-store');
const { MemoryStore } = require('./stores/memory');
const { RedisStore } = require('./stores/redis');
const { normalizeOptions } = require('./options');
const { engineCache } = require('./keys');
const { watch } = require('./availability');
const { StoreAccess } = require('./store-access');
const { registerUserField } = require('./stores/json-store');
const { ContextSession } = require('./context-session');
const { attach, isServed } = require('./context');

/**
 * Session middleware for Koa. See the README for the options.
 * @param {import('../index').SessionOptions} [options]
 */
function session(options) {
  const opts = normalizeOptions(options);
  const store = opts.store || new MemoryStore(opts.key);
  const { genSid, errorHandler } = opts;

  // What every request of this middleware shares (ContextSession's `mw`): the options (defer,
  // valid, beforeSave, ...) and these.
  const mw = {
    ...opts,
    access: new StoreAccess(store, watch(store, opts.reconnectTimeout), opts.storeTimeout),
    engineFor: engineCache(opts.engineOptions),
    // Without a genSid option the engine makes ids itself, within the calls that need one.
    nativeSid: genSid === null,
    cookieNames: [`${opts.key}=`, `${opts.key}.sig=`],
    // An id or a Promise of one; the engine refuses one that is not a usable id.
    newSid: (ctx) => (genSid === null ? native.generateSid() : genSid(ctx, 24)),
    // A failed store call (`type`: get, set or destroy); by default the error, named after it, is thrown.
    async handleError(err, type, ctx) {
      if (!(err instanceof Error)) err = new Error(typeof err === 'string' ? err : `non-error thrown: ${String(err)}`, { cause: err });
      if (errorHandler !== null) return errorHandler(err, type, ctx);
      err.name = `session middleware ${type} error`;
      throw err;
    },
  };

  // The engine's rule: a store that cannot do what the options need (userField: a user index
  // and compare-and-set; the timeouts: compare-and-set) is refused now.
  native.checkStoreCaps(opts.engineOptions, mw.access.caps());
  if (typeof opts.userField === 'string') registerUserField(store, opts.userField);

  return function sessionMiddleware(ctx, next) {
    if (isServed(ctx)) return next();
    const cs = ContextSession.start(mw, ctx);
    if (cs === null) return next();
    // Defer mode loads on first use; otherwise now (at once with the native MemoryStore).
    const w = mw.defer ? null : cs.ensureLoaded();
    if (w === null) {
      attach(ctx, cs);
      return cs.run(next);
    }
    return w.then(() => {
      attach(ctx, cs);
      return cs.run(next);
    });
  };
}

module.exports = session;
Object.defineProperty(module.exports, '__esModule', { value: true });
Object.assign(module.exports, { default: session, session, BaseStore, MemoryStore, RedisStore, CONNECT, DISCONNECT });
