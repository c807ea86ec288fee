//! `request_machine`: the request state machine and the driver, run by random sequences of
//! requests against a store, up to four of them in flight at once, with users and "log out
//! everywhere" (issue 19) when the fuzzer turns `userField` on, and session lifetimes (issue
//! 20: idle and absolute timeouts, id renewal with a grace) on a clock the input advances.
//!
//! Input: a flags byte (rolling, allowEmpty, `userField` on, its path `user` or
//! `passport.user`, the store's compare-and-set and touch; 64: lifetimes, 128: the store keeps
//! records past their TTL), with lifetimes four option bytes (idleTimeout, absoluteTimeout / 4,
//! renewInterval, renewGrace, in ms, 0 off or default), then steps, one byte each (low
//! nibble: the step; bits 4-5: which of four request slots; with lifetimes bits 6-7 advance
//! the clock first by the next byte times 1, 16 or 256 ms), with their arguments from the
//! following bytes: load a request in a slot (a browser's Cookie header: its jar, another
//! browser's jar, a forged id, a tampered signature, a raw header from the input, none, and
//! with lifetimes the id the browser held before its current one), set data, log a user in (a
//! whole new record or the user field changed in place), log out in place, destroy,
//! regenerate, the save override, commit, abandon; `destroy_user_sessions` now (with or
//! without an `except` id), or armed to run in the middle of the next commit (before its n-th
//! store call, or once its store calls are done but before it is acknowledged);
//! `user_sessions`; a browser reloading with its jar. User ids come from a small pool
//! (`"ann"`, `"bob"`, `7` and `"7"`, which are one user, `"é"`, a 512-byte id), so sessions of
//! one user collide, and sometimes are invalid (`true`, an object, an array, `""`, 513 bytes,
//! a string where `passport` should be an object). Without the lifetimes flag an input means
//! what it meant before issue 20. Invariants:
//! - a destroyed session is never saved: after its commit the store holds nothing under its
//!   id (nor under an id it was regenerated from); with `userField`, a destroyed id (by a
//!   commit or by `destroy_user_sessions`) never holds a record again, whatever is in flight;
//! - ids are never client-chosen: every id written to the store (records, aliases and index
//!   entries) came from the engine's own generator, and a session's id is the jar's (issued)
//!   id or a new one; the index is written only under the committing session's own id and the
//!   user its data names, and exactly when the commit puts it under a user it was not stored
//!   under;
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
//!
//! **Lifetimes** (the model is `oracle::SessionLives`, fed only with what the engine
//! acknowledged: the commits, and the store calls each made):
//! - no load returns a session past its absolute deadline (its first write + absoluteTimeout)
//!   nor past its idle one counted from the latest write of its record, nor a session that
//!   was ended (logout, regenerate, an expired load's commit, `destroy_user_sessions`), with
//!   any of its ids; a load through an id a renewal replaced only within its grace; and the
//!   application never sees the engine's times;
//! - every session that is surely live (before its absolute deadline, and before the idle
//!   deadline of the activity it surely holds: its creation, every change or renewal, and
//!   `load - idle/2` of every request committed) loads through its current id and through
//!   every id in its grace, and a graced id loads the same session and data as the current
//!   id; a commit destroys a stored session only when it was logged out, regenerated, found
//!   expired, or its deadline or cookie lifetime may have passed, and a renewal's alias only
//!   once its grace is over;
//! - a renewal happens exactly when one is due (the id in the cookie is older than
//!   renewInterval) and the request writes its session: an alias record of the session under
//!   a new id from the generator, the record naming it current, the cookie naming it; a
//!   request through a replaced id renews nothing and gets the current id's cookie;
//! - the record's times are the model's: created kept, activity between the bounds above,
//!   the current id and when it was issued, and the ids in grace with their ends, through
//!   concurrent renewals (the one stored first stands; one stored later from the id it
//!   replaced takes its id, and that request's own alias never loads: one session, one id);
//! - no change is lost: after every commit the record's data (without the times) is what the
//!   acknowledged commits say, each request's changes applied to what the others left (a
//!   request that replaced its whole session while renewal is off and no user index is kept
//!   writes it whole, by design), including changes made through a replaced id in its grace
//!   and concurrent with the renewing request;
//! - the store's TTL never outlives the record's deadline, and never ends it before both its
//!   deadline and its cookie's lifetime (a store that honours TTLs would lose a live session).

use crate::input::Input;
use crate::oracle::{
    alias_target, app_data, apply_changes, changes, check_set_cookie, cookie_ttl_ms, keygrip_sign, record_times, record_user, signed_id, Allowed, IdStanding,
    SessionLives,
};
use koa_session_core::store::{destroy_user_sessions, touch_by_rewrite, user_sessions, CasResult, IndexEntry, MemoryStore, MemoryStoreOptions, StoreFuture};
use koa_session_core::user_field::{check_user_id, UserField};
use koa_session_core::{ActiveSession, Engine, EngineError, LoadReport, RequestError, SessionConfig, Store};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const KEY: &[u8] = b"machine key";
const SLOTS: usize = 4;
const BROWSERS: usize = 3;
/// The clock's start (unix ms, December 2026); the input advances it with lifetimes on.
const START_MS: i64 = 1_795_198_123_456;

