'use strict';
// JavaScript values as the JSON text they cross into the engine in.

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

/**
 * Options as JSON for the engine, which checks them and names the option in its error: Dates
 * as unix ms; a value JSON cannot hold (a function, NaN, an invalid Date, ...) as
 * `{"$js": "<what it is>"}`, never silently dropped or nulled. A top-level `store` is the
 * host's to check and is written as a marker.
 */
function optionsJson(options) {
  const top = options;
  try {
    return JSON.stringify(options === undefined ? null : options, function replacer(name, v) {
      const raw = this[name];
      if (this === top && name === 'store') return v === undefined || v === null ? v : { $js: 'a store' };
      if (raw instanceof Date) return Number.isNaN(raw.getTime()) ? { $js: 'an invalid Date' } : raw.getTime();
      if (typeof v === 'number' && !Number.isFinite(v)) return { $js: String(v) };
      if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return { $js: `a ${typeof v}` };
      return v;
    });
  } catch (err) {
    throw new TypeError(`koa-session-ts: options must be plain data besides the store and the functions (${err.message})`, { cause: err });
  }
}

module.exports = { serialize, recordJson, parseObject, optionsJson };
