//! Table-driven tests of the life of a request (the README's Koa section, "On the context")
//! and of every bug of the original package that the state machine must not repeat. Each
//! case runs the real state machine against a real MemoryStore, as a host would.

use koa_session_core::request::{Decision, Ending, LoadReport, Loaded, Next, Outcome, SessionRequest, StoreCaps, StoreOp};
use koa_session_core::signing::Keys;
use koa_session_core::{MemoryStore, RequestError, SessionConfig};
use std::time::Duration;

const NOW: i64 = 1_795_198_123_456; // Fri, 20 Nov 2026 18:08:43 GMT
const SID: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const RECORD: &str = r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true},"user":"ann"}"#;

fn config() -> SessionConfig {
    SessionConfig::builder().keys(["new", "old"]).build().unwrap()
}

fn signed_cookie(key: &str, sid: &str) -> String {
    let sig = Keys::new([key]).unwrap().sign(format!("koa.sid={sid}").as_bytes());
    format!("koa.sid={sid}; koa.sid.sig={sig}")
}

/// What the application does with the session during the request.
#[derive(Clone, Copy, Debug)]
enum App {
    Nothing,
    Write(&'static str),
    Null,
    Regenerate,
    RegenerateThenWrite(&'static str),
}

#[derive(Debug)]
struct Done {
    report: Option<LoadReport>,
    sid: String,
    outcome: Result<Outcome, RequestError>,
    destroyed_by_regenerate: Option<String>,
}

/// Every store capability, or none: the plan must end in the same store state either way.
const CAPS: [StoreCaps; 2] = [StoreCaps { compare_and_set: false, touch: false }, StoreCaps { compare_and_set: true, touch: true }];

/// Executes a plan on a MemoryStore, as a host does (no concurrency here, so a merge is a write).
fn execute(store: &MemoryStore, outcome: &Outcome, json: Option<&str>) {
    for op in &outcome.ops {
        let ttl = Duration::from_millis(op.ttl_ms());
        match op {
            StoreOp::Destroy { sid } => store.destroy_sync(sid),
            StoreOp::Save { sid, .. } | StoreOp::Merge { sid, .. } => store.set_sync(sid, json.unwrap(), ttl),
            StoreOp::Touch { sid, .. } => assert!(store.touch_sync(sid, ttl)),
            StoreOp::IndexUser { user, sid } => store.index_user_session_sync(user, sid, 0).expect("index"),
            StoreOp::Alias { sid, json, .. } => store.set_sync(sid, json, ttl),
        }
    }
}

fn run(cfg: &SessionConfig, store: &MemoryStore, cookie: Option<&str>, app: App, save: Option<bool>, valid: bool) -> Done {
    run_with(cfg, store, cookie, app, save, valid, CAPS[0])
}

fn run_with(cfg: &SessionConfig, store: &MemoryStore, cookie: Option<&str>, app: App, save: Option<bool>, valid: bool, caps: StoreCaps) -> Done {
    let mut req = SessionRequest::begin(cfg, cookie.map(str::as_bytes), Some("/"), None).expect("in path");
    let mut report = None;
    let mut n = 0;
    loop {
        match req.next() {
            Next::Load(sid) => {
                let found = store.get_sync(sid);
                let loaded = match found {
                    Some(_) if !valid => Loaded::Rejected,
                    Some(j) => Loaded::Found(j),
                    None => Loaded::Missing,
                };
                report = Some(req.loaded(cfg, loaded, NOW).unwrap());
            }
            Next::NeedSid => {
                n += 1;
                req.set_new_sid(format!("generated-{n}-xxxxxxxxxxxxxxxxxxxxxx")).unwrap();
            }
            Next::Ready => break,
        }
    }
    let mut json = Some(req.session_json(cfg).into_owned());
    let mut destroyed_by_regenerate = None;
    match app {
        App::Nothing => {}
        App::Write(j) => json = Some(j.to_owned()),
        App::Null => json = None,
        App::Regenerate | App::RegenerateThenWrite(_) => {
            req.regenerate("regenerated-xxxxxxxxxxxxxxxxxxxxxx".into()).unwrap();
            // The old record is destroyed by the plan, at the end of the request.
            destroyed_by_regenerate = req.replaced_sid().map(str::to_owned);
            json = Some(req.session_json(cfg).into_owned());
            if let App::RegenerateThenWrite(j) = app {
                json = Some(j.to_owned());
            }
        }
    }
    let sid = req.sid().unwrap().to_owned();
    let outcome = req.finish(cfg, &Ending { json: json.as_deref(), save, replaced: false }, caps, false, NOW);
    if let Ok(o) = &outcome {
        if let Some(old) = &destroyed_by_regenerate {
            assert_eq!(o.ops.first(), Some(&StoreOp::Destroy { sid: old.clone() }), "the replaced record goes first");
        }
        execute(store, o, json.as_deref());
    }
    Done { report, sid, outcome, destroyed_by_regenerate }
}

fn names(cookies: &[String]) -> Vec<String> {
    cookies.iter().map(|c| c.split(';').next().unwrap().to_owned()).collect()
}

fn is_clearing(c: &str) -> bool {
    c.contains("=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cookies {
    None,
    /// Both cookies set to the session id and its signature.
    Set,
    /// Only `.sig`, re-signed with the current key.
    Resigned,
    /// Both cookies cleared.
    Cleared,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kept {
    Nothing,
    /// The store holds the request's (possibly new) sid with this JSON.
    Saved(&'static str),
    /// The record the request started with is unchanged.
    Original,
    /// No record for the cookie's sid any more.
    Gone,
}

#[derive(Clone)]
struct Case {
    name: &'static str,
    cfg: fn() -> SessionConfig,
    /// Record stored under SID before the request.
    stored: Option<&'static str>,
    cookie: Option<fn() -> String>,
    app: App,
    save: Option<bool>,
    valid: bool,
    report: Option<LoadReport>,
    new_sid: bool,
    cookies: Cookies,
    kept: Kept,
}

const CHANGED: &str = r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true},"user":"bob"}"#;
const FRESH_PLUS: &str = r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true},"n":1}"#;

fn good() -> String {
    signed_cookie("new", SID)
}
fn old_key() -> String {
    signed_cookie("old", SID)
}
fn tampered() -> String {
    signed_cookie("new", SID).replace("koa.sid.sig=", "koa.sid.sig=X")
}
fn unsigned() -> String {
    format!("koa.sid={SID}")
}
fn rolling() -> SessionConfig {
    SessionConfig::builder().keys(["new", "old"]).rolling(true).build().unwrap()
}
fn allow_empty() -> SessionConfig {
    SessionConfig::builder().keys(["new", "old"]).allow_empty(true).build().unwrap()
}

fn case(name: &'static str) -> Case {
    Case {
        name,
        cfg: config,
        stored: None,
        cookie: None,
        app: App::Nothing,
        save: None,
        valid: true,
        report: None,
        new_sid: true,
        cookies: Cookies::None,
        kept: Kept::Nothing,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // No cookie: a new session, written only when it changes (or allowEmpty / forced).
        Case { ..case("new visitor, untouched session: nothing written") },
        Case { app: App::Write(FRESH_PLUS), cookies: Cookies::Set, kept: Kept::Saved(FRESH_PLUS), ..case("new visitor writes: saved, cookie sent") },
        Case { cfg: allow_empty, cookies: Cookies::Set, kept: Kept::Saved("fresh"), ..case("allowEmpty saves an empty new session") },
        Case { save: Some(true), cookies: Cookies::Set, kept: Kept::Saved("fresh"), ..case("sessionSave=true forces a save") },
        Case { cfg: rolling, ..case("rolling never saves a new empty session") },
        Case { cfg: rolling, app: App::Write(FRESH_PLUS), cookies: Cookies::Set, kept: Kept::Saved(FRESH_PLUS), ..case("rolling saves a new session that changed") },
        Case { app: App::Null, ..case("null on a new session: nothing to destroy") },
        Case { save: Some(false), app: App::Write(FRESH_PLUS), ..case("sessionSave=false: nothing written for a new session") },
        // Returning visitor with a valid cookie.
        Case { stored: Some(RECORD), cookie: Some(good), report: Some(LoadReport::Loaded), new_sid: false, kept: Kept::Original, ..case("returning, unchanged: nothing written") },
        Case { stored: Some(RECORD), cookie: Some(good), app: App::Write(CHANGED), report: Some(LoadReport::Loaded), new_sid: false, cookies: Cookies::Set, kept: Kept::Saved(CHANGED), ..case("returning, changed: saved under the same id") },
        Case { stored: Some(RECORD), cookie: Some(good), app: App::Write(CHANGED), save: Some(false), report: Some(LoadReport::Loaded), new_sid: false, kept: Kept::Original, ..case("sessionSave=false keeps store and cookie untouched") },
        Case { stored: Some(RECORD), cookie: Some(good), app: App::Null, save: Some(false), report: Some(LoadReport::Loaded), new_sid: false, kept: Kept::Original, ..case("sessionSave=false even with null") },
        Case { stored: Some(RECORD), cookie: Some(good), save: Some(true), report: Some(LoadReport::Loaded), new_sid: false, cookies: Cookies::Set, kept: Kept::Saved(RECORD), ..case("sessionSave=true re-saves an unchanged session") },
        Case { cfg: rolling, stored: Some(RECORD), cookie: Some(good), report: Some(LoadReport::Loaded), new_sid: false, cookies: Cookies::Set, kept: Kept::Saved(RECORD), ..case("rolling re-saves and re-sends an unchanged session") },
        Case { stored: Some(RECORD), cookie: Some(good), app: App::Null, report: Some(LoadReport::Loaded), new_sid: false, cookies: Cookies::Cleared, kept: Kept::Gone, ..case("null destroys the record and clears both cookies") },
        // Signatures.
        Case { stored: Some(RECORD), cookie: Some(old_key), report: Some(LoadReport::Loaded), new_sid: false, cookies: Cookies::Resigned, kept: Kept::Original, ..case("older key: loaded, .sig re-signed") },
        Case { stored: Some(RECORD), cookie: Some(old_key), app: App::Write(CHANGED), report: Some(LoadReport::Loaded), new_sid: false, cookies: Cookies::Set, kept: Kept::Saved(CHANGED), ..case("older key and a change: both cookies with the new key") },
        Case { stored: Some(RECORD), cookie: Some(tampered), cookies: Cookies::Cleared, kept: Kept::Original, ..case("tampered signature: not loaded, stale cookies cleared") },
        Case { stored: Some(RECORD), cookie: Some(unsigned), cookies: Cookies::Cleared, kept: Kept::Original, ..case("missing signature: not loaded, stale cookie cleared") },
        Case { stored: Some(RECORD), cookie: Some(tampered), app: App::Write(FRESH_PLUS), cookies: Cookies::Set, kept: Kept::Saved(FRESH_PLUS), ..case("tampered signature then a write: a new id, never the cookie's") },
        // Records.
        Case { cookie: Some(good), report: Some(LoadReport::Missing), cookies: Cookies::Cleared, ..case("unknown id: not adopted, cookie cleared") },
        Case { cookie: Some(good), app: App::Write(FRESH_PLUS), report: Some(LoadReport::Missing), cookies: Cookies::Set, kept: Kept::Saved(FRESH_PLUS), ..case("unknown id then a write: saved under a new id") },
        Case { stored: Some(RECORD), cookie: Some(good), valid: false, report: Some(LoadReport::Rejected), cookies: Cookies::Cleared, kept: Kept::Original, ..case("valid() false: new session, old cookie cleared") },
        Case { stored: Some("{not json"), cookie: Some(good), report: Some(LoadReport::Corrupt), cookies: Cookies::Cleared, ..case("corrupt record: a miss, reported") },
        Case { stored: Some("[1,2,3]"), cookie: Some(good), report: Some(LoadReport::Corrupt), cookies: Cookies::Cleared, ..case("record that is not an object: a miss") },
        // Regenerate.
        Case { stored: Some(RECORD), cookie: Some(good), app: App::RegenerateThenWrite(RECORD), report: Some(LoadReport::Loaded), cookies: Cookies::Set, kept: Kept::Saved(RECORD), ..case("regenerate then the same data: saved under the new id") },
        Case { stored: Some(RECORD), cookie: Some(good), app: App::Regenerate, report: Some(LoadReport::Loaded), cookies: Cookies::Cleared, ..case("regenerate, left empty: old record gone, cookie cleared") },
        Case { app: App::RegenerateThenWrite(FRESH_PLUS), cookies: Cookies::Set, kept: Kept::Saved(FRESH_PLUS), ..case("regenerate a new session then write") },
    ]
}

#[test]
fn life_of_a_request() {
    for (c, caps) in cases().into_iter().flat_map(|c| CAPS.map(|caps| (c.clone(), caps))) {
        let cfg = (c.cfg)();
        let store = MemoryStore::default();
        if let Some(r) = c.stored {
            store.set_sync(SID, r, Duration::from_secs(60));
        }
        let cookie = c.cookie.map(|f| f());
        let done = run_with(&cfg, &store, cookie.as_deref(), c.app, c.save, c.valid, caps);
        let outcome = done.outcome.unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(done.report, c.report, "{}: load report", c.name);
        assert_eq!(done.sid != SID, c.new_sid, "{}: new sid? got {}", c.name, done.sid);
        let cookies = &outcome.set_cookies;
        let got = match cookies.len() {
            0 => Cookies::None,
            1 if cookies[0].starts_with("koa.sid.sig=") && !is_clearing(&cookies[0]) => Cookies::Resigned,
            2 if cookies.iter().all(|c| is_clearing(c)) => Cookies::Cleared,
            2 if cookies.iter().all(|c| !is_clearing(c)) => Cookies::Set,
            _ => panic!("{}: unexpected cookies {cookies:?}", c.name),
        };
        assert_eq!(got, c.cookies, "{}: cookies {cookies:?}", c.name);
        match got {
            Cookies::Set => {
                assert_eq!(names(cookies)[0], format!("koa.sid={}", done.sid), "{}", c.name);
                let sig = Keys::new(["new"]).unwrap().sign(format!("koa.sid={}", done.sid).as_bytes());
                assert_eq!(names(cookies)[1], format!("koa.sid.sig={sig}"), "{}: signed with the first key", c.name);
                assert!(cookies[0].contains("; expires=Sat, 21 Nov 2026 18:08:43 GMT; httponly"), "{}: {}", c.name, cookies[0]);
            }
            Cookies::Resigned => {
                let sig = Keys::new(["new"]).unwrap().sign(format!("koa.sid={SID}").as_bytes());
                assert_eq!(names(cookies)[0], format!("koa.sid.sig={sig}"), "{}", c.name);
            }
            Cookies::Cleared => assert_eq!(names(cookies), ["koa.sid=", "koa.sid.sig="], "{}", c.name),
            Cookies::None => {}
        }
        match c.kept {
            Kept::Nothing => {
                assert_eq!(store.get_sync(&done.sid), None, "{}: nothing stored under the new id", c.name);
                if c.stored.is_some() && c.report != Some(LoadReport::Corrupt) {
                    assert_eq!(store.get_sync(SID), None, "{}: old record destroyed", c.name);
                }
            }
            Kept::Saved(expected) => {
                let expected = if expected == "fresh" { cfg.fresh_session_json() } else { expected };
                assert_eq!(store.get_sync(&done.sid).as_deref(), Some(expected), "{}", c.name);
                if done.sid != SID && c.stored.is_some() && c.cookie.map(|f| f()) == Some(good()) && c.report == Some(LoadReport::Loaded) {
                    assert_eq!(store.get_sync(SID), None, "{}: old record destroyed", c.name);
                }
            }
            Kept::Original => assert_eq!(store.get_sync(SID).as_deref(), c.stored, "{}", c.name),
            Kept::Gone => assert_eq!(store.get_sync(SID), None, "{}", c.name),
        }
        if matches!(c.app, App::Regenerate | App::RegenerateThenWrite(_)) && c.report == Some(LoadReport::Loaded) {
            assert_eq!(done.destroyed_by_regenerate.as_deref(), Some(SID), "{}", c.name);
        }
    }
}

#[test]
fn outside_the_cookie_path_no_session() {
    let cfg = SessionConfig::builder().path(Some("/app".into())).build().unwrap();
    assert!(SessionRequest::begin(&cfg, Some(b"koa.sid=x"), Some("/apple"), None).is_none());
    assert!(SessionRequest::begin(&cfg, Some(b"koa.sid=x"), Some("/"), None).is_none());
    assert!(SessionRequest::begin(&cfg, None, Some("/app/x"), None).is_some());
    // The cookie is cleared with the configured path, not `/`.
    let mut req = SessionRequest::begin(&cfg, Some(b"koa.sid=unknownsid"), Some("/app"), None).unwrap();
    assert_eq!(req.next(), Next::Load("unknownsid"));
    req.loaded(&cfg, Loaded::Missing, NOW).unwrap();
    req.set_new_sid("n".repeat(32)).unwrap();
    let json = req.session_json(&cfg).into_owned();
    let out = req.finish(&cfg, &Ending::new(Some(&json)), StoreCaps::default(), false, NOW).unwrap();
    assert_eq!(out.set_cookies, ["koa.sid=; path=/app; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly"]);
}

#[test]
fn upstream_sid_wins_over_the_cookie() {
    let cfg = config();
    let req = SessionRequest::begin(&cfg, Some(good().as_bytes()), None, Some("upstream-id")).unwrap();
    assert_eq!(req.next(), Next::Load("upstream-id"));
    let req = SessionRequest::begin(&cfg, Some(good().as_bytes()), None, Some(SID)).unwrap();
    assert_eq!(req.next(), Next::Load(SID));
}

#[test]
fn unsigned_configuration_reads_plain_cookies() {
    let cfg = SessionConfig::builder().build().unwrap();
    let store = MemoryStore::default();
    store.set_sync(SID, RECORD, Duration::from_secs(60));
    let done = run(&cfg, &store, Some(&unsigned()), App::Write(CHANGED), None, true);
    assert_eq!(done.sid, SID);
    let out = done.outcome.unwrap();
    assert_eq!(out.set_cookies.len(), 1, "no .sig cookie when unsigned");
}

#[test]
fn per_session_cookie_sets_ttl_and_expiry() {
    let cfg = config();
    let remember = r#"{"cookie":{"httpOnly":true,"maxAge":2592000000,"path":"/"},"user":"ann"}"#;
    let mut req = SessionRequest::begin(&cfg, None, None, None).unwrap();
    req.set_new_sid(SID.into()).unwrap();
    let out = req.finish(&cfg, &Ending::new(Some(remember)), StoreCaps::default(), false, NOW).unwrap();
    assert_eq!(out.ops, [StoreOp::Save { sid: SID.into(), ttl_ms: 2_592_000_000 }]);
    assert!(out.set_cookies[0].contains("expires=Sun, 20 Dec 2026 18:08:43 GMT"), "{}", out.set_cookies[0]);

    let expired = r#"{"cookie":{"expires":"2000-01-01T00:00:00.000Z","maxAge":null}}"#;
    let mut req = SessionRequest::begin(&cfg, None, None, None).unwrap();
    req.set_new_sid(SID.into()).unwrap();
    let out = req.finish(&cfg, &Ending::new(Some(expired)), StoreCaps::default(), false, NOW).unwrap();
    assert_eq!(out.ops, [], "an already-expired session is not stored");
}

#[test]
fn errors_come_before_any_write() {
    let cfg = SessionConfig::builder().secure(true).build().unwrap();
    let mut req = SessionRequest::begin(&cfg, None, None, None).unwrap();
    req.set_new_sid(SID.into()).unwrap();
    let caps = StoreCaps::default();
    let err = req.clone().finish(&cfg, &Ending::new(Some(FRESH_PLUS)), caps, true, NOW).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("Cannot send secure cookie over unencrypted connection: "), "{text}");
    assert!(text.contains("cookieOptions.secure") && text.contains("X-Forwarded-Proto: https"), "{text}");
    assert!(req.clone().finish(&cfg, &Ending::new(Some(FRESH_PLUS)), caps, false, NOW).is_ok());
    let forced = Ending { json: Some("[]"), save: Some(true), replaced: false };
    assert_eq!(req.clone().finish(&cfg, &forced, caps, false, NOW).unwrap_err(), RequestError::NotAnObject);

