#!/usr/bin/env python3
"""Normalising must hide only randomness and time: what it renames or rounds away can never
make two different behaviours look identical. Run: python3 tests/conformance/test_compare.py"""

import os
import sys
import unittest
from email.utils import formatdate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import Normaliser, same_trace, sign  # noqa: E402

SCENARIO = {"config": {"keys": ["new", "old"]}}
NOW = 1_800_000_000_000  # ms


def trace(sid_a, sid_b, key_a="new", expires_s=86400, ttl=86400000, extra=()):
    date = formatdate(NOW / 1000 + expires_s, usegmt=True)
    return "\n".join(
        [
            "request 1 GET /",
            f"now {NOW}",
            f"store get {sid_a} -> hit",
            *extra,
            f"store destroy {sid_a} -> ok",
            f'store set {sid_b} ttl={ttl} {{"user":"ann"}} -> ok',
            f"set-cookie koa.sid={sid_b}; path=/; expires={date}; httponly",
            f"set-cookie koa.sid.sig={sign(key_a, 'koa.sid=' + sid_b)}; path=/; expires={date}; httponly",
            "status 200",
        ]
    )


def norm(text, scenario=SCENARIO):
    return Normaliser(scenario).run(text)[0]


class NormaliseTest(unittest.TestCase):
    def test_random_ids_and_nearby_dates_are_hidden(self):
        a = norm(trace("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"))
        b = norm(trace("x-Ck_9PqcvZ3dE1xYtmJ4wq0bB7nD2sR", "r4nd0m-1d_Z", expires_s=86401))
        self.assertTrue(same_trace(a, b), (a, b))
        self.assertIn("set-cookie koa.sid.sig=<sig:sid2:k0>; path=/; expires=<now+86400s>; httponly", a)

    def test_which_id_is_saved_is_kept(self):
        # Saving under the loaded id instead of a new one is a different behaviour.
        a = norm(trace("AAAA", "BBBB"))
        b = norm(trace("AAAA", "AAAA"))
        self.assertFalse(same_trace(a, b))

    def test_signing_key_is_kept(self):
        a = norm(trace("AAAA", "BBBB", key_a="new"))
        b = norm(trace("AAAA", "BBBB", key_a="old"))
        self.assertFalse(same_trace(a, b))
        c = norm(trace("AAAA", "BBBB", key_a="unknown"))
        self.assertIn("<sig:unverified>", "\n".join(c))

    def test_lifetimes_that_differ_are_kept(self):
        a = norm(trace("AAAA", "BBBB"))
        self.assertFalse(same_trace(a, norm(trace("AAAA", "BBBB", expires_s=86400 - 60))))
        self.assertFalse(same_trace(a, norm(trace("AAAA", "BBBB", ttl=86399999))))

    def test_clock_ttls_compare_in_seconds(self):
        clocked = dict(SCENARIO, clockTtl=True)
        a = norm(trace("AAAA", "BBBB", ttl=3599998), clocked)
        self.assertTrue(same_trace(a, norm(trace("AAAA", "BBBB", ttl=3600000), clocked)))
        self.assertFalse(same_trace(a, norm(trace("AAAA", "BBBB", ttl=3000000), clocked)))

    def test_host_details_and_order(self):
        a = norm(trace("AAAA", "BBBB", extra=["# koa errorHandler type=set"]))
        b = norm(trace("AAAA", "BBBB", extra=["# c ks_result=15 session store error"]))
        self.assertTrue(same_trace(a, b))
        c = norm(trace("AAAA", "BBBB", extra=["handler returned"]))
        self.assertFalse(same_trace(a, c))

    def test_user_index_ids_are_named_and_which_id_is_indexed_is_kept(self):
        def login(indexed, saved, user="ann"):
            return "\n".join(
                [
                    "request 1 GET /",
                    f"now {NOW}",
                    f"store index-add {user} {indexed} -> ok",
                    f'store set {saved} ttl=86400000 {{"passport":{{"user":"ann"}}}} -> ok',
                    f"store index-entries {user} -> {indexed} {saved}",
                    f"store index-remove {user} {indexed} -> ok",
                    f"handler destroyUserSessions {user} except {saved} -> 1",
                    f"store cas {saved} ttl=86400000 {{}} -> miss",
                    "status 200",
                ]
            )

        a = norm(login("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"))
        self.assertIn("store index-add ann sid1 -> ok", a)
        self.assertIn("store index-entries ann -> sid1 sid2", a)
        self.assertIn("store index-remove ann sid1 -> ok", a)
        self.assertIn("handler destroyUserSessions ann except sid2 -> 1", a)
        self.assertIn("store cas sid2 ttl=86400000 {} -> miss", a)
        self.assertTrue(same_trace(a, norm(login("x-Ck_9PqcvZ3dE1xYtmJ4wq0bB7nD2sR", "r4nd0m-1d_Z"))))
        # Indexing one id and writing another, or indexing under another user, differs.
        self.assertFalse(same_trace(norm(login("AAAA", "AAAA")), a))
        self.assertFalse(same_trace(norm(login("AAAA", "BBBB", user="bob")), a))
        self.assertEqual(norm("store index-entries ann -> (none)"), ["store index-entries ann -> (none)"])

    def test_ids_in_grace_are_ordered_by_name_not_by_random_text(self):
        # The engine writes a renewed session's ids in grace in the order of their text: for
        # random ids a random order, which the names sid1, sid2... replace; their times stay.
        def renewal(key, a, b, until_a=1800000012001, until_b=1800000012001):
            old = dict(sorted({a: until_a, b: until_b}.items()))
            ks = ",".join(f'"{k}":{v}' for k, v in old.items())
            return "\n".join(
                [
                    f"request 1 GET / cookie: koa.sid={key}",
                    f"store get {key} -> hit",
                    f"store get {a} -> hit",
                    f"store set {b} ttl=1 {{}} -> ok",
                    f'store cas {key} ttl=1 {{"_ks":{{"created":0,"active":0,"sid":"{b}","old":{{{ks}}}}}}} -> ok',
                ]
            )

        a = norm(renewal("KKKK", "zzzz", "aaaa"))
        self.assertIn('"old":{"sid2":1800000012001,"sid3":1800000012001}', a[-1])
        self.assertTrue(same_trace(a, norm(renewal("KKKK", "aaaa", "zzzz"))))
        self.assertFalse(same_trace(a, norm(renewal("KKKK", "aaaa", "zzzz", until_a=1800000012000))))


if __name__ == "__main__":
    unittest.main()
