//! `NativeMemoryStore`: the core's in-process `MemoryStore` (JSON strings, TTL by monotonic
//! clock, lazy expiry plus sweeps, optional entry limit). All methods are synchronous.

use crate::{errors, registry};
use koa_session_core::store::{MemoryStore, MemoryStoreOptions};
use napi::Result;
use napi_derive::napi;
use std::sync::Arc;

#[napi(object)]
pub struct NativeMemoryStoreOptions {
    /// At most this many sessions; at the limit a new one evicts the session closest to expiry.
    pub max_entries: Option<u32>,
}

#[napi]
pub struct NativeMemoryStore {
    inner: Arc<MemoryStore>,
    id: u32,
}

impl Drop for NativeMemoryStore {
    fn drop(&mut self) {
        registry::remove_memory_store(self.id);
    }
}

#[napi]
impl NativeMemoryStore {
    #[napi(constructor, catch_unwind)]
    pub fn new(options: Option<NativeMemoryStoreOptions>) -> Self {
        let max_entries = options.and_then(|o| o.max_entries).map(|n| n as usize);
        let inner = Arc::new(MemoryStore::new(MemoryStoreOptions { max_entries }));
        let id = registry::add_memory_store(inner.clone());
        NativeMemoryStore { inner, id }
    }

    /// The session JSON under `sid`, or null (unknown or expired).
    #[napi(catch_unwind)]
    pub fn get_json(&self, sid: String) -> Option<String> {
        self.inner.get_sync(&sid)
    }

    /// Stores `json` under `sid` for `ttlMs` (replacing record and expiry; <= 0 removes it).
    #[napi(catch_unwind)]
    pub fn set_json(&self, sid: String, json: String, ttl_ms: f64) {
        self.inner.set_sync(&sid, &json, super::ttl(ttl_ms))
    }

    #[napi(catch_unwind)]
    pub fn destroy(&self, sid: String) {
        self.inner.destroy_sync(&sid)
    }

    /// Extends the expiry of `sid`; false when there is no such session.
    #[napi(catch_unwind)]
    pub fn touch(&self, sid: String, ttl_ms: f64) -> bool {
        self.inner.touch_sync(&sid, super::ttl(ttl_ms))
    }

    /// Merges `json`, the session a request turned `loadedJson` (the record exactly as
    /// `getJson` gave it) into, into the record as it is now, under the store's lock: the
    /// request's top-level changes only, every other value kept byte for byte. 'merged', or
    /// 'gone' when the record no longer exists (nothing written: clear the cookies). Throws
    /// when either JSON is not an object.
    #[napi(catch_unwind, ts_return_type = "'merged' | 'gone'")]
    pub fn merge_json(&self, sid: String, loaded_json: String, json: String, ttl_ms: f64) -> Result<&'static str> {
        self.inner
            .merge_sync(&sid, loaded_json, json, super::ttl(ttl_ms))
            .map(super::merge_outcome)
            .map_err(|e| errors::invalid_arg(format!("MemoryStore#mergeJson: {e}")))
    }

    /// Removes expired records now; returns how many went.
    #[napi(catch_unwind)]
    pub fn sweep(&self) -> u32 {
        self.inner.sweep().min(u32::MAX as usize) as u32
    }

    /// Records held (expired ones not yet swept included).
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.inner.len().min(u32::MAX as usize) as u32
    }

    /// The store's id for the per-request calls (`requestBegin(engine, ..., id)`, see calls.rs).
    #[napi(getter, catch_unwind)]
    pub fn id(&self) -> u32 {
        self.id
    }
}
