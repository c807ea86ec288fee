//! `SessionEngine`: one validated `SessionConfig`, built once per middleware (and again only
//! when `app.keys` changes), from which every request begins.

use crate::errors::invalid_arg;
use crate::registry;
use koa_session_core::{Priority, SameSite, SessionConfig};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

/// The configuration as the JS middleware hands it over (already type-checked and normalised
/// there: `sameSite: true` arrives as `"strict"`, dates as unix ms).
#[napi(object)]
pub struct EngineOptions {
    /// Cookie name (`key`).
    pub key: String,
    /// Signing keys, newest first; omitted or null = unsigned cookies.
    pub keys: Option<Vec<Buffer>>,
    pub path: Option<String>,
    pub domain: Option<String>,
    /// Cookie lifetime in ms; null or 0 = browser-session cookie.
    pub max_age: Option<f64>,
    /// Absolute expiry, unix ms.
    pub expires: Option<f64>,
    pub http_only: bool,
    pub secure: bool,
    /// `"strict"`, `"lax"` or `"none"`.
    pub same_site: Option<String>,
    /// `"low"`, `"medium"` or `"high"`.
    pub priority: Option<String>,
    pub partitioned: bool,
    pub rolling: bool,
    pub allow_empty: bool,
}

fn ms(v: f64, what: &str) -> Result<i64> {
    if !v.is_finite() {
        return Err(invalid_arg(format!("{what} must be a finite number")));
    }
    Ok(v.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
}

fn build(o: EngineOptions) -> Result<SessionConfig> {
    let same_site = match o.same_site.as_deref() {
        None => None,
        Some(s) => Some(SameSite::parse(s).ok_or_else(|| invalid_arg(format!("cookieOptions.sameSite: unknown value {s:?}")))?),
    };
    let priority = match o.priority.as_deref() {
        None => None,
        Some(p) => Some(Priority::parse(p).ok_or_else(|| invalid_arg(format!("cookieOptions.priority: unknown value {p:?}")))?),
    };
    let mut b = SessionConfig::builder()
        .cookie_name(o.key)
        .path(o.path)
        .domain(o.domain)
        .max_age(o.max_age.map(|v| ms(v, "cookieOptions.maxAge")).transpose()?)
        .expires(o.expires.map(|v| ms(v, "cookieOptions.expires")).transpose()?)
        .http_only(o.http_only)
        .secure(o.secure)
        .same_site(same_site)
        .priority(priority)
        .partitioned(o.partitioned)
        .rolling(o.rolling)
        .allow_empty(o.allow_empty);
    if let Some(keys) = o.keys {
        b = b.keys(keys.iter().map(|k| k.to_vec()));
    }
    b.build().map_err(invalid_arg)
}

#[napi]
pub struct SessionEngine {
    config: Arc<SessionConfig>,
    id: u32,
}

impl Drop for SessionEngine {
    fn drop(&mut self) {
        registry::remove_engine(self.id);
    }
}

#[napi]
impl SessionEngine {
    #[napi(constructor, catch_unwind)]
    pub fn new(options: EngineOptions) -> Result<Self> {
        let config = Arc::new(build(options)?);
        let id = registry::add_engine(config.clone());
        Ok(SessionEngine { config, id })
    }

    /// The JSON of a brand-new session (`{"cookie":{...}}`).
    #[napi(getter, catch_unwind)]
    pub fn fresh_session_json(&self) -> String {
        self.config.fresh_session_json().to_owned()
    }

    /// Whether cookies are signed (keys were given).
    #[napi(getter, catch_unwind)]
    pub fn signed(&self) -> bool {
        self.config.signed()
    }

    /// The engine's id for the per-request calls (`requestBegin(id, ...)`, see calls.rs).
    #[napi(getter, catch_unwind)]
    pub fn id(&self) -> u32 {
        self.id
    }
}
