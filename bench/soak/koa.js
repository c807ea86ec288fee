'use strict';
// Soak: N requests through a Koa app with koa-session-ts and its native MemoryStore, in
// process (Koa's own context over a minimal req/res, as bench/koa/in-process.js), sampling
// the process RSS at the start, after the warm-up and every tenth of the run. Run by hand
// (`make soak`); prints a table and fails only on a request that goes wrong, never on a figure.
//
//   node --expose-gc --min-semi-space-size=16 bench/soak/koa.js [--requests 1000000] [--warmup 100000]
//                                                               [--visitors 10000]
//
// --min-semi-space-size=16: V8 grows its young generation (two semi-spaces, 8 to 16 MiB here)
// once under steady allocation, which shows as a one-time RSS step of ~16 MiB whenever it
// happens (around request 250,000 at this rate) with heapUsed unchanged; starting at the size
// it ends at keeps that step out of the figures. `SOAK_SAMPLES=N` samples N times instead of 10.
//
// The traffic: a fixed pool of visitors, each request from the next one in turn; a visitor
// without a cookie starts a session, the others read it (3 in 4) or write it, and one
// request in 20 logs out (ctx.session = null), so the visitor comes back as a new one. The
// store thus holds about `visitors` sessions all along: a flat RSS means nothing leaks per
// request, per new session or per destroyed one.
const path = require('node:path');
const Koa = require('koa');
const compose = require('koa-compose');
const session = require(path.join(__dirname, '..', '..', 'node-binding'));
const { response, request } = require('../koa/fake-http');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const requests = arg('requests', 1000000);
const warmup = arg('warmup', 100000);
const visitors = arg('visitors', 10000);

const app = new Koa();
app.keys = ['soak-key-1', 'soak-key-2'];
app.use(session());
app.use(async (ctx) => {
  switch (ctx.path) {
    case '/write':
      ctx.session.count = (ctx.session.count || 0) + 1;
      ctx.session.note = `visit ${ctx.session.count}`;
      break;
    case '/logout':
      ctx.session = null;
      break;
    default:
      void ctx.session.count;
  }
  ctx.body = 'ok';
});
const run = compose(app.middleware);

/** The Cookie header a browser would send next, after these Set-Cookie values. */
function nextCookie(jar, setCookie) {
  if (!setCookie) return jar;
  const pairs = new Map(jar ? jar.split('; ').map((p) => [p.slice(0, p.indexOf('=')), p]) : []);
  for (const c of setCookie) {
    const pair = c.slice(0, c.indexOf(';'));
    const name = pair.slice(0, pair.indexOf('='));
    if (pair.length === name.length + 1) pairs.delete(name);
    else pairs.set(name, pair);
  }
  return pairs.size ? [...pairs.values()].join('; ') : null;
}

const rssMb = () => process.memoryUsage.rss() / 1048576;
function sample(label, done) {
  if (global.gc) global.gc();
  const m = process.memoryUsage();
  const mb = (v) => (v / 1048576).toFixed(1).padStart(8);
  console.log(`| ${label.padEnd(16)} | ${String(done).padStart(9)} | ${mb(m.rss)} | ${mb(m.heapUsed)} | ${mb(m.heapTotal).padStart(10)} | ${mb(m.external)} |`);
  return rssMb();
}

async function main() {
  const jars = new Array(visitors).fill(null);
  console.log(`soak (Koa ${require('koa/package.json').version}, MemoryStore, in process): ${requests} requests, ${visitors} visitors, warm-up ${warmup}`);
  console.log('| point            |  requests |  RSS MiB | heap MiB | heap total | external |');
  console.log('|------------------|-----------|----------|----------|------------|----------|');
  const start = sample('start', 0);
  let warm = start;
  const started = process.hrtime.bigint();
  for (let n = 1; n <= requests; n++) {
    const v = n % visitors;
    const url = jars[v] === null ? '/write' : n % 20 === 0 ? '/logout' : n % 4 === 0 ? '/write' : '/read';
    const res = response();
    const ctx = app.createContext(request(url, jars[v], 'soak'), res);
    await run(ctx);
    if (ctx.status !== 200) throw new Error(`request ${n} (${url}) answered ${ctx.status}`);
    jars[v] = nextCookie(jars[v], res.headers['set-cookie']);
    if (n === warmup) warm = sample('after warm-up', n);
    else if (n % (requests / (process.env.SOAK_SAMPLES ? Number(process.env.SOAK_SAMPLES) : 10)) === 0) sample(n === requests ? 'end' : '', n);
  }
  const end = rssMb();
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`\n${requests} requests in ${secs.toFixed(1)} s (${Math.round(requests / secs)} req/s); RSS start ${start.toFixed(1)} MiB, after warm-up ${warm.toFixed(1)} MiB, end ${end.toFixed(1)} MiB (${(end - warm >= 0 ? '+' : '') + (end - warm).toFixed(1)} MiB after warm-up)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
