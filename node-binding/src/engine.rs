//! `SessionEngine`: one validated `SessionConfig`, built once per middleware (and again only
//! when `app.keys` changes), from which every request begins; and `checkSessionOptions`, which
//! checks `session(options)` once, at startup.
//!
//! The options are read as the user gave them (js_json.rs: functions as `{"$js": "a
//! function"}`, Dates as unix ms; the middleware checks the store itself): the types,
//! defaults and rules are core's (koa_session_core::options), whose error names the option
//! and is thrown as a `TypeError`.

use crate::app_keys::{self, AppKeys};
use crate::errors::type_error;
use crate::js_json;
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
    /// `userField` (null: no user index).
    pub user_field: Option<String>,
    /// The options as JSON, for `new SessionEngine(engineOptions, app.keys)`.
    pub engine_options: String,
}

fn parse(env: &Env, options_json: &str) -> Result<SessionOptions> {
    SessionOptions::from_json_str(options_json).map_err(|e| type_error(env, format!("koa-session-ts: {e}")))
}

/// Checks `session(options)`, the options object exactly as the user gave it (read by
/// js_json.rs). Throws a `TypeError` whose message is core's: `koa-session-ts: option
/// "cookieOptions.sameSite": ...`.
#[napi(catch_unwind)]
pub fn check_session_options(env: Env, #[napi(ts_arg_type = "unknown")] options: Unknown) -> Result<CheckedOptions> {
    let json = unsafe { js_json::options_json(env.raw(), options.raw()) }.map_err(|f| f.into_napi(&env))?;
    let o = parse(&env, &json)?;
    let config = o.config.clone().build().map_err(|e| type_error(&env, format!("koa-session-ts: {e}")))?;
    Ok(CheckedOptions {
        user_field: config.user_field().map(|f| f.as_dotted()),
        key: o.key().to_owned(),
        signed: o.signed,
        defer: o.defer,
        reconnect_timeout: o.reconnect_timeout_ms as f64,
        store_timeout: o.store_timeout_ms as f64,
        engine_options: json,
    })
}

/// Refuses a store that cannot do what the options need (`caps`: the store's `STORE_CAN_*`
/// bits): `userField` needs compare-and-set and a user index, the timeouts compare-and-set. Throws a `TypeError` naming
/// what the store lacks.
#[napi(catch_unwind)]
pub fn check_store_caps(env: Env, engine_options: String, caps: u32) -> Result<()> {
    let config = parse(&env, &engine_options)?.config.build().map_err(|e| type_error(&env, format!("koa-session-ts: {e}")))?;
    let has = |bit| caps & bit != 0;
    config
        .check_store(has(crate::codes::STORE_CAN_COMPARE_AND_SET), has(crate::codes::STORE_CAN_USER_INDEX))
        .map_err(|e| type_error(&env, format!("koa-session-ts: {e}")))
}

fn build(env: &Env, options_json: &str, app_keys: Unknown) -> Result<(SessionConfig, Option<&'static str>)> {
    let options = parse(env, options_json)?;
    let mut b = options.config;
    let mut warning = None;
    if options.signed {
        match app_keys::read(app_keys)? {
            Ok(AppKeys::Signing(keys)) => b = b.keys(keys),
            Ok(AppKeys::Unsigned(why)) => warning = Some(why),
            Err(message) => return Err(type_error(env, format!("koa-session-ts: {message}"))),
        }
    }
    let config = b.build().map_err(|e| type_error(env, format!("koa-session-ts: {e}")))?;
    Ok((config, warning))
}

#[napi]
pub struct SessionEngine {
    config: Arc<SessionConfig>,
    id: u32,
    warning: Option<&'static str>,
}

impl Drop for SessionEngine {
    fn drop(&mut self) {
        registry::remove_engine(self.id);
    }
}

#[napi]
impl SessionEngine {
    /// `optionsJson`: `engineOptions` from `checkSessionOptions`. `appKeys`: the app's `app.keys`, read for
    /// signing when `cookieOptions.signed` (the default) is on; a value that cannot be keys
    /// throws a `TypeError`.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options_json: String, #[napi(ts_arg_type = "unknown")] app_keys: Unknown) -> Result<Self> {
        let (config, warning) = build(&env, &options_json, app_keys)?;
        let config = Arc::new(config);
        let id = registry::add_engine(config.clone());
        Ok(SessionEngine { config, id, warning })
    }

    /// Why cookies go unsigned although `cookieOptions.signed` is on (`app.keys` missing,
    /// empty or unreadable), for a one-time warning; null otherwise.
    #[napi(getter, catch_unwind)]
    pub fn warning(&self) -> Option<&'static str> {
        self.warning
    }

    /// The JSON of a brand-new session (`{"cookie":{...}}`).
    #[napi(getter, catch_unwind)]
    pub fn fresh_session_json(&self) -> String {
        self.config.fresh_session_json().to_owned()
    }

    /// Whether `idleTimeout` or `absoluteTimeout` is set: the engine then keeps its times in
    /// each record, and a loaded record reaches the app through `sessionJson`.
    #[napi(getter, catch_unwind)]
    pub fn has_timeouts(&self) -> bool {
        self.config.lifetimes().is_on()
    }

    /// The engine's id for the per-request calls (`requestBegin(id, ...)`, see calls.rs).
    #[napi(getter, catch_unwind)]
    pub fn id(&self) -> u32 {
        self.id
    }
}
