'use strict';
// Runs one conformance scenario (tests/conformance/README.md) through a real Koa app with
// koa-session-ts and a recording store, over loopback HTTP, and prints the trace.
//   node koa-runner.js scenarios/<name>.json
// This file only executes the scenario's actions and records what happens: every session
// decision is the middleware's.

const http = require('node:http');
const path = require('node:path');
const { createRequire } = require('node:module');

// The package as its users require it (by name, through its "exports"), and node-binding's Koa.
const fromPackage = createRequire(path.join(__dirname, '..', '..', 'node-binding', 'package.json'));
const session = fromPackage('koa-session-ts');
const Koa = fromPackage(process.env.KOA_MODULE || 'koa');
const { BaseStore } = session;

const out = [];
const emit = (line) => out.push(line);

/** A JS store that keeps records as JSON text, logs every call, and fails on request. */
class RecordingStore extends BaseStore {
  constructor(records) {
    super();
    this.records = new Map(Object.entries(records || {}));
    this.faults = new Set();
  }

  get(sid) {
    if (this.faults.has('get')) {
      emit(`store get ${sid} -> FAIL`);
      throw new Error('injected get failure');
    }
    const raw = this.records.get(sid);
    emit(`store get ${sid} -> ${raw === undefined ? 'miss' : 'hit'}`);
    if (raw === undefined) return null;
    // What a JS store holding text hands back: the parsed record, or the text it cannot parse.
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }

  set(sid, sess, ttl) {
    const json = JSON.stringify(sess);
    if (this.faults.has('set')) {
      emit(`store set ${sid} ttl=${ttl} ${json} -> FAIL`);
      throw new Error('injected set failure');
    }
    this.records.set(sid, json);
    emit(`store set ${sid} ttl=${ttl} ${json} -> ok`);
  }

  destroy(sid) {
    if (this.faults.has('destroy')) {
      emit(`store destroy ${sid} -> FAIL`);
      throw new Error('injected destroy failure');
    }
    this.records.delete(sid);
    emit(`store destroy ${sid} -> ok`);
  }
}

/**
 * With a lifetime option (idleTimeout, absoluteTimeout, renewInterval, renewGrace): the
 * recording store opts in to compare-and-set, which those options need, and records it.
 */
class CasRecordingStore extends RecordingStore {
  compareAndSet(sid, expected, json, ttl) {
    if (this.faults.has('cas')) {
      emit(`store cas ${sid} ttl=${ttl} ${json} -> FAIL`);
      throw new Error('injected cas failure');
    }
    const now = this.records.get(sid);
    if (now === undefined) {
      emit(`store cas ${sid} ttl=${ttl} ${json} -> miss`);
      return null;
    }
    if (now !== expected) {
      emit(`store cas ${sid} ttl=${ttl} ${json} -> changed`);
      return now;
    }
    this.records.set(sid, json);
    emit(`store cas ${sid} ttl=${ttl} ${json} -> ok`);
    return true;
  }
}

/**
 * With `userField`: the recording store opts in to what that option needs, compare-and-set
 * and a user index (README: Log out everywhere), and records those calls too. The index of a
 * user is its session ids in the order they were first indexed.
 */
class IndexingRecordingStore extends CasRecordingStore {
  constructor(records) {
    super(records);
    this.index = new Map(); // user id → Map(sid → since, unix ms)
  }

  indexUserSession(userId, sid) {
    if (this.faults.has('index-add')) {
      emit(`store index-add ${userId} ${sid} -> FAIL`);
      throw new Error('injected index-add failure');
    }
    const user = String(userId);
    if (!this.index.has(user)) this.index.set(user, new Map());
    this.index.get(user).set(sid, Date.now());
    emit(`store index-add ${user} ${sid} -> ok`);
  }

  indexEntries(user) {
    const sids = [...(this.index.get(user) || new Map()).keys()];
    emit(`store index-entries ${user} -> ${sids.length === 0 ? '(none)' : sids.join(' ')}`);
    return sids;
  }

