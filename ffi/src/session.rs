//! `ks_session`: one request's session, from the Cookie header to the Set-Cookie values.

use crate::boundary::{arg, arg_mut, bytes, enum_arg, guard, guard_value, opt_c_str, out};
use crate::engine::ks_engine;
use crate::result::ks_result;
use crate::runtime::block_on;
use crate::set_cookies::ks_set_cookies;
use koa_session_core::{ActiveSession, Engine, LoadReport};
use std::ffi::{c_char, CString};
use std::sync::Arc;

/// How loading went, from `ks_session_load_report()`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ks_load_report {
    /// No (valid) session cookie came with the request: a new session.
    NoCookie = 0,
    /// The record named by the cookie was loaded.
    Loaded = 1,
    /// The cookie named no record (expired or destroyed): a new session; the stale cookie is
    /// cleared at commit.
    Missing = 2,
    /// The record was refused by a validity check: a new session.
    Rejected = 3,
    /// The store holds something under that id that is no valid session record (not a JSON
    /// object, over 1 MiB or nested deeper than 64 levels, or a `cookie` field that is not an
    /// object): a new session. Worth a log line.
    Corrupt = 4,
    /// The record passed its idle or absolute timeout
    /// (`ks_config_builder_set_idle_timeout_ms()`, `ks_config_builder_set_absolute_timeout_ms()`):
    /// a new session; the old record is destroyed at commit.
    Expired = 5,
    /// The cookie named an id the session was renewed from (an alias record): the engine goes
    /// on to load the session's own record, so a finished load reports what that gave instead.
    Alias = 6,
}

impl From<LoadReport> for ks_load_report {
    fn from(r: LoadReport) -> Self {
        match r {
            LoadReport::NoCookie => ks_load_report::NoCookie,
            LoadReport::Loaded => ks_load_report::Loaded,
            LoadReport::Missing => ks_load_report::Missing,
            LoadReport::Rejected => ks_load_report::Rejected,
            LoadReport::Corrupt => ks_load_report::Corrupt,
            LoadReport::Expired => ks_load_report::Expired,
            LoadReport::Alias => ks_load_report::Alias,
        }
    }
}

/// The per-request save override, for `ks_session_set_save()` (koa-session's `ctx.sessionSave`).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ks_save_mode {
    /// Save when the data changed (or rolling / allowEmpty say so).
    Default = 0,
    /// Save and send the cookie even if nothing changed.
    Force = 1,
    /// Touch neither the store nor the cookies for this request.
    Skip = 2,
}

/// One request's session. Ownership: returned by `ks_session_load()` (or to a
/// `ks_load_callback`), released by `ks_session_free()`. It keeps its engine alive.
/// Thread-safety: not synchronized; it belongs to one thread at a time (it may move between
/// threads, e.g. from a completion callback to a worker). Strings borrowed from it stay valid
/// until the next call that changes it, or its free.
pub struct ks_session {
    pub(crate) engine: Arc<Engine>,
    /// `None` once committed.
    pub(crate) active: Option<ActiveSession>,
    /// The session id, NUL-terminated for C.
    sid: CString,
}

impl ks_session {
    pub(crate) fn new(engine: Arc<Engine>, active: ActiveSession) -> Result<ks_session, ks_result> {
        let sid = CString::new(active.sid()).map_err(|_| ks_result::Internal)?;
        Ok(ks_session { engine, active: Some(active), sid })
    }

    pub(crate) fn active(&self) -> Result<&ActiveSession, ks_result> {
        self.active.as_ref().ok_or(ks_result::SessionFinished)
    }

    pub(crate) fn active_mut(&mut self) -> Result<&mut ActiveSession, ks_result> {
        self.active.as_mut().ok_or(ks_result::SessionFinished)
    }
}

/// The Cookie header and path arguments shared by the blocking and asynchronous loads.
pub(crate) struct LoadArgs<'a> {
    pub cookie_header: Option<&'a [u8]>,
    pub path: Option<&'a str>,
}

