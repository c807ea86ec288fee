//! `cookie_header`: the Cookie header, parsed and verified.
//!
//! Input: the raw header bytes. Invariants:
//! - `get_cookie` agrees with Koa's `cookies` module (the regex oracle) for the session
//!   cookie and its `.sig`, and `cookie_pairs` agrees with `get_cookie`;
//! - with keys, a session id is adopted (`Next::Load`) exactly when the header's value is a
//!   valid id and its `.sig` is HMAC-SHA1 of `koa.sid=<id>` under one of the keys, computed
//!   here independently; without keys, exactly when the value is a valid id;
//! - a cookie that was not adopted is cleared at the end of the request, an id signed by the
//!   older key is re-signed with the current one, and after a store miss the new id is never
//!   the client's.
//!
//! The same header is also tried with a correct signature appended, so the fuzzer reaches
//! the accepting paths without having to forge HMACs.

use crate::oracle::{check_set_cookie, is_sid, keygrip_sign, koa_cookie_get, Allowed};
use koa_session_core::cookie_header::{cookie_pairs, get_cookie};
use koa_session_core::{Ending, Loaded, Next, SessionConfig, SessionRequest, StoreCaps};
use std::sync::OnceLock;

const NAME: &str = "koa.sid";
const SIG: &str = "koa.sid.sig";
const KEYS: [&[u8]; 2] = [b"current key", b"older key"];

fn configs() -> &'static [SessionConfig; 2] {
    static C: OnceLock<[SessionConfig; 2]> = OnceLock::new();
    C.get_or_init(|| [SessionConfig::builder().keys(KEYS).build().unwrap(), SessionConfig::builder().unsigned().build().unwrap()])
}

pub fn run(data: &[u8]) {
    check(data);
    // The same header with a good signature for its value, by either key.
    if let Some(v) = koa_cookie_get(data, NAME).filter(|v| is_sid(v)) {
        for key in KEYS {
            let mut h = data.to_vec();
            h.extend_from_slice(b"; koa.sid.sig=");
            h.extend_from_slice(keygrip_sign(key, &[b"koa.sid=", &v[..]].concat()).as_bytes());
            check(&h);
        }
    }
}

fn check(header: &[u8]) {
    let value = koa_cookie_get(header, NAME);
    let sig = koa_cookie_get(header, SIG);
    assert_eq!(get_cookie(header, NAME).map(<[u8]>::to_vec), value, "Koa's cookies reads {NAME} differently");
    assert_eq!(get_cookie(header, SIG).map(<[u8]>::to_vec), sig, "Koa's cookies reads {SIG} differently");
    for (name, v) in cookie_pairs(header).take(64) {
        if let Ok(n) = std::str::from_utf8(name) {
            if !n.contains('=') {
                let first = cookie_pairs(header).find(|(m, _)| *m == name).map(|(_, v)| v);
                assert_eq!(get_cookie(header, n), first, "pairs and get_cookie disagree on {n:?}");
                let _ = v;
            }
        }
    }

    let present = value.as_deref().is_some_and(|v| !v.is_empty());
    let valid_id = value.as_deref().is_some_and(is_sid);
    let signed_by = |v: &[u8]| {
        let data = [b"koa.sid=", v].concat();
        let sig = sig.as_deref()?;
        KEYS.iter().position(|k| keygrip_sign(k, &data).as_bytes() == sig)
    };
    for (cfg, signed) in configs().iter().zip([true, false]) {
        let key_index = if signed { value.as_deref().and_then(signed_by) } else { Some(0) };
        let adopt = valid_id && key_index.is_some();
        let req = SessionRequest::begin(cfg, Some(header), None, None).expect("no path given: always a request");
        match req.next() {
            Next::Load(sid) => {
                assert!(adopt, "adopted an id Koa would not: {header:?}");
                assert_eq!(Some(sid.as_bytes()), value.as_deref());
            }
            Next::NeedSid => assert!(!adopt, "refused an id Koa would adopt: {header:?}"),
            Next::Ready => panic!("ready before loading or a new id"),
        }
        let allowed = Allowed { names: &[NAME, SIG], path: Some("/"), domain: None };
        // The store has the record: the cookie is kept, or re-signed when the older key signed it.
        if adopt {
            let mut found = req.clone();
            found.loaded(cfg, Loaded::Found(r#"{"n":1}"#.into()), 1_700_000_000_000).unwrap();
            let out = found.finish(cfg, &Ending::new(Some(r#"{"n":1}"#)), StoreCaps::default(), false, 1_700_000_000_000).unwrap();
            if key_index == Some(1) {
                assert_eq!(out.set_cookies.len(), 1, "re-signing sends only the .sig: {out:?}");
                let (name, v, _) = check_set_cookie(&out.set_cookies[0], &allowed);
                let data = [b"koa.sid=", value.as_deref().unwrap()].concat();
                assert_eq!((name, v), (SIG, keygrip_sign(KEYS[0], &data).as_str()));
            } else {
                assert!(out.set_cookies.is_empty(), "{out:?}");
            }
        }
        // Not adopted, or the store misses: a new id of our own, the client's cookie cleared.
        let mut req = req;
        if adopt {
            req.loaded(cfg, Loaded::Missing, 1_700_000_000_000).unwrap();
        }
        assert_eq!(req.next(), Next::NeedSid);
        let fresh = koa_session_core::sid::generate_sid().unwrap();
        req.set_new_sid(fresh.clone()).unwrap();
        assert_ne!(Some(fresh.as_bytes()), value.as_deref());
        let out = req.finish(cfg, &Ending::new(Some(cfg.fresh_session_json())), StoreCaps::default(), false, 1_700_000_000_000).unwrap();
        let cleared: Vec<&str> = out.set_cookies.iter().map(|c| check_set_cookie(c, &allowed)).map(|(n, v, _)| {
            assert_eq!(v, "", "only clearing cookies for an unchanged new session");
            n
        }).collect();
        let expected: &[&str] = match (present, signed) {
            (false, _) => &[],
            (true, true) => &[NAME, SIG],
            (true, false) => &[NAME],
        };
        assert_eq!(cleared, expected, "stale cookie handling for {header:?}");
    }
}
