'use strict';
// Sessions and store records as the JSON text they cross into the engine in.

/** The session as JSON, or a TypeError saying why it cannot be saved. */
function serialize(session) {
  let json;
  try {
    json = JSON.stringify(session);
  } catch (err) {
    throw new TypeError(`koa-session-ts: ctx.session cannot be saved: it is not serializable to JSON (${err.message})`, { cause: err });
  }
  if (typeof json !== 'string' || json[0] !== '{') {
    throw new TypeError('koa-session-ts: ctx.session cannot be saved: it does not serialize to a JSON object');
  }
  return json;
}

/** A store's record (an object, a JSON string, or garbage) as JSON text; '' for what JSON cannot hold. */
function recordJson(record) {
  if (typeof record === 'string') return record;
  try {
    return JSON.stringify(record) ?? '';
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

module.exports = { serialize, recordJson, parseObject };
