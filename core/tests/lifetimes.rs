//! Session lifetimes end to end (issue 20): `idleTimeout`, `absoluteTimeout`, `renewInterval`
//! and `renewGrace` through a real [`Engine`] on real stores: the MemoryStore, a RedisStore on
//! one server and on a 3-master Redis Cluster (both started here on free loopback ports by
//! `support::redis_harness`; never the Redis on 6379).
//!
//! The engine's clock is the test's (an `AtomicI64`, [`Engine::with_clock`]), starting at the
//! real time, so windows of minutes pass in no time. Stores expire records in real time, with
//! TTLs computed on the engine's clock: with windows of minutes no record expires in a store
//! during a test, so every expiry seen here is the engine's own (the deadlines in the record).
//!
//! Each scenario is one `async fn` run on every store by `on_every_store!`: the tests are
//! `<scenario>::memory`, `<scenario>::redis_single`, `<scenario>::redis_cluster`.

#[cfg(feature = "redis")]
mod support;

use koa_session_core::lifetime::{read_times, Times, TIMES_FIELD};
use koa_session_core::store::{destroy_user_sessions, IndexEntry, StoreFuture};
use koa_session_core::{ActiveSession, CasResult, Clock, Engine, LoadReport, MemoryStore, SessionConfig, SessionConfigBuilder, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SIGNING_KEY: &str = "lifetimes-test-key";
const COOKIE: &str = "koa.sid";
const MIN: i64 = 60_000;

// ---------------------------------------------------------------------------------------------
// The stores.

/// The store a scenario runs on, with the servers behind it (stopped on drop).
enum Backend {
    Memory(Arc<MemoryStore>),
    #[cfg(feature = "redis")]
    Redis(support::redis_harness::RedisServer, koa_session_core::RedisStore),
    #[cfg(feature = "redis")]
    Cluster(support::redis_harness::RedisCluster, koa_session_core::RedisStore),
}

impl Backend {
    fn memory() -> Backend {
        Backend::Memory(Arc::new(MemoryStore::default()))
    }

    #[cfg(feature = "redis")]
    fn redis() -> Backend {
        use support::redis_harness::{RedisServer, ServerOptions};
        let server = RedisServer::start(ServerOptions::default());
        let store = koa_session_core::RedisStore::open(&server.url(), Default::default()).unwrap();
        Backend::Redis(server, store)
    }

    #[cfg(feature = "redis")]
    fn cluster() -> Backend {
        let cluster = support::redis_harness::RedisCluster::start(3);
        // One node is enough to find the others.
        let store = koa_session_core::RedisStore::open_cluster(&cluster.urls()[..1], Default::default()).unwrap();
        Backend::Cluster(cluster, store)
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Memory(s) => s.clone(),
            #[cfg(feature = "redis")]
            Backend::Redis(_, s) | Backend::Cluster(_, s) => Arc::new(s.clone()),
        }
    }

    /// The record's remaining time to live in the store, in ms (Redis `PTTL`: -2 when there
    /// is no such key, -1 when it never expires). `None` on the MemoryStore.
    #[cfg(feature = "redis")]
    fn pttl(&self, sid: &str) -> Option<i64> {
        let answer = match self {
            Backend::Memory(_) => return None,
            Backend::Redis(server, store) => server.cli(&["PTTL", &store.key(sid)]),
            Backend::Cluster(cluster, store) => {
                let key = store.key(sid);
                let owner = cluster.owner_of(cluster.keyslot(&key));
                cluster.nodes[owner].cli(&["PTTL", &key])
            }
        };
        Some(answer.trim().parse().expect("PTTL answer"))
    }
}

/// Runs each scenario on every store: `<scenario>::memory`, `::redis_single`, `::redis_cluster`
/// (the Redis ones with the `redis` feature). Attributes given before a scenario (an
/// `#[ignore]`) go on its three tests.
macro_rules! on_every_store {
    ($($(#[$attr:meta])* $scenario:ident;)*) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn memory() {
                super::$scenario(&super::Backend::memory()).await
            }
            #[cfg(feature = "redis")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn redis_single() {
                super::$scenario(&super::Backend::redis()).await
            }
            #[cfg(feature = "redis")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn redis_cluster() {
                super::$scenario(&super::Backend::cluster()).await
            }
        }
    )*};
}

/// Delegates to a real store and counts what it writes. The `supports_*` answers are the real
/// store's, so the engine plans exactly as it would on that store.
struct Counting {
    inner: Arc<dyn Store>,
    sets: AtomicUsize,
    cas: AtomicUsize,
    touches: AtomicUsize,
    destroys: AtomicUsize,
}

