'use strict';
// One SessionEngine per distinct `app.keys`: built on the first request of an app and again
// only when its keys change (apps may set app.keys after `session()` is called, or change
// the array in place). The engine reads the keys (src/app_keys.rs).

const { SessionEngine } = require('../loader');

const warned = new Set();

class EngineCache {
  /** engineOptions: the options JSON checked by options.js. */
  constructor(engineOptions) {
    this.engineOptions = engineOptions;
    this.source = undefined;
    this.snapshot = null;
    this.current = null;
  }

  /** { engine, id, freshJson } for this app's keys (id: the engine's id for the request calls). */
  get(app) {
    const source = app.keys;
    const c = this.current;
    if (c !== null && source === this.source && (!Array.isArray(source) || sameList(source, this.snapshot))) return c;
    const engine = new SessionEngine(this.engineOptions, source);
    const warning = engine.warning;
    if (warning !== null && !warned.has(warning)) {
      warned.add(warning);
      process.emitWarning(`koa-session-ts: ${warning}`, 'KoaSessionWarning');
    }
    this.source = source;
    this.snapshot = Array.isArray(source) ? source.slice() : null;
    this.current = { engine, id: engine.id, freshJson: engine.freshSessionJson };
    return this.current;
  }
}

function sameList(a, b) {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

module.exports = { EngineCache };