  indexRemove(user, sids) {
    const held = this.index.get(user);
    for (const sid of sids) if (held !== undefined) held.delete(sid);
    emit(`store index-remove ${user} ${sids.join(' ')} -> ok`);
  }

  /**
   * What a JS store of one's own must provide with `indexUserSession` (README: Log out
   * everywhere, step 2): read the user's index, destroy each record listed (but `except`),
   * and only then remove the entries of the records found (a missing one may be a login still
   * under way); resolves to how many records there were. Written
   * with the same store calls the C API's ks_store_destroy_user_sessions makes on a C store
   * (core/src/store/user_index.rs: a get per entry, to count), so the traces line up.
   */
  destroyUserSessions(userId, options) {
    const user = String(userId);
    const except = options && options.except;
    const gone = [];
    let ended = 0;
    for (const sid of this.indexEntries(user)) {
      if (sid === except) continue;
      const found = this.get(sid) !== null;
      this.destroy(sid);
      // A missing record may be a login still writing it: its entry stays for the next call.
      if (found) {
        ended += 1;
        gone.push(sid);
      }
    }
    if (gone.length > 0) this.indexRemove(user, gone);
    return ended;
  }
}

/** `{name@N}` → the value of cookie `name` in the Set-Cookie values of response N. */
function resolveCookie(template, responses) {
  return template.replace(/\{([^@{}]+)@(\d+)\}/g, (_, name, n) => {
    const sent = responses[Number(n) - 1] || [];
    const c = sent.find((v) => v.startsWith(`${name}=`));
    return c === undefined ? '' : c.slice(name.length + 1).split(';')[0];
  });
}

// The handler: a scenario's actions applied to ctx, as an application would.
const ACTIONS = {
  read(ctx, field) {
    const v = field === '*' ? ctx.session : ctx.session[field];
    emit(`handler read ${field} = ${v === undefined ? '(absent)' : JSON.stringify(v)}`);
  },
  readId(ctx) {
    emit(`handler sessionId = ${ctx.sessionId}`);
  },
  set(ctx, fields) {
    for (const [k, v] of Object.entries(fields)) ctx.session[k] = structuredClone(v);
  },
  remove(ctx, field) {
    delete ctx.session[field];
  },
  replace(ctx, obj) {
    ctx.session = structuredClone(obj);
  },
  setCookieField(ctx, fields) {
    if (ctx.session.cookie === undefined) ctx.session.cookie = {};
    for (const [k, v] of Object.entries(fields)) {
      ctx.session.cookie[k] = v !== null && typeof v === 'object' && 'inMs' in v ? new Date(Date.now() + v.inMs) : v;
    }
  },
  async regenerate(ctx) {
    await ctx.regenerateSession();
  },
  destroy(ctx) {
    ctx.session = null;
  },
  save(ctx, value) {
    ctx.sessionSave = value;
  },
  // A store-level call made by the handler, between this request's load and its commit.
  async destroyUserSessions(ctx, arg) {
    const except = arg.exceptCurrent ? ctx.sessionId : arg.except;
    const ended = await ctx.sessionStore.destroyUserSessions(arg.user, except === undefined ? undefined : { except });
    emit(`handler destroyUserSessions ${arg.user}${except === undefined ? '' : ` except ${except}`} -> ${ended}`);
  },
};

const kRecorded = Symbol('recorded');

// The lifetime options, passed as they are; any of them gives the store compare-and-set.
const LIFETIME_OPTIONS = ['idleTimeout', 'absoluteTimeout', 'renewInterval', 'renewGrace'];
const OPTIONS = ['key', 'cookieOptions', 'rolling', 'allowEmpty', 'userField', ...LIFETIME_OPTIONS];

/**
 * The scenario clock (README: "The clock"): with `clockStart`, `Date.now()` answers the
 * scenario's time instead of the real one, for the whole run (the engine takes the host's
 * `Date.now()` at each step, so this is its clock; the app and the stores see it too). Each
 * request first moves it: `at` (ms after `clockStart`) or `advance` (ms). Without
 * `clockStart` the clock is real and requests may not move it. Returns the clock to set
 * before request `i`, or null.
 */
