//! The Node.js face of the koa-session-ts engine (napi-rs).
//!
//! - [`engine`]: `SessionEngine`, the validated configuration, built once per middleware
//!   (and per `app.keys`, read by [`app_keys`]).
//! - [`calls`]: the per-request calls (the core's state machine, driven synchronously by the
//!   JS middleware, which does every await: store calls, hooks, `genSid`), as plain Node-API
//!   functions over [`raw`], with engines and memory stores named by [`registry`] ids.
//! - [`codes`]: the core's codes those calls use (steps, load reports, plan operations).
//! - [`stores`]: native stores as JS classes (`NativeMemoryStore`, `NativeRedisStore`).
//!
//! Session data crosses the boundary as JSON strings. No session rule lives here: every
//! decision comes from `koa-session-core`; this crate only translates.
#![deny(clippy::all)]
// napi-derive registers `#[napi]` exports only outside cfg(test), so a test build (clippy
// --all-targets; the crate itself has no Rust tests) sees them as unused.
#![cfg_attr(test, allow(dead_code))]

mod app_keys;
mod calls;
mod codes;
mod engine;
mod explain;
mod js_json;
mod merge;
mod errors;
mod raw;
mod registry;
mod runtime;
mod stores;

use napi::bindgen_prelude::*;
use napi_derive::napi;

/// A fresh session id from the OS CSPRNG: 24 bytes, base64url, 32 characters.
#[napi(catch_unwind)]
pub fn generate_sid() -> Result<String> {
    koa_session_core::sid::generate_sid().map_err(|e| Error::from_reason(format!("cannot generate a session id: {e}")))
}

/// A session id as `NODE_DEBUG=koa-session-ts` shows it: a keyed hash under a random key made
/// once per process (`#` and 12 hex digits), the same tag the C log callback shows.
#[napi(catch_unwind)]
pub fn log_id(sid: String) -> String {
    koa_session_core::log_id::log_id(&sid)
}

/// The store TTL in ms for a session (its JSON), from its `cookie.maxAge` / `cookie.expires`
/// as of `nowMs` (unix ms; the system clock when omitted), `defaultTtlMs` (one day when
/// omitted) for a browser-session cookie or JSON that is no session object. Zero or less:
/// expired.
#[napi(catch_unwind)]
pub fn session_ttl_ms(session_json: String, default_ttl_ms: Option<f64>, now_ms: Option<f64>) -> Result<f64> {
    let base = koa_session_core::CookieAttributes { max_age: None, ..Default::default() };
    let attrs = koa_session_core::record::session_cookie(&session_json, &base).unwrap_or(base);
    let default = default_ttl_ms
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| d.min(koa_session_core::record::MAX_TTL_MS as f64) as i64)
        .unwrap_or(koa_session_core::config::DEFAULT_SESSION_TTL_MS);
    // JavaScript's clock (`Date.now()`, so fake timers apply) when the caller passes it.
    let now = now_ms.filter(|n| n.is_finite()).map_or_else(koa_session_core::now_unix_ms, |n| n as i64);
    Ok(koa_session_core::record::ttl_ms(&attrs, now, default) as f64)
}

/// The headers to set beside the session's `Set-Cookie`, given the response's own
/// `Cache-Control` and `Vary`: `[cacheControl, vary]`, each null to leave that header as it is
/// (the core's rule: core/src/cache_headers.rs).
#[napi(catch_unwind)]
pub fn cache_headers(cache_control: Option<String>, vary: Option<String>) -> Vec<Option<String>> {
    let h = koa_session_core::cache_headers::cache_headers(cache_control.as_deref(), vary.as_deref());
    vec![h.cache_control, h.vary]
}

/// Adds the per-request calls, which napi-rs does not generate (see raw.rs for why).
#[napi(module_exports)]
pub fn export_calls(exports: Object, env: Env) -> Result<()> {
    calls::export(env.raw(), exports.raw())
}
