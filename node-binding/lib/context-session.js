'use strict';
// One request's session (as koajs/session's ContextSession): begins and loads it through the
// engine's per-request calls (src/calls.rs), hands it to the app (context.js), and at the end
// executes the plan the engine returns: its store operations in order, then its cookies.
// Every decision is the engine's; this file does the awaits (store calls, genSid, valid,
// beforeSave, errorHandler) and the Koa plumbing.

const native = require('../loader');
const { isThenable } = require('./store-access');
const { isStoreUnavailable } = require('./availability');
const { sendCookies, keepCookiesOnError } = require('./response');
const { serialize, recordJson, parseObject } = require('./session-json');
const { adoptFresh, adoptParsed, adoptAssigned, release } = require('./session-object');
const debug = require('./debug');

const { STEP_LOAD, STEP_NEED_SID, STEP_QUIET, LOAD_REPORT_LOADED, LOAD_REPORT_ALIAS, STORE_OP_DESTROY, STORE_OP_SAVE, STORE_OP_MERGE, STORE_OP_TOUCH, STORE_OP_INDEX_USER, STORE_OP_ALIAS } = native;

class ContextSession {
  /** `mw`: what the middleware shares with its requests (index.js). */
  constructor(mw, ctx, upstream) {
    this.mw = mw;
    this.ctx = ctx;
    this.engine = null; // { id, fresh, timeouts } (keys.js): holding it keeps the engine alive while the request runs
    this.token = null; // the engine's state of this request: `<step><state><sid>[ <replaced sid>]`
    this.original = null; // the loaded record's JSON (null for a new session): the engine compares against it
    this.given = null; // the JSON the app was given: `original`, without the engine's times when it keeps some
    this.upstream = upstream; // ctx.sessionId set before the middleware ran
    this.path = null; // the path the engine checked against the cookie path (set by begin)
    this.outside = false; // defer mode: the path left the cookie path before the session was first used
    this.session = null;
    this.save = null; // ctx.sessionSave
    this.loaded = false;
    this.loading = null;
    this.assigned = false; // defer mode: `ctx.session = x` before the session was read
    this.replaced = false; // the app replaced the whole session object: written whole, never merged
    this.sentCookies = null;
    this.renamedTo = null; // a merge found the session renewed meanwhile: its current cookie id
    this.regenerateFn = null;
    this.ticket = null; // what this request's session objects name as their owner (session-object.js)
  }

  /** Begins the request: null outside the cookie path. */
  static start(mw, ctx) {
    const up = ctx.sessionId;
    const cs = new ContextSession(mw, ctx, typeof up === 'string' && up !== '' ? up : null);
    return cs.begin() ? cs : null;
  }

  /**
   * The engine's first call: false outside the cookie path. With the native MemoryStore (not
   * deferred) it also reads the store; its answer is
   * `<report digit, or '-' when nothing was read><token>[\n<record>]`.
   */
  begin() {
    const { mw, ctx } = this;
    const engine = mw.engineFor(ctx.app);
    const cookie = ctx.req.headers.cookie;
    const header = typeof cookie === 'string' ? cookie : null;
    if (debug.enabled) debug.cookie(ctx, engine.id, header);
    const memoryId = mw.defer ? -1 : mw.access.memoryId(mw.valid);
    this.path = ctx.path;
    // The clock at load serves only the lifetime options (the engine reads no time otherwise).
    const r = native.requestBegin(engine.id, header, this.path, this.upstream, mw.nativeSid, memoryId, engine.timeouts ? Date.now() : 0);
    if (r === null) return false;
    const nl = r.indexOf('\n');
    this.engine = engine;
    this.setOriginal(nl < 0 ? null : r.slice(nl + 1));
    this.token = nl < 0 ? r.slice(1) : r.slice(1, nl);
    const report = r.charCodeAt(0) - 48; // a LOAD_REPORT_* digit, or '-' (nothing read)
    if (report >= 0 && (debug.enabled || report === native.LOAD_REPORT_CORRUPT)) this.loadedReport(report, this.original !== null ? this.sid() : null);
    return true;
  }

  /** The loaded record (null: none), and what the app sees of it (`given`, when already known). */
  setOriginal(record, given = undefined) {
    this.original = record;
    this.given = given !== undefined ? given : record !== null && this.engine.timeouts ? native.sessionJson(this.engine.id, record) : record;
  }

  /** The id in the token (the key of the session's record), null while one is needed. */
  sid() {
    const end = this.token.indexOf(' ', 2);
    const sid = end < 0 ? this.token.slice(2) : this.token.slice(2, end);
    return sid === '' ? null : sid;
  }

  /** ctx.sessionId: the id once loaded (defer mode: until then only an upstream id). */
  sessionId() {
    return (this.loaded && !this.outside ? this.sid() : null) ?? this.upstream ?? undefined;
  }

  /** ctx.session (defer mode: a Promise). */
  read() {
    if (!this.mw.defer) return this.session;
    const w = this.ensureLoaded();
    return w === null ? Promise.resolve(this.session) : w.then(() => this.session);
  }

