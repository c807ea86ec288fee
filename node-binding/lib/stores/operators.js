'use strict';
// The operator calls of the native stores (MemoryStore, RedisStore): length(), ids() and
// clear(). ids() walks the store in batches (a Redis store: SCAN on the server or on every
// master of a cluster), so millions of sessions are never in memory at once. Session ids are
// bearer credentials: whoever holds one is logged in as its user; never show or log them.

const { IDS_DEFAULT_BATCH: DEFAULT_BATCH } = require('../../loader');
const MAX_BATCH = 1_000_000;

/** The batch size of `store.ids(options)`, checked: a TypeError names the option. */
function batchOf(store, options) {
  if (options === undefined || options === null) return DEFAULT_BATCH;
  if (typeof options !== 'object') throw new TypeError(`${store.constructor.name}#ids: options must be an object like { batch: 100 }`);
  for (const key of Object.keys(options)) {
    if (key !== 'batch') throw new TypeError(`${store.constructor.name}#ids: unknown option "${key}" (only "batch")`);
  }
  const { batch } = options;
  if (batch === undefined) return DEFAULT_BATCH;
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) {
    throw new TypeError(`${store.constructor.name}#ids: option "batch" must be an integer from 1 to ${MAX_BATCH}`);
  }
  return batch;
}

/**
 * An async iterator over every id, fetched `batch` at a time by `page(cursor, batch)`, which
 * resolves to `[ids, nextCursor | null]`. Nothing is fetched before the first `next()`.
 */
async function* walkIds(page, batch) {
  let cursor = null;
  do {
    const [ids, next] = await page(cursor, batch);
    yield* ids;
    cursor = next;
  } while (cursor !== null);
}

module.exports = { batchOf, walkIds };
