'use strict';
// The stores whose records live as JSON in native code (MemoryStore, RedisStore). Each keeps
// a `kJsonStore` object of string-based methods; JsonStore gives them the object API on top
// of it, and the middleware calls the string methods directly (no parse, no stringify) while
// the store's get/set/destroy are still JsonStore's own (checked on every call, so replacing
// `store.get` at run time is honoured).
//
// The JSON methods:
//   getJson(sid) -> string | null        setJson(sid, json, ttlMs)        destroyJson(sid)
//   touchJson(sid, ttlMs) -> found: a new expiry only; nothing is created
//   indexUserSession(user, sid, nowMs)   userSessions(userField, user, nowMs) -> [[id, sinceMs, json]]
//   destroyUserSessions(user, except | null) -> count     (the user index: core/src/store/user_index.rs)
//   mergeJson(sid, loadedJson, json, ttlMs) -> 'merged' | 'gone' | 'conflict'
//     A merging commit: `loadedJson` is the record exactly as getJson returned it, `json` the
//     session now; only the request's top-level changes reach the stored record. 'gone': the
//     record no longer exists and nothing was written; 'conflict': other writers kept winning
//     for the whole retry budget (core/src/merge.rs), nothing was written.
// and the data: `caps` (STORE_CAN_* bits) and, for the MemoryStore, `memoryId` (its registry
// id, by which the engine's calls use it themselves). MemoryStore's methods return values,
// RedisStore's Promises (rejecting with a stable `code`).

const { BaseStore, storeTtl } = require('../base-store');
const { serialize, parseObject } = require('../session-json');

const kJsonStore = Symbol.for('koa-session-ts.jsonStore');
// The `userField` of the middleware(s) using this store (index.js), which userSessions reads.
const kUserField = Symbol.for('koa-session-ts.userField');

/** A user id as the index keys it: a non-empty string, or a finite number as its decimal text. */
function userIdOf(store, method, userId) {
  if (typeof userId === 'number' && Number.isFinite(userId)) return String(userId);
  if (typeof userId === 'string' && userId !== '') return userId;
  throw new TypeError(`${store.constructor.name}#${method}: the user id must be a non-empty string or a finite number`);
}

/** `options` of a user-index method: an object with only the `allowed` keys, or nothing. */
function optionsOf(store, method, options, allowed) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw new TypeError(`${store.constructor.name}#${method}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (key !== allowed) throw new TypeError(`${store.constructor.name}#${method}: unknown option "${key}" (only "${allowed}")`);
  }
  return options;
}

/**
 * Records that the middleware created with `userField` uses `store` (index.js): userSessions
 * then reads that field. One store serves one userField.
 */
function registerUserField(store, field) {
  const held = store[kUserField];
  if (held !== undefined && held !== field) {
    throw new TypeError(`koa-session-ts: this store already serves userField '${held}'; one store serves one userField (got '${field}')`);
  }
  Object.defineProperty(store, kUserField, { value: field, configurable: true });
}

function checkSid(store, sid, method) {
  if (typeof sid !== 'string') throw new TypeError(`${store.constructor.name}#${method}: the session id must be a string`);
  return sid;
}

class JsonStore extends BaseStore {
  /** A new object each call; null for a miss or a record that is not a JSON object. */
  async get(sid) {
    const json = await this[kJsonStore].getJson(checkSid(this, sid, 'get'));
    const sess = json === null ? null : parseObject(json);
    if (sess !== undefined) return sess;
    process.emitWarning(`${this.constructor.name}: the record under "${this.prefix}${sid}" is not a JSON object; treated as no session`, {
      code: 'KOA_SESSION_CORRUPT_RECORD',
    });
    return null;
  }

  /** Writes the session with its TTL: `ttl` ms when given, else from `sess.cookie`. */
  async set(sid, sess, ttl) {
    await this[kJsonStore].setJson(checkSid(this, sid, 'set'), serialize(sess), storeTtl(sess, ttl));
  }

  /** Removes the session; an unknown id is fine. */
  async destroy(sid) {
    await this[kJsonStore].destroyJson(checkSid(this, sid, 'destroy'));
  }

  /** Sets the session's expiry to `ttl` ms from now; resolves false when there is no such session. */
  async touch(sid, ttl) {
    checkSid(this, sid, 'touch');
    if (typeof ttl !== 'number' || Number.isNaN(ttl)) throw new TypeError(`${this.constructor.name}#touch: ttl must be a number of ms`);
    return this[kJsonStore].touchJson(sid, ttl);
  }

  /**
   * The live sessions of a user (`userField`): `[{ id, since, session }]`, oldest login
   * first; `since` is when the session was put under that user (unix ms). Only sessions whose
   * data names the user are listed. The ids are secrets (whoever holds one is logged in): a
   * "your devices" page shows metadata from `session`, never `id`.
   * `options.userField` overrides the field of the middleware using this store.
   */
  async userSessions(userId, options) {
    const user = userIdOf(this, 'userSessions', userId);
    const field = optionsOf(this, 'userSessions', options, 'userField').userField ?? this[kUserField];
    if (typeof field !== 'string') {
      throw new TypeError(`${this.constructor.name}#userSessions: no userField: create the middleware with session({ store, userField }) first, or pass { userField }`);
    }
    const rows = await this[kJsonStore].userSessions(field, user, Date.now());
    return rows.map(([id, since, json]) => ({ id, since, session: JSON.parse(json) }));
  }

  /**
   * Ends every session of a user (`userField`), but `options.except` (a session id to keep,
   * typically `ctx.sessionId`: "sign out of all other devices"). Resolves to how many were
   * ended. A session saved under the user before this call is gone when it resolves, and a
   * request of it still running cannot bring it back.
   */
  async destroyUserSessions(userId, options) {
    const user = userIdOf(this, 'destroyUserSessions', userId);
    const { except } = optionsOf(this, 'destroyUserSessions', options, 'except');
    if (except !== undefined && except !== null && typeof except !== 'string') {
      throw new TypeError(`${this.constructor.name}#destroyUserSessions: option "except" must be a session id (a string)`);
    }
    return this[kJsonStore].destroyUserSessions(user, except ?? null);
  }
}

module.exports = { JsonStore, kJsonStore, registerUserField };
