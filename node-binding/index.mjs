// ESM entry: the same objects as the CommonJS entry (one module instance for both).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cjs = require('./lib/index.js');

export default cjs;
export const session = cjs;
export const { BaseStore, MemoryStore, RedisStore, CONNECT, DISCONNECT } = cjs;
