//! The per-request calls of the Koa middleware, stateless: no native object per request.
//!
//! A request travels between calls as the core's request token (`SessionRequest::token`:
//! `<step><state><sid>[ <replaced sid>]`) that the JS side keeps; the loaded record's JSON
//! (`original`) stays in JS and is handed back where the core needs it. Engines and memory
//! stores are named by their registry ids (registry.rs). Every decision is the core's, every
//! code is the core's (exported by codes.rs); this file converts values and nothing else.
//!
//! ```text
//! requestBegin(engine, cookieHeader, path, upstreamSid, newSid, store, nowMs) → null | begun
//! requestLoaded(engine, token, json | null, valid, newSid, nowMs)    → <report><token>
//! sessionJson(engine, record)                                        → the JSON the app sees | null (an alias)
//! requestSetSid(engine, token, sid)                                  → token
//! requestRegenerate(engine, token, original, sid)                    → token
//! requestWillSave(engine, token, original, json | null, save)        → boolean
//! requestFinish(engine, token, original, json | null, save, replaced, plainHttp, nowMs, caps)
//!                                                                    → null | plan
//! clearingCookies(engine)                                            → setCookies
//! renamedCookies(engine, cookieId, json, plainHttp, nowMs)            → setCookies
//! ```
//! `newSid`: when the core then needs an id, generate it here (the default `genSid`), saving
//! a call. `store`: a native MemoryStore's id, whose record `requestBegin` then reads itself
//! (-1: none; the host loads through `requestLoaded`). begun = `<report digit, or "-" when
//! nothing was read><token>`, then `"\n" + record JSON` when a record was loaded (a token never
//! holds a newline). `<report>`: one digit, a `LOAD_REPORT_*` code. `requestWillSave`: the
//! core's decision is to write (a `beforeSave` hook runs first). `caps`: `STORE_CAN_*` bits.
//! plan: `[n, op, sid, ttlMs, data, ... (n times), json | null, ...setCookies]`, `op` a
//! `STORE_OP_*` code, `data` the user id of `STORE_OP_INDEX_USER` or the record
//! `STORE_OP_ALIAS` writes (else null), `json` what `STORE_OP_SAVE` and `STORE_OP_MERGE` write when it is not the JSON handed
//! in (the engine's times are in it, `idleTimeout` / `absoluteTimeout`); null when there is
//! nothing to do. `nowMs`: the host's clock (`Date.now()`), what the timeouts are checked
//! against. `sessionJson`: with timeouts the engine's times in a record are not the app's. A `STORE_OP_MERGE` or `STORE_OP_TOUCH` that finds the record
//! gone ends the plan: the host sends `clearingCookies(engine)` instead of the plan's cookies.
//!
//! With the native MemoryStore the plan is executed in place, so a request is one call at
//! load and one at commit:
//! ```text
//! memoryFinish(engine, store, token, original, json | null, save, replaced, plainHttp, nowMs)
//!                                                                    → null | setCookies joined by "\n"
//! ```
//! These return one string, not an array: setting array elements through Node-API costs
//! ~80 ns each, slicing in JS less.

use crate::raw::{self, Env, Fail, Result, Value};
use crate::registry;
use koa_session_core::lifetime::renamed_to;
use koa_session_core::request::{clear_cookies, renamed_cookies};
use koa_session_core::store::{MemoryStore, MergeOutcome};
use koa_session_core::{Decision, Ending, LoadReport, Loaded, Next, Outcome, SessionConfig, SessionRequest, StoreCaps, StoreOp};
use napi::sys;
use std::sync::Arc;
use std::time::Duration;

fn engine(env: Env, v: Value) -> Result<Arc<SessionConfig>> {
    let id = unsafe { raw::uint32(env, v, "engine") }?;
    registry::engine(id).ok_or_else(|| Fail::invalid_arg("session engine is gone"))
}

fn memory_store(env: Env, v: Value) -> Result<Arc<MemoryStore>> {
    registered_memory_store(unsafe { raw::uint32(env, v, "store") }?)
}

fn registered_memory_store(id: u32) -> Result<Arc<MemoryStore>> {
    registry::memory_store(id).ok_or_else(|| Fail::invalid_arg("memory store is gone"))
}

/// `requestBegin`'s store: a memory store's id, or a negative number for none.
fn opt_memory_store(env: Env, v: Value) -> Result<Option<Arc<MemoryStore>>> {
    match unsafe { raw::float(env, v, "store") }? {
        id if id < 0.0 => Ok(None),
        id => registered_memory_store(id as u32).map(Some),
    }
}

