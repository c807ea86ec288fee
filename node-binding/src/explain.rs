//! Why the engine decided what it did, in the core's words, for `NODE_DEBUG=koa-session-ts`.
//! Called only while that log is on, so these use napi-rs' generated glue.

use crate::errors::invalid_arg;
use crate::registry;
use koa_session_core::request::explain_cookie as core_explain_cookie;
use koa_session_core::{Ending, LoadReport, SessionRequest, StoreOp};
use napi::bindgen_prelude::*;
use napi_derive::napi;

fn config(engine: u32) -> Result<std::sync::Arc<koa_session_core::SessionConfig>> {
    registry::engine(engine).ok_or_else(|| invalid_arg("session engine is gone"))
}

/// Why the request's session cookie was taken or refused.
#[napi(catch_unwind)]
pub fn explain_cookie(engine: u32, cookie_header: Option<String>) -> Result<String> {
    let cfg = config(engine)?;
    Ok(core_explain_cookie(&cfg, cookie_header.as_deref().map(str::as_bytes)).to_owned())
}

/// What a load report (`LOAD_REPORT_*`) means.
#[napi(catch_unwind)]
pub fn explain_load(report: u32) -> Result<String> {
    let r = u8::try_from(report).ok().and_then(LoadReport::from_code).ok_or_else(|| invalid_arg("unknown load report"))?;
    Ok(r.describe().to_owned())
}

/// Why the end of the request saves, destroys or skips the session.
#[napi(catch_unwind)]
pub fn explain_decision(engine: u32, token: String, original: Option<String>, json: Option<String>, save: Option<bool>) -> Result<String> {
    let cfg = config(engine)?;
    let req = SessionRequest::from_token(&token, original).map_err(|_| invalid_arg("not a session request token"))?;
    Ok(req.explain_decision(&cfg, &Ending { json: json.as_deref(), save, replaced: false }).to_owned())
}

/// What a plan operation (`STORE_OP_*`) did.
#[napi(catch_unwind)]
pub fn explain_op(op: u32) -> Result<String> {
    let text = u8::try_from(op).ok().and_then(StoreOp::describe).ok_or_else(|| invalid_arg("unknown store operation"))?;
    Ok(text.to_owned())
}
