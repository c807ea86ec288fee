// Starts one app (`node <file>`; it prints `listening <port>`) and drives it over real HTTP:
// the first request gets the session cookie and its signature and views 1, the second sends
// the cookie back and gets views 2. Prints one line; exits non-zero on any difference.
// usage: node drive.mjs <app file> <expected form>
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';

const [file, form] = process.argv.slice(2);
const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });

function listening() {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`${file} exited (${code}) before listening; output: ${out}`)));
  });
}

async function get(port, cookie) {
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: cookie ? { cookie } : {} });
  return { status: res.status, setCookie: res.headers.getSetCookie(), body: await res.json() };
}

try {
  const port = await listening();
  const first = await get(port);
  assert.equal(first.status, 200);
  assert.equal(first.body.form, form);
  assert.equal(first.body.views, 1);
  const names = first.setCookie.map((c) => c.split('=')[0]);
  assert.deepEqual(names, ['koa.sid', 'koa.sid.sig'], `Set-Cookie: ${first.setCookie.join(' | ')}`);
  const cookie = first.setCookie.map((c) => c.split(';')[0]).join('; ');
  const second = await get(port, cookie);
  assert.equal(second.status, 200);
  assert.equal(second.body.views, 2, 'the counter goes on in the same session');
  console.log(`fresh app ${form} (${file}): koa.sid + koa.sid.sig set, views 1 then 2`);
} finally {
  child.kill();
}
