//! The depth and size policy end to end on the driver: data over a limit is refused when set,
//! data at the limit commits and reloads, and a stored record over a limit (or with a
//! `cookie` field that is not an object) loads as a new session reported Corrupt, so every
//! later request works (issue: a 20,000-deep record used to load, then fail every request).

use koa_session_core::limits::{MAX_DEPTH, MAX_RECORD_BYTES};
use koa_session_core::record::RecordError;
use koa_session_core::request::LoadReport;
use koa_session_core::{Engine, MemoryStore, RequestError, SessionConfig, Store};
use std::sync::Arc;
use std::time::Duration;

fn nested(depth: usize) -> String {
    format!("{{\"d\":{}{}}}", "[".repeat(depth - 1), "]".repeat(depth - 1))
}

fn cookie_header(set_cookies: &[String]) -> String {
    set_cookies.iter().map(|c| c.split(';').next().unwrap()).collect::<Vec<_>>().join("; ")
}

fn engine() -> (Arc<MemoryStore>, Engine) {
    let store = Arc::new(MemoryStore::default());
    let cfg = SessionConfig::builder().keys(["limits"]).build().unwrap();
    (store.clone(), Engine::new(cfg, store).expect("engine"))
}

#[tokio::test]
async fn over_a_limit_is_refused_when_set_and_at_the_limit_round_trips() {
    let (_, engine) = engine();
    let mut s = engine.load(None, None).await.unwrap().unwrap();
    let refused = |e| Err(RequestError::InvalidRecord(e));
    assert_eq!(s.set_json(Some(nested(MAX_DEPTH + 1))), refused(RecordError::TooDeep));
    assert_eq!(s.set_json(Some(nested(1_000_000))), refused(RecordError::TooLarge));
    assert_eq!(s.set_json(Some(format!(r#"{{"b":"{}"}}"#, "x".repeat(MAX_RECORD_BYTES)))), refused(RecordError::TooLarge));
    assert_eq!(s.set_json(Some(r#"{"cookie":5}"#.into())), refused(RecordError::CookieNotAnObject));
    assert_eq!(s.set_json(Some("[]".into())), Err(RequestError::NotAnObject));
    assert_eq!(s.json(), Some(engine.config().fresh_session_json()), "refusals change nothing");

    let at = nested(MAX_DEPTH);
    s.set_json(Some(at.clone())).unwrap();
    let header = cookie_header(&engine.commit(s, false).await.unwrap());
    let s = engine.load(Some(header.as_bytes()), None).await.unwrap().unwrap();
    assert_eq!(s.load_report(), LoadReport::Loaded);
    assert_eq!(s.json(), Some(at.as_str()));
}

#[tokio::test]
async fn a_stored_record_over_a_limit_is_corrupt_and_later_requests_work() {
    for bad in [nested(20_000), nested(MAX_DEPTH + 1), format!(r#"{{"b":"{}"}}"#, "x".repeat(MAX_RECORD_BYTES)), r#"{"cookie":5,"n":1}"#.to_owned(), r#"{"cookie":[]}"#.to_owned()] {
        let (store, engine) = engine();
        let mut s = engine.load(None, None).await.unwrap().unwrap();
        s.set_json(Some(r#"{"n":1}"#.into())).unwrap();
        let sid = s.sid().to_owned();
        let header = cookie_header(&engine.commit(s, false).await.unwrap());
        store.set(&sid, &bad, Duration::from_secs(60)).await.unwrap();

        let mut s = engine.load(Some(header.as_bytes()), None).await.unwrap().unwrap();
        assert_eq!(s.load_report(), LoadReport::Corrupt, "{}", &bad[..bad.len().min(30)]);
        assert!(s.is_new());
        assert_ne!(s.sid(), sid, "never the id the corrupt record was under");
        s.set_json(Some(r#"{"n":2}"#.into())).unwrap();
        let header = cookie_header(&engine.commit(s, false).await.unwrap());
        let s = engine.load(Some(header.as_bytes()), None).await.unwrap().unwrap();
        assert_eq!((s.load_report(), s.json()), (LoadReport::Loaded, Some(r#"{"n":2}"#)));
    }
}
