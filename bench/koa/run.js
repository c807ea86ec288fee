'use strict';
// HTTP load against Koa apps with each session layer, in alternating rounds on one machine.
// Server pinned to CPU 0, wrk to CPU 1 (where there are two). Loopback only, bounded runs.
//
//   node bench/koa/run.js [--rounds 3] [--duration 5] [--connections 50]
//                         [--variants a,b,...] [--scenarios new,read,write] [--smoke]
//                         [--idle-poll NS] [--ref VARIANT] [--count N]
//
// Scenarios new, read, write (default) and login (see variants.js). When login is among them,
// read and write replay a logged-in session (made by /login) instead of one made by /write.
// The variants ours-redis-user (RedisStore with userField), ours-redis-idle and ours-redis-renew
// (with idleTimeout or renewInterval; variants.js) are run only when named in --variants.
//
// --ref VARIANT adds a column: req/s over VARIANT's req/s in the same round (median).
//
// --count N (Redis variants): after the timed rounds (none with --rounds 0), counts the store
// commands per request.
// Each variant's server gets N sequential requests per scenario (after a warm-up) while a
// MONITOR connection on the run's own redis-server records every command: those a client
// sent (round trips; an EVALSHA is one) apart from those its Lua script ran. INFO
// commandstats (after CONFIG RESETSTAT) is read too, as a cross-check: there a script's
// commands count as well. With login, also counts logins #31-#33 and #34-#96 of one user
// (the logins that bring the index to 32 and 64 entries prune it). The session-lifetime
// variants (ours-redis-idle, ours-redis-renew: RedisStore with idleTimeout or renewInterval, run
// only when named) also count, on N sessions made by /write, each read once after their
// server's clock was moved on (variants.js): past half the idle window; past the renewal
// interval (the renewing request), then on the renewed sessions (their cookies name an alias),
// with the replaced ids (in grace), and past a second and a third interval (renewals #2 and #3).
//
// --idle-poll NS (root, Linux guests with the cpuidle-haltpoll driver): let an idle vCPU poll
// for up to NS ns before halting, for the run only (the setting is restored afterwards). On
// a VM whose kernel disables guest halt-polling (this one boots with
// haltpoll.guest_halt_poll_ns=0), every response the server writes must wake wrk's halted
// vCPU with an IPI, a VM exit that the *server* pays inside its write; the slower a server,
// the more often wrk sleeps, so the cost grows with the server's own cost and widens every
// gap. The header prints the setting a run used; bench/RESULTS.md reports both.
//
// Prints, per scenario, the median req/s, median p99 latency, the median ratio to bare Koa
// measured in the same round, and the server's CPU time per request (user + system of all its
// threads over the measured run, from /proc: less sensitive to wall-clock noise than req/s).
// Needs wrk and (for the Redis variants) redis-server.
const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const { parseArgs, selection, median } = require('./cli');
const { lifetimes } = require('./variants');

const { opt, smoke } = parseArgs(process.argv.slice(2));
const rounds = Number(opt('rounds', smoke ? 1 : 3));
const duration = Number(opt('duration', smoke ? 1 : 5));
const connections = Number(opt('connections', smoke ? 4 : 50));
const idlePoll = opt('idle-poll', null);
const ref = opt('ref', null);
const countRequests = Number(opt('count', 0));
const ALL = [
  'bare', 'ours-memory', 'ours-redis', 'koa-session-ts-0.2.3', 'koa-generic-session-memory',
  'koa-generic-session-redis', 'koa-session-7-cookie', 'koa-session-7-map',
];
const { variants, scenarios } = selection(opt, ALL);
if (ref !== null && !variants.includes(ref)) throw new Error(`--ref ${ref} is not among the variants`);
// The route that makes the session read and write replay.
const replayRoute = scenarios.includes('login') ? '/login' : '/write';

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

/** One command on a fresh connection to the run's redis-server; resolves to the raw reply. */
function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(resp(args)));
    sock.on('data', (d) => {
      buf += d;
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (m ? buf.length >= m[0].length + Number(m[1]) + 2 : /\r\n$/.test(buf)) { sock.end(); resolve(m ? buf.slice(m[0].length, m[0].length + Number(m[1])) : buf.trim()); }
    });
    sock.on('error', reject);
  });
}