    let mut bad = SessionRequest::begin(&cfg, None, None, None).unwrap();
    assert_eq!(bad.set_new_sid("a;b".into()).unwrap_err(), RequestError::InvalidSid);
    assert_eq!(bad.set_new_sid("a\r\nSet-Cookie: x".into()).unwrap_err(), RequestError::InvalidSid);
    assert_eq!(bad.clone().finish(&cfg, &Ending::new(Some("{}")), caps, false, NOW).unwrap_err(), RequestError::WrongStep);
    assert_eq!(bad.loaded(&cfg, Loaded::Missing, NOW).unwrap_err(), RequestError::WrongStep);
}

#[test]
fn before_save_hook_fits_between_decide_and_finish() {
    let cfg = config();
    let mut req = SessionRequest::begin(&cfg, None, None, None).unwrap();
    req.set_new_sid(SID.into()).unwrap();
    assert_eq!(req.decide(&cfg, &Ending::new(Some(FRESH_PLUS))), Decision::Save);
    let hooked = r#"{"n":1,"savedBy":"hook"}"#;
    let out = req.finish(&cfg, &Ending::new(Some(hooked)), StoreCaps::default(), false, NOW).unwrap();
    assert_eq!(out.ops, [StoreOp::Save { sid: SID.into(), ttl_ms: 86_400_000 }]);
}

