//! Where sessions live between requests. A store keeps each session's JSON under its id with
//! a TTL. Stores are async (tokio) and object-safe, so an engine can hold any of them behind
//! `Arc<dyn Store>`: the native ones here, a C vtable store, or a Redis store.

pub mod conformance;
mod memory;
#[cfg(feature = "redis")]
pub mod redis;

pub use memory::{MemoryStore, MemoryStoreOptions};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The future every store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A session store. A miss is `Ok(None)`, not an error; errors mean the store could not answer.
pub trait Store: Send + Sync {
    /// The session JSON stored under `sid`, if any (expired records are misses).
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>>;
    /// Stores `json` under `sid` for `ttl`, replacing any record and its expiry.
    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()>;
    /// Removes `sid`; removing an unknown id succeeds.
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()>;
    /// Extends the expiry of `sid` without rewriting it; `false` when there is no such record.
    /// The default reads and rewrites the record.
    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            match self.get(sid).await? {
                Some(json) => {
                    self.set(sid, &json, ttl).await?;
                    Ok(true)
                }
                None => Ok(false),
            }
        })
    }
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
