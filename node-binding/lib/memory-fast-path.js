'use strict';
// The native MemoryStore fast path: with the package's own MemoryStore (its methods not
// replaced, no `valid` hook, no outage) a request is one native call at load and one at
// commit, each doing its store access inside (src/calls.rs memoryBegin / memoryFinish). The
// engine makes and executes the same plan as on the general path.

const { memoryBegin, memoryFinish } = require('../loader');
const { kJsonStore } = require('./stores/json-store');

/** The MemoryStore's registry id when the fast path applies to this request, else -1. */
function memoryStoreId(access, valid) {
  const store = access.store;
  const fast = store[kJsonStore];
  if (fast === undefined || fast.memoryId === undefined || valid !== null || !access.availability.isUp()) return -1;
  if (store.get !== fast.get || store.set !== fast.set || store.destroy !== fast.destroy) return -1;
  return fast.memoryId(store);
}

/**
 * Begins a request and reads the store: null outside the cookie path, else
 * `{ token, original, report }` (`report`: a LOAD_REPORT_* code, or -1 when nothing was read).
 */
function beginInMemory(engineId, memoryId, header, path, upstream, nativeSid) {
  const r = memoryBegin(engineId, memoryId, header, path, upstream, nativeSid);
  if (r === null) return null;
  const nl = r.indexOf('\n');
  const report = r.charCodeAt(0) - 48; // a digit, or '-' (nothing read)
  return {
    report: report < 0 ? -1 : report,
    token: nl < 0 ? r.slice(1) : r.slice(1, nl),
    original: nl < 0 ? null : r.slice(nl + 1),
  };
}

/** Finishes a request: runs the plan on the store; the Set-Cookie values to send, or null. */
function finishInMemory(engineId, memoryId, token, original, json, save, replaced, plainHttp) {
  const cookies = memoryFinish(engineId, memoryId, token, original, json, save, replaced, plainHttp, Date.now());
  return cookies === null ? null : cookies.split('\n');
}

module.exports = { memoryStoreId, beginInMemory, finishInMemory };