/// Open engine findings (README.md, findings/request_machine/) a run may be told to look past:
/// `KS_FUZZ_KNOWN=stale-ttl,graced-refresh,alias-ttl,blind-save,alias-shaped-data`
/// (comma-separated). Unset
/// (the corpus replay, `make test`): every invariant holds strictly.
fn known(finding: &str) -> bool {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| std::env::var("KS_FUZZ_KNOWN").map(|v| v.split(',').map(|s| s.trim().to_owned()).collect()).unwrap_or_default()).iter().any(|k| k == finding)
}

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

fn ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// The records of a store whose clock is the engine's (the target's), so that TTLs run out
/// when the input advances it, and only then. A store that `keeps_expired` returns records
/// past their TTL (one that cleans up lazily): the engine must enforce its deadlines from the
/// record alone. The user index is a MemoryStore's (it keeps no TTL).
struct SimStore {
    /// id → (record, expires at).
    records: Mutex<BTreeMap<String, (String, i64)>>,
    clock: Arc<AtomicI64>,
    keeps_expired: bool,
    index: MemoryStore,
}

impl SimStore {
    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }
    fn live(&self, expires_at: i64) -> bool {
        self.keeps_expired || expires_at > self.now()
    }
    fn get_sync(&self, sid: &str) -> Option<String> {
        lock(&self.records).get(sid).filter(|(_, at)| self.live(*at)).map(|(j, _)| j.clone())
    }
    /// The record and its expiry, expired or not.
    fn raw(&self, sid: &str) -> Option<(String, i64)> {
        lock(&self.records).get(sid).cloned()
    }
    fn set_sync(&self, sid: &str, json: &str, ttl: Duration) {
        if ttl.is_zero() {
            return self.destroy_sync(sid);
        }
        let at = self.now().saturating_add(ms(ttl));
        lock(&self.records).insert(sid.to_owned(), (json.to_owned(), at));
    }
    fn destroy_sync(&self, sid: &str) {
        lock(&self.records).remove(sid);
    }
    fn touch_sync(&self, sid: &str, ttl: Duration) -> bool {
        let at = self.now().saturating_add(ms(ttl));
        let mut records = lock(&self.records);
        match records.get_mut(sid) {
            Some(e) if self.live(e.1) => {
                e.1 = at;
                true
            }
            _ => false,
        }
    }
    fn compare_and_set_sync(&self, sid: &str, expected: &str, json: &str, ttl: Duration) -> CasResult {
        let at = self.now().saturating_add(ms(ttl));
        let mut records = lock(&self.records);
        match records.get(sid) {
            Some((_, e)) if !self.live(*e) => {
                records.remove(sid);
                CasResult::Missing
            }
            None => CasResult::Missing,
            Some((j, _)) if j != expected => CasResult::Changed(j.clone()),
            Some(_) if ttl.is_zero() => {
                records.remove(sid);
                CasResult::Stored
            }
            Some(_) => {
                records.insert(sid.to_owned(), (json.to_owned(), at));
                CasResult::Stored
            }
        }
    }
}

impl Store for SimStore {
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { Ok(self.get_sync(sid)) })
    }
    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.set_sync(sid, json, ttl);
            Ok(())
        })
    }
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.destroy_sync(sid);
            Ok(())
        })
    }
    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move { Ok(self.touch_sync(sid, ttl)) })
    }
    fn supports_touch(&self) -> bool {
        true
    }
    fn compare_and_set<'a>(&'a self, sid: &'a str, expected: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, CasResult> {
        Box::pin(async move { Ok(self.compare_and_set_sync(sid, expected, json, ttl)) })
    }
    fn supports_compare_and_set(&self) -> bool {
        true
    }
    fn supports_user_index(&self) -> bool {
        true
    }
    fn user_index_add<'a>(&'a self, user: &'a str, sid: &'a str, since_ms: i64) -> StoreFuture<'a, u64> {
        self.index.user_index_add(user, sid, since_ms)
    }
    fn user_index_entries<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        self.index.user_index_entries(user)
    }
    fn user_index_remove<'a>(&'a self, user: &'a str, sids: &'a [String]) -> StoreFuture<'a, ()> {
        self.index.user_index_remove(user, sids)
    }
}

/// A store call a commit made that changed something (in order).
#[derive(Clone, Debug)]
enum Call {
    Set { sid: String, json: String, ttl: i64 },
    /// A compare-and-set that stored.
    Cas { sid: String, ttl: i64 },
    /// A touch that found its record.
    Touch { sid: String, ttl: i64 },
    Destroy { sid: String },
}

impl Call {
    fn sid(&self) -> &str {
        match self {
            Call::Set { sid, .. } | Call::Cas { sid, .. } | Call::Touch { sid, .. } | Call::Destroy { sid } => sid,
        }
    }
}

