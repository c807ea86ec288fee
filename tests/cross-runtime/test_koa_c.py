#!/usr/bin/env python3
"""Sessions shared between Koa and C: the Koa example app (examples/koa-app, koa-session-ts
with RedisStore) and the C example server (examples/c-server, libkoa_session with
ks_redis_store_new) run side by side on free loopback ports, pointed at one throwaway
redis-server with the same signing key, cookie name and key prefix. One browser (one cookie
jar: cookies belong to the host, not the port) uses both:

- logs in on Koa (the demo's login form: passport-local, with its CSRF token); the C server sees
  the user and the count and continues the count; Koa continues from the C server's value;
  logout on C ends the session for Koa;
- logs in on C; Koa sees the session's data and counts on; logout on Koa (a POST with the CSRF
  token: passport's logout) ends it for C. (The C server's demo login takes no password, so Koa
  shows its `user` as data, not as a user logged in through passport.)
- the record in Redis stays the one format both write (checked with redis-cli), including
  the `cookie` field Koa wrote and the TTL that follows it.

The C++ example server (examples/cpp-server, koa_session.hpp) answers as the C one does, so
the same checks run against it: pass its binary and the name to print.

Usage: test_koa_c.py SERVER KOA_APP_JS [NAME]   (NAME: C, the default, or C++)"""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from browser import Browser, check, fields  # noqa: E402

C_SERVER, KOA_APP = sys.argv[1], sys.argv[2]
NAME = sys.argv[3] if len(sys.argv) > 3 else "C"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(ROOT, "scripts", "redis-harness.sh")
KEY = "cross-runtime-test-key"
PREFIX = "koa:sess:"
KOA_MAX_AGE = 30 * 60 * 1000  # the Koa app's cookieOptions.maxAge
KOA_USER, KOA_PASSWORD = "alice", "wonderland"  # one of the Koa demo's users


def redis_cli(port, *args):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args], check=True, capture_output=True, text=True, timeout=30)
    return out.stdout.rstrip("\n")