impl<'a> LoadArgs<'a> {
    /// # Safety
    /// As documented on `ks_session_load()`.
    pub(crate) unsafe fn read(cookie_header: *const u8, cookie_header_len: usize, path: *const c_char) -> Result<LoadArgs<'a>, ks_result> {
        let header = bytes(cookie_header, cookie_header_len)?;
        Ok(LoadArgs { cookie_header: Some(header).filter(|h| !h.is_empty()), path: opt_c_str(path)? })
    }
}

pub(crate) fn into_handle(engine: Arc<Engine>, loaded: Option<ActiveSession>) -> Result<*mut ks_session, ks_result> {
    match loaded {
        None => Ok(std::ptr::null_mut()),
        Some(active) => Ok(Box::into_raw(Box::new(ks_session::new(engine, active)?))),
    }
}

/// Loads the session for one request, blocking the calling thread until the store answers.
///
/// `cookie_header`/`cookie_header_len`: the raw bytes of the request's Cookie header (not
/// NUL-terminated; not required to be UTF-8; NULL with length 0 when there is none);
/// borrowed for the call only. `path`: the request path (NUL-terminated UTF-8, borrowed), or
/// NULL to skip the cookie-path check.
///
/// On success `*session_out` receives a new session (free it with `ks_session_free()`), or
/// NULL when `path` lies outside the cookie path: this request has no session. A missing,
/// expired or corrupt record, or a badly signed cookie, gives a new session (see
/// `ks_session_load_report()`); it is not an error.
///
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_UTF8 (path), the store errors,
/// KS_RESULT_SID_GENERATION_FAILED, KS_RESULT_BLOCKING_IN_RUNTIME (called from a callback run
/// by the engine: use `ks_session_load_async()` there), KS_RESULT_RUNTIME_UNAVAILABLE.
/// Thread-safety: call from any number of threads at once with the same engine.
///
/// # Safety
/// `engine` is a live engine; the buffers are valid as described; `session_out` is valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn ks_session_load(
    engine: *const ks_engine,
    cookie_header: *const u8,
    cookie_header_len: usize,
    path: *const c_char,
    session_out: *mut *mut ks_session,
) -> ks_result {
    guard(|| {
        let engine = &arg(engine)?.inner;
        let args = LoadArgs::read(cookie_header, cookie_header_len, path)?;
        let session_out = out(session_out)?;
        let loaded = block_on(engine.load(args.cookie_header, args.path))??;
        *session_out = into_handle(Arc::clone(engine), loaded)?;
        Ok(())
    })
}

/// Frees a session. NULL is a no-op. A session freed without a commit writes nothing and
/// sends no cookie (like a request that failed). Strings borrowed from it become invalid.
///
/// # Safety
/// `session` is NULL or a session handle not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ks_session_free(session: *mut ks_session) {
    guard_value((), || {
        if !session.is_null() {
            drop(Box::from_raw(session));
        }
    })
}

/// Borrows the session id: `*id_out` receives a NUL-terminated string of printable ASCII,
/// `*len_out` its length. Valid until `ks_session_regenerate()` or `ks_session_free()` on
/// this session. Still readable after a commit. Errors: KS_RESULT_NULL_PARAMETER.
///
/// # Safety
/// `session` is a live session; the out-pointers are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_session_id(session: *const ks_session, id_out: *mut *const c_char, len_out: *mut usize) -> ks_result {
    guard(|| {
        let session = arg(session)?;
        let id_out = out(id_out)?;
        let len_out = out(len_out)?;
        *id_out = session.sid.as_ptr();
        *len_out = session.sid.as_bytes().len();
        Ok(())
    })
}

/// True when no stored record backs this session yet (a new visitor, or after regenerate).
/// NULL or a committed session gives false.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn ks_session_is_new(session: *const ks_session) -> bool {
    guard_value(false, || session.as_ref().and_then(|s| s.active.as_ref()).is_some_and(|a| a.is_new()))
}

/// How loading went (`ks_load_report`). NULL or a committed session gives
/// KS_LOAD_REPORT_NO_COOKIE.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn ks_session_load_report(session: *const ks_session) -> ks_load_report {
    guard_value(ks_load_report::NoCookie, || {
        match session.as_ref().and_then(|s| s.active.as_ref()).map(|a| a.load_report()) {
            None => ks_load_report::NoCookie,
            Some(report) => ks_load_report::from(report),
        }
    })
}