/// The plan for a stored session: changed fields merge, unchanged data touches, a replaced or
/// regenerated session is written whole; without the capability, a whole write.
#[test]
fn plan_uses_merge_and_touch_where_the_store_has_them() {
    let cfg = rolling();
    let all = CAPS[1];
    let loaded = || {
        let mut req = SessionRequest::begin(&cfg, Some(good().as_bytes()), None, None).unwrap();
        req.loaded(&cfg, Loaded::Found(RECORD.to_owned()), NOW).unwrap();
        req
    };
    let op = |req: SessionRequest, json: &str, replaced: bool, caps: StoreCaps| {
        let out = req.finish(&cfg, &Ending { json: Some(json), save: None, replaced }, caps, false, NOW).unwrap();
        assert_eq!(out.set_cookies.len(), 2, "the cookie is sent as before");
        out.ops
    };
    let day = 86_400_000;
    assert_eq!(op(loaded(), CHANGED, false, all), [StoreOp::Merge { sid: SID.into(), ttl_ms: day }]);
    assert_eq!(op(loaded(), RECORD, false, all), [StoreOp::Touch { sid: SID.into(), ttl_ms: day }]);
    assert_eq!(op(loaded(), CHANGED, true, all), [StoreOp::Save { sid: SID.into(), ttl_ms: day }]);
    assert_eq!(op(loaded(), CHANGED, false, CAPS[0]), [StoreOp::Save { sid: SID.into(), ttl_ms: day }]);
    assert_eq!(op(loaded(), RECORD, false, CAPS[0]), [StoreOp::Save { sid: SID.into(), ttl_ms: day }]);
    let mut regenerated = loaded();
    regenerated.regenerate("regenerated-xxxxxxxxxxxxxxxxxxxxxx".into()).unwrap();
    assert_eq!(
        op(regenerated, CHANGED, false, all),
        [StoreOp::Destroy { sid: SID.into() }, StoreOp::Save { sid: "regenerated-xxxxxxxxxxxxxxxxxxxxxx".into(), ttl_ms: day }]
    );
}