def start(cmd, env, pattern, name):
    """Starts a server and waits for the line that gives its port."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            line = proc.stdout.readline()
            m = re.search(pattern, line)
            if m:
                return proc, int(m.group(1))
            if not line:
                break
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"{name} did not start: {proc.stderr.read()!r}")


def stop(proc, name):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{name} did not stop on SIGTERM")
    return code, proc.stderr.read()


def record(redis_port, sid):
    raw = redis_cli(redis_port, "GET", PREFIX + sid)
    check(raw != "", f"a record under {PREFIX}{sid}")
    return json.loads(raw)


def koa_session(b, koa, jar=None):
    """The Koa app's view of the session: {"user": passport's user or None, "session": data}."""
    status, body, sc = b.request(koa, "GET", "/api/session", jar)
    check(status == 200, f"koa /api/session: {status} {body!r}")
    return json.loads(body), sc


def csrf_token(body):
    """The CSRF token of a Koa demo page (koa-csrf: every POST needs it)."""
    m = re.search(r'<meta name="csrf-token" content="([^"]+)">', body)
    check(m is not None, f"a CSRF token in the page: {body[:300]!r}")
    return m.group(1)


def koa_post(b, port, path, form):
    """A POST of the Koa demo's forms: `form` url-encoded, with the jar's cookies."""
    return b.request(port, "POST", path, form=form)


def login_on_koa_use_on_c(b, koa, c, redis_port):
    # Koa: two visits, then a login through the form (passport regenerates the session: a new
    # id; the app carries the count over).
    b.request(koa, "GET", "/")
    status, _, sc = b.request(koa, "GET", "/")
    check(status == 200, f"koa visit: {status}")
    first_sid = b.jar["koa.sid"]
    status, body, _ = b.request(koa, "GET", "/login")
    check(status == 200 and 'action="/login"' in body, f"koa login form: {status}")
    status, body, _ = koa_post(b, koa, "/login", {"username": KOA_USER, "password": "wrong", "_csrf": csrf_token(body)})
    check(status == 401 and b.jar["koa.sid"] == first_sid, f"koa login with a wrong password: {status}")
    status, _, sc = koa_post(b, koa, "/login", {"username": KOA_USER, "password": KOA_PASSWORD, "_csrf": csrf_token(body)})
    check(status == 302 and any(s.startswith("koa.sid=") for s in sc), f"koa login: {status} {sc}")
    sid = b.jar["koa.sid"]
    check(sid != first_sid and re.fullmatch(r"[A-Za-z0-9_-]{32}", sid), "login on Koa gives a new id")
    check(redis_cli(redis_port, "EXISTS", PREFIX + first_sid) == "0", "the pre-login record is gone")
    rec = record(redis_port, sid)
    check(rec["user"] == "alice" and rec["views"] == 2 and rec["passport"] == {"user": "alice"}, f"Koa's record: {rec}")
    check(rec["cookie"]["maxAge"] == KOA_MAX_AGE and rec["cookie"]["sameSite"] == "lax", f"Koa's cookie field: {rec}")

    # C: sees the Koa session as it is, without writing anything.
    status, body, sc = b.request(c, "GET", "/whoami")
    check(status == 200 and fields(body) == {"views": "2", "user": "alice"}, f"{NAME} sees Koa's session: {status} {body!r}")
    check(sc == [], f"reading sends no cookie: {sc}")

    # C: continues the count on the same id.
    status, body, sc = b.request(c, "GET", "/")
    check(status == 200 and fields(body) == {"views": "3", "user": "alice"}, f"{NAME} counts on: {body!r}")
    check(b.jar["koa.sid"] == sid, f"the {NAME} server keeps the id")
    check(any(s.startswith(f"koa.sid={sid};") for s in sc), f"the {NAME} server re-sends the same cookie: {sc}")
    cache = (b.headers.get("Cache-Control"), b.headers.get("Vary"))
    check(cache == ('no-cache="Set-Cookie"', "Cookie"), f"{NAME} sends Koa's cache headers with its Set-Cookie: {cache}")
    rec = record(redis_port, sid)
    check(rec["views"] == 3 and rec["user"] == "alice", f"{NAME}'s write: {rec}")
    # The C server kept Koa's per-session cookie options, and the TTL follows them (the C
    # server's own default would be one day).
    check(rec["cookie"]["maxAge"] == KOA_MAX_AGE and rec["cookie"]["sameSite"] == "lax", f"cookie field kept: {rec}")
    pttl = int(redis_cli(redis_port, "PTTL", PREFIX + sid))
    check(0 < pttl <= KOA_MAX_AGE, f"TTL from the record's cookie.maxAge: {pttl}")
    c_cookie = next(s for s in sc if s.startswith("koa.sid="))
    check("samesite=lax" in c_cookie.lower(), f"the {NAME} server sends the session's own cookie attributes: {c_cookie}")

    # Koa: sees the C server's change (still logged in through passport) and counts on from it.
    s, _ = koa_session(b, koa)
    check(b.jar["koa.sid"] == sid and s["user"] == "alice" and s["session"]["views"] == 3, f"Koa sees {NAME}'s change: {s}")
    status, body, _ = b.request(koa, "GET", "/")
    check(status == 200 and "You have seen this page 4 time(s)" in body and "<b>alice</b>" in body, f"Koa counts on: {body!r}")
    status, body, _ = b.request(c, "GET", "/whoami")
    check(fields(body) == {"views": "4", "user": "alice"}, f"and {NAME} sees that: {body!r}")

    # Logout on C: the record is gone and the cookies cleared; Koa no longer knows the user.
    before = dict(b.jar)
    status, body, sc = b.request(c, "POST", "/logout")
    check(status == 200 and body == "logged out\n", f"{NAME} logout: {status} {body!r}")
    check(sorted(x.split("=", 1)[0] for x in sc) == ["koa.sid", "koa.sid.sig"], f"both cookies cleared: {sc}")
    check(b.jar == {}, f"the browser holds no session: {b.jar}")
    check(redis_cli(redis_port, "EXISTS", PREFIX + sid) == "0", "the record is deleted")
    s, sc = koa_session(b, koa, jar=before)
    check(s["user"] is None and "user" not in s["session"] and "views" not in s["session"], f"Koa after {NAME}'s logout: {s}")
    check(any(x.startswith("koa.sid=") and not x.startswith(f"koa.sid={sid};") for x in sc), f"Koa starts a new session: {sc}")
    print(f"  Koa login -> {NAME} reads and counts -> Koa counts on -> {NAME} logout: ok (sid {sid[:6]}...)")


def login_on_c_use_on_koa(b, koa, c, redis_port):
    status, body, _ = b.request(c, "POST", "/login?user=bob")
    check(status == 200 and body == "logged in as bob\n", f"{NAME} login: {status} {body!r}")
    sid = b.jar["koa.sid"]
    status, body, _ = b.request(c, "GET", "/")
    check(fields(body) == {"views": "1", "user": "bob"}, f"{NAME} visit: {body!r}")
    rec = record(redis_port, sid)
    check(rec["views"] == 1 and rec["user"] == "bob", f"{NAME}'s record: {rec}")
    check(rec["cookie"] == {"httpOnly": True, "maxAge": KOA_MAX_AGE, "overwrite": True, "path": "/", "sameSite": "lax",
                            "secure": False, "signed": True}, f"{NAME} writes the cookie field Koa writes: {rec}")

    s, _ = koa_session(b, koa)
    check(b.jar["koa.sid"] == sid and s["session"]["user"] == "bob" and s["session"]["views"] == 1, f"Koa sees {NAME}'s login: {s}")
    # Koa's own login is passport's (session.passport.user, after a password): the C server's
    # demo login is session data to it.
    check(s["user"] is None, f"Koa logs in through passport only: {s}")
    status, page, _ = b.request(koa, "GET", "/")
    check("You have seen this page 2 time(s)" in page, f"Koa counts on: {page!r}")
    check(b.jar["koa.sid"] == sid, "Koa keeps the id")
    status, body, _ = b.request(c, "GET", "/whoami")
    check(fields(body) == {"views": "2", "user": "bob"}, f"{NAME} sees Koa's change: {body!r}")

    # Logout on Koa (a POST with the page's CSRF token) ends the session for C too.
    before = dict(b.jar)
    status, _, sc = koa_post(b, koa, "/logout", {"_csrf": csrf_token(page)})
    check(status == 302 and b.jar.get("koa.sid") != sid, f"Koa logout: {status} {sc} {b.jar}")
    check(redis_cli(redis_port, "EXISTS", PREFIX + sid) == "0", "the record is deleted")
    status, body, sc = b.request(c, "GET", "/whoami", jar=before)
    check(fields(body) == {"views": "0", "user": "anonymous"}, f"{NAME} after Koa's logout: {body!r}")
    check(len(sc) == 2 and all("=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT" in x for x in sc), f"stale cookies cleared by C: {sc}")
    print(f"  {NAME} login -> Koa reads and counts -> {NAME} reads -> Koa logout: ok (sid {sid[:6]}...)")


def other_key_is_refused(koa, c_port_other):
    """A native server with another signing key does not accept Koa's cookie (and never adopts its id)."""
    b = Browser()
    b.request(koa, "GET", "/")
    sid = b.jar["koa.sid"]
    status, body, _ = b.request(c_port_other, "GET", "/")
    check(status == 200 and fields(body) == {"views": "1", "user": "anonymous"} and b.jar["koa.sid"] != sid,
          f"a server with other keys starts fresh: {body!r}")
    print(f"  a {NAME} server with another key refuses Koa's cookie: ok")


