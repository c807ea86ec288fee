'use strict';
// Throwaway redis-server processes for the Node tests, through scripts/redis-harness.sh:
// free 127.0.0.1 ports, a temporary directory, stopped in `after` (and by the harness's own
// watchdog if this process dies first). Never 127.0.0.1:6379.
const path = require('node:path');
const { execFile, execFileSync } = require('node:child_process');
const { promisify } = require('node:util');

const HARNESS = path.join(__dirname, '..', '..', 'scripts', 'redis-harness.sh');
const run = promisify(execFile);

/**
 * Starts a server (or with `cluster: true` a 3-master cluster, with `replicas` replicas per
 * master and `nodeTimeout` as cluster-node-timeout); returns its handle.
 */
async function startRedis({ cluster = false, aof = false, replicas = 0, nodeTimeout } = {}) {
  const args = [HARNESS, 'start', '--owner-pid', String(process.pid)];
  if (cluster) args.push('--cluster');
  if (replicas) args.push('--replicas', String(replicas));
  if (nodeTimeout) args.push('--node-timeout', String(nodeTimeout));
  if (aof) args.push('--aof');
  const { stdout } = await run('bash', args, { timeout: 60000 });
  const env = {};
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  const dir = env.REDIS_HARNESS_DIR;
  const ports = env.REDIS_PORTS.split(',').map(Number);
  const harness = (...a) => run('bash', [HARNESS, ...a], { timeout: 60000 });
  return {
    dir,
    ports,
    port: ports[0],
    url: env.REDIS_URL,
    nodes: env.REDIS_NODES ? env.REDIS_NODES.split(',') : undefined,
    cluster,
    /** The store options that reach this server or cluster. */
    target() {
      return cluster ? { nodes: this.nodes } : { url: this.url };
    },
    /** redis-cli against the server (cluster: follows redirects); returns trimmed stdout. */
    async cli(...cmd) {
      return this.cliAt(ports[0], ...cmd);
    },
    /** redis-cli against one node, by port. */
    async cliAt(port, ...cmd) {
      const { stdout: out } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...(cluster ? ['-c'] : []), ...cmd], {
        timeout: 10000,
      });
      return out.replace(/\n$/, '');
    },
    kill: (n = 0) => harness('kill', dir, String(n)),
    restart: (n = 0) => harness('restart', dir, String(n)),
    stop: () => harness('stop', dir),
  };
}

/** Synchronous stop for exit paths. */
function stopRedisSync(redis) {
  try {
    execFileSync('bash', [HARNESS, 'stop', redis.dir], { stdio: 'ignore', timeout: 30000 });
  } catch {
    // Already stopped (or the watchdog got there first).
  }
}

/** Resolves once `store` reports CONNECT (or already did). */
function connected(store, timeoutMs = 10000) {
  if (store.status === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`store did not connect within ${timeoutMs} ms`)), timeoutMs);
    store.once('CONNECT', () => {
      clearTimeout(t);
      resolve();
    });
    // The first operation connects a cluster client; a single server connects by itself.
    store.ping().catch(() => {});
  });
}

module.exports = { startRedis, stopRedisSync, connected };
