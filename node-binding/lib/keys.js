'use strict';
// One SessionEngine per distinct `app.keys`: built on the first request of an app and again
// only when its keys change (apps may set app.keys after `session()` is called, or change
// the array in place). The engine reads the keys (src/app_keys.rs).

const { SessionEngine } = require('../loader');
const { freshSource } = require('./session-object');

const warned = new Set();

/** Returns `app => { engine, id, fresh, timeouts }` (fresh: what a fresh session is made from, see session-object.js; id: the engine's id for the request calls) for options JSON checked by options.js. */
function engineCache(engineOptions) {
  let source;
  let snapshot = null;
  let current = null;
  return (app) => {
    const keys = app.keys;
    const same = keys === source && (!Array.isArray(keys) || (keys.length === snapshot.length && keys.every((k, i) => k === snapshot[i])));
    if (current !== null && same) return current;
    const engine = new SessionEngine(engineOptions, keys);
    if (engine.warning !== null && !warned.has(engine.warning)) {
      warned.add(engine.warning);
      process.emitWarning(`koa-session-ts: ${engine.warning}`, 'KoaSessionWarning');
    }
    source = keys;
    snapshot = Array.isArray(keys) ? keys.slice() : null;
    current = { engine, id: engine.id, fresh: freshSource(engine.freshSessionJson), timeouts: engine.hasTimeouts };
    return current;
  };
}

module.exports = { engineCache };