function resp(args) {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`;
}

/** INFO commandstats as { command: calls }. */
async function commandStats(port) {
  const out = {};
  for (const m of (await redisCommand(port, 'INFO', 'commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1].toUpperCase()] = Number(m[2]);
  return out;
}

/**
 * A MONITOR connection. `window(fn)` runs fn and resolves to the commands executed meanwhile,
 * { client: {CMD: n}, script: {CMD: n} }, bounded by ECHO markers sent on a connection of its
 * own (left out, as are the markers).
 */
async function monitor(port) {
  const sock = net.connect(port, '127.0.0.1');
  const control = net.connect(port, '127.0.0.1');
  await Promise.all([sock, control].map((c) => new Promise((r, j) => { c.on('connect', r); c.on('error', j); })));
  control.on('data', () => {});
  sock.setEncoding('utf8');
  let pending = '';
  let listener = null;
  sock.on('data', (d) => {
    pending += d;
    const lines = pending.split('\r\n');
    pending = lines.pop();
    for (const line of lines) if (listener) listener(line);
  });
  sock.write(resp(['MONITOR']));
  await new Promise((r) => setTimeout(r, 100));
  const self = `127.0.0.1:${control.localPort}`;
  let marks = 0;
  return {
    async window(fn) {
      const id = `bench-mark-${++marks}`;
      const counts = { client: {}, script: {} };
      let state = 'before';
      const done = new Promise((resolve) => {
        listener = (line) => {
          const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?/.exec(line);
          if (!m) return;
          const [, from, cmd, arg] = m;
          if (from === self) {
            if (cmd.toUpperCase() === 'ECHO' && arg === `${id}-start`) state = 'in';
            if (cmd.toUpperCase() === 'ECHO' && arg === `${id}-end`) { state = 'after'; resolve(); }
            return;
          }
          if (state !== 'in') return;
          const kind = from === 'lua' ? counts.script : counts.client;
          kind[cmd.toUpperCase()] = (kind[cmd.toUpperCase()] || 0) + 1;
        };
      });
      control.write(resp(['ECHO', `${id}-start`]));
      await new Promise((r) => setTimeout(r, 50));
      await fn();
      await new Promise((r) => setTimeout(r, 50));
      control.write(resp(['ECHO', `${id}-end`]));
      await done;
      listener = null;
      return counts;
    },
    close() { sock.destroy(); control.destroy(); },
  };
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

// CPU time (user + system, all threads) of process `pid` so far, in µs: /proc/PID/stat.
const TICK_US = 1e6 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout || 100);
function cpuUs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_US; // fields 14 and 15 (utime, stime)
  } catch { return NaN; }
}

function wrk(port, urlPath, cookie, serverPid) {
  const wargs = ['-t1', `-c${connections}`, `-d${duration}s`, '--latency'];
  if (cookie) wargs.push('-H', `Cookie: ${cookie}`);
  wargs.push(`http://127.0.0.1:${port}${urlPath}`);
  const [cmd, argv] = pin(1, 'wrk', wargs);
  const cpu0 = cpuUs(serverPid);
  const out = execFileSync(cmd, argv, { encoding: 'utf8' });
  const cpu = cpuUs(serverPid) - cpu0;
  const requests = Number((/(\d+) requests in/.exec(out) || [])[1]);
  const rps = Number((/Requests\/sec:\s+([\d.]+)/.exec(out) || [])[1]);
  const p99 = parseLatency((/^\s+99%\s+(\S+)/m.exec(out) || [])[1] || '');
  const non2xx = Number((/Non-2xx or 3xx responses:\s+(\d+)/.exec(out) || [0, 0])[1]);
  const errors = /Socket errors:.*/.exec(out);
  if (!(rps > 0)) throw new Error(`wrk produced no result:\n${out}`);
  if (non2xx > 0) throw new Error(`${non2xx} failed responses:\n${out}`);
  return { rps, p99, cpu: cpu / requests, errors: errors ? errors[0] : '' };
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
      if (scenario !== 'new' && scenario !== 'login' && variant !== 'bare') {
        const set = await get(port, replayRoute);
        cookie = set.map((c) => c.split(';')[0]).join('; ');
        if (!cookie) throw new Error(`${variant}: no session cookie to replay`);
      }
      // A short warm-up so the JIT has compiled the hot paths before measuring.
      await get(port, `/${scenario}`, cookie);
      results[scenario] = wrk(port, `/${scenario}`, cookie, child.pid);
    }
    return results;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => { child.on('exit', r); setTimeout(r, 2000); });
    servers.delete(child);
  }
}

