//! `request_machine`: the request state machine and the driver, run by random sequences of
//! requests against a store, up to four of them in flight at once, with users and "log out
//! everywhere" (issue 19) when the fuzzer turns `userField` on.
//!
//! Input: a flags byte (rolling, allowEmpty, `userField` on, its path `user` or
//! `passport.user`, the store's compare-and-set and touch), then steps, one byte each (low
//! nibble: the step; bits 4-5: which of four request slots), with their arguments from the
//! following bytes: load a request in a slot (a browser's Cookie header: its jar, another
//! browser's jar, a forged id, a tampered signature, a raw header from the input, none), set
//! data, log a user in (a whole new record or the user field changed in place), log out in
//! place, destroy, regenerate, the save override, commit, abandon; `destroy_user_sessions`
//! now (with or without an `except` id), or armed to run in the middle of the next commit
//! (before its n-th store call, or once its store calls are done but before it is
//! acknowledged); `user_sessions`; a browser reloading with its jar. User ids come from a
//! small pool (`"ann"`, `"bob"`, `7` and `"7"`, which are one user, `"é"`, a 512-byte id), so
//! sessions of one user collide, and sometimes are invalid (`true`, an object, an array,
//! `""`, 513 bytes, a string where `passport` should be an object). Invariants:
//! - a destroyed session is never saved: after its commit the store holds nothing under its
//!   id (nor under an id it was regenerated from); with `userField`, a destroyed id (by a
//!   commit or by `destroy_user_sessions`) never holds a record again, whatever is in flight;
//! - ids are never client-chosen: every id written to the store (records and index entries)
//!   came from the engine's own generator, and a session's id is the jar's (issued) id or a
//!   new one; the index is written only under the committing session's own id and the user
//!   its data names, and exactly when the commit puts it under a user it was not stored under;
//! - the store holds exactly what the session rules say after each commit (unless another
//!   request changed the record since this one loaded it), and every Set-Cookie value is
//!   well-formed, names the session's own id and only when its record is stored;
//! - **log out everywhere**: every session committed (acknowledged) under user U before
//!   `destroy_user_sessions(U, except)` was called has no record once it returns (except
//!   `except`, which is left as it was), including sessions whose request was in flight
//!   (loaded before, committed after or during the call: that commit must not re-create it)
//!   and sessions whose user changed in place since; when it returns no live session but
//!   `except` names U; it leaves sessions never committed under U alone (the one whose commit
//!   is under way aside); its count is the number of records it ended; without `userField`
//!   it finds nothing;
//! - an invalid user id fails the commit with the user-id error naming the field, and
//!   nothing stored (records, index) changes; no stored record ever holds an invalid user id;
//! - `user_sessions(U)` lists exactly the live sessions whose record names U (by an oracle
//!   reading of the field independent of the engine's), each with its record as stored,
//!   oldest login first.

use crate::input::Input;
use crate::oracle::{check_set_cookie, keygrip_sign, record_user, Allowed};
use koa_session_core::store::{destroy_user_sessions, touch_by_rewrite, user_sessions, CasResult, IndexEntry, MemoryStore, MemoryStoreOptions, StoreFuture};
use koa_session_core::user_field::{check_user_id, UserField};
use koa_session_core::{ActiveSession, Engine, EngineError, RequestError, SessionConfig, Store};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const KEY: &[u8] = b"machine key";
const SLOTS: usize = 4;
const BROWSERS: usize = 3;

/// Every record, by id, that the store holds (`None`: no record), over every id the engine made.
type Records = BTreeMap<String, Option<String>>;

/// A `destroy_user_sessions` call and the store around it.
struct Destroyed {
    user: String,
    except: Option<String>,
    count: u64,
    before: Records,
    after: Records,
}

/// A `destroy_user_sessions` to run in the middle of the next commit.
struct Armed {
    /// Store calls of the commit to let through first (past its last one: after them all,
    /// before the commit is acknowledged).
    after_calls: u8,
    user: String,
    except: Option<String>,
}

