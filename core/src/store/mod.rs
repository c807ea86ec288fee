//! Where sessions live between requests. A store keeps each session's JSON under its id with
//! a TTL. Stores are async (tokio) and object-safe, so an engine can hold any of them behind
//! `Arc<dyn Store>`: the native ones here, a C vtable store, or a Redis store.

pub mod conformance;
mod memory;
mod merge_into;
pub mod operator;
pub mod user_index;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub mod redis_options;

pub use crate::merge::MergeOutcome;
pub use memory::{MemoryStore, MemoryStoreOptions};
pub use merge_into::{merge_into_store, merge_into_store_written, merge_request_into_store, merge_request_into_store_written};
pub use operator::{IdsPage, IdsWalk, StoreOperator, DEFAULT_IDS_BATCH};
pub use user_index::{destroy_user_sessions, index_user_session, user_sessions, IndexEntry, UserSession, PRUNE_GRACE_MS};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The future every store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The answer to a compare-and-set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CasResult {
    /// The record was exactly the expected bytes and is now the new JSON (with the new TTL).
    Stored,
    /// The record differs from the expected bytes: here it is, as it is now. Nothing written.
    Changed(String),
    /// There is no record (destroyed, expired, never written). Nothing written.
    Missing,
}

/// A session store. A miss is `Ok(None)`, not an error; errors mean the store could not answer.
pub trait Store: Send + Sync {
    /// The session JSON stored under `sid`, if any (expired records are misses).
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>>;
    /// Stores `json` under `sid` for `ttl`, replacing any record and its expiry.
    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()>;
    /// Removes `sid`; removing an unknown id succeeds.
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()>;
    /// Extends the expiry of `sid` without changing it; `false` when there is no such record.
    /// The default reads the record and writes it back: with compare-and-set, so a record
    /// someone changed meanwhile is left as they wrote it; without, as a plain rewrite.
    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(touch_by_rewrite(self, sid, ttl))
    }
    /// Whether `touch` is the store's own (an expiry update), not the read-and-rewrite default.
    fn supports_touch(&self) -> bool {
        false
    }
    /// Atomically: if the record under `sid` is exactly `expected` (byte for byte), replace it
    /// with `json` for `ttl`; otherwise write nothing and say what is there. Stores that
    /// implement it return true from [`Store::supports_compare_and_set`]; the default fails.
    fn compare_and_set<'a>(&'a self, sid: &'a str, expected: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, CasResult> {
        let _ = (sid, expected, json, ttl);
        Box::pin(async { Err(StoreError::new(StoreErrorKind::Backend, "this store does not support compare-and-set")) })
    }
    /// Whether [`Store::compare_and_set`] works. Without it, commits write whole records.
    fn supports_compare_and_set(&self) -> bool {
        false
    }
    /// Whether the three user-index methods below work (the `userField` option needs them).
    fn supports_user_index(&self) -> bool {
        false
    }
    /// Adds (or refreshes) `sid` in the index of `user`, stamped `since_ms` (unix ms); returns
    /// how many entries that user's index holds now. See [`user_index`] for the rules.
    fn user_index_add<'a>(&'a self, user: &'a str, sid: &'a str, since_ms: i64) -> StoreFuture<'a, u64> {
        let _ = (user, sid, since_ms);
        Box::pin(async { Err(no_user_index()) })
    }
    /// Every entry of the index of `user` (an unknown user has none).
    fn user_index_entries<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        let _ = user;
        Box::pin(async { Err(no_user_index()) })
    }
    /// Removes these ids from the index of `user` (ids it does not hold are ignored).
    fn user_index_remove<'a>(&'a self, user: &'a str, sids: &'a [String]) -> StoreFuture<'a, ()> {
        let _ = (user, sids);
        Box::pin(async { Err(no_user_index()) })
    }
}

fn no_user_index() -> StoreError {
    StoreError::new(StoreErrorKind::Backend, "this store keeps no user index (userField needs one)")
}

/// The default [`Store::touch`], for stores that implement `touch` only sometimes (a C store
/// without a touch callback): reads the record and writes it back with the new TTL, by
/// compare-and-set when the store has it (a record someone changed meanwhile is left as they
/// wrote it, with their expiry), else by a plain `set`.
pub async fn touch_by_rewrite<S: Store + ?Sized>(store: &S, sid: &str, ttl: Duration) -> Result<bool, StoreError> {
    let Some(json) = store.get(sid).await? else { return Ok(false) };
    if !store.supports_compare_and_set() {
        store.set(sid, &json, ttl).await?;
        return Ok(true);
    }
    Ok(store.compare_and_set(sid, &json, &json, ttl).await? != CasResult::Missing)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Not connected (yet, or any more).
    Unavailable,
    /// The store did not answer in time.
    Timeout,
    /// The store answered with an error.
    Backend,
    /// The store refused the data (e.g. too large, or full).
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    pub message: String,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        StoreError { kind, message: message.into() }
    }

    /// A host-language store call (`op`: get, set, destroy, touch) passed its deadline, the
    /// `storeTimeout` option (`store_timeout_ms` in C). One wording for every host.
    pub fn deadline_exceeded(op: &str, timeout: Duration) -> Self {
        StoreError::new(
            StoreErrorKind::Timeout,
            format!("session store {op} did not answer within {} ms (storeTimeout)", timeout.as_millis()),
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for StoreError {}
