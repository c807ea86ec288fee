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
 * With `userField`: the recording store opts in to what that option needs, compare-and-set
 * and a user index (README: Log out everywhere), and records those calls too. The index of a
 * user is its session ids in the order they were first indexed.
 */
class IndexingRecordingStore extends RecordingStore {
  constructor(records) {
    super(records);
    this.index = new Map(); // user id → Map(sid → since, unix ms)
  }

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

function buildApp(scenario, store, current) {
  const cfg = scenario.config || {};
  const app = new Koa();
  if (cfg.keys && cfg.keys.length > 0) app.keys = cfg.keys;
  app.proxy = true; // X-Forwarded-Proto: https marks a request secure
  app.context.logger = { warn: (msg) => emit(`# koa warn: ${msg}`) };
  const recordError = (err) => {
    if (err !== null && typeof err === 'object') {
      if (err[kRecorded]) return;
      err[kRecorded] = true;
    }
    emit(`error ${current.phase}`);
    emit(`# koa error: ${err && err.message}`);
  };
  app.silent = true;
  app.on('error', recordError);
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      recordError(err);
      throw err;
    }
  });
  app.use((ctx, next) => {
    if (current.request.upstreamSid !== undefined) ctx.sessionId = current.request.upstreamSid;
    return next();
  });
  const opts = {
    store,
    errorHandler(err, type) {
      emit(`# koa errorHandler type=${type}`);
      throw err;
    },
  };
  for (const name of ['key', 'cookieOptions', 'rolling', 'allowEmpty', 'userField']) if (name in cfg) opts[name] = cfg[name];
  if ('validReturns' in cfg) opts.valid = () => cfg.validReturns;
  app.use(session(opts));
  app.use(async (ctx) => {
    current.phase = 'handler';
    const hasSession = ctx.session !== undefined;
    if (!hasSession) emit('handler no session');
    for (const action of current.request.actions || []) {
      const [name, arg] = Object.entries(action)[0];
      if (name === 'throw') {
        emit('handler threw');
        current.phase = 'commit';
        const err = new Error('handler failure');
        err[kRecorded] = true;
        throw err;
      }
      if (!hasSession) continue;
      if (!(name in ACTIONS)) throw new Error(`unknown action ${name}`);
      try {
        await ACTIONS[name](ctx, arg);
      } catch (err) {
        current.phase = 'commit';
        emit('error handler');
        emit(`# koa error: ${err && err.message}`);
        if (err !== null && typeof err === 'object') err[kRecorded] = true;
        throw err;
      }
    }
    emit('handler returned');
    current.phase = 'commit';
    ctx.body = 'ok';
  });
  return app;
}

function send(port, req, cookie) {
  const headers = {};
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

async function run(file) {
  const scenario = require(path.resolve(file));
  const Store = (scenario.config || {}).userField === undefined ? RecordingStore : IndexingRecordingStore;
  const store = new Store(scenario.store);
  const current = { phase: 'load', request: null };
  const app = buildApp(scenario, store, current);
  const server = http.createServer(app.callback());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const responses = [];
  try {
    for (const [i, req] of scenario.requests.entries()) {
      const cookie = resolveCookie(req.cookie || '', responses);
      emit(`request ${i + 1} GET ${req.path || '/'}${req.https ? ' https' : ''}${cookie === '' ? '' : ` cookie: ${cookie}`}`);
      emit(`now ${Date.now()}`);
      current.request = req;
      current.phase = 'load';
      store.faults = new Set(req.storeFaults || []);
      const res = await send(server.address().port, req, cookie);
      for (const v of res.setCookies) emit(`set-cookie ${v}`);
      emit(`status ${res.status}`);
      responses.push(res.setCookies);
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
