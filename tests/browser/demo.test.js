'use strict';
// The demo app (examples/koa-app, MemoryStore) in a real browser: Debian's chromium, headless,
// driven by puppeteer-core. The tests run in order on one browser, as one visitor would: count,
// fail to log in, log in through the form, count on, run the parallel-writes page, sign out of
// another device logged in as the same user, log out, and
// check that nothing from before the logout logs in again (back button, an old tab, the old
// cookie replayed). The last test starts a second demo with a short renewInterval and
// renewGrace (KS_RENEW_INTERVAL_MS, KS_RENEW_GRACE_MS) and runs the parallel page while the
// session id is being renewed.
//   node --test --test-reporter=tap demo.test.js     (make test-browser)
// env: CHROMIUM (default /usr/bin/chromium), BROWSER_SHOTS (default <repo>/target/browser; a
// failing test saves <name>.png there), BROWSER_SHOTS_ALL=1 (a screenshot after every test).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const puppeteer = require('puppeteer-core');

const ROOT = path.resolve(__dirname, '..', '..');
const APP = path.join(ROOT, 'examples', 'koa-app', 'app.js');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.BROWSER_SHOTS || path.join(ROOT, 'target', 'browser');
const PARALLEL = 20;

let server; // { proc, base, output() }
let browser;
let page; // the tab the tests drive; a failing test screenshots it
let preLogin; // koa.sid and koa.sid.sig before login
let preLogout; // ... before logout

/**
 * Starts the demo on a free loopback port (PORT=0) with the MemoryStore, `extraEnv` added (the
 * KS_*_MS lifetimes); resolves once it listens.
 */
function startDemo(extraEnv = {}) {
  const env = { ...process.env, PORT: '0', SESSION_KEY: 'browser-test-key', ...extraEnv };
  delete env.REDIS_URL;
  const proc = spawn(process.execPath, [APP], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const output = () => out;
  proc.stderr.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start within 30 s:\n${out}`)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, base: m[1], output });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code}):\n${out}`));
    });
  });
}

