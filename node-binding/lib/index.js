'use strict';
// The Koa middleware: thin glue between Koa, a store and the engine's per-request state
// machine (the request calls of src/calls.rs). Every session decision (what to load, when
// to save, which cookies to send or clear, TTLs) is the engine's; this file does the awaits:
// store calls, genSid, valid, beforeSave, errorHandler.
//
// Load and commit create no Promise when nothing is async: with the native MemoryStore
// (untouched, no valid/beforeSave hook) a request is one native call at load and one at
// commit, store access included; anything that may be async (a JS store, RedisStore, hooks,
// a custom genSid, an outage) takes the general path.

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

const { attach, isServed } = require('./context');
const { requestBegin, requestLoaded, memoryBegin, requestSetSid, requestRegenerate, requestDecide, requestComplete, requestFinish, memoryFinish } = native;

// Request tokens start with the step (src/calls.rs): 'L' load from the store, 'N' needs an id,
// 'Q' ready and, by the engine's word, an unchanged session needs nothing at the end.
const STEP_LOAD = 76; // 'L'
const STEP_NEED_SID = 78; // 'N'
const STEP_QUIET = 81; // 'Q'
// requestLoaded reports; memoryBegin starts its answer with the report as a digit
const LOADED = 0;
const CORRUPT = 3;
const CORRUPT_DIGIT = 51; // '3'
// requestDecide decisions
const DECIDED_SAVE = 0;
// plan[0] actions; plan = null | [action, ttlMs, ...setCookies]
const ACTION_NONE = 0;
const ACTION_SAVE = 1;

function defaultErrorHandler(err, type) {
  err.name = `session middleware ${type} error`;
  throw err;
}

function toError(err) {
  if (err instanceof Error) return err;
  const e = new Error(typeof err === 'string' ? err : `non-error thrown: ${String(err)}`);
  e.cause = err;
  return e;
}

