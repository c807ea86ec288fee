//! `NativeMemoryStore`: the core's in-process `MemoryStore` (JSON strings, TTL by monotonic
//! clock, lazy expiry plus sweeps, optional entry limit). All methods are synchronous.

use koa_session_core::store::{MemoryStore, MemoryStoreOptions};
use napi_derive::napi;
use crate::registry;
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

    /// The store's id for the per-request calls (`memoryLoad(engine, id, ...)`, see calls.rs).
    #[napi(getter, catch_unwind)]
    pub fn id(&self) -> u32 {
        self.id
    }
}
