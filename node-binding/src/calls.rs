//! The per-request calls of the Koa middleware, stateless: no native object per request.
//!
//! A request travels between calls as a token string the JS side keeps:
//! `<step><state><sid>` — step `L` (load `sid` from the store), `N` (needs a new id), `R`
//! (ready) or `Q` (ready, and the core's `quiet_when_unchanged`: handing back the loaded JSON
//! unchanged with no `sessionSave` override ends the request with nothing to do, so the JS
//! side skips the finishing call); state one character for the core's
//! `SessionRequest::state_code`; then the id.
//! The loaded record's JSON (`original`) stays in JS and is handed back where the core needs
//! it. Engines and memory stores are named by their registry ids (registry.rs). Every
//! decision is the core's; this file converts values and nothing else.
//!
//! ```text
//! requestBegin(engine, cookieHeader, path, upstreamSid, newSid)        → null | token
//! requestLoaded(engine, token, json | null, valid, newSid)             → [token, report]
//! requestSetSid(engine, token, sid)                                    → token
//! requestRegenerate(engine, token, original, sid)                      → [token, oldSid | null]
//! requestDecide(engine, token, original, json | null, save)            → decision
//! requestComplete(engine, token, original, decision, json, plainHttp)  → null | [action, ttlMs, ...setCookies]
//! requestFinish(engine, token, original, json | null, save, plainHttp) → null | [action, ttlMs, ...setCookies]
//! ```
//! `newSid`: when the core then needs an id, generate it here (the default `genSid`), saving
//! a call. report: 0 loaded, 1 missing, 2 rejected, 3 corrupt. decision: 0 save, 1 destroy,
//! 2 nothing, 3 untouched. action: 0 none, 1 save, 2 destroy; null = no action, no cookie.
//!
//! With the native MemoryStore the store access happens inside the call, so a request is
//! one call at load and one at commit:
//! ```text
//! memoryBegin(engine, store, cookieHeader, path, upstreamSid, newSid)  → null | loaded
//! memoryFinish(engine, store, token, original, json, save, plainHttp)  → null | setCookies joined by "\n"
//! ```
//! loaded = `<report digit, or "-" when nothing was read><token>`, then `"\n" + record JSON`
//! when the record was loaded (a token never holds a newline). These two return one string,
//! not an array: setting array elements through Node-API costs ~80 ns each, slicing in JS less.

use crate::raw::{self, Env, Fail, Result, Value};
use crate::registry;
use koa_session_core::request::STATE_CODES;
use koa_session_core::store::MemoryStore;
use koa_session_core::{Decision, LoadReport, Loaded, Next, Outcome, SessionConfig, SessionRequest, StoreAction};
use napi::sys;
use std::sync::Arc;
use std::time::Duration;

fn engine(env: Env, v: Value) -> Result<Arc<SessionConfig>> {
    let id = unsafe { raw::uint32(env, v, "engine") }?;
    registry::engine(id).ok_or_else(|| Fail::invalid_arg("session engine is gone"))
}

fn memory_store(env: Env, v: Value) -> Result<Arc<MemoryStore>> {
    let id = unsafe { raw::uint32(env, v, "store") }?;
    registry::memory_store(id).ok_or_else(|| Fail::invalid_arg("memory store is gone"))
}

fn token(req: &SessionRequest, cfg: &SessionConfig) -> String {
    let step = match req.next() {
        Next::Load(_) => 'L',
        Next::NeedSid => 'N',
        Next::Ready if req.quiet_when_unchanged(cfg) => 'Q',
        Next::Ready => 'R',
    };
    let sid = req.sid().unwrap_or("");
    let mut t = String::with_capacity(2 + sid.len());
    t.push(step);
    t.push(char::from(b'@' + req.state_code()));
    t.push_str(sid);
    t
}

fn request(token: &str, original: Option<String>) -> Result<SessionRequest> {
    let b = token.as_bytes();
    if b.len() < 2 || !b[0].is_ascii() || !b[1].is_ascii() || !(b'@'..b'@' + STATE_CODES).contains(&b[1]) {
        return Err(Fail::invalid_arg("not a session request token"));
    }
    let sid = Some(&token[2..]).filter(|s| !s.is_empty()).map(str::to_owned);
    SessionRequest::from_parts(b[1] - b'@', sid, original).map_err(Fail::invalid_arg)
}

unsafe fn token_arg(env: Env, v: Value, original: Value) -> Result<SessionRequest> {
    let t = raw::string(env, v, "token")?;
    request(&t, raw::opt_string(env, original, "original")?)
}