const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
const perRequest = (o, n) => Object.entries(o).sort(([a], [b]) => a.localeCompare(b)).map(([c, k]) => `${c} ${(k / n).toFixed(3)}`).join(', ') || '-';
const cookieOf = (set) => set.map((c) => c.split(';')[0]).join('; ');

/** Store commands per request of `variant`, per scenario (see --count): rows to print. */
async function countCommands(variant, redisPort) {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), variant, String(port), String(redisPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.add(child);
  const mon = await monitor(redisPort);
  const rows = [];
  try {
    await waitForLine(child, 'ready');
    const n = countRequests;
    // Warm-up: every path once or more (a first EVALSHA may meet NOSCRIPT and load its script).
    for (let i = 0; i < 20; i++) {
      for (const s of ['new', 'login']) await get(port, `/${s}`);
      const cookie = cookieOf(await get(port, replayRoute));
      for (const s of ['read', 'write']) await get(port, `/${s}`, cookie);
    }
    const lifetime = lifetimes[variant];
    if (lifetime) await lifetimeRequests(lifetime, port, 5, (label, runs, fn) => fn());
    const measureWindow = async (label, runs, fn) => {
      await redisCommand(redisPort, 'CONFIG', 'RESETSTAT');
      const counts = await mon.window(fn);
      const stats = await commandStats(redisPort);
      // The markers and the control commands (Redis 7 names subcommands CONFIG|RESETSTAT).
      for (const c of Object.keys(stats)) if (/^(CONFIG|ECHO|INFO|MONITOR)\b/.test(c)) delete stats[c];
      rows.push({ variant, label, n: runs, ...counts, stats });
    };
    for (const scenario of scenarios) {
      const cookie = scenario === 'new' || scenario === 'login' ? '' : cookieOf(await get(port, replayRoute));
      await measureWindow(scenario, n, async () => {
        for (let i = 0; i < n; i++) await get(port, `/${scenario}`, cookie);
      });
    }
    if (scenarios.includes('login')) {
      // One user logging in from 96 devices, all live: the 32nd and the 64th login prune the
      // user's index (a read per entry), the others do not; logins 33-96 give the average.
      const user = `many-${variant}`;
      for (let i = 1; i <= 30; i++) await get(port, `/login?u=${user}`);
      for (const k of [31, 32, 33]) {
        await measureWindow(`login #${k} of one user`, 1, async () => { await get(port, `/login?u=${user}`); });
      }
      await measureWindow('logins #34-#96 of one user', 63, async () => {
        for (let i = 34; i <= 96; i++) await get(port, `/login?u=${user}`);
      });
    }
    if (lifetime) await lifetimeRequests(lifetime, port, n, measureWindow);
  } finally {
    mon.close();
    child.kill('SIGTERM');
    await new Promise((r) => { child.on('exit', r); setTimeout(r, 2000); });
    servers.delete(child);
  }
  return rows;
}

/**
 * The requests that the lifetime options make different, on `n` sessions made by /write and
 * then left while the server's clock moves on: `measure(label, n, fn)` runs each set.
 */
