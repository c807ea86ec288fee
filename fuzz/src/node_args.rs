//! `node_args`: what the Node addon decodes from JavaScript strings between calls.
//!
//! The addon (node-binding) is a cdylib that needs a Node environment; what it decodes from
//! JavaScript is core's request token (`SessionRequest::token` / `from_token`), fuzzed here
//! with the calls the addon makes on it.
//!
//! Input: a token string, a NUL, the loaded record (`original`, absent when empty), a NUL,
//! then calls as the JS middleware makes them (`requestLoaded`, `requestSetSid`,
//! `requestRegenerate`, `requestWillSave`, `requestFinish`), each with arguments from the
//! input. Invariants:
//! - a token either is refused with an error or decodes to a request that re-encodes to a
//!   token decoding to the same request (no state is lost or invented between calls);
//! - the id in a decoded request is always a valid id, and a stored record always comes
//!   with its JSON;
//! - whatever the arguments, a store write is only ever a valid record under the request's
//!   own id, and every Set-Cookie value is well-formed.

use crate::input::Input;
use crate::oracle::{check_set_cookie, Allowed};
use koa_session_core::record::check_record;
use koa_session_core::request::{RequestParts, STATE_CODES};
use koa_session_core::sid::is_valid_sid;
use koa_session_core::{Ending, Loaded, Next, SessionConfig, SessionRequest, StoreCaps, StoreOp};
use std::sync::OnceLock;

fn request(token: &str, original: Option<String>) -> Result<SessionRequest, String> {
    SessionRequest::from_token(token, original).map_err(|e| e.to_string())
}

fn config() -> &'static SessionConfig {
    static C: OnceLock<SessionConfig> = OnceLock::new();
    C.get_or_init(|| SessionConfig::builder().keys(["node key"]).build().unwrap())
}

fn parts(req: &SessionRequest) -> RequestParts {
    req.clone().into_parts()
}

/// A JS string as napi hands it to Rust: UTF-8, lone surrogates replaced.
fn js_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn run(data: &[u8]) {
    let cfg = config();
    let allowed = Allowed { names: &["koa.sid", "koa.sid.sig"], path: Some("/"), domain: None };
    let mut input = Input::new(data);
    let mut t = js_string(input.until(0));
    let mut original = Some(js_string(input.until(0))).filter(|o| !o.is_empty());
    for _ in 0..8 {
        let Ok(mut req) = request(&t, original.clone()) else { return };
        let p = parts(&req);
        let (code, sid, orig) = (p.code, p.sid.clone(), p.original.clone());
        assert!(code < STATE_CODES);
        if let Some(r) = &p.replaced {
            assert!(is_valid_sid(r) && orig.is_none(), "a replaced id only on a request with no stored record");
        }
        if let Some(s) = &sid {
            assert!(is_valid_sid(s), "decoded an invalid id {s:?}");
        }
        assert_eq!(orig, original.clone().filter(|_| code & 4 != 0), "the loaded JSON follows the stored flag");
        let again = request(&req.token(cfg), orig.clone()).expect("a token we wrote decodes");
        assert_eq!(parts(&again), p, "a token round trip changed the request");

        let arg = js_string(input.until(b'|'));
        let call = input.byte() % 6;
        let done = match call {
            0 => {
                let answer = match input.byte() % 4 {
                    0 => Loaded::Missing,
                    1 => Loaded::Rejected,
                    // What the MemoryStore answers for a record a plan wrote (which passed the check).
                    3 if check_record(&arg).is_ok() => Loaded::Checked(arg.clone()),
                    _ => Loaded::Found(arg.clone()),
                };
                let valid_record = matches!(&answer, Loaded::Found(j) | Loaded::Checked(j) if check_record(j).is_ok());
                if req.loaded(cfg, answer, 1_700_000_000_000).is_ok() {
                    assert_eq!(req.next() == Next::Ready, valid_record, "adopted a record by its validity only");
                    original = req.clone().into_parts().original;
                }
                false
            }
            1 => {
                let _ = req.set_new_sid(arg);
                false
            }
            2 => {
                if let Ok(old) = req.regenerate(arg) {
                    assert_eq!(old, sid.clone().filter(|_| orig.is_some()), "only a stored id is destroyed");
                    if old.is_some() {
                        assert_eq!(req.replaced_sid(), old.as_deref(), "the plan will destroy the replaced id");
                    }
                    original = None;
                }
                false
            }
            _ => {
                let json = Some(arg).filter(|_| input.bool());
                let save = [None, Some(true), Some(false)][input.byte() as usize % 3];
                let replaced = input.bool();
                let caps = StoreCaps { compare_and_set: input.bool(), touch: input.bool() };
                let ending = Ending { json: json.as_deref(), save, replaced };
                if call == 3 {
                    let _ = req.decide(cfg, &ending);
                }
                let outcome = req.clone().finish(cfg, &ending, caps, input.bool(), 1_700_000_000_000);
                if let Ok(o) = outcome {
                    for (i, op) in o.ops.iter().enumerate() {
                        match op {
                            StoreOp::Save { sid: s, .. } | StoreOp::Merge { sid: s, .. } | StoreOp::Touch { sid: s, .. } => {
                                assert_eq!(Some(s.as_str()), req.sid(), "written under another id");
                                // Every record a plan writes passes the check (the MemoryStore then holds
                                // it as checked, and loads it without checking it again).
                                assert_eq!(check_record(json.as_deref().unwrap()), Ok(()), "saved an invalid record");
                                if let Some(stamped) = &o.json {
                                    assert_eq!(check_record(stamped), Ok(()), "saved an invalid record with the engine's times");
                                }
                                assert!(!matches!(op, StoreOp::Merge { .. }) || caps.compare_and_set, "merge without compare-and-set");
                                assert!(!matches!(op, StoreOp::Touch { .. }) || caps.touch, "touch without touch");
                            }
                            StoreOp::Destroy { sid: s } => {
                                let own = Some(s.as_str()) == req.sid();
                                let replaced_first = i == 0 && Some(s.as_str()) == req.replaced_sid();
                                assert!(own || replaced_first, "destroyed a foreign id");
                            }
                            StoreOp::IndexUser { sid: s, .. } => assert_eq!(Some(s.as_str()), req.sid(), "indexed another id"),
                            // A renewal's new id (renewInterval): never the request's own, and an alias record.
                            StoreOp::Alias { sid: s, json: a, .. } => {
                                assert!(is_valid_sid(s) && Some(s.as_str()) != req.sid(), "an alias under an invalid or the request's own id");
                                assert_eq!(check_record(a), Ok(()), "an invalid alias record");
                            }
                        }
                    }
                    for c in &o.set_cookies {
                        check_set_cookie(c, &allowed);
                    }
                }
                true
            }
        };
        if done {
            return;
        }
        t = req.token(cfg);
    }
}
