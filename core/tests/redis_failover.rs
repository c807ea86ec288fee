//! RedisStore through a Redis Cluster failover: 3 masters + 3 replicas on loopback, a master
//! killed (SIGKILL) under load. Operations on its slots wait until a replica is promoted and
//! then go through; operations on the other slots go on; the store as a whole never reports
//! a disconnect; every acknowledged write is read back afterwards. Also: a refused
//! connection is Unavailable, not a timeout.
//!
//! Issue 19 ("log out everywhere") through a failover: `destroy_user_sessions` while the
//! master of the user's index, or of some of the user's sessions, is killed mid-call, with
//! that user's requests in flight. Once the call has returned `Ok`, no session of the user
//! acknowledged before it loads again; an `Err` says what failed, and a retry ends them all.
//!
//! `cargo test -p koa-session-core --test redis_failover` runs the short version (a few
//! seconds of load, as in `make test`). `make failover` runs it longer, with the figures
//! printed: KS_FAILOVER_LOAD_SECONDS (load after the failover), KS_FAILOVER_WORKERS,
//! KS_FAILOVER_USER_SESSIONS (the sessions of the user logged out everywhere, 40).
#![cfg(feature = "redis")]

mod support;

use koa_session_core::store::redis::{key_slot, ConnectionState, RedisStore, RedisStoreOptions};
use koa_session_core::store::{destroy_user_sessions, IndexEntry, StoreFuture};
use koa_session_core::{Engine, EngineError, LoadReport, SessionConfig, Store, StoreErrorKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::redis_harness::{ClusterOptions, RedisCluster};
use support::log_out_everywhere::{clears_cookies, login_with};

const TTL: Duration = Duration::from_secs(600);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    ops: usize,
    failures: Vec<String>,
    /// Slowest operation on a slot of the killed master, and on the other slots, while the
    /// failover was under way (kill to promotion).
    slowest_dead_slot: Duration,
    slowest_healthy_slot: Duration,
    healthy_ops_during_failover: usize,
    dead_slot_ops_during_failover: usize,
}

struct Run {
    checked: usize,
    lost: usize,
    tally: Tally,
    promoted_after: Duration,
    max_waiting: usize,
    disconnects: usize,
}

