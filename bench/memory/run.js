'use strict';
// Resident memory and JS heap per session after N sessions in each MemoryStore, with the same
// session shape for all. Each (store, N) runs in a fresh Node process.
//
//   node --expose-gc bench/memory/run.js [--counts 100000,1000000] [--stores a,b] [--smoke]
const { execFileSync } = require('child_process');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const smoke = args.includes('--smoke');
const counts = opt('counts', smoke ? '2000' : '100000,1000000').split(',').map(Number);
const stores = opt('stores', 'ours,koa-session-ts-0.2.3,koa-generic-session').split(',');

// The store under test, held here so it stays reachable until it has been measured (a store
// referenced only from a dead local may be collected before the second snapshot).
let store;

if (process.env.BENCH_CHILD) {
  child(process.env.BENCH_CHILD, Number(process.env.BENCH_N)).catch((e) => { console.error(e); process.exit(1); });
} else {
  const rows = [];
  for (const n of counts) {
    for (const store of stores) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=16384', __filename], {
        env: { ...process.env, BENCH_CHILD: store, BENCH_N: String(n) }, encoding: 'utf8',
      });
      rows.push(JSON.parse(out));
      process.stderr.write(`${store} ${n}: done\n`);
    }
  }
  console.log(`\nmemory per session (node ${process.version})`);
  console.log('store'.padEnd(26) + 'sessions'.padStart(10) + 'RSS B/sess'.padStart(12) + 'heap B/sess'.padStart(13) + 'x ours RSS'.padStart(12));
  for (const r of rows) {
    const ours = rows.find((x) => x.store === 'ours' && x.n === r.n);
    console.log(r.store.padEnd(26) + String(r.n).padStart(10) + r.rss.toFixed(0).padStart(12) + r.heap.toFixed(0).padStart(13) +
      (ours ? (r.rss / ours.rss).toFixed(2) : '-').padStart(12));
  }
}

function session(i) {
  // What a logged-in user's session typically holds, with the cookie field every store keeps.
  return {
    cookie: { httpOnly: true, maxAge: 86400000, overwrite: true, path: '/', secure: false, signed: true },
    user: `user-${i}`,
    count: i,
  };
}

async function child(name, n) {
  const ttl = 86400000;
  let set;
  if (name === 'ours') {
    const m = require(path.join(__dirname, '..', '..', 'node-binding'));
    const s = store = new m.MemoryStore();
    set = (sid, sess) => s.set(sid, sess, ttl);
  } else if (name === 'koa-session-ts-0.2.3') {
    const { MemoryStore } = require('koa-session-ts-0.2.3');
    const s = store = new MemoryStore();
    set = (sid, sess) => s.set(sid, sess, ttl);
  } else if (name === 'koa-generic-session') {
    const MemoryStore = require('koa-generic-session/lib/memory_store');
    const s = store = new MemoryStore();
    set = (sid, sess) => s.set(sid, sess, ttl);
  } else {
    throw new Error(`unknown store ${name}`);
  }
  const sids = [];
  const crypto = require('crypto');
  for (let i = 0; i < n; i++) sids.push(crypto.randomBytes(24).toString('base64url'));
  global.gc(); global.gc();
  const before = process.memoryUsage();
  for (let i = 0; i < n; i++) {
    const r = set(sids[i], session(i));
    if (r && typeof r.then === 'function') await r;
    else if (r && typeof r.next === 'function') r.next();
  }
  global.gc(); global.gc();
  const after = process.memoryUsage();
  if (!store) throw new Error('store not kept');
  process.stdout.write(JSON.stringify({
    store: name, n,
    rss: (after.rss - before.rss) / n,
    heap: (after.heapUsed + after.external + after.arrayBuffers - before.heapUsed - before.external - before.arrayBuffers) / n,
  }));
  process.exit(0);
}
