#!/usr/bin/env python3
"""Translates a conformance scenario (JSON, see README.md) into the line-based command script
that c_runner executes: C has no JSON parser, so this does the parsing and c_runner stays a
plain loop over ks_ calls. No session rule lives here: it only spells the scenario's config,
store contents, requests and actions as commands.

Usage: c_script.py scenarios/<name>.json   (prints the script)"""

import json
import sys

SAME_SITE = {True: "strict", "strict": "strict", "lax": "lax", "none": "none"}

# The lifetime options (ms) and their config commands; any of them gives the store
# compare-and-set, which they need (unless the scenario says "storeCas": false).
LIFETIMES = {"idleTimeout": "idletimeout", "absoluteTimeout": "absolutetimeout", "renewInterval": "renewinterval", "renewGrace": "renewgrace"}


def compact(value):
    """A JSON value as one line of compact JSON text (JSON.stringify's spelling for the
    values scenarios use: integers, strings, booleans, null, objects, arrays)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def word(text, what):
    if not isinstance(text, str) or text == "" or any(c.isspace() for c in text):
        raise ValueError(f"{what} must be a non-empty string without spaces: {text!r}")
    return text


def line_text(text, what):
    if not isinstance(text, str) or "\n" in text or "\r" in text:
        raise ValueError(f"{what} must be a string on one line: {text!r}")
    return text


def config_lines(cfg, store_cas=True):
    if "validReturns" in cfg:
        raise ValueError("config.validReturns has no C API equivalent: mark the scenario koaOnly")
    lines = []
    if "key" in cfg:
        lines.append(f"config key {word(cfg['key'], 'config.key')}")
    for k in cfg.get("keys") or []:
        lines.append(f"config addkey {line_text(k, 'a key')}")
    c = cfg.get("cookieOptions") or {}
    known = {"path", "domain", "maxAge", "httpOnly", "secure", "sameSite"}
    unknown = set(c) - known
    if unknown:
        raise ValueError(f"cookieOptions the C script cannot express yet: {sorted(unknown)}")
    if "path" in c:
        lines.append("config nopath" if not c["path"] else f"config path {word(c['path'], 'path')}")
    if c.get("domain"):
        lines.append(f"config domain {word(c['domain'], 'domain')}")
    if "maxAge" in c:
        # null / 'session': a browser-session cookie, which the C API spells as 0.
        m = c["maxAge"]
        lines.append(f"config maxage {0 if m is None or m == 'session' else int(m)}")
    for name, cmd in (("httpOnly", "httponly"), ("secure", "secure")):
        if name in c:
            lines.append(f"config {cmd} {1 if c[name] else 0}")
    if c.get("sameSite") not in (None, False):
        lines.append(f"config samesite {SAME_SITE[c['sameSite']]}")
    for name, cmd in (("rolling", "rolling"), ("allowEmpty", "allowempty")):
        if name in cfg:
            lines.append(f"config {cmd} {1 if cfg[name] else 0}")
    for name, cmd in LIFETIMES.items():
        if name in cfg:
            v = cfg[name]
            # The C setters take uint64_t ms; 0 is off (null in Koa is the same).
            if v is None:
                v = 0
            if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v >= 2**64:
                raise ValueError(f"config.{name} the C setter cannot take: {v!r} (mark the scenario koaOnly)")
            lines.append(f"config {cmd} {v}")
    if cfg.get("userField") is not None:
        lines.append(f"config userfield {word(cfg['userField'], 'config.userField')}")
        # The recording store then opts in to what userField needs, as the Koa runner's does.
        lines.append("userindex")
    elif any(name in cfg for name in LIFETIMES) and store_cas:
        lines.append("cas")
    return lines


def action_lines(action):
    if len(action) != 1:
        raise ValueError(f"an action has exactly one key: {action!r}")
    (name, arg), = action.items()
    if name == "read":
        return [f"read {word(arg, 'read field')}"]
    if name == "readId":
        return ["readid"]
    if name == "set":
        return [f"set {word(k, 'field')} {compact(v)}" for k, v in arg.items()]
    if name == "remove":
        return [f"remove {word(arg, 'field')}"]
    if name == "replace":
        return [f"replace {compact(arg)}"]
    if name == "setCookieField":
        out = []
        for k, v in arg.items():
            if isinstance(v, dict) and "inMs" in v:
                out.append(f"cookiefield-in {word(k, 'cookie field')} {int(v['inMs'])}")
            else:
                out.append(f"cookiefield {word(k, 'cookie field')} {compact(v)}")
        return out
    if name == "regenerate":
        return ["regenerate"]
    if name == "destroy":
        return ["destroy"]
    if name == "save":
        return ["save force" if arg else "save skip"]
    if name == "throw":
        return ["throw"]
    if name == "destroyUserSessions":
        unknown = set(arg) - {"user", "except", "exceptCurrent"}
        if unknown or "user" not in arg or ("except" in arg and arg.get("exceptCurrent")):
            raise ValueError(f"destroyUserSessions takes user and at most one of except / exceptCurrent: {arg!r}")
        line = f"destroyusers {word(arg['user'], 'user id')}"
        if arg.get("exceptCurrent"):
            line += " except-current"
        elif "except" in arg:
            line += f" except {word(arg['except'], 'except sid')}"
        return [line]
    raise ValueError(f"unknown action {name!r}")


def whole_ms(v, what):
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{what} must be whole ms, >= 0: {v!r}")
    return v


def clock_times(scenario):
    """The clock of each request (unix ms; README: "The clock"), or None without clockStart."""
    requests = scenario["requests"]
    start = scenario.get("clockStart")
    if start is None:
        if any("at" in r or "advance" in r for r in requests):
            raise ValueError('"at" / "advance" need a scenario "clockStart"')
        return None
    now = whole_ms(start, "clockStart")
    times = []
    for r in requests:
        if "at" in r and "advance" in r:
            raise ValueError('a request has "at" or "advance", not both')
        if "at" in r:
            now = start + whole_ms(r["at"], "at")
        elif "advance" in r:
            now += whole_ms(r["advance"], "advance")
        times.append(now)
    return times


def check_pauses(requests):
    """`commitAfter` names a later request; no store faults while a request waits."""
    for i, r in enumerate(requests):
        m = r.get("commitAfter")
        if m is None:
            continue
        if not isinstance(m, int) or isinstance(m, bool) or not i + 1 < m <= len(requests):
            raise ValueError(f"request {i + 1}: commitAfter must name a later request")
        for k in range(i, m):
            if requests[k].get("storeFaults"):
                raise ValueError(f"request {k + 1}: storeFaults while request {i + 1} waits")


def script(scenario):
    if scenario.get("koaOnly"):
        raise ValueError("a koaOnly scenario does not run in C")
    check_pauses(scenario["requests"])
    times = clock_times(scenario)
    lines = []
    if times is not None:
        # The engine's clock is the runner's variable, set before each request.
        lines += [f"clock {scenario['clockStart']}", "config clock"]
    lines += config_lines(scenario.get("config") or {}, scenario.get("storeCas", True) is not False)
    lines.append("engine")
    for sid, raw in (scenario.get("store") or {}).items():
        lines.append(f"put {word(sid, 'store sid')} {line_text(raw, 'a store record')}")
    for i, req in enumerate(scenario["requests"]):
        if "upstreamSid" in req:
            raise ValueError("upstreamSid has no C API equivalent: mark the scenario koaOnly")
        if times is not None:
            lines.append(f"clock {times[i]}")
        lines.append(f"request {word(req.get('path', '/'), 'path')}")
        if "commitAfter" in req:
            lines.append(f"commitafter {req['commitAfter']}")
        if req.get("https"):
            lines.append("https")
        for op in req.get("storeFaults") or []:
            if op not in ("get", "set", "destroy", "cas", "index-add"):
                raise ValueError(f"unknown store fault {op!r}")
            lines.append(f"fail {op}")
        if req.get("cookie"):
            lines.append(f"cookie {line_text(req['cookie'], 'cookie')}")
        for action in req.get("actions") or []:
            lines.extend(action_lines(action))
        lines.append("end")
    return "".join(line + "\n" for line in lines)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write(script(json.load(f)))
