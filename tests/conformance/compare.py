#!/usr/bin/env python3
"""The cross-runtime conformance suite: runs every scenario (tests/conformance/scenarios/*.json)
through the Koa runner and the C runner, normalises both traces (session ids renamed sid1,
sid2... in order of appearance, signatures named by the id and key that verify them, dates
made relative to the request's clock) and checks that they are identical, and identical to
the scenario's `expect` trace when it has one. See README.md.

Usage: compare.py --c-runner PATH [--node NODE] [--only NAME]... [--show] [SCENARIO_DIR]
Prints a readable diff for each scenario that differs, then `N scenarios, M identical`;
exits 1 when any scenario differs (or a Koa-only scenario is not as expected)."""

import argparse
import base64
import difflib
import email.utils
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from c_script import script as c_script  # noqa: E402

# Two traces agree on a date or a clock-derived TTL when they are this close (seconds): the
# runs happen at different moments, cookie dates have one-second resolution, and a loaded
# machine may pause a runner between taking the request's clock and the commit. Lifetimes
# that differ for a real reason differ by far more (they come from maxAge/expires settings).
TOLERANCE_S = 5

HTTP_DATE = re.compile(r"expires=([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z")
DATE_TOKEN = re.compile(r"<now([+-]\d+)s>")
TTL = re.compile(r"ttl=(\d+)")
TTL_TOKEN = re.compile(r"ttl=~(\d+)s")
SID_CHARS = r"A-Za-z0-9_\-"
# The ids in grace of a renewed session's times (`"_ks":{..."old":{"<id>":ms,...}}`): the
# engine writes them in the order of the ids' text, which for random ids is random; once the
# ids are named sid1, sid2... they are put in the order of those names.
GRACE_IDS = re.compile(r'"old":\{((?:"sid\d+":-?\d+,?)*)\}')


def sort_grace_ids(line):
    def by_name(m):
        entries = [e for e in m.group(1).split(",") if e]
        entries.sort(key=lambda e: int(e.split('"')[1][3:]))
        return '"old":{' + ",".join(entries) + "}"

    return GRACE_IDS.sub(by_name, line)


def sign(key, data):
    mac = hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def cookie_pairs(text):
    """name=value pairs of a Cookie header or the first pair of a Set-Cookie value."""
    for part in text.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq:
            yield name, value


class Normaliser:
    """Turns one runtime's raw trace into lines that do not depend on randomness or time."""

    def __init__(self, scenario):
        cfg = scenario.get("config") or {}
        self.name = cfg.get("key", "koa.sid")
        self.keys = cfg.get("keys") or []
        self.clock_ttl = bool(scenario.get("clockTtl"))

    def sids_in(self, line):
        m = re.match(r"store (?:get|set|destroy|cas) (\S+)", line) or re.match(r"handler sessionId = (\S+)$", line)
        if m:
            return [m.group(1)] if m.group(1) not in ("undefined", "null") else []
        # The user index: `store index-add|index-remove <user> <sid>... -> ...`,
        # `store index-entries <user> -> <sid>... | (none) | FAIL`.
        m = re.match(r"store index-(?:add|remove) \S+ (.+?) -> ", line) or re.match(r"store index-entries \S+ -> (.+)$", line)
        if m:
            return [s for s in m.group(1).split() if s not in ("(none)", "FAIL")]
        m = re.match(r"handler destroyUserSessions \S+ except (\S+) -> ", line)
        if m:
            return [m.group(1)]
        if line.startswith("set-cookie "):
            pairs = list(cookie_pairs(line[len("set-cookie "):].split(";", 1)[0]))
        elif " cookie: " in line and line.startswith("request "):
            pairs = list(cookie_pairs(line.split(" cookie: ", 1)[1]))
        else:
            return []
        return [v for n, v in pairs if n == self.name and v]

    def signature(self, value, names):
        for sid, label in names.items():
            for i, key in enumerate(self.keys):
                if hmac.compare_digest(sign(key, f"{self.name}={sid}"), value):
                    return f"<sig:{label}:k{i}>"
        return "<sig:unverified>"

    def run(self, text):
        """Returns (compared lines, host-detail lines)."""
        lines = [l for l in text.splitlines() if l.strip()]
        names = {}
        for line in lines:
            for sid in self.sids_in(line):
                names.setdefault(sid, f"sid{len(names) + 1}")
        sid_re = None
        if names:
            alts = "|".join(re.escape(s) for s in sorted(names, key=len, reverse=True))
            sid_re = re.compile(rf"(?<![{SID_CHARS}])({alts})(?![{SID_CHARS}])")
        sig_re = re.compile(rf"(?<![{SID_CHARS}.]){re.escape(self.name)}\.sig=([^;\s]+)")
        now = None
        out, details = [], []
        for line in lines:
            if line.startswith("now "):
                now = int(line[4:]) / 1000
                continue
            if line.startswith("#"):
                details.append(line)
                continue
            line = sig_re.sub(lambda m: f"{self.name}.sig={self.signature(m.group(1), names)}", line)
            if sid_re:
                line = sort_grace_ids(sid_re.sub(lambda m: names[m.group(1)], line))
            line = HTTP_DATE.sub(lambda m: "expires=" + self.relative(email.utils.parsedate_to_datetime(m.group(1)).timestamp(), now), line)
            line = ISO_DATE.sub(lambda m: self.relative(datetime.fromisoformat(m.group(0).replace("Z", "+00:00")).timestamp(), now), line)
            if self.clock_ttl:
                line = TTL.sub(lambda m: f"ttl=~{round(int(m.group(1)) / 1000)}s", line)
            out.append(line)
        return out, details

    @staticmethod
    def relative(t, now):
        if t == 0:
            return "<epoch>"
        if now is None:
            return "<date without a request clock>"
        return f"<now{round(t - now):+d}s>"


