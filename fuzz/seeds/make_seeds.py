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

# request_machine: flags, then per request: header choice (0 jar, 1 forged|, 2 tampered,
# 3 raw|, 4 none), operations (0 commit, 1 abandon, 2 set record idx, 3 destroy,
# 4 regenerate, 5 save override, 6/7 set {"n":x}) ending in 0 or 1.
rm = {
    "login-then-visit": bytes([0, 4, 6, 1, 0, 0, 6, 2, 0, 0, 0]),
    "destroy": bytes([0, 4, 6, 1, 0, 0, 3, 0, 0, 0]),
    "regenerate": bytes([0, 4, 2, 1, 0, 0, 4, 6, 9, 0, 0, 0]),
    "forged": b"\x00\x01AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|\x06\x01\x00\x03koa.sid=AAAA|\x00",
    "tampered": bytes([0, 4, 6, 1, 0, 2, 6, 3, 0, 0, 0]),
    "save-false-destroy": bytes([1, 4, 6, 1, 0, 0, 3, 5, 2, 0, 0, 0]),
    "rolling-expired": bytes([3, 4, 2, 3, 0, 4, 2, 4, 0, 0, 0]),
}
for name, b in rm.items():
    write("request_machine", name, b)

# c_api: flags, store size, then ops (op % 16; op >> 5 picks the slot).
c = {
    "load-set-commit": bytes([1, 0, 0, 2]) + b'{"views":1}|' + bytes([0, 10, 0, 0, 0, 0, 11, 1]),
    "fields": bytes([1, 0, 0, 2, 0, 4, 0]) + b"3|" + bytes([5, 0, 4, 2]) + b'"ann"|' + bytes([6, 0, 10, 1]),
    "limits": bytes([0, 0, 0, 2, 0, 3, 0, 3, 1, 3, 2, 3, 3, 10, 0]),
    "destroy": bytes([1, 0, 0, 2, 0, 7, 4, 0]) + b"1|" + bytes([10, 0, 1]),
    "bad-args": bytes([0, 1, 0, 2, 12, 13, 5, 200, 15, 9, 7, 0, 1, 2]),
    "engine-freed": bytes([1, 0, 0, 2, 14, 2]) + b'{"a":[]}|' + bytes([10, 0, 0, 0]),
    "hostile-name": bytes([5]) + b"bad name;x|" + bytes([0, 0, 2, 10, 0]),
    "two-sessions": bytes([1, 2, 0, 2, 32, 2, 2]) + b'{"a":1}|' + bytes([34]) + b'{"b":2}|' + bytes([10, 0, 42, 1, 0, 0]),
}
for name, b in c.items():
    write("c_api", name, b)

# node_args: token NUL original NUL then (argument | call byte, more bytes) ...
def code(step, stored, cookie):
    return chr(ord("@") + (step | (stored << 2) | (cookie << 3)))
na = {
    "load": f"L{code(0,0,1)}{SID}\0\0" + '{"n":1}|' + "\x00\x02",
    "load-missing": f"L{code(0,0,1)}{SID}\0\0|\x00\x00",
    "need-sid": f"N{code(1,0,3)}\0\0{SID}|\x01",
    "ready-stored": f"Q{code(2,1,1)}{SID}\0" + '{"n":1}' + "\0" + '{"n":2}|\x05\x01\x00\x00',
    "regenerate": f"R{code(2,1,2)}{SID}\0" + '{"n":1}' + "\0newid|\x02",
    "complete": f"R{code(2,0,0)}{SID}\0\0" + '{"cookie":{"maxAge":5}}|\x03\x01\x00\x01\x00',
    "bad-token": "Z\x7fx\0\0",
    "stored-without-json": f"R{code(2,1,0)}{SID}\0\0",
}
for name, s in na.items():
    write("node_args", name, s)
