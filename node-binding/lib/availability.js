'use strict';
// Tracks whether a store can serve requests: its state when the middleware is created
// (`store.connected === false` means down), then its CONNECT / DISCONNECT events.
// DISCONNECT starts one wait of `reconnectTimeout` ms: CONNECT within it lets the waiting
// requests go on; past it they fail ('timeout:...') and later ones fail at once until
// CONNECT. Each outage has its own timer, cleared when it ends, so a timer from an earlier
// outage can never fail requests after a reconnect.

const { CONNECT, DISCONNECT } = require('./base-store');

// The errors wait() raises, so callers can tell "the store is away" from a store's own error.
const outageErrors = new WeakSet();
function unavailable(message) {
  const err = new Error(message);
  outageErrors.add(err);
  return err;
}
const isStoreUnavailable = (err) => outageErrors.has(err);

class Availability {
  constructor(timeoutMs) {
    this.timeoutMs = timeoutMs;
    this.down = false; // past reconnectTimeout, until CONNECT
    this.outage = null; // while waiting for CONNECT: a Promise of true (CONNECT) or false (timed out)
    this.end = null; // ends the outage: end(connected)
  }

  disconnected() {
    if (this.down || this.outage !== null) return;
    let settle;
    const outage = new Promise((resolve) => (settle = resolve));
    const timer = setTimeout(() => this.end(false), this.timeoutMs);
    timer.unref?.();
    this.outage = outage;
    this.end = (connected) => {
      clearTimeout(timer);
      this.outage = this.end = null;
      this.down = !connected;
      settle(connected);
    };
  }

  connected() {
    if (this.end !== null) this.end(true);
    this.down = false;
  }

  isUp() {
    return !this.down && this.outage === null;
  }

  /** null when the store is up (the common case: nothing to await), else a Promise. */
  wait() {
    if (this.down) return Promise.reject(unavailable('session store is unavailable'));
    return this.outage === null ? null : this.outage.then((ok) => ok || Promise.reject(unavailable('timeout:session store is unavailable')));
  }
}

// One set of listeners per store, however many middlewares share it (no listener leak
// warnings when many apps or routers use one store).
const watchers = new WeakMap();

function watch(store, timeoutMs) {
  const a = new Availability(timeoutMs);
  if (typeof store.on === 'function') {
    let set = watchers.get(store);
    if (set === undefined) {
      watchers.set(store, (set = new Set()));
      for (const name of [DISCONNECT, DISCONNECT.toLowerCase()]) store.on(name, () => set.forEach((x) => x.disconnected()));
      for (const name of [CONNECT, CONNECT.toLowerCase()]) store.on(name, () => set.forEach((x) => x.connected()));
    }
    set.add(a);
  }
  // A DISCONNECT emitted before this middleware existed reached no listener of ours: a store
  // that says it is down right now (`connected === false`; a throwing getter counts as up,
  // its calls will tell) is waited on from the start.
  try {
    if (store.connected === false) a.disconnected();
  } catch {}
  return a;
}

module.exports = { watch, isStoreUnavailable };
