#!/usr/bin/env python3
"""Drives an example server (examples/c-server, examples/cpp-server: same routes, same
answers) over real HTTP on a free loopback port: visit counting, login rotating the session
id, logout clearing both cookies, tampered and stale cookies starting fresh sessions, and
concurrent visitors; a response with Set-Cookie carries the cache headers of ks_cache_headers.
Usage: http_test.py SERVER [SERVER-ARGS...]   (e.g. --redis URL to run it all on Redis;
--cookie-name NAME, for a server that has it, to expect that cookie name)"""

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from browser import Browser as SharedBrowser, check, fields  # noqa: E402

SERVER = sys.argv[1]
SERVER_ARGS = sys.argv[2:]
KEYS = "test-key-new,test-key-old"
COOKIE = SERVER_ARGS[SERVER_ARGS.index("--cookie-name") + 1] if "--cookie-name" in SERVER_ARGS else "koa.sid"
SIG = COOKIE + ".sig"


class Browser(SharedBrowser):
    """The shared browser, bound to the one server under test."""

    def __init__(self, port):
        super().__init__()
        self.port = port

    def request(self, method, path, cookies=None):
        return super().request(self.port, method, path, cookies)


def start_server():
    proc = subprocess.Popen([SERVER, "--port", "0", "--keys", KEYS, *SERVER_ARGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    m = re.match(r"listening on http://127\.0\.0\.1:(\d+)$", line.strip())
    if not m:
        proc.kill()
        raise AssertionError(f"server did not start: {line!r} {proc.stderr.read()!r}")
    return proc, int(m.group(1))


def test_visits(port):
    b = Browser(port)
    status, body, sc = b.request("GET", "/")
    check(status == 200 and fields(body) == {"views": "1", "user": "anonymous"}, f"first visit: {status} {body!r}")
    check(len(sc) == 2, f"two cookies on the first visit: {sc}")
    sid_cookie = next(c for c in sc if c.startswith(COOKIE + "="))
    check(re.match(re.escape(COOKIE) + r"=[A-Za-z0-9_-]{32}; path=/; expires=\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT; httponly$", sid_cookie), sid_cookie)
    check(any(c.startswith(SIG + "=") for c in sc), "signature cookie")
    cache = (b.headers.get_all("Cache-Control"), b.headers.get_all("Vary"))
    check(cache == (['no-cache="Set-Cookie"'], ["Cookie"]), f"cache headers beside Set-Cookie (ks_cache_headers): {cache}")
    sid = b.jar[COOKIE]
    for n in (2, 3):
        status, body, _ = b.request("GET", "/")
        check(fields(body)["views"] == str(n), f"visit {n}: {body!r}")
    check(b.jar[COOKIE] == sid, "the id stays the same between visits")
    status, body, sc = b.request("GET", "/whoami")
    check(fields(body) == {"views": "3", "user": "anonymous"} and sc == [], f"whoami changes nothing: {body!r} {sc}")
    check("Cache-Control" not in b.headers and "Vary" not in b.headers, f"no cache headers without Set-Cookie: {b.headers}")
    # Another visitor has its own count.
    other = Browser(port)
    check(fields(other.request("GET", "/")[1])["views"] == "1", "a second visitor starts at 1")
    return b


def test_login_rotates_the_id(port, b):
    before = dict(b.jar)
    status, body, sc = b.request("POST", "/login?user=alice")
    check(status == 200 and body == "logged in as alice\n", f"login: {status} {body!r}")
    check(b.jar[COOKIE] != before[COOKIE], "login gives a new session id")
    check(b.jar[SIG] != before[SIG], "and a new signature")
    check(fields(b.request("GET", "/")[1]) == {"views": "1", "user": "alice"}, "fresh data after login, user kept")
    # The pre-login id is worthless now: its record is gone, and its cookies are cleared.
    status, body, sc = b.request("GET", "/whoami", cookies=before)
    check(fields(body) == {"views": "0", "user": "anonymous"}, f"old id after login: {body!r}")
    check(len(sc) == 2 and all("=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT" in c for c in sc), f"stale cookies cleared: {sc}")
    check(b.request("POST", "/login?user=bad%20name")[0] == 400, "bad user name refused")
    check(b.request("GET", "/login")[0] == 405, "GET /login refused")


def test_tampered_cookie(port, b):
    sid, sig = b.jar[COOKIE], b.jar[SIG]
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    for jar in ({COOKIE: sid, SIG: flipped}, {COOKIE: sid}, {COOKIE: sid[:-1] + ("x" if sid[-1] != "x" else "y"), SIG: sig}):
        t = Browser(port)
        t.jar = dict(jar)
        status, body, sc = t.request("GET", "/")
        check(status == 200 and fields(body) == {"views": "1", "user": "anonymous"}, f"tampered {jar}: {body!r}")
        check(t.jar[COOKIE] != sid, "a tampered cookie never adopts the id")
    check(fields(b.request("GET", "/whoami")[1])["user"] == "alice", "the genuine session is untouched")


def test_logout_clears_both_cookies(port, b):
    before = dict(b.jar)
    status, body, sc = b.request("POST", "/logout")
    check(status == 200 and body == "logged out\n", f"logout: {body!r}")
    names = sorted(c.split("=", 1)[0] for c in sc)
    check(names == [COOKIE, SIG], f"both cookies cleared: {sc}")
    check(all("=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT" in c for c in sc), f"clearing form: {sc}")
    check(b.jar == {}, f"the browser holds no session cookie: {b.jar}")
    status, body, _ = b.request("GET", "/whoami", cookies=before)
    check(fields(body) == {"views": "0", "user": "anonymous"}, f"the session is gone: {body!r}")


def test_concurrent_visitors(port):
    errors = []

    def visitor(n):
        try:
            b = Browser(port)
            for i in range(1, n + 1):
                got = fields(b.request("GET", "/")[1])["views"]
                check(got == str(i), f"visit {i} saw {got}")
        except Exception as e:  # collected and reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=visitor, args=(40,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"concurrent visitors: {errors[:3]}")


def test_other_paths(port):
    status, body, sc = Browser(port).request("GET", "/nope")
    check(status == 404 and sc == [], f"unknown path: {status} {sc}")


def main():
    proc, port = start_server()
    try:
        b = test_visits(port)
        test_login_rotates_the_id(port, b)
        test_tampered_cookie(port, b)
        test_logout_clears_both_cookies(port, b)
        test_concurrent_visitors(port)
        test_other_paths(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("server did not stop on SIGTERM")
        err = proc.stderr.read()
    check(code == 0, f"server exit code {code}: {err}")
    store = "Redis" if "--redis" in SERVER_ARGS else "memory store"
    print(f"http_test: ok ({os.path.basename(SERVER)} on 127.0.0.1:{port}, {store}, cookie {COOKIE}, stopped cleanly)")


if __name__ == "__main__":
    main()