unsafe fn token_arg(env: Env, v: Value, original: Value) -> Result<SessionRequest> {
    let t = raw::string(env, v, "token")?;
    SessionRequest::from_token(&t, raw::opt_string(env, original, "original")?).map_err(|_| Fail::invalid_arg("not a session request token"))
}

/// Gives the request a generated id when it needs one and `new_sid` asks for it.
fn maybe_new_sid(req: &mut SessionRequest, new_sid: bool) -> Result<()> {
    if new_sid && req.next() == Next::NeedSid {
        let sid = koa_session_core::sid::generate_sid().map_err(|e| Fail::generic(format!("cannot generate a session id: {e}")))?;
        req.set_new_sid(sid).map_err(Fail::invalid_arg)?;
    }
    Ok(())
}

fn report_digit(r: LoadReport) -> char {
    char::from(b'0' + r.code())
}

/// The store capabilities the JS side passes as `STORE_CAN_*` bits.
pub fn caps_of(bits: u32) -> StoreCaps {
    StoreCaps { compare_and_set: bits & crate::codes::STORE_CAN_COMPARE_AND_SET != 0, touch: bits & crate::codes::STORE_CAN_TOUCH != 0 }
}

/// `null` when there is nothing to do, else
/// `[n, op, sid, ttlMs, data, ..., json | null, ...setCookies]` (see the module's comment).
unsafe fn plan(env: Env, outcome: &Outcome) -> Result<Value> {
    if outcome.is_empty() {
        return Ok(raw::null(env));
    }
    let mut items = Vec::with_capacity(2 + 4 * outcome.ops.len() + outcome.set_cookies.len());
    items.push(raw::number(env, outcome.ops.len() as f64));
    for op in &outcome.ops {
        items.push(raw::number(env, f64::from(op.code())));
        items.push(raw::to_js_string(env, op.sid())?);
        items.push(raw::number(env, op.ttl_ms() as f64));
        items.push(match op {
            StoreOp::IndexUser { user, .. } => raw::to_js_string(env, user)?,
            StoreOp::Alias { json, .. } => raw::to_js_string(env, json)?,
            _ => raw::null(env),
        });
    }
    items.push(match &outcome.json {
        Some(j) => raw::to_js_string(env, j)?,
        None => raw::null(env),
    });
    for c in &outcome.set_cookies {
        items.push(raw::to_js_string(env, c)?);
    }
    raw::array(env, &items)
}

/// What `finish` read and decided: the plan, the engine, the session JSON and the loaded JSON.
type Finished = (Outcome, Arc<SessionConfig>, Option<String>, Option<String>);

/// The arguments shared by `requestFinish` and `memoryFinish`:
/// `(engine, token, original, json, save, replaced, plainHttp, nowMs)`; returns the plan.
unsafe fn finish(env: Env, argv: &[Value], caps: StoreCaps) -> Result<Finished> {
    let cfg = engine(env, argv[0])?;
    let req = token_arg(env, argv[1], argv[2])?;
    let json = raw::opt_string(env, argv[3], "json")?;
    let save = raw::opt_boolean(env, argv[4], "save")?;
    let replaced = raw::boolean(env, argv[5], "replaced")?;
    let plain_http = raw::boolean(env, argv[6], "plainHttp")?;
    let now_ms = raw::float(env, argv[7], "nowMs")? as i64;
    let ending = Ending { json: json.as_deref(), save, replaced };
    let outcome = req.finish(&cfg, &ending, caps, plain_http, now_ms).map_err(Fail::generic)?;
    // (The loaded JSON moves out: a merge needs it, and copying a record costs.)
    Ok((outcome, cfg, json, req.into_parts().original))
}

/// Reads `(cookieHeader, path, upstreamSid)` and begins a request for `cfg`; `None` outside
/// the cookie path.
unsafe fn begin(env: Env, cfg: &SessionConfig, header: Value, path: Value, upstream: Value) -> Result<Option<SessionRequest>> {
    let header = raw::opt_string(env, header, "cookieHeader")?;
    let path = raw::opt_string(env, path, "path")?;
    let upstream = raw::opt_string(env, upstream, "upstreamSid")?;
    Ok(SessionRequest::begin(cfg, header.as_deref().map(str::as_bytes), path.as_deref(), upstream.as_deref()))
}

