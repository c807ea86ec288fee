//! `SessionRequest::token` / `from_token` and `into_parts` / `from_parts`: a request carried
//! between calls as plain values (a token string and the loaded JSON, as the Node addon
//! carries it) behaves exactly like the request object itself.

use koa_session_core::request::{Ending, LoadReport, Loaded, Next, RequestParts, SessionRequest, StoreCaps, STATE_CODES};
use koa_session_core::signing::Keys;
use koa_session_core::{RequestError, SessionConfig};

const NOW: i64 = 1_795_198_123_456;
const SID: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const NEW_SID: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const RECORD: &str = r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true},"user":"ann"}"#;
const CHANGED: &str = r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true},"user":"bob"}"#;

fn config() -> SessionConfig {
    SessionConfig::builder().keys(["new", "old"]).build().unwrap()
}

fn cookie_signed_by(key: &str) -> String {
    let sig = Keys::new([key]).unwrap().sign(format!("koa.sid={SID}").as_bytes());
    format!("koa.sid={SID}; koa.sid.sig={sig}")
}

fn round_trip(cfg: &SessionConfig, req: SessionRequest) -> SessionRequest {
    let token = req.token(cfg);
    let parts = req.into_parts();
    assert!(parts.code < STATE_CODES);
    let again = SessionRequest::from_parts(parts.clone()).expect("parts of a real request are accepted");
    assert_eq!(again.into_parts(), parts);
    SessionRequest::from_token(&token, parts.original).expect("the token of a real request is accepted")
}

/// Drives one request to its outcome; with `via_parts`, the request goes through its parts
/// after every step, as the Node addon carries it.
fn run(cookie: Option<&str>, record: Option<&str>, valid: bool, regenerate: bool, json: Option<&str>, save: Option<bool>, via_parts: bool) -> String {
    let cfg = config();
    let hop = |r: SessionRequest| if via_parts { round_trip(&cfg, r) } else { r };
    let mut req = hop(SessionRequest::begin(&cfg, cookie.map(str::as_bytes), Some("/"), None).unwrap());
    let mut report = None;
    loop {
        match req.next() {
            Next::Load(_) => {
                let answer = match record {
                    None => Loaded::Missing,
                    Some(_) if !valid => Loaded::Rejected,
                    Some(r) => Loaded::Found(r.to_owned()),
                };
                report = Some(req.loaded(&cfg, answer, 0).unwrap());
            }
            Next::NeedSid => req.set_new_sid(NEW_SID.to_owned()).unwrap(),
            Next::Ready => break,
        }
        req = hop(req);
    }
    let is_new = req.is_new();
    let shown = req.session_json(&cfg).into_owned();
    let mut destroyed = None;
    if regenerate {
        destroyed = req.regenerate("CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC".to_owned()).unwrap();
        req = hop(req);
    }
    let json = json.map(|j| if j == "=" { shown.clone() } else { j.to_owned() });
    let ending = Ending { json: json.as_deref(), save, replaced: false };
    let decision = req.decide(&cfg, &ending);
    let req = hop(req);
    let caps = StoreCaps { compare_and_set: true, touch: true };
    let outcome = req.finish(&cfg, &ending, caps, true, NOW);
    format!("{report:?} new={is_new} shown={shown} destroyed={destroyed:?} {decision:?} {outcome:?}")
}

