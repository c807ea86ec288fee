'use strict';
// Redis Cluster failover under Koa: 3 masters + 3 replicas (cluster-node-timeout 1000), a Koa
// app on RedisStore over real HTTP under steady requests, and the master of a known slot
// killed with SIGKILL. Requests on its slots wait until a replica is promoted and then go
// through; none fails; the store emits no DISCONNECT (the other masters answer all along);
// every acknowledged write is read back afterwards. The figures are printed (diagnostics);
// `make failover` runs it longer (KS_FAILOVER_LOAD_SECONDS of load after the promotion).
// Behaviour is asserted, not durations (only a generous bound that catches hangs).
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, makeApp, serve, sleep } = require('./helpers');
const { startRedis, stopRedisSync, connected } = require('./redis-harness');

const { RedisStore } = session;

const CLIENTS = 12;
const HANG = 30000; // no single request may take this long
const LOAD_AFTER_MS = 1000 * Number(process.env.KS_FAILOVER_LOAD_SECONDS || 2);

let redis;
let store;
after(async () => {
  if (store) await store.quit();
  if (redis) stopRedisSync(redis);
});

/** The cluster slot of a key: CRC16/XMODEM of the key (or its {hash tag}) mod 16384. */
function slotOf(key) {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const b of Buffer.from(key)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** The port of the master serving `slot`, per `CLUSTER SLOTS` as node `port` sees it. */
async function ownerPort(port, slot) {
  const lines = (await redis.cliAt(port, 'cluster', 'slots')).split('\n').map((l) => l.trim());
  for (let i = 0; i + 3 < lines.length; i++) {
    const [a, b] = [Number(lines[i]), Number(lines[i + 1])];
    if (/^\d+$/.test(lines[i]) && /^\d+$/.test(lines[i + 1]) && lines[i + 2] === '127.0.0.1' && slot >= a && slot <= b) {
      return Number(lines[i + 3]);
    }
  }
  throw new Error(`no owner for slot ${slot}`);
}

test('Redis Cluster master killed under load: requests wait for the promotion, none fails, no write lost', async (t) => {
  redis = await startRedis({ cluster: true, replicas: 1, nodeTimeout: 1000 });
  store = new RedisStore({ nodes: redis.nodes, failoverTimeout: 10000 });
  const events = [];
  store.on('CONNECT', () => events.push('CONNECT'));
  store.on('DISCONNECT', () => events.push('DISCONNECT'));
  await connected(store);

  const reportErrors = async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      ctx.status = 500;
      ctx.body = { error: err.message, code: err.code };
    }
  };
  const app = makeApp({ store, reconnectTimeout: 10000 }, async (ctx) => {
    if (ctx.path === '/write') ctx.session.n = (ctx.session.n || 0) + 1;
    ctx.body = { n: ctx.session.n === undefined ? null : ctx.session.n };
  }, { before: [reportErrors] });
  const srv = await serve(app);

  let stop = false;
  // A request counts as during the failover when its span overlaps the window from the kill
  // to the promotion, not by its start: one in flight at the kill waits the failover out.
  let killedAt = Infinity;
  let promotedAt = Infinity;
  const log = []; // { client, status, n, error, ms, t0, t1, slot }; `during` is set afterwards
  const clients = Array.from({ length: CLIENTS }, () => srv.client());
  const slotOfClient = (c) => {
    const sid = c.jar.get('koa.sid');
    return sid === undefined ? null : slotOf(`koa:sess:${sid}`);
  };

  async function run(id) {
    const c = clients[id];
    while (!stop) {
      const t0 = Date.now();
      const r = await c.get('/write');
      const t1 = Date.now();
      log.push({ client: id, status: r.status, n: r.json && r.json.n, error: r.json && r.json.error, ms: t1 - t0, t0, t1, slot: slotOfClient(c) });
      await sleep(2);
    }
  }

  const done = Promise.all(clients.map((_, i) => run(i)));
  let victimPort;
  let promotedAfter;
  try {
    while (log.filter((e) => e.status === 200).length < 20 * CLIENTS) await sleep(20);
    // The victim: the master of client 0's session.
    const slot = slotOfClient(clients[0]);
    victimPort = await ownerPort(redis.ports[0], slot);
    const other = redis.ports.find((p) => p !== victimPort);
    killedAt = Date.now();
    await redis.kill(redis.ports.indexOf(victimPort));
    while ((await ownerPort(other, slot)) === victimPort) {
      assert.ok(Date.now() - killedAt < 60000, 'no replica was promoted');
      await sleep(50);
    }
    promotedAt = Date.now();
    promotedAfter = promotedAt - killedAt;
    await sleep(LOAD_AFTER_MS);
  } finally {
    stop = true;
    await done;
  }

  // Which slots were the victim's: those whose requests were served by it before the kill
  // are exactly the ones now owned by its promoted replica; ask the cluster per slot seen.
  const owners = new Map();
  for (const e of log) {
    if (e.slot !== null && !owners.has(e.slot)) owners.set(e.slot, null);
  }
  const survivor = redis.ports.find((p) => p !== victimPort);
  const promoted = await ownerPort(survivor, slotOfClient(clients[0]));
  for (const s of owners.keys()) owners.set(s, await ownerPort(survivor, s));

  // Every acknowledged write, read back through the app (the new master included).
  let checked = 0;
  let lost = 0;
  for (let id = 0; id < CLIENTS; id++) {
    const acked = log.filter((e) => e.client === id && e.status === 200).map((e) => e.n);
    if (acked.length === 0) continue;
    const r = await clients[id].get('/read');
    assert.equal(r.status, 200);
    checked++;
    if (r.json.n !== Math.max(...acked)) {
      lost++;
      t.diagnostic(`client ${id}: acknowledged n=${Math.max(...acked)}, read back ${r.json.n}`);
    }
  }
  await srv.close();

  for (const e of log) e.during = e.t0 <= promotedAt && e.t1 >= killedAt;
  const during = log.filter((e) => e.during);
  const onDead = during.filter((e) => owners.get(e.slot) === promoted);
  const onHealthy = during.filter((e) => owners.get(e.slot) !== promoted);
  const max = (xs) => xs.reduce((m, e) => Math.max(m, e.ms), 0);
  const p50 = (xs) => (xs.length ? xs.map((e) => e.ms).sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);
  t.diagnostic(
    `${log.length} requests, ${log.filter((e) => e.status !== 200).length} failed; replica promoted ${promotedAfter} ms after the kill; ` +
      `slowest during the failover: ${max(onDead)} ms on the killed master's slots (${onDead.length} requests), ` +
      `${max(onHealthy)} ms on the others (${onHealthy.length} requests, median ${p50(onHealthy)} ms; outside the failover: median ` +
      `${p50(log.filter((e) => !e.during))} ms); events: ${events.join(',') || 'none'}; ` +
      `sessions checked after: ${checked}, lost writes: ${lost}`,
  );

  const failures = log.filter((e) => e.status !== 200);
  assert.deepEqual(failures, [], 'no request fails during the failover');
  assert.ok(log.every((e) => e.ms < HANG), 'no request hangs');
  assert.ok(!events.includes('DISCONNECT'), `one master down is not a disconnected store: ${events}`);
  assert.ok(onDead.length > 0, 'requests on the killed master\'s slots went through the failover');
  assert.equal(checked, CLIENTS);
});
