//! The engine with `userField` on a RedisStore (one server or a Cluster): five logins of ann,
//! one of bob; requests of ann's loaded before "log out everywhere" and committed after it
//! re-create nothing (a change and a forced save clear the cookies, a read does nothing); none
//! of ann's cookies loads a session afterwards, and bob's is untouched. And the same at store
//! level, on one server or a Cluster.
#![allow(dead_code)]

use koa_session_core::store::redis::RedisStore;
use koa_session_core::store::{destroy_user_sessions, index_user_session, user_sessions};
use koa_session_core::user_field::UserField;
use koa_session_core::{Engine, LoadReport, SessionConfig, Store, StoreOperator};
use std::sync::Arc;
use std::time::Duration;

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

/// A session record of `user` as passport keeps it (`userField: 'passport.user'`).
pub fn passport(user: &str) -> String {
    format!(r#"{{"passport":{{"user":"{user}"}}}}"#)
}

/// Store level, as the engine indexes logins: five sessions of ann (`ann-0`..`ann-4`, indexed
/// at `now` + i ms) and one of bob (`bob-0`); returns ann's ids.
pub async fn seed_two_users(store: &RedisStore, now: i64) -> Vec<String> {
    let ttl = Duration::from_secs(600);
    let ann: Vec<String> = (0..5).map(|i| format!("ann-{i}")).collect();
    for (i, sid) in ann.iter().enumerate() {
        index_user_session(store, "ann", sid, now + i as i64).await.unwrap();
        store.set(sid, &passport("ann"), ttl).await.unwrap();
    }
    index_user_session(store, "bob", "bob-0", now).await.unwrap();
    store.set("bob-0", &passport("bob"), ttl).await.unwrap();
    ann
}

/// After [`seed_two_users`]: ann's sessions listed in login order, then "log out everywhere"
/// but `ann-2` ends exactly the other four; bob's session and index are untouched.
pub async fn list_then_destroy_all_but_one(store: &RedisStore, ann: &[String], now: i64) {
    let field = UserField::parse("passport.user").unwrap();
    let listed = user_sessions(store, &field, "ann", now + 10).await.unwrap();
    assert_eq!(listed.iter().map(|u| u.sid.as_str()).collect::<Vec<_>>(), ann);
    assert!(listed.iter().enumerate().all(|(i, u)| u.json == passport("ann") && u.since_ms == now + i as i64));

    assert_eq!(destroy_user_sessions(store, "ann", Some("ann-2")).await.unwrap(), 4);
    for sid in ann {
        assert_eq!(store.get(sid).await.unwrap().is_some(), sid == "ann-2", "{sid}");
    }
    assert_eq!(store.get("bob-0").await.unwrap().as_deref(), Some(passport("bob").as_str()));
    let left = store.user_index_entries("ann").await.unwrap();
    assert_eq!(left.iter().map(|e| (e.sid.as_str(), e.since_ms)).collect::<Vec<_>>(), [("ann-2", now + 2)]);
    assert_eq!(store.user_index_entries("bob").await.unwrap().len(), 1);
    assert_eq!(store.length().await.unwrap(), 2);
}