/// Kills the master of a known slot under load and checks every acknowledged write after.
async fn failover_under_load(wait_for_replica: Option<Duration>) -> Run {
    let cluster = RedisCluster::start_with(ClusterOptions { masters: 3, replicas_per_master: 1, node_timeout_ms: 1000 });
    let options = RedisStoreOptions { failover_timeout: Duration::from_secs(10), wait_for_replica, ..Default::default() };
    let store = RedisStore::open_cluster(&cluster.urls(), options).unwrap();
    store.ping().await.unwrap();
    let disconnects = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&disconnects);
    store.on_state_change(move |s| {
        if s == ConnectionState::Disconnected {
            d.fetch_add(1, Ordering::Relaxed);
        }
    });

    // The victim: the master that serves the slot of a fixed key.
    let probe_slot = key_slot(store.key("victim").as_bytes());
    let victim = cluster.owner_of(probe_slot);
    let victim_port = cluster.nodes[victim].port();
    let dead_slots: Vec<bool> = {
        // The victim's slot ranges, from CLUSTER SLOTS: every slot whose owner is the victim.
        let mut v = vec![false; 16384];
        let out = cluster.nodes[(victim + 1) % cluster.nodes.len()].cli(&["CLUSTER", "SLOTS"]);
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        for i in 0..lines.len().saturating_sub(3) {
            if let (Ok(a), Ok(b)) = (lines[i].parse::<usize>(), lines[i + 1].parse::<usize>()) {
                if lines[i + 2] == "127.0.0.1" && lines[i + 3] == victim_port.to_string() {
                    v[a..=b].iter_mut().for_each(|x| *x = true);
                }
            }
        }
        assert!(v[usize::from(probe_slot)], "the victim serves the probe slot");
        v
    };

    let workers = env_number("KS_FAILOVER_WORKERS", 16) as usize;
    let sids_per_worker = 40;
    let stop = Arc::new(AtomicBool::new(false));
    // While the failover is under way: set at the kill, cleared at the promotion.
    let failing_over = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (store, stop, failing_over, acked, tally, dead_slots) =
            (store.clone(), stop.clone(), failing_over.clone(), acked.clone(), tally.clone(), dead_slots.clone());
        tasks.push(tokio::spawn(async move {
            let sids: Vec<String> = (0..sids_per_worker).map(|i| format!("w{w}s{i}")).collect();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sid = &sids[(n as usize) % sids.len()];
                let dead = dead_slots[usize::from(key_slot(store.key(sid).as_bytes()))];
                let during = failing_over.load(Ordering::Relaxed);
                let started = Instant::now();
                // Write, then read back: a request that loads and then saves.
                let result = async {
                    store.set(sid, &format!(r#"{{"n":{n}}}"#), TTL).await?;
                    store.get(sid).await
                }
                .await;
                let took = started.elapsed();
                let mut t = tally.lock().unwrap();
                t.ops += 1;
                if during {
                    if dead {
                        t.slowest_dead_slot = t.slowest_dead_slot.max(took);
                        t.dead_slot_ops_during_failover += 1;
                    } else {
                        t.slowest_healthy_slot = t.slowest_healthy_slot.max(took);
                        t.healthy_ops_during_failover += 1;
                    }
                }
                match result {
                    Ok(Some(json)) => {
                        assert_eq!(json, format!(r#"{{"n":{n}}}"#), "read back what was written");
                        acked.lock().unwrap().insert(sid.clone(), n);
                    }
                    Ok(None) => t.failures.push(format!("{sid}: written but not found")),
                    Err(e) => t.failures.push(format!("{sid}: {:?}: {}", e.kind, e.message)),
                }
                drop(t);
                n += 1;
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let killed_at = Instant::now();
    failing_over.store(true, Ordering::Relaxed);
    // SIGKILL from a blocking thread: the harness waits for the process to be gone.
    let mut cluster = tokio::task::spawn_blocking(move || {
        let mut c = cluster;
        c.nodes[victim].kill();
        c
    })
    .await
    .unwrap();
    // Watch for the promotion while the load runs, and note how many operations wait.
    let mut max_waiting = 0;
    let promoted_after = loop {
        max_waiting = max_waiting.max(store.failover_waits());
        let (c, owner) = tokio::task::spawn_blocking(move || {
            let owner = cluster.owner_of(probe_slot);
            (cluster, owner)
        })
        .await
        .unwrap();
        cluster = c;
        if owner != victim {
            break killed_at.elapsed();
        }
        assert!(killed_at.elapsed() < Duration::from_secs(60), "no replica was promoted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Writes that must reach a replica need the old master back, as a replica of the new one.
    if wait_for_replica.is_some() {
        cluster = tokio::task::spawn_blocking(move || {
            let mut c = cluster;
            c.nodes[victim].restart();
            c.wait_replicas_in_sync();
            c
        })
        .await
        .unwrap();
    }
    failing_over.store(false, Ordering::Relaxed);
    let load_after = env_number("KS_FAILOVER_LOAD_SECONDS", 2);
    tokio::time::sleep(Duration::from_secs(load_after)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a load task panicked");
    }

    // Every acknowledged write, read back through the store (the new master included).
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let mut lost = 0;
    for (sid, n) in &acked {
        let json = store.get(sid).await.expect("reading back after the failover");
        if json.as_deref() != Some(format!(r#"{{"n":{n}}}"#).as_str()) {
            lost += 1;
            eprintln!("lost: {sid}: acknowledged n={n}, found {json:?}");
        }
    }
    drop(cluster);
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    Run { checked: acked.len(), lost, tally, promoted_after, max_waiting, disconnects: disconnects.load(Ordering::Relaxed) }
}

fn report(name: &str, r: &Run) {
    eprintln!(
        "failover[{name}]: {} operations (write+read), {} failed; replica promoted {} ms after the kill; \
         up to {} operations waiting at once; slowest during the failover: {} ms on the killed master's slots \
         ({} ops), {} ms on the healthy slots ({} ops); store-wide DISCONNECT events: {}; \
         acknowledged writes checked after: {}, lost: {}",
        r.tally.ops,
        r.tally.failures.len(),
        r.promoted_after.as_millis(),
        r.max_waiting,
        r.tally.slowest_dead_slot.as_millis(),
        r.tally.dead_slot_ops_during_failover,
        r.tally.slowest_healthy_slot.as_millis(),
        r.tally.healthy_ops_during_failover,
        r.disconnects,
        r.checked,
        r.lost
    );
}

fn check(r: &Run) {
    assert!(r.tally.failures.is_empty(), "operations failed during the failover: {:#?}", r.tally.failures);
    assert_eq!(r.disconnects, 0, "one master down is not a disconnected store");
    assert!(r.max_waiting > 0, "operations on the killed master's slots waited for the failover");
    assert!(r.checked > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn master_killed_under_load() {
    let r = failover_under_load(None).await;
    report("async replication", &r);
    check(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn master_killed_under_load_with_wait_for_replica() {
    let r = failover_under_load(Some(Duration::from_millis(1000))).await;
    report("WAIT 1", &r);
    check(&r);
    assert_eq!(r.lost, 0, "with wait_for_replica no acknowledged write may be lost");
}

/// No replica to promote: an operation on the dead master's slots fails once the failover
/// wait runs out, as Unavailable (the node refuses connections; nothing timed out), while the
/// other slots keep working and the store stays connected. With every master gone, the store
/// is disconnected and fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_connection_is_unavailable_not_timeout() {
    let mut cluster = RedisCluster::start(3);
    // The other masters keep serving their slots while one is gone.
    for node in &cluster.nodes {
        assert_eq!(node.cli(&["CONFIG", "SET", "cluster-require-full-coverage", "no"]).trim(), "OK");
    }
    let options = RedisStoreOptions { failover_timeout: Duration::from_millis(600), ..Default::default() };
    let store = RedisStore::open_cluster(&cluster.urls(), options).unwrap();
    let sids: Vec<String> = (0..60).map(|i| format!("r{i}")).collect();
    for sid in &sids {
        store.set(sid, "{}", TTL).await.unwrap();
    }
    let victim = cluster.owner_of(key_slot(store.key(&sids[0]).as_bytes()));
    cluster.nodes[victim].kill();
    let (mut dead, mut alive) = (0, 0);
    for sid in &sids {
        match store.get(sid).await {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some("{}"));
                alive += 1;
            }
            Err(e) => {
                assert_eq!(e.kind, StoreErrorKind::Unavailable, "{}", e.message);
                assert!(cluster.owner_of(key_slot(store.key(sid).as_bytes())) == victim, "only the dead master's slots fail");
                dead += 1;
            }
        }
    }
    assert!(dead > 0 && alive > 0, "dead {dead}, alive {alive}");
    store.ping().await.expect("the other masters answer the health check");
    assert_eq!(store.state(), ConnectionState::Connected);

    for i in 0..cluster.nodes.len() {
        cluster.nodes[i].kill();
    }
    let e = store.ping().await.unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Unavailable, "{}", e.message);
    assert_eq!(store.state(), ConnectionState::Disconnected);
    let e = store.get(&sids[1]).await.unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Unavailable, "{}", e.message);
}

// ---- Issue 19: "log out everywhere" while a master dies -------------------------------------

/// Which master dies during `destroy_user_sessions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    /// The master of the user's index key (it also holds some of the user's sessions): the
    /// call's deletes of those sessions and its last step, removing the entries, wait for the
    /// failover.
    IndexMaster,
    /// A master holding some of the user's sessions but not the index.
    SessionMaster,
}

/// When the killed master comes back (as a replica of the one promoted in its place). With
/// `wait_for_replica` and one replica a master, the promoted master takes writes only once it
/// has a replica again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Back {
    /// As soon as the replica is promoted: the call waits through the failover and succeeds.
    AtOnce,
    /// Only once the call has failed (its failover wait ran out): it must say so, and the
    /// app's retry then ends every session.
    AfterAFailedCall,
}

/// The master of every slot (an index into `cluster.nodes`), from one `CLUSTER SLOTS`.
fn slot_owners(cluster: &RedisCluster) -> Vec<Option<usize>> {
    let node = cluster.nodes.iter().find(|n| n.pid().is_some()).expect("a live node");
    let out = node.cli(&["CLUSTER", "SLOTS"]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let mut owners = vec![None; 16384];
    for i in 0..lines.len().saturating_sub(3) {
        if let (Ok(a), Ok(b), "127.0.0.1", Ok(port)) = (lines[i].parse::<usize>(), lines[i + 1].parse::<usize>(), lines[i + 2], lines[i + 3].parse::<u16>()) {
            let owner = cluster.nodes.iter().position(|n| n.port() == port);
            owners[a..=b].iter_mut().for_each(|o| *o = owner);
        }
    }
    owners
}

/// A login through the engine: a new session saved with `uid` = `user`; its id and the Cookie
/// header that names it.
async fn login(engine: &Engine, user: &str, n: usize) -> (String, Vec<u8>) {
    login_with(engine, serde_json::json!({ "uid": user, "n": n })).await
}

/// The store `destroy_user_sessions` runs on: the RedisStore, with a tripwire that SIGKILLs the
/// victim master just before the call deletes `trigger` (so the kill lands mid-call, after
/// the index was read and some records were deleted, with more to delete).
struct Tripwire {
    store: RedisStore,
    cluster: Arc<Mutex<RedisCluster>>,
    victim: usize,
    trigger: String,
    fired: Mutex<Option<Instant>>,
}

impl Tripwire {
    fn fired(&self) -> Option<Instant> {
        *self.fired.lock().unwrap()
    }
}

impl Store for Tripwire {
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>> {
        self.store.get(sid)
    }
    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        self.store.set(sid, json, ttl)
    }
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if sid == self.trigger {
                let mut fired = self.fired.lock().unwrap();
                if fired.is_none() {
                    tokio::task::block_in_place(|| self.cluster.lock().unwrap().nodes[self.victim].kill());
                    *fired = Some(Instant::now());
                }
            }
            self.store.destroy(sid).await
        })
    }
    fn supports_user_index(&self) -> bool {
        true
    }
    fn user_index_entries<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        self.store.user_index_entries(user)
    }
    fn user_index_remove<'a>(&'a self, user: &'a str, sids: &'a [String]) -> StoreFuture<'a, ()> {
        self.store.user_index_remove(user, sids)
    }
}

