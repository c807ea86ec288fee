//! The store-conformance suite: one set of checks every `Store` must pass (memory, Redis, a C
//! vtable store, ...). Call [`run`] from a multi-threaded tokio test. Ids are random, so the
//! suite can run against a store that holds other data; it removes what it writes.

use super::{merge_into_store, CasResult, MergeOutcome, Store, StoreError};
use crate::sid::generate_sid;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct ConformanceOptions {
    /// Concurrent tasks in the hammer check.
    pub tasks: usize,
    /// Operations per task in the hammer check.
    pub ops_per_task: usize,
    /// Short TTL used by the expiry checks; the suite waits about 3x this.
    pub short_ttl: Duration,
    /// Concurrent merges of different keys into one record (stores with compare-and-set).
    pub merges: usize,
}

impl Default for ConformanceOptions {
    fn default() -> Self {
        ConformanceOptions { tasks: 8, ops_per_task: 2_000, short_ttl: Duration::from_millis(150), merges: 50 }
    }
}

fn sid() -> String {
    format!("conformance-{}", generate_sid().expect("OS randomness"))
}

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            panic!("store conformance: {}", format!($($msg)+));
        }
    };
}

/// Runs every check; panics with a description of the first violation.
pub async fn run(store: Arc<dyn Store>, opts: ConformanceOptions) -> Result<(), StoreError> {
    basic_crud(&*store).await?;
    exact_bytes(&*store).await?;
    expiry(&*store, opts.short_ttl).await?;
    long_ttl_and_touch(&*store).await?;
    touch_never_creates(&*store).await?;
    compare_and_set(&*store).await?;
    merge_keeps_exact_values(&*store).await?;
    merge_never_resurrects(&*store).await?;
    concurrent_merges(store.clone(), opts.merges).await?;
    compare_and_set_counter(store.clone(), opts.tasks, 25).await?;
    hammer(store, opts.tasks, opts.ops_per_task).await?;
    Ok(())
}