function stopDemo({ proc, output }) {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the demo did not stop on SIGTERM:\n${output()}`));
    }, 10000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    proc.kill('SIGTERM');
  });
}

async function screenshot(name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name.replace(/[^\w.-]+/g, '-').replace(/^-|-$/g, '')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** A test on the shared tab; on failure it saves a screenshot and says where. */
function browserTest(name, fn) {
  test(name, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      let where;
      try {
        where = `screenshot: ${await screenshot(name)}`;
      } catch (shotErr) {
        where = `no screenshot (${shotErr.message})`;
      }
      t.diagnostic(where);
      if (err && typeof err.message === 'string') err.message += `\n${where}`;
      throw err;
    }
    if (process.env.BROWSER_SHOTS_ALL) t.diagnostic(`screenshot: ${await screenshot(name)}`);
  });
}

const url = (p) => server.base + p;
const text = (sel, tab = page) => tab.$eval(sel, (el) => el.textContent.trim());

async function goto(p, tab = page) {
  const res = await tab.goto(url(p), { waitUntil: 'load' });
  return res.status();
}

/** Clicks a button that submits a form and waits for the page it leads to. */
async function submit(selector, tab = page) {
  const [res] = await Promise.all([tab.waitForNavigation({ waitUntil: 'load' }), tab.click(selector)]);
  return res.status();
}

/** The session cookies as the browser holds them, by name. */
async function sessionCookies() {
  const all = await browser.cookies();
  return Object.fromEntries(all.filter((c) => c.name === 'koa.sid' || c.name === 'koa.sid.sig').map((c) => [c.name, c]));
}

/** GET /api/session from outside the browser with the given cookies. */
async function replay(cookies) {
  const res = await fetch(url('/api/session'), {
    headers: { cookie: `koa.sid=${cookies['koa.sid'].value}; koa.sid.sig=${cookies['koa.sid.sig'].value}` },
  });
  assert.equal(res.status, 200);
  return res.json();
}

before(async () => {
  server = await startDemo();
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'], // CI runs as root
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 760 });
  page.setDefaultTimeout(15000);
});

after(async () => {
  if (browser) await browser.close();
  if (server) {
    const code = await stopDemo(server);
    assert.equal(code, 0, `the demo exited with ${code}:\n${server.output()}`);
  }
});

browserTest('the counter counts in the session', async () => {
  assert.equal(await goto('/'), 200);
  assert.equal(await text('#who'), 'Not logged in');
  assert.equal(await text('#views'), 'You have seen this page 1 time(s).');
  await page.reload({ waitUntil: 'load' });
  assert.equal(await text('#views'), 'You have seen this page 2 time(s).');
});

browserTest('the session cookie is HttpOnly: document.cookie does not see it, and the page never shows the id', async () => {
  const cookies = await sessionCookies();
  assert.ok(cookies['koa.sid'] && cookies['koa.sid.sig'], `the browser holds koa.sid and koa.sid.sig: ${Object.keys(cookies)}`);
  for (const c of Object.values(cookies)) {
    assert.equal(c.httpOnly, true, `${c.name} is HttpOnly`);
    assert.equal(c.sameSite, 'Lax', `${c.name} is SameSite=Lax`);
  }
  const seen = await page.evaluate(() => document.cookie);
  assert.doesNotMatch(seen, /koa\.sid/, `document.cookie: ${JSON.stringify(seen)}`);
  const sid = cookies['koa.sid'].value;
  const html = await page.content();
  assert.ok(!html.includes(sid), 'the page does not contain the session id');
  const api = await page.evaluate(() => fetch('/api/session').then((r) => r.text()));
  assert.ok(!api.includes(sid), `/api/session does not contain the session id: ${api}`);
  preLogin = cookies;
});

browserTest('a POST without a valid CSRF token is refused (koa-csrf)', async () => {
  const statuses = await page.evaluate(async () => [
    (await fetch('/counter/reset', { method: 'POST' })).status,
    (await fetch('/api/parallel/1', { method: 'POST', headers: { 'X-CSRF-Token': 'forged' } })).status,
    (await fetch('/login', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'username=alice&password=wonderland' })).status,
  ]);
  assert.deepEqual(statuses, [403, 403, 403]);
  await page.reload({ waitUntil: 'load' });
  assert.equal(await text('#views'), 'You have seen this page 3 time(s).', 'the counter was not reset');
  assert.equal(await text('#who'), 'Not logged in');
});

browserTest('a wrong password (or an unknown user) does not log in', async () => {
  for (const [user, password] of [['alice', 'not-her-password'], ['mallory', 'wonderland']]) {
    assert.equal(await goto('/login'), 200);
    await page.type('input[name=username]', user);
    await page.type('input[name=password]', password);
    assert.equal(await submit('#login-form button[type=submit]'), 401);
    assert.equal(await text('#login-error'), 'Wrong user name or password.');
    assert.equal(await text('#who'), 'Not logged in');
    assert.equal(await page.$eval('input[name=username]', (el) => el.value), user, 'the user name is kept in the form');
  }
  const cookies = await sessionCookies();
  assert.equal(cookies['koa.sid'].value, preLogin['koa.sid'].value, 'a failed login keeps the session');
});

browserTest('logging in through the form: a new session id, the counter carried over', async () => {
  assert.equal(await goto('/login'), 200);
  await page.type('input[name=username]', 'alice');
  await page.type('input[name=password]', 'wonderland');
  assert.equal(await submit('#login-form button[type=submit]'), 200);
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal(await text('#who'), 'Logged in as alice');
  assert.equal(await text('#views'), 'You have seen this page 4 time(s).');
  const cookies = await sessionCookies();
  assert.notEqual(cookies['koa.sid'].value, preLogin['koa.sid'].value, 'login regenerates the session id');
  const old = await replay(preLogin);
  assert.equal(old.user, null, 'the pre-login cookie is not logged in');
  assert.equal(old.session.views, undefined, `the pre-login session is gone: ${JSON.stringify(old)}`);
  await page.reload({ waitUntil: 'load' });
  assert.equal(await text('#views'), 'You have seen this page 5 time(s).');
  assert.equal(await text('#who'), 'Logged in as alice');
});

browserTest(`the parallel page: ${PARALLEL} fetch POSTs at once each set their own key, and all ${PARALLEL} are kept`, async () => {
  assert.equal(await goto('/parallel'), 200);
  for (let run = 1; run <= 2; run++) {
    await page.click('#run');
    await page.waitForFunction(() => document.getElementById('status').dataset.kept !== undefined);
    const status = await text('#status');
    const kept = await page.$eval('#status', (el) => el.dataset.kept);
    assert.equal(kept, String(PARALLEL), `run ${run}: ${status}`);
    assert.match(status, new RegExp(`^${PARALLEL} of ${PARALLEL} keys kept`));
    const overlap = Number(await page.$eval('#status', (el) => el.dataset.overlap));
    assert.ok(overlap >= 2, `run ${run}: the requests overlapped in the server (up to ${overlap} at once)`);
    const items = await page.$$eval('#keys li', (lis) => lis.map((li) => [li.dataset.key, li.className]));
    assert.equal(items.length, PARALLEL);
    for (const [key, cls] of items) assert.equal(cls, 'kept', `${key} kept`);
  }
  // Read back independently of the page's own script.
  const { user, session } = await page.evaluate(() => fetch('/api/session').then((r) => r.json()));
  assert.equal(user, 'alice');
  for (let n = 1; n <= PARALLEL; n++) {
    const key = `parallel${String(n).padStart(2, '0')}`;
    assert.match(String(session[key]), new RegExp(`^set by request ${n} at `), `${key} in the session`);
  }
  assert.equal(session.views, 5, 'the parallel writes left the counter alone');
});

browserTest('your devices: a second browser logs in as the same user, and "sign out of all other devices" ends it', async () => {
  const other = await browser.createBrowserContext(); // another device: its own cookie jar
  try {
    const tab = await other.newPage();
    assert.equal(await goto('/login', tab), 200);
    await tab.type('input[name=username]', 'alice');
    await tab.type('input[name=password]', 'wonderland');
    assert.equal(await submit('#login-form button[type=submit]', tab), 200);
    assert.equal(await text('#who', tab), 'Logged in as alice');
    const otherCookies = Object.fromEntries((await other.cookies()).map((c) => [c.name, c]));
    const otherSid = otherCookies['koa.sid'].value;

    assert.equal(await goto('/devices'), 200);
    assert.equal(await text('#device-count'), 'You are logged in on 2 device(s).');
    const rows = await page.$$eval('#devices li', (lis) => lis.map((li) => [li.className, li.textContent]));
    assert.deepEqual(rows.map(([cls]) => cls).sort(), ['current', 'other']);
    for (const [, row] of rows) assert.match(row, /^headless Chrome on Linux, logged in \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    const html = await page.content();
    const ownSid = (await sessionCookies())['koa.sid'].value;
    for (const sid of [ownSid, otherSid]) assert.ok(!html.includes(sid), 'the devices page shows no session id');

    assert.equal(await submit('form[action="/devices/sign-out-others"] button'), 200);
    assert.equal(await text('#ended'), '1 other session(s) signed out.');
    assert.equal(await text('#device-count'), 'You are logged in on 1 device(s).');
    assert.equal(await page.$('form[action="/devices/sign-out-others"]'), null, 'no button when there is no other device');

    // The other device is logged out at its next request, and its cookie is worth nothing.
    await tab.reload({ waitUntil: 'load' });
    assert.equal(await text('#who', tab), 'Not logged in', 'the other device after sign-out');
    const replayed = await replay(otherCookies);
    assert.equal(replayed.user, null, `the other device's old cookie: ${JSON.stringify(replayed)}`);
    assert.equal(replayed.session.passport, undefined);
    // This one keeps its login and its data.
    assert.equal(await goto('/'), 200);
    assert.equal(await text('#who'), 'Logged in as alice');
    assert.equal(await text('#views'), 'You have seen this page 6 time(s).');
  } finally {
    await other.close();
  }
});