#[test]
fn a_request_carried_as_parts_decides_exactly_like_the_object() {
    let current = cookie_signed_by("new");
    let older = cookie_signed_by("old");
    let cookies = [None, Some(current.as_str()), Some(older.as_str()), Some("koa.sid=AAAA; koa.sid.sig=bad")];
    let mut seen = 0;
    for cookie in cookies {
        for record in [None, Some(RECORD), Some("[1]")] {
            for valid in [true, false] {
                for regenerate in [false, true] {
                    for json in [None, Some("="), Some(CHANGED)] {
                        for save in [None, Some(true), Some(false)] {
                            let direct = run(cookie, record, valid, regenerate, json, save, false);
                            let carried = run(cookie, record, valid, regenerate, json, save, true);
                            assert_eq!(direct, carried, "cookie {cookie:?} record {record:?} valid {valid} regenerate {regenerate} json {json:?} save {save:?}");
                            seen += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(seen, 4 * 3 * 2 * 2 * 3 * 3);
}

#[test]
fn state_codes_tell_states_apart() {
    let cfg = config();
    let current = cookie_signed_by("new");
    let older = cookie_signed_by("old");
    let mut codes = std::collections::HashSet::new();
    for cookie in [None, Some(current.as_str()), Some(older.as_str()), Some("koa.sid=AAAA; koa.sid.sig=bad")] {
        let begun = SessionRequest::begin(&cfg, cookie.map(str::as_bytes), Some("/"), None).unwrap();
        codes.insert(begun.state_code());
        let mut loaded = begun.clone();
        if let Next::Load(_) = loaded.next() {
            assert_eq!(loaded.loaded(&cfg, Loaded::Found(RECORD.to_owned()), 0).unwrap(), LoadReport::Loaded);
            codes.insert(loaded.state_code());
        }
    }
    // absent / current / re-sign / stale at begin, then current and re-sign once loaded
    assert_eq!(codes.len(), 6, "{codes:?}");
}

#[test]
fn impossible_parts_are_refused() {
    let parts = |code, sid: Option<&str>, original: Option<&str>| RequestParts { code, sid: sid.map(str::to_owned), original: original.map(str::to_owned), ..RequestParts::default() };
    let refused = |code, sid: Option<&str>, original: Option<&str>| SessionRequest::from_parts(parts(code, sid, original)).unwrap_err();
    let cfg = config();
    let ready = SessionRequest::begin(&cfg, None, None, Some(SID)).unwrap();
    let load_code = ready.clone().into_parts().code;
    let mut loaded = ready;
    loaded.loaded(&cfg, Loaded::Found(RECORD.to_owned()), 0).unwrap();
    let stored_code = loaded.clone().into_parts().code;

    assert_eq!(refused(STATE_CODES, Some(SID), None), RequestError::WrongStep);
    assert_eq!(refused(3, Some(SID), None), RequestError::WrongStep, "no such step");
    assert_eq!(refused(load_code, None, None), RequestError::InvalidSid, "loading needs an id");
    assert_eq!(refused(load_code, Some("has space"), None), RequestError::InvalidSid);
    assert_eq!(refused(load_code, Some(SID), Some(RECORD)), RequestError::WrongStep, "JSON without a stored record");
    assert_eq!(refused(stored_code, Some(SID), None), RequestError::WrongStep, "a stored record without its JSON");

    // Waiting for an id: a leftover id is dropped, never adopted.
    let mut need = SessionRequest::begin(&cfg, None, None, None).unwrap();
    let need_code = need.clone().into_parts().code;
    assert_eq!(need.next(), Next::NeedSid);
    need = SessionRequest::from_parts(parts(need_code, Some(SID), None)).unwrap();
    assert_eq!(need.next(), Next::NeedSid);
    assert_eq!(need.sid(), None);

    // A replaced id only on a ready request with no stored record, and a valid id.
    let mut regenerated = loaded;
    regenerated.regenerate(NEW_SID.to_owned()).unwrap();
    let good = regenerated.into_parts();
    assert_eq!(good.replaced.as_deref(), Some(SID));
    assert!(SessionRequest::from_parts(good.clone()).is_ok());
    let bad = |replaced: &str| SessionRequest::from_parts(RequestParts { replaced: Some(replaced.to_owned()), ..good.clone() }).unwrap_err();
    assert_eq!(bad("has space"), RequestError::WrongStep);
    assert_eq!(SessionRequest::from_parts(RequestParts { replaced: Some(SID.to_owned()), ..parts(stored_code, Some(SID), Some(RECORD)) }).unwrap_err(), RequestError::WrongStep);
}

#[test]
fn malformed_tokens_are_refused() {
    for token in ["", "L", "X@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "L\u{7f}AAAA", "R`AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "RB", "RBAAAA BBBB CCCC", "L@"] {
        assert!(SessionRequest::from_token(token, None).is_err(), "{token:?}");
    }
}