/// Gives the request a generated id when it needs one and `new_sid` asks for it.
fn maybe_new_sid(req: &mut SessionRequest, new_sid: bool) -> Result<()> {
    if new_sid && req.next() == Next::NeedSid {
        let sid = koa_session_core::sid::generate_sid().map_err(|e| Fail::generic(format!("cannot generate a session id: {e}")))?;
        req.set_new_sid(sid).map_err(Fail::invalid_arg)?;
    }
    Ok(())
}

fn report_code(r: LoadReport) -> f64 {
    match r {
        LoadReport::Loaded => 0.0,
        LoadReport::Missing => 1.0,
        LoadReport::Rejected => 2.0,
        LoadReport::Corrupt => 3.0,
    }
}

fn decision_code(d: Decision) -> u32 {
    match d {
        Decision::Save => 0,
        Decision::Destroy => 1,
        Decision::Nothing => 2,
        Decision::Untouched => 3,
    }
}

fn decision_of(code: u32) -> Result<Decision> {
    Ok(match code {
        0 => Decision::Save,
        1 => Decision::Destroy,
        2 => Decision::Nothing,
        3 => Decision::Untouched,
        other => return Err(Fail::invalid_arg(format!("unknown decision {other}"))),
    })
}

/// `null` when there is nothing to do, else `[action, ttlMs, ...setCookies]`.
unsafe fn plan(env: Env, outcome: &Outcome) -> Result<Value> {
    let (action, ttl) = match &outcome.store {
        StoreAction::None if outcome.set_cookies.is_empty() => return Ok(raw::null(env)),
        StoreAction::None => (0.0, 0.0),
        StoreAction::Save { ttl_ms, .. } => (1.0, *ttl_ms as f64),
        StoreAction::Destroy { .. } => (2.0, 0.0),
    };
    let mut items = Vec::with_capacity(2 + outcome.set_cookies.len());
    items.push(raw::number(env, action));
    items.push(raw::number(env, ttl));
    for c in &outcome.set_cookies {
        items.push(raw::to_js_string(env, c)?);
    }
    raw::array(env, &items)
}

unsafe fn finish(env: Env, argv: &[Value]) -> Result<(Outcome, Arc<SessionConfig>)> {
    // (engine, token, original, json, save, plainHttp)
    let cfg = engine(env, argv[0])?;
    let req = token_arg(env, argv[1], argv[2])?;
    let json = raw::opt_string(env, argv[3], "json")?;
    let save = raw::opt_boolean(env, argv[4], "save")?;
    let plain_http = raw::boolean(env, argv[5], "plainHttp")?;
    let outcome = req
        .finish(&cfg, json.as_deref(), save, plain_http, koa_session_core::now_unix_ms())
        .map_err(Fail::generic)?;
    Ok((outcome, cfg))
}

/// Reads `(cookieHeader, path, upstreamSid)` and begins a request for `cfg`; `None` outside
/// the cookie path.
unsafe fn begin(env: Env, cfg: &SessionConfig, header: Value, path: Value, upstream: Value) -> Result<Option<SessionRequest>> {
    let header = raw::opt_string(env, header, "cookieHeader")?;
    let path = raw::opt_string(env, path, "path")?;
    let upstream = raw::opt_string(env, upstream, "upstreamSid")?;
    Ok(SessionRequest::begin(cfg, header.as_deref().map(str::as_bytes), path.as_deref(), upstream.as_deref()))
}

unsafe extern "C" fn request_begin(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, header, path, upstream, new_sid] = raw::args::<5>(env, info)?;
        let cfg = engine(env, e)?;
        let Some(mut req) = begin(env, &cfg, header, path, upstream)? else { return Ok(raw::null(env)) };
        maybe_new_sid(&mut req, raw::boolean(env, new_sid, "newSid")?)?;
        raw::to_js_string(env, &token(&req, &cfg))
    })
}

unsafe extern "C" fn request_loaded(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, json, valid, new_sid] = raw::args::<5>(env, info)?;
        let cfg = engine(env, e)?;
        let mut req = token_arg(env, t, raw::null(env))?;
        let answer = match (raw::opt_string(env, json, "json")?, raw::boolean(env, valid, "valid")?) {
            (None, _) => Loaded::Missing,
            (Some(_), false) => Loaded::Rejected,
            (Some(j), true) => Loaded::Found(j),
        };
        let report = req.loaded(answer).map_err(Fail::generic)?;
        maybe_new_sid(&mut req, raw::boolean(env, new_sid, "newSid")?)?;
        let items = [raw::to_js_string(env, &token(&req, &cfg))?, raw::number(env, report_code(report))];
        raw::array(env, &items)
    })
}