/// The ids among `sids` whose record `store` still finds.
async fn loadable(store: &RedisStore, sids: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for sid in sids {
        if store.get(sid).await.expect("reading back after the failover").is_some() {
            found.push(sid.clone());
        }
    }
    found
}

/// What the requests of the user's (and another user's) sessions saw meanwhile.
#[derive(Default)]
struct Traffic {
    requests: usize,
    /// Commits that changed a loaded session and were stored (merged or touched).
    stored: usize,
    /// Commits that found the record gone and cleared the cookies instead.
    cleared: usize,
    /// Loads that found the user's session gone (a new session instead).
    missing: usize,
    /// Loads or commits that failed with a store error (allowed during the failover).
    errors: usize,
    /// Requests that broke the guarantee.
    violations: Vec<String>,
}

struct LogoutRun {
    sessions: usize,
    victim_sessions: usize,
    /// How far through the call's deletes the kill landed.
    killed_before_delete: usize,
    attempts: Vec<String>,
    ended: u64,
    call_took: Duration,
    kill_to_ok: Duration,
    promoted_after: Duration,
    settled_after: Duration,
    held_commits: usize,
    traffic: Traffic,
}

/// Logs one user in from many sessions (spread over the three masters, the index on one of
/// them), keeps requests of those sessions in flight, and calls `destroy_user_sessions` (but
/// one session, `except`) while the `victim` master is killed mid-call; retries after an
/// `Err`, as an app would. Then checks, after the failover settled, that no destroyed session
/// loads and that requests in flight re-created none.
async fn log_out_everywhere_during_failover(victim_kind: Victim, back: Back) -> LogoutRun {
    let cluster = RedisCluster::start_with(ClusterOptions { masters: 3, replicas_per_master: 1, node_timeout_ms: 1000 });
    // A destroy is a write: with waitForReplica an acknowledged DEL (and index write) is on a
    // replica too, so it survives the loss of the master it was written to (see README,
    // "Durability"). Without it, Redis may lose an acknowledged write in a failover. The
    // call that is to fail gives up sooner.
    let failover_timeout = if back == Back::AtOnce { Duration::from_secs(10) } else { Duration::from_secs(4) };
    let options = RedisStoreOptions {
        failover_timeout,
        wait_for_replica: Some(Duration::from_millis(1000)),
        ..Default::default()
    };
    let store = RedisStore::open_cluster(&cluster.urls(), options).unwrap();
    store.ping().await.unwrap();
    let config = SessionConfig::builder().keys(["failover-test-key"]).user_field(Some("uid".into())).build().unwrap();
    let engine = Arc::new(Engine::new(config, Arc::new(store.clone())).unwrap());

    // ann logs in from many devices; bob from a few (his must all survive).
    let count = env_number("KS_FAILOVER_USER_SESSIONS", 40) as usize;
    let mut ann = Vec::new();
    for n in 0..=count {
        ann.push(login(&engine, "ann", n).await);
    }
    let mut bob = Vec::new();
    for n in 0..4 {
        bob.push(login(&engine, "bob", n).await);
    }
    // The session that asks for "sign out of all other devices": kept, and so the proof that
    // the check below does find a surviving session.
    let kept = ann[0].0.clone();
    let ann_sids: Vec<String> = ann.iter().map(|(sid, _)| sid.clone()).collect();

    let owners = slot_owners(&cluster);
    let owner_of_sid = |sid: &str| owners[usize::from(key_slot(store.key(sid).as_bytes()))].expect("every slot served");
    let index_slot = key_slot(store.user_index_key("ann").as_bytes());
    let index_owner = owners[usize::from(index_slot)].unwrap();
    let masters: std::collections::HashSet<usize> = ann_sids.iter().map(|sid| owner_of_sid(sid)).collect();
    assert_eq!(masters.len(), 3, "ann's sessions should be spread over all three masters");
    // The order the call deletes in: the index's.
    let entries: Vec<String> = store.user_index_entries("ann").await.unwrap().into_iter().map(|e| e.sid).collect();
    let (mut sorted, mut expected) = (entries.clone(), ann_sids.clone());
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "every login indexed");
    let to_delete: Vec<&String> = entries.iter().filter(|sid| **sid != kept).collect();
    let victim = match victim_kind {
        Victim::IndexMaster => index_owner,
        Victim::SessionMaster => *masters.iter().find(|&&m| m != index_owner).unwrap(),
    };
    // The kill comes just before the call deletes the middle one of the victim's sessions.
    let on_victim: Vec<usize> = (0..to_delete.len()).filter(|&i| owner_of_sid(to_delete[i]) == victim).collect();
    assert!(on_victim.len() >= 2, "the victim holds some of ann's sessions");
    let killed_before_delete = on_victim[on_victim.len() / 2];
    let trigger = to_delete[killed_before_delete].clone();
    let probe_slot = if victim_kind == Victim::IndexMaster { index_slot } else { key_slot(store.key(&trigger).as_bytes()) };
    // The check sees what is there: before the call, every session.
    assert_eq!(loadable(&store, &ann_sids).await, ann_sids);

    let cluster = Arc::new(Mutex::new(cluster));
    let tripwire = Arc::new(Tripwire { store: store.clone(), cluster: cluster.clone(), victim, trigger, fired: Mutex::new(None) });

    // Requests of every session, in flight before, during and after the call: load, then a
    // change (merged), a forced save (touched) or nothing, and commit.
    let stop = Arc::new(AtomicBool::new(false));
    let destroyed = Arc::new(AtomicBool::new(false));
    let traffic: Arc<Mutex<Traffic>> = Arc::default();
    let workers = env_number("KS_FAILOVER_WORKERS", 16) as usize;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mine: Vec<(String, Vec<u8>, bool)> = ann
            .iter()
            .map(|(sid, c)| (sid.clone(), c.clone(), *sid != kept))
            .chain(bob.iter().map(|(sid, c)| (sid.clone(), c.clone(), false)))
            .enumerate()
            .filter(|(i, _)| i % workers == w)
            .map(|(_, s)| s)
            .collect();
        let (engine, stop, destroyed, traffic) = (engine.clone(), stop.clone(), destroyed.clone(), traffic.clone());
        tasks.push(tokio::spawn(async move {
            let mut step = 0usize;
            while !stop.load(Ordering::Relaxed) && !mine.is_empty() {
                let (sid, cookie, doomed) = &mine[step % mine.len()];
                step += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
                // Set once the call has returned Ok: this request starts after it.
                let after = destroyed.load(Ordering::SeqCst);
                let note = |f: &dyn Fn(&mut Traffic)| f(&mut traffic.lock().unwrap());
                note(&|t| t.requests += 1);
                let mut s = match engine.load(Some(cookie), Some("/")).await {
                    Ok(s) => s.expect("the cookie path"),
                    Err(_) => {
                        note(&|t| t.errors += 1);
                        continue;
                    }
                };
                match s.load_report() {
                    LoadReport::Loaded if *doomed && after => {
                        note(&|t| t.violations.push(format!("session {sid}: loaded by a request started after the call returned Ok")));
                    }
                    LoadReport::Loaded => {}
                    LoadReport::Missing => {
                        // A new session in its place: this request leaves it unsaved.
                        note(&|t| t.missing += 1);
                        continue;
                    }
                    other => {
                        note(&|t| t.violations.push(format!("session {sid}: {other:?}")));
                        continue;
                    }
                }
                match step % 3 {
                    0 => {
                        let mut data: serde_json::Value = serde_json::from_str(s.json().unwrap()).unwrap();
                        data["n"] = step.into();
                        s.update_json(data.to_string()).unwrap();
                    }
                    1 => s.set_save(Some(true)),
                    _ => {}
                }
                match engine.commit(s, false).await {
                    Ok(c) if clears_cookies(&c) => note(&|t| t.cleared += 1),
                    Ok(c) if !c.is_empty() => note(&|t| t.stored += 1),
                    Ok(_) => {}
                    Err(_) => note(&|t| t.errors += 1),
                }
            }
        }));
    }
    // Requests that loaded a doomed session before the call and commit only after it.
    // Each is a change (merged at commit), a forced save (touched) or unchanged (no write).
    let mut held = Vec::new();
    for (i, (_, cookie)) in ann.iter().skip(1).step_by((count / 6).max(1)).take(6).enumerate() {
        let mut s = engine.load(Some(cookie), Some("/")).await.unwrap().unwrap();
        assert_eq!(s.load_report(), LoadReport::Loaded);
        let writes = i % 3 != 2;
        match i % 3 {
            0 => {
                let mut data: serde_json::Value = serde_json::from_str(s.json().unwrap()).unwrap();
                data["late"] = true.into();
                s.update_json(data.to_string()).unwrap();
            }
            1 => s.set_save(Some(true)),
            _ => {}
        }
        held.push((s, writes));
    }

    // Watches the failover: waits for the kill, then for a replica to take the victim's slots
    // over, then brings the victim back as its replica (a master needs one in sync to take
    // waitForReplica writes) and waits until the cluster is ok again.
    let failed = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (cluster, tripwire, failed, destroyed) = (cluster.clone(), tripwire.clone(), failed.clone(), destroyed.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let killed_at = loop {
                if let Some(t) = tripwire.fired() {
                    break t;
                }
                assert!(started.elapsed() < Duration::from_secs(60), "the call never reached the tripwire");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            loop {
                let c = cluster.clone();
                let owner = tokio::task::spawn_blocking(move || c.lock().unwrap().owner_of(probe_slot)).await.unwrap();
                if owner != victim {
                    break;
                }
                assert!(killed_at.elapsed() < Duration::from_secs(60), "no replica was promoted");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let promoted_after = killed_at.elapsed();
            // (An Ok instead is a failure the test reports below.)
            while back == Back::AfterAFailedCall && !failed.load(Ordering::SeqCst) && !destroyed.load(Ordering::SeqCst) {
                assert!(killed_at.elapsed() < Duration::from_secs(60), "the call neither failed nor returned");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::task::spawn_blocking(move || {
                let mut c = cluster.lock().unwrap();
                c.nodes[victim].restart();
                c.wait_replicas_in_sync();
                c.wait_ok();
            })
            .await
            .unwrap();
            (killed_at, promoted_after, killed_at.elapsed())
        })
    };

    tokio::time::sleep(Duration::from_millis(300)).await;
    // "Log out everywhere" but this device, retried after an error as an app would.
    let call_started = Instant::now();
    let mut attempts = Vec::new();
    let ended = loop {
        match destroy_user_sessions(&*tripwire, "ann", Some(&kept)).await {
            Ok(n) => break n,
            Err(e) => {
                // A failure says what failed: the store could not be reached in time.
                assert!(matches!(e.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout), "{:?}: {}", e.kind, e.message);
                assert!(!e.message.is_empty());
                attempts.push(format!("{:?}: {}", e.kind, e.message));
                failed.store(true, Ordering::SeqCst);
                assert!(call_started.elapsed() < Duration::from_secs(120), "log out everywhere never succeeded: {attempts:#?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let ok_at = Instant::now();
    destroyed.store(true, Ordering::SeqCst);
    let killed_at = tripwire.fired().expect("the victim was killed during the call");
    assert!(killed_at > call_started && killed_at < ok_at);
    if attempts.is_empty() {
        assert_eq!(ended, count as u64, "one call ended every session but the kept one");
    }
    if back == Back::AfterAFailedCall {
        assert!(!attempts.is_empty(), "the call cannot succeed before the victim is back");
    }

    // The held requests commit now: none brings its session back.
    for (s, writes) in &held {
        let sid = s.sid().to_owned();
        let mut tries = 0;
        let cookies = loop {
            match engine.commit(s.clone(), false).await {
                Ok(c) => break c,
                Err(EngineError::Store(e)) if tries < 20 => {
                    assert!(matches!(e.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout), "{e:?}");
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("a held commit kept failing: {e:?}"),
            }
        };
        // A write finds no record: nothing written, the cookies cleared. No write: nothing.
        assert_eq!(clears_cookies(&cookies), *writes, "session {sid}: {cookies:?}");
        assert!(*writes || cookies.is_empty(), "session {sid}: {cookies:?}");
        assert_eq!(store.get(&sid).await.unwrap(), None, "session {sid}: re-created by a request in flight");
    }
    let (_, promoted_after, settled_after) = monitor.await.expect("the failover monitor");
    tokio::time::sleep(Duration::from_secs(env_number("KS_FAILOVER_LOAD_SECONDS", 2))).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a request task panicked");
    }
    let traffic = std::mem::take(&mut *traffic.lock().unwrap());
    assert!(traffic.violations.is_empty(), "{:#?}", traffic.violations);

    // After the failover: only the kept session of ann's is there, seen by this store, by a
    // client that starts afresh, and by the masters themselves.
    drop(tripwire);
    let cluster = Arc::try_unwrap(cluster).ok().expect("the cluster is ours again").into_inner().unwrap();
    assert_eq!(loadable(&store, &ann_sids).await, std::slice::from_ref(&kept), "a destroyed session is still loadable");
    let fresh = RedisStore::open_cluster(&cluster.urls(), RedisStoreOptions::default()).unwrap();
    assert_eq!(loadable(&fresh, &ann_sids).await, std::slice::from_ref(&kept), "a destroyed session is still loadable (a new client)");
    let owners = slot_owners(&cluster);
    let on_masters: Vec<&String> = ann_sids
        .iter()
        .filter(|sid| {
            let key = store.key(sid);
            let owner = owners[usize::from(key_slot(key.as_bytes()))].expect("every slot served");
            cluster.nodes[owner].cli(&["EXISTS", &key]).trim() == "1"
        })
        .collect();
    assert_eq!(on_masters, [&kept], "a destroyed session is still on its master");
    for (sid, cookie) in &ann {
        let s = engine.load(Some(cookie), Some("/")).await.unwrap().unwrap();
        let want = if *sid == kept { LoadReport::Loaded } else { LoadReport::Missing };
        assert_eq!(s.load_report(), want, "session {sid}");
    }
    // The successful call removed the entries of the records it destroyed; those it found
    // already gone (deleted by a failed attempt before it) stay until pruned, as any missing
    // record's entry does (it might be a login under way). Their records are gone (above).
    let mut left: Vec<String> = store.user_index_entries("ann").await.unwrap().into_iter().map(|e| e.sid).collect();
    assert!(left.contains(&kept) && left.iter().all(|sid| ann_sids.contains(sid)), "{left:?}");
    assert_eq!(left.len() as u64, 1 + count as u64 - ended, "the kept session and those found gone are left in the index");
    if attempts.is_empty() {
        left.retain(|sid| *sid != kept);
        assert_eq!(left, Vec::<String>::new(), "one call: only the kept session is left in the index");
    }
    for (sid, cookie) in &bob {
        let s = engine.load(Some(cookie), Some("/")).await.unwrap().unwrap();
        assert_eq!(s.load_report(), LoadReport::Loaded, "the other user's session {sid} is untouched");
        assert!(s.json().unwrap().contains(r#""uid":"bob""#));
    }
    drop(cluster);
    LogoutRun {
        sessions: count,
        victim_sessions: on_victim.len(),
        killed_before_delete,
        attempts,
        ended,
        call_took: ok_at - call_started,
        kill_to_ok: ok_at - killed_at,
        promoted_after,
        settled_after,
        held_commits: held.len(),
        traffic,
    }
}

fn report_logout(name: &str, r: &LogoutRun) {
    eprintln!(
        "log out everywhere[{name}]: {} sessions to end ({} on the killed master), the kill just before delete #{}; \
         {} failed attempt(s) then Ok ({} ended) after {} ms ({} ms after the kill; replica promoted {} ms after the kill, \
         cluster settled {} ms after it); {} held commits re-created nothing; traffic: {} requests, {} stored, \
         {} cleared cookies, {} found the session gone, {} store errors, {} violations",
        r.sessions,
        r.victim_sessions,
        r.killed_before_delete + 1,
        r.attempts.len(),
        r.ended,
        r.call_took.as_millis(),
        r.kill_to_ok.as_millis(),
        r.promoted_after.as_millis(),
        r.settled_after.as_millis(),
        r.held_commits,
        r.traffic.requests,
        r.traffic.stored,
        r.traffic.cleared,
        r.traffic.missing,
        r.traffic.errors,
        r.traffic.violations.len()
    );
    for a in &r.attempts {
        eprintln!("  failed attempt: {a}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_out_everywhere_while_the_index_master_is_killed() {
    let r = log_out_everywhere_during_failover(Victim::IndexMaster, Back::AtOnce).await;
    report_logout("index master killed", &r);
}

/// Here the call fails (the promoted master has no replica for its deletes until the victim
/// is back): an error, never a false Ok; the retry ends every session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_out_everywhere_while_a_session_master_is_killed_fails_then_succeeds() {
    let r = log_out_everywhere_during_failover(Victim::SessionMaster, Back::AfterAFailedCall).await;
    report_logout("session master killed, back after a failed call", &r);
}
