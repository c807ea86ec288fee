//! `NativeMemoryStore`: the core's in-process `MemoryStore` (JSON strings, TTL by monotonic
//! clock, lazy expiry plus sweeps, optional entry limit). All methods are synchronous; the
//! JSON methods are the ones lib/stores/json-store.js describes, so the object itself serves
//! the middleware.

use crate::{errors, registry};
use koa_session_core::store::{MemoryStore, MemoryStoreOptions};
use koa_session_core::user_field::check_user_id;
use napi::bindgen_prelude::{Env, Result, Unknown, ValueType};
use napi_derive::napi;
use std::sync::Arc;

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
    /// `maxEntries`: at most this many sessions (a positive integer; undefined or null: no
    /// limit); at the limit a new one evicts the session closest to expiry. Anything else
    /// throws a `TypeError`.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, #[napi(ts_arg_type = "number | null | undefined")] max_entries: Unknown) -> Result<Self> {
        let number = match max_entries.get_type()? {
            ValueType::Undefined | ValueType::Null => None,
            ValueType::Number => Some(unsafe { max_entries.cast::<f64>()? }),
            _ => Some(f64::NAN),
        };
        let max_entries = match number {
            None => None,
            Some(n) if n.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&n) => Some(n as usize),
            Some(_) => return Err(errors::type_error(&env, "MemoryStore: option \"maxEntries\" must be a positive integer")),
        };
        let inner = Arc::new(MemoryStore::new(MemoryStoreOptions { max_entries }));
        let id = registry::add_memory_store(inner.clone());
        Ok(NativeMemoryStore { inner, id })
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

    /// Removes the record under `sid`, if any.
    #[napi(catch_unwind)]
    pub fn destroy_json(&self, sid: String) {
        self.inner.destroy_sync(&sid)
    }

    /// Extends the expiry of `sid`; false when there is no such session.
    #[napi(catch_unwind)]
    pub fn touch_json(&self, sid: String, ttl_ms: f64) -> bool {
        self.inner.touch_sync(&sid, super::ttl(ttl_ms))
    }

    /// Merges `json`, the session a request turned `loadedJson` (the record exactly as
    /// `getJson` gave it) into, into the record as it is now, under the store's lock: the
    /// request's top-level changes only, every other value kept byte for byte. 'merged', or
    /// 'gone' when the record no longer exists (nothing written: clear the cookies). Throws
    /// when either JSON is not an object. `renamed <id>`: merged into a session renewed
    /// meanwhile, whose cookie must now carry `<id>`.
    #[napi(catch_unwind, ts_return_type = "'merged' | 'gone' | `renamed ${string}`")]
    pub fn merge_json(&self, sid: String, loaded_json: String, json: String, ttl_ms: f64) -> Result<String> {
        let wanted = super::renewable(&json);
        let (outcome, written) = self
            .inner
            .merge_sync_written(&sid, loaded_json, json, super::ttl(ttl_ms))
            .map_err(|e| errors::invalid_arg(format!("MemoryStore#mergeJson: {e}")))?;
        Ok(super::merge_answer(outcome, written.as_deref(), wanted.as_deref(), &sid))
    }

    /// Puts `sid` in the index of `user` (the plan's `IndexUser`), stamped `nowMs`.
    #[napi(catch_unwind)]
    pub fn index_user_session(&self, user: String, sid: String, now_ms: f64) -> Result<()> {
        check_user_id(&user).map_err(errors::invalid_arg)?;
        self.inner.index_user_session_sync(&user, &sid, now_ms as i64).map_err(errors::invalid_arg)
    }

    /// The live sessions of `user` (records whose `field` names that user): `[id, sinceMs,
    /// json]` each, oldest login first. Ids are credentials: never show or log them.
    #[napi(catch_unwind, ts_return_type = "Array<[string, number, string]>")]
    pub fn user_sessions(&self, field: String, user: String, now_ms: f64) -> Result<super::UserSessionRows> {
        let field = super::user_field_args(&field, &user).map_err(errors::invalid_arg)?;
        self.inner.user_sessions_sync(&field, &user, now_ms as i64).map(super::user_session_rows).map_err(errors::invalid_arg)
    }

    /// Destroys every session indexed under `user` but `except`; how many there were.
    #[napi(catch_unwind)]
    pub fn destroy_user_sessions(&self, user: String, except: Option<String>) -> Result<f64> {
        check_user_id(&user).map_err(errors::invalid_arg)?;
        self.inner.destroy_user_sessions_sync(&user, except.as_deref()).map(|n| n as f64).map_err(errors::invalid_arg)
    }

    /// Live sessions (expired ones not counted).
    #[napi(catch_unwind)]
    pub fn length(&self) -> f64 {
        self.inner.length_sync() as f64
    }

    /// About `count` ids after `cursor` (null: from the start): `[ids, next cursor or null
    /// once every id was returned]`. Ids are credentials: never log them.
    #[napi(catch_unwind, ts_return_type = "[string[], string | null]")]
    pub fn ids_page(&self, cursor: Option<String>, count: u32) -> Result<(Vec<String>, Option<String>)> {
        let page = self.inner.ids_page_sync(cursor.as_deref(), count as usize).map_err(|e| errors::invalid_arg(format!("MemoryStore#ids: {e}")))?;
        Ok((page.ids, page.cursor))
    }

    /// Removes every session; returns how many live ones went.
    #[napi(catch_unwind)]
    pub fn clear(&self) -> f64 {
        self.inner.clear_sync() as f64
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