/// Marks the session destroyed (koa-session's `ctx.session = null`): at commit its record
/// is removed and both cookies are cleared. Setting data again with `ks_session_set_json()`
/// undoes it. Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_SESSION_FINISHED.
///
/// # Safety
/// `session` is a live session.
#[no_mangle]
pub unsafe extern "C" fn ks_session_mark_destroyed(session: *mut ks_session) -> ks_result {
    guard(|| {
        arg_mut(session)?.active_mut()?.set_json(None)?;
        Ok(())
    })
}

/// True when the session is marked destroyed. NULL or a committed session gives false.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn ks_session_is_destroyed(session: *const ks_session) -> bool {
    guard_value(false, || session.as_ref().and_then(|s| s.active.as_ref()).is_some_and(|a| a.json().is_none()))
}

/// Gives the session a new id and fresh, empty data (call it at login, against session
/// fixation). The old record is destroyed at commit and the new cookie is sent. Strings
/// borrowed from the session become invalid. Errors: KS_RESULT_NULL_PARAMETER,
/// KS_RESULT_SESSION_FINISHED, KS_RESULT_SID_GENERATION_FAILED.
///
/// # Safety
/// `session` is a live session.
#[no_mangle]
pub unsafe extern "C" fn ks_session_regenerate(session: *mut ks_session) -> ks_result {
    guard(|| {
        let session = arg_mut(session)?;
        let engine = Arc::clone(&session.engine);
        let active = session.active_mut()?;
        engine.regenerate(active)?;
        let sid = CString::new(active.sid()).map_err(|_| ks_result::Internal)?;
        session.sid = sid;
        Ok(())
    })
}

/// Sets this request's save override, a `ks_save_mode`: KS_SAVE_MODE_DEFAULT,
/// KS_SAVE_MODE_FORCE (save and send the cookie even if unchanged) or KS_SAVE_MODE_SKIP (touch
/// neither store nor cookies). Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT,
/// KS_RESULT_SESSION_FINISHED.
///
/// # Safety
/// `session` is a live session.
#[no_mangle]
pub unsafe extern "C" fn ks_session_set_save(session: *mut ks_session, mode: u32) -> ks_result {
    guard(|| {
        let session = arg_mut(session)?;
        let save = enum_arg(mode, &[None, Some(true), Some(false)])?;
        session.active_mut()?.set_save(save);
        Ok(())
    })
}

/// Ends the request, blocking until the store is written: saves or destroys the record as
/// the session rules say, then gives the `Set-Cookie` values to send. `plain_http` is true
/// when the request came over unencrypted HTTP (a `secure` cookie is then refused).
///
/// On success `*cookies_out` receives the values (free with `ks_set_cookies_free()`) and
/// the session is finished: only `ks_session_id()` and `ks_session_free()` remain useful.
/// On failure nothing was sent and the session is unchanged, so the commit may be retried;
/// answer the request with an error otherwise.
///
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_SESSION_FINISHED, the store errors,
/// KS_RESULT_SECURE_COOKIE_OVER_HTTP, KS_RESULT_INVALID_COOKIE_ATTRIBUTE (from the session's
/// own `cookie` field), KS_RESULT_BLOCKING_IN_RUNTIME, KS_RESULT_RUNTIME_UNAVAILABLE.
///
/// # Safety
/// `session` is a live session; `cookies_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_session_commit(session: *mut ks_session, plain_http: bool, cookies_out: *mut *mut ks_set_cookies) -> ks_result {
    guard(|| {
        let session = arg_mut(session)?;
        let cookies_out = out(cookies_out)?;
        let active = session.active()?.clone();
        let values = block_on(session.engine.commit(active, plain_http))??;
        let cookies = ks_set_cookies::new(values)?;
        session.active = None;
        *cookies_out = Box::into_raw(Box::new(cookies));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C enum carries the core's codes, the same numbers the Node addon exports.
    #[test]
    fn load_report_codes_are_the_cores() {
        for report in LoadReport::ALL {
            assert_eq!(ks_load_report::from(report) as u32, u32::from(report.code()), "{report:?}");
        }
    }
}
