'use strict';
// HTTP load against Koa apps with each session layer, in alternating rounds on one machine.
// Server pinned to CPU 0, wrk to CPU 1 (where there are two). Loopback only, bounded runs.
//
//   node bench/koa/run.js [--rounds 3] [--duration 5] [--connections 50]
//                         [--variants a,b,...] [--scenarios new,read,write] [--smoke]
//                         [--idle-poll NS]
//
// --idle-poll NS (root, Linux guests with the cpuidle-haltpoll driver): let an idle vCPU poll
// for up to NS ns before halting, for the run only (the setting is restored afterwards). On
// a VM whose kernel disables guest halt-polling (this one boots with
// haltpoll.guest_halt_poll_ns=0), every response the server writes must wake wrk's halted
// vCPU with an IPI, a VM exit that the *server* pays inside its write; the slower a server,
// the more often wrk sleeps, so the cost grows with the server's own cost and widens every
// gap. The header prints the setting a run used; bench/RESULTS.md reports both.
//
// Prints, per scenario, the median req/s, median p99 latency and the median ratio to bare Koa
// measured in the same round. Needs wrk and (for the Redis variants) redis-server.
const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const { parseArgs, selection, median } = require('./cli');

const { opt, smoke } = parseArgs(process.argv.slice(2));
const rounds = Number(opt('rounds', smoke ? 1 : 3));
const duration = Number(opt('duration', smoke ? 1 : 5));
const connections = Number(opt('connections', smoke ? 4 : 50));
const idlePoll = opt('idle-poll', null);
const ALL = [
  'bare', 'ours-memory', 'ours-redis', 'koa-session-ts-0.2.3', 'koa-generic-session-memory',
  'koa-generic-session-redis', 'koa-session-7-cookie', 'koa-session-7-map',
];
const { variants, scenarios } = selection(opt, ALL);

const twoCores = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pin = (cpu, cmd, argv) => (twoCores ? ['taskset', ['-c', String(cpu), cmd, ...argv]] : [cmd, argv]);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

function waitForLine(child, text) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timeout waiting for "${text}": ${out}`)), 15000);
    const onData = (d) => {
      out += d;
      if (out.includes(text)) { clearTimeout(timer); resolve(); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${out}`)); });
  });
}

async function startRedis() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForLine(child, 'Ready to accept connections');
  return { port, stop: () => { child.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); } };
}

function get(port, urlPath, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: cookie ? { cookie } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers['set-cookie'] || []));
    });
    req.on('error', reject);
  });
}

function parseLatency(s) {
  const m = /([\d.]+)(us|ms|s)/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
}

function wrk(port, urlPath, cookie) {
  const wargs = ['-t1', `-c${connections}`, `-d${duration}s`, '--latency'];
  if (cookie) wargs.push('-H', `Cookie: ${cookie}`);
  wargs.push(`http://127.0.0.1:${port}${urlPath}`);
  const [cmd, argv] = pin(1, 'wrk', wargs);
  const out = execFileSync(cmd, argv, { encoding: 'utf8' });
  const rps = Number((/Requests\/sec:\s+([\d.]+)/.exec(out) || [])[1]);
  const p99 = parseLatency((/^\s+99%\s+(\S+)/m.exec(out) || [])[1] || '');
  const non2xx = Number((/Non-2xx or 3xx responses:\s+(\d+)/.exec(out) || [0, 0])[1]);
  const errors = /Socket errors:.*/.exec(out);
  if (!(rps > 0)) throw new Error(`wrk produced no result:\n${out}`);
  if (non2xx > 0) throw new Error(`${non2xx} failed responses:\n${out}`);
  return { rps, p99, errors: errors ? errors[0] : '' };
}

// Servers running now: killed too if the run is interrupted.
const servers = new Set();

