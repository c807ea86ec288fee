//! `request_machine`: the request state machine and the driver, run by random sequences of
//! requests against a store.
//!
//! Input: a sequence of requests. Each starts with a byte choosing the Cookie header (the
//! browser's jar, a forged id, the jar with a tampered signature, a raw header from the input,
//! none) and goes on with operations (set data, destroy, regenerate, the save override) until
//! a commit or an abandoned request. Invariants:
//! - a destroyed session is never saved: after its commit the store holds nothing under its
//!   id (nor under an id it was regenerated from);
//! - ids are never client-chosen: every id written to the store came from the engine's own
//!   generator, and a session's id is the jar's (issued) id or a new one;
//! - the store holds exactly what the session rules say after each commit, and every
//!   Set-Cookie value is well-formed.
//!
//! Written against today's `Engine`/`ActiveSession` API and kept small: when the end of a
//! request becomes a plan of store operations, this target only changes where it reads them.

use crate::input::Input;
use crate::oracle::{check_set_cookie, keygrip_sign, Allowed};
use koa_session_core::store::{MemoryStore, MemoryStoreOptions, StoreFuture};
use koa_session_core::{Engine, SessionConfig, Store};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &[u8] = b"machine key";

/// A MemoryStore that remembers every id written to it.
struct Recording {
    inner: MemoryStore,
    written: Mutex<Vec<String>>,
}

impl Store for Recording {
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { Ok(self.inner.get_sync(sid)) })
    }
    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        self.written.lock().unwrap().push(sid.to_owned());
        Box::pin(async move {
            self.inner.set_sync(sid, json, ttl);
            Ok(())
        })
    }
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.inner.destroy_sync(sid);
            Ok(())
        })
    }
}

const RECORDS: [&str; 6] = [r#"{"n":1}"#, r#"{"user":"ann","cart":[1,2]}"#, "{}", r#"{"cookie":{"maxAge":-1}}"#, r#"{"cookie":{"maxAge":5000,"secure":false}}"#, "[]"];

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let store = Arc::new(Recording { inner: MemoryStore::new(MemoryStoreOptions::default()), written: Mutex::new(Vec::new()) });
    let issued = Arc::new(Mutex::new(HashSet::new()));
    let gen = {
        let issued = Arc::clone(&issued);
        Arc::new(move || {
            let sid = koa_session_core::sid::generate_sid().map_err(|e| e.to_string())?;
            issued.lock().unwrap().insert(sid.clone());
            Ok(sid)
        })
    };
    let flags = input.byte();
    let cfg = SessionConfig::builder().keys([KEY]).rolling(flags & 1 != 0).allow_empty(flags & 2 != 0).build().unwrap();
    let engine = Engine::new(cfg, store.clone()).expect("engine").with_sid_generator(gen);
    let allowed = Allowed { names: &["koa.sid", "koa.sid.sig"], path: Some("/"), domain: None };
    let mut jar: Option<(String, String)> = None; // (koa.sid, koa.sid.sig) as the browser holds them

    for _ in 0..16 {
        if input.is_empty() {
            break;
        }
        let header = match input.byte() % 5 {
            0 => jar.as_ref().map(|(s, g)| format!("koa.sid={s}; koa.sid.sig={g}")),
            1 => {
                let forged = String::from_utf8_lossy(input.until(b'|')).into_owned();
                let sig = keygrip_sign(b"not our key", format!("koa.sid={forged}").as_bytes());
                Some(format!("koa.sid={forged}; koa.sid.sig={sig}"))
            }
            2 => jar.as_ref().map(|(s, g)| format!("koa.sid={s}; koa.sid.sig={}x", &g[..g.len().saturating_sub(1)])),
            3 => Some(String::from_utf8_lossy(input.until(b'|')).into_owned()),
            _ => None,
        };
        let Some(mut s) = rt.block_on(engine.load(header.as_deref().map(str::as_bytes), None)).unwrap() else { panic!("no path: always a session") };
        let loaded_sid = s.sid().to_owned();
        assert!(issued.lock().unwrap().contains(&loaded_sid), "session id {loaded_sid:?} was not made by the engine");
        let mut ids = vec![loaded_sid];
        let mut save = None;
        let commit = loop {
            match input.byte() % 8 {
                0 => break true,
                1 => break false, // the request failed: nothing written, nothing sent
                2 => {
                    let r = input.pick(&RECORDS);
                    assert_eq!(s.set_json(Some(r.to_owned())).is_ok(), r.starts_with('{'));
                }
                3 => s.set_json(None).unwrap(),
                4 => {
                    engine.regenerate(&mut s).unwrap();
                    ids.push(s.sid().to_owned());
                }
                5 => {
                    save = input.pick(&[None, Some(true), Some(false)]);
                    s.set_save(save);
                }
                _ => {
                    let n = input.byte();
                    s.set_json(Some(format!(r#"{{"n":{n}}}"#))).unwrap();
                }
            }
        };
        if !commit {
            continue;
        }
        let sid = s.sid().to_owned();
        let json = s.json().map(str::to_owned);
        let before = store.inner.get_sync(&sid);
        let cookies = rt.block_on(engine.commit(s, false)).expect("commit of a valid session");
        let after = store.inner.get_sync(&sid);
        for old in &ids[..ids.len() - 1] {
            assert_eq!(store.inner.get_sync(old), None, "a regenerated-away id kept its record");
        }
        match (&json, save) {
            (_, Some(false)) => assert_eq!(after, before, "sessionSave=false touched the store"),
            (None, _) => assert_eq!(after, None, "a destroyed session was saved"),
            (Some(j), _) => assert!(after.is_none() || after.as_deref() == Some(j.as_str()), "stored something else"),
        }
        for written in store.written.lock().unwrap().iter() {
            assert!(issued.lock().unwrap().contains(written), "the store got an id the engine never made: {written:?}");
        }
        for c in &cookies {
            let (name, value, _) = check_set_cookie(c, &allowed);
            let jar_entry = jar.get_or_insert_with(Default::default);
            match name {
                "koa.sid" => jar_entry.0 = value.to_owned(),
                _ => jar_entry.1 = value.to_owned(),
            }
            if name == "koa.sid" && !value.is_empty() {
                assert_eq!(value, sid, "the cookie names another session");
                assert!(json.is_some(), "a destroyed session sent its id");
            }
        }
    }
}
