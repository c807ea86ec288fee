//! `c_api`: the C API driven by random call sequences, NULLs and invalid UTF-8 included.
//!
//! Input: a configuration prefix, then one call per byte (with its arguments from the
//! following bytes) on up to four session handles. Invariants:
//! - no call panics (`KS_RESULT_PANIC`) or reports a broken invariant (`KS_RESULT_INTERNAL`);
//!   NULL handles and out-pointers give NULL_PARAMETER, invalid UTF-8 gives INVALID_UTF8;
//! - handle rules hold: a committed session answers SESSION_FINISHED, a destroyed one
//!   SESSION_DESTROYED for its data, and a failed call changes nothing;
//! - data set is data read back (`set_json` then `json_copy`, `set_field` then `get_field`
//!   as compact JSON), data over the limits is refused with INVALID_JSON and a `cookie`
//!   that is not an object with INVALID_COOKIE_ATTRIBUTE, and whatever was accepted commits;
//! - every Set-Cookie value is well-formed;
//! - every handle is freed at the end (run under valgrind by `make fuzz-c-api-leaks`).

use crate::input::Input;
use crate::oracle::{check_set_cookie, Allowed};
use koa_session::*;
use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

const BAD_UTF8: &CStr = c"\xff\xfe";
const NAMES: [&CStr; 4] = [c"views", c"cookie", c"user", c"\xc3"];

fn ok(r: ks_result) -> bool {
    assert!(r != ks_result::Panic && r != ks_result::Internal, "{r:?}");
    r == ks_result::Ok
}

unsafe fn json_of(s: *const ks_session) -> Option<String> {
    let (mut p, mut len): (*const c_char, usize) = (null(), 0);
    if !ok(ks_session_json(s, &mut p, &mut len)) {
        return None;
    }
    let copy = std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec();
    // The borrowed text and the copy agree.
    let mut buf = vec![0 as c_char; len + 1];
    let mut got = 0;
    assert!(ok(ks_session_json_copy(s, buf.as_mut_ptr(), buf.len(), &mut got)));
    assert_eq!(got, len);
    assert_eq!(std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len), &copy[..]);
    Some(String::from_utf8(copy).expect("session data is UTF-8"))
}

unsafe fn field(s: *const ks_session, key: &CStr) -> Result<String, ks_result> {
    let mut need = 0;
    let r = ks_session_get_field(s, key.as_ptr(), null_mut(), 0, &mut need);
    if r != ks_result::InsufficientSize {
        ok(r);
        return Err(r);
    }
    let mut buf = vec![0 as c_char; need + 1];
    let mut got = 0;
    assert!(ok(ks_session_get_field(s, key.as_ptr(), buf.as_mut_ptr(), buf.len(), &mut got)));
    assert_eq!(got, need);
    Ok(String::from_utf8(std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), got).to_vec()).unwrap())
}

fn deep(depth: usize) -> String {
    format!("{{\"d\":{}{}}}", "[".repeat(depth.saturating_sub(1)), "]".repeat(depth.saturating_sub(1)))
}

pub fn run(data: &[u8]) {
    unsafe { run_unsafe(data) }
}