function scenarioClock(scenario) {
  const start = scenario.clockStart;
  const moves = scenario.requests.some((r) => 'at' in r || 'advance' in r);
  if (start === undefined) {
    if (moves) throw new Error('"at" / "advance" need a scenario "clockStart"');
    return null;
  }
  if (!Number.isSafeInteger(start) || start < 0) throw new Error('"clockStart" must be unix ms');
  let now = start;
  const times = scenario.requests.map((r) => {
    if ('at' in r && 'advance' in r) throw new Error('a request has "at" or "advance", not both');
    const v = 'at' in r ? r.at : r.advance;
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new Error('"at" / "advance" must be whole ms, >= 0');
    if ('at' in r) now = start + r.at;
    else if ('advance' in r) now += r.advance;
    return now;
  });
  let current = start;
  Date.now = () => current;
  return (i) => {
    current = times[i];
  };
}

/**
 * `commitAfter: M` on request N: its handler, once done, waits until request M has answered
 * before returning (and the middleware commits). The requests in between run meanwhile. With
 * the store faults of one request active for the next ones' calls, a pause and faults do not
 * mix.
 */
function checkPauses(requests) {
  for (const [i, r] of requests.entries()) {
    if (r.commitAfter === undefined) continue;
    const m = r.commitAfter;
    if (!Number.isInteger(m) || m <= i + 1 || m > requests.length) throw new Error(`request ${i + 1}: commitAfter must name a later request`);
    for (let k = i; k < m; k++) if ((requests[k].storeFaults || []).length > 0) throw new Error(`request ${k + 1}: storeFaults while request ${i + 1} waits`);
  }
}

function buildApp(scenario, store) {
  const cfg = scenario.config || {};
  const app = new Koa();
  if (cfg.keys && cfg.keys.length > 0) app.keys = cfg.keys;
  app.proxy = true; // X-Forwarded-Proto: https marks a request secure
  app.context.logger = { warn: (msg) => emit(`# koa warn: ${msg}`) };
  // Each request's own state (`conf`: its scenario entry, its phase, its pause), by the index
  // the runner sends in a header: requests may overlap (commitAfter).
  const confOf = (ctx) => (ctx && ctx.state && ctx.state.conf) || { phase: 'commit' };
  const recordError = (err, ctx) => {
    if (err !== null && typeof err === 'object') {
      if (err[kRecorded]) return;
      err[kRecorded] = true;
    }
    emit(`error ${confOf(ctx).phase}`);
    emit(`# koa error: ${err && err.message}`);
  };
  app.silent = true;
  app.on('error', recordError);
  app.use(async (ctx, next) => {
    ctx.state.conf = scenario.states[Number(ctx.get('x-conformance-request'))];
    try {
      await next();
    } catch (err) {
      recordError(err, ctx);
      throw err;
    }
  });
  app.use((ctx, next) => {
    const { req } = ctx.state.conf;
    if (req.upstreamSid !== undefined) ctx.sessionId = req.upstreamSid;
    return next();
  });
  const opts = {
    store,
    errorHandler(err, type) {
      emit(`# koa errorHandler type=${type}`);
      throw err;
    },
  };
  for (const name of OPTIONS) if (name in cfg) opts[name] = cfg[name];
  if ('validReturns' in cfg) opts.valid = () => cfg.validReturns;
  app.use(session(opts));
  app.use(async (ctx) => {
    const conf = ctx.state.conf;
    conf.phase = 'handler';
    const hasSession = ctx.session !== undefined;
    if (!hasSession) emit('handler no session');
    for (const action of conf.req.actions || []) {
      const [name, arg] = Object.entries(action)[0];
      if (name === 'throw') {
        emit('handler threw');
        await conf.pause();
        conf.phase = 'commit';
        const err = new Error('handler failure');
        err[kRecorded] = true;
        throw err;
      }
      if (!hasSession) continue;
      if (!(name in ACTIONS)) throw new Error(`unknown action ${name}`);
      try {
        await ACTIONS[name](ctx, arg);
      } catch (err) {
        conf.phase = 'commit';
        emit('error handler');
        emit(`# koa error: ${err && err.message}`);
        if (err !== null && typeof err === 'object') err[kRecorded] = true;
        await conf.pause();
        throw err;
      }
    }
    emit('handler returned');
    await conf.pause();
    conf.phase = 'commit';
    ctx.body = 'ok';
  });
  return app;
}

