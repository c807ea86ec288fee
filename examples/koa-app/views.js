'use strict';
// The demo's HTML. Every value put into a page goes through escape(); the session id is never
// shown (the cookie is HttpOnly, so page scripts cannot read it either).
const { DEMO_CREDENTIALS } = require('./users');

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A POST form of one button, with the CSRF token koa-csrf checks. */
function postButton(ctx, action, label, cls = '') {
  return `<form method="post" action="${escape(action)}" class="inline">` +
    `<input type="hidden" name="_csrf" value="${escape(ctx.state._csrf)}">` +
    `<button type="submit"${cls ? ` class="${cls}"` : ''}>${escape(label)}</button></form>`;
}

function layout(ctx, title, body, { scripts = [] } = {}) {
  const user = ctx.state.user;
  const nav = [
    ['/', 'Counter'],
    ['/parallel', '20 parallel writes'],
    ...(user ? [['/devices', 'Your devices']] : []),
  ].map(([href, label]) => `<a href="${href}"${ctx.path === href ? ' aria-current="page"' : ''}>${label}</a>`).join('');
  const account = user
    ? `<span class="who" id="who">Logged in as <b>${escape(user.username)}</b></span>${postButton(ctx, '/logout', 'Log out')}`
    : `<span class="who" id="who">Not logged in</span><a href="/login" class="button">Log in</a>`;
  ctx.type = 'html';
  ctx.body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${escape(ctx.state._csrf)}">
<title>${escape(title)} · koa-session-ts demo</title>
<link rel="stylesheet" href="/static/app.css">
${scripts.map((s) => `<script src="${escape(s)}" defer></script>`).join('\n')}
</head>
<body>
<header>
  <strong class="brand">koa-session-ts demo</strong>
  <nav>${nav}</nav>
  <div class="account">${account}</div>
</header>
<main>
<h1>${escape(title)}</h1>
${body}
</main>
<footer>Sessions: ${escape(ctx.storeName)}. The session cookie (<code>koa.sid</code>, signed in
<code>koa.sid.sig</code>) is HttpOnly; POST forms carry a CSRF token (koa-csrf); login is
passport-local through koa-passport.</footer>
</body>
</html>`;
}

function counterPage(ctx, views) {
  const user = ctx.state.user;
  const who = user ? `Logged in as <b>${escape(user.username)}</b>.` : 'Not logged in.';
  layout(ctx, 'Counter', `
<p>${who}</p>
<p class="big" id="views">You have seen this page ${views} time(s).</p>
<p>The count lives in your session: it survives reloads, carries over when you log in, and ends
when you log out (a new session).</p>
${postButton(ctx, '/counter/reset', 'Reset the counter', 'secondary')}`);
}

function loginPage(ctx, { error = null, username = '' } = {}) {
  const creds = DEMO_CREDENTIALS.map((c) => `<code>${escape(c.username)}</code> / <code>${escape(c.password)}</code>`).join(' or ');
  const already = ctx.state.user ? `<p>You are logged in as <b>${escape(ctx.state.user.username)}</b>; logging in again starts a new session.</p>` : '';
  layout(ctx, 'Log in', `
${already}
${error ? `<p class="error" id="login-error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/login" class="card" id="login-form">
  <input type="hidden" name="_csrf" value="${escape(ctx.state._csrf)}">
  <label>User name <input name="username" autocomplete="username" required value="${escape(username)}"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
</form>
<p class="hint">Demo users: ${creds}.</p>
<p class="hint">Logging in gives the session a new id (passport calls
<code>ctx.session.regenerate()</code>), so an id known before the login is worth nothing after it.</p>`);
}

function parallelPage(ctx, count, stale) {
  layout(ctx, '20 parallel writes to one session', `
<p>This page sends ${count} <code>fetch</code> POSTs at once (each with the CSRF token), each
setting a <em>different</em> key of your session (<code>parallel01</code> ... <code>parallel${String(count).padStart(2, '0')}</code>);
the server holds each request a few milliseconds so that they overlap. Then it reads the
session back.</p>
<p>Other Koa session stores write back the whole session each request loaded, so the last request
to finish wins and the keys set by the others are lost. koa-session-ts commits only what each
request changed and merges it into the stored session: all ${count} keys are kept.</p>
<p><button type="button" id="run" data-count="${count}" data-stale="${stale ? 1 : 0}">Send ${count} requests in parallel</button></p>
<p id="status" class="big" aria-live="polite">Not run yet.</p>
<ol id="keys" class="keys"></ol>`, { scripts: ['/static/parallel.js'] });
}

function devicesPage(ctx, devices, ended) {
  const rows = devices.map((d) => `<li class="${d.current ? 'current' : 'other'}"><b>${escape(d.device)}</b>, ` +
    `logged in ${escape(new Date(d.since).toISOString().replace('T', ' ').slice(0, 19))} UTC` +
    `${d.current ? ' <em>(this one)</em>' : ''}</li>`).join('');
  const others = devices.filter((d) => !d.current).length;
  layout(ctx, 'Your devices', `
${ended === null ? '' : `<p class="notice" id="ended" role="status">${ended} other session(s) signed out.</p>`}
<p id="device-count">You are logged in on ${devices.length} device(s).</p>
<ul id="devices" class="devices">${rows}</ul>
${others ? postButton(ctx, '/devices/sign-out-others', 'Sign out of all other devices') : ''}
<p class="hint">The list comes from <code>ctx.sessionStore.userSessions(user)</code> and the button
calls <code>destroyUserSessions(user, { except: ctx.sessionId })</code>: the app sets
<code>userField: 'passport.user'</code> and the session engine keeps each user's sessions
indexed. A session id is a secret, so the page shows when and from what each session logged in,
never its id. Do the same after a password change.</p>`);
}

function errorPage(ctx, status, title, message) {
  ctx.status = status;
  layout(ctx, title, `<p class="error" role="alert">${escape(message)}</p><p><a href="/">Back to the counter</a></p>`);
}

module.exports = { escape, layout, counterPage, loginPage, parallelPage, devicesPage, errorPage };
