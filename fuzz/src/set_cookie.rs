//! `set_cookie`: a session's JSON (its `cookie` field) to Set-Cookie values.
//!
//! Input: one byte of configuration flags, eight bytes of clock (little-endian, the low 48
//! bits used), then the session JSON.
//! Invariants:
//! - `finish` saves exactly the JSON texts `check_record` accepts (nothing accepted fails to
//!   commit, nothing refused is written), with a TTL in 1..=MAX_TTL_MS, or ends a session
//!   whose own cookie has expired;
//! - every Set-Cookie value is `name=value` with a known name, a value of cookie characters,
//!   and only known attributes (path and domain exactly as configured, a well-formed date),
//!   once each, in Koa's order: nothing from the record can inject an attribute;
//! - the `.sig` cookie is keygrip's signature of `koa.sid=<id>`, computed independently,
//!   and carries the same attributes as the session cookie;
//! - the attributes follow `session_cookie`: a record may turn `secure` on, never off (a
//!   record written before the application required HTTPS must not keep its cookie on plain
//!   HTTP); `httpOnly` is the session's own choice either way, as in koa-session (its
//!   `cookie.httpOnly` when that is a boolean, else the configured value); path, domain,
//!   sameSite, priority and partitioned are the configuration's.

use crate::input::Input;
use crate::oracle::{check_set_cookie, keygrip_sign, record_cookie_flags, Allowed};
use koa_session_core::record::{check_record, session_cookie, MAX_TTL_MS};
use koa_session_core::request::RequestParts;
use koa_session_core::{Ending, Priority, SameSite, SessionConfig, SessionRequest, StoreCaps, StoreOp};

const SID: &str = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz";
const KEY: &[u8] = b"set-cookie key";
const DOMAIN: &str = "example.com";

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let now_ms = (input.u64() & 0xffff_ffff_ffff) as i64;
    let Ok(json) = std::str::from_utf8(input.rest()) else { return };

    let same_site = [None, Some(SameSite::Lax), Some(SameSite::Strict), Some(SameSite::None)][(flags >> 4 & 3) as usize];
    let mut b = SessionConfig::builder()
        // SameSite=None is refused without Secure (browsers drop such cookies).
        .secure(flags & 2 != 0 || same_site == Some(SameSite::None))
        .http_only(flags & 4 != 0)
        .partitioned(flags & 8 != 0)
        .same_site(same_site)
        .priority(if flags & 0x40 != 0 { Some(Priority::High) } else { None })
        .domain((flags & 0x80 != 0).then(|| DOMAIN.to_owned()));
    b = if flags & 1 != 0 { b.keys([KEY]) } else { b.unsigned() };
    let cfg = b.build().unwrap();
    let allowed = Allowed { names: &["koa.sid", "koa.sid.sig"], path: Some("/"), domain: (flags & 0x80 != 0).then_some(DOMAIN) };

    // A new session (state code 2: ready, nothing stored, no client cookie) forced to save.
    let req = SessionRequest::from_parts(RequestParts { code: 2, sid: Some(SID.into()), original: None, ..RequestParts::default() }).unwrap();
    let accepted = check_record(json);
    let ending = Ending { json: Some(json), save: Some(true), replaced: false };
    let outcome = req.finish(&cfg, &ending, StoreCaps::default(), false, now_ms);
    let outcome = match (accepted, outcome) {
        (Ok(()), Ok(o)) => o,
        (Err(_), Err(_)) => return,
        (a, o) => panic!("check_record says {a:?} but finish gives {o:?} for {json:?}"),
    };
    let attrs = session_cookie(json, cfg.cookie()).expect("an accepted record has cookie attributes");
    // The record's own booleans, read independently of the engine (last key wins).
    let (secure, http_only) = record_cookie_flags(json);
    assert_eq!(attrs.secure, cfg.cookie().secure || secure == Some(true),
               "secure is the configured value, turned on (never off) by the record's secure: true");
    assert_eq!(attrs.http_only, http_only.unwrap_or(cfg.cookie().http_only),
               "httpOnly is the record's own boolean either way, else the configured value");
    assert_eq!((&attrs.path, &attrs.domain, attrs.same_site, attrs.priority, attrs.partitioned),
               (&cfg.cookie().path, &cfg.cookie().domain, cfg.cookie().same_site, cfg.cookie().priority, cfg.cookie().partitioned),
               "a record changed an attribute only the configuration sets");

    let cookies: Vec<_> = outcome.set_cookies.iter().map(|c| check_set_cookie(c, &allowed)).collect();
    match outcome.ops.as_slice() {
        [StoreOp::Save { sid, ttl_ms }] => {
            assert_eq!(sid.as_str(), SID);
            assert!((1..=MAX_TTL_MS as u64).contains(ttl_ms), "ttl {ttl_ms}");
            assert_eq!(cookies.len(), if cfg.signed() { 2 } else { 1 });
            assert_eq!((cookies[0].0, cookies[0].1), ("koa.sid", SID));
            if let Some(sig) = cookies.get(1) {
                assert_eq!((sig.0, sig.1), ("koa.sid.sig", keygrip_sign(KEY, format!("koa.sid={SID}").as_bytes()).as_str()));
                let attrs_of = |c: &str| c.split_once("; ").map(|x| x.1.to_owned());
                assert_eq!(attrs_of(&outcome.set_cookies[0]), attrs_of(&outcome.set_cookies[1]), "the .sig cookie's attributes differ");
            }
        }
        [] => {
            // Expired by its own cookie: nothing stored (it never was), both cookies cleared.
            assert!(cookies.iter().all(|c| c.1.is_empty() && c.2 == Some("Thu, 01 Jan 1970 00:00:00 GMT")), "{cookies:?}");
        }
        ops => panic!("a new session is saved whole or not at all: {ops:?}"),
    }
    for c in &outcome.set_cookies {
        assert_eq!(c.contains("; secure"), attrs.secure, "{c}");
        assert_eq!(c.contains("; httponly"), attrs.http_only, "{c}");
    }
}
