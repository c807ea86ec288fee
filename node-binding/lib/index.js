'use strict';
// The Koa middleware: thin glue between Koa, a store and the engine's per-request state
// machine (SessionRequest). Every session decision (what to load, when to save, which
// cookies to send or clear, TTLs) is the engine's; this file does the awaits: store calls,
// genSid, valid, beforeSave, errorHandler.

const native = require('./native');
const { BaseStore, CONNECT, DISCONNECT } = require('./base-store');
const { MemoryStore } = require('./stores/memory');
const { RedisStore } = require('./stores/redis');
const { kJsonStore } = require('./stores/json-store');
const { settle } = require('./store-call');
const { normalizeOptions } = require('./options');
const { EngineCache } = require('./keys');
const { watch, isStoreUnavailable } = require('./availability');
const { sendCookies } = require('./response');

// Marks a context that a session middleware already serves: a second one is a no-op.
const kActive = Symbol.for('koa-session-ts.active');

function defaultErrorHandler(err, type) {
  err.name = `session middleware ${type} error`;
  throw err;
}

function defaultGenSid() {
  return native.generateSid();
}

function toError(err) {
  if (err instanceof Error) return err;
  const e = new Error(typeof err === 'string' ? err : `non-error thrown: ${String(err)}`);
  e.cause = err;
  return e;
}

function isThenable(v) {
  return v !== null && typeof v === 'object' && typeof v.then === 'function';
}

/** The session as JSON, or a clear error when it cannot be written as JSON. */
function serialize(session) {
  let json;
  try {
    json = JSON.stringify(session);
  } catch (err) {
    const e = new TypeError(`koa-session-ts: ctx.session cannot be saved: it is not serializable to JSON (${err.message})`);
    e.cause = err;
    throw e;
  }
  if (typeof json !== 'string' || json[0] !== '{') {
    throw new TypeError('koa-session-ts: ctx.session cannot be saved: it does not serialize to a JSON object');
  }
  return json;
}

/** A record from a store (object, JSON string, or garbage) as JSON text for the engine. */
function recordJson(record) {
  if (typeof record === 'string') return record;
  if (typeof record !== 'object') return '';
  try {
    const json = JSON.stringify(record);
    return typeof json === 'string' ? json : '';
  } catch {
    return '';
  }
}

function parseObject(json) {
  try {
    const v = JSON.parse(json);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function checkSession(value) {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError('koa-session-ts: ctx.session must be an object, or null to destroy the session');
  }
  return value;
}

/**
 * Koa's error response starts by removing every header, then sets `err.headers`: carry the
 * session cookies there, so a session saved while the handler failed stays reachable.
 */
function keepCookiesOnError(error, cookies) {
  if (!cookies || cookies.length === 0 || error === null || typeof error !== 'object') return;
  try {
    const headers = error.headers && typeof error.headers === 'object' ? { ...error.headers } : {};
    let prev = [];
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'set-cookie') {
        prev = prev.concat(headers[name]);
        delete headers[name];
      }
    }
    headers['Set-Cookie'] = prev.concat(cookies);
    error.headers = headers;
  } catch {
    // A frozen or exotic error object: the session is saved; the cookie just stays off.
  }
}

/**
 * Session middleware for Koa. See the README for the options.
 * @param {import('../index').SessionOptions} [options]
 */
