//! `node_args`: what the Node addon decodes from JavaScript strings between calls.
//!
//! The addon (node-binding) is a cdylib that needs a Node environment, so its Rust code is
//! not reachable as a library. `token`/`request` below are node-binding/src/calls.rs's token
//! encoding and decoding, copied verbatim (keep them in step, or re-point this target when
//! the decoding moves into core); everything they call is core's, as in the addon.
//!
//! Input: a token string, a NUL, the loaded record (`original`, absent when empty), a NUL,
//! then calls as the JS middleware makes them (`requestLoaded`, `requestSetSid`,
//! `requestRegenerate`, `requestDecide`, `requestComplete`, `requestFinish`), each with
//! arguments from the input. Invariants:
//! - a token either is refused with an error or decodes to a request that re-encodes to a
//!   token decoding to the same request (no state is lost or invented between calls);
//! - the id in a decoded request is always a valid id, and a stored record always comes
//!   with its JSON;
//! - whatever the arguments, a store write is only ever a valid record under the request's
//!   own id, and every Set-Cookie value is well-formed.

use crate::input::Input;
use crate::oracle::{check_set_cookie, Allowed};
use koa_session_core::record::check_record;
use koa_session_core::request::STATE_CODES;
use koa_session_core::sid::is_valid_sid;
use koa_session_core::{Decision, Loaded, Next, SessionConfig, SessionRequest, StoreAction};
use std::sync::OnceLock;

// ---- copied from node-binding/src/calls.rs ----
fn token(req: &SessionRequest, cfg: &SessionConfig) -> String {
    let step = match req.next() {
        Next::Load(_) => 'L',
        Next::NeedSid => 'N',
        Next::Ready if req.quiet_when_unchanged(cfg) => 'Q',
        Next::Ready => 'R',
    };
    let sid = req.sid().unwrap_or("");
    let mut t = String::with_capacity(2 + sid.len());
    t.push(step);
    t.push(char::from(b'@' + req.state_code()));
    t.push_str(sid);
    t
}

fn request(token: &str, original: Option<String>) -> Result<SessionRequest, String> {
    let b = token.as_bytes();
    if b.len() < 2 || !b[0].is_ascii() || !b[1].is_ascii() || !(b'@'..b'@' + STATE_CODES).contains(&b[1]) {
        return Err("not a session request token".into());
    }
    let sid = Some(&token[2..]).filter(|s| !s.is_empty()).map(str::to_owned);
    SessionRequest::from_parts(b[1] - b'@', sid, original).map_err(|e| e.to_string())
}
// ---- end of the copy ----

fn config() -> &'static SessionConfig {
    static C: OnceLock<SessionConfig> = OnceLock::new();
    C.get_or_init(|| SessionConfig::builder().keys(["node key"]).build().unwrap())
}

fn parts(req: &SessionRequest) -> (u8, Option<String>, Option<String>) {
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
        let (code, sid, orig) = parts(&req);
        assert!(code < STATE_CODES);
        if let Some(s) = &sid {
            assert!(is_valid_sid(s), "decoded an invalid id {s:?}");
        }
        assert_eq!(orig, original.clone().filter(|_| code & 4 != 0), "the loaded JSON follows the stored flag");
        let again = request(&token(&req, cfg), orig.clone()).expect("a token we wrote decodes");
        assert_eq!(parts(&again), (code, sid.clone(), orig.clone()), "a token round trip changed the request");

        let arg = js_string(input.until(b'|'));
        let call = input.byte() % 6;
        let done = match call {
            0 => {
                let answer = match input.byte() % 3 {
                    0 => Loaded::Missing,
                    1 => Loaded::Rejected,
                    _ => Loaded::Found(arg.clone()),
                };
                let valid_record = matches!(&answer, Loaded::Found(j) if check_record(j).is_ok());
                if req.loaded(answer).is_ok() {
                    assert_eq!(req.next() == Next::Ready, valid_record, "adopted a record by its validity only");
                    original = req.clone().into_parts().2;
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
                    original = None;
                }
                false
            }
            _ => {
                let json = Some(arg).filter(|_| input.bool());
                let save = [None, Some(true), Some(false)][input.byte() as usize % 3];
                let outcome = if call == 3 {
                    let d = req.decide(cfg, json.as_deref(), save);
                    let d = [d, Decision::Save, Decision::Destroy, Decision::Nothing][input.byte() as usize % 4];
                    req.clone().complete(cfg, d, json.as_deref(), input.bool(), 1_700_000_000_000)
                } else {
                    req.clone().finish(cfg, json.as_deref(), save, input.bool(), 1_700_000_000_000)
                };
                if let Ok(o) = outcome {
                    match &o.store {
                        StoreAction::Save { sid: s, json: j, .. } => {
                            assert_eq!(Some(s), req.sid().map(str::to_owned).as_ref(), "saved under another id");
                            assert_eq!(check_record(j), Ok(()), "saved an invalid record");
                        }
                        StoreAction::Destroy { sid: s } => assert_eq!(Some(s.as_str()), req.sid()),
                        StoreAction::None => {}
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
        t = token(&req, cfg);
    }
}
