//! `session_record`: session JSON as the engine accepts, reads, changes and stores it.
//!
//! Input: a record's JSON text, optionally followed by a NUL byte and a JSON value to set as
//! a field. Invariants:
//! - `check_record` accepts exactly the JSON objects within the size and depth limits whose
//!   `cookie` field is an object or null (the oracle: serde_json's own parse into a `Value`
//!   and its depth, where that parse succeeds), and reports the first broken rule in the
//!   documented order (size, depth, object, cookie);
//! - an accepted record is readable and writable field by field: every top-level field
//!   reads back as its exact text, can be replaced and removed, and the result is accepted;
//! - an accepted record commits through the engine and reloads byte for byte as a loaded
//!   session (no later 500, no corrupt report);
//! - setting a field gives an accepted record holding the value written compact, or is
//!   refused exactly when the value is not JSON or the result would break a rule.

use crate::input::Input;
use koa_session_core::json_field::{get_field_raw, with_field, without_field};
use koa_session_core::limits::{MAX_DEPTH, MAX_RECORD_BYTES};
use koa_session_core::record::{check_record, session_cookie, RecordError};
use koa_session_core::store::{MemoryStore, MemoryStoreOptions};
use koa_session_core::{Engine, LoadReport, SessionConfig};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The verdict from serde_json's parse, when it can give one.
fn expected(json: &str) -> Option<Result<(), RecordError>> {
    if json.len() > MAX_RECORD_BYTES {
        return Some(Err(RecordError::TooLarge));
    }
    let v: Value = serde_json::from_str(json).ok()?;
    Some(if depth(&v) > MAX_DEPTH {
        Err(RecordError::TooDeep)
    } else {
        match v.get("cookie") {
            _ if !v.is_object() => Err(RecordError::NotAnObject),
            None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
            Some(_) => Err(RecordError::CookieNotAnObject),
        }
    })
}

fn engine() -> &'static (tokio::runtime::Runtime, Engine) {
    static E: OnceLock<(tokio::runtime::Runtime, Engine)> = OnceLock::new();
    E.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = Arc::new(MemoryStore::new(MemoryStoreOptions { max_entries: Some(64) }));
        let cfg = SessionConfig::builder().keys(["record key"]).build().unwrap();
        (rt, Engine::new(cfg, store).expect("engine"))
    })
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Ok(json) = std::str::from_utf8(input.until(0)) else { return };
    let value = std::str::from_utf8(input.rest()).ok().filter(|_| data.contains(&0));

    let verdict = check_record(json);
    if let Some(want) = expected(json) {
        assert_eq!(verdict, want, "check_record disagrees with serde_json for {json:?}");
    } else if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
        assert!(verdict.is_err(), "accepted text that is not JSON: {json:?}");
    }
    if verdict.is_err() {
        return;
    }

    // Every top-level field reads as its text and can be replaced and removed.
    let fields: BTreeMap<String, &RawValue> = serde_json::from_str(json).expect("an accepted record is an object");
    for (key, raw) in fields.iter().take(32) {
        assert_eq!(get_field_raw(json, key).unwrap().map(RawValue::get), Some(raw.get()), "field {key:?}");
        let replaced = with_field(json, key, "{}").unwrap_or_else(|e| panic!("cannot set {key:?} in an accepted record: {e}"));
        assert_eq!(check_record(&replaced), Ok(()));
        assert_eq!(get_field_raw(&replaced, key).unwrap().map(RawValue::get), Some("{}"));
        let removed = without_field(json, key).unwrap().expect("the field exists");
        assert_eq!(check_record(&removed), Ok(()));
        assert!(get_field_raw(&removed, key).unwrap().is_none());
    }
    session_cookie(json, &Default::default()).expect("an accepted record has cookie attributes");

    if let Some(value) = value {
        let set = with_field(json, "v", value);
        if let Ok(parsed) = serde_json::from_str::<Value>(value) {
            let compact = parsed.to_string();
            match &set {
                Ok(out) => {
                    assert_eq!(check_record(out), Ok(()));
                    assert_eq!(get_field_raw(out, "v").unwrap().map(RawValue::get), Some(compact.as_str()));
                }
                Err(RecordError::TooDeep) => assert!(depth(&parsed) >= MAX_DEPTH, "refused a value nested {}", depth(&parsed)),
                Err(RecordError::TooLarge) => assert!(json.len() + compact.len() > MAX_RECORD_BYTES - 8),
                Err(e) => panic!("refused {value:?} in {json:?}: {e}"),
            }
        } else {
            assert!(set.is_err(), "set a value that is not JSON: {value:?}");
        }
    }

    // Commit, then reload it with the cookie the commit sent.
    let (rt, engine) = engine();
    let cookie = rt.block_on(async {
        let mut s = engine.load(None, None).await.unwrap().unwrap();
        s.set_json(Some(json.to_owned())).expect("set_json refuses an accepted record");
        let cookies = engine.commit(s, false).await.expect("an accepted record fails to commit");
        cookies.iter().map(|c| c.split(';').next().unwrap().to_owned()).collect::<Vec<_>>().join("; ")
    });
    if cookie.split("; ").next() == Some("koa.sid=") {
        return; // its own cookie said it had expired: cleared, not stored
    }
    rt.block_on(async {
        let s = engine.load(Some(cookie.as_bytes()), None).await.unwrap().unwrap();
        assert_eq!(s.load_report(), LoadReport::Loaded, "an accepted, committed record does not reload");
        assert_eq!(s.json(), Some(json));
        engine.store().destroy(s.sid()).await.unwrap();
    });
}
