'use strict';
// NODE_DEBUG=koa-session-ts: why the engine decided what it did, in the engine's words
// (util.debuglog: no dependency; nothing is computed while it is off). It never logs a
// session's data or a whole session id.
const { debuglog } = require('node:util');
const { explainCookie, explainLoad, explainDecision, explainOp } = require('../loader');

const debug = debuglog('koa-session-ts');

/** The first characters of an id: enough to follow a session through a log, not to use it. */
const short = (sid) => (typeof sid === 'string' ? `${sid.slice(0, 6)}…` : '-');

module.exports = {
  // Fixed for the process: NODE_DEBUG is read when Node starts.
  enabled: debug.enabled,
  cookie: (ctx, engineId, header) => debug('%s %s: %s', ctx.method, ctx.path, explainCookie(engineId, header)),
  load: (report, sid) => debug('%s (session %s)', explainLoad(report), short(sid)),
  decision: (cs, json, save) => debug('%s (session %s)', explainDecision(cs.engine.id, cs.token, cs.original, json, save), short(cs.sid())),
  op: (op, sid) => debug('%s (session %s)', explainOp(op), short(sid)),
  gone: (sid) => debug('the stored record is gone (logged out or expired elsewhere): nothing written, cookies cleared (session %s)', short(sid)),
  storeError: (type, err) => debug('store %s failed: %s', type, err && err.message),
  waiting: (ms) => debug('the store reported DISCONNECT: waiting up to %d ms for CONNECT', ms),
};
