'use strict';
// NODE_DEBUG=koa-session-ts: why the engine decided what it did, in the engine's words
// (util.debuglog: no dependency; nothing is computed while it is off). It never logs a
// session's data, and shows ids only as the engine's tags (a keyed hash, stable per process).
const { debuglog } = require('node:util');
const { explainCookie, explainLoad, explainDecision, explainOp, logId } = require('../loader');

const debug = debuglog('koa-session-ts');

/** An id's tag: enough to follow a session through a log, useless to anyone reading it. */
const short = (sid) => (typeof sid === 'string' ? logId(sid) : '-');

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