/// Regenerate destroys the old record even when the request then touches nothing else.
#[test]
fn regenerate_destroys_the_old_record_whatever_follows() {
    let cfg = config();
    for (json, save) in [(Some(RECORD), Some(false)), (None, None), (Some(FRESH_PLUS), None)] {
        let mut req = SessionRequest::begin(&cfg, Some(good().as_bytes()), None, None).unwrap();
        req.loaded(&cfg, Loaded::Found(RECORD.to_owned()), NOW).unwrap();
        req.regenerate("regenerated-xxxxxxxxxxxxxxxxxxxxxx".into()).unwrap();
        let out = req.finish(&cfg, &Ending { json, save, replaced: false }, CAPS[1], false, NOW).unwrap();
        assert_eq!(out.ops.first(), Some(&StoreOp::Destroy { sid: SID.into() }), "{json:?} {save:?}");
    }
}

#[test]
fn hostile_cookie_headers_never_load_a_foreign_id() {
    let cfg = config();
    for header in [
        &b"koa.sid=a b; koa.sid.sig=x"[..],
        b"koa.sid=\xff\xfe",
        b"koa.sid=;koa.sid.sig=",
        b";;;;====;;;",
        b"koa.sid=" as &[u8],
    ] {
        let req = SessionRequest::begin(&cfg, Some(header), None, None).unwrap();
        assert_eq!(req.next(), Next::NeedSid, "{:?}", String::from_utf8_lossy(header));
    }
    let long = format!("koa.sid={}", "a".repeat(100_000));
    let req = SessionRequest::begin(&cfg, Some(long.as_bytes()), None, None).unwrap();
    assert_eq!(req.next(), Next::NeedSid);
}