unsafe extern "C" fn request_loaded(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, json, valid, new_sid, now] = raw::args::<6>(env, info)?;
        let cfg = engine(env, e)?;
        let mut req = token_arg(env, t, raw::null(env))?;
        let answer = match (raw::opt_string(env, json, "json")?, raw::boolean(env, valid, "valid")?) {
            (None, _) => Loaded::Missing,
            (Some(_), false) => Loaded::Rejected,
            (Some(j), true) => Loaded::Found(j),
        };
        let report = req.loaded(&cfg, answer, raw::float(env, now, "nowMs")? as i64).map_err(Fail::generic)?;
        maybe_new_sid(&mut req, raw::boolean(env, new_sid, "newSid")?)?;
        let mut out = String::from(report_digit(report));
        out.push_str(&req.token(&cfg));
        raw::to_js_string(env, &out)
    })
}

unsafe extern "C" fn request_begin(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, header, path, upstream, new_sid, s, now] = raw::args::<7>(env, info)?;
        let cfg = engine(env, e)?;
        let new_sid = raw::boolean(env, new_sid, "newSid")?;
        let store = opt_memory_store(env, s)?;
        let Some(mut req) = begin(env, &cfg, header, path, upstream)? else { return Ok(raw::null(env)) };
        let mut report = '-';
        // (A renewed session's cookie names an alias, then its record: two reads.)
        while let (Some(store), Next::Load(sid)) = (&store, req.next()) {
            let answer = match store.get_record_sync(sid) {
                Some((j, true)) => Loaded::Checked(j),
                Some((j, false)) => Loaded::Found(j),
                None => Loaded::Missing,
            };
            report = report_digit(req.loaded(&cfg, answer, raw::float(env, now, "nowMs")? as i64).map_err(Fail::generic)?);
        }
        maybe_new_sid(&mut req, new_sid)?;
        let t = req.token(&cfg);
        let record = req.into_parts().original;
        let mut out = String::with_capacity(1 + t.len() + record.as_ref().map_or(0, |r| 1 + r.len()));
        out.push(report);
        out.push_str(&t);
        if let Some(r) = record {
            out.push('\n');
            out.push_str(&r);
        }
        raw::to_js_string(env, &out)
    })
}

/// An id from `genSid`: a string, else a TypeError saying what it returned.
unsafe fn sid_arg(env: Env, v: Value) -> Result<String> {
    raw::string(env, v, "sid").map_err(|_| Fail::type_error(format!("koa-session-ts: genSid must return a string session id, got {}", raw::type_name(env, v))))
}

unsafe extern "C" fn request_set_sid(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, sid] = raw::args::<3>(env, info)?;
        let cfg = engine(env, e)?;
        let mut req = token_arg(env, t, raw::null(env))?;
        req.set_new_sid(sid_arg(env, sid)?).map_err(Fail::invalid_arg)?;
        raw::to_js_string(env, &req.token(&cfg))
    })
}

unsafe extern "C" fn request_regenerate(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, original, sid] = raw::args::<4>(env, info)?;
        let cfg = engine(env, e)?;
        let mut req = token_arg(env, t, original)?;
        req.regenerate(sid_arg(env, sid)?).map_err(Fail::invalid_arg)?;
        raw::to_js_string(env, &req.token(&cfg))
    })
}

unsafe extern "C" fn request_will_save(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, original, json, save] = raw::args::<5>(env, info)?;
        let cfg = engine(env, e)?;
        let req = token_arg(env, t, original)?;
        let json = raw::opt_string(env, json, "json")?;
        let save = raw::opt_boolean(env, save, "save")?;
        let decision = req.decide(&cfg, &Ending { json: json.as_deref(), save, replaced: false });
        raw::boolean_value(env, decision == Decision::Save)
    })
}

unsafe extern "C" fn request_finish(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let argv = raw::args::<9>(env, info)?;
        let caps = caps_of(raw::uint32(env, argv[8], "caps")?);
        let (outcome, ..) = finish(env, &argv[..8], caps)?;
        plan(env, &outcome)
    })
}

/// The capabilities of the native MemoryStore, whose operations run inside `memoryFinish`.
const MEMORY_CAPS: StoreCaps = StoreCaps { compare_and_set: true, touch: true };

