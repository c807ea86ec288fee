'use strict';
// Tracks whether a store can serve requests: its state when the middleware is created
// (`store.connected === false` means down), then its CONNECT / DISCONNECT events.
// DISCONNECT starts one wait of `reconnectTimeout` ms: CONNECT within it lets the waiting
// requests go on; past it they fail ('timeout:...') and later ones fail at once until
// CONNECT. Each outage has its own waiter and timer, and CONNECT clears the timer, so a
// timer from an earlier outage can never fail requests after a reconnect.

const { CONNECT, DISCONNECT } = require('./base-store');

// The errors wait() raises, so callers can tell "the store is away" from a store's own error.
const outageErrors = new WeakSet();

function unavailable(message) {
  const err = new Error(message);
  outageErrors.add(err);
  return err;
}

/** True for the 'session store is unavailable' errors raised here. */
function isStoreUnavailable(err) {
  return err !== null && typeof err === 'object' && outageErrors.has(err);
}

const UP = 0;
const WAITING = 1;
const DOWN = 2;

class Availability {
  constructor(timeoutMs) {
    this.timeoutMs = timeoutMs;
    this.state = UP;
    this.outage = null;
  }

  disconnected() {
    if (this.state !== UP) return;
    this.state = WAITING;
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    const outage = { promise, resolve, timer: null };
    outage.timer = setTimeout(() => {
      if (this.outage !== outage) return;
      this.outage = null;
      this.state = DOWN;
      resolve(false);
    }, this.timeoutMs);
    if (typeof outage.timer.unref === 'function') outage.timer.unref();
    this.outage = outage;
  }

  connected() {
    const outage = this.outage;
    this.outage = null;
    this.state = UP;
    if (outage) {
      clearTimeout(outage.timer);
      outage.resolve(true);
    }
  }

  /** True while the store is up (nothing to wait for). */
  isUp() {
    return this.state === UP;
  }

  /** null when the store is up (the common case: nothing to await), else a Promise. */
  wait() {
    if (this.state === UP) return null;
    if (this.state === DOWN) return Promise.reject(unavailable('session store is unavailable'));
    return this.outage.promise.then((ok) => {
      if (!ok) throw unavailable('timeout:session store is unavailable');
    });
  }
}

// One set of listeners per store, however many middlewares share it (no listener leak
// warnings when many apps or routers use one store).
const watchers = new WeakMap();

/**
 * True when the store says it is down right now: `store.connected === false` (RedisStore has
 * it; a store of one's own may keep it, false from its DISCONNECT to its CONNECT). Anything
 * else, the property missing included, counts as up. A getter that throws counts as up too:
 * the store's own calls will then tell.
 */
function isDown(store) {
  try {
    return store.connected === false;
  } catch {
    return false;
  }
}

function watch(store, timeoutMs) {
  const a = new Availability(timeoutMs);
  if (typeof store.on === 'function') {
    let set = watchers.get(store);
    if (!set) {
      set = new Set();
      watchers.set(store, set);
      const down = () => set.forEach((x) => x.disconnected());
      const up = () => set.forEach((x) => x.connected());
      store.on(DISCONNECT, down);
      store.on(DISCONNECT.toLowerCase(), down);
      store.on(CONNECT, up);
      store.on(CONNECT.toLowerCase(), up);
    }
    set.add(a);
  }
  // A DISCONNECT emitted before this middleware existed reached no listener of ours: read the
  // store's current state, so a store that is already down is waited on from the start.
  if (isDown(store)) a.disconnected();
  return a;
}

module.exports = { watch, isStoreUnavailable };