def main():
    out = subprocess.run(["bash", HARNESS, "start", "--owner-pid", str(os.getpid())], check=True, capture_output=True, text=True).stdout
    conf = dict(line.split("=", 1) for line in out.split())
    harness_dir, redis_url, redis_port = conf["REDIS_HARNESS_DIR"], conf["REDIS_URL"], int(conf["REDIS_PORTS"])
    procs = []
    try:
        env = dict(os.environ)
        # The C server gets the Koa app's settings: keys, cookie name (both default koa.sid),
        # cookie options (maxAge 30 min, sameSite lax), Redis and prefix.
        c_proc, c_port = start([C_SERVER, "--port", "0", "--keys", KEY, "--max-age-ms", str(KOA_MAX_AGE), "--same-site", "lax",
                                "--redis", redis_url, "--redis-prefix", PREFIX], env,
                               r"listening on http://127\.0\.0\.1:(\d+)$", f"{NAME} server")
        procs.append((f"{NAME} server", c_proc))
        c2_proc, c2_port = start([C_SERVER, "--port", "0", "--keys", "some-other-key", "--redis", redis_url], env,
                                 r"listening on http://127\.0\.0\.1:(\d+)$", f"{NAME} server (other key)")
        procs.append((f"{NAME} server (other key)", c2_proc))
        koa_env = dict(env, PORT="0", SESSION_KEY=KEY, REDIS_URL=redis_url, REDIS_PREFIX=PREFIX)
        koa_proc, koa_port = start(["node", KOA_APP], koa_env, r"listening on http://127\.0\.0\.1:(\d+)/", "Koa app")
        procs.append(("Koa app", koa_proc))
        print(f"Redis {redis_url}, Koa app on :{koa_port}, {NAME} server on :{c_port}")

        login_on_koa_use_on_c(Browser(), koa_port, c_port, redis_port)
        login_on_c_use_on_koa(Browser(), koa_port, c_port, redis_port)
        other_key_is_refused(koa_port, c2_port)
    finally:
        failures = []
        for name, proc in reversed(procs):
            try:
                code, err = stop(proc, name)
                if code != 0:
                    failures.append(f"{name} exit code {code}: {err}")
            except AssertionError as e:
                failures.append(str(e))
        subprocess.run(["bash", HARNESS, "stop", harness_dir], check=False)
    check(not failures, "; ".join(failures))
    print(f"test_koa_c: ok (sessions shared between Koa and {NAME} through one Redis; servers stopped cleanly)")


if __name__ == "__main__":
    main()