unsafe extern "C" fn memory_finish(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, s, rest @ ..] = raw::args::<9>(env, info)?;
        let store = memory_store(env, s)?;
        let argv = [e, rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6]];
        let (mut outcome, cfg, json, mut loaded) = finish(env, &argv, MEMORY_CAPS)?;
        // With timeouts the plan writes the session with the engine's times in it.
        let mut json = outcome.json.take().or(json);
        let now_ms = raw::float(env, rest[6], "nowMs")? as i64;
        let out_of_order = || Fail::generic("session request used out of order");
        let mut cookies = outcome.set_cookies;
        for op in &outcome.ops {
            let ttl = Duration::from_millis(op.ttl_ms());
            let kept = match op {
                StoreOp::Destroy { sid } => {
                    store.destroy_sync(sid);
                    true
                }
                StoreOp::Save { sid, .. } => {
                    // A plan's record passed the record check in `finish`: loads skip it.
                    store.set_checked_sync(sid, json.as_deref().ok_or_else(out_of_order)?, ttl);
                    true
                }
                StoreOp::Alias { sid, json, .. } => {
                    store.set_sync(sid, json, ttl);
                    true
                }
                StoreOp::Merge { sid, .. } => {
                    // A plan holds one Merge at most (and no Save beside it): both move into it.
                    let (loaded, json) = (loaded.take().ok_or_else(out_of_order)?, json.take().ok_or_else(out_of_order)?);
                    // Under the store's lock: never more than one try, never TooManyConflicts.
                    // (Only records with the engine's times can have been renewed meanwhile.)
                    let wanted = cfg.lifetimes().is_on().then(|| json.clone());
                    let (outcome, written) = store.merge_request_sync_written(sid, loaded, json, ttl);
                    // Renewed by another request meanwhile: the cookies name its current id.
                    if let (Some(json), Some(w)) = (wanted, written) {
                        if let Some(id) = renamed_to(&json, &w, sid) {
                            let plain_http = raw::boolean(env, rest[5], "plainHttp")?;
                            cookies = renamed_cookies(&cfg, &id, &json, plain_http, now_ms).map_err(Fail::generic)?;
                        }
                    }
                    outcome != MergeOutcome::Gone
                }
                StoreOp::Touch { sid, .. } => store.touch_sync(sid, ttl),
                StoreOp::IndexUser { user, sid } => {
                    store.index_user_session_sync(user, sid, now_ms).map_err(Fail::generic)?;
                    true
                }
            };
            if !kept {
                // Logged out or expired elsewhere: nothing written, the cookies cleared.
                cookies = clear_cookies(&cfg).map_err(Fail::generic)?;
                break;
            }
        }
        if cookies.is_empty() {
            return Ok(raw::null(env));
        }
        raw::to_js_string(env, &cookies.join("\n"))
    })
}

unsafe extern "C" fn renamed_cookies_call(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, id, json, plain_http, now] = raw::args::<5>(env, info)?;
        let cfg = engine(env, e)?;
        let id = raw::string(env, id, "cookieId")?;
        let json = raw::string(env, json, "json")?;
        let cookies = renamed_cookies(&cfg, &id, &json, raw::boolean(env, plain_http, "plainHttp")?, raw::float(env, now, "nowMs")? as i64).map_err(Fail::generic)?;
        let items = cookies.iter().map(|c| raw::to_js_string(env, c)).collect::<Result<Vec<_>>>()?;
        raw::array(env, &items)
    })
}

unsafe extern "C" fn session_json(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, record] = raw::args::<2>(env, info)?;
        let cfg = engine(env, e)?;
        let record = raw::string(env, record, "record")?;
        // A renewed session's alias is no session: null (its record is read next).
        if koa_session_core::lifetime::alias_of(&record).is_some() {
            return Ok(raw::null(env));
        }
        raw::to_js_string(env, &koa_session_core::lifetime::app_json(&cfg, &record))
    })
}

unsafe extern "C" fn clearing_cookies(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e] = raw::args::<1>(env, info)?;
        let cfg = engine(env, e)?;
        let cookies = clear_cookies(&cfg).map_err(Fail::generic)?;
        let items = cookies.iter().map(|c| raw::to_js_string(env, c)).collect::<Result<Vec<_>>>()?;
        raw::array(env, &items)
    })
}

/// Adds the calls above to the addon's exports.
pub fn export(env: Env, exports: Value) -> napi::Result<()> {
    let calls: [(&std::ffi::CStr, raw::Callback); 10] = [
        (c"requestBegin", request_begin),
        (c"requestLoaded", request_loaded),
        (c"requestSetSid", request_set_sid),
        (c"requestRegenerate", request_regenerate),
        (c"requestWillSave", request_will_save),
        (c"requestFinish", request_finish),
        (c"memoryFinish", memory_finish),
        (c"clearingCookies", clearing_cookies),
        (c"sessionJson", session_json),
        (c"renamedCookies", renamed_cookies_call),
    ];
    for (name, f) in calls {
        unsafe { raw::export(env, exports, name, f) }?;
    }
    Ok(())
}
