//! The store-conformance suite: one set of checks every `Store` must pass (memory, Redis, a C
//! vtable store, ...). Call [`run`] from a multi-threaded tokio test. Ids are random, so the
//! suite can run against a store that holds other data; it removes what it writes.

use super::{Store, StoreError};
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
}

impl Default for ConformanceOptions {
    fn default() -> Self {
        ConformanceOptions { tasks: 8, ops_per_task: 2_000, short_ttl: Duration::from_millis(150) }
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
