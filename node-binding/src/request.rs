//! `SessionRequest`: one request's session, the core state machine behind a JS handle.
//! The JS middleware drives it synchronously between its own awaits:
//!
//! ```text
//! engine.begin(cookie, path, upstream) ─▶ loadSid? ─ store.get ─▶ loaded(json | null, valid)
//!        needsSid? ─ genSid ─▶ setNewSid(sid) ─▶ sessionJson() → ctx.session
//!        [regenerate(newSid) → old sid to destroy]
//!        decide(json | null, sessionSave) ─ beforeSave ─▶ complete(decision, json, plainHttp)
//!        → { action: save | destroy | none, sid, ttlMs, setCookies }
//! ```

use crate::errors::{generic, invalid_arg};
use koa_session_core::{Decision, Loaded, LoadReport, Next, SessionConfig, StoreAction};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

/// What the host must do at the end of the request: first the store action, then (only if it
/// succeeded) append `setCookies` to the response.
#[napi(object)]
pub struct CommitPlan {
    /// `"save"`, `"destroy"` or `"none"`.
    pub action: String,
    /// The id to save or destroy (absent for `"none"`).
    pub sid: Option<String>,
    /// Store TTL in ms for `"save"`.
    pub ttl_ms: Option<f64>,
    /// `Set-Cookie` values (session cookie and its `.sig`, or their clearing).
    pub set_cookies: Vec<String>,
}

#[napi]
pub struct SessionRequest {
    config: Arc<SessionConfig>,
    /// `None` once `complete` consumed it.
    inner: Option<koa_session_core::SessionRequest>,
}

fn used() -> Error {
    generic("session request already completed")
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Save => "save",
        Decision::Destroy => "destroy",
        Decision::Nothing => "nothing",
        Decision::Untouched => "untouched",
    }
}

fn parse_decision(s: &str) -> Result<Decision> {
    Ok(match s {
        "save" => Decision::Save,
        "destroy" => Decision::Destroy,
        "nothing" => Decision::Nothing,
        "untouched" => Decision::Untouched,
        other => return Err(invalid_arg(format!("unknown decision {other:?}"))),
    })
}

impl SessionRequest {
    pub(crate) fn new(config: Arc<SessionConfig>, inner: koa_session_core::SessionRequest) -> Self {
        SessionRequest { config, inner: Some(inner) }
    }

    fn get(&self) -> Result<&koa_session_core::SessionRequest> {
        self.inner.as_ref().ok_or_else(used)
    }

    fn get_mut(&mut self) -> Result<&mut koa_session_core::SessionRequest> {
        self.inner.as_mut().ok_or_else(used)
    }
}

#[napi]
impl SessionRequest {
    /// The session id to read from the store, or null when none needs loading.
    #[napi(getter, catch_unwind)]
    pub fn load_sid(&self) -> Result<Option<String>> {
        Ok(match self.get()?.next() {
            Next::Load(sid) => Some(sid.to_owned()),
            _ => None,
        })
    }

    /// True when the host must generate an id and call `setNewSid`.
    #[napi(getter, catch_unwind)]
    pub fn needs_sid(&self) -> Result<bool> {
        Ok(self.get()?.next() == Next::NeedSid)
    }

    /// Feeds the store's answer for `loadSid`: the record's JSON (null = miss) and whether
    /// the app's `valid` hook accepted it. Returns `"loaded"`, `"missing"`, `"rejected"` or
    /// `"corrupt"` (the store holds something that is not a JSON object).
    #[napi(catch_unwind)]
    pub fn loaded(&mut self, json: Option<String>, valid: Option<bool>) -> Result<&'static str> {
        let answer = match (json, valid.unwrap_or(true)) {
            (None, _) => Loaded::Missing,
            (Some(_), false) => Loaded::Rejected,
            (Some(j), true) => Loaded::Found(j),
        };
        Ok(match self.get_mut()?.loaded(answer).map_err(generic)? {
            LoadReport::Loaded => "loaded",
            LoadReport::Missing => "missing",
            LoadReport::Rejected => "rejected",
            LoadReport::Corrupt => "corrupt",
        })
    }

    /// Gives a new session its id (when `needsSid`).
    #[napi(catch_unwind)]
    pub fn set_new_sid(&mut self, sid: String) -> Result<()> {
        self.get_mut()?.set_new_sid(sid).map_err(invalid_arg)
    }

    #[napi(getter, catch_unwind)]
    pub fn sid(&self) -> Result<Option<String>> {
        Ok(self.get()?.sid().map(str::to_owned))
    }

    /// True until a stored record backs this session.
    #[napi(getter, catch_unwind)]
    pub fn is_new(&self) -> Result<bool> {
        Ok(self.get()?.is_new())
    }

    /// The session JSON to give the application (the loaded record or a fresh session).
    #[napi(catch_unwind)]
    pub fn session_json(&self) -> Result<String> {
        Ok(self.get()?.session_json(&self.config).to_owned())
    }

    /// Starts over under `newSid` with a fresh session; returns the old id when its stored
    /// record must be destroyed.
    #[napi(catch_unwind)]
    pub fn regenerate(&mut self, new_sid: String) -> Result<Option<String>> {
        self.get_mut()?.regenerate(new_sid).map_err(invalid_arg)
    }

    /// The save decision for the session's final JSON (null: `ctx.session = null`) and
    /// `ctx.sessionSave` (null, true or false): `"save"`, `"destroy"`, `"nothing"`, `"untouched"`.
    #[napi(catch_unwind)]
    pub fn decide(&self, json: Option<String>, save: Option<bool>) -> Result<&'static str> {
        Ok(decision_name(self.get()?.decide(&self.config, json.as_deref(), save)))
    }

    /// Turns a decision (possibly after `beforeSave` changed the JSON) into the store action
    /// and cookies. `plainHttp` refuses `secure` cookies, as Koa does. Ends the request.
    #[napi(catch_unwind)]
    pub fn complete(&mut self, decision: String, json: Option<String>, plain_http: bool) -> Result<CommitPlan> {
        let decision = parse_decision(&decision)?;
        let inner = self.inner.take().ok_or_else(used)?;
        let outcome = inner
            .complete(&self.config, decision, json.as_deref(), plain_http, koa_session_core::now_unix_ms())
            .map_err(generic)?;
        let (action, sid, ttl_ms) = match outcome.store {
            StoreAction::None => ("none", None, None),
            StoreAction::Save { sid, ttl_ms, .. } => ("save", Some(sid), Some(ttl_ms as f64)),
            StoreAction::Destroy { sid } => ("destroy", Some(sid), None),
        };
        Ok(CommitPlan { action: action.to_owned(), sid, ttl_ms, set_cookies: outcome.set_cookies })
    }
}
