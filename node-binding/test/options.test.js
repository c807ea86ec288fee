'use strict';
// Strict options: unknown options (with where koa-session's and koa-generic-session's go),
// nonsensical values, app.keys that cannot sign, and a secure cookie over plain HTTP. Each
// error is a TypeError (or an accurate warning) that names the option.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { session, withApp, cookieNamed } = require('./helpers');

const { MemoryStore } = session;

/** session(opts) throws a TypeError naming `option` whose message matches every pattern. */
function refused(opts, option, ...patterns) {
  assert.throws(
    () => session(opts),
    (err) => {
      assert.ok(err instanceof TypeError, `${err}`);
      assert.ok(err.message.startsWith(`koa-session-ts: option "${option}": `), err.message);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
    JSON.stringify(opts),
  );
}

const setUser = async (ctx) => {
  if (ctx.path === '/login') ctx.session.user = 'ann';
  ctx.body = { user: ctx.session.user || null };
};

test('koa-session cookie options at the top level say they go under cookieOptions', () => {
  refused({ maxAge: 1000 }, 'maxAge', /use cookieOptions\.maxAge/);
  for (const name of ['secure', 'sameSite', 'httpOnly', 'domain', 'path', 'signed', 'overwrite']) {
    refused({ [name]: true }, name, new RegExp(`use cookieOptions\\.${name}\\b`));
  }
  refused({ cookie: { maxAge: 1000 } }, 'cookie', /cookie option is cookieOptions here/);
});

test('koa-generic-session and koa-session options we do not have say what to use instead', () => {
  refused({ ttl: 60000 }, 'ttl', /store TTL follows the cookie's lifetime: set cookieOptions\.maxAge/);
  refused({ prefix: 'app:' }, 'prefix', /store's option: new RedisStore\(\{ url, prefix \}\)/);
  refused({ autoCommit: false }, 'autoCommit', /not supported/, /ctx\.sessionSave = false/);
  refused({ encode: (s) => s }, 'encode', /not supported/);
  refused({ decode: (s) => s }, 'decode', /not supported/);
  refused({ renew: true }, 'renew', /not supported/, /rolling: true/);
  refused({ externalKey: {} }, 'externalKey', /not supported/, /ctx\.sessionId/);
  refused({ ContextStore: class {} }, 'ContextStore', /not supported/, /store option/);
  refused({ sessionIdStore: {} }, 'sessionIdStore', /ctx\.sessionId/);
  refused({ genid: () => 'x' }, 'genid', /genSid/);
  refused({ allowempty: true }, 'allowempty', /did you mean allowEmpty\?/);
  refused({ colour: 'blue' }, 'colour', /unknown option; the known ones are key, reconnectTimeout, storeTimeout, cookieOptions/);
});

test('unknown cookieOptions are errors too', () => {
  refused({ cookieOptions: { maxage: 1000 } }, 'cookieOptions.maxage', /did you mean maxAge\?/);
  refused({ cookieOptions: { ttl: 1000 } }, 'cookieOptions.ttl', /set cookieOptions\.maxAge/);
  refused({ cookieOptions: { secureProxy: true } }, 'cookieOptions.secureProxy', /app\.proxy = true/);
  refused({ cookieOptions: { colour: 'blue' } }, 'cookieOptions.colour', /the known ones are httpOnly, maxAge/);
});

test('nonsensical values are errors naming the option', () => {
  refused({ cookieOptions: { maxAge: -5 } }, 'cookieOptions.maxAge', /must not be negative, got -5/);
  refused({ cookieOptions: { maxAge: Infinity } }, 'cookieOptions.maxAge', /got Infinity/);
  refused({ cookieOptions: { maxAge: () => 1 } }, 'cookieOptions.maxAge', /got a function/);
  refused({ cookieOptions: { expires: -1 } }, 'cookieOptions.expires', /after 1970/);
  refused({ cookieOptions: { expires: new Date(NaN) } }, 'cookieOptions.expires', /got an invalid Date/);
  refused({ cookieOptions: { sameSite: 'none' } }, 'cookieOptions.sameSite', /'none' needs secure/, /cookieOptions\.secure: true/);
  refused({ cookieOptions: { sameSite: 'None', secure: false } }, 'cookieOptions.sameSite', /'none' needs secure/);
  refused({ cookieOptions: { domain: 'a b' } }, 'cookieOptions.domain', /a space is not allowed/);
  refused({ cookieOptions: { domain: 'a..example' } }, 'cookieOptions.domain', /empty label/);
  refused({ cookieOptions: { domain: 'example.com;secure' } }, 'cookieOptions.domain', /';' is not allowed/);
  refused({ cookieOptions: { domain: 'x\u0001.com' } }, 'cookieOptions.domain', /control character/);
  refused({ cookieOptions: { path: 'app' } }, 'cookieOptions.path', /must start with '\/'/);
  refused({ cookieOptions: { path: '/a;b' } }, 'cookieOptions.path', /';' is not allowed/);
  refused({ cookieOptions: { path: '/a\nb' } }, 'cookieOptions.path', /control character/);
  refused({ key: 'a b' }, 'key', /a space is not allowed/);
  refused({ reconnectTimeout: NaN }, 'reconnectTimeout', /got NaN/);
  // What stays accepted: 0 / 'session' / null maxAge (a browser-session cookie), 'none' with
  // secure, a leading-dot domain, no path attribute, Dates and ISO date strings.
  for (const ok of [
    { cookieOptions: { maxAge: 0 } },
    { cookieOptions: { maxAge: 'session', sameSite: 'none', secure: true } },
    { cookieOptions: { domain: '.example.com', path: null } },
    { cookieOptions: { expires: new Date(Date.now() + 1e6) } },
    { cookieOptions: { expires: '2100-01-01T00:00:00.000Z', maxAge: null } },
    { key: 'app.sid', reconnectTimeout: 0, defer: false, rolling: true, allowEmpty: false, store: new MemoryStore(), genSid: () => 'x', errorHanlder: () => {} },
  ]) {
    assert.equal(typeof session(ok), 'function', JSON.stringify(ok));
  }
});

test('a string as app.keys is a TypeError naming app.keys and the form it takes', async () => {
  for (const [keys, what] of [['secret', /got a string/], [[''], /app\.keys\[0\] is an empty string/], [['ok', 5], /app\.keys\[1\] is number 5/], [42, /got number 42/]]) {
    await withApp({}, setUser, { keys: null }, async (srv, app) => {
      app.keys = keys;
      const r = await srv.request('/login');
      assert.equal(r.status, 500);
      assert.ok(app.errors[0] instanceof TypeError);
      assert.match(app.errors[0].message, /app\.keys must be an array of strings or Buffers, e\.g\. app\.keys = \['a long random secret'\]/);
      assert.match(app.errors[0].message, what);
      assert.equal(r.setCookies.length, 0);
    });
  }
});

test('an empty app.keys: unsigned cookies and one accurate warning', async () => {
  const warnings = [];
  const onWarning = (w) => w.name === 'KoaSessionWarning' && warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    await withApp({}, setUser, { keys: null }, async (srv, app) => {
      app.keys = [];
      const c = srv.client();
      const r = await c.get('/login');
      assert.equal(r.status, 200);
      assert.ok(cookieNamed(r, 'koa.sid'));
      assert.equal(cookieNamed(r, 'koa.sid.sig'), undefined);
      assert.equal((await c.get('/')).json.user, 'ann');
    });
    await new Promise((r) => setImmediate(r));
    const empty = warnings.filter((m) => /app\.keys is empty, so session cookies are not signed\. Set app\.keys = \['a long random secret'\]/.test(m));
    assert.equal(empty.length, 1, warnings.join('\n'));
    assert.equal(warnings.filter((m) => /Keygrip/.test(m)).length, 0, 'no word about Keygrip');
  } finally {
    process.off('warning', onWarning);
  }
});

test('Buffers are keys, and a Keygrip-like object with readable keys is used', async () => {
  await withApp({}, setUser, { keys: null }, async (srv, app) => {
    app.keys = [Buffer.from('buffer-key')];
    const r = await srv.request('/login');
    assert.ok(cookieNamed(r, 'koa.sid.sig'));
    app.keys = { keys: ['grip-key'], sign() {} };
    const r2 = await srv.request('/login');
    assert.ok(cookieNamed(r2, 'koa.sid.sig'));
  });
});

test('a secure cookie over plain HTTP names the option and the two fixes', async () => {
  const store = new MemoryStore();
  await withApp({ store, cookieOptions: { secure: true } }, setUser, async (srv, app) => {
    const r = await srv.request('/login');
    assert.equal(r.status, 500);
    const m = app.errors[0].message;
    assert.match(m, /^Cannot send secure cookie over unencrypted connection/, "Koa's words first");
    assert.match(m, /cookieOptions\.secure/);
    assert.match(m, /app\.proxy = true/);
    assert.match(m, /X-Forwarded-Proto: https/);
    assert.match(m, /cookieOptions\.secure: false/);
    assert.equal(store.size, 0);
  });
});

test('options are read as given: functions and odd values named, Dates as dates, cycles refused', () => {
  refused({ genSid: 'abc' }, 'genSid', /must be a function, got string "abc"/);
  refused({ valid: Symbol('v') }, 'valid', /must be a function, got a symbol/);
  refused({ cookieOptions: { expires: new Date(NaN) } }, 'cookieOptions.expires', /got an invalid Date/);
  refused({ cookieOptions: { maxAge: Infinity } }, 'cookieOptions.maxAge', /got Infinity/);
  assert.equal(typeof session({ cookieOptions: { expires: new Date(Date.now() + 60000) } }), 'function');
  const cyclic = { cookieOptions: {} };
  cyclic.cookieOptions.self = cyclic;
  assert.throws(() => session(cyclic), (err) => err instanceof TypeError && /nested more than 32 deep, or cyclic/.test(err.message));
  assert.throws(() => new MemoryStore({ maxEntries: 'ten' }), (err) => err instanceof TypeError && /option "maxEntries"/.test(err.message));
});
