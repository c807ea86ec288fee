//! The codes the JS middleware reads from the per-request calls (calls.rs), exported from the
//! core's own values: nothing here is retyped, so JS and C (whose enums carry the same core
//! codes) cannot drift apart. napi-rs lists each one in the generated native/binding.d.ts.

use koa_session_core::store::DEFAULT_IDS_BATCH;
use koa_session_core::{LoadReport, StoreOp, TokenStep};
use napi_derive::napi;

/// Request token first character (UTF-16 code): read the session id from the store.
#[napi]
pub const STEP_LOAD: u32 = TokenStep::Load as u32;
/// Request token first character: the request needs a session id.
#[napi]
pub const STEP_NEED_SID: u32 = TokenStep::NeedSid as u32;
/// Request token first character: the session is ready.
#[napi]
pub const STEP_READY: u32 = TokenStep::Ready as u32;
/// Request token first character: ready, and an unchanged session needs no finishing call.
#[napi]
pub const STEP_QUIET: u32 = TokenStep::Quiet as u32;

/// Load report (the digit before the token of `requestLoaded` / `requestBegin`): no cookie.
#[napi]
pub const LOAD_REPORT_NO_COOKIE: u32 = LoadReport::NoCookie as u32;
/// Load report: the record was loaded.
#[napi]
pub const LOAD_REPORT_LOADED: u32 = LoadReport::Loaded as u32;
/// Load report: no record under the cookie's id.
#[napi]
pub const LOAD_REPORT_MISSING: u32 = LoadReport::Missing as u32;
/// Load report: `valid()` refused the record.
#[napi]
pub const LOAD_REPORT_REJECTED: u32 = LoadReport::Rejected as u32;
/// Load report: the store held an unusable record.
#[napi]
pub const LOAD_REPORT_CORRUPT: u32 = LoadReport::Corrupt as u32;
/// Load report: the record passed its idle or absolute timeout (destroyed at commit).
#[napi]
pub const LOAD_REPORT_EXPIRED: u32 = LoadReport::Expired as u32;
/// Load report: the cookie named a renewed session's alias; its record is read next.
#[napi]
pub const LOAD_REPORT_ALIAS: u32 = LoadReport::Alias as u32;

/// Plan operation: destroy the record.
#[napi]
pub const STORE_OP_DESTROY: u32 = StoreOp::DESTROY as u32;
/// Plan operation: write the whole session.
#[napi]
pub const STORE_OP_SAVE: u32 = StoreOp::SAVE as u32;
/// Plan operation: merge this request's changes into the stored record (compare-and-set).
#[napi]
pub const STORE_OP_MERGE: u32 = StoreOp::MERGE as u32;
/// Plan operation: refresh the record's TTL.
#[napi]
pub const STORE_OP_TOUCH: u32 = StoreOp::TOUCH as u32;

/// Plan operation: put the session in its user's index (`userField`); the entry's third
/// value is the user id, not a TTL.
#[napi]
pub const STORE_OP_INDEX_USER: u32 = StoreOp::INDEX_USER as u32;
/// Plan operation: write a renewed session's new id (an alias of its record; renewInterval).
#[napi]
pub const STORE_OP_ALIAS: u32 = StoreOp::ALIAS as u32;

/// `requestFinish` caps bit: the store can compare-and-set (merge).
#[napi]
pub const STORE_CAN_COMPARE_AND_SET: u32 = 1;
/// `requestFinish` caps bit: the store can refresh a TTL without a write.
#[napi]
pub const STORE_CAN_TOUCH: u32 = 2;

/// Caps bit: the store keeps a user index (`indexUserSession`), which `userField` needs.
#[napi]
pub const STORE_CAN_USER_INDEX: u32 = 4;

/// Ids `store.ids()` fetches at a time without a `batch` option (the core's default).
#[napi]
pub const IDS_DEFAULT_BATCH: u32 = DEFAULT_IDS_BATCH as u32;
