'use strict';
// How the middleware reaches its store: one object per middleware. It runs each store call
// (a value, Promise, thunk or generator: store-call.js), waits out an outage the store
// reported (availability.js), bounds every call by `storeTimeout`, and uses the native
// stores' JSON methods while the store's own methods are in place (json-store.js).

const { settle } = require('./store-call');
const { kJsonStore } = require('./stores/json-store');
const { STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH, MergeAttempt } = require('../loader');
const debug = require('./debug');

function noop() {}

function isThenable(v) {
  return v !== null && typeof v === 'object' && typeof v.then === 'function';
}

function storeTimeoutError(op, ms) {
  const err = new Error(`session store ${op} did not answer within ${ms} ms (storeTimeout)`);
  err.code = 'ERR_SESSION_STORE_TIMEOUT';
  return err;
}

/** A native store's merge answer: 'merged' | 'gone' | 'conflict' (other writers won every try). */
function merged(answer) {
  if (answer === 'conflict') {
    const err = new Error('session not saved: other requests changed it at the same time, again and again');
    err.code = 'ERR_SESSION_CONFLICT';
    throw err;
  }
  return answer !== 'gone';
}

class StoreAccess {
  constructor(store, availability, timeoutMs) {
    this.store = store;
    this.availability = availability;
    this.timeoutMs = timeoutMs;
    // sid → the end of the last merge of that session (mergeByCompareAndSet).
    this.turns = new Map();
  }

  /** The native store's JSON methods while `method` is still the store's own, else undefined. */
  fast(method) {
    const fast = this.store[kJsonStore];
    return fast !== undefined && this.store[method] === fast[method] ? fast : undefined;
  }

  /** What the plan may ask of this store: `STORE_CAN_*` bits. */
  caps() {
    const fast = this.fast('set');
    if (fast !== undefined) return fast.caps | 0;
    const { compareAndSet, touch } = this.store;
    return (typeof compareAndSet === 'function' ? STORE_CAN_COMPARE_AND_SET : 0) | (typeof touch === 'function' ? STORE_CAN_TOUCH : 0);
  }

  /** Whether the store can compare-and-set (merge); see caps(). */
  canMerge() {
    return (this.caps() & STORE_CAN_COMPARE_AND_SET) !== 0;
  }

  get(sid) {
    const fast = this.fast('get');
    if (fast !== undefined) return this.call('get', () => fast.getJson(this.store, sid), false);
    return this.call('get', () => settle(this.store.get(sid)), true);
  }

  set(sid, json, ttlMs) {
    const fast = this.fast('set');
    if (fast !== undefined) return this.call('set', () => fast.setJson(this.store, sid, json, ttlMs), false);
    // A fresh copy: a JS store that keeps the object never sees later mutations.
    return this.call('set', () => settle(this.store.set(sid, JSON.parse(json), ttlMs)), true);
  }

  destroy(sid) {
    const fast = this.fast('destroy');
    if (fast !== undefined) return this.call('destroy', () => fast.destroyJson(this.store, sid), false);
    return this.call('destroy', () => settle(this.store.destroy(sid)), true);
  }

  /** Refreshes the TTL: true, or false when the record is gone. */
  touch(sid, ttlMs) {
    const fast = this.fast('set');
    if (fast !== undefined) return this.call('touch', () => fast.touchJson(this.store, sid, ttlMs), false);
    return this.call('touch', () => settle(this.store.touch(sid, ttlMs)), true);
  }

  /** Merges `loaded` → `json` into the stored record: true, or false when the record is gone. */
  merge(sid, loaded, json, ttlMs) {
    const fast = this.fast('set');
    if (fast === undefined) return this.mergeByCompareAndSet(sid, loaded, json, ttlMs);
    const r = this.call('merge', () => fast.mergeJson(this.store, sid, loaded, json, ttlMs), false);
    return isThenable(r) ? r.then(merged) : merged(r);
  }

  /**
   * A store of the user's with `compareAndSet`. Merges of one session from this process take
   * turns, as in the native stores: their compare-and-sets then rarely conflict (correctness
   * rests on compare-and-set either way).
   */
  mergeByCompareAndSet(sid, loaded, json, ttlMs) {
    const run = () => this.compareAndSetLoop(sid, loaded, json, ttlMs);
    const mine = (this.turns.get(sid) || Promise.resolve()).then(run, run);
    const done = mine.then(noop, noop);
    this.turns.set(sid, done);
    done.then(() => this.turns.get(sid) === done && this.turns.delete(sid));
    return mine;
  }

  /** Each write the engine's merge loop asks for. */
  async compareAndSetLoop(sid, loaded, json, ttlMs) {
    const attempt = new MergeAttempt(loaded, json);
    for (let w = attempt.next(); w !== null; w = attempt.next()) {
      let answer = this.call('compareAndSet', () => settle(this.store.compareAndSet(sid, w[0], w[1], ttlMs)), true);
      if (isThenable(answer)) answer = await answer;
      attempt.answer(answer === true || typeof answer === 'string' ? answer : null);
    }
    return merged(attempt.outcome);
  }

  /**
   * Runs one store call: a value, or a Promise. A call made while the store reports an outage
   * waits for it (up to reconnectTimeout); a call that fails because the store lost its backend
   * while it ran is part of the outage and is made once more after CONNECT.
   */
  call(op, fn, bound) {
    const w = this.availability.wait();
    if (w !== null) {
      if (debug.enabled) debug.waiting(this.availability.timeoutMs);
      return w.then(() => this.bounded(op, fn(), bound));
    }
    let r;
    try {
      r = fn();
    } catch (err) {
      return this.retryAfterOutage(err, op, fn, bound);
    }
    if (!isThenable(r)) return r;
    return this.bounded(op, r, bound).catch((err) => this.retryAfterOutage(err, op, fn, bound));
  }

  async retryAfterOutage(err, op, fn, bound) {
    const w = this.availability.wait();
    if (w === null) throw err;
    await w;
    return this.bounded(op, fn(), bound);
  }

  /**
   * `r` (a value or thenable) within storeTimeout when `bound` (a JS store; the native stores
   * have their own timeouts): past it the call fails and nothing waits on it.
   */
  bounded(op, r, bound) {
    if (!bound || this.timeoutMs === 0 || !isThenable(r)) return r;
    const ms = this.timeoutMs;
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(storeTimeoutError(op, ms)), ms);
    });
    return Promise.race([r, deadline]).finally(() => clearTimeout(timer));
  }
}

module.exports = { StoreAccess, isThenable };