/// A MemoryStore that remembers every id written to it, offers compare-and-set and touch as
/// the input says, and runs an armed `destroy_user_sessions` before one of a commit's calls.
struct Recording {
    inner: MemoryStore,
    cas: bool,
    touch: bool,
    issued: Arc<Mutex<HashSet<String>>>,
    written: Mutex<Vec<String>>,
    /// (user, sid) of every index entry added.
    indexed: Mutex<Vec<(String, String)>>,
    armed: Mutex<Option<Armed>>,
    fired: Mutex<Vec<Destroyed>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a call made of MemoryStore operations only, whose futures are ready when made.
fn at_once<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => panic!("a MemoryStore call did not finish at once"),
    }
}

impl Recording {
    /// Before each store call: the armed destroy runs when its turn comes.
    fn step(&self) {
        let mut armed = lock(&self.armed);
        let fire = match armed.as_mut() {
            Some(a) if a.after_calls == 0 => armed.take(),
            Some(a) => {
                a.after_calls -= 1;
                None
            }
            None => None,
        };
        drop(armed);
        if let Some(a) = fire {
            let d = self.destroy_user(a.user, a.except);
            lock(&self.fired).push(d);
        }
    }

    fn records(&self) -> Records {
        let ids: Vec<String> = lock(&self.issued).iter().cloned().collect();
        ids.into_iter()
            .map(|sid| {
                let r = self.inner.get_sync(&sid);
                (sid, r)
            })
            .collect()
    }

    fn index(&self, user: &str) -> Vec<IndexEntry> {
        at_once(self.inner.user_index_entries(user)).expect("a MemoryStore index")
    }

    /// `destroy_user_sessions` on the store itself (no hooks), with the records around it.
    fn destroy_user(&self, user: String, except: Option<String>) -> Destroyed {
        let before = self.records();
        let count = at_once(destroy_user_sessions(&self.inner, &user, except.as_deref())).expect("a MemoryStore destroy");
        let after = self.records();
        Destroyed { user, except, count, before, after }
    }
}

impl Store for Recording {
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>> {
        self.step();
        Box::pin(async move { Ok(self.inner.get_sync(sid)) })
    }
    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        self.step();
        lock(&self.written).push(sid.to_owned());
        Box::pin(async move {
            self.inner.set_sync(sid, json, ttl);
            Ok(())
        })
    }
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        self.step();
        Box::pin(async move {
            self.inner.destroy_sync(sid);
            Ok(())
        })
    }
    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        if !self.touch {
            return Box::pin(touch_by_rewrite(self, sid, ttl));
        }
        self.step();
        Box::pin(async move { Ok(self.inner.touch_sync(sid, ttl)) })
    }
    fn supports_touch(&self) -> bool {
        self.touch
    }
    fn compare_and_set<'a>(&'a self, sid: &'a str, expected: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, CasResult> {
        assert!(self.cas, "compare-and-set on a store that does not offer it");
        self.step();
        lock(&self.written).push(sid.to_owned());
        Box::pin(async move { Ok(self.inner.compare_and_set_sync(sid, expected, json, ttl)) })
    }
    fn supports_compare_and_set(&self) -> bool {
        self.cas
    }
    fn supports_user_index(&self) -> bool {
        true
    }
    fn user_index_add<'a>(&'a self, user: &'a str, sid: &'a str, since_ms: i64) -> StoreFuture<'a, u64> {
        self.step();
        lock(&self.indexed).push((user.to_owned(), sid.to_owned()));
        self.inner.user_index_add(user, sid, since_ms)
    }
    fn user_index_entries<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        self.step();
        self.inner.user_index_entries(user)
    }
    fn user_index_remove<'a>(&'a self, user: &'a str, sids: &'a [String]) -> StoreFuture<'a, ()> {
        self.step();
        self.inner.user_index_remove(user, sids)
    }
}

