'use strict';
// RedisStore against real redis-servers (one server, and a 3-master Redis Cluster): the store
// conformance behaviour, its records as koa-generic-session + koa-redis keep them, a Koa app
// over real HTTP, CONNECT, options and close().
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { session, withApp, sleep } = require('./helpers');
const { startRedis, stopRedisSync, connected } = require('./redis-harness');

const { RedisStore, BaseStore, CONNECT } = session;

const counter = async (ctx) => {
  if (ctx.path === '/regenerate') {
    const old = ctx.session.n;
    await ctx.regenerateSession();
    ctx.session.n = old;
  }
  if (ctx.path === '/logout') {
    ctx.session = null;
    ctx.body = { out: true };
    return;
  }
  ctx.session.n = (ctx.session.n || 0) + 1;
  ctx.body = { n: ctx.session.n, sid: ctx.sessionId };
};

for (const mode of ['single', 'cluster']) {
  describe(`RedisStore on ${mode === 'single' ? 'one redis-server' : 'a 3-master Redis Cluster'}`, () => {
    let redis;
    let store;
    const stores = [];
    const open = (opts = {}) => {
      const s = new RedisStore({ ...redis.target(), ...opts });
      stores.push(s);
      return s;
    };

    before(async () => {
      redis = await startRedis({ cluster: mode === 'cluster' });
      store = open();
      await connected(store);
    });

    after(async () => {
      for (const s of stores) await s.quit();
      if (redis) stopRedisSync(redis);
    });

    test('conformance: equal-but-new objects, copies, unknown ids, destroy', async () => {
      assert.ok(store instanceof BaseStore);
      assert.ok(store instanceof EventEmitter);
      assert.equal(store.status, 'connected');
      const sess = { cookie: { maxAge: 60000 }, nested: { a: 1 }, list: [1, 2] };
      await store.set('c1', sess, 60000);
      const a = await store.get('c1');
      assert.deepEqual(a, sess);
      assert.notEqual(a, sess);
      a.nested.a = 2;
      sess.nested.a = 3;
      assert.equal((await store.get('c1')).nested.a, 1, 'neither the caller nor a reader changes stored data');
      const b = await store.get('c1');
      assert.notEqual(b, await store.get('c1'), 'every get is a new object');
      assert.equal(await store.get('never-set'), null);
      await store.destroy('never-existed');
      await store.destroy('c1');
      assert.equal(await store.get('c1'), null);
      // Many ids spread over all slots (all masters in the cluster) round-trip.
      const ids = Array.from({ length: 60 }, (_, i) => `spread-${i}`);
      await Promise.all(ids.map((id, i) => store.set(id, { cookie: {}, i }, 60000)));
      const got = await Promise.all(ids.map((id) => store.get(id)));
      assert.deepEqual(got.map((g) => g.i), ids.map((_, i) => i));
      await Promise.all(ids.map((id) => store.destroy(id)));
      assert.deepEqual(await Promise.all(ids.map((id) => store.get(id))), ids.map(() => null));
    });

    test('records: key <prefix><sid>, value the JSON, expiry in ms (PX) from ttl or the cookie', async () => {
      const sess = { cookie: { httpOnly: true, maxAge: 90000, path: '/' }, user: 'ann' };
      await store.set('r1', sess, 45000);
      assert.equal(await redis.cli('GET', 'koa:sess:r1'), JSON.stringify(sess));
      const pttl = Number(await redis.cli('PTTL', 'koa:sess:r1'));
      assert.ok(pttl > 40000 && pttl <= 45000, `PTTL ${pttl}`);
      // No ttl: from cookie.maxAge; then from cookie.expires.
      await store.set('r1', sess);
      const fromMaxAge = Number(await redis.cli('PTTL', 'koa:sess:r1'));
      assert.ok(fromMaxAge > 85000 && fromMaxAge <= 90000, `PTTL ${fromMaxAge}`);
      await store.set('r2', { cookie: { expires: new Date(Date.now() + 30000).toISOString() } });
      const fromExpires = Number(await redis.cli('PTTL', 'koa:sess:r2'));
      assert.ok(fromExpires > 25000 && fromExpires <= 30000, `PTTL ${fromExpires}`);
      // A custom prefix.
      const other = open({ prefix: 'app:s:' });
      await other.set('r3', { cookie: {}, x: 1 }, 10000);
      assert.equal(await redis.cli('GET', 'app:s:r3'), '{"cookie":{},"x":1}');
      assert.equal(await store.get('r3'), null, 'prefixes keep stores apart');
      assert.equal(other.prefix, 'app:s:');
      assert.equal(store.prefix, 'koa:sess:');
      await Promise.all([store.destroy('r1'), store.destroy('r2'), other.destroy('r3')]);
    });

    test('TTL: expiry, reset by set, touch', async () => {
      await store.set('t1', { cookie: {} }, 150);
      assert.ok(await store.get('t1'), 'there before it expires');
      await sleep(400);
      assert.equal(await store.get('t1'), null, 'expired');
      // Setting again resets the expiry.
      await store.set('t2', { cookie: {} }, 5000);
      await store.set('t2', { cookie: {}, again: true }, 600000);
      const reset = Number(await redis.cli('PTTL', 'koa:sess:t2'));
      assert.ok(reset > 500000, `PTTL ${reset}`);
      // touch extends without rewriting; false for an unknown id.
      assert.equal(await store.touch('t2', 1200000), true);
      const touched = Number(await redis.cli('PTTL', 'koa:sess:t2'));
      assert.ok(touched > 1100000, `PTTL ${touched}`);
      assert.deepEqual(await store.get('t2'), { cookie: {}, again: true });
      assert.equal(await store.touch('missing', 1000), false);
      await assert.rejects(store.touch('t2'), TypeError);
      // A TTL that already ran out removes the record.
      await store.set('t2', { cookie: { expires: new Date(Date.now() - 1000) } });
      assert.equal(await store.get('t2'), null);
      // Months-long TTLs are exact.
      await store.set('t3', { cookie: {} }, 60 * 86400000);
      const long = Number(await redis.cli('PTTL', 'koa:sess:t3'));
      assert.ok(long > 59 * 86400000, `PTTL ${long}`);
      await store.destroy('t3');
    });

    test('set rejects what is not a JSON object; nothing is written', async () => {
      await assert.rejects(store.set('bad', { n: 10n }), TypeError);
      await assert.rejects(store.set('bad', 'str'), TypeError);
      await assert.rejects(store.set('bad', [1]), TypeError);
      await assert.rejects(store.get(42), TypeError);
      assert.equal(await redis.cli('EXISTS', 'koa:sess:bad'), '0');
    });

    test('2000 operations in flight at once: each settles with its own outcome', async () => {
      // Replies come back in batches (one wake of the JS thread for many); none may be lost,
      // duplicated or given to another operation.
      const n = 2000;
      const ids = Array.from({ length: n }, (_, i) => `many-${mode}-${i}`);
      await Promise.all(ids.map((sid, i) => store.set(sid, { i, cookie: { maxAge: 60000 } })));
      const [got, touched, missing] = await Promise.all([
        Promise.all(ids.map((sid) => store.get(sid))),
        Promise.all(ids.map((sid, i) => store.touch(i % 2 ? sid : `${sid}-none`, 60000))),
        Promise.all(ids.map((sid) => store.get(`${sid}-none`))),
      ]);
      assert.deepEqual(got.map((sess) => sess.i), ids.map((_, i) => i));
      assert.deepEqual(touched, ids.map((_, i) => i % 2 === 1));
      assert.deepEqual(missing, ids.map(() => null));
      await Promise.all(ids.map((sid) => store.destroy(sid)));
      assert.deepEqual(await Promise.all(ids.slice(0, 50).map((sid) => store.get(sid))), ids.slice(0, 50).map(() => null));
    });

    test('a Koa app over HTTP: counter, regenerate, null destroys', async () => {
      await withApp({ store, reconnectTimeout: 1500 }, counter, async (srv, app) => {
        const c = srv.client();
        const r1 = await c.get('/');
        assert.equal(r1.json.n, 1);
        const sid = r1.json.sid;
        assert.equal(JSON.parse(await redis.cli('GET', `koa:sess:${sid}`)).n, 1);
        assert.equal((await c.get('/')).json.n, 2);
        assert.equal((await c.get('/')).json.n, 3);
        // A second client is a second session.
        assert.equal((await srv.client().get('/')).json.n, 1);
        const r4 = await c.get('/regenerate');
        assert.notEqual(r4.json.sid, sid);
        assert.equal(r4.json.n, 4, 'the handler kept its data under the new id');
        assert.equal(await redis.cli('EXISTS', `koa:sess:${sid}`), '0', 'the old record is gone');
        assert.equal(JSON.parse(await redis.cli('GET', `koa:sess:${r4.json.sid}`)).n, 4);
        const out = await c.get('/logout');
        assert.equal(out.status, 200);
        assert.ok(out.cookies.some((k) => k.name === 'koa.sid' && k.cleared));
        assert.equal(await redis.cli('EXISTS', `koa:sess:${r4.json.sid}`), '0');
        assert.equal((await c.get('/')).json.n, 1, 'a new session after logout');
        assert.deepEqual(app.errors, []);
      });
    });
  });
}