function session(options) {
  const opts = normalizeOptions(options);
  const store = opts.store || new MemoryStore(opts.key);
  const availability = watch(store, opts.reconnectTimeout);
  const engines = new EngineCache(opts.engineOptions, opts.signed);
  const genSid = opts.genSid || defaultGenSid;
  const errorHandler = opts.errorHandler || defaultErrorHandler;
  const { valid, beforeSave } = opts;
  const cookieNames = [`${opts.key}=`, `${opts.key}.sig=`];

  async function storeReady() {
    const w = availability.wait();
    if (w !== null) await w;
  }

  async function handleError(err, type, ctx) {
    await errorHandler(toError(err), type, ctx);
  }

  /**
   * Runs one store call. A call that fails because the store lost its backend while it ran
   * (the store emitted DISCONNECT meanwhile) is part of the outage, not a store error: like
   * any request it waits up to reconnectTimeout for CONNECT (else fails with the documented
   * error) and is made once more.
   */
  function callStore(op) {
    let r;
    try {
      r = op();
    } catch (err) {
      return retryAfterOutage(err, op);
    }
    return isThenable(r) ? Promise.resolve(r).catch((err) => retryAfterOutage(err, op)) : r;
  }

  async function retryAfterOutage(err, op) {
    const w = availability.wait();
    if (w === null) throw err;
    await w;
    const r = op();
    return isThenable(r) ? await r : r;
  }

  // Store calls. Methods are looked up on every call so run-time replacements are honoured;
  // the JSON fast path applies only while the method is the native store's own.
  function readRecord(sid) {
    const fast = store[kJsonStore];
    if (fast !== undefined && store.get === fast.get) return fast.getJson(store, sid);
    return settle(store.get(sid));
  }

  function writeRecord(sid, json, ttlMs) {
    const fast = store[kJsonStore];
    if (fast !== undefined && store.set === fast.set) return fast.setJson(store, sid, json, ttlMs);
    // A fresh copy: a JS store that keeps the object can never see later mutations.
    return settle(store.set(sid, JSON.parse(json), ttlMs));
  }

  function destroyRecord(sid) {
    const fast = store[kJsonStore];
    if (fast !== undefined && store.destroy === fast.destroy) return fast.destroyJson(store, sid);
    return settle(store.destroy(sid));
  }

  async function newSid(ctx) {
    let sid = genSid(ctx, 24);
    if (isThenable(sid)) sid = await sid;
    if (typeof sid !== 'string') {
      throw new TypeError(`koa-session-ts: genSid must return a string session id, got ${sid === null ? 'null' : typeof sid}`);
    }
    return sid;
  }

  /** Starts a request: null outside the cookie path. */
  function start(ctx) {
    const { engine, freshJson } = engines.get(ctx.app);
    const up = ctx.sessionId;
    const upstream = typeof up === 'string' && up !== '' ? up : null;
    const header = ctx.req.headers.cookie;
    const req = engine.begin(typeof header === 'string' ? header : null, ctx.path, upstream);
    if (req === null) return null;
    return {
      req,
      freshJson,
      upstream,
      sid: null,
      session: null,
      loaded: false,
      loading: null,
      // Defer mode: `ctx.session = x` before the session was read.
      assigned: false,
      sentCookies: null,
    };
  }

  /** Loads the session (store read, valid, new id) into `st`. */
  async function load(ctx, st) {
    const req = st.req;
    let session = null;
    const sid = req.loadSid;
    if (sid !== null) {
      await storeReady();
      let record;
      try {
        record = callStore(() => readRecord(sid));
        if (isThenable(record)) record = await record;
      } catch (err) {
        // The store stayed away: the same failure as a request that found it away.
        if (isStoreUnavailable(err)) throw err;
        record = null;
        if (!(err && err.code === 'ENOENT')) await handleError(err, 'get', ctx);
      }
      if (record === null || record === undefined) {
        req.loaded(null, true);
      } else {
        const json = recordJson(record);
        const obj = parseObject(json);
        let ok = true;
        if (obj !== undefined && valid) {
          ok = valid(ctx, obj);
          if (isThenable(ok)) ok = await ok;
        }
        const report = req.loaded(obj === undefined ? '' : json, !!ok);
        if (report === 'loaded') session = obj;
        else if (report === 'corrupt') {
          (ctx.logger || console).warn(`koa-session-ts: store returned an unusable record for a session; starting a new session`);
        }
      }
    }
    if (req.needsSid) {
      req.setNewSid(await newSid(ctx));
      session = JSON.parse(st.freshJson);
    }
    st.sid = req.sid;
    if (!st.assigned) st.session = session;
    st.loaded = true;
  }

  function ensureLoaded(ctx, st) {
    if (st.loaded) return null;
    if (st.loading === null) st.loading = load(ctx, st);
    return st.loading;
  }

  /** The end of the request: decide, beforeSave, store action, then cookies. */
  async function commit(ctx, st) {
    const req = st.req;
    const save = ctx.sessionSave === true ? true : ctx.sessionSave === false ? false : null;
    let json = save === false || st.session === null ? null : serialize(st.session);
    let decision = req.decide(json, save);
    if (decision === 'save' && beforeSave) {
      const r = beforeSave(ctx, st.session);
      if (isThenable(r)) await r;
      json = st.session === null ? null : serialize(st.session);
      if (json === null) decision = req.decide(null, save);
    }
    const plan = req.complete(decision, json, !ctx.secure);
    if (plan.action !== 'none') {
      try {
        await storeReady();
        const r = callStore(() => (plan.action === 'save' ? writeRecord(plan.sid, json, plan.ttlMs) : destroyRecord(plan.sid)));
        if (isThenable(r)) await r;
      } catch (err) {
        // The store did not take it: no cookie for a session that was not saved.
        await handleError(err, plan.action === 'save' ? 'set' : 'destroy', ctx);
        return;
      }
    }
    sendCookies(ctx, plan.setCookies, cookieNames);
    st.sentCookies = plan.setCookies;
  }

  async function regenerate(ctx, st) {
    const w = ensureLoaded(ctx, st);
    if (w !== null) await w;
    const sid = await newSid(ctx);
    const old = st.req.regenerate(sid);
    st.sid = sid;
    st.session = JSON.parse(st.freshJson);
    if (old !== null) {
      try {
        await storeReady();
        const r = callStore(() => destroyRecord(old));
        if (isThenable(r)) await r;
      } catch (err) {
        await handleError(err, 'destroy', ctx);
      }
    }
    return st.session;
  }

  function defineApi(ctx, st, defer) {
    Object.defineProperties(ctx, {
      [kActive]: { value: true },
      session: defer
        ? {
            enumerable: true,
            configurable: true,
            get() {
              const w = ensureLoaded(ctx, st);
              return w === null ? Promise.resolve(st.session) : w.then(() => st.session);
            },
            set(v) {
              st.session = checkSession(v);
              if (!st.loaded) st.assigned = true;
            },
          }
        : {
            enumerable: true,
            configurable: true,
            get() {
              return st.session;
            },
            set(v) {
              st.session = checkSession(v);
            },
          },
      sessionId: {
        enumerable: true,
        configurable: true,
        get() {
          return st.sid !== null ? st.sid : st.upstream === null ? undefined : st.upstream;
        },
        set() {
          throw new TypeError('koa-session-ts: ctx.sessionId is read-only once the session middleware runs; use ctx.regenerateSession() for a new id');
        },
      },
      sessionSave: { enumerable: true, configurable: true, writable: true, value: null },
      sessionStore: { enumerable: true, configurable: true, writable: false, value: store },
      regenerateSession: {
        enumerable: true,
        configurable: true,
        writable: false,
        value: () => regenerate(ctx, st),
      },
    });
  }

  async function runAndCommit(ctx, st, next, shouldCommit) {
    let failed = false;
    let error;
    try {
      await next();
    } catch (err) {
      failed = true;
      error = err;
    }
    // The session is saved even when the handler threw (its changes are kept), then the
    // handler's error goes on.
    if (shouldCommit()) {
      try {
        if (!st.loaded) await ensureLoaded(ctx, st);
        await commit(ctx, st);
      } catch (err) {
        if (!failed) throw err;
        ctx.app.emit('error', toError(err), ctx);
      }
    }
    if (failed) {
      keepCookiesOnError(error, st.sentCookies);
      throw error;
    }
  }

  async function sessionMiddleware(ctx, next) {
    if (ctx[kActive] || Object.prototype.hasOwnProperty.call(ctx, 'session')) return next();
    const st = start(ctx);
    if (st === null) return next();
    await load(ctx, st);
    defineApi(ctx, st, false);
    return runAndCommit(ctx, st, next, () => true);
  }

  async function deferSessionMiddleware(ctx, next) {
    if (ctx[kActive] || Object.prototype.hasOwnProperty.call(ctx, 'session')) return next();
    const st = start(ctx);
    if (st === null) return next();
    defineApi(ctx, st, true);
    // Nothing is loaded or saved unless the session was read, set or regenerated.
    return runAndCommit(ctx, st, next, () => st.loaded || st.loading !== null || st.assigned);
  }

  return opts.defer ? deferSessionMiddleware : sessionMiddleware;
}

module.exports = session;
Object.defineProperty(module.exports, '__esModule', { value: true });
module.exports.default = session;
module.exports.session = session;
module.exports.BaseStore = BaseStore;
module.exports.MemoryStore = MemoryStore;
module.exports.RedisStore = RedisStore;
module.exports.CONNECT = CONNECT;
module.exports.DISCONNECT = DISCONNECT;
