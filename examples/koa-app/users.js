'use strict';
// The demo's user list and passport setup: passport-local checks a user name and password
// against scrypt hashes made at startup (the plain passwords are the demo credentials, shown on
// the login page and printed at startup so that anyone can try it).
const crypto = require('node:crypto');
const { promisify } = require('node:util');
const { Strategy: LocalStrategy } = require('passport-local');

const scrypt = promisify(crypto.scrypt);
const KEY_LEN = 32;

const DEMO_CREDENTIALS = [
  { username: 'alice', password: 'wonderland', name: 'Alice' },
  { username: 'bob', password: 'builder', name: 'Bob' },
];

async function hashPassword(password, salt = crypto.randomBytes(16)) {
  return { salt, hash: await scrypt(password, salt, KEY_LEN) };
}

async function verifyPassword(password, { salt, hash }) {
  const got = await scrypt(password, salt, KEY_LEN);
  return crypto.timingSafeEqual(got, hash);
}

/** Hashes the demo passwords; the plain ones are not kept. */
async function loadUsers() {
  const users = new Map();
  for (const { username, password, name } of DEMO_CREDENTIALS) {
    users.set(username, { username, name, password: await hashPassword(password) });
  }
  // Checked for unknown user names, so that they take as long as wrong passwords.
  const dummy = await hashPassword(crypto.randomBytes(16).toString('hex'));
  return { users, dummy };
}

/** The user as the app sees it (ctx.state.user): no password hash. */
function publicUser(u) {
  return { username: u.username, name: u.name };
}

/** Configures passport (koa-passport's singleton) for the user list. */
function setUpPassport(passport, { users, dummy }) {
  passport.use(
    new LocalStrategy(async (username, password, done) => {
      try {
        const user = users.get(username);
        const ok = await verifyPassword(password, user ? user.password : dummy);
        done(null, user && ok ? publicUser(user) : false, { message: 'Wrong user name or password.' });
      } catch (err) {
        done(err);
      }
    }),
  );
  // The session holds only the user name (session.passport.user).
  passport.serializeUser((user, done) => done(null, user.username));
  passport.deserializeUser((username, done) => {
    const user = typeof username === 'string' ? users.get(username) : undefined;
    done(null, user ? publicUser(user) : false); // false: passport forgets an unknown user
  });
  return passport;
}

module.exports = { DEMO_CREDENTIALS, loadUsers, setUpPassport };