unsafe fn run_unsafe(data: &[u8]) {
    let mut input = Input::new(data);
    let b = ks_config_builder_new();
    assert!(!b.is_null());
    let flags = input.byte();
    if flags & 1 != 0 {
        ok(ks_config_builder_add_key(b, b"c key".as_ptr(), 5));
    }
    if flags & 2 != 0 {
        ok(ks_config_builder_set_rolling(b, true));
    }
    let mut cookie_name = "koa.sid".to_owned();
    if flags & 4 != 0 {
        // A hostile cookie name from the input: refused unless valid.
        let name = std::ffi::CString::new(input.until(b'|').iter().map(|&c| c.max(1)).collect::<Vec<u8>>()).unwrap();
        if ok(ks_config_builder_set_cookie_name(b, name.as_ptr())) {
            cookie_name = name.into_string().expect("an accepted name is ASCII");
        }
    }
    let sig_name = format!("{cookie_name}.sig");
    let mut store = null_mut();
    assert!(ok(ks_memory_store_new(input.byte() as usize % 3, &mut store)));
    let mut engine = null_mut();
    let engine_ok = ok(ks_engine_new(b, store, &mut engine));
    assert_eq!(engine_ok, !engine.is_null());
    assert_eq!(ks_engine_new(null(), store, &mut engine), ks_result::NullParameter);
    ks_config_builder_free(b);
    ks_store_free(store);

    let mut sessions: [*mut ks_session; 4] = [null_mut(); 4];
    let mut finished = [false; 4];
    let mut jar: Vec<u8> = Vec::new();
    let mut steps = 0;
    while !input.is_empty() && steps < 64 {
        steps += 1;
        let op = input.byte();
        let slot = (op >> 5) as usize % 4;
        let s = sessions[slot];
        match op % 16 {
            0 => {
                // Load, with the jar, a raw header from the input, or NULL/zero-length.
                let header: Vec<u8> = match input.byte() % 3 {
                    0 => jar.clone(),
                    1 => input.until(b'|').to_vec(),
                    _ => Vec::new(),
                };
                let mut out = null_mut();
                let path = input.pick(&[null(), c"/".as_ptr(), BAD_UTF8.as_ptr()]);
                let r = ks_session_load(engine, if header.is_empty() { null() } else { header.as_ptr() }, header.len(), path, &mut out);
                if engine.is_null() {
                    assert_eq!(r, ks_result::NullParameter);
                } else if path == BAD_UTF8.as_ptr() {
                    assert_eq!(r, ks_result::InvalidUtf8);
                } else {
                    assert!(ok(r) && !out.is_null(), "{r:?}");
                    ks_session_free(sessions[slot]);
                    sessions[slot] = out;
                    finished[slot] = false;
                }
            }
            1 => {
                ks_session_free(s);
                sessions[slot] = null_mut();
            }
            2 => {
                let json = String::from_utf8_lossy(input.until(b'|')).into_owned();
                let before = json_of(s);
                let r = ks_session_set_json(s, json.as_ptr().cast(), json.len());
                let want = koa_session_core::record::check_record(&json);
                if s.is_null() {
                    assert_eq!(r, ks_result::NullParameter);
                } else if finished[slot] {
                    assert_eq!(r, ks_result::SessionFinished);
                } else if let Err(e) = want {
                    assert_eq!(r, ks_result::from(e), "{json:?}");
                    assert_eq!(json_of(s), before, "a refused set_json changed the data");
                } else {
                    assert!(ok(r));
                    assert_eq!(json_of(s).as_deref(), Some(json.as_str()));
                }
            }
            3 => {
                // Data at and over the depth limit, and a `cookie` that is not an object.
                let (json, want) = match input.byte() % 4 {
                    0 => (deep(koa_session_core::limits::MAX_DEPTH), ks_result::Ok),
                    1 => (deep(koa_session_core::limits::MAX_DEPTH + 1), ks_result::InvalidJson),
                    2 => (deep(20_000), ks_result::InvalidJson),
                    _ => (r#"{"cookie":5}"#.to_owned(), ks_result::InvalidCookieAttribute),
                };
                let r = ks_session_set_json(s, json.as_ptr().cast(), json.len());
                if !s.is_null() && !finished[slot] {
                    assert_eq!(r, want, "{}", &json[..json.len().min(40)]);
                }
            }
            4 => {
                let key = input.pick(&NAMES);
                let value = String::from_utf8_lossy(input.until(b'|')).into_owned();
                let before = json_of(s);
                let r = ks_session_set_field(s, key.as_ptr(), value.as_ptr().cast(), value.len());
                if ok(r) {
                    let compact = serde_json::from_str::<serde_json::Value>(&value).unwrap().to_string();
                    assert_eq!(field(s, key), Ok(compact));
                } else {
                    assert_eq!(json_of(s), before, "a refused set_field changed the data");
                }
            }
            5 => {
                let key = input.pick(&NAMES);
                let r = ks_session_get_field(s, key.as_ptr(), null_mut(), 0, null_mut());
                let bad_key = key.to_str().is_err() && !s.is_null();
                assert!(r == ks_result::NullParameter || (bad_key && r == ks_result::InvalidUtf8), "{r:?}");
                let _ = field(s, key);
            }
            6 => {
                let key = input.pick(&NAMES);
                if ok(ks_session_remove_field(s, key.as_ptr())) {
                    assert_eq!(field(s, key), Err(ks_result::NotFound));
                }
            }
            7 => {
                if ok(ks_session_mark_destroyed(s)) {
                    assert!(ks_session_is_destroyed(s));
                    let mut need = 0;
                    assert_eq!(ks_session_get_field(s, c"views".as_ptr(), null_mut(), 0, &mut need), ks_result::SessionDestroyed);
                }
            }
            8 => {
                ok(ks_session_regenerate(s));
            }
            9 => {
                let mode = input.byte() as u32 % 4;
                let r = ks_session_set_save(s, mode);
                if !s.is_null() && !finished[slot] {
                    assert_eq!(r == ks_result::InvalidArgument, mode == 3);
                }
            }
            10 => {
                let mut cookies = null_mut();
                let r = ks_session_commit(s, input.bool(), &mut cookies);
                if ok(r) {
                    finished[slot] = true;
                    let allowed = Allowed { names: &[&cookie_name, &sig_name], path: Some("/"), domain: None };
                    let n = ks_set_cookies_count(cookies);
                    let mut sent = Vec::new();
                    for i in 0..n {
                        let (mut p, mut len) = (null(), 0);
                        assert!(ok(ks_set_cookies_get(cookies, i, &mut p, &mut len)));
                        let c = std::str::from_utf8(std::slice::from_raw_parts(p.cast::<u8>(), len)).unwrap();
                        check_set_cookie(c, &allowed);
                        sent.push(c.split(';').next().unwrap().to_owned());
                    }
                    assert_eq!(ks_set_cookies_get(cookies, n, &mut null(), &mut 0), ks_result::OutOfRange);
                    ks_set_cookies_free(cookies);
                    if !sent.is_empty() {
                        jar = sent.join("; ").into_bytes();
                    }
                    assert_eq!(ks_session_commit(s, false, &mut cookies), ks_result::SessionFinished);
                } else {
                    assert!(cookies.is_null(), "an out-parameter written on failure");
                    assert!(
                        s.is_null() || finished[slot] || r == ks_result::SecureCookieOverHttp,
                        "commit failed: {r:?}"
                    );
                }
            }
            11 => {
                let (mut p, mut len) = (null(), 0);
                if ok(ks_session_id(s, &mut p, &mut len)) {
                    assert_eq!(CStr::from_ptr(p).to_bytes().len(), len);
                }
                let _ = ks_session_is_new(s);
                let _ = ks_session_load_report(s);
            }
            12 => {
                // Invalid UTF-8 and NULL arguments are errors, never crashes.
                if !s.is_null() && !finished[slot] {
                    assert_eq!(ks_session_set_field(s, BAD_UTF8.as_ptr(), c"1".as_ptr(), 1), ks_result::InvalidUtf8);
                    assert_eq!(ks_session_set_json(s, BAD_UTF8.as_ptr(), 2), ks_result::InvalidUtf8);
                    assert_eq!(ks_session_set_json(s, null(), 5), ks_result::NullParameter);
                    assert_eq!(ks_session_remove_field(s, null()), ks_result::NullParameter);
                }
                assert_eq!(ks_session_json(s, null_mut(), null_mut()), ks_result::NullParameter);
            }
            13 => {
                let mut buf = [0 as c_char; 64];
                let mut len = 0;
                let r = ks_last_error_message(buf.as_mut_ptr(), input.byte() as usize % 65, &mut len);
                assert!(matches!(r, ks_result::Ok | ks_result::InsufficientSize), "{r:?}");
                let _ = CStr::from_ptr(ks_result_message(input.byte() as u32));
            }
            14 => {
                // A loaded session handle used after the engine handle is gone keeps working.
                ks_engine_free(engine);
                engine = null_mut();
            }
            _ => {
                let (mut p, mut len) = (null(), 0);
                assert_eq!(ks_set_cookies_get(null(), 0, &mut p, &mut len), ks_result::NullParameter);
                assert_eq!(ks_set_cookies_count(null()), 0);
                ks_set_cookies_free(null_mut());
                ks_session_free(null_mut());
            }
        }
    }
    for s in sessions {
        ks_session_free(s);
    }
    ks_engine_free(engine);
}
