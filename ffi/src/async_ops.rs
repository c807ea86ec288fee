//! Non-blocking load and commit for event-loop servers: the work runs on the engine's
//! runtime and a completion callback delivers the result. (The store calls' `_async`
//! variants, in users.rs, use the same `spawn_then`.)

use crate::boundary::{arg, arg_mut, guard};
use crate::engine::ks_engine;
use crate::last_error::{self, Failure};
use crate::result::ks_result;
use crate::runtime::runtime;
use crate::session::{into_handle, ks_session, LoadArgs};
use crate::set_cookies::ks_set_cookies;
use std::ffi::{c_char, c_void};
use std::future::Future;
use std::sync::Arc;

/// Receives the result of `ks_session_load_async()`. `result` is KS_RESULT_OK or the error;
/// `session` is the new session (the callback's to keep or free with `ks_session_free()`),
/// or NULL on error or when the path lies outside the cookie path.
pub type ks_load_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, result: ks_result, session: *mut ks_session)>;

/// Receives the result of `ks_session_commit_async()`. `result` is KS_RESULT_OK or the
/// error; `cookies` holds the Set-Cookie values on success (the callback's to free with
/// `ks_set_cookies_free()`), NULL on error.
pub type ks_commit_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, result: ks_result, cookies: *mut ks_set_cookies)>;

/// The caller's userdata, handed back untouched on a runtime thread.
pub(crate) struct Userdata(pub(crate) *mut c_void);
// SAFETY: the library never dereferences it; the documented contract makes it the caller's
// job that their callback may use it on a runtime thread.
unsafe impl Send for Userdata {}

/// Runs `work` on the runtime, then `deliver`s its result exactly once from a runtime thread,
/// a panic in `work` included (as KS_RESULT_PANIC). The failure's detail travels with it and
/// becomes the delivering thread's last-error text just before `deliver` runs.
pub(crate) fn spawn_then<T: Send + 'static>(
    work: impl Future<Output = Result<T, Failure>> + Send + 'static,
    deliver: impl FnOnce(Result<T, ks_result>) + Send + 'static,
) -> Result<(), ks_result> {
    let rt = runtime()?;
    let task = rt.spawn(work);
    rt.spawn(async move {
        let result = task.await.unwrap_or(Err(Failure::from(ks_result::Panic)));
        match &result {
            Ok(_) => last_error::deliver(ks_result::Ok, None),
            Err(f) => last_error::deliver(f.code, f.detail.as_deref()),
        }
        deliver(result.map_err(|f| f.code));
    });
    Ok(())
}

/// Loads a session without blocking: the arguments are as for `ks_session_load()` and are
/// copied before this returns. On KS_RESULT_OK the load is under way and `callback` will be
/// called exactly once, from a thread of the engine's runtime (never from inside this call),
/// with `userdata` and the result; it must return promptly and must not call blocking `ks_`
/// functions (they return KS_RESULT_BLOCKING_IN_RUNTIME there; the `_async` ones are fine). On
/// any other result the callback is never called. May be called from any thread, including a
/// callback. Errors: KS_RESULT_NULL_PARAMETER (also a NULL callback), KS_RESULT_INVALID_UTF8,
/// KS_RESULT_RUNTIME_UNAVAILABLE.
///
/// # Safety
/// As `ks_session_load()`; `userdata` must stay usable by the callback until it runs.
#[no_mangle]
pub unsafe extern "C" fn ks_session_load_async(
    engine: *const ks_engine,
    cookie_header: *const u8,
    cookie_header_len: usize,
    path: *const c_char,
    callback: ks_load_callback,
    userdata: *mut c_void,
) -> ks_result {
    guard(|| {
        let engine = Arc::clone(&arg(engine)?.inner);
        let args = LoadArgs::read(cookie_header, cookie_header_len, path)?;
        let callback = callback.ok_or(ks_result::NullParameter)?;
        let header = args.cookie_header.map(<[u8]>::to_vec);
        let path = args.path.map(str::to_owned);
        let userdata = Userdata(userdata);
        let work = async move {
            let loaded = engine.load(header.as_deref(), path.as_deref()).await?;
            Ok(into_handle(engine, loaded).map(SendSession)?)
        };
        spawn_then(work, move |result| {
            let userdata = userdata;
            // SAFETY: the callback contract is the caller's.
            unsafe {
                match result {
                    Ok(SendSession(session)) => callback(userdata.0, ks_result::Ok, session),
                    Err(e) => callback(userdata.0, e, std::ptr::null_mut()),
                }
            }
        })
    })
}

/// A session handle on its way to the callback.
struct SendSession(*mut ks_session);
// SAFETY: a ks_session is Send; the raw pointer is only the box being handed over.
unsafe impl Send for SendSession {}

/// Commits a session without blocking. The session's state moves into the commit at once:
/// on KS_RESULT_OK the session is finished (free it whenever you like; only `ks_session_id()`
/// still works) and `callback` will be called exactly once, from a thread of the engine's
/// runtime, with `userdata`, the result and the Set-Cookie values. Unlike the blocking
/// commit, a failed asynchronous commit cannot be retried. On any other result nothing
/// happened, the session is unchanged and the callback is never called. The callback rules
/// of `ks_session_load_async()` apply. Errors: KS_RESULT_NULL_PARAMETER (also a NULL callback),
/// KS_RESULT_SESSION_FINISHED, KS_RESULT_RUNTIME_UNAVAILABLE.
///
/// # Safety
/// `session` is a live session; `userdata` must stay usable by the callback until it runs.
#[no_mangle]
pub unsafe extern "C" fn ks_session_commit_async(session: *mut ks_session, plain_http: bool, callback: ks_commit_callback, userdata: *mut c_void) -> ks_result {
    guard(|| {
        let session = arg_mut(session)?;
        let callback = callback.ok_or(ks_result::NullParameter)?;
        session.active()?;
        runtime()?;
        let active = session.active.take().ok_or(ks_result::SessionFinished)?;
        let engine = Arc::clone(&session.engine);
        let userdata = Userdata(userdata);
        let work = async move {
            let values = engine.commit(active, plain_http).await?;
            Ok(ks_set_cookies::new(values).map(|c| SendCookies(Box::into_raw(Box::new(c))))?)
        };
        spawn_then(work, move |result| {
            let userdata = userdata;
            // SAFETY: the callback contract is the caller's.
            unsafe {
                match result {
                    Ok(SendCookies(cookies)) => callback(userdata.0, ks_result::Ok, cookies),
                    Err(e) => callback(userdata.0, e, std::ptr::null_mut()),
                }
            }
        })
    })
}

/// Set-Cookie values on their way to the callback.
struct SendCookies(*mut ks_set_cookies);
// SAFETY: ks_set_cookies is immutable and Send; the pointer is only the box being handed over.
unsafe impl Send for SendCookies {}

