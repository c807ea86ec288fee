//! The MemoryStore against the store-conformance suite, plus 8 OS threads hammering one store.

use koa_session_core::store::conformance::{self, ConformanceOptions};
use koa_session_core::store::{MemoryStoreOptions, Store};
use koa_session_core::MemoryStore;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn memory_store_conforms() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    conformance::run(store, ConformanceOptions::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_with_a_limit_conforms() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(MemoryStoreOptions { max_entries: Some(100_000) }));
    conformance::run(store, ConformanceOptions::default()).await.unwrap();
}

#[test]
fn eight_threads_hammer_one_store() {
    let store = Arc::new(MemoryStore::new(MemoryStoreOptions { max_entries: Some(50_000) }));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    let sid = format!("t{t}-{}", i % 500);
                    let json = format!(r#"{{"t":{t},"i":{i}}}"#);
                    store.set_sync(&sid, &json, Duration::from_secs(60));
                    assert_eq!(store.get_sync(&sid).as_deref(), Some(json.as_str()));
                    store.set_sync("shared", &json, Duration::from_millis(1 + (i % 3) as u64));
                    if let Some(seen) = store.get_sync("shared") {
                        assert!(seen.starts_with(r#"{"t":"#));
                    }
                    if i % 7 == 0 {
                        store.destroy_sync(&sid);
                        assert_eq!(store.get_sync(&sid), None);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    store.sweep();
    // 8 threads x 500 ids, plus possibly "shared"; destroyed ones are gone.
    assert!(store.len() <= 8 * 500 + 1, "len {}", store.len());
    let live = (0..8).flat_map(|t| (0..500).map(move |k| format!("t{t}-{k}"))).filter(|s| store.get_sync(s).is_some()).count();
    assert_eq!(live + store.get_sync("shared").is_some() as usize, store.len());
}

#[test]
fn reads_are_copies() {
    let store = MemoryStore::default();
    store.set_sync("s", r#"{"nested":{"a":1}}"#, Duration::from_secs(60));
    let mut copy = store.get_sync("s").unwrap();
    copy.push_str("mutated");
    assert_eq!(store.get_sync("s").as_deref(), Some(r#"{"nested":{"a":1}}"#));
}

/// The Node addon's fast path merges synchronously from many threads: 50 threads that all
/// loaded one record each merge a different key into it, and every key stays.
#[test]
fn fifty_threads_merge_sync_into_one_record() {
    use koa_session_core::MergeOutcome;
    let store = Arc::new(MemoryStore::default());
    let loaded = r#"{"cookie":{"maxAge":60000},"tenth":0.1}"#;
    store.set_sync("s", loaded, Duration::from_secs(60));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mine = format!(r#"{{"cookie":{{"maxAge":60000}},"tenth":0.1,"k{i}":{i}}}"#);
                store.merge_sync("s", loaded.to_owned(), mine, Duration::from_secs(60))
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Ok(MergeOutcome::Merged));
    }
    let record = store.get_sync("s").unwrap();
    assert!(record.starts_with(r#"{"cookie":{"maxAge":60000},"tenth":0.1,"#), "{record}");
    for i in 0..50 {
        assert!(record.contains(&format!(r#""k{i}":{i}"#)), "k{i} lost: {record}");
    }
}

/// Operator calls: length counts live sessions only, ids pages through every one exactly once
/// (5,000 sessions in batches of 7), clear removes them all.
#[tokio::test]
async fn operator_calls_length_ids_clear() {
    use koa_session_core::{IdsWalk, StoreOperator};
    use std::collections::HashSet;
    let store = Arc::new(MemoryStore::default());
    assert_eq!(store.length().await.unwrap(), 0);
    let empty = store.ids_page(None, 10).await.unwrap();
    assert!(empty.ids.is_empty() && empty.cursor.is_none());
    for i in 0..5000 {
        store.set_sync(&format!("sid-{i}"), "{}", Duration::from_secs(600));
    }
    // Expired records neither count nor are listed.
    for i in 0..50 {
        store.set_sync(&format!("short-{i}"), "{}", Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(store.length().await.unwrap(), 5000);

    let mut walk = IdsWalk::new(store.clone(), 7);
    let (mut seen, mut batches) = (HashSet::new(), 0);
    loop {
        let batch = walk.next_batch().await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 8, "about 7 per batch, got {}", batch.len());
        batches += 1;
        for id in batch {
            assert!(id.starts_with("sid-"), "an expired id was listed");
            assert!(seen.insert(id), "an id came twice");
        }
    }
    assert!(walk.finished());
    assert_eq!(seen.len(), 5000);
    assert!(batches >= 5000 / 8, "{batches} batches");
    assert!(walk.next_batch().await.unwrap().is_empty(), "a finished walk stays finished");

    // Removing sessions during a walk: the ones kept are still all returned, once.
    let mut walk = IdsWalk::new(store.clone(), 100);
    let mut kept = HashSet::new();
    let mut first = true;
    loop {
        let batch = walk.next_batch().await.unwrap();
        if batch.is_empty() {
            break;
        }
        if first {
            for i in (0..5000).step_by(2) {
                store.destroy_sync(&format!("sid-{i}"));
            }
            first = false;
        }
        for id in batch {
            assert!(kept.insert(id), "an id came twice");
        }
    }
    assert!((1..5000).step_by(2).all(|i| kept.contains(&format!("sid-{i}"))));
    assert!(matches!(store.ids_page(Some("not a cursor"), 10).await, Err(e) if e.kind == koa_session_core::StoreErrorKind::Rejected));

    assert_eq!(store.clear().await.unwrap(), 2500);
    assert_eq!(store.length().await.unwrap(), 0);
    assert!(store.is_empty());
    assert_eq!(store.get_sync("sid-1"), None);
}
