'use strict';
// One request's session (as koajs/session's ContextSession): begins and loads it through the
// engine's per-request calls (src/calls.rs), hands it to the app (context.js), and at the end
// executes the plan the engine returns: its store operations in order, then its cookies.
// Every decision is the engine's; this file does the awaits (store calls, genSid, valid,
// beforeSave, errorHandler) and the Koa plumbing.

const {
  requestBegin, requestLoaded, requestSetSid, requestRegenerate, requestWillSave, requestFinish, clearingCookies,
  STEP_LOAD, STEP_NEED_SID, STEP_QUIET, LOAD_REPORT_LOADED, LOAD_REPORT_CORRUPT,
  STORE_OP_DESTROY, STORE_OP_SAVE, STORE_OP_TOUCH,
} = require('../loader');
const { isThenable } = require('./store-access');
const { memoryStoreId, beginInMemory, finishInMemory } = require('./memory-fast-path');
const { isStoreUnavailable } = require('./availability');
const { sendCookies } = require('./response');
const { serialize, recordJson, parseObject, checkSession } = require('./session-json');
const { keepCookiesOnError } = require('./errors');
const debug = require('./debug');

class ContextSession {
  /**
   * `mw`: what the middleware shares with its requests: { access, engines, defer, valid,
   * beforeSave, nativeSid, cookieNames, newSid(ctx), handleError(err, type, ctx) }.
   */
  constructor(mw, ctx, engine, token, upstream) {
    this.mw = mw;
    this.ctx = ctx;
    // { id, freshJson }: holding it keeps the engine alive while the request runs.
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
    // The app replaced the whole session object: written whole, never merged.
    this.replaced = false;
    this.sentCookies = null;
    this.regenerateFn = null;
  }

  /** Begins the request: null outside the cookie path. With the native MemoryStore (not deferred) this also reads the store. */
  static start(mw, ctx) {
    const engine = mw.engines.get(ctx.app);
    const up = ctx.sessionId;
    const upstream = typeof up === 'string' && up !== '' ? up : null;
    let header = ctx.req.headers.cookie;
    if (typeof header !== 'string') header = null;
    if (debug.enabled) debug.cookie(ctx, engine.id, header);
    const mem = mw.defer ? -1 : memoryStoreId(mw.access, mw.valid);
    if (mem < 0) {
      const token = requestBegin(engine.id, header, ctx.path, upstream, mw.nativeSid);
      return token === null ? null : new ContextSession(mw, ctx, engine, token, upstream);
    }
    const r = beginInMemory(engine.id, mem, header, ctx.path, upstream, mw.nativeSid);
    if (r === null) return null;
    const cs = new ContextSession(mw, ctx, engine, r.token, upstream);
    cs.original = r.original;
    if (r.report >= 0) cs.loadedReport(r.report, r.original !== null ? cs.sid() : null);
    return cs;
  }

  get store() {
    return this.mw.access.store;
  }