describe('RedisStore options and lifecycle', () => {
  let redis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => {
    if (redis) stopRedisSync(redis);
  });

  test('wrong option types: a TypeError naming the option', () => {
    const cases = [
      [undefined, /options must be an object/],
      ['redis://127.0.0.1:1', /options must be an object/],
      [{}, /exactly one of the options "url"/],
      [{ url: 'redis://127.0.0.1:1', nodes: ['redis://127.0.0.1:1'] }, /exactly one/],
      [{ url: 5 }, /option "url"/],
      [{ nodes: 'redis://127.0.0.1:1' }, /option "nodes"/],
      [{ nodes: [] }, /option "nodes"/],
      [{ nodes: [1] }, /option "nodes"/],
      [{ url: 'redis://127.0.0.1:1', prefix: 1 }, /option "prefix"/],
      [{ url: 'redis://127.0.0.1:1', connectTimeout: '100' }, /option "connectTimeout"/],
      [{ url: 'redis://127.0.0.1:1', connectTimeout: 0 }, /option "connectTimeout"/],
      [{ url: 'redis://127.0.0.1:1', responseTimeout: NaN }, /option "responseTimeout"/],
    ];
    for (const [opts, re] of cases) {
      assert.throws(() => new RedisStore(opts), (err) => err instanceof TypeError && re.test(err.message), JSON.stringify(opts));
    }
  });

  test('a wrong URL is an error at construction', () => {
    for (const url of ['', 'localhost:6379', 'http://127.0.0.1:1', 'redis://', 'redis://127.0.0.1:notaport']) {
      assert.throws(
        () => new RedisStore({ url }),
        (err) => err.code === 'ERR_REDIS_CONFIG' && /invalid Redis URL/.test(err.message),
        url,
      );
    }
    assert.throws(() => new RedisStore({ nodes: ['redis://127.0.0.1:1', 'nope'] }), /invalid Redis URL/);
    assert.throws(() => new RedisStore({ url: 'redis://u:secret@/' }), (err) => !err.message.includes('secret'));
  });

  test('CONNECT once connected; ping; close: later calls fail with ERR_REDIS_CLOSED', async () => {
    const s = new RedisStore({ url: redis.url, connectTimeout: 1000, responseTimeout: 1000 });
    const events = [];
    s.on(CONNECT, () => events.push('CONNECT'));
    s.on('DISCONNECT', () => events.push('DISCONNECT'));
    await connected(s);
    assert.equal(await s.ping(), true);
    await s.set('x', { cookie: {} }, 1000);
    assert.deepEqual(events, ['CONNECT'], 'one CONNECT, no repeats');
    await s.close();
    assert.equal(s.status, 'closed');
    await assert.rejects(s.get('x'), (err) => err.code === 'ERR_REDIS_CLOSED');
    await s.quit();
  });

  test('a server that is not there: operations fail with ERR_REDIS_UNAVAILABLE and DISCONNECT is emitted', async () => {
    // Port 1 on loopback refuses connections.
    const s = new RedisStore({ url: 'redis://127.0.0.1:1', connectTimeout: 500, responseTimeout: 500 });
    const events = [];
    s.on('DISCONNECT', () => events.push('DISCONNECT'));
    await assert.rejects(s.get('x'), (err) => err.code === 'ERR_REDIS_UNAVAILABLE' && /127\.0\.0\.1:1/.test(err.message));
    assert.equal(s.status, 'disconnected');
    assert.deepEqual(events, ['DISCONNECT']);
    await s.close();
  });

  test('a native store collected with operations pending still settles them, then lets the process exit', async () => {
    const { execFile } = require('node:child_process');
    // The server holds every command for a while, so the store object (garbage: only its
    // pending Promises are left) is collected, and says so, before any reply comes back.
    const code = `const { NativeRedisStore } = require(${JSON.stringify(require.resolve('../loader'))});
      const collected = new FinalizationRegistry(() => console.log('collected'));
      let s = new NativeRedisStore({ url: ${JSON.stringify(redis.url)} });
      collected.register(s, 0);
      const ops = [s.setJson('gc-x', '{"a":1}', 60000), s.getJson('gc-x'), s.ping()];
      s = null;
      const sweeper = setInterval(() => globalThis.gc(), 20);
      Promise.all(ops).then((r) => { clearInterval(sweeper); console.log(JSON.stringify(r)); });`;
    await redis.cli('CLIENT', 'PAUSE', '1500');
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['--expose-gc', '-e', code], { timeout: 15000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    const lines = out.trim().split('\n');
    assert.equal(lines[0], 'collected', out);
    assert.deepEqual(JSON.parse(lines[1]), [null, '{"a":1}', null]);
  });

  test('the Redis worker thread runs SCHED_BATCH (Linux): its wake-ups do not preempt the JS thread', { skip: process.platform !== 'linux' }, async () => {
    const fs = require('node:fs');
    const s = new RedisStore({ url: redis.url });
    await connected(s);
    await s.ping();
    // /proc/<tid>/stat: field 41 is the policy (0 normal, 3 batch); comm may hold spaces.
    const policies = {};
    for (const tid of fs.readdirSync('/proc/self/task')) {
      const comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      (policies[comm] ||= []).push(Number(fields[41 - 3]));
    }
    await s.quit();
    assert.ok(policies['tokio-rt-worker'], `no tokio-rt-worker thread in ${JSON.stringify(policies)}`);
    assert.deepEqual(policies['tokio-rt-worker'], policies['tokio-rt-worker'].map(() => 3), JSON.stringify(policies));
    assert.equal(policies.node[0], 0, 'the JS thread keeps the normal policy');
  });

  test('a wrong or missing password: ERR_REDIS_UNAVAILABLE saying so, and DISCONNECT', async () => {
    const locked = await startRedis();
    try {
      await locked.cli('CONFIG', 'SET', 'requirepass', 'right-secret');
      const url = (password) => locked.url.replace('redis://', `redis://:${password}@`);
      for (const u of [url('wrong-secret'), locked.url]) {
        const s = new RedisStore({ url: u, connectTimeout: 1000, responseTimeout: 1000 });
        const events = [];
        s.on('DISCONNECT', () => events.push('DISCONNECT'));
        s.on(CONNECT, () => events.push('CONNECT'));
        await assert.rejects(s.get('x'), (err) => err.code === 'ERR_REDIS_UNAVAILABLE' && /authentication failed/.test(err.message) && !err.message.includes('wrong-secret'));
        await assert.rejects(s.set('x', { cookie: {} }, 1000), (err) => err.code === 'ERR_REDIS_UNAVAILABLE');
        assert.equal(s.status, 'disconnected', u);
        assert.deepEqual(events, ['DISCONNECT'], u);
        await s.quit();
      }
      const s = new RedisStore({ url: url('right-secret') });
      await s.set('x', { a: 1, cookie: {} }, 60000);
      assert.deepEqual(await s.get('x'), { a: 1, cookie: {} });
      await s.quit();
    } finally {
      stopRedisSync(locked);
    }
  });

  test('Worker threads terminated with operations pending: replies after teardown are dropped, the process lives on', async () => {
    const { execFile } = require('node:child_process');
    // In a child, so a crash fails this test instead of the runner. Each worker issues 100
    // writes while the server holds every command (CLIENT PAUSE), then is terminated.
    const worker = `const { RedisStore } = require(${JSON.stringify(require.resolve('..'))});
      const { parentPort } = require('node:worker_threads');
      const s = new RedisStore({ url: ${JSON.stringify(redis.url)} });
      let settled = 0;
      s.ping().then(() => parentPort.postMessage('ready'));
      parentPort.on('message', () => {
        for (let i = 0; i < 100; i++) s.set('wt' + i, { i, cookie: {} }, 60000).then(() => settled++, () => settled++);
        setTimeout(() => parentPort.postMessage(settled), 50);
      });`;
    const code = `const { Worker } = require('node:worker_threads');
      const { execFileSync } = require('node:child_process');
      (async () => {
        const pending = [];
        for (let round = 0; round < 3; round++) {
          const w = new Worker(${JSON.stringify(worker)}, { eval: true });
          await new Promise((r) => w.once('message', r));
          execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', '${new URL(redis.url).port}', 'CLIENT', 'PAUSE', '300']);
          w.postMessage('go');
          pending.push(await new Promise((r) => w.once('message', r)));
          await w.terminate();
        }
        await new Promise((r) => setTimeout(r, 600)); // the paused replies arrive meanwhile
        console.log(JSON.stringify(pending));
      })();`;
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', code], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    );
    assert.deepEqual(JSON.parse(out), [0, 0, 0], 'each worker ended with all its writes pending');
  });

  test('an unused store does not keep the process alive', async () => {
    const { execFile } = require('node:child_process');
    const code = `const { RedisStore } = require(${JSON.stringify(require.resolve('..'))});
      const s = new RedisStore({ url: ${JSON.stringify(redis.url)} });
      s.ping().then(() => console.log('pong'));`;
    const out = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', code], { timeout: 15000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    // It answered, then exited by itself (a hang would hit the timeout and reject).
    assert.equal(out.trim(), 'pong');
  });
});