async function measure(variant, redisPort) {
  const port = await freePort();
  const [cmd, argv] = pin(0, process.execPath, [path.join(__dirname, 'server.js'), variant, String(port), String(redisPort || '')]);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.add(child);
  try {
    await waitForLine(child, 'ready');
    const results = {};
    for (const scenario of scenarios) {
      let cookie = '';
      if (scenario !== 'new' && variant !== 'bare') {
        const set = await get(port, '/write');
        cookie = set.map((c) => c.split(';')[0]).join('; ');
        if (!cookie) throw new Error(`${variant}: no session cookie to replay`);
      }
      // A short warm-up so the JIT has compiled the hot paths before measuring.
      await get(port, `/${scenario}`, cookie);
      results[scenario] = wrk(port, `/${scenario}`, cookie);
    }
    return results;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => { child.on('exit', r); setTimeout(r, 2000); });
    servers.delete(child);
  }
}

// The guest halt-polling limit (cpuidle-haltpoll), or null where there is none.
const HALT_POLL = '/sys/module/haltpoll/parameters/guest_halt_poll_ns';
function readHaltPoll() {
  try { return fs.readFileSync(HALT_POLL, 'utf8').trim(); } catch { return null; }
}
function setHaltPoll(value) {
  fs.writeFileSync(HALT_POLL, `${value}\n`);
}


(async () => {
  const needRedis = variants.some((v) => v.includes('redis'));
  // Undone at exit, also when the run is interrupted.
  const cleanups = [() => { for (const c of servers) c.kill('SIGKILL'); }];
  const cleanUp = () => { while (cleanups.length) { try { cleanups.pop()(); } catch { /* best effort */ } } };
  process.on('exit', cleanUp);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanUp(); process.exit(130); });
  const redis = needRedis ? await startRedis() : null;
  if (redis) cleanups.push(() => redis.stop());
  const all = {}; // variant -> scenario -> [{rps, p99, ratio}]
  const haltPollBefore = readHaltPoll();
  if (idlePoll !== null) {
    if (!/^\d+$/.test(idlePoll)) throw new Error('--idle-poll takes a number of nanoseconds');
    if (haltPollBefore === null) throw new Error(`--idle-poll: ${HALT_POLL} is missing (no cpuidle-haltpoll driver)`);
    setHaltPoll(idlePoll);
    cleanups.push(() => setHaltPoll(haltPollBefore));
  }
  const haltPollUsed = readHaltPoll();
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...variants].reverse() : variants; // alternate to spread drift
      const round = {};
      for (const v of order) {
        round[v] = await measure(v, redis && redis.port);
        process.stderr.write(`round ${r + 1} ${v}: ${scenarios.map((s) => `${s} ${round[v][s].rps.toFixed(0)}/s`).join(', ')}\n`);
      }
      for (const v of variants) {
        for (const s of scenarios) {
          const x = round[v][s];
          ((all[v] ||= {})[s] ||= []).push({ ...x, ratio: x.rps / round.bare[s].rps });
        }
      }
    }
  } finally {
    cleanUp();
  }
  console.log(`\nkoa session benchmark: ${rounds} round(s), wrk -t1 -c${connections} -d${duration}s, ` +
    `${twoCores ? 'server on CPU 0, wrk on CPU 1' : 'unpinned'}, node ${process.version}, ${os.cpus()[0].model}, ` +
    `guest halt-polling ${haltPollUsed === null ? 'n/a' : `${haltPollUsed} ns${idlePoll !== null ? ` (--idle-poll; machine setting ${haltPollBefore})` : ''}`}`);
  for (const s of scenarios) {
    console.log(`\nscenario: ${s}`);
    console.log('variant'.padEnd(30) + 'req/s'.padStart(10) + 'p99 ms'.padStart(10) + 'x bare'.padStart(9));
    for (const v of variants) {
      const xs = all[v][s];
      console.log(v.padEnd(30) + median(xs.map((x) => x.rps)).toFixed(0).padStart(10) +
        median(xs.map((x) => x.p99)).toFixed(2).padStart(10) + median(xs.map((x) => x.ratio)).toFixed(2).padStart(9));
    }
  }
})().catch((e) => { console.error(e); process.exit(1); });
