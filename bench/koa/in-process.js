'use strict';
// The same Koa apps as server.js, driven in-process without HTTP: each request is Koa's own
// context over a minimal req/res pair, run through the app's middleware. It shows what the
// session layer itself costs per request, apart from the HTTP stack and the VM's wake-ups
// that the HTTP benchmark (run.js) includes. A profiling aid: run by hand, never asserted.
//
//   node bench/koa/in-process.js [--variants bare,js-floor,ours-memory] [--requests 200000]
//                                [--rounds 3] [--scenarios new,read,write] [--smoke]
//
// Scenarios as in run.js, login included (then read and write replay a logged-in session);
// ours-memory-user is MemoryStore with userField.
//
// Variants that need a server (the Redis ones) are not supported here. Rounds alternate the
// variants; prints the median µs per request and the ratio to bare of the same round (bare's
// µs over the variant's: the share of bare's speed kept), and the median CPU time per request
// (the process's user + system time: on a busy machine it leaves out the time the process
// waited for a CPU, which the wall-clock µs include).
const Koa = require('koa');
const compose = require('koa-compose');
const { setUp } = require('./variants');
const { parseArgs, selection, median } = require('./cli');
const { response, request } = require('./fake-http');

const { opt, smoke } = parseArgs(process.argv.slice(2));
const requests = Number(opt('requests', smoke ? 2000 : 200000));
const rounds = Number(opt('rounds', smoke ? 1 : 3));
const { variants, scenarios } = selection(opt, ['bare', 'js-floor', 'ours-memory']);
for (const v of variants) {
  if (v.includes('redis')) throw new Error(`${v}: needs a Redis server; use run.js`);
}

// The route that makes the session read and write replay.
const replayRoute = scenarios.includes('login') ? '/login' : '/write';

async function app(variant) {
  const koa = new Koa();
  setUp(koa, variant);
  const run = compose(koa.middleware);
  const once = async (url, cookie) => {
    const res = response();
    const ctx = koa.createContext(request(url, cookie), res);
    await run(ctx);
    return res;
  };
  // A returning visitor's Cookie header, from one visit that writes (or logs in).
  const setCookie = (await once(replayRoute)).headers['set-cookie'];
  const cookie = setCookie ? setCookie.map((c) => c.split(';')[0]).join('; ') : null;
  if (variant !== 'bare' && !cookie) throw new Error(`${variant}: no Set-Cookie on ${replayRoute}`);
  return { once, cookie };
}

async function time(a, scenario) {
  const url = `/${scenario}`;
  const cookie = scenario === 'new' || scenario === 'login' ? null : a.cookie;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) await a.once(url, cookie);
  const wall = Number(process.hrtime.bigint() - t0) / requests / 1000;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / requests };
}

(async () => {
  const apps = {};
  for (const v of variants) apps[v] = await app(v);
  const us = {};
  const cpu = {};
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      for (const s of scenarios) {
        const t = await time(apps[v], s);
        ((us[v] ||= {})[s] ||= []).push(t.wall);
        ((cpu[v] ||= {})[s] ||= []).push(t.cpu);
      }
    }
  }
  console.log(`\nkoa session layers in-process (no HTTP): ${rounds} round(s) x ${requests} requests, node ${process.version}`);
  for (const s of scenarios) {
    console.log(`\nscenario: ${s}`);
    console.log('variant'.padEnd(30) + 'us/req'.padStart(10) + 'x bare'.padStart(9) + 'cpu us/req'.padStart(12));
    for (const v of variants) {
      const ratios = us[v][s].map((x, i) => us.bare[s][i] / x);
      console.log(v.padEnd(30) + median(us[v][s]).toFixed(2).padStart(10) + median(ratios).toFixed(2).padStart(9) +
        median(cpu[v][s]).toFixed(2).padStart(12));
    }
  }
  // Some stores keep timers (a timer per session in koa-session-ts 0.2.3).
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