browserTest('logout is a POST: a GET /logout (a link, an image) does not log out', async () => {
  const status = await page.evaluate(() => fetch('/logout').then((r) => r.status));
  assert.equal(status, 405);
  assert.equal(await goto('/'), 200);
  assert.equal(await text('#who'), 'Logged in as alice');
});

browserTest('after logout, the back button, reload, an old tab and the old cookie are not logged in', async () => {
  const mainTab = page;
  const oldTab = await browser.newPage();
  assert.equal(await goto('/', oldTab), 200);
  assert.equal(await text('#who', oldTab), 'Logged in as alice');
  assert.equal(await goto('/', page), 200); // the page the back button returns to: logged in
  assert.equal(await text('#who'), 'Logged in as alice');
  preLogout = await sessionCookies();

  await page.bringToFront();
  assert.equal(await submit('header form[action="/logout"] button'), 200);
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal(await text('#who'), 'Not logged in');
  assert.equal(await text('#views'), 'You have seen this page 1 time(s).', 'logout starts a new session');
  const after = await sessionCookies();
  assert.notEqual(after['koa.sid'] && after['koa.sid'].value, preLogout['koa.sid'].value, 'a new session id after logout');

  // Back to the page seen logged in: fetched again (Cache-Control: no-store), not logged in.
  await page.goBack({ waitUntil: 'load' });
  assert.equal(await text('#who'), 'Not logged in', 'back after logout');
  await page.reload({ waitUntil: 'load' });
  assert.equal(await text('#who'), 'Not logged in', 'reload after logout');

  // The old tab still shows the logged-in page; its forms carry a CSRF token of the old
  // session, so they are refused, and it is logged out once it loads anything.
  await oldTab.bringToFront();
  page = oldTab;
  assert.equal(await text('#who', oldTab), 'Logged in as alice');
  assert.equal(await submit('form[action="/counter/reset"] button', oldTab), 403);
  assert.equal(await text('#who', oldTab), 'Not logged in');
  await oldTab.reload({ waitUntil: 'load' });
  assert.equal(await text('#who', oldTab), 'Not logged in', 'the old tab after reload');
  page = mainTab; // (a failure above leaves the old tab open for its screenshot)
  await oldTab.close();

  // The cookie from before the logout, replayed from outside the browser: its record is gone.
  const old = await replay(preLogout);
  assert.equal(old.user, null, `the pre-logout cookie does not authenticate: ${JSON.stringify(old)}`);
  assert.equal(old.session.passport, undefined);
  assert.equal(old.session.views, undefined);
  // And in a fresh browser profile given only that cookie.
  const ctx = await browser.createBrowserContext();
  try {
    const tab = await ctx.newPage();
    const { hostname } = new URL(server.base);
    await ctx.setCookie(
      ...['koa.sid', 'koa.sid.sig'].map((name) => ({ name, value: preLogout[name].value, domain: hostname, path: '/', httpOnly: true })),
    );
    assert.equal(await goto('/', tab), 200);
    assert.equal(await text('#who', tab), 'Not logged in', 'the old cookie in a fresh browser');
  } finally {
    await ctx.close();
  }
});

