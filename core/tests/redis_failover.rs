//! RedisStore through a Redis Cluster failover: 3 masters + 3 replicas on loopback, a master
//! killed (SIGKILL) under load. Operations on its slots wait until a replica is promoted and
//! then go through; operations on the other slots go on; the store as a whole never reports
//! a disconnect; every acknowledged write is read back afterwards. Also: a refused
//! connection is Unavailable, not a timeout.
//!
//! `cargo test -p koa-session-core --test redis_failover` runs the short version (a few
//! seconds of load, as in `make test`). `make failover` runs it longer, with the figures
//! printed: KS_FAILOVER_LOAD_SECONDS (load after the failover), KS_FAILOVER_WORKERS.
#![cfg(feature = "redis")]

mod support;

use koa_session_core::store::redis::{key_slot, ConnectionState, RedisStore, RedisStoreOptions};
use koa_session_core::{Store, StoreErrorKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::redis_harness::{ClusterOptions, RedisCluster};

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