function send(port, index, req, cookie) {
  const headers = { 'x-conformance-request': String(index) };
  if (cookie !== '') headers.cookie = cookie;
  if (req.https) headers['x-forwarded-proto'] = 'https';
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, path: req.path || '/', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, setCookies: res.headers['set-cookie'] || [] }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end();
  });
}

/** An option session() refused: `config error <option>`, the option as the error names it. */
function configError(err) {
  const m = /option "([^"]+)"/.exec((err && err.message) || '');
  emit(`config error ${m ? m[1] : '(unnamed)'}`);
  emit(`# koa error: ${err && err.message}`);
}

async function run(file) {
  const scenario = require(path.resolve(file));
  const cfg = scenario.config || {};
  checkPauses(scenario.requests);
  const setClock = scenarioClock(scenario);
  const cas = cfg.userField !== undefined || (scenario.storeCas !== false && LIFETIME_OPTIONS.some((n) => n in cfg));
  const Store = cfg.userField !== undefined ? IndexingRecordingStore : cas ? CasRecordingStore : RecordingStore;
  const store = new Store(scenario.store);
  // One state per request: `resume` lets a paused handler go on (commitAfter).
  scenario.states = scenario.requests.map((req) => {
    const conf = { req, phase: 'load', paused: null, resume: null };
    conf.pause = () => {
      if (req.commitAfter === undefined) return null;
      return new Promise((resolve) => {
        conf.resume = resolve;
        conf.paused();
      });
    };
    return conf;
  });
  let app;
  try {
    app = buildApp(scenario, store);
  } catch (err) {
    configError(err);
    process.stdout.write(out.map((l) => `${l}\n`).join(''));
    return;
  }
  const server = http.createServer(app.callback());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const responses = [];
  const waiting = []; // [index, response promise] of paused requests, in request order
  const answered = async (i, res) => {
    for (const v of res.setCookies) emit(`set-cookie ${v}`);
    emit(`status ${res.status}`);
    responses[i] = res.setCookies;
    // The paused requests waiting for this one commit now, in request order.
    for (const [k, pending] of waiting.filter(([k]) => scenario.requests[k].commitAfter === i + 1)) {
      waiting.splice(waiting.findIndex(([w]) => w === k), 1);
      emit(`resume request ${k + 1}`);
      scenario.states[k].resume();
      await answered(k, await pending);
    }
  };
  try {
    for (const [i, req] of scenario.requests.entries()) {
      if (setClock !== null) setClock(i);
      const cookie = resolveCookie(req.cookie || '', responses);
      emit(`request ${i + 1} GET ${req.path || '/'}${req.https ? ' https' : ''}${cookie === '' ? '' : ` cookie: ${cookie}`}`);
      emit(`now ${Date.now()}`);
      const conf = scenario.states[i];
      store.faults = new Set(req.storeFaults || []);
      const paused = new Promise((resolve) => {
        conf.paused = () => resolve(null);
      });
      const pending = send(server.address().port, i, req, cookie);
      // A request that is to wait runs until its handler pauses (or it answers at once: a
      // failed load never reaches the handler).
      const res = await Promise.race([pending, paused]);
      if (res === null) waiting.push([i, pending]);
      else await answered(i, res);
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
  process.stdout.write(out.map((l) => `${l}\n`).join(''));
}

run(process.argv[2]).catch((err) => {
  process.stderr.write(`koa-runner: ${err && err.stack}\n`);
  process.exit(2);
});