/** The sum of `redis-cli --cluster call 127.0.0.1:<port> DBSIZE` over every node. */
async function clusterDbsize(port) {
  const { execFile } = require('node:child_process');
  const out = await require('node:util').promisify(execFile)('redis-cli', ['--cluster', 'call', `127.0.0.1:${port}`, 'DBSIZE'], { timeout: 10000 });
  // ">>> Calling DBSIZE", then "127.0.0.1:PORT: N" per node.
  return out.stdout.split('\n').reduce((sum, line) => sum + (/^127\.0\.0\.1:\d+: (\d+)$/.exec(line.trim())?.[1] ?? 0) * 1, 0);
}

for (const mode of ['single', 'cluster']) {
  describe(`RedisStore operator calls on ${mode === 'single' ? 'one redis-server' : 'a 3-master Redis Cluster'}`, () => {
    let redis;
    const stores = [];
    const open = (opts = {}) => {
      const s = new RedisStore({ ...redis.target(), ...opts });
      stores.push(s);
      return s;
    };
    // Keys in the whole keyspace: every node's DBSIZE (the cluster: redis-cli --cluster call).
    const dbsize = async () => (mode === 'cluster' ? clusterDbsize(redis.port) : Number(await redis.cli('DBSIZE')));

    before(async () => {
      redis = await startRedis({ cluster: mode === 'cluster' });
    });

    after(async () => {
      for (const s of stores) await s.quit();
      if (redis) stopRedisSync(redis);
    });

    test('length, ids in batches (5,000 sessions, each at least once) and clear, on this prefix only', async () => {
      const store = open({ prefix: 'ops:' });
      await connected(store);
      assert.equal(await store.length(), 0);
      for (let i = 0; i < 5000; i += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, k) => store.set(`sid-${i + k}`, { n: i + k }, 600000)));
      }
      // The keyspace holds this prefix only: length() is what the server counts.
      assert.equal(await dbsize(), 5000);
      assert.equal(await store.length(), 5000);
      if (mode === 'cluster') {
        for (const port of redis.ports) assert.notEqual(await redis.cliAt(port, 'DBSIZE'), '0', `master ${port} holds some`);
      }

      // Each id at least once: SCAN may repeat a key while Redis rehashes (after the sets above).
      const seen = new Set();
      for await (const id of store.ids({ batch: 7 })) seen.add(id);
      assert.equal(seen.size, 5000);
      for (let i = 0; i < 5000; i++) assert.ok(seen.has(`sid-${i}`), 'ids come without the prefix');

      const other = open({ prefix: 'other:' });
      for (let i = 0; i < 25; i++) await other.set(`keep-${i}`, { i }, 600000);
      assert.equal(await store.clear(), 5000);
      assert.equal(await store.length(), 0);
      assert.equal(await other.length(), 25);
      assert.equal(await dbsize(), 25, "the other prefix's keys are left");
      assert.deepEqual((await other.get('keep-3')).i, 3);
      assert.equal(await other.clear(), 25);
      assert.equal(await dbsize(), 0);
    });

    test('glob characters in the prefix are literal; a closed store rejects', async () => {
      const store = open({ prefix: 'a*[b]?:' });
      await store.set('x', { n: 1 }, 600000);
      await redis.cli('SET', 'aZbQ:lookalike', '1');
      assert.equal(await store.length(), 1);
      const ids = [];
      for await (const id of store.ids({ batch: 1 })) ids.push(id);
      // Only this store's id; it may come twice (SCAN during a rehash, e.g. after a clear).
      assert.deepEqual([...new Set(ids)], ['x']);
      assert.equal(await store.clear(), 1);
      assert.equal(await redis.cli('EXISTS', 'aZbQ:lookalike'), '1');
      assert.throws(() => store.ids({ batch: -1 }), TypeError);
      await store.quit();
      await assert.rejects(store.length(), { code: 'ERR_REDIS_CLOSED' });
      await assert.rejects(store.clear(), { code: 'ERR_REDIS_CLOSED' });
      await assert.rejects(store.ids().next(), { code: 'ERR_REDIS_CLOSED' });
    });
  });
}
