'use strict';
// How the middleware reaches its store: one object per middleware. It runs each store call
// (a value, Promise, thunk or generator: store-call.js), waits out an outage the store
// reported (availability.js), bounds every call by `storeTimeout`, and uses the native
// stores' JSON methods while the store's own methods are in place (json-store.js). With the
// package's own MemoryStore, the engine's calls read and write it themselves (memoryId).

const { settle } = require('./store-call');
const { JsonStore, kJsonStore } = require('./stores/json-store');
const { STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH, MergeAttempt } = require('../loader');
const debug = require('./debug');

const isThenable = (v) => v !== null && typeof v === 'object' && typeof v.then === 'function';
const noop = () => {};

function storeError(code, message) {
  return Object.assign(new Error(message), { code });
}

/** A merge's answer: 'merged' | 'gone' | 'conflict' (other writers won every try) as true / false / a throw. */
function merged(answer) {
  if (answer === 'conflict') throw storeError('ERR_SESSION_CONFLICT', 'session not saved: other requests changed it at the same time, again and again');
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
    return fast !== undefined && this.store[method] === JsonStore.prototype[method] ? fast : undefined;
  }

  /**
   * The native MemoryStore's registry id when this request may leave its store calls to the
   * engine's (its methods not replaced, no `valid` hook, no outage), else -1.
   */
  memoryId(valid) {
    const fast = this.fast('get');
    if (fast === undefined || fast.memoryId === undefined || valid !== null || !this.availability.isUp()) return -1;
    return this.fast('set') !== undefined && this.fast('destroy') !== undefined ? fast.memoryId(this.store) : -1;
  }

  /** What the plan may ask of this store: `STORE_CAN_*` bits. */
  caps() {
    const fast = this.fast('set');
    if (fast !== undefined) return fast.caps;
    const { compareAndSet, touch } = this.store;
    return (typeof compareAndSet === 'function' ? STORE_CAN_COMPARE_AND_SET : 0) | (typeof touch === 'function' ? STORE_CAN_TOUCH : 0);
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
   * A store of the user's with `compareAndSet`, driven by the engine's merge loop. Merges of
   * one session from this process take turns, as in the native stores: their compare-and-sets
   * then rarely conflict (correctness rests on compare-and-set either way).
   */
  mergeByCompareAndSet(sid, loaded, json, ttlMs) {
    const run = async () => {
      const attempt = new MergeAttempt(loaded, json);
      for (let w = attempt.next(); w !== null; w = attempt.next()) {
        const answer = await this.call('compareAndSet', () => settle(this.store.compareAndSet(sid, w[0], w[1], ttlMs)), true);
        attempt.answer(answer === true || typeof answer === 'string' ? answer : null);
      }
      return merged(attempt.outcome);
    };
    const mine = (this.turns.get(sid) || Promise.resolve()).then(run, run);
    const done = mine.then(noop, noop);
    this.turns.set(sid, done);
    done.then(() => this.turns.get(sid) === done && this.turns.delete(sid));
    return mine;
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
    return isThenable(r) ? this.bounded(op, r, bound).catch((err) => this.retryAfterOutage(err, op, fn, bound)) : r;
  }

  async retryAfterOutage(err, op, fn, bound) {
    const w = this.availability.wait();
    if (w === null) throw err;
    await w;
    return this.bounded(op, fn(), bound);
  }

  /** A JS store's call (`bound`) fails past storeTimeout, and nothing waits on it; the native stores have their own timeouts. */
  bounded(op, r, bound) {
    if (!bound || this.timeoutMs === 0 || !isThenable(r)) return r;
    let timer;
    const message = `session store ${op} did not answer within ${this.timeoutMs} ms (storeTimeout)`;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(storeError('ERR_SESSION_STORE_TIMEOUT', message)), this.timeoutMs);
    });
    return Promise.race([r, deadline]).finally(() => clearTimeout(timer));
  }
}

module.exports = { StoreAccess, isThenable };
