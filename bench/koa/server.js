'use strict';
// One Koa app per session layer (variants.js), same routes for all.
// Usage: node server.js <variant> <port> [redisPort]
const Koa = require('koa');
const { setUp } = require('./variants');

const [variant, port, redisPort] = process.argv.slice(2);
const app = new Koa();
app.silent = true;
try {
  setUp(app, variant, redisPort);
} catch (err) {
  console.error(err.message);
  process.exit(2);
}

const server = app.listen(Number(port), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