function warnCorrupt(ctx) {
  (ctx.logger || console).warn('koa-session-ts: store returned an unusable record for a session; starting a new session');
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

/** One request's session: the engine's token, the loaded JSON and what the app sees. */
class RequestState {
  constructor(mw, engine, token, upstream) {
    this.mw = mw;
    // { engine, id, freshJson }: holding it keeps the engine alive while the request runs.
    this.engine = engine;
    this.token = token;
    // The loaded record's JSON (null for a new session): the engine compares against it.
    this.original = null;
    this.session = null;
    this.upstream = upstream;
    // ctx.sessionSave
    this.save = null;
    this.loaded = false;
    this.loading = null;
    // Defer mode: `ctx.session = x` before the session was read.
    this.assigned = false;
    this.sentCookies = null;
    this.regenerateFn = null;
  }

  sid() {
    return this.token.charCodeAt(0) === STEP_NEED_SID ? null : this.token.slice(2);
  }

  /** ctx.sessionId: the id once loaded (defer mode: until then only an upstream id). */
  sessionId() {
    const sid = this.loaded ? this.sid() : null;
    return sid !== null ? sid : this.upstream === null ? undefined : this.upstream;
  }

  /** Defer mode: anything to load or save at the end? */
  touched() {
    return this.loaded || this.loading !== null || this.assigned;
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
  const genSid = opts.genSid;
  // Without a genSid option the engine makes ids itself, within the calls that need one.
  const nativeSid = genSid === null;
  const errorHandler = opts.errorHandler || defaultErrorHandler;
  const { valid, beforeSave, defer } = opts;
  const cookieNames = [`${opts.key}=`, `${opts.key}.sig=`];

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
    if (!isThenable(r)) return r;
    // A native Promise needs no wrapping (one Promise less per store call).
    return (r instanceof Promise ? r : Promise.resolve(r)).catch((err) => retryAfterOutage(err, op));
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

  /**
   * The native MemoryStore's id when the whole request can be served by the native calls:
   * the store's own get/set/destroy, no valid hook, the store not in an outage. Else -1.
   */
  function memoryStoreId() {
    const fast = store[kJsonStore];
    if (fast === undefined || fast.memoryId === undefined || valid !== null || !availability.isUp()) return -1;
    if (store.get !== fast.get || store.set !== fast.set || store.destroy !== fast.destroy) return -1;
    return fast.memoryId(store);
  }

  async function newSid(ctx) {
    if (genSid === null) return native.generateSid();
    let sid = genSid(ctx, 24);
    if (isThenable(sid)) sid = await sid;
    if (typeof sid !== 'string') {
      throw new TypeError(`koa-session-ts: genSid must return a string session id, got ${sid === null ? 'null' : typeof sid}`);
    }
    return sid;
  }

  /**
   * Starts a request: null outside the cookie path. With the native MemoryStore (and the
   * session wanted now, not deferred) this also reads the store.
   */
  function start(ctx) {
    const engine = engines.get(ctx.app);
    const up = ctx.sessionId;
    const upstream = typeof up === 'string' && up !== '' ? up : null;
    let header = ctx.req.headers.cookie;
    if (typeof header !== 'string') header = null;
    const mem = defer ? -1 : memoryStoreId();
    if (mem < 0) {
      const token = requestBegin(engine.id, header, ctx.path, upstream, nativeSid);
      return token === null ? null : new RequestState(mw, engine, token, upstream);
    }
    const r = memoryBegin(engine.id, mem, header, ctx.path, upstream, nativeSid);
    if (r === null) return null;
    const nl = r.indexOf('\n');
    const st = new RequestState(mw, engine, nl < 0 ? r.slice(1) : r.slice(1, nl), upstream);
    if (nl >= 0) st.original = r.slice(nl + 1);
    else if (r.charCodeAt(0) === CORRUPT_DIGIT) warnCorrupt(ctx);
    return st;
  }

  /** Loads the session into `st`: null when done at once, else a Promise. */
  function load(ctx, st) {
    const step = st.token.charCodeAt(0);
    if (step === STEP_LOAD) return loadFromStore(ctx, st);
    if (step === STEP_NEED_SID) return withNewSid(ctx, st);
    loadDone(st, st.original !== null ? JSON.parse(st.original) : null);
    return null;
  }

  function loadDone(st, session) {
    if (!st.assigned) st.session = session !== null ? session : JSON.parse(st.engine.freshJson);
    st.loaded = true;
  }

  async function withNewSid(ctx, st) {
    st.token = requestSetSid(st.engine.id, st.token, await newSid(ctx));
    loadDone(st, null);
  }

  /** The general load: any store, the valid hook, outages. */
  async function loadFromStore(ctx, st) {
    const sid = st.sid();
    const w = availability.wait();
    if (w !== null) await w;
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
    let session = null;
    if (record === null || record === undefined) {
      st.token = requestLoaded(st.engine.id, st.token, null, true, nativeSid)[0];
    } else {
      const json = recordJson(record);
      const obj = parseObject(json);
      let ok = true;
      if (obj !== undefined && valid) {
        ok = valid(ctx, obj);
        if (isThenable(ok)) ok = await ok;
      }
      const r = requestLoaded(st.engine.id, st.token, obj === undefined ? '' : json, !!ok, nativeSid);
      st.token = r[0];
      if (r[1] === LOADED) {
        st.original = json;
        session = obj;
      } else if (r[1] === CORRUPT) warnCorrupt(ctx);
    }
    if (st.token.charCodeAt(0) === STEP_NEED_SID) st.token = requestSetSid(st.engine.id, st.token, await newSid(ctx));
    loadDone(st, session);
  }

  function ensureLoaded(ctx, st) {
    if (st.loaded) return null;
    if (st.loading === null) {
      const w = load(ctx, st);
      if (w === null) return null;
      st.loading = w;
    }
    return st.loading;
  }

  /** The end of the request: decide, (beforeSave,) store action, then cookies. Null when done at once. */
  function commit(ctx, st) {
    const s = st.save;
    const save = s === true ? true : s === false ? false : null;
    const json = save === false || st.session === null ? null : serialize(st.session);
    // The engine said at load time that handing back the loaded JSON unchanged (and no
    // sessionSave override) ends with no store action and no cookie: skip the call.
    if (save === null && json === st.original && st.token.charCodeAt(0) === STEP_QUIET) return null;
    if (beforeSave) return commitWithHook(ctx, st, save, json);
    const mem = memoryStoreId();
    if (mem >= 0) {
      // The store action is done in the same call: a memory store write cannot fail.
      const cookies = memoryFinish(st.engine.id, mem, st.token, st.original, json, save, !ctx.secure);
      if (cookies !== null) sendSessionCookies(ctx, st, cookies.split('\n'));
      return null;
    }
    return applyPlan(ctx, st, requestFinish(st.engine.id, st.token, st.original, json, save, !ctx.secure), json);
  }

  async function commitWithHook(ctx, st, save, json) {
    const id = st.engine.id;
    let decision = requestDecide(id, st.token, st.original, json, save);
    if (decision === DECIDED_SAVE) {
      const r = beforeSave(ctx, st.session);
      if (isThenable(r)) await r;
      json = st.session === null ? null : serialize(st.session);
      if (json === null) decision = requestDecide(id, st.token, st.original, null, save);
    }
    const w = applyPlan(ctx, st, requestComplete(id, st.token, st.original, decision, json, !ctx.secure), json);
    if (w !== null) await w;
  }

  /** Runs the plan's store action, then sends its cookies: null when done at once. */
  function applyPlan(ctx, st, plan, json) {
    if (plan === null) return null;
    const action = plan[0];
    if (action === ACTION_NONE) {
      sendPlanCookies(ctx, st, plan);
      return null;
    }
    if (!availability.isUp()) return applyPlanAfterOutage(ctx, st, plan, json);
    const sid = st.sid();
    const op = action === ACTION_SAVE ? () => writeRecord(sid, json, plan[1]) : () => destroyRecord(sid);
    const r = callStore(op);
    if (!isThenable(r)) {
      sendPlanCookies(ctx, st, plan);
      return null;
    }
    return r.then(
      () => sendPlanCookies(ctx, st, plan),
      (err) => storeFailed(ctx, err, action),
    );
  }

  async function applyPlanAfterOutage(ctx, st, plan, json) {
    try {
      await availability.wait();
    } catch (err) {
      return storeFailed(ctx, err, plan[0]);
    }
    const w = applyPlan(ctx, st, plan, json);
    if (w !== null) await w;
  }

  // The store did not take it: no cookie for a session that was not saved.
  function storeFailed(ctx, err, action) {
    return handleError(err, action === ACTION_SAVE ? 'set' : 'destroy', ctx);
  }

  function sendPlanCookies(ctx, st, plan) {
    if (plan.length > 2) sendSessionCookies(ctx, st, plan.slice(2));
  }

  function sendSessionCookies(ctx, st, cookies) {
    sendCookies(ctx, cookies, cookieNames);
    st.sentCookies = cookies;
  }

  async function regenerate(ctx, st) {
    const w = ensureLoaded(ctx, st);
    if (w !== null) await w;
    const sid = await newSid(ctx);
    const r = requestRegenerate(st.engine.id, st.token, st.original, sid);
    st.token = r[0];
    st.original = null;
    st.session = JSON.parse(st.engine.freshJson);
    const old = r[1];
    if (old !== null) {
      try {
        const wait = availability.wait();
        if (wait !== null) await wait;
        const d = callStore(() => destroyRecord(old));
        if (isThenable(d)) await d;
      } catch (err) {
        await handleError(err, 'destroy', ctx);
      }
    }
    return st.session;
  }

  // What the ctx accessors (context.js) call.
  const mw = {
    store,
    readSession: defer
      ? (st, ctx) => {
          const w = ensureLoaded(ctx, st);
          return w === null ? Promise.resolve(st.session) : w.then(() => st.session);
        }
      : (st) => st.session,
    writeSession(st, v) {
      st.session = checkSession(v);
      if (!st.loaded) st.assigned = true;
    },
    regenerate,
  };

  async function runAndCommit(ctx, st, next) {
    try {
      await next();
    } catch (error) {
      return commitAfterFailure(ctx, st, error);
    }
    // Defer mode: nothing is loaded or saved unless the session was read, set or regenerated.
    if (defer && !st.touched()) return;
    if (!st.loaded) await ensureLoaded(ctx, st);
    const w = commit(ctx, st);
    if (w !== null) await w;
  }

  // The session is saved even when the handler threw (its changes are kept), then the
  // handler's error goes on, carrying the session cookies.
  async function commitAfterFailure(ctx, st, error) {
    if (!defer || st.touched()) {
      try {
        if (!st.loaded) await ensureLoaded(ctx, st);
        const w = commit(ctx, st);
        if (w !== null) await w;
      } catch (err) {
        ctx.app.emit('error', toError(err), ctx);
      }
    }
    keepCookiesOnError(error, st.sentCookies);
    throw error;
  }

  function sessionMiddleware(ctx, next) {
    if (isServed(ctx)) return next();
    const st = start(ctx);
    if (st === null) return next();
    const w = load(ctx, st);
    if (w === null) {
      attach(ctx, st);
      return runAndCommit(ctx, st, next);
    }
    return w.then(() => {
      attach(ctx, st);
      return runAndCommit(ctx, st, next);
    });
  }

  function deferSessionMiddleware(ctx, next) {
    if (isServed(ctx)) return next();
    const st = start(ctx);
    if (st === null) return next();
    attach(ctx, st);
    return runAndCommit(ctx, st, next);
  }

  return defer ? deferSessionMiddleware : sessionMiddleware;
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
