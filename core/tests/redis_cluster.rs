//! RedisStore on a 3-master Redis Cluster started here (free loopback ports).
#![cfg(feature = "redis")]

mod support;

use koa_session_core::store::conformance::{self, ConformanceOptions};
use koa_session_core::store::redis::{ConnectionState, RedisStore, RedisStoreOptions};
use koa_session_core::Store;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::redis_harness::RedisCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_a_cluster() {
    let cluster = RedisCluster::start(3);
    // One node is enough to find the others.
    let store = RedisStore::open_cluster(&cluster.urls()[..1], RedisStoreOptions::default()).unwrap();
    conformance::run(Arc::new(store.clone()), ConformanceOptions { tasks: 8, ops_per_task: 300, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(store.state(), ConnectionState::Connected);
    // Sessions really are spread over the masters.
    for i in 0..30 {
        store.set(&format!("spread{i}"), "{}", Duration::from_secs(60)).await.unwrap();
    }
    let holding = cluster.nodes.iter().filter(|n| n.cli(&["DBSIZE"]).trim() != "0").count();
    assert_eq!(holding, 3, "30 keys should land on all three masters");
}

/// Moves the slot of a live session from its master to another while tasks keep reading and
/// writing it: the client must follow ASK (during the move) and MOVED (after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slot_migration_under_traffic() {
    let cluster = RedisCluster::start(3);
    let store = RedisStore::open_cluster(&cluster.urls(), RedisStoreOptions::default()).unwrap();
    // A hash tag puts all these sessions in one slot.
    let sid = "{mig}session";
    let key = store.key(sid);
    let slot = cluster.keyslot(&key);
    let from = cluster.owner_of(slot);
    let to = (from + 1) % 3;
    store.set(sid, r#"{"n":0}"#, Duration::from_secs(600)).await.unwrap();
    // A second client that learns the slot map now and is idle during the move: its next
    // request goes to the old owner and must follow MOVED.
    let idle = RedisStore::open_cluster(&cluster.urls()[2..], RedisStoreOptions::default()).unwrap();
    assert!(idle.get(sid).await.unwrap().is_some());

    // Background traffic on the migrating slot: rewrite and read back, and new sessions.
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..3 {
        let (store, stop, ops) = (store.clone(), stop.clone(), ops.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let json = format!(r#"{{"t":{t},"i":{i}}}"#);
                store.set(sid, &json, Duration::from_secs(600)).await?;
                let seen = store.get(sid).await?.expect("the migrating session is never missing");
                assert!(seen.starts_with(r#"{"t":"#), "{seen}");
                let fresh = format!("{{mig}}t{t}-{i}");
                store.set(&fresh, &json, Duration::from_secs(600)).await?;
                assert_eq!(store.get(&fresh).await?.as_deref(), Some(json.as_str()));
                assert!(store.touch(&fresh, Duration::from_secs(600)).await?);
                if i.is_multiple_of(2) {
                    store.destroy(&fresh).await?;
                }
                ops.fetch_add(1, Ordering::Relaxed);
                i += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, koa_session_core::StoreError>(())
        }));
    }
    let pause = || tokio::time::sleep(Duration::from_millis(150));
    pause().await;

    let (from_id, to_id) = (cluster.node_id(from), cluster.node_id(to));
    let slot_s = slot.to_string();
    let (src, dst) = (&cluster.nodes[from], &cluster.nodes[to]);
    assert_eq!(dst.cli(&["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &from_id]).trim(), "OK");
    assert_eq!(src.cli(&["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &to_id]).trim(), "OK");
    pause().await; // new keys of the slot now go to `to` via ASK

    // Move the keys over in small batches, as redis-cli --cluster reshard does.
    loop {
        let keys = src.cli(&["CLUSTER", "GETKEYSINSLOT", &slot_s, "10"]);
        let keys: Vec<&str> = keys.lines().map(str::trim).filter(|k| !k.is_empty()).collect();
        if keys.is_empty() {
            break;
        }
        let port = dst.port().to_string();
        let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        args.extend(keys.iter().copied());
        let out = src.cli(&args);
        assert!(out.contains("OK") || out.contains("NOKEY"), "MIGRATE: {out}");
        pause().await; // existing keys now answered by `to` via ASK
    }
    // Hand the slot over: the new owner first, then the old one, then the rest.
    let third = 3 - from - to;
    for node in [to, from, third] {
        assert_eq!(cluster.nodes[node].cli(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &to_id]).trim(), "OK");
    }
    cluster.wait_ok();
    pause().await; // the old owner now answers MOVED
    let before_end = ops.load(Ordering::Relaxed);
    pause().await;

    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("traffic task panicked").expect("a store operation failed during the migration");
    }
    assert!(ops.load(Ordering::Relaxed) > before_end, "traffic kept flowing after the move");
    // The old owner really redirected the clients both ways.
    let errors = src.cli(&["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_ASK:count="), "no ASK redirect happened:\n{errors}");
    let seen = idle.get(sid).await.unwrap().expect("the idle client finds the moved session");
    assert!(seen.starts_with(r#"{"t":"#), "{seen}");
    idle.set(sid, r#"{"by":"idle"}"#, Duration::from_secs(600)).await.unwrap();
    assert_eq!(store.get(sid).await.unwrap().as_deref(), Some(r#"{"by":"idle"}"#));
    let errors = src.cli(&["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_MOVED:count="), "no MOVED redirect happened:\n{errors}");
    assert_eq!(cluster.owner_of(slot), to);
    assert!(dst.cli(&["EXISTS", &key]).trim() == "1", "the session now lives on the new owner");
    assert!(src.cli(&["CLUSTER", "COUNTKEYSINSLOT", &slot_s]).trim() == "0");
    assert!(store.get(sid).await.unwrap().is_some());
    store.destroy(sid).await.unwrap();
    assert!(store.get(sid).await.unwrap().is_none());
}

/// 50 requests that loaded one session each merge a different key into it, on the cluster:
/// every key stays, and a merge after a logout writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_merges_on_a_cluster_keep_every_key() {
    use koa_session_core::store::merge_into_store;
    use koa_session_core::MergeOutcome;
    let cluster = RedisCluster::start(3);
    let store = RedisStore::open_cluster(&cluster.urls()[..1], RedisStoreOptions::default()).unwrap();
    let ttl = Duration::from_secs(600);
    let loaded = r#"{"cookie":{"maxAge":600000},"big":9007199254740993}"#;
    for sid in ["one", "two", "three"] {
        store.set(sid, loaded, ttl).await.unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mine = format!(r#"{},"k{i}":{i}}}"#, &loaded[..loaded.len() - 1]);
                    merge_into_store(&store, sid, loaded.to_owned(), mine, ttl).await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), MergeOutcome::Merged);
        }
        let record = store.get(sid).await.unwrap().unwrap();
        assert!(record.starts_with(&loaded[..loaded.len() - 1]), "{record}");
        assert!((0..50).all(|i| record.contains(&format!(r#""k{i}":{i}"#))), "{record}");
        store.destroy(sid).await.unwrap();
        let outcome = merge_into_store(&store, sid, loaded.to_owned(), r#"{"late":1}"#.to_owned(), ttl).await.unwrap();
        assert_eq!(outcome, MergeOutcome::Gone);
        assert!(store.get(sid).await.unwrap().is_none());
        assert!(!store.touch(sid, ttl).await.unwrap());
        assert!(store.get(sid).await.unwrap().is_none());
    }
}

/// The sum of `redis-cli --cluster call <node> DBSIZE` over every node of the cluster.
fn cluster_dbsize(cluster: &RedisCluster) -> u64 {
    let node = format!("127.0.0.1:{}", cluster.nodes[0].port());
    let out = std::process::Command::new("redis-cli").args(["--cluster", "call", &node, "DBSIZE"]).output().expect("run redis-cli --cluster call");
    assert!(out.status.success(), "redis-cli --cluster call: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // ">>> Calling DBSIZE" then "127.0.0.1:PORT: N" per node.
    text.lines().filter_map(|l| l.rsplit_once(": ")).filter_map(|(_, n)| n.trim().parse::<u64>().ok()).sum()
}

/// Operator calls on the 3-master cluster: every master walked, checked against
/// `redis-cli --cluster call ... DBSIZE` on a keyspace holding only this prefix; ids in small
/// batches without duplicates; clear leaves another prefix's keys alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_calls_on_a_cluster() {
    use koa_session_core::{IdsWalk, StoreOperator};
    let cluster = RedisCluster::start(3);
    let store = Arc::new(RedisStore::open_cluster(&cluster.urls()[..1], RedisStoreOptions::default()).unwrap());
    assert_eq!(store.length().await.unwrap(), 0);
    let ttl = Duration::from_secs(600);
    let mut writers = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in (t..5000).step_by(8) {
                store.set(&format!("sid-{i}"), "{}", ttl).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let dbsize = cluster_dbsize(&cluster);
    assert_eq!(dbsize, 5000, "only this prefix's keys in the keyspace");
    assert_eq!(store.length().await.unwrap(), dbsize);
    assert_eq!(cluster.nodes.iter().filter(|n| n.cli(&["DBSIZE"]).trim() != "0").count(), 3, "on every master");

    let mut walk = IdsWalk::new(store.clone(), 7);
    let mut seen = std::collections::HashSet::new();
    loop {
        let ids = walk.next_batch().await.unwrap();
        if ids.is_empty() {
            break;
        }
        // At least once each: SCAN may repeat a key while a master rehashes.
        seen.extend(ids);
    }
    assert_eq!(seen.len(), 5000);
    assert!((0..5000).all(|i| seen.contains(&format!("sid-{i}"))));

    let other = RedisStore::open_cluster(&cluster.urls(), RedisStoreOptions { prefix: "other:".into(), ..Default::default() }).unwrap();
    for i in 0..30 {
        other.set(&format!("keep-{i}"), "{}", ttl).await.unwrap();
    }
    assert_eq!(store.length().await.unwrap(), 5000);
    assert_eq!(store.clear().await.unwrap(), 5000);
    assert_eq!(store.length().await.unwrap(), 0);
    assert_eq!(cluster_dbsize(&cluster), 30, "the other prefix's keys are left");
    assert_eq!(other.length().await.unwrap(), 30);
}


/// Issue 19 on the 3-master cluster: each user's index is one key in its own slot (here on
/// another master than some of the user's sessions); listing and "log out everywhere" but one
/// session work across slots, and the operator calls count sessions only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_index_on_a_cluster() {
    use koa_session_core::store::redis::key_slot;
    use koa_session_core::{IdsWalk, StoreOperator};
    use support::log_out_everywhere::{list_then_destroy_all_but_one, seed_two_users};
    let cluster = RedisCluster::start(3);
    let store = Arc::new(RedisStore::open_cluster(&cluster.urls()[..1], RedisStoreOptions::default()).unwrap());
    assert!(store.supports_user_index());
    let now = koa_session_core::now_unix_ms();
    let ann = seed_two_users(&store, now).await;

    // The index is a key of its own, on the master of its own slot.
    let key = store.user_index_key("ann");
    let slot = key_slot(key.as_bytes());
    assert_eq!(cluster.keyslot(&key), slot);
    let owner = cluster.owner_of(slot);
    let elsewhere = ann.iter().filter(|sid| cluster.owner_of(key_slot(store.key(sid).as_bytes())) != owner).count();
    assert!(elsewhere > 0, "some of ann's sessions live on another master than her index");
    assert!(ann.iter().all(|sid| key_slot(store.key(sid).as_bytes()) != slot));
    let node = &cluster.nodes[owner];
    assert_eq!(node.cli(&["TYPE", &key]).trim(), "zset");
    assert_eq!(node.cli(&["ZCARD", &key]).trim(), "5");
    assert_eq!(node.cli(&["PTTL", &key]).trim(), "-1");
    assert_eq!(cluster_dbsize(&cluster), 8, "6 sessions and 2 indexes");
    // Every master walked, the indexes not counted.
    assert_eq!(store.length().await.unwrap(), 6);
    let mut walk = IdsWalk::new(store.clone(), 2);
    let mut ids = std::collections::HashSet::new();
    loop {
        let batch = walk.next_batch().await.unwrap();
        if batch.is_empty() {
            break;
        }
        ids.extend(batch);
    }
    assert_eq!(ids.len(), 6, "no index key among the ids");
    assert!(ann.iter().all(|sid| ids.contains(sid)) && ids.contains("bob-0"));

    list_then_destroy_all_but_one(&store, &ann, now).await;
    assert_eq!(cluster_dbsize(&cluster), 4);

    // Odd user ids (a hash tag picks the slot, as for any key) and a removal in batches.
    let long = "é".repeat(256);
    for user in ["{tag}x", "a*b?[c] é", long.as_str()] {
        let many: Vec<String> = (0..1100).map(|i| format!("s{i:04}")).collect();
        for (i, sid) in many.iter().enumerate() {
            assert_eq!(store.user_index_add(user, sid, i as i64).await.unwrap(), i as u64 + 1, "{user:?}");
        }
        let listed: Vec<String> = store.user_index_entries(user).await.unwrap().into_iter().map(|e| e.sid).collect();
        assert_eq!(listed, many, "{user:?}");
        store.user_index_remove(user, &many).await.unwrap();
        assert_eq!(store.user_index_entries(user).await.unwrap(), [], "{user:?}");
    }
    assert_eq!(key_slot(store.user_index_key("{tag}x").as_bytes()), key_slot(b"tag"));
    assert_eq!(cluster_dbsize(&cluster), 4, "emptied indexes are gone");
}


/// The engine with `userField` on the cluster (support::log_out_everywhere): the scenario
/// leaves only bob's session and index on the masters.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engine_log_out_everywhere_on_a_cluster() {
    let cluster = RedisCluster::start(3);
    let store = RedisStore::open_cluster(&cluster.urls()[..1], RedisStoreOptions::default()).unwrap();
    support::log_out_everywhere::engine_scenario(&store).await;
    assert_eq!(cluster_dbsize(&cluster), 2, "bob's session and index; ann's index went with her sessions");
}
