//! The driver (used by the C API) end to end on a MemoryStore: a visitor's whole life.

use koa_session_core::request::LoadReport;
use koa_session_core::{Engine, EngineError, MemoryStore, SessionConfig, Store};
use std::sync::Arc;

fn cookie_header(set_cookies: &[String]) -> String {
    set_cookies.iter().map(|c| c.split(';').next().unwrap()).collect::<Vec<_>>().join("; ")
}

#[tokio::test]
async fn a_visitor_from_first_visit_to_logout() {
    let store = Arc::new(MemoryStore::default());
    let cfg = SessionConfig::builder().keys(["secret"]).build().unwrap();
    let engine = Engine::new(cfg, store.clone()).expect("engine");

    // First visit writes a counter.
    let mut s = engine.load(None, Some("/")).await.unwrap().unwrap();
    assert!(s.is_new());
    s.set_json(Some(r#"{"count":1}"#.into())).unwrap();
    let first_sid = s.sid().to_owned();
    let cookies = engine.commit(s, false).await.unwrap();
    assert_eq!(cookies.len(), 2);
    let header = cookie_header(&cookies);

    // Second visit reads it back.
    let mut s = engine.load(Some(header.as_bytes()), Some("/")).await.unwrap().unwrap();
    assert_eq!(s.load_report(), LoadReport::Loaded);
    assert_eq!(s.json(), Some(r#"{"count":1}"#));
    assert_eq!(s.sid(), first_sid);
    // Data that is not an object is refused and changes nothing.
    assert!(s.set_json(Some("[]".into())).is_err());
    assert_eq!(s.json(), Some(r#"{"count":1}"#));

    // Login regenerates: the old record goes at commit, the new id carries the data.
    engine.regenerate(&mut s).unwrap();
    s.set_json(Some(r#"{"user":"ann"}"#.into())).unwrap();
    let new_sid = s.sid().to_owned();
    assert_ne!(new_sid, first_sid);
    let cookies = engine.commit(s, false).await.unwrap();
    assert_eq!(store.get(&first_sid).await.unwrap(), None);
    assert_eq!(store.get(&new_sid).await.unwrap().as_deref(), Some(r#"{"user":"ann"}"#));
    let header = cookie_header(&cookies);

    // Logout destroys and clears both cookies.
    let mut s = engine.load(Some(header.as_bytes()), Some("/")).await.unwrap().unwrap();
    s.set_json(None).unwrap();
    let cookies = engine.commit(s, false).await.unwrap();
    assert_eq!(store.get(&new_sid).await.unwrap(), None);
    assert!(cookies.iter().all(|c| c.contains("expires=Thu, 01 Jan 1970 00:00:00 GMT")));
}

#[tokio::test]
async fn a_failing_generator_is_an_error_not_a_panic() {
    let cfg = SessionConfig::builder().build().unwrap();
    let engine = Engine::new(cfg, Arc::new(MemoryStore::default())).expect("engine").with_sid_generator(Arc::new(|| Err("no entropy".into())));
    let err = engine.load(None, None).await.unwrap_err();
    assert_eq!(err, EngineError::Sid("no entropy".into()));
    let bad = Engine::new(SessionConfig::builder().build().unwrap(), Arc::new(MemoryStore::default())).expect("engine")
        .with_sid_generator(Arc::new(|| Ok("has space".into())));
    assert!(matches!(bad.load(None, None).await, Err(EngineError::Request(_))));
}
