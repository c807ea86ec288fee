//! RedisStore against real redis-server processes (started here, on free loopback ports).
#![cfg(feature = "redis")]

mod support;

use koa_session_core::store::conformance::{self, ConformanceOptions};
use koa_session_core::store::redis::{ConnectionState, RedisStore, RedisStoreOptions};
use koa_session_core::store::merge_into_store;
use koa_session_core::{CasResult, Engine, LoadReport, MergeOutcome, SessionConfig, Store, StoreErrorKind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::redis_harness::{RedisServer, ServerOptions};
use tokio::sync::watch;

/// "Did not hang" bound for anything that should fail or recover within the store's timeouts.
const GENEROUS: Duration = Duration::from_secs(20);

fn quick_options() -> RedisStoreOptions {
    RedisStoreOptions {
        connect_timeout: Duration::from_secs(1),
        response_timeout: Duration::from_secs(1),
        reconnect_max_delay: Duration::from_millis(200),
        ..Default::default()
    }
}

fn conformance_options() -> ConformanceOptions {
    ConformanceOptions { tasks: 8, ops_per_task: 300, ..Default::default() }
}

fn engine(store: &RedisStore) -> Engine {
    let config = SessionConfig::builder().keys(["redis-test-key"]).build().unwrap();
    Engine::new(config, Arc::new(store.clone())).expect("engine")
}

/// The Cookie header a browser holding session `sid` sends (signed, as Koa signs it).
fn cookie_for(sid: &str) -> Vec<u8> {
    let keys = koa_session_core::Keys::new(["redis-test-key"]).unwrap();
    let sig = keys.sign(format!("koa.sid={sid}").as_bytes());
    format!("koa.sid={sid}; koa.sid.sig={sig}").into_bytes()
}

async fn wait_for_state(rx: &mut watch::Receiver<ConnectionState>, want: ConnectionState) {
    tokio::time::timeout(GENEROUS, rx.wait_for(|s| *s == want))
        .await
        .unwrap_or_else(|_| panic!("state never became {want:?}"))
        .expect("store dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_single_node() {
    let server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();
    conformance::run(Arc::new(store), conformance_options()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_unix_socket() {
    let server = RedisServer::start(ServerOptions { unix_socket: true, ..Default::default() });
    let socket = server.unix_socket();
    for url in [format!("unix://{}", socket.display()), format!("redis+unix://{}", socket.display())] {
        let store = RedisStore::open(&url, RedisStoreOptions::default()).unwrap();
        conformance::basic_crud(&store).await.unwrap();
        conformance::exact_bytes(&store).await.unwrap();
        conformance::long_ttl_and_touch(&store).await.unwrap();
        assert_eq!(store.state(), ConnectionState::Connected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_match_koa_redis() {
    let server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();

    // Our write: a plain string under koa:sess:<sid>, expiry in milliseconds.
    let json = r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true},"user":"ann"}"#;
    store.set("ours", json, Duration::from_millis(86_400_000)).await.unwrap();
    assert_eq!(server.cli(&["TYPE", "koa:sess:ours"]).trim(), "string");
    assert_eq!(server.cli(&["GET", "koa:sess:ours"]).trim_end_matches('\n'), json);
    let pttl: i64 = server.cli(&["PTTL", "koa:sess:ours"]).trim().parse().unwrap();
    assert!(pttl > 86_300_000 && pttl <= 86_400_000, "PTTL {pttl}");
    assert!(store.touch("ours", Duration::from_millis(5_000)).await.unwrap());
    let pttl: i64 = server.cli(&["PTTL", "koa:sess:ours"]).trim().parse().unwrap();
    assert!(pttl > 0 && pttl <= 5_000, "PTTL after touch {pttl}");

    // koa-redis's write: SETEX with the TTL rounded up to seconds.
    let theirs = r#"{"cookie":{"httpOnly":true,"path":"/","overwrite":true,"signed":true,"maxAge":86400000},"views":3}"#;
    server.cli(&["SETEX", "koa:sess:theirs", "86400", theirs]);
    let mut s = engine(&store).load(Some(&cookie_for("theirs")), Some("/")).await.unwrap().unwrap();
    assert_eq!(s.load_report(), LoadReport::Loaded);
    assert!(!s.is_new());
    assert_eq!(s.sid(), "theirs");
    assert_eq!(s.json(), Some(theirs));

    // A change is written back in place with SET PX.
    s.set_json(Some(theirs.replace("\"views\":3", "\"views\":4"))).unwrap();
    let cookies = engine(&store).commit(s, false).await.unwrap();
    assert!(cookies.iter().any(|c| c.starts_with("koa.sid=theirs;")), "{cookies:?}");
    assert!(server.cli(&["GET", "koa:sess:theirs"]).contains("\"views\":4"));

    // A custom prefix.
    let custom = RedisStore::open(&server.url(), RedisStoreOptions { prefix: "app1:".into(), ..Default::default() }).unwrap();
    custom.set("x", "{}", Duration::from_secs(60)).await.unwrap();
    assert_eq!(server.cli(&["GET", "app1:x"]).trim(), "{}");
    assert_eq!(custom.key("x"), "app1:x");

    // A zero TTL removes the record (Redis refuses PX 0).
    store.set("ours", json, Duration::ZERO).await.unwrap();
    assert_eq!(server.cli(&["EXISTS", "koa:sess:ours"]).trim(), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_are_not_json_objects_are_new_sessions() {
    let server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();
    let engine = engine(&store);
    let bad: &[(&str, &[u8])] = &[
        ("notjson", b"not json at all"),
        ("truncated", b"{\"cookie\":{"),
        ("array", b"[1,2,3]"),
        ("string", b"\"just a string\""),
        ("null", b"null"),
        ("number", b"42"),
        ("empty", b""),
        ("binary", b"\xff\xfe\x00{\x80}"),
    ];
    for (sid, bytes) in bad {
        // -x: the value comes from stdin, byte for byte.
        server.cli_stdin(&["-x", "SET", &format!("koa:sess:{sid}")], bytes);
        let got = store.get(sid).await.unwrap().expect("the record is there");
        if let Ok(text) = std::str::from_utf8(bytes) {
            assert_eq!(got, text, "{sid}: non-object records come back as they are");
        }
        let s = engine.load(Some(&cookie_for(sid)), Some("/")).await.unwrap().unwrap();
        assert_eq!(s.load_report(), LoadReport::Corrupt, "{sid}");
        assert!(s.is_new(), "{sid}");
        assert_ne!(s.sid(), *sid, "{sid}: a new session gets a new id");
        assert_eq!(s.json(), Some(engine.config().fresh_session_json()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_type_is_a_backend_error_with_the_server_message() {
    let server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();
    server.cli(&["RPUSH", "koa:sess:alist", "a", "b"]);
    let err = store.get("alist").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Backend, "{err}");
    assert!(err.message.contains("WRONGTYPE"), "{err}");
    let err = engine(&store).load(Some(&cookie_for("alist")), Some("/")).await.unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    // The connection is fine: a server error is not a disconnect.
    assert_eq!(store.state(), ConnectionState::Connected);
    assert!(store.get("other").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_password_is_unavailable_and_says_so() {
    let server = RedisServer::start(ServerOptions::default());
    server.cli(&["CONFIG", "SET", "requirepass", "right-secret"]);
    let url = |password: &str| format!("redis://:{password}@127.0.0.1:{}", server.port());
    for (what, u) in [("wrong password", url("wrong-secret")), ("no password", server.url())] {
        let store = RedisStore::open(&u, quick_options()).unwrap();
        let mut state = store.subscribe();
        for err in [store.get("x").await.unwrap_err(), store.set("x", "{}", Duration::from_secs(60)).await.unwrap_err()] {
            assert_eq!(err.kind, StoreErrorKind::Unavailable, "{what}: {err}");
            assert!(err.message.contains("authentication failed"), "{what}: {err}");
            assert!(!err.message.contains("wrong-secret"), "{what}: {err}");
        }
        wait_for_state(&mut state, ConnectionState::Disconnected).await;
    }
    // The same server with the right password works, and nothing was written before.
    let store = RedisStore::open(&url("right-secret"), quick_options()).unwrap();
    assert!(store.get("x").await.unwrap().is_none());
    store.set("x", "{\"a\":1}", Duration::from_secs(60)).await.unwrap();
    assert_eq!(store.state(), ConnectionState::Connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_memory_is_a_backend_error() {
    let server = RedisServer::start(ServerOptions {
        extra_args: ["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"].map(String::from).to_vec(),
        ..Default::default()
    });
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();
    let blob = format!(r#"{{"blob":"{}"}}"#, "x".repeat(64 * 1024));
    let mut failure = None;
    for i in 0..200 {
        if let Err(e) = store.set(&format!("fill{i}"), &blob, Duration::from_secs(600)).await {
            failure = Some(e);
            break;
        }
    }
    let err = failure.expect("a 1mb server must refuse 12 MB of sessions");
    assert_eq!(err.kind, StoreErrorKind::Backend, "{err}");
    assert!(err.message.contains("OOM"), "{err}");
    // Reads still work on a full server.
    assert!(store.get("fill0").await.is_ok());
}

#[tokio::test]
async fn wrong_urls_fail_at_construction() {
    for url in ["", "localhost:6379", "http://127.0.0.1:1", "redis://", "redis://127.0.0.1:port", "redis://[::1", "unix://"] {
        let err = RedisStore::open(url, RedisStoreOptions::default()).unwrap_err();
        assert!(err.to_string().contains("invalid Redis URL"), "{url:?}: {err}");
    }
    let err = RedisStore::open_cluster(&["redis://127.0.0.1:1", "nonsense"], RedisStoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nonsense"), "{err}");
    // A password never shows up in messages.
    let err = RedisStore::open("redis://user:hunter2@127.0.0.1:notaport", RedisStoreOptions::default()).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_fails_fast_and_restart_recovers_without_help() {
    let mut server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), quick_options()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    store.on_state_change(move |s| log.lock().unwrap().push(s));
    let mut rx = store.subscribe();
    wait_for_state(&mut rx, ConnectionState::Connected).await;
    store.set("a", r#"{"n":1}"#, Duration::from_secs(60)).await.unwrap();

    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.get("a").await.unwrap_err();
        assert!(matches!(err.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout), "{err:?}");
        assert!(started.elapsed() < GENEROUS, "an operation on a dead server must not hang");
    }
    let err = store.set("b", "{}", Duration::from_secs(60)).await.unwrap_err();
    assert!(matches!(err.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout), "{err:?}");
    wait_for_state(&mut rx, ConnectionState::Disconnected).await;

    // No command is issued: the store notices the server is back on its own.
    server.restart();
    wait_for_state(&mut rx, ConnectionState::Connected).await;
    store.set("a", r#"{"n":2}"#, Duration::from_secs(60)).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some(r#"{"n":2}"#));

    // The watch channel is told before the listeners run: give the listener its moment.
    let reconnected_seen = |seen: &[ConnectionState]| {
        seen.iter().position(|s| *s == ConnectionState::Disconnected).is_some_and(|d| seen[d..].contains(&ConnectionState::Connected))
    };
    let deadline = Instant::now() + GENEROUS;
    while !reconnected_seen(&seen.lock().unwrap()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = seen.lock().unwrap().clone();
    assert!(reconnected_seen(&seen), "transitions: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] != w[1]), "only transitions are reported: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_store_notices_a_lost_server() {
    let mut server = RedisServer::start(ServerOptions::default());
    let options = RedisStoreOptions { health_check_interval: Some(Duration::from_millis(100)), ..quick_options() };
    let store = RedisStore::open(&server.url(), options).unwrap();
    let mut rx = store.subscribe();
    wait_for_state(&mut rx, ConnectionState::Connected).await;
    server.kill();
    wait_for_state(&mut rx, ConnectionState::Disconnected).await;
    server.restart();
    wait_for_state(&mut rx, ConnectionState::Connected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_at_start_then_up() {
    let mut server = RedisServer::start(ServerOptions::default());
    server.kill();
    // Construction is lazy: it succeeds with the server down, operations fail, then recover.
    let store = RedisStore::open(&server.url(), quick_options()).unwrap();
    let mut rx = store.subscribe();
    let err = store.get("x").await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Unavailable, "{err:?}");
    wait_for_state(&mut rx, ConnectionState::Disconnected).await;
    server.restart();
    wait_for_state(&mut rx, ConnectionState::Connected).await;
    store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_server_times_out_and_comes_back() {
    let server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), quick_options()).unwrap();
    store.set("a", "{}", Duration::from_secs(60)).await.unwrap();
    server.pause();
    let started = Instant::now();
    let err = store.get("a").await.unwrap_err();
    server.resume();
    assert_eq!(err.kind, StoreErrorKind::Timeout, "{err:?}");
    assert!(started.elapsed() < GENEROUS);
    let deadline = Instant::now() + GENEROUS;
    loop {
        match store.get("a").await {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some("{}"));
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(matches!(e.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout), "{e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no recovery after SIGCONT: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_crash_with_appendfsync_always() {
    let mut server = RedisServer::start(ServerOptions { aof_always: true, ..Default::default() });
    // Default timeouts: an fsync per write may be slow on a busy disk.
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();
    for i in 0..200 {
        store.set(&format!("s{i}"), &format!(r#"{{"i":{i}}}"#), Duration::from_secs(600)).await.unwrap();
    }
    server.kill();
    server.restart();
    for i in 0..200 {
        let deadline = Instant::now() + GENEROUS;
        let got = loop {
            match store.get(&format!("s{i}")).await {
                Ok(v) => break v,
                Err(e) if Instant::now() < deadline => {
                    assert!(matches!(e.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout), "{e:?}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(got, Some(format!(r#"{{"i":{i}}}"#)), "write {i} was acknowledged, then lost");
    }
}

/// `calls=` of one command in `INFO commandstats`, 0 when it never ran.
fn command_calls(server: &RedisServer, command: &str) -> u64 {
    let stats = server.cli(&["INFO", "commandstats"]);
    let line = stats.lines().find(|l| l.starts_with(&format!("cmdstat_{command}:")));
    line.and_then(|l| l.split("calls=").nth(1)).and_then(|r| r.split(',').next()).map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_set_runs_the_script_by_sha_and_reloads_it_when_flushed() {
    let server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();
    let ttl = Duration::from_secs(60);
    store.set("c", r#"{"n":0}"#, ttl).await.unwrap();
    for n in 0..5 {
        let (from, to) = (format!(r#"{{"n":{n}}}"#), format!(r#"{{"n":{}}}"#, n + 1));
        assert_eq!(store.compare_and_set("c", &from, &to, ttl).await.unwrap(), CasResult::Stored);
    }
    // The first call found no script (NOSCRIPT) and sent it once; the rest ran it by its SHA1,
    // so the SHA1 we compute is the one the server computes.
    assert_eq!(command_calls(&server, "eval"), 1);
    assert_eq!(command_calls(&server, "evalsha"), 5);
    server.cli(&["SCRIPT", "FLUSH"]);
    assert_eq!(store.compare_and_set("c", r#"{"n":5}"#, r#"{"n":6}"#, ttl).await.unwrap(), CasResult::Stored);
    assert_eq!(command_calls(&server, "eval"), 2);
    // The record is still a plain string with its expiry, as koa-redis keeps it.
    assert_eq!(server.cli(&["TYPE", "koa:sess:c"]).trim(), "string");
    assert_eq!(server.cli(&["GET", "koa:sess:c"]).trim_end_matches('\n'), r#"{"n":6}"#);
    let pttl: i64 = server.cli(&["PTTL", "koa:sess:c"]).trim().parse().unwrap();
    assert!(pttl > 0 && pttl <= 60_000, "PTTL {pttl}");
    // A record that is not UTF-8 comes back (lossily) as the corrupt record it is.
    server.cli_stdin(&["-x", "SET", "koa:sess:bin"], b"\xff{\x80}");
    assert!(matches!(store.compare_and_set("bin", "{}", "{}", ttl).await.unwrap(), CasResult::Changed(_)));
    // A list under the key: the server's error, not a wrong answer.
    server.cli(&["RPUSH", "koa:sess:alist", "a"]);
    let err = store.compare_and_set("alist", "{}", "{}", ttl).await.unwrap_err();
    assert_eq!(err.kind, StoreErrorKind::Backend, "{err}");
    assert!(err.message.contains("WRONGTYPE"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_merges_keep_every_key_and_exact_values() {
    let server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();
    let ttl = Duration::from_secs(600);
    let loaded = r#"{"cookie":{"maxAge":600000},"big":9007199254740993,"tenth":0.1,"huge":1e300,"u":"\u00e9","deep":[[[[{"a":[1.50]}]]]]}"#;
    store.set("m", loaded, ttl).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mine = format!(r#"{},"k{i}":{i}}}"#, &loaded[..loaded.len() - 1]);
                merge_into_store(&store, "m", loaded.to_owned(), mine, ttl).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), MergeOutcome::Merged);
    }
    // Read with redis-cli: what another client (koa-redis) would see.
    let record = server.cli(&["GET", "koa:sess:m"]);
    let record = record.trim_end_matches('\n');
    assert!(record.starts_with(&loaded[..loaded.len() - 1]), "{record}");
    for i in 0..50 {
        assert!(record.contains(&format!(r#""k{i}":{i}"#)), "k{i} lost: {record}");
    }
    // A logout, then a slower request's merge: nothing comes back.
    store.destroy("m").await.unwrap();
    let late = format!(r#"{},"late":1}}"#, &loaded[..loaded.len() - 1]);
    assert_eq!(merge_into_store(&store, "m", loaded.to_owned(), late, ttl).await.unwrap(), MergeOutcome::Gone);
    assert_eq!(server.cli(&["EXISTS", "koa:sess:m"]).trim(), "0");
    // touch on a missing key: false, and no key appears.
    assert!(!store.touch("m", ttl).await.unwrap());
    assert_eq!(server.cli(&["EXISTS", "koa:sess:m"]).trim(), "0");
}

/// Every id of a walk in batches of `batch` (a repeat is allowed: SCAN may return a key twice
/// while Redis rehashes, and the walk promises each id at least once).
async fn all_ids(store: Arc<RedisStore>, batch: usize) -> std::collections::HashSet<String> {
    let mut walk = koa_session_core::IdsWalk::new(store, batch);
    let mut seen = std::collections::HashSet::new();
    loop {
        let ids = walk.next_batch().await.unwrap();
        if ids.is_empty() {
            return seen;
        }
        seen.extend(ids);
    }
}

/// Operator calls on one server: length, ids in small batches (5,000 sessions), clear; only
/// this store's prefix, with glob characters in it taken literally.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_calls_single_node() {
    use koa_session_core::StoreOperator;
    let server = RedisServer::start(ServerOptions::default());
    let store = Arc::new(RedisStore::open(&server.url(), RedisStoreOptions { prefix: "ops*[1]:".into(), ..quick_options() }).unwrap());
    let other = RedisStore::open(&server.url(), RedisStoreOptions { prefix: "other:".into(), ..quick_options() }).unwrap();
    assert_eq!(store.length().await.unwrap(), 0);
    assert_eq!(store.ids_page(None, 10).await.unwrap().cursor, None);
    let ttl = Duration::from_secs(600);
    for i in 0..5000 {
        store.set(&format!("sid-{i}"), "{}", ttl).await.unwrap();
    }
    for i in 0..20 {
        other.set(&format!("keep-{i}"), "{}", ttl).await.unwrap();
    }
    // Keys the unescaped pattern `ops*[1]:*` would match.
    server.cli(&["SET", "opsX1:not-ours", "x"]);
    server.cli(&["SET", "ops*1:not-ours", "x"]);
    assert_eq!(store.length().await.unwrap(), 5000);
    assert_eq!(other.length().await.unwrap(), 20);
    let scanned = server.cli(&["--scan", "--pattern", "ops\\*\\[1\\]:*"]);
    assert_eq!(scanned.lines().count(), 5000, "redis-cli --scan agrees");

    let ids = all_ids(store.clone(), 7).await;
    assert_eq!(ids.len(), 5000);
    assert!((0..5000).all(|i| ids.contains(&format!("sid-{i}"))), "ids come without the prefix");
    assert!(matches!(store.ids_page(Some("m1:2"), 10).await, Err(e) if e.kind == StoreErrorKind::Rejected));

    assert_eq!(store.clear().await.unwrap(), 5000);
    assert_eq!(store.length().await.unwrap(), 0);
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "22", "the other prefix's 20 sessions and the 2 look-alikes are left");
    assert!(other.get("keep-3").await.unwrap().is_some());
    assert_eq!(store.clear().await.unwrap(), 0);
}


/// Issue 19 on one server: five sessions of one user and one of another, indexed as the
/// engine indexes them; the index is a sorted set beside the sessions that the operator calls
/// do not count; "log out everywhere" but one session ends exactly the other four.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_index_lists_and_destroys_one_users_sessions() {
    use koa_session_core::store::{destroy_user_sessions, user_sessions, PRUNE_GRACE_MS};
    use koa_session_core::user_field::UserField;
    use koa_session_core::StoreOperator;
    use support::log_out_everywhere::{list_then_destroy_all_but_one, seed_two_users};
    let server = RedisServer::start(ServerOptions::default());
    let store = Arc::new(RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap());
    assert!(store.supports_user_index());
    let now = koa_session_core::now_unix_ms();
    let ann = seed_two_users(&store, now).await;

    // In Redis: one sorted set per user, outside the prefix, scored in unix ms, no expiry.
    let key = store.user_index_key("ann");
    assert_eq!(key, "ks-user:koa:sess:ann");
    assert_eq!(server.cli(&["TYPE", &key]).trim(), "zset");
    assert_eq!(server.cli(&["ZCARD", &key]).trim(), "5");
    assert_eq!(server.cli(&["ZSCORE", &key, "ann-3"]).trim(), (now + 3).to_string());
    assert_eq!(server.cli(&["PTTL", &key]).trim(), "-1");
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "8", "6 sessions and 2 indexes");
    // The operator calls count and list sessions only.
    assert_eq!(store.length().await.unwrap(), 6);
    let ids = all_ids(store.clone(), 2).await;
    assert_eq!(ids.len(), 6, "no index key among the ids");
    assert!(ann.iter().all(|sid| ids.contains(sid)) && ids.contains("bob-0"));

    list_then_destroy_all_but_one(&store, &ann, now).await;
    // `clear` walks the prefix: the indexes stay (their entries are pruned once the records
    // are found missing and old).
    assert_eq!(store.clear().await.unwrap(), 2);
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "2");
    // ann-2's record is gone now: a destroy keeps its entry (a missing record may be a login
    // under way, whose record lands later)...
    assert_eq!(destroy_user_sessions(&*store, "ann", None).await.unwrap(), 0);
    assert_eq!(server.cli(&["ZCARD", &key]).trim(), "1");
    // ... and pruning drops it once old; the index goes with its last entry.
    let field = UserField::parse("passport.user").unwrap();
    assert!(user_sessions(&*store, &field, "ann", now + 2 + PRUNE_GRACE_MS + 1).await.unwrap().is_empty());
    assert_eq!(server.cli(&["EXISTS", &key]).trim(), "0");
}

/// The three index calls one by one on one server: counts, refreshes, order, batches, odd
/// user ids, errors, and the write path (replica wait, outage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_index_calls_single_node() {
    let mut server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), quick_options()).unwrap();
    let entries = |v: Vec<koa_session_core::store::IndexEntry>| v.into_iter().map(|e| (e.sid, e.since_ms)).collect::<Vec<_>>();
    let pairs = |p: &[(&str, i64)]| p.iter().map(|&(s, t)| (s.to_owned(), t)).collect::<Vec<_>>();

    assert_eq!(store.user_index_entries("nobody").await.unwrap(), []);
    assert_eq!(store.user_index_add("ann", "b", 20).await.unwrap(), 1);
    assert_eq!(store.user_index_add("ann", "a", 30).await.unwrap(), 2);
    assert_eq!(store.user_index_add("ann", "c", 10).await.unwrap(), 3);
    // One round trip each: the script, by its SHA1 after the first call.
    assert_eq!(command_calls(&server, "eval"), 1);
    assert_eq!(command_calls(&server, "evalsha"), 3);
    assert_eq!(entries(store.user_index_entries("ann").await.unwrap()), pairs(&[("c", 10), ("b", 20), ("a", 30)]));
    // An id already there gets the new time, and is not counted twice.
    assert_eq!(store.user_index_add("ann", "c", 40).await.unwrap(), 3);
    assert_eq!(entries(store.user_index_entries("ann").await.unwrap()), pairs(&[("b", 20), ("a", 30), ("c", 40)]));
    // Equal times: by id, as the memory store orders them. Times of today, exactly.
    let now = koa_session_core::now_unix_ms();
    store.user_index_add("eq", "y", now).await.unwrap();
    store.user_index_add("eq", "x", now).await.unwrap();
    assert_eq!(entries(store.user_index_entries("eq").await.unwrap()), pairs(&[("x", now), ("y", now)]));

    // Removing: nothing, unknown ids, then 1,200 ids in batches; the empty set disappears.
    let zrem_before = command_calls(&server, "zrem");
    store.user_index_remove("ann", &[]).await.unwrap();
    assert_eq!(command_calls(&server, "zrem"), zrem_before, "nothing to remove: no command");
    store.user_index_remove("ann", &["zz".to_owned(), "b".to_owned()]).await.unwrap();
    assert_eq!(entries(store.user_index_entries("ann").await.unwrap()), pairs(&[("a", 30), ("c", 40)]));
    let many: Vec<String> = (0..1200).map(|i| format!("sid-{i:04}")).collect();
    for (i, sid) in many.iter().enumerate() {
        assert_eq!(store.user_index_add("many", sid, i as i64).await.unwrap(), i as u64 + 1);
    }
    let listed = store.user_index_entries("many").await.unwrap();
    assert_eq!(listed.iter().map(|e| e.sid.clone()).collect::<Vec<_>>(), many);
    let zrem_before = command_calls(&server, "zrem");
    store.user_index_remove("many", &many).await.unwrap();
    assert_eq!(command_calls(&server, "zrem") - zrem_before, 3, "500 ids a command");
    assert_eq!(server.cli(&["EXISTS", &store.user_index_key("many")]).trim(), "0");
    assert_eq!(store.user_index_entries("many").await.unwrap(), []);

    // User ids are any string up to 512 bytes: glob characters, hash tags, spaces, non-ASCII.
    let long = "é".repeat(256);
    assert_eq!(long.len(), koa_session_core::user_field::MAX_USER_ID_BYTES);
    for user in ["a*b?[c]\\", "{tag} x\ny", long.as_str(), "42"] {
        assert_eq!(store.user_index_add(user, "s1", 5).await.unwrap(), 1, "{user:?}");
        assert_eq!(entries(store.user_index_entries(user).await.unwrap()), pairs(&[("s1", 5)]), "{user:?}");
    }
    assert_eq!(server.cli(&["ZCARD", &format!("ks-user:koa:sess:{long}")]).trim(), "1");
    // Another prefix, another index.
    let app = RedisStore::open(&server.url(), RedisStoreOptions { prefix: "app1:".into(), ..quick_options() }).unwrap();
    assert_eq!(app.user_index_key("42"), "ks-user:app1:42");
    assert_eq!(app.user_index_entries("42").await.unwrap(), []);

    // Something else under an index key: the server's error, the connection fine.
    server.cli(&["SET", "ks-user:koa:sess:wrong", "x"]);
    for err in [
        store.user_index_add("wrong", "s", 1).await.unwrap_err(),
        store.user_index_entries("wrong").await.unwrap_err(),
        store.user_index_remove("wrong", &["s".to_owned()]).await.unwrap_err(),
    ] {
        assert_eq!(err.kind, StoreErrorKind::Backend, "{err}");
        assert!(err.message.contains("WRONGTYPE"), "{err}");
    }
    assert_eq!(store.state(), ConnectionState::Connected);

    // Index writes take the write path: with waitForReplica a lone master cannot acknowledge
    // them; reads need no replica.
    store.set_wait_for_replica(Some(Duration::from_millis(50)));
    for err in [store.user_index_add("ann", "d", 50).await.unwrap_err(), store.user_index_remove("ann", &["a".to_owned()]).await.unwrap_err()] {
        assert_eq!(err.kind, StoreErrorKind::Unavailable, "{err}");
        assert!(err.message.contains("no replica"), "{err}");
    }
    let held = store.user_index_entries("ann").await.unwrap().into_iter().map(|e| e.sid).collect::<Vec<_>>();
    assert_eq!(held, ["c", "d"], "done on the master only");
    store.set_wait_for_replica(None);

    // A dead server: an outage, not a hang.
    server.kill();
    let started = Instant::now();
    for err in [
        store.user_index_add("ann", "e", 60).await.unwrap_err(),
        store.user_index_entries("ann").await.unwrap_err(),
        store.user_index_remove("ann", &["a".to_owned()]).await.unwrap_err(),
    ] {
        assert!(matches!(err.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout), "{err:?}");
    }
    assert!(started.elapsed() < GENEROUS);
}


/// The engine with `userField` on one server: five logins of ann, one of bob; a request of
/// ann's loaded before "log out everywhere" and committed after it re-creates nothing and
/// clears its cookies; none of ann's cookies loads a session afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_log_out_everywhere_single_node() {
    let server = RedisServer::start(ServerOptions::default());
    let store = RedisStore::open(&server.url(), RedisStoreOptions::default()).unwrap();
    support::log_out_everywhere::engine_scenario(&store).await;
    assert_eq!(server.cli(&["EXISTS", &store.user_index_key("ann")]).trim(), "0", "ann's index is gone with her sessions");
    assert_eq!(server.cli(&["ZCARD", &store.user_index_key("bob")]).trim(), "1");
}

