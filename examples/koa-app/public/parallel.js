'use strict';
// The parallel page: N fetch POSTs at once, each setting its own key of the session (with the
// CSRF token from the page's meta tag), then the session read back: which keys were kept?
// Each run first clears the keys of the one before, except a first run on a session that had
// none when the page was served (data-stale="0"): then the 20 writes are the first requests
// after the page, which with renewInterval lets the id's renewal happen while they are in flight.
(() => {
  const button = document.getElementById('run');
  const status = document.getElementById('status');
  const list = document.getElementById('keys');
  const count = Number(button.dataset.count);
  let stale = button.dataset.stale !== '0'; // keys of an earlier run may be in the session
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const keyOf = (n) => `parallel${String(n).padStart(2, '0')}`;

  async function json(url, method) {
    const headers = { Accept: 'application/json' };
    if (method === 'POST') headers['X-CSRF-Token'] = token;
    const res = await fetch(url, { method, headers, credentials: 'same-origin' });
    if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  async function run() {
    button.disabled = true;
    list.textContent = '';
    delete status.dataset.kept;
    status.className = 'big';
    status.textContent = `Sending ${count} requests...`;
    try {
      if (stale) await json('/api/parallel/reset', 'POST');
      stale = true;
      const started = performance.now();
      const answers = await Promise.all(Array.from({ length: count }, (_, i) => json(`/api/parallel/${i + 1}`, 'POST')));
      const ms = Math.round(performance.now() - started);
      const overlap = Math.max(...answers.map((a) => a.inFlight));
      const { session } = await json('/api/session', 'GET');
      let kept = 0;
      for (let n = 1; n <= count; n++) {
        const key = keyOf(n);
        const ok = typeof session[key] === 'string';
        if (ok) kept++;
        const li = document.createElement('li');
        li.className = ok ? 'kept' : 'lost';
        li.dataset.key = key;
        li.title = ok ? session[key] : 'lost';
        li.textContent = `${key} ${ok ? '✓ kept' : '✗ lost'}`;
        list.append(li);
      }
      status.className = kept === count ? 'big ok' : 'big error';
      status.textContent = `${kept} of ${count} keys kept (${count} requests in ${ms} ms, up to ${overlap} in the server at once).`;
      status.dataset.kept = String(kept);
      status.dataset.overlap = String(overlap);
    } catch (err) {
      status.className = 'big error';
      status.textContent = `Failed: ${err.message}`;
      status.dataset.kept = 'error';
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener('click', run);
})();