const RECORDS: [&str; 6] = [r#"{"n":1}"#, r#"{"user":"ann","cart":[1,2]}"#, "{}", r#"{"cookie":{"maxAge":-1}}"#, r#"{"cookie":{"maxAge":5000,"secure":false}}"#, "[]"];

/// User id values a session may hold (JSON), valid ones first: few, so sessions collide.
const WHO: [&str; 12] = [
    r#""ann""#,
    r#""bob""#,
    "7",
    r#""7""#,
    r#""\u00e9""#,
    "LONG",
    "null",
    "true",
    r#"{"id":"ann"}"#,
    r#"["ann"]"#,
    r#""""#,
    "TOO_LONG",
];
/// The users `destroy_user_sessions` and `user_sessions` are asked about.
fn users() -> [String; 5] {
    ["ann".into(), "bob".into(), "7".into(), "é".into(), "u".repeat(512)]
}

fn who(i: usize) -> Value {
    match WHO[i % WHO.len()] {
        "LONG" => Value::String("u".repeat(512)),
        "TOO_LONG" => Value::String("u".repeat(513)),
        v => serde_json::from_str(v).unwrap(),
    }
}

/// An id to keep in a destroy: a request's, a browser's, or none.
fn except(input: &mut Input, slots: &[Option<Flight>; SLOTS], jars: &[Option<(String, String)>; BROWSERS]) -> Option<String> {
    match input.byte() % 8 {
        0..=3 => slots[input.byte() as usize % SLOTS].as_ref().map(|f| f.s.sid().to_owned()),
        4..=5 => jars[input.byte() as usize % BROWSERS].as_ref().map(|j| j.0.clone()),
        _ => None,
    }
}

/// One request between its load and its commit.
struct Flight {
    s: ActiveSession,
    browser: usize,
    /// Its ids: the loaded one, then one per regenerate.
    ids: Vec<String>,
    save: Option<bool>,
    /// The record under its id when it was loaded (`None` after a regenerate).
    base: Option<String>,
    /// Its data when loaded (the loaded record for a stored session).
    orig: String,
}

struct Machine {
    users_on: bool,
    path: &'static [&'static str],
    field: UserField,
    store: Arc<Recording>,
    /// Per user: every id committed (acknowledged) under that user.
    acked: HashMap<String, HashSet<String>>,
    /// Ids that must never hold a record again.
    dead: HashSet<String>,
}

