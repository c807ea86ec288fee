'use strict';
// Shared by the session lifetime tests (lifetimes.test.js, renewal.test.js): time units, a
// fake clock for the engine (Date.now in Node), and a count of the native MemoryStore's JSON
// methods called from JS.
const kJsonStore = Symbol.for('koa-session-ts.jsonStore');

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const TEN_YEARS = 10 * 365 * 86400000;

/** Stubs Date.now: `set(t)`, `advance(ms)`; `restore()` puts the real one back. */
function fakeClock(start = Date.now()) {
  const real = Date.now;
  let now = start;
  Date.now = () => now;
  return {
    get now() {
      return now;
    },
    set(t) {
      now = t;
      return now;
    },
    advance(ms) {
      now += ms;
      return now;
    },
    restore() {
      Date.now = real;
    },
  };
}

/** Runs `fn(clock)` on a fake clock starting at the real time; always restores Date.now. */
async function withClock(fn) {
  const clock = fakeClock();
  try {
    return await fn(clock);
  } finally {
    clock.restore();
  }
}

/**
 * Wraps the JSON methods of `store`'s native MemoryStore so that each call from JS is counted:
 * returns the counter, { viaJs } (live). Take the test's own reader (nativeGetJson) before
 * calling this, so that the test's looks at the store are not counted.
 */
function countNativeJsonCalls(store) {
  const native = store[kJsonStore];
  const counter = { viaJs: 0 };
  for (const m of ['getJson', 'setJson', 'mergeJson', 'touchJson', 'destroyJson']) {
    const orig = native[m];
    native[m] = function counted(...args) {
      counter.viaJs++;
      return orig.apply(this, args);
    };
  }
  return counter;
}

/** The native MemoryStore's own getJson (not counted by countNativeJsonCalls when bound first). */
const nativeGetJson = (store) => store[kJsonStore].getJson.bind(store[kJsonStore]);

module.exports = { kJsonStore, SECOND, MINUTE, TEN_YEARS, fakeClock, withClock, countNativeJsonCalls, nativeGetJson };