pub async fn basic_crud(store: &dyn Store) -> Result<(), StoreError> {
    let id = sid();
    check!(store.get(&id).await?.is_none(), "an unknown id must be a miss");
    store.set(&id, r#"{"n":1}"#, Duration::from_secs(60)).await?;
    check!(store.get(&id).await?.as_deref() == Some(r#"{"n":1}"#), "get after set");
    store.set(&id, r#"{"n":2}"#, Duration::from_secs(60)).await?;
    check!(store.get(&id).await?.as_deref() == Some(r#"{"n":2}"#), "set must replace");
    store.destroy(&id).await?;
    check!(store.get(&id).await?.is_none(), "get after destroy must miss");
    store.destroy(&id).await?;
    store.destroy(&sid()).await?;
    Ok(())
}

pub async fn exact_bytes(store: &dyn Store) -> Result<(), StoreError> {
    let id = sid();
    let big = format!(r#"{{"blob":"{}","uni":"żółć 🦀 \u0000"}}"#, "x".repeat(200_000));
    for json in [r#"{}"#, r#"{"a":{"b":[1,2.5,null,true]},"s":"quote\"back\\slash"}"#, big.as_str()] {
        store.set(&id, json, Duration::from_secs(60)).await?;
        check!(store.get(&id).await?.as_deref() == Some(json), "record of {} bytes must come back unchanged", json.len());
    }
    store.destroy(&id).await?;
    Ok(())
}

pub async fn expiry(store: &dyn Store, short: Duration) -> Result<(), StoreError> {
    let (a, b) = (sid(), sid());
    store.set(&a, "{}", short).await?;
    store.set(&b, "{}", short).await?;
    check!(store.get(&a).await?.is_some(), "a record must live until its TTL");
    tokio::time::sleep(short * 2 / 3).await;
    // Setting again restarts the TTL.
    store.set(&b, r#"{"again":1}"#, short).await?;
    tokio::time::sleep(short * 2 / 3).await;
    check!(store.get(&a).await?.is_none(), "a record must be gone after its TTL");
    check!(store.get(&b).await?.is_some(), "set must restart the TTL");
    tokio::time::sleep(short).await;
    check!(store.get(&b).await?.is_none(), "a re-set record must expire after its new TTL");
    // touch and compare-and-set set the expiry too, also to a shorter one.
    let (c, d) = (sid(), sid());
    store.set(&c, "{}", Duration::from_secs(60)).await?;
    check!(store.touch(&c, short).await?, "touch of a live record returns true");
    if store.supports_compare_and_set() {
        store.set(&d, r#"{"d":1}"#, Duration::from_secs(60)).await?;
        check!(store.compare_and_set(&d, r#"{"d":1}"#, r#"{"d":2}"#, short).await? == CasResult::Stored, "compare-and-set");
    }
    tokio::time::sleep(short * 2).await;
    check!(store.get(&c).await?.is_none(), "a touched record must expire after the TTL touch gave it");
    check!(store.get(&d).await?.is_none(), "a compare-and-set record must expire after its TTL");
    Ok(())
}

pub async fn long_ttl_and_touch(store: &dyn Store) -> Result<(), StoreError> {
    let id = sid();
    let ninety_days = Duration::from_secs(90 * 86_400);
    store.set(&id, r#"{"long":true}"#, ninety_days).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    check!(store.get(&id).await?.is_some(), "a 90-day TTL must not expire at once");
    check!(store.touch(&id, ninety_days).await?, "touch of a live record returns true");
    check!(!store.touch(&sid(), ninety_days).await?, "touch of an unknown id returns false");
    store.destroy(&id).await?;
    Ok(())
}

/// touch reports a missing record and creates nothing; it leaves the record's bytes alone.
pub async fn touch_never_creates(store: &dyn Store) -> Result<(), StoreError> {
    let id = sid();
    check!(!store.touch(&id, Duration::from_secs(60)).await?, "touch of an unknown id returns false");
    check!(store.get(&id).await?.is_none(), "touch of an unknown id must create nothing");
    let json = r#"{"n":9007199254740993,"f":0.1}"#;
    store.set(&id, json, Duration::from_secs(60)).await?;
    check!(store.touch(&id, Duration::from_secs(120)).await?, "touch of a live record returns true");
    check!(store.get(&id).await?.as_deref() == Some(json), "touch must not change the record");
    store.destroy(&id).await?;
    check!(!store.touch(&id, Duration::from_secs(60)).await?, "touch of a destroyed id returns false");
    check!(store.get(&id).await?.is_none(), "touch must not bring a destroyed record back");
    Ok(())
}

/// Compare-and-set compares exact bytes, writes only on a match, and never creates a record.
/// Skipped for stores without it.
pub async fn compare_and_set(store: &dyn Store) -> Result<(), StoreError> {
    if !store.supports_compare_and_set() {
        return Ok(());
    }
    let (id, ttl) = (sid(), Duration::from_secs(60));
    check!(store.compare_and_set(&id, "{}", "{}", ttl).await? == CasResult::Missing, "compare-and-set on nothing");
    check!(store.get(&id).await?.is_none(), "compare-and-set on nothing must create nothing");
    let v1 = r#"{"a":1,"u":"\u00e9"}"#;
    store.set(&id, v1, ttl).await?;
    // One byte off (the same JSON value written differently) is a different record.
    for wrong in [r#"{"a":1,"u":"é"}"#, r#"{"a":1,"u":"\u00e9"} "#, r#"{"a":1,"u":"\u00E9"}"#, ""] {
        let answer = store.compare_and_set(&id, wrong, r#"{"b":2}"#, ttl).await?;
        check!(answer == CasResult::Changed(v1.to_owned()), "expected {wrong:?}: answer {answer:?}");
    }
    check!(store.get(&id).await?.as_deref() == Some(v1), "a failed compare-and-set must write nothing");
    check!(store.compare_and_set(&id, v1, r#"{"b":2}"#, ttl).await? == CasResult::Stored, "matching compare-and-set");
    check!(store.get(&id).await?.as_deref() == Some(r#"{"b":2}"#), "compare-and-set must replace the record");
    store.destroy(&id).await?;
    check!(store.compare_and_set(&id, r#"{"b":2}"#, "{}", ttl).await? == CasResult::Missing, "after destroy");
    check!(store.get(&id).await?.is_none(), "compare-and-set must not bring a destroyed record back");
    Ok(())
}

/// Values no request touched come back byte for byte after a merge that changed other keys.
pub async fn merge_keeps_exact_values(store: &dyn Store) -> Result<(), StoreError> {
    if !store.supports_compare_and_set() {
        return Ok(());
    }
    let (id, ttl) = (sid(), Duration::from_secs(60));
    let exotic = r#""big":9007199254740993,"tenth":0.1,"huge":1e300,"esc":"\u00e9\ud83e\udd80","deep":[[[[[[[[[[{"x":[1.50]}]]]]]]]]]]"#;
    let loaded = format!(r#"{{"cookie":{{"maxAge":60000}},{exotic}}}"#);
    store.set(&id, &loaded, ttl).await?;
    // Another request wrote meanwhile, so this merge must re-apply onto its record.
    let theirs = format!(r#"{{"cookie":{{"maxAge":60000}},{exotic},"theirs":1}}"#);
    store.set(&id, &theirs, ttl).await?;
    let mine = format!(r#"{{"cookie":{{"maxAge":60000}},{exotic},"mine":2}}"#);
    let outcome = merge_into_store(store, &id, loaded, mine, ttl).await?;
    check!(outcome == MergeOutcome::Merged, "merge outcome {outcome:?}");
    let want = format!(r#"{{"cookie":{{"maxAge":60000}},{exotic},"theirs":1,"mine":2}}"#);
    check!(store.get(&id).await?.as_deref() == Some(want.as_str()), "merged record: {:?}", store.get(&id).await?);
    store.destroy(&id).await
}

/// A merge onto a record that was destroyed (a logout elsewhere) or expired writes nothing.
pub async fn merge_never_resurrects(store: &dyn Store) -> Result<(), StoreError> {
    if !store.supports_compare_and_set() {
        return Ok(());
    }
    let (id, ttl) = (sid(), Duration::from_secs(60));
    store.set(&id, r#"{"user":"ann"}"#, ttl).await?;
    store.destroy(&id).await?;
    let outcome = merge_into_store(store, &id, r#"{"user":"ann"}"#.into(), r#"{"user":"ann","n":1}"#.into(), ttl).await?;
    check!(outcome == MergeOutcome::Gone, "merge onto a destroyed record: {outcome:?}");
    check!(store.get(&id).await?.is_none(), "a merge must not re-create a destroyed record");
    Ok(())
}

/// `n` tasks that all loaded the same record each merge a different key into it: every key
/// must be there at the end (a whole-record write would keep only a few).
pub async fn concurrent_merges(store: Arc<dyn Store>, n: usize) -> Result<(), StoreError> {
    if !store.supports_compare_and_set() || n == 0 {
        return Ok(());
    }
    let (id, ttl) = (sid(), Duration::from_secs(60));
    let loaded = r#"{"cookie":{"maxAge":60000},"big":9007199254740993}"#.to_owned();
    store.set(&id, &loaded, ttl).await?;
    let mut handles = Vec::new();
    for i in 0..n {
        let (store, id, loaded) = (store.clone(), id.clone(), loaded.clone());
        handles.push(tokio::spawn(async move {
            let mine = format!(r#"{},"k{i}":{i}}}"#, &loaded[..loaded.len() - 1]);
            merge_into_store(&*store, &id, loaded, mine, ttl).await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let outcome = h.await.expect("merge task panicked")?;
        check!(outcome == MergeOutcome::Merged, "merge {i} of {n}: {outcome:?}");
    }
    let record = store.get(&id).await?.unwrap_or_default();
    for i in 0..n {
        check!(record.contains(&format!(r#""k{i}":{i}"#)), "key k{i} was lost: {record}");
    }
    check!(record.starts_with(r#"{"cookie":{"maxAge":60000},"big":9007199254740993,"#), "untouched values kept: {record}");
    store.destroy(&id).await
}

/// Compare-and-set is atomic: `tasks` tasks each add 1 to a counter `per_task` times with a
/// read / compare-and-set loop (no turns taken), and none of the increments is lost.
pub async fn compare_and_set_counter(store: Arc<dyn Store>, tasks: usize, per_task: usize) -> Result<(), StoreError> {
    if !store.supports_compare_and_set() {
        return Ok(());
    }
    let (id, ttl) = (sid(), Duration::from_secs(60));
    store.set(&id, r#"{"n":0}"#, ttl).await?;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, id) = (store.clone(), id.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let mut current = store.get(&id).await?.unwrap_or_default();
                loop {
                    let n: u64 = current.trim_start_matches(r#"{"n":"#).trim_end_matches('}').parse().unwrap_or(u64::MAX);
                    check!(n != u64::MAX, "counter record torn: {current:?}");
                    match store.compare_and_set(&id, &current, &format!(r#"{{"n":{}}}"#, n + 1), ttl).await? {
                        CasResult::Stored => break,
                        CasResult::Changed(now) => current = now,
                        CasResult::Missing => panic!("store conformance: the counter record vanished"),
                    }
                }
            }
            Ok::<_, StoreError>(())
        }));
    }
    for h in handles {
        h.await.expect("counter task panicked")?;
    }
    let want = format!(r#"{{"n":{}}}"#, tasks * per_task);
    let got = store.get(&id).await?;
    check!(got.as_deref() == Some(want.as_str()), "lost increments: {got:?}, want {want}");
    store.destroy(&id).await
}

/// `tasks` tasks each write, read back and destroy their own ids while all of them also
/// rewrite one shared id; every read must see a value some task wrote.
pub async fn hammer(store: Arc<dyn Store>, tasks: usize, ops: usize) -> Result<(), StoreError> {
    let shared = sid();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        let shared = shared.clone();
        handles.push(tokio::spawn(async move {
            let mine = sid();
            for i in 0..ops {
                let json = format!(r#"{{"t":{t},"i":{i}}}"#);
                store.set(&mine, &json, Duration::from_secs(60)).await?;
                let back = store.get(&mine).await?;
                check!(back.as_deref() == Some(json.as_str()), "task {t} op {i}: read {back:?}");
                store.set(&shared, &json, Duration::from_secs(60)).await?;
                let seen = store.get(&shared).await?.unwrap_or_default();
                check!(seen.starts_with(r#"{"t":"#), "shared id holds a torn value: {seen:?}");
                if i % 10 == 9 {
                    store.destroy(&mine).await?;
                    check!(store.get(&mine).await?.is_none(), "task {t}: destroy then get");
                }
            }
            store.destroy(&mine).await
        }));
    }
    for h in handles {
        h.await.expect("hammer task panicked")?;
    }
    store.destroy(&shared).await
}