// Renewal in the browser: a demo with renewInterval 1500 ms and renewGrace 3000 ms. The login's
// id is older than the interval when the parallel page sends its 20 POSTs (the page's first
// run on a session without parallel keys sends no reset first), so the first of them to end
// renews the id while the others are in flight with the old one (Chromium keeps 6 connections
// per host: the first 6 or so carry the old cookie, the rest whatever the browser holds when
// they start). Every write is kept, the cookie's id changes, the login outlives the grace, and
// after the grace the old cookie is worth nothing in a fresh browser profile.
const RENEW_INTERVAL = 1500;
const RENEW_GRACE = 3000;

browserTest(`renewal (renewInterval ${RENEW_INTERVAL} ms, renewGrace ${RENEW_GRACE} ms): ${PARALLEL} parallel writes while the id is renewed, all kept; the new id stays logged in, the old one is gone after the grace`, async (t) => {
  const mainPage = page;
  const demo = await startDemo({
    KS_RENEW_INTERVAL_MS: String(RENEW_INTERVAL),
    KS_RENEW_GRACE_MS: String(RENEW_GRACE),
    KS_IDLE_TIMEOUT_MS: '0',
    KS_ABSOLUTE_TIMEOUT_MS: '0',
  });
  const at = (p) => demo.base + p;
  const ctx = await browser.createBrowserContext(); // a visitor of its own (the cookie jar)
  try {
    assert.match(demo.output(), new RegExp(`session lifetimes: renewInterval ${RENEW_INTERVAL} ms, renewGrace ${RENEW_GRACE} ms`));
    page = await ctx.newPage();
    await page.setViewport({ width: 1000, height: 760 });
    page.setDefaultTimeout(15000);
    const sid = async () => {
      const c = Object.fromEntries((await page.cookies(demo.base)).map((x) => [x.name, x]));
      assert.ok(c['koa.sid'] && c['koa.sid.sig'], `the browser holds koa.sid and koa.sid.sig: ${Object.keys(c)}`);
      assert.equal(c['koa.sid'].httpOnly, true);
      return { 'koa.sid': c['koa.sid'], 'koa.sid.sig': c['koa.sid.sig'] };
    };

    assert.equal((await page.goto(at('/login'), { waitUntil: 'load' })).status(), 200);
    await page.type('input[name=username]', 'alice');
    await page.type('input[name=password]', 'wonderland');
    assert.equal(await submit('#login-form button[type=submit]'), 200);
    assert.equal(await text('#who'), 'Logged in as alice');
    const loggedIn = performance.now();
    // The parallel page, within the interval (its GET does not renew yet), then wait past it.
    assert.equal((await page.goto(at('/parallel'), { waitUntil: 'load' })).status(), 200);
    const before = await sid();
    assert.equal(await page.$eval('#run', (el) => el.dataset.stale), '0', 'no parallel keys yet: the first run sends no reset');
    const early = performance.now() - loggedIn;
    assert.ok(early < RENEW_INTERVAL, `the parallel page loaded ${Math.round(early)} ms after the login, within the interval`);
    assert.equal((await sid())['koa.sid'].value, before['koa.sid'].value, 'no renewal within the interval');
    await sleep(RENEW_INTERVAL + 300 - (performance.now() - loggedIn));

    // Which cookie each of the 20 POSTs carried, and which id each response set.
    const sent = [];
    const setIds = [];
    page.on('request', (req) => {
      if (/\/api\/parallel\/\d+$/.test(req.url())) sent.push(req.url());
    });
    page.on('response', (res) => {
      const setCookie = res.headers()['set-cookie'];
      const m = setCookie && /(?:^|\n)koa\.sid=([^;\n]*)/.exec(setCookie);
      if (/\/api\/parallel\/\d+$/.test(res.url()) && m) setIds.push(m[1]);
    });
    const runStarted = performance.now();
    await page.click('#run');
    await page.waitForFunction(() => document.getElementById('status').dataset.kept !== undefined);
    const ran = performance.now() - runStarted;
    const status = await text('#status');
    assert.equal(await page.$eval('#status', (el) => el.dataset.kept), String(PARALLEL), status);
    assert.equal(sent.length, PARALLEL, `${PARALLEL} POSTs sent: ${sent.length}`);
    const items = await page.$$eval('#keys li', (lis) => lis.map((li) => [li.dataset.key, li.className]));
    assert.equal(items.length, PARALLEL);
    for (const [key, cls] of items) assert.equal(cls, 'kept', `${key} kept`);
    const renewed = await sid();
    assert.notEqual(renewed['koa.sid'].value, before['koa.sid'].value, 'the session cookie id changed (renewed)');
    const distinct = new Set(setIds);
    // (Requests loaded with the old id when it was due each renew at their commit, so several
    // new ids can go out; one ends up current, and a request carrying any other within the
    // grace gets the current one's cookie: the browser's cookie converges.)
    t.diagnostic(`the run took ${Math.round(ran)} ms: ${status}; ${setIds.length} of ${PARALLEL} responses set koa.sid, ${distinct.size} distinct new id(s); the browser holds ${setIds.includes(renewed['koa.sid'].value) ? 'one of them' : 'another id'}`);
    assert.ok(!distinct.has(before['koa.sid'].value), 'no response set the old id again');
    assert.ok(setIds.length >= 1, 'at least one of the POSTs got the new id\'s cookie');

    // During the grace the old id still loads the session (checked from outside the browser,
    // so the browser's own cookie stays the new one).
    const inGrace = performance.now() - runStarted;
    const replayAt = async (cookies) => {
      const res = await fetch(at('/api/session'), {
        headers: { cookie: `koa.sid=${cookies['koa.sid'].value}; koa.sid.sig=${cookies['koa.sid.sig'].value}` },
      });
      assert.equal(res.status, 200);
      return { body: await res.json(), setCookie: res.headers.get('set-cookie') || '' };
    };
    const oldInGrace = await replayAt(before);
    if (inGrace < RENEW_GRACE - 500) {
      assert.equal(oldInGrace.body.user, 'alice', `the old id within the grace (${Math.round(inGrace)} ms after the run began): ${JSON.stringify(oldInGrace.body)}`);
      assert.match(oldInGrace.setCookie, new RegExp(`koa\\.sid=${renewed['koa.sid'].value};`), 'the old id within the grace gets the new id\'s cookie');
    } else {
      t.diagnostic(`the old id was not checked within the grace: ${Math.round(inGrace)} ms after the run began`);
    }

    // Past the grace: the browser (its cookie is the new id) is still logged in, with the data.
    await sleep(RENEW_GRACE + 500);
    await page.goto(at('/'), { waitUntil: 'load' });
    assert.equal(await text('#who'), 'Logged in as alice', 'still logged in after the grace');
    const { user, session: data } = await page.evaluate(() => fetch('/api/session').then((r) => r.json()));
    assert.equal(user, 'alice');
    for (let n = 1; n <= PARALLEL; n++) {
      const key = `parallel${String(n).padStart(2, '0')}`;
      assert.match(String(data[key]), new RegExp(`^set by request ${n} at `), `${key} in the session after the grace`);
    }
    // And the old cookie, alone in a fresh browser profile, after the grace: not logged in.
    const fresh = await browser.createBrowserContext();
    try {
      const tab = await fresh.newPage();
      const { hostname } = new URL(demo.base);
      await fresh.setCookie(
        ...['koa.sid', 'koa.sid.sig'].map((name) => ({ name, value: before[name].value, domain: hostname, path: '/', httpOnly: true })),
      );
      assert.equal((await tab.goto(at('/'), { waitUntil: 'load' })).status(), 200);
      assert.equal(await text('#who', tab), 'Not logged in', 'the old cookie after the grace, in a fresh browser');
      const seen = await tab.evaluate(() => fetch('/api/session').then((r) => r.json()));
      assert.equal(seen.session.parallel01, undefined, `the old cookie loads none of the data: ${JSON.stringify(seen)}`);
    } finally {
      await fresh.close();
    }
    // The old id loads nothing from outside the browser either, and the browser stays logged in.
    assert.equal((await replayAt(before)).body.user, null, 'the old id after the grace');
    await page.reload({ waitUntil: 'load' });
    assert.equal(await text('#who'), 'Logged in as alice');
    page = mainPage; // (a failure above leaves the renewal tab for the screenshot)
  } finally {
    if (page === mainPage) await ctx.close();
    const code = await stopDemo(demo);
    assert.equal(code, 0, `the renewal demo exited with ${code}:\n${demo.output()}`);
  }
});