/// A store that remembers every id written to it and every call that changed it, offers
/// compare-and-set and touch as the input says, and runs an armed `destroy_user_sessions`
/// before one of a commit's calls.
struct Recording {
    inner: SimStore,
    cas: bool,
    touch: bool,
    issued: Arc<Mutex<HashSet<String>>>,
    written: Mutex<Vec<String>>,
    /// (user, sid) of every index entry added.
    indexed: Mutex<Vec<(String, String)>>,
    armed: Mutex<Option<Armed>>,
    fired: Mutex<Vec<Destroyed>>,
    calls: Mutex<Vec<Call>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a call made of store operations only, whose futures are ready when made.
fn at_once<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => panic!("a store call did not finish at once"),
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
        let count = at_once(destroy_user_sessions(&self.inner, &user, except.as_deref())).expect("a store destroy");
        let after = self.records();
        Destroyed { user, except, count, before, after }
    }

    fn log(&self, call: Call) {
        lock(&self.calls).push(call);
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
            self.log(Call::Set { sid: sid.to_owned(), json: json.to_owned(), ttl: ms(ttl) });
            Ok(())
        })
    }
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        self.step();
        Box::pin(async move {
            self.inner.destroy_sync(sid);
            self.log(Call::Destroy { sid: sid.to_owned() });
            Ok(())
        })
    }
    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        if !self.touch {
            return Box::pin(touch_by_rewrite(self, sid, ttl));
        }
        self.step();
        Box::pin(async move {
            let found = self.inner.touch_sync(sid, ttl);
            if found {
                self.log(Call::Touch { sid: sid.to_owned(), ttl: ms(ttl) });
            }
            Ok(found)
        })
    }
    fn supports_touch(&self) -> bool {
        self.touch
    }
    fn compare_and_set<'a>(&'a self, sid: &'a str, expected: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, CasResult> {
        assert!(self.cas, "compare-and-set on a store that does not offer it");
        self.step();
        lock(&self.written).push(sid.to_owned());
        Box::pin(async move {
            let r = self.inner.compare_and_set_sync(sid, expected, json, ttl);
            if r == CasResult::Stored {
                self.log(Call::Cas { sid: sid.to_owned(), ttl: ms(ttl) });
            }
            Ok(r)
        })
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
/// With the lifetimes flag, also sessions that try to forge the engine's times or an alias
/// (with lifetimes on the engine replaces them with its own).
const RECORDS_LIFE: [&str; 9] = [
    RECORDS[0],
    RECORDS[1],
    RECORDS[2],
    RECORDS[3],
    RECORDS[4],
    RECORDS[5],
    r#"{"n":2,"_ks":{"created":0,"active":0}}"#,
    r#"{"_ks":{"of":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#,
    r#"{"n":3,"_ks":1}"#,
];

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

/// A browser's cookies: (koa.sid, koa.sid.sig) as it holds them.
type Jar = Option<(String, String)>;

/// An id to keep in a destroy: a request's, a browser's, or none.
fn except(input: &mut Input, slots: &[Option<Flight>; SLOTS], jars: &[Jar; BROWSERS]) -> Option<String> {
    match input.byte() % 8 {
        0..=3 => slots[input.byte() as usize % SLOTS].as_ref().map(|f| f.s.sid().to_owned()),
        4..=5 => jars[input.byte() as usize % BROWSERS].as_ref().map(|j| j.0.clone()),
        _ => None,
    }
}

/// The Cookie header a browser sends for its jar.
fn jar_header(j: &Jar) -> Option<String> {
    j.as_ref().map(|(s, g)| format!("koa.sid={s}; koa.sid.sig={g}"))
}

/// A Cookie header naming `id`, signed with the target's key.
fn signed_header(id: &str) -> String {
    format!("koa.sid={id}; koa.sid.sig={}", keygrip_sign(KEY, format!("koa.sid={id}").as_bytes()))
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
    /// When it was loaded.
    at: i64,
    /// The application replaced its whole session (`set_json`) since it was loaded or regenerated.
    replaced: bool,
    /// Lifetimes: the id the loaded session's cookie carried when it loaded (a stored session).
    current: Option<String>,
    /// Lifetimes: a renewal was due when it loaded.
    renew_due: bool,
    /// Lifetimes: it loaded through an id a renewal replaced (in its grace).
    graced: bool,
    /// Lifetimes: the key of the record it found expired (its commit destroys it).
    expired: Option<String>,
}

struct Machine {
    users_on: bool,
    path: &'static [&'static str],
    field: UserField,
    store: Arc<Recording>,
    clock: Arc<AtomicI64>,
    /// Per user: every id committed (acknowledged) under that user.
    acked: HashMap<String, HashSet<String>>,
    /// Ids that must never hold a record again.
    dead: HashSet<String>,
    /// Lifetimes on: the model of every session's deadlines, ids and data.
    lives: Option<SessionLives>,
}

