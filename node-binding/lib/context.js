'use strict';
// The per-request ctx API (session, sessionId, sessionSave, sessionStore, regenerateSession)
// as accessors defined once per app on `app.context`, reading the request's state from a
// symbol slot on ctx. Defining six properties on every ctx cost more than the rest of the
// middleware together, and turned every ctx into a slow dictionary-mode object.
//
// The state object (`st`, a ContextSession) belongs to the middleware serving the request,
// so two middlewares (or two copies of this package) share the accessors. Without a state
// (a request the middleware did not serve, or before it ran) assigning one of these names
// makes an own property, as on a plain ctx.

// Symbol.for: a second copy of the package in the same process sees the same slots.
const kState = Symbol.for('koa-session-ts.state');
const kInstalled = Symbol.for('koa-session-ts.contextApi');
const hasOwn = Object.prototype.hasOwnProperty;

/** name → [read it from the state, write it (none: read-only once the middleware runs), the read-only error's hint]. */
const API = {
  session: [(st) => st.read(), (st, v) => st.write(v)],
  sessionId: [(st) => st.sessionId(), null, '; use ctx.regenerateSession() for a new id'],
  sessionSave: [(st) => st.save, (st, v) => (st.save = v)],
  sessionStore: [(st) => st.mw.access.store, null, ''],
  regenerateSession: [(st) => st.regenerateFn || (st.regenerateFn = () => st.regenerate()), null, ''],
};

const NAMES = Object.keys(API);

const descriptors = { [kInstalled]: { value: true, configurable: true } };
for (const [name, [read, write, hint]] of Object.entries(API)) {
  descriptors[name] = {
    configurable: true,
    enumerable: true,
    get() {
      const st = this[kState];
      return st === undefined ? undefined : read(st);
    },
    set(v) {
      const st = this[kState];
      if (st === undefined) Object.defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true });
      else if (write !== null) write(st, v);
      else throw new TypeError(`koa-session-ts: ctx.${name} is read-only once the session middleware runs${hint}`);
    },
  };
}

function ownsAnyName(obj) {
  for (const name of NAMES) if (hasOwn.call(obj, name)) return true;
  return false;
}

/**
 * Gives `ctx` the session API backed by `st`. The accessors go on `app.context` (the
 * prototype of every ctx of the app) the first time; a ctx of another shape (a mounted or
 * hand-made ctx, or an app.context where another library owns these names), or one that
 * already holds own values under these names (set before the middleware ran), gets them
 * as its own properties instead.
 */
function attach(ctx, st) {
  ctx[kState] = st;
  if (ctx[kInstalled] === true && !ownsAnyName(ctx)) return;
  const proto = Object.getPrototypeOf(ctx);
  const onAppContext = ctx[kInstalled] !== true && ctx.app && proto === ctx.app.context && !ownsAnyName(proto) && !ownsAnyName(ctx);
  Object.defineProperties(onAppContext ? proto : ctx, descriptors);
}

/** True when a session middleware already serves this ctx, or another library put a session on it. */
const isServed = (ctx) => ctx[kState] !== undefined || hasOwn.call(ctx, 'session');

module.exports = { attach, isServed };
