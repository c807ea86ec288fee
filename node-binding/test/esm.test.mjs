// The ESM entry exports the same objects as the CommonJS one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import session, { session as named, MemoryStore, RedisStore, BaseStore, CONNECT, DISCONNECT } from 'koa-session-ts';

const cjs = createRequire(import.meta.url)('koa-session-ts');

test('ESM and CommonJS entries agree', () => {
  assert.equal(typeof session, 'function');
  assert.equal(session, cjs);
  assert.equal(named, cjs);
  assert.equal(cjs.default, cjs);
  assert.equal(MemoryStore, cjs.MemoryStore);
  assert.equal(BaseStore, cjs.BaseStore);
  assert.equal(RedisStore, cjs.RedisStore);
  assert.equal(typeof RedisStore, 'function');
  assert.equal(CONNECT, 'CONNECT');
  assert.equal(DISCONNECT, 'DISCONNECT');
  assert.ok(new MemoryStore() instanceof BaseStore);
});
