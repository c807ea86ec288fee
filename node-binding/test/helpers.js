'use strict';
// Test helpers: a real Koa app on 127.0.0.1 (port 0) and an HTTP client that carries
// cookies itself. KOA_MODULE picks the Koa under test ('koa' = Koa 3, 'koa2' = Koa 2).
const http = require('node:http');

const KOA_MODULE = process.env.KOA_MODULE || 'koa';
const Koa = require(KOA_MODULE);
const KOA_VERSION = require(`${KOA_MODULE}/package.json`).version;
const session = require('..');

/** A Koa app with `session(opts)` (unless opts === false) and `handler`; errors are collected. */
function makeApp(opts, handler, { keys = ['key-1'], before = [], proxy = false } = {}) {
  const app = new Koa();
  if (keys) app.keys = keys;
  app.proxy = proxy;
  app.errors = [];
  app.on('error', (err) => app.errors.push(err));
  for (const mw of before) app.use(mw);
  if (opts !== false) app.use(session(opts));
  if (handler) app.use(handler);
  return app;
}

/** Starts `app`; returns { port, client(), request(), close() }. */
async function serve(app) {
  const server = http.createServer(app.callback());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    port,
    server,
    request: (path, opts) => request(port, path, opts),
    client: () => new Client(port),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(resolve);
      }),
  };
}

function request(port, path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const setCookies = res.headers['set-cookie'] || [];
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, setCookies, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Parses one Set-Cookie value into { name, value, attrs: {path, expires, ...}, cleared }. */
function parseSetCookie(line) {
  const [pair, ...rest] = line.split(';').map((s) => s.trim());
  const eq = pair.indexOf('=');
  const attrs = {};
  for (const a of rest) {
    const i = a.indexOf('=');
    if (i < 0) attrs[a.toLowerCase()] = true;
    else attrs[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
  }
  const value = pair.slice(eq + 1);
  const cleared = value === '' || (attrs.expires !== undefined && Date.parse(attrs.expires) <= Date.now());
  return { name: pair.slice(0, eq), value, attrs, cleared };
}

class Client {
  constructor(port) {
    this.port = port;
    this.jar = new Map();
  }
  cookieHeader() {
    return [...this.jar].map(([n, v]) => `${n}=${v}`).join('; ');
  }
  async get(path, { headers = {}, method = 'GET', body } = {}) {
    const h = { ...headers };
    if (this.jar.size > 0 && h.cookie === undefined) h.cookie = this.cookieHeader();
    const res = await request(this.port, path, { method, headers: h, body });
    res.cookies = res.setCookies.map(parseSetCookie);
    for (const c of res.cookies) {
      if (c.cleared) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
    return res;
  }
  /** POSTs `form` (an object) as application/x-www-form-urlencoded. */
  post(path, form = {}, { headers = {} } = {}) {
    const body = new URLSearchParams(form).toString();
    return this.get(path, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  }
}

function cookieNamed(res, name) {
  return res.setCookies.map(parseSetCookie).find((c) => c.name === name);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { Koa, KOA_VERSION, KOA_MODULE, session, makeApp, serve, request, Client, parseSetCookie, cookieNamed, sleep };

/** Runs `fn(srv, app)` against a served app, then closes it. */
async function withApp(opts, handler, appOpts, fn) {
  if (typeof appOpts === 'function') {
    fn = appOpts;
    appOpts = {};
  }
  const app = makeApp(opts, handler, appOpts);
  const srv = await serve(app);
  try {
    return await fn(srv, app);
  } finally {
    await srv.close();
  }
}

module.exports.withApp = withApp;
