//! `ks_engine`: the configured session engine, shared by every thread of a server.

use crate::boundary::{arg, guard, guard_value, out};
use crate::config::ks_config_builder;
use crate::result::ks_result;
use crate::store::ks_store;
use koa_session_core::Engine;
use std::sync::Arc;

/// The session engine: settings plus a store. Ownership: made by `ks_engine_new()`, released
/// by `ks_engine_free()`; sessions loaded from it keep what they need alive, so the engine
/// may be freed while sessions or asynchronous calls are still open. Thread-safety: fully
/// thread-safe; make one per configuration and share it across all server threads.
pub struct ks_engine {
    pub(crate) inner: Arc<Engine>,
}

/// Makes an engine from the builder's settings (copied; the builder stays the caller's) and a
/// store (the engine takes its own reference; the caller still frees its handle). On success
/// `*engine_out` receives the engine. Errors: KS_RESULT_NULL_PARAMETER, the settings errors
/// of `ks_config_builder_validate()`, and KS_RESULT_INVALID_ARGUMENT for a store that cannot do
/// what the settings need (`ks_last_error_message()` names the option and what the store
/// lacks): the user field, the idle and absolute timeouts and the renewal interval need
/// compare-and-set, the user field also a user index.
///
/// # Safety
/// `config` and `store` are live handles; `engine_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_engine_new(config: *const ks_config_builder, store: *const ks_store, engine_out: *mut *mut ks_engine) -> ks_result {
    guard(|| {
        let config = arg(config)?;
        let (log, clock) = (config.log, config.clock);
        let store = arg(store)?;
        let engine_out = out(engine_out)?;
        let config = config.build()?;
        let store = store.for_engine(&config);
        let mut engine = Engine::new(config, store)?;
        if let Some(log) = log {
            engine = engine.with_log(log.decision_log());
        }
        if let Some(clock) = clock {
            engine = engine.with_clock(clock.clock());
        }
        *engine_out = Box::into_raw(Box::new(ks_engine { inner: Arc::new(engine) }));
        Ok(())
    })
}

/// Releases the caller's engine handle. NULL is a no-op. Sessions and asynchronous calls
/// still open keep the engine's state alive until they end.
///
/// # Safety
/// `engine` is NULL or an engine handle not yet freed, and no other thread is using this
/// handle.
#[no_mangle]
pub unsafe extern "C" fn ks_engine_free(engine: *mut ks_engine) {
    guard_value((), || {
        if !engine.is_null() {
            drop(Box::from_raw(engine));
        }
    })
}
