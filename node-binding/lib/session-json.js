'use strict';
// The session object as JSON text, the form it crosses into the engine in.

/** The session as JSON, or a clear error when it cannot be written as JSON. */
function serialize(session) {
  let json;
  try {
    json = JSON.stringify(session);
  } catch (err) {
    const e = new TypeError(`koa-session-ts: ctx.session cannot be saved: it is not serializable to JSON (${err.message})`);
    e.cause = err;
    throw e;
  }
  if (typeof json !== 'string' || json[0] !== '{') {
    throw new TypeError('koa-session-ts: ctx.session cannot be saved: it does not serialize to a JSON object');
  }
  return json;
}

/** A record from a store (object, JSON string, or garbage) as JSON text for the engine. */
function recordJson(record) {
  if (typeof record === 'string') return record;
  if (typeof record !== 'object') return '';
  try {
    const json = JSON.stringify(record);
    return typeof json === 'string' ? json : '';
  } catch {
    return '';
  }
}

/** The object `json` holds, or undefined when it is not a JSON object. */
function parseObject(json) {
  try {
    const v = JSON.parse(json);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** What `ctx.session = value` may be: an object, or null (destroy). */
function checkSession(value) {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError('koa-session-ts: ctx.session must be an object, or null to destroy the session');
  }
  return value;
}

module.exports = { serialize, recordJson, parseObject, checkSession };