  /** `ctx.session = value`: an object, or null (destroy). */
  write(value) {
    if (value === undefined) value = null;
    if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
      throw new TypeError('koa-session-ts: ctx.session must be an object, or null to destroy the session');
    }
    if (value !== this.session) {
      this.replaced = true;
      if (value !== null) adoptAssigned(value, this);
    }
    this.session = value;
    if (!this.loaded) this.assigned = true;
  }

  /** Logs how loading went; a corrupt record is worth a warning too. */
  loadedReport(report, sid) {
    if (debug.enabled) debug.load(report, sid);
    const corrupt = 'koa-session-ts: store returned an unusable record for a session; starting a new session';
    if (report === native.LOAD_REPORT_CORRUPT) (this.ctx.logger || console).warn(corrupt);
  }

  /** Loads the session (once): null when done at once, else a Promise. */
  ensureLoaded() {
    if (this.loaded) return null;
    if (this.loading !== null) return this.loading;
    // Defer mode decides on the path when the session is first used, as the original does:
    // a handler that moved ctx.path out of the cookie path gets no session.
    if (this.mw.defer && this.ctx.path !== this.path && !this.begin()) {
      this.outside = true;
      this.loaded = true;
      if (!this.assigned) this.session = undefined;
      return null;
    }
    const step = this.token.charCodeAt(0);
    if (step === STEP_LOAD) return (this.loading = this.loadFromStore());
    if (step === STEP_NEED_SID) return (this.loading = this.withNewSid());
    this.loadDone(this.given !== null ? JSON.parse(this.given) : null);
    return null;
  }

  loadDone(session) {
    if (!this.assigned) this.session = session !== null ? adoptParsed(session, this) : adoptFresh(this.engine.fresh, this);
    this.loaded = true;
  }

  /** A new session's id, or a renewal's new id (renewInterval) for the loaded one. */
  async withNewSid() {
    this.token = native.requestSetSid(this.engine.id, this.token, await this.mw.newSid(this.ctx));
    this.loadDone(this.given !== null ? JSON.parse(this.given) : null);
  }

  /** The general load: any store, the valid hook, outages. */
  async loadFromStore() {
    const sid = this.sid();
    let json = null;
    try {
      const record = await this.mw.access.get(sid);
      if (record !== null && record !== undefined) json = recordJson(record);
    } catch (err) {
      // The store stayed away: the same failure as a request that found it away.
      if (isStoreUnavailable(err)) throw err;
      if (!(err && err.code === 'ENOENT')) await this.storeFailed(err, 'get');
    }
    let session = json === null ? null : parseObject(json);
    let given = json;
    if (session === undefined) json = ''; // the engine reports it corrupt
    // With the lifetime options the app (and its valid hook) never sees the engine's times, nor
    // a renewed session's alias (null: its record is read next, and that one is checked).
    else if (session !== null && this.engine.timeouts) {
      given = native.sessionJson(this.engine.id, json);
      session = given === null ? null : parseObject(given);
    }
    let ok = true;
    if (session && this.mw.valid !== null) ok = await this.mw.valid(this.ctx, session);
    const r = native.requestLoaded(this.engine.id, this.token, json, !!ok, this.mw.nativeSid, this.engine.timeouts ? Date.now() : 0);
    this.token = r.slice(1);
    const report = r.charCodeAt(0) - 48;
    // A renewed session's cookie named an alias: its record is read next.
    if (report === LOAD_REPORT_ALIAS) return this.loadFromStore();
    if (report === LOAD_REPORT_LOADED) this.setOriginal(json, given);
    this.loadedReport(report, sid);
    if (this.token.charCodeAt(0) === STEP_NEED_SID) await this.withNewSid();
    else this.loadDone(report === LOAD_REPORT_LOADED ? session : null);
  }

  /** ctx.regenerateSession(): a fresh session under a new id; the old record goes at commit. */
  async regenerate() {
    await this.ensureLoaded();
    if (this.outside) throw new Error('koa-session-ts: cannot regenerate: the request left cookieOptions.path before the session was used');
    const sid = await this.mw.newSid(this.ctx);
    this.token = native.requestRegenerate(this.engine.id, this.token, this.original, sid);
    this.setOriginal(null);
    this.replaced = false;
    this.session = adoptFresh(this.engine.fresh, this);
    return this.session;
  }

  /** session.save(): saved at the end of the request even if unchanged (loads it first in defer mode). */
  async forceSave() {
    await this.ensureLoaded();
    this.save = true;
  }

  /** session.isNew: nothing of this session is in the store yet. */
  isNew() {
    return this.original === null;
  }

  /** Runs the app, then commits (also when the app threw: its changes are kept). */
  async run(next) {
    try {
      try {
        await next();
      } catch (error) {
        // What the app changed before it threw is committed; a failure there is reported, and
        // the app's error is what propagates.
        await Promise.resolve().then(() => this.end()).catch((err) => this.ctx.app.emit('error', err, this.ctx));
        keepCookiesOnError(error, this.sentCookies);
        throw error;
      }
      const w = this.end();
      if (w !== null) await w;
    } finally {
      release(this);
    }
  }

  /** Loads what is left to load, then commits. Defer mode: only a session that was used. */
  end() {
    if (this.mw.defer && !(this.loaded || this.loading !== null || this.assigned)) return null;
    const w = this.ensureLoaded();
    return w === null ? this.commit() : w.then(() => this.commit());
  }

  /** The end of the request: the engine's plan, executed. Null when done at once. */
  commit() {
    if (this.outside) return null;
    const s = this.save;
    const save = s === true ? true : s === false ? false : null;
    const json = save === false || this.session === null ? null : serialize(this.session);
    if (debug.enabled) debug.decision(this, json, save);
    // The engine said at load time that the loaded JSON handed back unchanged (and no
    // sessionSave override) ends with nothing to do: skip the call.
    if (save === null && json === this.given && this.token.charCodeAt(0) === STEP_QUIET) return null;
    if (this.mw.beforeSave !== null && native.requestWillSave(this.engine.id, this.token, this.original, json, save)) {
      const finish = () => this.runPlan(this.session === null ? null : serialize(this.session), save);
      const r = this.mw.beforeSave(this.ctx, this.session);
      return isThenable(r) ? r.then(finish) : finish();
    }
    // While debugging, the general path: it reports each store operation.
    const memoryId = debug.enabled ? -1 : this.mw.access.memoryId(this.mw.valid);
    if (memoryId < 0) return this.runPlan(json, save);
    const cookies = native.memoryFinish(this.engine.id, memoryId, this.token, this.original, json, save, this.replaced, !this.ctx.secure, Date.now());
    if (cookies !== null) this.send(cookies.split('\n'));
    return null;
  }

  runPlan(json, save) {
    const caps = this.mw.access.caps();
    const plan = native.requestFinish(this.engine.id, this.token, this.original, json, save, this.replaced, !this.ctx.secure, Date.now(), caps);
    return plan === null ? null : this.runOps(plan, json, 0);
  }

  /**
   * plan: [n, op, sid, ttlMs, data, ... (n times), stored, ...setCookies] (`data`: the user id
   * of STORE_OP_INDEX_USER, the record of STORE_OP_ALIAS, else null; `stored`: the JSON to
   * write when it is not `json`, or null). Null when done at once.
   */
  runOps(plan, json, from) {
    const n = plan[0];
    const stored = plan[1 + 4 * n];
    if (stored !== null) json = stored;
    for (let k = from; k < n; k++) {
      const op = plan[1 + 4 * k];
      const failed = (err) => this.storeFailed(err, op === STORE_OP_DESTROY ? 'destroy' : 'set');
      let r;
      try {
        r = this.runOp(op, plan[2 + 4 * k], plan[3 + 4 * k], plan[4 + 4 * k], json);
      } catch (err) {
        return failed(err);
      }
      // A touch or merge answers false when the record is gone; a merge answers the session's
      // current id when another request renewed it meanwhile: that id's cookie is sent.
      const gone = (v) => v === false && (op === STORE_OP_TOUCH || op === STORE_OP_MERGE);
      const renamed = (v) => {
        if (typeof v === 'string' && op === STORE_OP_MERGE) this.renamedTo = v;
      };
      if (isThenable(r)) return r.then((v) => (gone(v) ? this.gone() : (renamed(v), this.runOps(plan, json, k + 1))), failed);
      if (gone(r)) return this.gone();
      renamed(r);
    }
    if (this.renamedTo !== null) this.send(native.renamedCookies(this.engine.id, this.renamedTo, json, !this.ctx.secure, Date.now()));
    else if (plan.length > 2 + 4 * n) this.send(plan.slice(2 + 4 * n));
    return null;
  }

  runOp(op, sid, ttlMs, data, json) {
    const access = this.mw.access;
    if (debug.enabled) debug.op(op, sid);
    if (op === STORE_OP_DESTROY) return access.destroy(sid);
    if (op === STORE_OP_SAVE) return access.set(sid, json, ttlMs);
    if (op === STORE_OP_ALIAS) return access.set(sid, data, ttlMs);
    if (op === STORE_OP_INDEX_USER) return access.indexUser(data, sid);
    return op === STORE_OP_TOUCH ? access.touch(sid, ttlMs) : access.merge(sid, this.original, json, ttlMs);
  }

  /** A touch or merge found the record gone (logged out or expired elsewhere): write nothing, clear the cookies. */
  gone() {
    if (debug.enabled) debug.gone(this.sid());
    this.send(native.clearingCookies(this.engine.id));
    return null;
  }

  /** A store call failed (`type`: get, set or destroy): the errorHandler decides; no cookie for a session not saved. */
  storeFailed(err, type) {
    if (debug.enabled) debug.storeError(type, err);
    return this.mw.handleError(err, type, this.ctx);
  }

  send(cookies) {
    sendCookies(this.ctx, cookies, this.mw.cookieNames);
    this.sentCookies = cookies;
  }
}

module.exports = { ContextSession };