impl Counting {
    fn new(inner: Arc<dyn Store>) -> Arc<Counting> {
        Arc::new(Counting { inner, sets: AtomicUsize::new(0), cas: AtomicUsize::new(0), touches: AtomicUsize::new(0), destroys: AtomicUsize::new(0) })
    }
    /// Store writes and touches so far: `set`, `compare_and_set` (each attempt) and `touch`.
    fn writes(&self) -> usize {
        self.sets.load(Ordering::SeqCst) + self.cas.load(Ordering::SeqCst) + self.touches.load(Ordering::SeqCst)
    }
    fn figures(&self) -> String {
        format!(
            "set {}, compare_and_set {}, touch {}, destroy {}",
            self.sets.load(Ordering::SeqCst),
            self.cas.load(Ordering::SeqCst),
            self.touches.load(Ordering::SeqCst),
            self.destroys.load(Ordering::SeqCst)
        )
    }
}

impl Store for Counting {
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>> {
        self.inner.get(sid)
    }
    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        self.sets.fetch_add(1, Ordering::SeqCst);
        self.inner.set(sid, json, ttl)
    }
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        self.destroys.fetch_add(1, Ordering::SeqCst);
        self.inner.destroy(sid)
    }
    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(sid, ttl)
    }
    fn supports_touch(&self) -> bool {
        self.inner.supports_touch()
    }
    fn compare_and_set<'a>(&'a self, sid: &'a str, expected: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, CasResult> {
        self.cas.fetch_add(1, Ordering::SeqCst);
        self.inner.compare_and_set(sid, expected, json, ttl)
    }
    fn supports_compare_and_set(&self) -> bool {
        self.inner.supports_compare_and_set()
    }
    fn supports_user_index(&self) -> bool {
        self.inner.supports_user_index()
    }
    fn user_index_add<'a>(&'a self, user: &'a str, sid: &'a str, since_ms: i64) -> StoreFuture<'a, u64> {
        self.inner.user_index_add(user, sid, since_ms)
    }
    fn user_index_entries<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        self.inner.user_index_entries(user)
    }
    fn user_index_remove<'a>(&'a self, user: &'a str, sids: &'a [String]) -> StoreFuture<'a, ()> {
        self.inner.user_index_remove(user, sids)
    }
}

// ---------------------------------------------------------------------------------------------
// The clock, the engine, the browser.

/// The engine's clock, set by the test; starts at the real time.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new() -> TestClock {
        TestClock(Arc::new(AtomicI64::new(koa_session_core::now_unix_ms())))
    }
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    fn clock(&self) -> Clock {
        let t = self.0.clone();
        Arc::new(move || t.load(Ordering::SeqCst))
    }
}

/// Signed cookies, as Koa apps run them.
fn config() -> SessionConfigBuilder {
    SessionConfig::builder().keys([SIGNING_KEY])
}

fn engine(config: SessionConfigBuilder, store: Arc<Counting>, clock: &TestClock) -> Arc<Engine> {
    Arc::new(Engine::new(config.build().unwrap(), store).expect("the store has what lifetimes need").with_clock(clock.clock()))
}

/// A new test clock (at the real time), the backend's store behind a counter, and an engine with
/// `config` on both.
fn counted_engine(b: &Backend, config: SessionConfigBuilder) -> (TestClock, Arc<Counting>, Arc<Engine>) {
    let clock = TestClock::new();
    let store = Counting::new(b.store());
    let engine = engine(config, store.clone(), &clock);
    (clock, store, engine)
}

/// A browser's cookie jar: keeps what `Set-Cookie` sets, drops what it clears.
#[derive(Clone, Debug, Default)]
struct Browser {
    jar: BTreeMap<String, String>,
}

