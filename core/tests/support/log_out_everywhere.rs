//! The engine with `userField` on a RedisStore (one server or a Cluster): five logins of ann,
//! one of bob; requests of ann's loaded before "log out everywhere" and committed after it
//! re-create nothing (a change and a forced save clear the cookies, a read does nothing); none
//! of ann's cookies loads a session afterwards, and bob's is untouched.
#![allow(dead_code)]

use koa_session_core::store::destroy_user_sessions;
use koa_session_core::store::redis::RedisStore;
use koa_session_core::{Engine, LoadReport, SessionConfig, Store};
use std::sync::Arc;

/// The Cookie header a browser sends back after these `Set-Cookie` values.
pub fn cookie_header(set_cookies: &[String]) -> Vec<u8> {
    set_cookies.iter().map(|c| c.split(';').next().unwrap()).collect::<Vec<_>>().join("; ").into_bytes()
}

/// `Set-Cookie` values that only clear the cookies (the session is gone).
pub fn clears_cookies(set_cookies: &[String]) -> bool {
    !set_cookies.is_empty() && set_cookies.iter().all(|c| c.contains("expires=Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// A login through the engine: a new session saved with `fields` (the user's among them)
/// added to its data; its id and the Cookie header that names it.
pub async fn login_with(engine: &Engine, fields: serde_json::Value) -> (String, Vec<u8>) {
    let mut s = engine.load(None, Some("/")).await.unwrap().unwrap();
    assert!(s.is_new());
    // The fresh session's JSON (its cookie field) with the fields added.
    let mut data: serde_json::Value = serde_json::from_str(s.json().unwrap()).unwrap();
    for (k, v) in fields.as_object().expect("an object") {
        data[k] = v.clone();
    }
    s.update_json(data.to_string()).unwrap();
    let sid = s.sid().to_owned();
    let cookies = engine.commit(s, false).await.unwrap();
    assert!(cookies.iter().any(|c| c.starts_with(&format!("koa.sid={sid};"))), "{cookies:?}");
    (sid, cookie_header(&cookies))
}

/// Runs the scenario on `store`; the caller checks the keys left (ann's index gone, bob's kept).
pub async fn engine_scenario(store: &RedisStore) {
    let config = SessionConfig::builder().keys(["redis-test-key"]).user_field(Some("passport.user".into())).build().unwrap();
    let engine = Engine::new(config, Arc::new(store.clone())).expect("a Redis store has what userField needs");
    let login = |user: &'static str, n: usize| login_with(&engine, serde_json::json!({ "passport": { "user": user }, "n": n }));
    let mut ann = Vec::new();
    for n in 0..5 {
        ann.push(login("ann", n).await);
    }
    let (bob_sid, bob_cookie) = login("bob", 0).await;
    let mut indexed: Vec<String> = store.user_index_entries("ann").await.unwrap().into_iter().map(|e| e.sid).collect();
    indexed.sort();
    let mut sids: Vec<String> = ann.iter().map(|(sid, _)| sid.clone()).collect();
    sids.sort();
    assert_eq!(indexed, sids, "every login indexed");

    // Requests of ann's first session, loaded before the logout and still in flight: one
    // changes a field, one saves it unchanged (sessionSave: a touch), one only reads it.
    let mut in_flight = Vec::new();
    for _ in 0..3 {
        let s = engine.load(Some(&ann[0].1), Some("/")).await.unwrap().unwrap();
        assert_eq!(s.load_report(), LoadReport::Loaded);
        in_flight.push(s);
    }
    let [mut changing, mut saving, reading] = <[_; 3]>::try_from(in_flight).unwrap();

    assert_eq!(destroy_user_sessions(store, "ann", None).await.unwrap(), 5);
    for (sid, _) in &ann {
        assert_eq!(store.get(sid).await.unwrap(), None);
    }

    // The in-flight requests finish: nothing written, cookies cleared.
    let mut data: serde_json::Value = serde_json::from_str(changing.json().unwrap()).unwrap();
    data["n"] = 99.into();
    changing.update_json(data.to_string()).unwrap();
    saving.set_save(Some(true));
    for s in [changing, saving] {
        let cookies = engine.commit(s, false).await.unwrap();
        assert!(clears_cookies(&cookies), "{cookies:?}");
        assert_eq!(store.get(&ann[0].0).await.unwrap(), None, "a request in flight re-created a destroyed session");
    }
    assert_eq!(engine.commit(reading, false).await.unwrap(), Vec::<String>::new(), "an unchanged session: nothing to do");
    assert_eq!(store.get(&ann[0].0).await.unwrap(), None);
    for (sid, cookie) in &ann {
        let s = engine.load(Some(cookie), Some("/")).await.unwrap().unwrap();
        assert_eq!(s.load_report(), LoadReport::Missing);
        assert!(s.is_new());
        assert_ne!(s.sid(), sid);
    }
    assert_eq!(store.user_index_entries("ann").await.unwrap(), []);
    let s = engine.load(Some(&bob_cookie), Some("/")).await.unwrap().unwrap();
    assert_eq!(s.load_report(), LoadReport::Loaded, "the other user's session is untouched");
    assert_eq!(s.sid(), bob_sid);
    assert_eq!(store.user_index_entries("bob").await.unwrap().len(), 1);
}