unsafe extern "C" fn memory_begin(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, s, header, path, upstream, new_sid] = raw::args::<6>(env, info)?;
        let store = memory_store(env, s)?;
        let new_sid = raw::boolean(env, new_sid, "newSid")?;
        let cfg = engine(env, e)?;
        let Some(mut req) = begin(env, &cfg, header, path, upstream)? else { return Ok(raw::null(env)) };
        let mut report = '-';
        if let Next::Load(sid) = req.next() {
            let answer = match store.get_sync(sid) {
                Some(j) => Loaded::Found(j),
                None => Loaded::Missing,
            };
            report = char::from(b'0' + report_code(req.loaded(answer).map_err(Fail::generic)?) as u8);
        }
        maybe_new_sid(&mut req, new_sid)?;
        let t = token(&req, &cfg);
        let (_, _, record) = req.into_parts();
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

unsafe extern "C" fn request_set_sid(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, sid] = raw::args::<3>(env, info)?;
        let cfg = engine(env, e)?;
        let mut req = token_arg(env, t, raw::null(env))?;
        req.set_new_sid(raw::string(env, sid, "sid")?).map_err(Fail::invalid_arg)?;
        raw::to_js_string(env, &token(&req, &cfg))
    })
}

unsafe extern "C" fn request_regenerate(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, original, sid] = raw::args::<4>(env, info)?;
        let cfg = engine(env, e)?;
        let mut req = token_arg(env, t, original)?;
        let old = req.regenerate(raw::string(env, sid, "sid")?).map_err(Fail::invalid_arg)?;
        let items = [raw::to_js_string(env, &token(&req, &cfg))?, raw::to_js_opt_string(env, old.as_deref())?];
        raw::array(env, &items)
    })
}

unsafe extern "C" fn request_decide(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, original, json, save] = raw::args::<5>(env, info)?;
        let cfg = engine(env, e)?;
        let req = token_arg(env, t, original)?;
        let json = raw::opt_string(env, json, "json")?;
        let save = raw::opt_boolean(env, save, "save")?;
        Ok(raw::number(env, f64::from(decision_code(req.decide(&cfg, json.as_deref(), save)))))
    })
}

unsafe extern "C" fn request_complete(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, t, original, decision, json, plain_http] = raw::args::<6>(env, info)?;
        let cfg = engine(env, e)?;
        let req = token_arg(env, t, original)?;
        let decision = decision_of(raw::uint32(env, decision, "decision")?)?;
        let json = raw::opt_string(env, json, "json")?;
        let plain_http = raw::boolean(env, plain_http, "plainHttp")?;
        let outcome = req
            .complete(&cfg, decision, json.as_deref(), plain_http, koa_session_core::now_unix_ms())
            .map_err(Fail::generic)?;
        plan(env, &outcome)
    })
}

unsafe extern "C" fn request_finish(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let argv = raw::args::<6>(env, info)?;
        let (outcome, _) = finish(env, &argv)?;
        plan(env, &outcome)
    })
}

unsafe extern "C" fn memory_finish(env: Env, info: sys::napi_callback_info) -> Value {
    raw::run(env, || {
        let [e, s, rest @ ..] = raw::args::<7>(env, info)?;
        let store = memory_store(env, s)?;
        let (outcome, _) = finish(env, &[e, rest[0], rest[1], rest[2], rest[3], rest[4]])?;
        match &outcome.store {
            StoreAction::None => {}
            StoreAction::Save { sid, json, ttl_ms } => store.set_sync(sid, json, Duration::from_millis(*ttl_ms)),
            StoreAction::Destroy { sid } => store.destroy_sync(sid),
        }
        if outcome.set_cookies.is_empty() {
            return Ok(raw::null(env));
        }
        raw::to_js_string(env, &outcome.set_cookies.join("\n"))
    })
}

/// Adds the calls above to the addon's exports.
pub fn export(env: Env, exports: Value) -> napi::Result<()> {
    let calls: [(&std::ffi::CStr, raw::Callback); 9] = [
        (c"requestBegin", request_begin),
        (c"requestLoaded", request_loaded),
        (c"memoryBegin", memory_begin),
        (c"requestSetSid", request_set_sid),
        (c"requestRegenerate", request_regenerate),
        (c"requestDecide", request_decide),
        (c"requestComplete", request_complete),
        (c"requestFinish", request_finish),
        (c"memoryFinish", memory_finish),
    ];
    for (name, f) in calls {
        unsafe { raw::export(env, exports, name, f) }?;
    }
    Ok(())
}