def numbers(line):
    return [int(x) for x in DATE_TOKEN.findall(line) + TTL_TOKEN.findall(line)]


def skeleton(line):
    return TTL_TOKEN.sub("ttl=~#s", DATE_TOKEN.sub("<now#s>", line))


def same_line(a, b):
    if skeleton(a) != skeleton(b):
        return False
    return all(abs(x - y) <= TOLERANCE_S for x, y in zip(numbers(a), numbers(b)))


def same_trace(a, b):
    return len(a) == len(b) and all(same_line(x, y) for x, y in zip(a, b))


def diff(a, b, name_a, name_b):
    # Lines equal within the tolerance are shown once, so the diff shows only real differences.
    b = [a[i] if i < len(a) and same_line(a[i], x) else x for i, x in enumerate(b)]
    return "\n".join(difflib.unified_diff(a, b, name_a, name_b, lineterm="", n=3))


def run_koa(node, path):
    return subprocess.Popen([node, os.path.join(HERE, "koa-runner.js"), path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_c(runner):
    return subprocess.Popen([runner], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, what, stdin=None):
    try:
        out, err = proc.communicate(stdin, timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, f"{what} timed out\n{err}"
    if proc.returncode != 0:
        return None, f"{what} exited with {proc.returncode}\n{err}"
    return out, None


def check_scenario(path, scenario, args):
    """Returns (identical, report text)."""
    koa_only = scenario.get("koaOnly")
    expect = scenario.get("expect")
    if koa_only and expect is None:
        return False, "a koaOnly scenario must carry an expect trace"
    koa = run_koa(args.node, path)
    c = None
    if not koa_only:
        c = run_c(args.c_runner)
        c_out, c_err = finish(c, "c_runner", c_script(scenario))
    koa_out, koa_err = finish(koa, "koa-runner")
    errors = [e for e in (koa_err, None if koa_only else c_err) if e]
    if errors:
        return False, "\n".join(errors)
    norm = Normaliser(scenario)
    traces = {"koa": norm.run(koa_out)}
    if not koa_only:
        traces["c"] = norm.run(c_out)
    if args.show:
        for who, (lines, details) in traces.items():
            print(f"---- {scenario['name']} [{who}]")
            print("\n".join(lines + details))
    pairs = []
    if not koa_only:
        pairs.append(("koa", "c"))
    if expect is not None:
        traces["expect"] = ([l for l in expect if not l.startswith("#")], [])
        pairs += [(who, "expect") for who in traces if who != "expect"]
    problems = []
    for a, b in pairs:
        if not same_trace(traces[a][0], traces[b][0]):
            problems.append(f"{a} != {b}\n" + diff(traces[a][0], traces[b][0], a, b))
    if not problems:
        return True, ""
    details = "\n".join(f"  [{who}] {d}" for who, (_, ds) in traces.items() for d in ds)
    return False, "\n".join(problems) + (f"\nhost details:\n{details}" if details else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--c-runner", required=True)
    ap.add_argument("--node", default="node")
    ap.add_argument("--only", action="append", default=[], help="run only these scenarios (by name)")
    ap.add_argument("--show", action="store_true", help="print every normalised trace")
    ap.add_argument("dir", nargs="?", default=os.path.join(HERE, "scenarios"))
    args = ap.parse_args()

    files = sorted(f for f in os.listdir(args.dir) if f.endswith(".json"))
    total = identical = koa_total = koa_ok = 0
    failed = []
    for f in files:
        path = os.path.join(args.dir, f)
        with open(path, encoding="utf-8") as fh:
            scenario = json.load(fh)
        name = f[:-5]
        if scenario.get("name") != name:
            print(f"== {f}: its \"name\" must be {name!r}")
            failed.append(name)
            continue
        if args.only and name not in args.only:
            continue
        ok, report = check_scenario(path, scenario, args)
        if scenario.get("koaOnly"):
            koa_total += 1
            koa_ok += ok
        else:
            total += 1
            identical += ok
        if not ok:
            failed.append(name)
            print(f"== {name}: DIFFERS  ({scenario.get('description', '')})")
            print(report)
            print()
    if failed:
        print("differing scenarios: " + ", ".join(failed))
    if koa_total:
        print(f"{koa_total} Koa-only scenarios (no C API equivalent), {koa_ok} as expected")
    print(f"{total} scenarios, {identical} identical")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