impl Machine {
    fn user(&self, json: &str) -> Result<Option<String>, &'static str> {
        record_user(json, self.path)
    }

    fn has_cookie_field(json: &str) -> bool {
        serde_json::from_str::<Map<String, Value>>(json).is_ok_and(|m| m.contains_key("cookie"))
    }

    /// The data with the user field set to `v` (`None`: removed, a logout), keeping the rest.
    fn with_user(&self, json: &str, v: Option<Value>, not_object: bool) -> String {
        let mut m: Map<String, Value> = serde_json::from_str(json).unwrap();
        match (self.path, v) {
            ([top], Some(v)) => {
                m.insert((*top).to_owned(), v);
            }
            ([top], None) => {
                m.remove(*top);
            }
            ([outer, _], Some(_)) if not_object => {
                m.insert((*outer).to_owned(), Value::String("ann".into()));
            }
            ([outer, inner], v) => {
                let mut o = match m.remove(*outer) {
                    Some(Value::Object(o)) => o,
                    _ => Map::new(),
                };
                match v {
                    Some(v) => o.insert((*inner).to_owned(), v),
                    None => o.remove(*inner),
                };
                m.insert((*outer).to_owned(), Value::Object(o));
            }
            _ => unreachable!(),
        }
        Value::Object(m).to_string()
    }

    /// Checks one `destroy_user_sessions` call; `pending`: the ids of the commit under way
    /// while it ran (not acknowledged yet).
    fn check_destroyed(&mut self, d: &Destroyed, pending: &[String]) {
        let ended = d.before.iter().filter(|(sid, r)| r.is_some() && d.after[*sid].is_none()).count() as u64;
        assert_eq!(d.count, ended, "destroy_user_sessions counted {} but ended {ended} records", d.count);
        if !self.users_on {
            assert_eq!(d.count, 0, "destroy_user_sessions found sessions without userField");
            assert_eq!(d.after, d.before, "destroy_user_sessions changed a store without userField");
            return;
        }
        let acked = self.acked.get(&d.user).cloned().unwrap_or_default();
        for sid in &acked {
            if Some(sid) == d.except.as_ref() {
                continue;
            }
            assert_eq!(d.after.get(sid).cloned().flatten(), None, "a session committed under {:?} survived destroy_user_sessions", d.user);
            self.dead.insert(sid.clone());
        }
        for (sid, r) in &d.after {
            if let Some(r) = r {
                if self.user(r) == Ok(Some(d.user.clone())) {
                    assert_eq!(Some(sid), d.except.as_ref(), "a live session still names {:?} after destroy_user_sessions", d.user);
                }
            }
        }
        if let Some(e) = &d.except {
            assert_eq!(d.after.get(e), d.before.get(e), "destroy_user_sessions touched its except session");
        }
        for (sid, r) in &d.before {
            if r.is_some() && !acked.contains(sid) && !pending.contains(sid) {
                assert_eq!(&d.after[sid], r, "destroy_user_sessions({:?}) ended a session never committed under that user", d.user);
            }
        }
    }

    /// After every step: destroyed ids hold nothing, and no record holds an invalid user.
    fn check_store(&self) {
        if !self.users_on {
            return;
        }
        for sid in &self.dead {
            assert_eq!(self.store.inner.get_sync(sid), None, "a destroyed session holds a record again");
        }
        for r in self.store.records().values().flatten() {
            assert!(self.user(r).is_ok(), "a record with an invalid user id was stored: {r}");
        }
    }

    fn check_user_sessions(&self, user: &str) {
        let listed = at_once(user_sessions(&self.store.inner, &self.field, user, koa_session_core::now_unix_ms())).expect("a MemoryStore listing");
        let records = self.store.records();
        let want: BTreeMap<&String, &String> = if self.users_on {
            records.iter().filter_map(|(sid, r)| r.as_ref().filter(|r| self.user(r) == Ok(Some(user.to_owned()))).map(|r| (sid, r))).collect()
        } else {
            BTreeMap::new()
        };
        let got: BTreeMap<&String, &String> = listed.iter().map(|u| (&u.sid, &u.json)).collect();
        assert_eq!(got.len(), listed.len(), "user_sessions listed a session twice");
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "user_sessions({user:?}) is not the live sessions naming the user");
        assert_eq!(got, want, "user_sessions gave a record other than the stored one");
        assert!(listed.windows(2).all(|w| w[0].since_ms <= w[1].since_ms), "user_sessions not oldest login first");
    }
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let issued = Arc::new(Mutex::new(HashSet::new()));
    let flags = input.byte();
    let users_on = flags & 4 != 0;
    let path: &'static [&'static str] = if flags & 8 != 0 { &["passport", "user"] } else { &["user"] };
    let dotted = path.join(".");
    let store = Arc::new(Recording {
        inner: MemoryStore::new(MemoryStoreOptions::default()),
        cas: users_on || flags & 16 != 0,
        touch: flags & 32 != 0,
        issued: Arc::clone(&issued),
        written: Mutex::new(Vec::new()),
        indexed: Mutex::new(Vec::new()),
        armed: Mutex::new(None),
        fired: Mutex::new(Vec::new()),
    });
    let gen = {
        let issued = Arc::clone(&issued);
        Arc::new(move || {
            let sid = koa_session_core::sid::generate_sid().map_err(|e| e.to_string())?;
            lock(&issued).insert(sid.clone());
            Ok(sid)
        })
    };
    let cfg = SessionConfig::builder()
        .keys([KEY])
        .rolling(flags & 1 != 0)
        .allow_empty(flags & 2 != 0)
        .user_field(users_on.then(|| dotted.clone()))
        .build()
        .unwrap();
    let engine = Engine::new(cfg, store.clone()).expect("engine").with_sid_generator(gen);
    let allowed = Allowed { names: &["koa.sid", "koa.sid.sig"], path: Some("/"), domain: None };
    let mut m = Machine { users_on, path, field: UserField::parse(&dotted).unwrap(), store: store.clone(), acked: HashMap::new(), dead: HashSet::new() };
    let mut jars: [Option<(String, String)>; BROWSERS] = Default::default(); // (koa.sid, koa.sid.sig) as each browser holds them
    let mut slots: [Option<Flight>; SLOTS] = Default::default();
    let mut armed: Option<Armed> = None;

    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let op = input.byte();
        let k = (op >> 4) as usize % SLOTS;
        match op & 15 {
            0 | 15 => {
                let browser = input.byte() as usize % BROWSERS;
                let reload = op & 15 == 15;
                let jar = |j: &Option<(String, String)>| j.as_ref().map(|(s, g)| format!("koa.sid={s}; koa.sid.sig={g}"));
                let header = match if reload { 0 } else { input.byte() % 6 } {
                    0 => jar(&jars[browser]),
                    1 => {
                        let forged = String::from_utf8_lossy(input.until(b'|')).into_owned();
                        let sig = keygrip_sign(b"not our key", format!("koa.sid={forged}").as_bytes());
                        Some(format!("koa.sid={forged}; koa.sid.sig={sig}"))
                    }
                    2 => jars[browser].as_ref().map(|(s, g)| format!("koa.sid={s}; koa.sid.sig={}x", &g[..g.len().saturating_sub(1)])),
                    3 => Some(String::from_utf8_lossy(input.until(b'|')).into_owned()),
                    4 => None,
                    _ => jar(&jars[input.byte() as usize % BROWSERS]),
                };
                let Some(s) = rt.block_on(engine.load(header.as_deref().map(str::as_bytes), None)).unwrap() else { panic!("no path: always a session") };
                let sid = s.sid().to_owned();
                assert!(lock(&issued).contains(&sid), "session id {sid:?} was not made by the engine");
                let base = store.inner.get_sync(&sid);
                assert_eq!(base.is_some(), !s.is_new(), "a stored session is not new, and only it");
                if let Some(b) = &base {
                    assert_eq!(s.json(), Some(b.as_str()), "loaded data other than the record");
                }
                if reload {
                    // The browser's own session, unless it is gone (never a destroyed one).
                    if let Some((jar_sid, _)) = &jars[browser] {
                        if m.users_on && m.dead.contains(jar_sid) {
                            assert!(s.is_new() && &sid != jar_sid, "a destroyed session was loaded again");
                        }
                        if store.inner.get_sync(jar_sid).is_some() {
                            assert_eq!(&sid, jar_sid, "the browser's live session was not loaded");
                        }
                    }
                    continue;
                }
                let orig = s.json().unwrap().to_owned();
                slots[k] = Some(Flight { s, browser, ids: vec![sid], save: None, base, orig });
            }
            1 => {
                let Some(f) = slots[k].take() else { continue };
                commit(&rt, &engine, &mut m, f, armed.take(), &mut jars, &allowed);
            }
            2 => slots[k] = None, // the request failed: nothing written, nothing sent
            12 => {
                let user = users()[input.byte() as usize % 5].clone();
                let except = except(&mut input, &slots, &jars);
                let d = store.destroy_user(user, except);
                m.check_destroyed(&d, &[]);
            }
            13 => {
                let after_calls = input.byte() % 6;
                let user = users()[input.byte() as usize % 5].clone();
                let except = except(&mut input, &slots, &jars);
                armed = Some(Armed { after_calls, user, except });
            }
            14 => {
                let user = users()[input.byte() as usize % 5].clone();
                m.check_user_sessions(&user);
                for bad in [String::new(), "u".repeat(513)] {
                    assert!(check_user_id(&bad).is_err());
                }
            }
            step => {
                let Some(f) = slots[k].as_mut() else { continue };
                let s = &mut f.s;
                match step {
                    3 => {
                        let r = input.pick(&RECORDS);
                        assert_eq!(s.set_json(Some(r.to_owned())).is_ok(), r.starts_with('{'));
                    }
                    4 => s.set_json(None).unwrap(),
                    5 => {
                        engine.regenerate(s).unwrap();
                        f.ids.push(s.sid().to_owned());
                        f.base = None;
                        f.orig = s.json().unwrap().to_owned();
                    }
                    6 => {
                        f.save = input.pick(&[None, Some(true), Some(false)]);
                        s.set_save(f.save);
                    }
                    7 => {
                        let n = input.byte();
                        s.set_json(Some(format!(r#"{{"n":{n}}}"#))).unwrap();
                    }
                    8 => {
                        // A login: the whole session replaced by one that names a user.
                        let (i, n) = (input.byte() as usize, input.byte());
                        let json = m.with_user(&format!(r#"{{"n":{n}}}"#), Some(who(i)), i % WHO.len() == 7);
                        s.set_json(Some(json)).unwrap();
                    }
                    9 | 11 => {
                        // The user changed in place (a login without a regenerate), or a logout.
                        let i = input.byte() as usize;
                        if let Some(json) = s.json() {
                            let v = match (step, i % 2) {
                                (9, _) => Some(who(i)),
                                (_, 0) => Some(Value::Null),
                                _ => None,
                            };
                            let json = m.with_user(json, v, step == 9 && i % WHO.len() == 7);
                            s.update_json(json).unwrap();
                        }
                    }
                    _ => {
                        // A change keeping the session's identity (merged into the record).
                        let n = input.byte();
                        if let Some(json) = s.json() {
                            let mut o: Map<String, Value> = serde_json::from_str(json).unwrap();
                            o.insert("n".into(), n.into());
                            s.update_json(Value::Object(o).to_string()).unwrap();
                        }
                    }
                }
            }
        }
        m.check_store();
    }
    // Anything armed and never run, and requests still in flight, simply end.
}

#[allow(clippy::too_many_arguments)]
fn commit(
    rt: &tokio::runtime::Runtime,
    engine: &Engine,
    m: &mut Machine,
    f: Flight,
    armed: Option<Armed>,
    jars: &mut [Option<(String, String)>; BROWSERS],
    allowed: &Allowed<'_>,
) {
    let store = Arc::clone(&m.store);
    let Flight { s, browser, ids, save, base, orig } = f;
    let sid = s.sid().to_owned();
    let json = s.json().map(str::to_owned);
    let is_new = s.is_new();
    let users_on = m.users_on;
    let user = json.as_deref().map(|j| m.user(j));
    let cookie_field = json.as_deref().is_some_and(Machine::has_cookie_field);
    // What the commit must do with users: fail (an invalid id), or index (a login).
    let saves = users_on && save != Some(false) && json.is_some() && !cookie_field;
    let must_fail = saves && matches!(user, Some(Err(_)));
    let orig_user = if is_new { None } else { m.user(&orig).ok().flatten() };
    let must_index = match &user {
        Some(Ok(Some(u))) if saves && orig_user.as_ref() != Some(u) => Some(u.clone()),
        _ => None,
    };
    let snapshot = matches!(user, Some(Err(_))).then(|| (store.records(), users().map(|u| store.index(&u))));
    let before = store.inner.get_sync(&sid);
    lock(&store.indexed).clear();
    *lock(&store.armed) = armed;
    let result = rt.block_on(engine.commit(s, false));
    let after = store.inner.get_sync(&sid);
    let records_after = store.records();
    let index_after = snapshot.is_some().then(|| users().map(|u| store.index(&u)));
    let indexed = std::mem::take(&mut *lock(&store.indexed));
    // Not run during the commit: run now, once its store calls are done but before it is
    // acknowledged.
    if let Some(a) = lock(&store.armed).take() {
        let d = store.destroy_user(a.user, a.except);
        lock(&store.fired).push(d);
    }
    for d in std::mem::take(&mut *lock(&store.fired)) {
        m.check_destroyed(&d, &ids);
    }
    let cookies = match result {
        Err(EngineError::Request(RequestError::UserId(e))) => {
            assert!(must_fail || (users_on && matches!(user, Some(Err(_)))), "a user-id error for a valid user: {e}");
            let msg = e.to_string();
            assert!(msg.contains(&format!("'{}'", m.path.join("."))), "the error does not name the field: {msg}");
            let (records, index) = snapshot.expect("an invalid user was expected");
            assert_eq!(records_after, records, "a commit refused for its user id changed a record");
            assert_eq!(index_after, Some(index), "a commit refused for its user id changed the index");
            assert!(indexed.is_empty());
            return;
        }
        Err(e) => panic!("commit of a valid session failed: {e}"),
        Ok(cookies) => cookies,
    };
    assert!(!must_fail, "a session with an invalid user id was saved");
    for (u, s) in &indexed {
        assert!(users_on, "a user index entry without userField");
        assert_eq!(s, &sid, "an index entry under another session's id");
        assert_eq!(user.as_ref(), Some(&Ok(Some(u.clone()))), "indexed under a user the data does not name");
    }
    assert!(indexed.len() <= 1, "indexed twice in one commit");
    if let Some(u) = must_index {
        assert_eq!(indexed, [(u, sid.clone())], "a login was not indexed first");
    } else if users_on && !cookie_field && save != Some(false) {
        assert!(indexed.is_empty(), "indexed though the user did not change");
    }
    for old in &ids[..ids.len() - 1] {
        assert_eq!(records_after[old], None, "a regenerated-away id kept its record");
        if users_on {
            m.dead.insert(old.clone());
        }
    }
    match (&json, save) {
        (_, Some(false)) => assert_eq!(after, before, "sessionSave=false touched the store"),
        (None, _) => {
            assert_eq!(after, None, "a destroyed session was saved");
            if users_on {
                m.dead.insert(sid.clone());
            }
        }
        // Unless another request changed the record since this one loaded it (a merge).
        (Some(j), _) if before == base => assert!(after.is_none() || after.as_deref() == Some(j.as_str()), "stored something else"),
        (Some(_), _) => {}
    }
    for written in lock(&store.written).iter() {
        assert!(lock(&store.issued).contains(written), "the store got an id the engine never made: {written:?}");
    }
    for c in &cookies {
        let (name, value, _) = check_set_cookie(c, allowed);
        let jar_entry = jars[browser].get_or_insert_with(Default::default);
        match name {
            "koa.sid" => jar_entry.0 = value.to_owned(),
            _ => jar_entry.1 = value.to_owned(),
        }
        if name == "koa.sid" && !value.is_empty() {
            assert_eq!(value, sid, "the cookie names another session");
            assert!(json.is_some(), "a destroyed session sent its id");
            assert!(records_after[&sid].is_some(), "a cookie names a session that is not stored");
        }
    }
    // Acknowledged: committed under its user.
    if let (Some(Ok(Some(u))), true, false) = (&user, users_on, save == Some(false)) {
        m.acked.entry(u.clone()).or_default().insert(sid.clone());
    }
}