async function lifetimeRequests({ idleTimeout, renewInterval }, port, n, measure) {
  const sessions = async () => {
    const cookies = [];
    for (let i = 0; i < n; i++) cookies.push(cookieOf(await get(port, '/write')));
    return cookies;
  };
  const advance = (ms) => get(port, `/clock?advance=${ms}`);
  const readEach = (label, cookies) => measure(label, n, async () => {
    for (const cookie of cookies) await get(port, '/read', cookie);
  });
  if (idleTimeout) {
    const cookies = await sessions();
    await advance(idleTimeout / 2 + 60_000);
    await readEach('read, idle > half window', cookies); // writes the activity time
    await readEach('read again right after', cookies);
  }
  if (renewInterval) {
    const cookies = await sessions();
    await advance(renewInterval + 60_000);
    let renewed = [];
    await measure('renewing read', n, async () => {
      for (const cookie of cookies) renewed.push(cookieOf(await get(port, '/read', cookie)));
    });
    if (renewed.some((c, i) => !c || c === cookies[i])) throw new Error('a renewing read sent no new cookie');
    await readEach('read, renewed (alias)', renewed);
    await measure('write, renewed (alias)', n, async () => {
      for (const cookie of renewed) await get(port, '/write', cookie);
    });
    await readEach('read, replaced id in grace', cookies);
    for (const k of [2, 3]) {
      await advance(renewInterval + 60_000); // the last renewal's grace (1 min) is over too
      const next = [];
      await measure(`renewal #${k} (read)`, n, async () => {
        for (const cookie of renewed) next.push(cookieOf(await get(port, '/read', cookie)));
      });
      if (next.some((c, i) => !c || c === renewed[i])) throw new Error(`renewal #${k} sent no new cookie`);
      renewed = next;
    }
    await readEach('read, renewed 3 times', renewed);
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
  const all = {}; // variant -> scenario -> [{rps, p99, ratio, vsRef}]
  const countRows = [];
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
          ((all[v] ||= {})[s] ||= []).push({ ...x, ratio: x.rps / round.bare[s].rps, vsRef: ref ? x.rps / round[ref][s].rps : NaN });
        }
      }
    }
    if (countRequests > 0 && redis) {
      for (const v of variants.filter((x) => x.includes('redis') && x.startsWith('ours'))) countRows.push(...await countCommands(v, redis.port));
    }
  } finally {
    cleanUp();
  }
  console.log(`\nkoa session benchmark: ${rounds} round(s), wrk -t1 -c${connections} -d${duration}s, ` +
    `${twoCores ? 'server on CPU 0, wrk on CPU 1' : 'unpinned'}, node ${process.version}, ${os.cpus()[0].model}, ` +
    `guest halt-polling ${haltPollUsed === null ? 'n/a' : `${haltPollUsed} ns${idlePoll !== null ? ` (--idle-poll; machine setting ${haltPollBefore})` : ''}`}` +
    (replayRoute === '/login' ? '; read/write replay a logged-in session' : ''));
  for (const s of rounds > 0 ? scenarios : []) {
    console.log(`\nscenario: ${s}`);
    const refHead = ref ? `x ${ref}`.padStart(Math.max(9, ref.length + 4)) : '';
    console.log('variant'.padEnd(30) + 'req/s'.padStart(10) + 'p99 ms'.padStart(10) + 'x bare'.padStart(9) + 'cpu us'.padStart(8) + refHead);
    for (const v of variants) {
      const xs = all[v][s];
      console.log(v.padEnd(30) + median(xs.map((x) => x.rps)).toFixed(0).padStart(10) +
        median(xs.map((x) => x.p99)).toFixed(2).padStart(10) + median(xs.map((x) => x.ratio)).toFixed(2).padStart(9) +
        median(xs.map((x) => x.cpu)).toFixed(1).padStart(8) + (ref ? median(xs.map((x) => x.vsRef)).toFixed(2).padStart(refHead.length) : ''));
    }
    if (ref && rounds > 1) {
      for (const v of variants.filter((x) => x !== ref && x !== 'bare')) {
        console.log(`  ${v} x ${ref} per round: req/s ${all[v][s].map((x) => x.vsRef.toFixed(2)).join(' ')}; ` +
          `server cpu us ${all[v][s].map((x, i) => `${x.cpu.toFixed(1)}/${all[ref][s][i].cpu.toFixed(1)}`).join(' ')}`);
      }
    }
  }
  if (countRows.length) {
    console.log(`\nstore commands per request (MONITOR; round trips = commands a client sent, an EVALSHA one; ` +
      'in scripts = what the Lua scripts ran; commandstats = INFO commandstats, which counts both)');
    console.log('variant'.padEnd(18) + 'scenario'.padEnd(28) + 'requests'.padStart(9) + 'round trips'.padStart(13) + '  commands / in scripts / commandstats');
    for (const r of countRows) {
      console.log(r.variant.padEnd(18) + r.label.padEnd(28) + String(r.n).padStart(9) + (sum(r.client) / r.n).toFixed(3).padStart(13) +
        `  ${perRequest(r.client, r.n)} / ${perRequest(r.script, r.n)} / ${perRequest(r.stats, r.n)}`);
    }
  }
})().catch((e) => { console.error(e); process.exit(1); });
