'use strict';
// How the middleware reaches its store: one object per middleware. It runs each store call
// (a value, Promise, thunk or generator: settle below), waits out an outage the store
// reported (availability.js), bounds a JS store's calls by `storeTimeout`, and uses the
// native stores' JSON methods while the store's own methods are in place (json-store.js).
// With the package's own MemoryStore, the engine's calls read and write it themselves.

const { JsonStore, kJsonStore } = require('./stores/json-store');
const { STORE_CAN_COMPARE_AND_SET, STORE_CAN_TOUCH, STORE_CAN_USER_INDEX, MergeAttempt } = require('../loader');
const debug = require('./debug');

const isThenable = (v) => v !== null && typeof v === 'object' && typeof v.then === 'function';
const storeError = (code, message) => Object.assign(new Error(message), { code });

/**
 * A store method's result as a value or a Promise: it may return a value, a Promise, a thunk
 * (a function taking a node-style callback) or a generator (run co-style: each yielded value
 * is settled the same way).
 */
function settle(result) {
  if (result === null || (typeof result !== 'object' && typeof result !== 'function') || typeof result.then === 'function') return result;
  if (typeof result === 'function') return new Promise((resolve, reject) => result((err, v) => (err ? reject(err) : resolve(v))));
  return typeof result.next === 'function' && typeof result.throw === 'function' ? runGenerator(result) : result;
}

async function runGenerator(gen) {
  let input;
  let failed = false;
  for (;;) {
    const step = failed ? gen.throw(input) : gen.next(input);
    if (step.done) return settle(step.value);
    [input, failed] = await Promise.resolve(settle(step.value)).then((v) => [v, false], (err) => [err, true]);
  }
}

/**
 * A merge's answer ('merged' | 'gone' | 'conflict': other writers kept winning for the whole
 * budget | 'renamed <id>': merged into a session renewed meanwhile) as true / false / a throw /
 * the session's current cookie id.
 */
function merged(answer) {
  if (answer === 'conflict') throw storeError('ERR_SESSION_CONFLICT', 'session not saved: other requests changed it at the same time, again and again');
  if (typeof answer === 'string' && answer.startsWith('renamed ')) return answer.slice(8);
  return answer !== 'gone';
}

class StoreAccess {
  constructor(store, availability, timeoutMs) {
    this.store = store;
    this.availability = availability;
    this.timeoutMs = timeoutMs;
    this.turns = new Map(); // sid → the end of the last merge of that session (mergeByCompareAndSet)
  }

  /** The native store's JSON methods while its `method` is still JsonStore's, else undefined. */
  fast(method) {
    const fast = this.store[kJsonStore];
    return fast !== undefined && this.store[method] === JsonStore.prototype[method] ? fast : undefined;
  }

  /** The native MemoryStore's id when the engine's calls may use it (its own methods, no `valid` hook, no outage), else -1. */
  memoryId(valid) {
    const { store } = this;
    const fast = store[kJsonStore];
    if (fast === undefined || fast.memoryId === undefined || valid !== null || !this.availability.isUp()) return -1;
    const own = JsonStore.prototype;
    return store.get === own.get && store.set === own.set && store.destroy === own.destroy ? fast.memoryId : -1;
  }

  /** What the plan may ask of this store: `STORE_CAN_*` bits. */
  caps() {
    const fast = this.fast('set');
    if (fast !== undefined) return fast.caps;
    const { compareAndSet, touch, indexUserSession } = this.store;
    const bit = (method, b) => (typeof method === 'function' ? b : 0);
    return bit(compareAndSet, STORE_CAN_COMPARE_AND_SET) | bit(touch, STORE_CAN_TOUCH) | bit(indexUserSession, STORE_CAN_USER_INDEX);
  }

  /**
   * One store operation: the native JSON method (`viaJson(fast)`) while the store's own
   * `method` is in place, else the store's method (`viaStore()`, bounded by storeTimeout).
   */
  op(name, method, viaJson, viaStore) {
    const fast = this.fast(method);
    return fast !== undefined ? this.call(name, () => viaJson(fast), false) : this.call(name, () => settle(viaStore()), true);
  }

  get(sid) {
    return this.op('get', 'get', (f) => f.getJson(sid), () => this.store.get(sid));
  }

  /** `json` reaches a JS store as a fresh object: one that keeps it never sees later mutations. */
  set(sid, json, ttlMs) {
    return this.op('set', 'set', (f) => f.setJson(sid, json, ttlMs), () => this.store.set(sid, JSON.parse(json), ttlMs));
  }

  destroy(sid) {
    return this.op('destroy', 'destroy', (f) => f.destroyJson(sid), () => this.store.destroy(sid));
  }

  /** Refreshes the TTL: true, or false when the record is gone. */
  touch(sid, ttlMs) {
    return this.op('touch', 'set', (f) => f.touchJson(sid, ttlMs), () => this.store.touch(sid, ttlMs));
  }

  /**
   * Puts `sid` in the index of `user` (`userField`; before the record is written). A store of
   * the user's: its `indexUserSession(userId, sid)`, bounded by storeTimeout.
   */
  indexUser(user, sid) {
    return this.op('indexUserSession', 'set', (f) => f.indexUserSession(user, sid, Date.now()), () => this.store.indexUserSession(user, sid));
  }

  /**
   * Merges `loaded` → `json` into the stored record: true, false when the record is gone, or
   * the session's current cookie id when another request renewed it meanwhile.
   */
  merge(sid, loaded, json, ttlMs) {
    if (this.fast('set') === undefined) return this.mergeByCompareAndSet(sid, loaded, json, ttlMs);
    const r = this.op('merge', 'set', (f) => f.mergeJson(sid, loaded, json, ttlMs));
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
        if (typeof w === 'number') {
          // After a conflict: the core's jittered backoff, within its time budget.
          await new Promise((resolve) => setTimeout(resolve, w));
          attempt.waited();
          continue;
        }
        const answer = await this.call('compareAndSet', () => settle(this.store.compareAndSet(sid, w[0], w[1], ttlMs)), true);
        attempt.answer(answer === true || typeof answer === 'string' ? answer : null);
      }
      const outcome = merged(attempt.outcome);
      return outcome === true ? attempt.renamedTo(sid) ?? true : outcome;
    };
    const mine = (this.turns.get(sid) || Promise.resolve()).then(run, run);
    const forget = () => this.turns.get(sid) === done && this.turns.delete(sid);
    const done = mine.then(forget, forget);
    this.turns.set(sid, done);
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

  /** `r` within storeTimeout when `bound`: past it the call fails and nothing waits on it. */
  bounded(op, r, bound) {
    if (!bound || this.timeoutMs === 0 || !isThenable(r)) return r;
    let timer;
    const deadline = new Promise((_, reject) => {
      const message = `session store ${op} did not answer within ${this.timeoutMs} ms (storeTimeout)`;
      timer = setTimeout(() => reject(storeError('ERR_SESSION_STORE_TIMEOUT', message)), this.timeoutMs);
    });
    return Promise.race([r, deadline]).finally(() => clearTimeout(timer));
  }
}

module.exports = { StoreAccess, isThenable };