impl Browser {
    fn receive(&mut self, set_cookies: &[String]) {
        for c in set_cookies {
            let (name, value) = c.split(';').next().unwrap().split_once('=').expect("name=value");
            if value.is_empty() || c.contains("expires=Thu, 01 Jan 1970 00:00:00 GMT") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    /// The Cookie header it sends (`None` with no cookie).
    fn header(&self) -> Option<Vec<u8>> {
        (!self.jar.is_empty()).then(|| self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ").into_bytes())
    }
    /// The session id its cookie carries.
    fn sid(&self) -> Option<&str> {
        self.jar.get(COOKIE).map(String::as_str)
    }
}

/// The session id a response's `Set-Cookie` values set (`None`: they set none).
fn cookie_id(set_cookies: &[String]) -> Option<String> {
    let mut b = Browser::default();
    b.receive(set_cookies);
    b.sid().map(str::to_owned)
}

/// `Set-Cookie` values that only clear the cookies.
fn clears(set_cookies: &[String]) -> bool {
    !set_cookies.is_empty() && set_cookies.iter().all(|c| c.contains("expires=Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// The session as the application sees it; never the engine's times.
fn data(s: &ActiveSession) -> Value {
    let v: Value = serde_json::from_str(s.json().expect("a live session")).unwrap();
    assert!(v.get(TIMES_FIELD).is_none(), "the engine's times reached the application: {v}");
    v
}

fn set_field(s: &mut ActiveSession, key: &str, value: Value) {
    let mut d = data(s);
    d[key] = value;
    s.update_json(d.to_string()).unwrap();
}

async fn load(engine: &Engine, header: Option<&[u8]>) -> ActiveSession {
    let s = engine.load(header, Some("/")).await.unwrap().expect("inside the cookie path");
    data(&s);
    s
}

/// What one request saw and answered.
struct Visit {
    report: LoadReport,
    /// The record's key (`ActiveSession::sid`).
    key: String,
    /// The session as loaded.
    data: Value,
    set_cookies: Vec<String>,
}

/// One request of `browser`: loads, lets `act` change the session, commits, and hands the
/// `Set-Cookie` values to the browser.
async fn request(engine: &Engine, browser: &mut Browser, act: impl FnOnce(&Engine, &mut ActiveSession)) -> Visit {
    let mut s = load(engine, browser.header().as_deref()).await;
    let (report, data) = (s.load_report(), data(&s));
    act(engine, &mut s);
    let key = s.sid().to_owned();
    let set_cookies = engine.commit(s, false).await.unwrap();
    browser.receive(&set_cookies);
    Visit { report, key, data, set_cookies }
}

/// A request that only reads.
async fn read(engine: &Engine, browser: &mut Browser) -> Visit {
    request(engine, browser, |_, _| {}).await
}

/// A request that sets `key` to `value`.
async fn write(engine: &Engine, browser: &mut Browser, key: &str, value: Value) -> Visit {
    request(engine, browser, |_, s| set_field(s, key, value)).await
}

/// A read by a client holding `header`, whose answer is not kept (the id's own fate is what
/// is looked at): the load report and the session as loaded.
async fn peek(engine: &Engine, header: &[u8]) -> (LoadReport, Value) {
    let s = load(engine, Some(header)).await;
    let seen = (s.load_report(), data(&s));
    engine.commit(s, false).await.unwrap();
    seen
}

/// The engine's times in the stored record under `key`.
async fn stored_times(store: &Arc<dyn Store>, key: &str) -> Times {
    let record = store.get(key).await.unwrap().unwrap_or_else(|| panic!("no record under the session's key"));
    read_times(&record).unwrap_or_else(|| panic!("no engine times in the record: {record}"))
}

/// Whether `data` holds `key` with `value`.
fn holds(data: &Value, key: &str, value: Value) -> bool {
    data.get(key) == Some(&value)
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

on_every_store! {
    idle_expiry_with_reads_only;
    absolute_expiry_despite_activity;
    read_heavy_session_costs_at_most_three_writes_per_window;
    renewal_keeps_parallel_writes_in_grace;
    two_renewals_at_once_stay_one_session;
    logout_in_grace_ends_both_ids;
    destroy_user_sessions_ends_both_ids_of_a_renewed_session;
    write_answered_after_a_renewal_carries_the_new_id;
}

// ---------------------------------------------------------------------------------------------
// 1. idleTimeout, reads only.

/// A session only read, with reads spaced 0.3 and 0.6 of the idle window, lives across many
/// windows; each read writes its activity time exactly when more than half the window passed
/// since the last write (counted at the store). A full window without requests: the next
/// request loads a new session (`Expired`), and its commit destroys the old record.
async fn idle_expiry_with_reads_only(b: &Backend) {
    const W: i64 = 10 * MIN;
    let (clock, store, engine) = counted_engine(b, config().idle_timeout_ms(Some(W)));
    let mut browser = Browser::default();

    let t0 = clock.now();
    let first = write(&engine, &mut browser, "n", json!(1)).await;
    assert_eq!(first.report, LoadReport::NoCookie);
    let key = first.key;
    let t = stored_times(&b.store(), &key).await;
    assert_eq!((t.created, t.active), (t0, t0), "the record carries its times");

    let start = store.writes();
    let (mut since_write, mut due_writes) = (0, 0);
    let gaps = [3, 6, 3, 3, 6, 6, 3, 3, 3, 6, 6, 6, 3, 6, 3, 6];
    for (i, tenths) in gaps.into_iter().enumerate() {
        clock.advance(W * tenths / 10);
        let v = read(&engine, &mut browser).await;
        assert_eq!(v.report, LoadReport::Loaded, "read {i} (gap 0.{tenths} of the window)");
        assert_eq!(v.key, key);
        assert!(holds(&v.data, "n", json!(1)), "{}", v.data);
        since_write += W * tenths / 10;
        if since_write > W / 2 {
            due_writes += 1;
            since_write = 0;
        }
        assert_eq!(store.writes() - start, due_writes, "read {i}: a write exactly when more than half the window passed");
        assert_eq!(stored_times(&b.store(), &key).await.active, clock.now() - since_write);
    }
    assert!(clock.now() - t0 > 7 * W, "alive across many windows");
    let reads_writes = store.writes() - start;
    let old_header = browser.header().unwrap();

    // A full window without requests.
    clock.advance(W);
    let s = load(&engine, browser.header().as_deref()).await;
    assert_eq!(s.load_report(), LoadReport::Expired);
    assert!(s.is_new());
    assert_ne!(s.sid(), key);
    assert!(data(&s).get("n").is_none(), "an expired session's data is gone: {}", data(&s));
    assert!(b.store().get(&key).await.unwrap().is_some(), "the store's TTL did not end it: the engine did");
    let cookies = engine.commit(s, false).await.unwrap();
    assert!(clears(&cookies), "nothing to keep: the cookies are cleared: {cookies:?}");
    assert_eq!(b.store().get(&key).await.unwrap(), None, "the expired record is destroyed at commit");
    let (report, seen) = peek(&engine, &old_header).await;
    assert_eq!(report, LoadReport::Missing, "the old cookie loads nothing");
    assert!(seen.get("n").is_none());
    eprintln!("idle reads: {} reads over {:.1} windows, {reads_writes} writes; total {}", gaps.len(), (clock.now() - t0) as f64 / W as f64, store.figures());
}

// ---------------------------------------------------------------------------------------------
// 2. absoluteTimeout.

/// A session used (read and written) every 0.1 of the absolute timeout still ends at it,
/// counted from its creation; a regenerate (a login) restarts the count.
async fn absolute_expiry_despite_activity(b: &Backend) {
    const A: i64 = 60 * MIN;
    const I: i64 = 20 * MIN;
    let (clock, store, engine) = counted_engine(b, config().idle_timeout_ms(Some(I)).absolute_timeout_ms(Some(A)));

    // Constant activity until the deadline.
    let mut browser = Browser::default();
    let t0 = clock.now();
    let key = write(&engine, &mut browser, "n", json!(0)).await.key;
    for k in 1..=9 {
        clock.set(t0 + k * A / 10);
        let v = if k % 2 == 1 { write(&engine, &mut browser, "n", json!(k)).await } else { read(&engine, &mut browser).await };
        assert_eq!((v.report, v.key.as_str()), (LoadReport::Loaded, key.as_str()), "at {k}/10 of the absolute timeout");
    }
    clock.set(t0 + A - 1);
    let before = store.writes();
    let v = read(&engine, &mut browser).await;
    assert_eq!(v.report, LoadReport::Loaded, "1 ms before the deadline");
    assert_eq!(store.writes(), before, "a read 0.1 of the window after a write writes nothing");
    assert!(holds(&v.data, "n", json!(9)));
    clock.set(t0 + A);
    let s = load(&engine, browser.header().as_deref()).await;
    assert_eq!(s.load_report(), LoadReport::Expired, "at the absolute deadline, however active");
    assert!(s.is_new() && s.sid() != key);
    assert!(data(&s).get("n").is_none());
    engine.commit(s, false).await.unwrap();
    assert_eq!(b.store().get(&key).await.unwrap(), None, "the expired record is destroyed at commit");

    // A regenerate halfway restarts the count.
    let mut browser = Browser::default();
    let t1 = clock.now();
    let before_login = write(&engine, &mut browser, "n", json!(0)).await.key;
    for k in 1..=4 {
        clock.set(t1 + k * A / 10);
        assert_eq!(read(&engine, &mut browser).await.report, LoadReport::Loaded);
    }
    clock.set(t1 + A / 2);
    let login = request(&engine, &mut browser, |engine, s| {
        engine.regenerate(s).unwrap();
        set_field(s, "user", json!("ann"));
    })
    .await;
    assert_eq!(login.report, LoadReport::Loaded);
    let key = login.key;
    assert_ne!(key, before_login);
    assert_eq!(b.store().get(&before_login).await.unwrap(), None, "the regenerate destroyed the old record");
    assert_eq!(stored_times(&b.store(), &key).await.created, t1 + A / 2, "the count restarts at the regenerate");
    // Writes at even tenths: the last at 1.4, so the read 1 ms before the deadline writes
    // nothing (a write then would be stored for the 1 ms left, which the store, on real time,
    // could end before the engine sees the record expire).
    for k in 6..=14 {
        clock.set(t1 + k * A / 10);
        let v = if k % 2 == 0 { write(&engine, &mut browser, "n", json!(k)).await } else { read(&engine, &mut browser).await };
        assert_eq!((v.report, v.key.as_str()), (LoadReport::Loaded, key.as_str()), "at {k}/10 of the absolute timeout since the first creation");
        assert!(holds(&v.data, "user", json!("ann")));
    }
    clock.set(t1 + A / 2 + A - 1);
    let before = store.writes();
    assert_eq!(read(&engine, &mut browser).await.report, LoadReport::Loaded, "1 ms before the regenerated session's deadline");
    assert_eq!(store.writes(), before);
    clock.set(t1 + A / 2 + A);
    let s = load(&engine, browser.header().as_deref()).await;
    assert_eq!(s.load_report(), LoadReport::Expired, "a full absolute timeout after the regenerate");
    assert!(data(&s).get("user").is_none());
    engine.commit(s, false).await.unwrap();
    assert_eq!(b.store().get(&key).await.unwrap(), None);
    eprintln!("absolute: {}", store.figures());
}

// ---------------------------------------------------------------------------------------------
// 3. The cost of a read-heavy session.

/// With `idleTimeout`, 1,000 reads within one idle window (one every 1/1000 of it) cost at
/// most 3 store writes or touches, and at least 1 (the activity time is written once more
/// than half the window passed).
async fn read_heavy_session_costs_at_most_three_writes_per_window(b: &Backend) {
    const W: i64 = 10 * MIN;
    let (clock, store, engine) = counted_engine(b, config().idle_timeout_ms(Some(W)));
    let mut browser = Browser::default();
    let t0 = clock.now();
    let key = write(&engine, &mut browser, "user", json!("ann")).await.key;
    let start = store.writes();
    for i in 1..=999 {
        clock.set(t0 + i * W / 1000);
        let v = read(&engine, &mut browser).await;
        assert_eq!((v.report, v.key.as_str()), (LoadReport::Loaded, key.as_str()), "read {i}");
    }
    // The thousandth, 1 ms before the window since the session was written ends.
    clock.set(t0 + W - 1);
    assert_eq!(read(&engine, &mut browser).await.report, LoadReport::Loaded);
    let writes = store.writes() - start;
    eprintln!("1000 reads in one idle window: {writes} writes or touches ({})", store.figures());
    assert!((1..=3).contains(&writes), "1000 reads cost {writes} store writes or touches ({})", store.figures());
    // The session lives on from the last write, not from its creation.
    clock.set(t0 + W + W / 4);
    assert_eq!(read(&engine, &mut browser).await.report, LoadReport::Loaded);
}

// ---------------------------------------------------------------------------------------------
// 4. Renewal and the writes during its grace.

const R: i64 = 10 * MIN;
const G: i64 = MIN;

fn renewing() -> SessionConfigBuilder {
    config().renew_interval_ms(Some(R)).renew_grace_ms(Some(G))
}

/// 20 parallel tasks, each one request (load, set its own key `w<i>`, commit) with the cookie
/// of the id a renewal replaces: ten loaded before the renewing request commits (just before
/// the interval ran out, so they are not renewals themselves), ten after it (within the
/// grace); all commit in parallel within the grace. Returns, per task, its load report and
/// its `Set-Cookie` values, the renewal's new id, and the record's key.
struct Renewed {
    key: String,
    old_header: Vec<u8>,
    new_id: String,
    browser: Browser,
    early: Vec<(LoadReport, Vec<String>)>,
    late: Vec<(LoadReport, Vec<String>)>,
    t_renewal: i64,
}

async fn renewal_with_parallel_writes(engine: &Arc<Engine>, clock: &TestClock) -> Renewed {
    let mut browser = Browser::default();
    let t0 = clock.now();
    let first = write(engine, &mut browser, "base", json!(1)).await;
    let key = first.key;
    assert_eq!(browser.sid(), Some(key.as_str()), "a new session's cookie carries its key");
    let old_header = browser.header().unwrap();

    // Ten requests in flight when the interval runs out: loaded just before.
    clock.set(t0 + R - 1);
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let (loaded_tx, mut loaded_rx) = tokio::sync::mpsc::channel(20);
    let mut early = Vec::new();
    for i in 0..10 {
        let (engine, header, loaded_tx, mut go) = (engine.clone(), old_header.clone(), loaded_tx.clone(), go_rx.clone());
        early.push(tokio::spawn(async move {
            let mut s = load(&engine, Some(&header)).await;
            let report = s.load_report();
            loaded_tx.send(()).await.unwrap();
            go.wait_for(|go| *go).await.unwrap();
            set_field(&mut s, &format!("w{i}"), json!(i));
            (report, engine.commit(s, false).await.unwrap())
        }));
    }
    for _ in 0..10 {
        loaded_rx.recv().await.unwrap();
    }

    // The renewing request: a read after the interval.
    clock.set(t0 + R);
    let t_renewal = clock.now();
    let renewal = read(engine, &mut browser).await;
    assert_eq!((renewal.report, renewal.key.as_str()), (LoadReport::Loaded, key.as_str()));
    let new_id = cookie_id(&renewal.set_cookies).expect("a renewal sets the new id's cookie");
    assert_ne!(new_id, key, "after renewInterval a read gets a new cookie id");
    assert_eq!(browser.sid(), Some(new_id.as_str()));
    let t = stored_times(&engine.store().clone(), &key).await;
    assert_eq!(t.cookie_id(&key), new_id, "the record stays under its key and names the new id");
    assert_eq!(t.old.get(&key), Some(&(t_renewal + G)), "the replaced id is in grace");

    // Ten more with the old cookie, within the grace, after the renewal committed; all twenty
    // commit in parallel.
    clock.set(t_renewal + 1);
    let mut late = Vec::new();
    for i in 10..20 {
        let (engine, header) = (engine.clone(), old_header.clone());
        late.push(tokio::spawn(async move {
            let mut s = load(&engine, Some(&header)).await;
            let report = s.load_report();
            set_field(&mut s, &format!("w{i}"), json!(i));
            (report, engine.commit(s, false).await.unwrap())
        }));
    }
    go_tx.send(true).unwrap();
    let mut done = (Vec::new(), Vec::new());
    for task in early {
        done.0.push(task.await.unwrap());
    }
    for task in late {
        done.1.push(task.await.unwrap());
    }
    Renewed { key, old_header, new_id, browser, early: done.0, late: done.1, t_renewal }
}

/// After `renewInterval` a read gets a new cookie id; 20 of 20 parallel writes with the old
/// cookie (see [`renewal_with_parallel_writes`]) are kept; the ones loaded after the renewal
/// (a graced id) get the new id's cookie; after the grace the old id loads nothing and the new
/// one still loads everything.
async fn renewal_keeps_parallel_writes_in_grace(b: &Backend) {
    let (clock, store, engine) = counted_engine(b, renewing());
    let Renewed { key, old_header, new_id, mut browser, early, late, t_renewal } = renewal_with_parallel_writes(&engine, &clock).await;

    for (i, (report, cookies)) in early.iter().chain(&late).enumerate() {
        assert_eq!(*report, LoadReport::Loaded, "task {i}");
        assert!(!cookies.is_empty() && !clears(cookies), "task {i}: {cookies:?}");
    }
    for (i, (_, cookies)) in late.iter().enumerate() {
        assert_eq!(cookie_id(cookies).as_deref(), Some(new_id.as_str()), "task {}: a graced id's write gets the new id's cookie", i + 10);
    }
    let all = |d: &Value| (0..20).filter(|i| !holds(d, &format!("w{i}"), json!(i))).collect::<Vec<_>>();

    // In grace: both ids load everything.
    clock.set(t_renewal + 2);
    let (report, seen) = peek(&engine, &old_header).await;
    assert_eq!(report, LoadReport::Loaded);
    assert_eq!(all(&seen), Vec::<i32>::new(), "writes lost: {seen}");
    let v = read(&engine, &mut browser).await;
    assert_eq!((v.report, v.key.as_str()), (LoadReport::Loaded, key.as_str()));
    assert!(holds(&v.data, "base", json!(1)));
    assert_eq!(all(&v.data), Vec::<i32>::new(), "writes lost: {}", v.data);
    let t = stored_times(&b.store(), &key).await;
    assert_eq!(t.cookie_id(&key), new_id, "the parallel writes kept the renewal");

    // After the grace.
    clock.set(t_renewal + G);
    let s = load(&engine, Some(&old_header)).await;
    assert_eq!(s.load_report(), LoadReport::Missing, "the old id loads nothing after the grace");
    assert!(s.is_new() && s.sid() != key && data(&s).get("base").is_none());
    let cookies = engine.commit(s, false).await.unwrap();
    assert!(clears(&cookies), "{cookies:?}");
    assert!(b.store().get(&key).await.unwrap().is_some(), "a dead id's request destroys nothing");
    let v = read(&engine, &mut browser).await;
    assert_eq!((v.report, v.key.as_str()), (LoadReport::Loaded, key.as_str()), "the new id still loads the session");
    assert_eq!(all(&v.data), Vec::<i32>::new(), "writes lost: {}", v.data);
    assert_eq!(browser.sid(), Some(new_id.as_str()));
    eprintln!("renewal with 20 parallel writes: {}", store.figures());
}

/// A request loaded before a renewal commits (in flight when `renewInterval` ran out) and
/// committed after it, within the grace, must answer with the session's current id, not the
/// one the renewal replaced: a browser keeps the cookie of the last response it gets, and the
/// replaced id loads nothing once the grace is over. Here the browser gets such a write's
/// answer after the renewal's, and must still hold its session after the grace. (Before
/// 8498a58 all ten writes answered with the replaced id, and the session was lost.)
async fn write_answered_after_a_renewal_carries_the_new_id(b: &Backend) {
    let (clock, _, engine) = counted_engine(b, renewing());
    let Renewed { key, new_id, mut browser, early, t_renewal, .. } = renewal_with_parallel_writes(&engine, &clock).await;
    let ids: Vec<Option<String>> = early.iter().map(|(_, c)| cookie_id(c)).collect();
    let old_ones = ids.iter().filter(|id| id.as_deref() == Some(key.as_str())).count();
    // The browser gets a write's answer after the renewal's.
    browser.receive(&early[0].1);
    clock.set(t_renewal + G);
    let v = read(&engine, &mut browser).await;
    assert_eq!(old_ones, 0, "{old_ones} of 10 writes loaded before the renewal answered with the replaced id's cookie");
    assert!(ids.iter().all(|id| id.as_deref() == Some(new_id.as_str())), "every write answers with the new id");
    assert_eq!(v.report, LoadReport::Loaded, "the browser that got a write's answer last still has its session after the grace");
    assert_eq!(browser.sid(), Some(new_id.as_str()));
    assert!((0..20).all(|i| holds(&v.data, &format!("w{i}"), json!(i))), "{}", v.data);
}

// ---------------------------------------------------------------------------------------------
// 5. Two renewals at once.

/// Two requests of one session both loaded after `renewInterval` and before either commits:
/// both renew, each writing its own key. The session stays one, with one new id: the renewal
/// stored second finds the first and sends its id, so both responses name the same id, which
/// loads all the data within the grace and after it; the old id dies with the grace.
async fn two_renewals_at_once_stay_one_session(b: &Backend) {
    let (clock, store, engine) = counted_engine(b, renewing());
    let mut browser = Browser::default();
    let t0 = clock.now();
    let key = write(&engine, &mut browser, "base", json!(1)).await.key;
    let header = browser.header().unwrap();

    clock.set(t0 + R);
    let mut a = load(&engine, Some(&header)).await;
    let mut b_req = load(&engine, Some(&header)).await;
    assert_eq!((a.load_report(), b_req.load_report()), (LoadReport::Loaded, LoadReport::Loaded));
    set_field(&mut a, "a", json!("A"));
    set_field(&mut b_req, "b", json!("B"));
    let (ca, cb) = tokio::join!(engine.commit(a, false), engine.commit(b_req, false));
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    let (id_a, id_b) = (cookie_id(&ca).expect("renewed"), cookie_id(&cb).expect("renewed"));
    // Both renewed; the renewal stored second found the first and sends its id instead.
    assert!(id_a != key && id_a == id_b, "one new id for both: {id_a} / {id_b}");
    let (mut ba, mut bb) = (Browser::default(), Browser::default());
    ba.receive(&ca);
    bb.receive(&cb);
    let (ha, hb) = (ba.header().unwrap(), bb.header().unwrap());
    let everything = |d: &Value| holds(d, "base", json!(1)) && holds(d, "a", json!("A")) && holds(d, "b", json!("B"));

    // Within the grace: one session under both cookies.
    clock.set(t0 + R + 1);
    for (name, h) in [("A", &ha), ("B", &hb)] {
        let s = load(&engine, Some(h)).await;
        assert_eq!((s.load_report(), s.sid()), (LoadReport::Loaded, key.as_str()), "cookie {name} in the grace");
        assert!(everything(&data(&s)), "cookie {name}: {}", data(&s));
        engine.commit(s, false).await.unwrap();
    }
    let t = stored_times(&b.store(), &key).await;
    assert_eq!(t.cookie_id(&key), id_a, "the id both were sent is current");
    assert_eq!(t.old.keys().collect::<Vec<_>>(), [&key], "only the key is in grace (the second renewal's own id was never sent): {t:?}");

    // After the grace: the new id works, with all the data; the old one does not.
    clock.set(t0 + R + G);
    let mut working = Vec::new();
    for (name, h) in [("A", &ha), ("B", &hb), ("old", &header)] {
        let s = load(&engine, Some(h)).await;
        if s.load_report() == LoadReport::Loaded {
            assert_eq!(s.sid(), key);
            assert!(everything(&data(&s)), "cookie {name}: {}", data(&s));
            working.push(name);
        } else {
            assert_eq!(s.load_report(), LoadReport::Missing, "cookie {name}");
            assert!(s.is_new() && data(&s).get("base").is_none());
        }
        engine.commit(s, false).await.unwrap();
    }
    assert_eq!(working, ["A", "B"], "the one new id works after the grace, the old one does not");
    eprintln!("two renewals at once: {}", store.figures());
}

// ---------------------------------------------------------------------------------------------
// 6. Logout within the grace.

/// A logout (`set_json(None)`) within the grace, with the old cookie and then (another
/// session) with the new one, ends the session under both ids, within the grace and after.
async fn logout_in_grace_ends_both_ids(b: &Backend) {
    let (clock, store, engine) = counted_engine(b, renewing());
    for logout_with in ["old", "new"] {
        let mut browser = Browser::default();
        let t0 = clock.now();
        let key = write(&engine, &mut browser, "user", json!("ann")).await.key;
        let old_header = browser.header().unwrap();
        clock.set(t0 + R);
        let renewal = read(&engine, &mut browser).await;
        assert_eq!(renewal.report, LoadReport::Loaded);
        assert_ne!(browser.sid(), Some(key.as_str()), "renewed");
        let new_header = browser.header().unwrap();

        clock.set(t0 + R + 1);
        let with = if logout_with == "old" { &old_header } else { &new_header };
        let mut s = load(&engine, Some(with)).await;
        assert_eq!((s.load_report(), s.sid()), (LoadReport::Loaded, key.as_str()), "logout with the {logout_with} cookie");
        s.set_json(None).unwrap();
        let cookies = engine.commit(s, false).await.unwrap();
        assert!(clears(&cookies), "{cookies:?}");
        assert_eq!(b.store().get(&key).await.unwrap(), None, "the record is destroyed");

        for at in [t0 + R + 2, t0 + R + G + 1] {
            clock.set(at);
            for (name, h) in [("old", &old_header), ("new", &new_header)] {
                let (report, seen) = peek(&engine, h).await;
                assert_eq!(report, LoadReport::Missing, "logout with the {logout_with} cookie, then the {name} cookie at +{} ms", at - t0 - R);
                assert!(seen.get("user").is_none());
            }
        }
    }
    eprintln!("logouts in grace: {}", store.figures());
}

// ---------------------------------------------------------------------------------------------
// 7. userField and renewal.

/// With `userField`, a renewed session is still its user's: `destroy_user_sessions` ends it
/// under both ids (within the grace and after), and leaves another user's session alone.
async fn destroy_user_sessions_ends_both_ids_of_a_renewed_session(b: &Backend) {
    let (clock, store, engine) = counted_engine(b, renewing().user_field(Some("uid".into())));
    let t0 = clock.now();
    let (mut ann, mut bob) = (Browser::default(), Browser::default());
    let key = write(&engine, &mut ann, "uid", json!("ann")).await.key;
    let bob_key = write(&engine, &mut bob, "uid", json!("bob")).await.key;
    let old_header = ann.header().unwrap();

    clock.set(t0 + R);
    let renewal = read(&engine, &mut ann).await;
    assert_eq!(renewal.report, LoadReport::Loaded);
    let new_id = ann.sid().unwrap().to_owned();
    assert_ne!(new_id, key);
    let new_header = ann.header().unwrap();
    clock.set(t0 + R + 1);
    for h in [&old_header, &new_header] {
        let (report, seen) = peek(&engine, h).await;
        assert_eq!(report, LoadReport::Loaded);
        assert!(holds(&seen, "uid", json!("ann")));
    }

    assert_eq!(destroy_user_sessions(&*b.store(), "ann", None).await.unwrap(), 1, "one session, under two ids");
    for at in [t0 + R + 2, t0 + R + G + 1] {
        clock.set(at);
        for (name, h) in [("old", &old_header), ("new", &new_header)] {
            let (report, seen) = peek(&engine, h).await;
            assert_eq!(report, LoadReport::Missing, "ann's {name} id at +{} ms after the renewal", at - t0 - R);
            assert!(seen.get("uid").is_none());
        }
    }
    assert_eq!(b.store().user_index_entries("ann").await.unwrap(), []);
    let v = read(&engine, &mut bob).await;
    assert_eq!((v.report, v.key.as_str()), (LoadReport::Loaded, bob_key.as_str()), "the other user's session is untouched");
    assert!(holds(&v.data, "uid", json!("bob")));
    eprintln!("userField and renewal: {}", store.figures());
}

// ---------------------------------------------------------------------------------------------
// 8. Store TTLs (Redis).

/// The Redis TTL of a session's record never outlives its first deadline: at most the idle
/// timeout after a write, and at most what is left of the absolute one.
#[cfg(feature = "redis")]
async fn store_ttl_within_the_deadlines(b: &Backend) {
    const I: i64 = 60_000;
    const A: i64 = 90_000;
    // Real time would do for the first check; the test's clock moves for the others, and the
    // TTL is computed on the engine's clock, so only its bound is checked.
    let (clock, store, engine) = counted_engine(b, config().idle_timeout_ms(Some(I)).absolute_timeout_ms(Some(A)));
    let mut browser = Browser::default();
    let t0 = clock.now();
    let key = write(&engine, &mut browser, "n", json!(0)).await.key;
    let pttl = |bound: i64, what: &str| {
        let left = b.pttl(&key).unwrap();
        assert!(left > 0 && left <= bound, "{what}: PTTL {left} ms, bound {bound} ms");
        assert!(left > bound - 5_000, "{what}: PTTL {left} ms, far below the bound {bound} ms (the cookie's 1-day maxAge is the other limit)");
    };
    pttl(I, "a new session: the idle timeout");

    // A change at 50 s: idle 60 s, but 40 s left of the absolute timeout.
    clock.set(t0 + 50_000);
    assert_eq!(write(&engine, &mut browser, "n", json!(1)).await.report, LoadReport::Loaded);
    pttl(A - 50_000, "a write at 50 s");

    // A read at 81 s (more than half the idle window since the write): the refresh's TTL is
    // what is left of the absolute timeout, 9 s.
    clock.set(t0 + 81_000);
    let before = store.writes();
    assert_eq!(read(&engine, &mut browser).await.report, LoadReport::Loaded);
    assert_eq!(store.writes(), before + 1, "the read refreshed the activity time");
    pttl(A - 81_000, "a refresh at 81 s");

    // A renewal keeps the bound too (the alias outlives it: it only points at the record).
    let engine = self::engine(
        config().idle_timeout_ms(Some(I)).absolute_timeout_ms(Some(A)).renew_interval_ms(Some(20_000)),
        store.clone(),
        &clock,
    );
    let mut browser = Browser::default();
    let t1 = clock.now();
    let key = write(&engine, &mut browser, "n", json!(0)).await.key;
    clock.set(t1 + 20_000);
    read(&engine, &mut browser).await;
    let new_id = browser.sid().unwrap().to_owned();
    assert_ne!(new_id, key);
    let left = b.pttl(&key).unwrap();
    assert!(left > 0 && left <= I, "the renewed record: PTTL {left} ms");
    let alias_left = b.pttl(&new_id).unwrap();
    assert!(alias_left >= left, "the alias ({alias_left} ms) outlives the record ({left} ms)");
    eprintln!("store TTLs: {}", store.figures());
}

#[cfg(feature = "redis")]
mod store_ttl_within_the_deadlines {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_single() {
        super::store_ttl_within_the_deadlines(&super::Backend::redis()).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_cluster() {
        super::store_ttl_within_the_deadlines(&super::Backend::cluster()).await
    }
}
