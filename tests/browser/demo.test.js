'use strict';
// The demo app (examples/koa-app, MemoryStore) in a real browser: Debian's chromium, headless,
// driven by puppeteer-core. The tests run in order on one browser, as one visitor would: count,
// fail to log in, log in through the form, count on, run the parallel-writes page, sign out of
// another device logged in as the same user, log out, and
// check that nothing from before the logout logs in again (back button, an old tab, the old
// cookie replayed).
//   node --test --test-reporter=tap demo.test.js     (make test-browser)
// env: CHROMIUM (default /usr/bin/chromium), BROWSER_SHOTS (default <repo>/target/browser; a
// failing test saves <name>.png there), BROWSER_SHOTS_ALL=1 (a screenshot after every test).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
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

/** Starts the demo on a free loopback port (PORT=0) with the MemoryStore; resolves once it listens. */
function startDemo() {
  const env = { ...process.env, PORT: '0', SESSION_KEY: 'browser-test-key' };
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