  /** The id in the token (`<step><state><sid>[ <replaced sid>]`), null while one is needed. */
  sid() {
    if (this.token.charCodeAt(0) === STEP_NEED_SID) return null;
    const end = this.token.indexOf(' ', 2);
    return end < 0 ? this.token.slice(2) : this.token.slice(2, end);
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

  read() {
    if (!this.mw.defer) return this.session;
    const w = this.ensureLoaded();
    return w === null ? Promise.resolve(this.session) : w.then(() => this.session);
  }

  write(value) {
    const session = checkSession(value);
    if (session !== this.session) this.replaced = true;
    this.session = session;
    if (!this.loaded) this.assigned = true;
  }

  /** Logs how loading went; a corrupt record is worth a warning too. */
  loadedReport(report, sid) {
    if (debug.enabled) debug.load(report, sid);
    if (report === LOAD_REPORT_CORRUPT) {
      (this.ctx.logger || console).warn('koa-session-ts: store returned an unusable record for a session; starting a new session');
    }
  }

  /** Loads the session: null when done at once, else a Promise. */
  load() {
    const step = this.token.charCodeAt(0);
    if (step === STEP_LOAD) return this.loadFromStore();
    if (step === STEP_NEED_SID) return this.withNewSid();
    this.loadDone(this.original !== null ? JSON.parse(this.original) : null);
    return null;
  }

  ensureLoaded() {
    if (this.loaded) return null;
    if (this.loading === null) {
      const w = this.load();
      if (w === null) return null;
      this.loading = w;
    }
    return this.loading;
  }

  loadDone(session) {
    if (!this.assigned) this.session = session !== null ? session : JSON.parse(this.engine.freshJson);
    this.loaded = true;
  }

  async withNewSid() {
    this.token = requestSetSid(this.engine.id, this.token, await this.mw.newSid(this.ctx));
    this.loadDone(null);
  }

  /** The general load: any store, the valid hook, outages. */
  async loadFromStore() {
    const { access, valid } = this.mw;
    let record;
    try {
      record = access.get(this.sid());
      if (isThenable(record)) record = await record;
    } catch (err) {
      // The store stayed away: the same failure as a request that found it away.
      if (isStoreUnavailable(err)) throw err;
      record = null;
      if (!(err && err.code === 'ENOENT')) {
        if (debug.enabled) debug.storeError('get', err);
        await this.mw.handleError(err, 'get', this.ctx);
      }
    }
    let json = null;
    let session = null;
    let ok = true;
    if (record !== null && record !== undefined) {
      json = recordJson(record);
      session = parseObject(json);
      if (session === undefined) json = ''; // the engine reports it corrupt
      else if (valid !== null) {
        ok = valid(this.ctx, session);
        if (isThenable(ok)) ok = await ok;
      }
    }
    const sid = this.sid();
    const r = requestLoaded(this.engine.id, this.token, json, !!ok, this.mw.nativeSid);
    this.token = r.slice(1);
    const report = r.charCodeAt(0) - 48;
    if (report === LOAD_REPORT_LOADED) this.original = json;
    else session = null;
    this.loadedReport(report, sid);
    if (this.token.charCodeAt(0) === STEP_NEED_SID) await this.withNewSid();
    else this.loadDone(session);
  }

  /** ctx.regenerateSession(): a fresh session under a new id; the old record goes at commit. */
  async regenerate() {
    const w = this.ensureLoaded();
    if (w !== null) await w;
    const sid = await this.mw.newSid(this.ctx);
    this.token = requestRegenerate(this.engine.id, this.token, this.original, sid);
    this.original = null;
    this.replaced = false;
    this.session = JSON.parse(this.engine.freshJson);
    return this.session;
  }

  /** Runs the app, then commits (also when the app threw: its changes are kept). */
  async run(next) {
    try {
      await next();
    } catch (error) {
      return this.commitAfterFailure(error);
    }
    // Defer mode: nothing is loaded or saved unless the session was read, set or regenerated.
    if (this.mw.defer && !this.touched()) return;
    if (!this.loaded) await this.ensureLoaded();
    const w = this.commit();
    if (w !== null) await w;
  }

  async commitAfterFailure(error) {
    if (!this.mw.defer || this.touched()) {
      try {
        if (!this.loaded) await this.ensureLoaded();
        const w = this.commit();
        if (w !== null) await w;
      } catch (err) {
        this.ctx.app.emit('error', err, this.ctx);
      }
    }
    keepCookiesOnError(error, this.sentCookies);
    throw error;
  }

  /** The end of the request: the engine's plan, executed. Null when done at once. */
  commit() {
    const s = this.save;
    const save = s === true ? true : s === false ? false : null;
    const json = save === false || this.session === null ? null : serialize(this.session);
    if (debug.enabled) debug.decision(this, json, save);
    // The engine said at load time that the loaded JSON handed back unchanged (and no
    // sessionSave override) ends with nothing to do: skip the call.
    if (save === null && json === this.original && this.token.charCodeAt(0) === STEP_QUIET) return null;
    if (this.mw.beforeSave !== null) return this.commitWithHook(save, json);
    // While debugging, the general path: it reports each store operation.
    const mem = debug.enabled ? -1 : memoryStoreId(this.mw.access, this.mw.valid);
    if (mem >= 0) {
      const cookies = finishInMemory(this.engine.id, mem, this.token, this.original, json, save, this.replaced, !this.ctx.secure);
      if (cookies !== null) this.send(cookies);
      return null;
    }
    return this.runPlan(this.plan(json, save), json);
  }

  plan(json, save) {
    const caps = this.mw.access.caps();
    return requestFinish(this.engine.id, this.token, this.original, json, save, this.replaced, !this.ctx.secure, Date.now(), caps);
  }

  async commitWithHook(save, json) {
    if (requestWillSave(this.engine.id, this.token, this.original, json, save)) {
      const r = this.mw.beforeSave(this.ctx, this.session);
      if (isThenable(r)) await r;
      json = this.session === null ? null : serialize(this.session);
    }
    const w = this.runPlan(this.plan(json, save), json);
    if (w !== null) await w;
  }

  /** plan: null | [n, op, sid, ttlMs, ... (n times), ...setCookies]. Null when done at once. */
  runPlan(plan, json) {
    return plan === null ? null : this.runOps(plan, json, 0);
  }

  runOps(plan, json, from) {
    const n = plan[0];
    for (let k = from; k < n; k++) {
      const op = plan[1 + 3 * k];
      let r;
      try {
        r = this.runOp(op, plan[2 + 3 * k], plan[3 + 3 * k], json);
      } catch (err) {
        return this.storeFailed(err, op);
      }
      if (isThenable(r)) {
        return r.then(
          (v) => (isGone(op, v) ? this.gone() : this.runOps(plan, json, k + 1)),
          (err) => this.storeFailed(err, op),
        );
      }
      if (isGone(op, r)) return this.gone();
    }
    if (plan.length > 1 + 3 * n) this.send(plan.slice(1 + 3 * n));
    return null;
  }

  runOp(op, sid, ttlMs, json) {
    const access = this.mw.access;
    if (debug.enabled) debug.op(op, sid);
    if (op === STORE_OP_DESTROY) return access.destroy(sid);
    if (op === STORE_OP_SAVE) return access.set(sid, json, ttlMs);
    if (op === STORE_OP_TOUCH) return access.touch(sid, ttlMs);
    return access.merge(sid, this.original, json, ttlMs);
  }

  /** A touch or merge found the record gone (logged out or expired elsewhere): write nothing, clear the cookies. */
  gone() {
    if (debug.enabled) debug.gone(this.sid());
    this.send(clearingCookies(this.engine.id));
    return null;
  }

  /** The store did not take it: no cookie for a session that was not saved. */
  storeFailed(err, op) {
    if (debug.enabled) debug.storeError(op === STORE_OP_DESTROY ? 'destroy' : 'set', err);
    return this.mw.handleError(err, op === STORE_OP_DESTROY ? 'destroy' : 'set', this.ctx);
  }

  send(cookies) {
    sendCookies(this.ctx, cookies, this.mw.cookieNames);
    this.sentCookies = cookies;
  }
}

/** A touch or merge answers false when the record is gone. */
function isGone(op, result) {
  return result === false && op !== STORE_OP_DESTROY && op !== STORE_OP_SAVE;
}

module.exports = { ContextSession };
