//! `SessionEngine`: one validated `SessionConfig`, built once per middleware (and again only
//! when `app.keys` changes), from which every request begins; and `checkSessionOptions`, which
//! checks `session(options)` once, at startup.
//!
//! Both take the user's plain-data options as JSON text, exactly as given (the middleware
//! leaves out the store and the functions and writes Dates as unix ms): the types, defaults
//! and rules are core's (koa_session_core::options), whose error names the option.

use crate::errors::invalid_arg;
use crate::registry;
use koa_session_core::{SessionConfig, SessionOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

/// The options the middleware itself uses, with core's defaults filled in.
#[napi(object)]
pub struct CheckedOptions {
    /// Cookie name (`key`, default `koa.sid`).
    pub key: String,
    /// `cookieOptions.signed` (default true): sign cookies when `app.keys` is set.
    pub signed: bool,
    /// `defer` (default false).
    pub defer: bool,
    /// `reconnectTimeout` in ms (default 10000).
    pub reconnect_timeout: f64,
    /// `storeTimeout` in ms (default 5000; 0: no deadline).
    pub store_timeout: f64,
}

fn parse(options_json: &str) -> Result<SessionOptions> {
    SessionOptions::from_json_str(options_json).map_err(invalid_arg)
}

/// Checks the plain-data options of `session(options)` (JSON text). Throws an error whose
/// message is core's: `option "cookieOptions.sameSite": ...`.
#[napi(catch_unwind)]
pub fn check_session_options(options_json: String) -> Result<CheckedOptions> {
    let o = parse(&options_json)?;
    Ok(CheckedOptions {
        key: o.key().to_owned(),
        signed: o.signed,
        defer: o.defer,
        reconnect_timeout: o.reconnect_timeout_ms as f64,
        store_timeout: o.store_timeout_ms as f64,
    })
}

fn build(options_json: &str, keys: Option<Vec<Buffer>>) -> Result<SessionConfig> {
    let mut b = parse(options_json)?.config;
    if let Some(keys) = keys {
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
    /// `optionsJson`: as for `checkSessionOptions`. `keys`: signing keys, newest first;
    /// omitted or null = unsigned cookies.
    #[napi(constructor, catch_unwind)]
    pub fn new(options_json: String, keys: Option<Vec<Buffer>>) -> Result<Self> {
        let config = Arc::new(build(&options_json, keys)?);
        let id = registry::add_engine(config.clone());
        Ok(SessionEngine { config, id })
    }

    /// The JSON of a brand-new session (`{"cookie":{...}}`).
    #[napi(getter, catch_unwind)]
    pub fn fresh_session_json(&self) -> String {
        self.config.fresh_session_json().to_owned()
    }

    /// The engine's id for the per-request calls (`requestBegin(id, ...)`, see calls.rs).
    #[napi(getter, catch_unwind)]
    pub fn id(&self) -> u32 {
        self.id
    }
}
