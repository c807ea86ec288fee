#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into fuzz/corpus/<target>/.

Run from the repository root: python3 fuzz/seeds/make_seeds.py. Seeds are real shapes
(browser Cookie headers, koa-session records, request sequences); the fuzzer's own finds
are merged in after each run (make fuzz). Input formats are described in fuzz/src/<target>.rs.
"""
import base64, hashlib, hmac, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
SID = "dTq3__nkl6FViZlLPntHoSdqSFsi8fzd"

def sign(key, data):
    return base64.urlsafe_b64encode(hmac.new(key, data.encode(), hashlib.sha1).digest()).decode().rstrip("=")

def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

good = sign(b"current key", "koa.sid=" + SID)
old = sign(b"older key", "koa.sid=" + SID)
headers = {
    "signed": f"koa.sid={SID}; koa.sid.sig={good}",
    "older-key": f"koa.sid={SID}; koa.sid.sig={old}",
    "browser": f"_ga=GA1.2.1234567890.1700000000; koa.sid={SID}; koa.sid.sig={good}; theme=dark",
    "sig-first": f"koa.sid.sig={good};koa.sid={SID}",
    "unsigned": f"koa.sid={SID}",
    "bad-sig": f"koa.sid={SID}; koa.sid.sig=AAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "quoted": f'koa.sid="{SID}"; koa.sid.sig="{good}"',
    "space-in-value": f"koa.sid= {SID}; koa.sid.sig={good}",
    "tab-before-name": f"\tkoa.sid={SID}",
    "space-before-eq": f"koa.sid ={SID}",
    "duplicate": f"koa.sid=forged; koa.sid={SID}; koa.sid.sig={good}",
    "empty": "koa.sid=; koa.sid.sig=",
    "garbage": ";;; =x; novalue; koa.sid",
    "latin1": b"x=\xff\xfe; koa.sid=\xe9t\xe9",
    "semicolon-sid": "koa.sid=a;b",
    "long": "koa.sid=" + "a" * 300,
}
for name, h in headers.items():
    write("cookie_header", name, h)

def sc(flags, now, json):
    return bytes([flags]) + struct.pack("<Q", now) + json.encode()
NOW = 1_795_198_123_456
records = {
    "koa-session": '{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true},"views":3}',
    "remember-me": '{"cookie":{"maxAge":2592000000},"user":"ann"}',
    "expires-iso": '{"cookie":{"expires":"2026-11-20T18:08:43.456Z","maxAge":null}}',
    "browser-session": '{"cookie":{"maxAge":"session"}}',
    "expired": '{"cookie":{"maxAge":-1}}',
    "stricter": '{"cookie":{"secure":true,"httpOnly":true,"sameSite":"none","path":"/evil","domain":"evil.example"}}',
    "huge-maxage": '{"cookie":{"maxAge":1e300,"expires":-1e300}}',
    "cookie-not-object": '{"cookie":5}',
    "inject": '{"cookie":{"maxAge":"1; domain=evil","expires":"x\\r\\nSet-Cookie: a=b"}}',
    "duplicate-cookie": '{"cookie":{"maxAge":1},"cookie":{"maxAge":2000}}',
    # Both flags off in the record, both on in the configuration (flags 0x8f): httpOnly goes
    # off (the session's choice), secure stays on (a record never turns it off).
    "weaker": '{"cookie":{"secure":false,"httpOnly":false}}',
}
for i, (name, j) in enumerate(records.items()):
    write("set_cookie", name, sc([0x01, 0x00, 0x8f, 0xf7][i % 4], NOW, j))

recs = {
    "koa-session": records["koa-session"],
    "nested": '{"user":{"id":7,"roles":["a","b"],"prefs":{"theme":"dark"}},"cart":[{"sku":"x","n":2}]}',
    "js-lone-surrogate": '{"v":"a\\ud800b"}',
    "big-number": '{"n":1e400,"m":-0,"k":1E2}',
    "escapes": '{"k\\u00e9y":"\\"\\\\\\/\\b\\f\\n\\r\\t","emoji":"\\ud83e\\udd80"}',
    "duplicate-keys": '{"a":1,"b":2,"a":{"x":[3]}}',
    "cookie-null": '{"cookie":null,"a":1}',
    "cookie-array": '{"cookie":[]}',
    "deep-64": '{"d":' + "[" * 63 + "]" * 63 + "}",
    "deep-65": '{"d":' + "[" * 64 + "]" * 64 + "}",
    "deep-200": '{"d":' + "[" * 199 + "]" * 199 + "}",
    "not-object": "[1,2]",
    "trailing": "{} {}",
    "set-value": '{"a":1}\0{"x":[1, 2, {"y" : null}]}',
    "set-deep": '{"a":1}\0' + "[" * 63 + "]" * 63,
    "set-cookie-field": '{"a":1}\0{"maxAge":5}',
}
for name, j in recs.items():
    write("session_record", name, j)

# request_machine: flags (1 rolling, 2 allowEmpty, 4 userField, 8 its path is passport.user,
# 16 compare-and-set, 32 touch), then steps: low nibble the step, bits 4-5 the request slot.
# 0 load (browser, header: 0 jar, 1 forged|, 2 tampered, 3 raw|, 4 none, 5 another browser's
# jar + browser), 1 commit, 2 abandon, 3 set record idx, 4 destroy, 5 regenerate, 6 save
# override, 7 set {"n":x}, 8 login with a new record (user idx, n), 9 user changed in place
# (user idx), 10 change n in place, 11 logout in place, 12 destroy_user_sessions (user,
# except: 0-3 + slot, 4-5 + browser, else none), 13 the same armed for the next commit (store
# calls to let through first, user, except), 14 user_sessions (user), 15 reload (browser).
# Users: 0 "ann", 1 "bob", 2 7, 3 "7", 4 "\u00e9", 5 512 bytes, 6 null, 7 true (passport: a
# string where the object goes), 8 object, 9 array, 10 "", 11 513 bytes.
rm = {
    "login-then-visit": bytes([0, 0x00, 0, 4, 0x07, 1, 0x01, 0x00, 0, 0, 0x07, 2, 0x01]),
    "destroy": bytes([0, 0x00, 0, 4, 0x07, 1, 0x01, 0x00, 0, 0, 0x04, 0x01, 0x0F, 0]),
    "regenerate": bytes([0, 0x00, 0, 4, 0x03, 1, 0x01, 0x00, 0, 0, 0x05, 0x07, 9, 0x01, 0x0F, 0]),
    "forged": b"\x00\x00\x00\x01AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|\x07\x01\x01\x00\x00\x03koa.sid=AAAA|\x01",
    "tampered": bytes([0, 0x00, 0, 4, 0x07, 1, 0x01, 0x00, 0, 2, 0x07, 3, 0x01]),
    "save-false-destroy": bytes([1, 0x00, 0, 4, 0x07, 1, 0x01, 0x00, 0, 0, 0x04, 0x06, 2, 0x01]),
    "rolling-expired": bytes([3, 0x00, 0, 4, 0x03, 3, 0x01, 0x00, 0, 4, 0x03, 4, 0x01]),
    "concurrent-merge": bytes([16, 0x00, 0, 4, 0x07, 1, 0x01, 0x10, 0, 0, 0x20, 0, 0, 0x1A, 5, 0x2A, 6, 0x11, 0x21, 0x0F, 0]),
    # Log out everywhere (issue 19): ann on browsers 0 and 1, bob on 2; ann's sessions
    # ended but browser 1's; every browser reloads.
    "users-destroy-except": bytes([4, 0x00, 0, 4, 0x08, 0, 1, 0x01, 0x10, 1, 4, 0x18, 0, 2, 0x11, 0x20, 2, 4, 0x28, 1, 3, 0x21,
                                   0x0C, 0, 4, 1, 0x0E, 0, 0x0E, 1, 0x0F, 0, 0x0F, 1, 0x0F, 2]),
    # A request of ann's session in flight (loaded, changed) when her sessions are ended: its
    # commit must not bring the session back.
    "users-in-flight": bytes([4, 0x00, 0, 4, 0x08, 0, 1, 0x01, 0x10, 0, 0, 0x1A, 5, 0x0C, 0, 7, 0x11, 0x0F, 0, 0x0E, 0]),
    # The same, unchanged and rolling with touch: the touch finds no record.
    "users-in-flight-touch": bytes([37, 0x00, 0, 4, 0x08, 0, 1, 0x01, 0x10, 0, 0, 0x0C, 0, 7, 0x11, 0x0F, 0]),
    # A login whose index entry is written when destroy_user_sessions runs, before its record
    # is: the entry must outlive that call, or the session escapes the next one (fixed in
    # 71fa51e: against the engine before it, this input fails).
    "users-login-during-destroy": bytes([4, 0x00, 0, 4, 0x08, 0, 1, 0x0D, 1, 0, 7, 0x01, 0x0E, 0, 0x0C, 0, 7, 0x0F, 0]),
    # destroy_user_sessions armed before the merge of an in-flight change.
    "users-destroy-before-merge": bytes([4, 0x00, 0, 4, 0x08, 0, 1, 0x01, 0x00, 0, 0, 0x0A, 9, 0x0D, 0, 0, 7, 0x01, 0x0F, 0]),
    # passport.user: an anonymous session logs in in place, then switches to bob in place;
    # ending ann's sessions ends it too (it stays in her index).
    "users-passport-switch": bytes([12, 0x00, 0, 4, 0x07, 1, 0x01, 0x00, 0, 0, 0x09, 0, 0x01, 0x00, 0, 0, 0x09, 1, 0x01,
                                    0x0E, 0, 0x0E, 1, 0x0C, 0, 7, 0x0F, 0]),
    # 7 and "7" are one user.
    "users-number": bytes([4, 0x00, 0, 4, 0x08, 2, 1, 0x01, 0x10, 1, 4, 0x18, 3, 1, 0x11, 0x0E, 2, 0x0C, 2, 7, 0x0F, 0, 0x0F, 1]),
    # Ids that are not user ids: true, an object, an array, "", 513 bytes; and a logout.
    "users-invalid": bytes([4, 0x00, 0, 4, 0x08, 7, 1, 0x01, 0x00, 0, 4, 0x08, 8, 1, 0x01, 0x00, 0, 4, 0x08, 9, 1, 0x01,
                            0x00, 0, 4, 0x08, 10, 1, 0x01, 0x00, 0, 4, 0x08, 11, 1, 0x01, 0x00, 0, 4, 0x08, 5, 1, 0x01,
                            0x00, 0, 0, 0x0B, 0, 0x01, 0x0E, 5]),
    "users-passport-not-object": bytes([12, 0x00, 0, 4, 0x08, 7, 1, 0x01, 0x00, 0, 4, 0x07, 1, 0x01, 0x00, 0, 0, 0x09, 7, 0x01]),
}
for name, b in rm.items():
    write("request_machine", name, b)

# request_machine with lifetimes (issue 20): flags | 64 (128: the store keeps records past
# their TTL), then idleTimeout, absoluteTimeout / 4, renewInterval, renewGrace (ms; 0: off, or
# the default grace); a step's bits 6-7 first advance the clock by the next byte times 1, 16
# or 256 ms; a load's header 6 is the id the browser held before its current one. The clock
# starts at 0 below (times are relative).
(LOAD, COMMIT, ABANDON, SET_RECORD, DESTROY, REGENERATE, SAVE, SET_N, LOGIN, USER_IN_PLACE, CHANGE_N, LOGOUT_IN_PLACE,
 DESTROY_USER, ARM_DESTROY, USER_SESSIONS, RELOAD) = range(16)

def st(step, slot=0, adv=0, args=b""):
    """One step in `slot`, after advancing the clock by `adv` ms."""
    if adv == 0:
        return bytes([step | slot << 4]) + args
    for unit, code in ((1, 1), (16, 2), (256, 3)):
        if adv % unit == 0 and adv // unit <= 255:
            return bytes([step | slot << 4 | code << 6, adv // unit]) + args
    raise ValueError(adv)

def life(flags, idle, absolute_4, renew, grace, *steps):
    return bytes([flags | 64, idle, absolute_4, renew, grace]) + b"".join(steps)

NEW_SESSION = st(LOAD, args=b"\x00\x04") + st(SET_N, args=b"\x01") + st(COMMIT)  # browser 0, at 0
life_seeds = {
    # idleTimeout 100: a read at 60 refreshes (past half the window), so 150 still loads and
    # 170 does not; the load that finds it expired destroys it at commit.
    "life-idle": life(0, 100, 0, 0, 0, NEW_SESSION, st(RELOAD, adv=60, args=b"\x00"), st(LOAD, args=b"\x00\x00"), st(COMMIT),
                      st(RELOAD, adv=90, args=b"\x00"), st(RELOAD, adv=20, args=b"\x00"), st(LOAD, args=b"\x00\x00"), st(COMMIT),
                      st(RELOAD, args=b"\x00")),
    # absoluteTimeout 100: activity at 99 does not help at 100.
    "life-absolute": life(0, 0, 25, 0, 0, NEW_SESSION, st(LOAD, adv=99, args=b"\x00\x00"), st(CHANGE_N, args=b"\x05"), st(COMMIT),
                          st(RELOAD, adv=1, args=b"\x00")),
    # Both, on a store that keeps records past their TTL: the engine's own deadlines.
    "life-idle-absolute-lazy-store": life(128, 40, 30, 0, 0, NEW_SESSION, st(RELOAD, adv=39, args=b"\x00"), st(LOAD, args=b"\x00\x00"),
                                          st(COMMIT), st(LOAD, adv=39, args=b"\x00\x00"), st(CHANGE_N, args=b"\x02"), st(COMMIT),
                                          st(RELOAD, adv=39, args=b"\x00"), st(RELOAD, adv=3, args=b"\x00")),
    # renewInterval 10, renewGrace 50: two requests renew at once (slot 0 changes n, slot 1 the
    # user, both kept); one session: the replaced id loads it in its grace (and its change
    # merges, the cookie names the current id), and nothing after.
    "life-renew-concurrent": life(0, 0, 0, 10, 50, NEW_SESSION, st(LOAD, 0, adv=10, args=b"\x00\x00"), st(LOAD, 1, args=b"\x00\x00"),
                                  st(CHANGE_N, 0, args=b"\x05"), st(COMMIT, 0), st(USER_IN_PLACE, 1, args=b"\x00"), st(COMMIT, 1, adv=1),
                                  st(RELOAD, args=b"\x00"), st(LOAD, 2, args=b"\x00\x06"), st(CHANGE_N, 2, args=b"\x07"), st(COMMIT, 2),
                                  st(RELOAD, adv=60, args=b"\x00"), st(LOAD, 0, args=b"\x00\x06"), st(COMMIT, 0)),
    # The same at one instant (the later commit's id is current).
    "life-renew-same-instant": life(0, 0, 0, 10, 50, NEW_SESSION, st(LOAD, 0, adv=10, args=b"\x00\x00"), st(LOAD, 1, args=b"\x02\x05\x00"),
                                    st(COMMIT, 0), st(COMMIT, 1), st(RELOAD, args=b"\x00"), st(RELOAD, args=b"\x02"),
                                    st(RELOAD, adv=50, args=b"\x00"), st(RELOAD, args=b"\x02")),
    # Logout through the replaced id during its grace ends the current id too.
    "life-logout-in-grace": life(0, 0, 0, 10, 200, NEW_SESSION, st(LOAD, adv=10, args=b"\x00\x00"), st(COMMIT),
                                 st(LOAD, 1, args=b"\x00\x06"), st(DESTROY, 1), st(COMMIT, 1), st(LOAD, args=b"\x00\x06"), st(COMMIT),
                                 st(RELOAD, args=b"\x00")),
    # Renewal with idle and absolute timeouts and a cookie of its own lifetime.
    "life-renew-idle-cookie": life(0, 60, 50, 20, 30, st(LOAD, args=b"\x00\x04"), st(SET_RECORD, args=b"\x04"), st(COMMIT),
                                   st(LOAD, adv=25, args=b"\x00\x00"), st(COMMIT), st(LOAD, adv=25, args=b"\x00\x06"), st(CHANGE_N, args=b"\x03"),
                                   st(COMMIT), st(RELOAD, adv=50, args=b"\x00"), st(RELOAD, adv=100, args=b"\x00")),
    # userField: ann logs in, her session is renewed, her sessions are ended: neither id loads.
    "life-users-destroy-in-grace": life(4, 0, 0, 10, 200, st(LOAD, args=b"\x00\x04"), st(LOGIN, args=b"\x00\x01"), st(COMMIT),
                                        st(LOAD, adv=10, args=b"\x00\x00"), st(COMMIT), st(DESTROY_USER, args=b"\x00\x07"),
                                        st(LOAD, args=b"\x00\x06"), st(COMMIT), st(RELOAD, args=b"\x01")),
    # Sessions that try to forge the engine's times or an alias.
    "life-forged-times": life(0, 100, 0, 10, 0, st(LOAD, args=b"\x00\x04"), st(SET_RECORD, args=b"\x06"), st(COMMIT),
                              st(LOAD, adv=10, args=b"\x00\x00"), st(SET_RECORD, args=b"\x07"), st(COMMIT), st(RELOAD, args=b"\x00"),
                              st(LOAD, args=b"\x00\x00"), st(SET_RECORD, args=b"\x08"), st(COMMIT), st(RELOAD, adv=60, args=b"\x00")),
}
for name, b in life_seeds.items():
    write("request_machine", name, b)

# Engine findings of request_machine not fixed yet (issue 20): each input breaks an invariant
# on the engine it was found on. They live in fuzz/findings/<target>/ (not replayed by make
# test); tests/findings.rs replays them with `cargo test --test findings -- --ignored`. Once
# the engine is fixed, move the input to regressions/ and drop it here.
FINDINGS = os.path.join(ROOT, "..", "findings")
def finding(target, name, data):
    d = os.path.join(FINDINGS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

findings = {
    # (Fixed, 2026-12-06, and moved to regressions/request_machine/engine-bug-*: stale-ttl-touch,
    # stale-ttl-destroy, graced-request-no-refresh, alias-ttl, blind-save-loses-change,
    # blind-save-after-logout, alias-shaped-data-options-off; 2026-12-07: graced-cookie-after-logout,
    # a request through a replaced id in flight during a logout that re-sent the current id's
    # cookie with no store call.)
}
for name, b in findings.items():
    finding("request_machine", name, b)

# c_api: flags (1 key, 2 rolling, 4 cookie name|, 8 and 16 userField choices), store size,
# then ops (op % 16; op >> 5 picks the slot; 15 + a byte: the user calls, see src/c_api.rs).
c = {
    "load-set-commit": bytes([1, 0, 0, 2]) + b'{"views":1}|' + bytes([0, 10, 0, 0, 0, 0, 11, 1]),
    "fields": bytes([1, 0, 0, 2, 0, 4, 0]) + b"3|" + bytes([5, 0, 4, 2]) + b'"ann"|' + bytes([6, 0, 10, 1]),
    "limits": bytes([0, 0, 0, 2, 0, 3, 0, 3, 1, 3, 2, 3, 3, 10, 0]),
    "destroy": bytes([1, 0, 0, 2, 0, 7, 4, 0]) + b"1|" + bytes([10, 0, 1]),
    "bad-args": bytes([0, 1, 0, 2, 12, 13, 5, 200, 15, 0, 9, 7, 0, 1, 2]),
    "engine-freed": bytes([1, 0, 0, 2, 14, 2]) + b'{"a":[]}|' + bytes([10, 0, 0, 0]),
    "hostile-name": bytes([5]) + b"bad name;x|" + bytes([0, 0, 2, 10, 0]),
    "two-sessions": bytes([1, 2, 0, 2, 32, 2, 2]) + b'{"a":1}|' + bytes([34]) + b'{"b":2}|' + bytes([10, 0, 42, 1, 0, 0]),
    # userField "user": ann logs in, a second request loads her session; her sessions are
    # ended (it no longer loads), listed, the list read and freed; the second request then
    # commits a change, which must not bring the session back.
    "users-login-destroy": bytes([9, 0, 0, 0, 2, 1, 15, 5, 0, 10, 0, 32, 0, 1, 15, 1, 0, 5, 1, 15, 2, 0, 0, 0, 1, 15, 6, 0, 15, 3, 0,
                                  36, 0]) + b"7|" + bytes([42, 0]),
    # A user id that is not one (true): INVALID_USER_ID, then a valid one commits.
    "users-invalid": bytes([8, 0, 0, 0, 2, 1, 15, 5, 6, 10, 0, 15, 5, 0, 10, 0]),
    # passport.user; the second session puts a string where the passport object goes.
    "users-passport": bytes([8, 1, 0, 0, 2, 1, 15, 5, 0, 0, 10, 0, 32, 2, 1, 47, 5, 2, 1, 42, 0, 15, 2, 1, 0, 0, 1, 15, 1, 0, 5, 1]),
    # Wrong arguments: a refused field, empty / invalid UTF-8 / NULL user ids, NULL outs,
    # a freed store handle, the builder call on its own.
    "users-bad-args": bytes([24, 3, 0, 0, 15, 1, 6, 5, 1, 15, 1, 8, 3, 1, 15, 1, 9, 5, 1, 15, 1, 0, 5, 0, 15, 2, 2, 0, 0, 1,
                             15, 2, 6, 0, 0, 1, 15, 2, 0, 7, 0, 1, 15, 2, 0, 0, 0, 0, 15, 4, 15, 1, 0, 5, 1, 15, 2, 0, 0, 0, 1,
                             15, 7, 5, 15, 0]),
}
for name, b in c.items():
    write("c_api", name, b)

# node_args: token NUL original NUL then (argument | call byte, more bytes) ...
# The state code: a new session's step (0 load, 1 needs an id, 2 ready), or for a stored one
# (ready) what it is due for (0 nothing, 1 its activity time, 2 a renewal: issue 20); 4 if
# stored; the cookie times 8 (0 none, 1 current, 2 older key, 3 stale, 4 a replaced id in its
# grace). The token's second id is the replaced id, the alias followed or the renewal's id.
def code(step, stored, cookie):
    return chr(ord("@") + (step | (stored << 2) | (cookie << 3)))
na = {
    "load": f"L{code(0,0,1)}{SID}\0\0" + '{"n":1}|' + "\x00\x02",
    "load-missing": f"L{code(0,0,1)}{SID}\0\0|\x00\x00",
    "need-sid": f"N{code(1,0,3)}\0\0{SID}|\x01",
    "ready-stored": f"Q{code(0,1,1)}{SID}\0" + '{"n":1}' + "\0" + '{"n":2}|\x05\x01\x00\x00',
    "regenerate": f"R{code(0,1,2)}{SID}\0" + '{"n":1}' + "\0newid|\x02",
    "renewal-due": f"N{code(2,1,1)}{SID}\0" + '{"n":1}' + "\0" + SID[::-1] + "|\x01" + '{"n":1}|\x04\x01\x00\x00\x01\x00\x00',
    "graced-refresh": f"R{code(1,1,4)}{SID}\0" + '{"n":1}' + "\0" + '{"n":1}|\x04\x01\x00\x00\x01\x01\x00',
    "via-alias": f"L{code(0,0,1)}{SID} {SID[::-1]}\0\0" + '{"_ks":{"of":"' + SID + '"}}|\x00\x02',
    "complete": f"R{code(2,0,0)}{SID}\0\0" + '{"cookie":{"maxAge":5}}|\x03\x01\x00\x01\x00',
    "bad-token": "Z\x7fx\0\0",
    "stored-without-json": f"R{code(0,1,0)}{SID}\0\0",
}
for name, s in na.items():
    write("node_args", name, s)
