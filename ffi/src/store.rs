//! `ks_store`: a handle to any session store. An engine keeps its own reference, so the
//! caller may free its handle right after `ks_engine_new()`. Each store kind is one
//! constructor returning a `ks_store`: the memory store here, C stores in `c_store.rs`,
//! Redis stores in `redis_store.rs`.

use crate::boundary::{guard, guard_value, out};
use crate::result::ks_result;
use koa_session_core::store::{MemoryStore, MemoryStoreOptions, Store, StoreOperator};
use crate::c_store::CStore;
use koa_session_core::{RedisStore, SessionConfig};
use std::sync::Arc;

/// A session store. Ownership: made by a `ks_*_store_new()` function, released by
/// `ks_store_free()`; engines made from it hold their own reference, so the store lives
/// until the caller's handle and every such engine are freed. Thread-safety: a store may be
/// used by any number of engines and threads at once.
pub struct ks_store {
    pub(crate) inner: Arc<dyn Store>,
    /// The same store when it is a Redis store, for its connection state.
    pub(crate) redis: Option<RedisStore>,
    /// The same store when it is a C store: each engine takes a view with its own deadline.
    pub(crate) c_store: Option<CStore>,
    /// Its callbacks when it is a C store, for registering the optional ones.
    pub(crate) c_callbacks: Option<Arc<crate::c_store::Callbacks>>,
    /// The same store's operator calls (length, ids, clear) when it is a native store.
    pub(crate) operator: Option<Arc<dyn StoreOperator>>,
}

impl ks_store {
    /// The store behind the handle, for Rust code (tests, hosts mixing Rust and C).
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.inner)
    }

    pub(crate) fn new_memory(store: Arc<MemoryStore>) -> *mut ks_store {
        Box::into_raw(Box::new(ks_store { inner: store.clone(), redis: None, c_store: None, c_callbacks: None, operator: Some(store) }))
    }

    pub(crate) fn new_c(store: CStore, callbacks: Arc<crate::c_store::Callbacks>) -> *mut ks_store {
        Box::into_raw(Box::new(ks_store { inner: Arc::new(store.clone()), redis: None, c_store: Some(store), c_callbacks: Some(callbacks), operator: None }))
    }

    /// The store as an engine with these settings uses it: a C store bounded by the engine's
    /// store timeout, any other store as it is (native stores bound their own I/O).
    pub(crate) fn for_engine(&self, config: &SessionConfig) -> Arc<dyn Store> {
        match &self.c_store {
            Some(c) => Arc::new(c.with_deadline(config.store_timeout())),
            None => Arc::clone(&self.inner),
        }
    }
}

/// Makes an in-process memory store: records are JSON strings, expire by TTL (checked on
/// read, swept periodically, no timer per entry), and nothing outside the store can change
/// them. `max_entries` limits the number of sessions (0 = unlimited); at the limit a new
/// session evicts the one closest to expiry. On success `*store_out` receives the store.
/// Errors: KS_RESULT_NULL_PARAMETER.
///
/// # Safety
/// `store_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_memory_store_new(max_entries: usize, store_out: *mut *mut ks_store) -> ks_result {
    guard(|| {
        let store_out = out(store_out)?;
        let options = MemoryStoreOptions { max_entries: Some(max_entries).filter(|&n| n > 0) };
        *store_out = ks_store::new_memory(Arc::new(MemoryStore::new(options)));
        Ok(())
    })
}

/// Releases the caller's reference to a store. NULL is a no-op. Engines made from the store
/// keep it alive; a C store's `drop` callback runs when the last reference goes.
///
/// # Safety
/// `store` is NULL or a store handle not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ks_store_free(store: *mut ks_store) {
    guard_value((), || {
        if !store.is_null() {
            drop(Box::from_raw(store));
        }
    })
}