impl Machine {
    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

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
        let ended: Vec<&String> = d.before.iter().filter(|(sid, r)| r.is_some() && d.after[*sid].is_none()).map(|(sid, _)| sid).collect();
        assert_eq!(d.count, ended.len() as u64, "destroy_user_sessions counted {} but ended {} records", d.count, ended.len());
        if let Some(l) = self.lives.as_mut() {
            // Every id of those sessions (renewals' included) is over.
            for sid in &ended {
                l.end(sid);
            }
        }
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
        if let Some(l) = &self.lives {
            for key in &l.ended {
                assert!(self.store.inner.raw(key).is_none(), "an ended session holds a record again (re-created by a request in flight)");
            }
        }
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
        let listed = at_once(user_sessions(&self.store.inner, &self.field, user, self.now())).expect("a store listing");
        let records = self.store.records();
        let want: BTreeMap<&String, &String> = if self.users_on {
            records.iter().filter_map(|(sid, r)| r.as_ref().filter(|r| self.user(r) == Ok(Some(user.to_owned()))).map(|r| (sid, r))).collect()
        } else {
            BTreeMap::new()
        };
        let got: BTreeMap<&String, &String> = listed.iter().map(|u| (&u.sid, &u.json)).collect();
        assert_eq!(got.len(), listed.len(), "user_sessions listed a session twice");
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "user_sessions({user:?}) is not the live sessions naming the user");
        for (sid, json) in &got {
            // The record as stored, or as the app sees it (without the engine's times).
            let stored = want[sid];
            let without_times = || !serde_json::from_str::<Map<String, Value>>(json).is_ok_and(|m| m.contains_key(crate::oracle::TIMES_KEY));
            let same = json == &stored || (record_times(stored).is_some() && without_times() && app_data(json) == app_data(stored));
            assert!(same, "user_sessions gave a record other than the stored one: {json} for {stored}");
        }
        assert!(listed.windows(2).all(|w| w[0].since_ms <= w[1].since_ms), "user_sessions not oldest login first");
    }

    /// Lifetimes: what a load through a cookie carrying `x` (validly signed) at `t` may and must
    /// return. Returns, for the request: the id its session's cookie carries now (a stored
    /// session), whether a renewal is due, and the key of a record it found expired.
    fn check_load(&self, rt: &tokio::runtime::Runtime, engine: &Engine, s: &ActiveSession, x: Option<&str>, t: i64) -> (Option<String>, bool, bool, Option<String>) {
        let l = self.lives.as_ref().expect("lifetimes on");
        let standing = x.and_then(|x| l.standing(x, t));
        if !s.is_new() {
            let key = s.sid();
            assert!(!l.ended.contains(key), "an ended session loaded again (logout, regenerate, expiry or destroy_user_sessions)");
            let (of, st) = standing.expect("a stored session loaded through an id the engine never gave it");
            assert_eq!(of, key, "a cookie's id loaded another session's record");
            assert!(l.may_load(key, t), "a session loaded past its idle or absolute deadline");
            assert_ne!(st, IdStanding::Dead, "an id a renewal replaced loaded after its grace");
            assert!(
                !serde_json::from_str::<Map<String, Value>>(s.json().unwrap()).unwrap().contains_key(crate::oracle::TIMES_KEY),
                "the application sees the engine's times"
            );
            let life = &l.lives[key];
            if st == IdStanding::Graced {
                // One session: its current id loads it too, with the same data.
                let again = rt.block_on(engine.load(Some(signed_header(&life.current).as_bytes()), None)).unwrap().expect("a session");
                assert!(!again.is_new() && again.sid() == key, "a replaced id in its grace loads the session but its current id does not");
                assert_eq!(again.json(), s.json(), "a replaced id in its grace and the current id load different data");
            }
            let due = st == IdStanding::Current && l.renew.is_some_and(|every| t >= life.issued + every);
            return (Some(life.current.clone()), due, st == IdStanding::Graced, None);
        }
        let Some((key, st)) = standing else { return (None, false, false, None) };
        // (Known finding alias-ttl: the alias of a live session's id expired in the store.)
        let alias_lost = x.is_some_and(|x| x != key && self.store.inner.get_sync(x).is_none());
        if st != IdStanding::Dead && l.surely_live(&key, t) && self.store.inner.get_sync(&key).is_some() && !(alias_lost && known("alias-ttl")) {
            panic!("a live session did not load through its {st:?} id ({:?})", s.load_report());
        }
        (None, false, false, Some(key).filter(|_| s.load_report() == LoadReport::Expired))
    }
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let issued = Arc::new(Mutex::new(HashSet::new()));
    let flags = input.byte();
    let users_on = flags & 4 != 0;
    // Issue 20: lifetimes, the clock steps and the extra choices that come with them.
    let extended = flags & 64 != 0;
    let option = |b: u8, scale: i64| (b != 0).then(|| i64::from(b) * scale);
    let (idle, absolute, renew, grace) = if extended {
        (option(input.byte(), 1), option(input.byte(), 4), option(input.byte(), 1), option(input.byte(), 1))
    } else {
        (None, None, None, None)
    };
    let lives_on = idle.is_some() || absolute.is_some() || renew.is_some();
    let path: &'static [&'static str] = if flags & 8 != 0 { &["passport", "user"] } else { &["user"] };
    let dotted = path.join(".");
    let clock = Arc::new(AtomicI64::new(START_MS));
    let store = Arc::new(Recording {
        inner: SimStore {
            records: Mutex::new(BTreeMap::new()),
            clock: Arc::clone(&clock),
            keeps_expired: extended && flags & 128 != 0,
            index: MemoryStore::new(MemoryStoreOptions::default()),
        },
        // userField and the lifetimes need compare-and-set (checked below).
        cas: users_on || lives_on || flags & 16 != 0,
        touch: flags & 32 != 0,
        issued: Arc::clone(&issued),
        written: Mutex::new(Vec::new()),
        indexed: Mutex::new(Vec::new()),
        armed: Mutex::new(None),
        fired: Mutex::new(Vec::new()),
        calls: Mutex::new(Vec::new()),
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
        .idle_timeout_ms(idle)
        .absolute_timeout_ms(absolute)
        .renew_interval_ms(renew)
        .renew_grace_ms(grace)
        .build()
        .unwrap();
    if lives_on {
        assert!(cfg.check_store(false, true).is_err(), "lifetimes accepted a store without compare-and-set");
    }
    let engine_clock = Arc::clone(&clock);
    let engine = Engine::new(cfg, store.clone()).expect("engine").with_sid_generator(gen).with_clock(Arc::new(move || engine_clock.load(Ordering::SeqCst)));
    let allowed = Allowed { names: &["koa.sid", "koa.sid.sig"], path: Some("/"), domain: None };
    let lives = lives_on.then(|| SessionLives {
        idle,
        absolute,
        renew,
        grace: grace.unwrap_or(koa_session_core::lifetime::DEFAULT_RENEW_GRACE_MS),
        ..SessionLives::default()
    });
    let mut m = Machine {
        users_on,
        path,
        field: UserField::parse(&dotted).unwrap(),
        store: store.clone(),
        clock: Arc::clone(&clock),
        acked: HashMap::new(),
        dead: HashSet::new(),
        lives,
    };
    let mut jars: [Jar; BROWSERS] = Default::default();
    // What each browser held before its current cookie (an id a renewal replaced, say).
    let mut prev: [Jar; BROWSERS] = Default::default();
    let mut slots: [Option<Flight>; SLOTS] = Default::default();
    let mut armed: Option<Armed> = None;

    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let op = input.byte();
        if extended {
            let unit = [0, 1, 16, 256][usize::from(op >> 6)];
            if unit > 0 {
                clock.fetch_add(i64::from(input.byte()) * unit, Ordering::SeqCst);
            }
        }
        let now = clock.load(Ordering::SeqCst);
        let k = (op >> 4) as usize % SLOTS;
        match op & 15 {
            0 | 15 => {
                let browser = input.byte() as usize % BROWSERS;
                let reload = op & 15 == 15;
                let kinds = if extended { 7 } else { 6 };
                let header = match if reload { 0 } else { input.byte() % kinds } {
                    0 => jar_header(&jars[browser]),
                    1 => {
                        let forged = String::from_utf8_lossy(input.until(b'|')).into_owned();
                        let sig = keygrip_sign(b"not our key", format!("koa.sid={forged}").as_bytes());
                        Some(format!("koa.sid={forged}; koa.sid.sig={sig}"))
                    }
                    2 => jars[browser].as_ref().map(|(s, g)| format!("koa.sid={s}; koa.sid.sig={}x", &g[..g.len().saturating_sub(1)])),
                    3 => Some(String::from_utf8_lossy(input.until(b'|')).into_owned()),
                    4 => None,
                    6 => jar_header(&prev[browser]),
                    _ => jar_header(&jars[input.byte() as usize % BROWSERS]),
                };
                let x = header.as_deref().and_then(|h| signed_id(h.as_bytes(), "koa.sid", KEY));
                let Some(s) = rt.block_on(engine.load(header.as_deref().map(str::as_bytes), None)).unwrap() else { panic!("no path: always a session") };
                let sid = s.sid().to_owned();
                assert!(lock(&issued).contains(&sid), "session id {sid:?} was not made by the engine");
                let base = store.inner.get_sync(&sid);
                assert_eq!(base.is_some(), !s.is_new(), "a stored session is not new, and only it");
                if let Some(b) = &base {
                    if lives_on {
                        assert_eq!(app_data(s.json().unwrap()), app_data(b), "loaded data other than the record");
                    } else {
                        assert_eq!(s.json(), Some(b.as_str()), "loaded data other than the record");
                    }
                }
                let (current, renew_due, graced, expired) = if m.lives.is_some() { m.check_load(&rt, &engine, &s, x.as_deref(), now) } else { (None, false, false, None) };
                if reload {
                    // The browser's own session, unless it is gone (never a destroyed one).
                    if let Some((jar_sid, _)) = &jars[browser] {
                        if m.users_on && m.dead.contains(jar_sid) {
                            assert!(s.is_new() && &sid != jar_sid, "a destroyed session was loaded again");
                        }
                        // (With lifetimes, check_load said which ids must load.)
                        // (Known finding alias-shaped-data: with the options off, a session
                        // whose data looks like an alias loads as one.)
                        let alias_shaped = store.inner.get_sync(jar_sid).is_some_and(|r| r.starts_with(r#"{"_ks":{"of":"#));
                        if !lives_on && store.inner.get_sync(jar_sid).is_some() && !(alias_shaped && known("alias-shaped-data")) {
                            assert_eq!(&sid, jar_sid, "the browser's live session was not loaded");
                        }
                    }
                    continue;
                }
                let orig = s.json().unwrap().to_owned();
                slots[k] = Some(Flight { s, browser, ids: vec![sid], save: None, base, orig, at: now, replaced: false, current, renew_due, graced, expired });
            }
            1 => {
                let Some(f) = slots[k].take() else { continue };
                commit(&rt, &engine, &mut m, f, armed.take(), &mut jars, &mut prev, &allowed);
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
                match step {
                    3 => {
                        let r = if extended { input.pick(&RECORDS_LIFE) } else { input.pick(&RECORDS) };
                        let ok = f.s.set_json(Some(r.to_owned())).is_ok();
                        assert_eq!(ok, r.starts_with('{'));
                        f.replaced |= ok;
                    }
                    4 => {
                        f.s.set_json(None).unwrap();
                        f.replaced = true;
                    }
                    5 => {
                        engine.regenerate(&mut f.s).unwrap();
                        f.ids.push(f.s.sid().to_owned());
                        f.base = None;
                        f.orig = f.s.json().unwrap().to_owned();
                        f.replaced = false;
                    }
                    6 => {
                        f.save = input.pick(&[None, Some(true), Some(false)]);
                        f.s.set_save(f.save);
                    }
                    7 => {
                        let n = input.byte();
                        f.s.set_json(Some(format!(r#"{{"n":{n}}}"#))).unwrap();
                        f.replaced = true;
                    }
                    8 => {
                        // A login: the whole session replaced by one that names a user.
                        let (i, n) = (input.byte() as usize, input.byte());
                        let json = m.with_user(&format!(r#"{{"n":{n}}}"#), Some(who(i)), i % WHO.len() == 7);
                        f.s.set_json(Some(json)).unwrap();
                        f.replaced = true;
                    }
                    9 | 11 => {
                        // The user changed in place (a login without a regenerate), or a logout.
                        let i = input.byte() as usize;
                        if let Some(json) = f.s.json() {
                            let v = match (step, i % 2) {
                                (9, _) => Some(who(i)),
                                (_, 0) => Some(Value::Null),
                                _ => None,
                            };
                            let json = m.with_user(json, v, step == 9 && i % WHO.len() == 7);
                            f.s.update_json(json).unwrap();
                        }
                    }
                    _ => {
                        // A change keeping the session's identity (merged into the record).
                        let n = input.byte();
                        if let Some(json) = f.s.json() {
                            let mut o: Map<String, Value> = serde_json::from_str(json).unwrap();
                            o.insert("n".into(), n.into());
                            f.s.update_json(Value::Object(o).to_string()).unwrap();
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
    jars: &mut [Jar; BROWSERS],
    prev: &mut [Jar; BROWSERS],
    allowed: &Allowed<'_>,
) {
    let store = Arc::clone(&m.store);
    let Flight { s, browser, ids, save, base, orig, at, replaced, current, renew_due, graced, expired } = f;
    let sid = s.sid().to_owned();
    let json = s.json().map(str::to_owned);
    let is_new = s.is_new();
    let users_on = m.users_on;
    let user = json.as_deref().map(|j| m.user(j));
    let cookie_field = json.as_deref().is_some_and(Machine::has_cookie_field);
    // With lifetimes, a stored session past its absolute deadline is ended by its commit (its
    // TTL is none), not written: its user is neither checked nor indexed.
    let now = m.now();
    let lapsed = !is_new && m.lives.as_ref().is_some_and(|l| l.absolute.is_some_and(|a| l.lives.get(&sid).is_some_and(|life| now >= life.created + a)));
    // What the commit must do with users: fail (an invalid id), or index (a login).
    let saves = users_on && save != Some(false) && json.is_some() && !cookie_field && !lapsed;
    let must_fail = saves && matches!(user, Some(Err(_)));
    let orig_user = if is_new { None } else { m.user(&orig).ok().flatten() };
    let must_index = match &user {
        Some(Ok(Some(u))) if saves && orig_user.as_ref() != Some(u) => Some(u.clone()),
        _ => None,
    };
    let snapshot = matches!(user, Some(Err(_))).then(|| (store.records(), users().map(|u| store.index(&u))));
    let before = store.inner.get_sync(&sid);
    lock(&store.indexed).clear();
    lock(&store.calls).clear();
    *lock(&store.armed) = armed;
    let result = rt.block_on(engine.commit(s, false));
    let calls = std::mem::take(&mut *lock(&store.calls));
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
    } else if users_on && !cookie_field && save != Some(false) && !lapsed {
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
        // With lifetimes the record holds the engine's times too: the model checks its data.
        (Some(_), _) if m.lives.is_some() => {}
        // Unless another request changed the record since this one loaded it (a merge).
        (Some(j), _) if before == base => assert!(after.is_none() || after.as_deref() == Some(j.as_str()), "stored something else"),
        (Some(_), _) => {}
    }
    for written in lock(&store.written).iter() {
        assert!(lock(&store.issued).contains(written), "the store got an id the engine never made: {written:?}");
    }
    let ctx = Committed { sid: &sid, ids: &ids, json: json.as_deref(), orig: &orig, save, is_new, at, replaced, current: current.as_deref(), renew_due, graced, expired: expired.as_deref(), calls: &calls };
    let renewed = if m.lives.is_some() { m.check_commit_lives(&ctx) } else { None };
    // The ids the cookie may carry: the session's own; with lifetimes its renewal's, else the
    // id current when it loaded, or the one current now (a merge that found the session
    // renewed meanwhile sends that one).
    let cookie_ids: Vec<String> = match (&renewed, current) {
        _ if is_new || m.lives.is_none() => vec![sid.clone()],
        (Some(n), _) => vec![n.clone()],
        (None, Some(c)) => [Some(c), m.lives.as_ref().and_then(|l| l.lives.get(&sid)).map(|l| l.current.clone())].into_iter().flatten().collect(),
        (None, None) => vec![sid.clone()],
    };

    let held = jars[browser].clone();
    for c in &cookies {
        let (name, value, _) = check_set_cookie(c, allowed);
        let jar_entry = jars[browser].get_or_insert_with(Default::default);
        match name {
            "koa.sid" => jar_entry.0 = value.to_owned(),
            _ => jar_entry.1 = value.to_owned(),
        }
        if name == "koa.sid" && !value.is_empty() {
            assert!(cookie_ids.iter().any(|id| id == value), "the cookie names another session, or another id of it: {value} not in {cookie_ids:?}");
            assert!(json.is_some(), "a destroyed session sent its id");
            assert!(records_after[&sid].is_some(), "a cookie names a session that is not stored");
        }
    }
    if let Some(h) = held.filter(|h| !h.0.is_empty() && jars[browser].as_ref().is_some_and(|j| j.0 != h.0)) {
        prev[browser] = Some(h);
    }
    // Acknowledged: committed under its user.
    if let (Some(Ok(Some(u))), true, false) = (&user, users_on, save == Some(false)) {
        m.acked.entry(u.clone()).or_default().insert(sid.clone());
    }
}

/// A commit, as the lifetime checks see it.
struct Committed<'a> {
    /// The session's id (its record's key) at the end of the request.
    sid: &'a str,
    ids: &'a [String],
    json: Option<&'a str>,
    orig: &'a str,
    save: Option<bool>,
    is_new: bool,
    at: i64,
    replaced: bool,
    current: Option<&'a str>,
    renew_due: bool,
    graced: bool,
    expired: Option<&'a str>,
    calls: &'a [Call],
}

impl Machine {
    /// Lifetimes: checks a commit's store calls and the record it left against the model, and
    /// feeds the model. Returns the id a renewal gave the session, if it took effect.
    fn check_commit_lives(&mut self, k: &Committed<'_>) -> Option<String> {
        let c = self.now();
        let store = Arc::clone(&self.store);
        let users_on = self.users_on;
        let l = self.lives.as_mut().expect("lifetimes on");
        let sid = k.sid;
        let regenerated = k.ids.len() > 1;
        let wrote = |kind: fn(&Call) -> bool| k.calls.iter().any(|x| x.sid() == sid && kind(x));
        let set_k = wrote(|x| matches!(x, Call::Set { .. }));
        let wrote_k = set_k || wrote(|x| matches!(x, Call::Cas { .. }));
        // (Known finding blind-save: an unchanged stored session written whole, its stale
        // record over whatever happened meanwhile.)
        let blind = set_k && !k.is_new && !k.replaced && known("blind-save");
        if set_k && !k.is_new && (l.ended.contains(sid) || blind) && ((k.replaced && l.renew.is_none() && !users_on) || blind) {
            // By design: a session the application replaced whole is written whole (without
            // renewal or a user index nothing merges it), even over a logout made meanwhile.
            // It is that session again, from this write.
            l.ended.remove(sid);
            let life = l.lives.get_mut(sid).expect("an ended session is known");
            life.used = if blind { life.created } else { c };
            l.data.insert(sid.to_owned(), app_data(k.json.expect("written")));
        }

        // Destroys: a logout, a regenerate, a record found expired, a session whose deadline
        // or cookie lifetime may have passed; a renewal's alias once its grace is over.
        for x in k.calls {
            let Call::Destroy { sid: d } = x else { continue };
            match l.key_of.get(d).cloned() {
                Some(key) if key != *d => {
                    let st = l.standing(d, c).map(|s| s.1);
                    assert!(st.is_none_or(|s| s == IdStanding::Dead), "a commit destroyed the alias of an id still usable ({st:?}): its session no longer loads through it");
                }
                Some(_) => {
                    let logout = d == sid && k.json.is_none();
                    let regenerated_from = k.ids[..k.ids.len() - 1].contains(d);
                    let found_expired = k.expired == Some(d.as_str());
                    // (Known finding stale-ttl: an unchanged request's plan from the times it loaded.)
                    let lapsed = d == sid && (k.json.is_some_and(|j| cookie_ttl_ms(j) <= 0) || !l.surely_live(d, c) || known("stale-ttl"));
                    assert!(
                        logout || regenerated_from || found_expired || lapsed || l.ended.contains(d),
                        "a commit destroyed a live session it neither logged out, regenerated nor found expired"
                    );
                    l.end(d);
                }
                None => {}
            }
        }

        // Renewal: exactly when due and the session is written, under a new id.
        let aliases: Vec<(String, String)> = k
            .calls
            .iter()
            .filter_map(|x| match x {
                Call::Set { sid: n, json, .. } => alias_target(json).map(|of| (n.clone(), of)),
                _ => None,
            })
            .collect();
        assert!(aliases.len() <= 1, "one commit wrote two aliases");
        if let Some((n, of)) = aliases.first() {
            assert!(k.renew_due, "a renewal that was not due (the id is younger than renewInterval, or the request came through a replaced id)");
            assert!(!regenerated && !k.is_new, "a renewal of a new or regenerated session");
            assert_eq!(of, sid, "an alias naming another record than the session's");
            assert!(n != sid && !l.key_of.contains_key(n), "a renewal reused an id");
        }
        if k.renew_due && !regenerated && !k.is_new && wrote_k {
            assert!(!aliases.is_empty(), "a session due for renewal was written under its old id");
        }

        // A renewal stored (its merge wrote, whatever became of the record since): it takes
        // effect unless another one replaced the same id first.
        let renewed = match (aliases.first(), wrote_k && l.lives.contains_key(sid)) {
            (Some((n, _)), true) => l.renewed(sid, n, k.current.expect("a stored session's current id"), c).then(|| n.clone()),
            _ => None,
        };

        // The model of the session.
        let present = store.inner.get_sync(sid);
        if !l.lives.contains_key(sid) {
            if let (true, Some(_), Some(j)) = (set_k, &present, k.json) {
                l.created(sid, c, app_data(j));
            }
            return renewed;
        }
        if l.ended.contains(sid) {
            return renewed;
        }
        let Some(record) = present else {
            l.data.remove(sid);
            return renewed;
        };
        let life = l.lives.get_mut(sid).expect("known");
        if wrote_k {
            life.written = c;
        }
        if let (Some(idle), Some(j), false, false) = (l.idle, k.json, k.save == Some(false), k.is_new) {
            // A read writes its activity past half the window: it holds `load - idle/2` at least.
            // (Known finding graced-refresh: not a request through a replaced id.)
            if !(k.graced && known("graced-refresh")) {
                life.used = life.used.max(k.at - idle / 2);
            }
            if wrote_k && (j != k.orig || k.replaced) {
                life.used = life.used.max(c);
            }
        }
        let j = k.json.unwrap_or(k.orig);
        let expected = match l.data.get(sid) {
            _ if set_k && (k.replaced || k.is_new) => app_data(j),
            Some(d) if wrote_k => apply_changes(d, &changes(&app_data(k.orig), &app_data(j))),
            Some(d) => d.clone(),
            None => app_data(&record),
        };
        assert_eq!(app_data(&record), expected, "a change an acknowledged commit made was lost (or one no commit made appeared)");
        l.data.insert(sid.to_owned(), expected);

        // The times: the model's.
        let t = record_times(&record).expect("a stored session without the engine's times");
        let life = &l.lives[sid];
        assert_eq!(t.created, life.created, "the session's creation time changed");
        assert!(t.active <= life.written, "an activity time later than any write of the session");
        if l.idle.is_some() {
            assert!(t.active >= life.used, "the session's activity was lost: it would expire early (stored {}, at least {})", t.active, life.used);
        }
        assert_eq!(t.sid.as_deref().unwrap_or(sid), life.current, "the record names another current id than the latest renewal's");
        assert_eq!(t.issued.unwrap_or(t.created), life.issued, "the current id's issue time is not its renewal's");
        for (id, until) in &t.old {
            if *until > c {
                assert_eq!(life.graced.get(id), Some(until), "an id in grace that no renewal replaced, or with another end");
            }
        }
        for (id, until) in &life.graced {
            if *until > c {
                assert_eq!(t.old.get(id), Some(until), "an id a renewal replaced lost its grace early");
            }
        }
        // The activity the engine stored and acknowledged: the session lives from it.
        let stored_active = t.active;
        l.lives.get_mut(sid).expect("known").used = life.used.max(stored_active);

        // The store's TTL: never past the deadline counted from this commit (the idle window
        // from now: another request may have refreshed the session since this one loaded it,
        // so the engine bounds a store TTL by the window from now and keeps the exact deadline
        // itself, checked at load), never before both the record's deadline and the cookie's end.
        let last = k.calls.iter().rev().find_map(|x| match x {
            Call::Set { sid: s, ttl, .. } | Call::Cas { sid: s, ttl } | Call::Touch { sid: s, ttl } if s == sid => Some(*ttl),
            _ => None,
        });
        let from_now = crate::oracle::RecordTimes { active: c.max(t.active), ..t.clone() };
        if let (Some(ttl), Some(deadline), Some(bound)) = (last, l.deadline(&t), l.deadline(&from_now)) {
            let expires = c + ttl;
            assert!(expires <= bound, "the store keeps the session past its deadline");
            let cookie_end = c + cookie_ttl_ms(j);
            assert!(
                expires >= deadline.min(cookie_end) || known("stale-ttl"),
                "the store is told to drop a live session {} ms before its deadline",
                deadline.min(cookie_end) - expires
            );
        }
        renewed
    }
}
