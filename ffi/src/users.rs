//! "Log out everywhere" (the `userField` option): each user's sessions in a store, listed by
//! `ks_store_user_sessions()` and ended by `ks_store_destroy_user_sessions()`, blocking or
//! with a completion callback. The rules (what is listed, why a destroyed session cannot come
//! back) are the core's, in `store::user_index`; this file only translates.

use crate::async_ops::{spawn_then, Userdata};
use crate::boundary::{arg, c_str, guard, guard_value, opt_c_str, out};
use crate::last_error::{self, Failure};
use crate::result::ks_result;
use crate::runtime::block_on;
use crate::store::ks_store;
use koa_session_core::store::{destroy_user_sessions, user_sessions, Store, UserSession};
use koa_session_core::user_field::{check_user_id, UserField};
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

/// The store, if it keeps a user index; else the failure that says so, naming `what`.
fn indexed(store: &ks_store, what: &str) -> Result<Arc<dyn Store>, ks_result> {
    if !store.inner.supports_user_index() {
        last_error::detail(&format!(
            "{what}: this store keeps no user index (the memory and Redis stores keep one; a C store needs ks_c_store_set_user_index())"
        ));
        return Err(ks_result::InvalidArgument);
    }
    Ok(Arc::clone(&store.inner))
}

/// A user id argument: NUL-terminated UTF-8, non-empty, at most 512 bytes.
/// # Safety
/// As `c_str`.
unsafe fn user_id(p: *const c_char) -> Result<String, ks_result> {
    let user = c_str(p)?;
    check_user_id(user).map_err(|why| {
        last_error::detail(&why);
        ks_result::InvalidArgument
    })?;
    Ok(user.to_owned())
}

/// A `userField` argument, checked as `ks_config_builder_set_user_field()` checks it.
/// # Safety
/// As `c_str`.
unsafe fn user_field(p: *const c_char) -> Result<UserField, ks_result> {
    Ok(UserField::parse(c_str(p)?)?)
}

/// The arguments of a destroy, checked and copied.
struct DestroyArgs {
    store: Arc<dyn Store>,
    user: String,
    except: Option<String>,
}

impl DestroyArgs {
    /// # Safety
    /// As `ks_store_destroy_user_sessions()`.
    unsafe fn read(store: *const ks_store, user: *const c_char, except_sid: *const c_char, what: &str) -> Result<DestroyArgs, ks_result> {
        let store = arg(store)?;
        let user = user_id(user)?;
        let except = opt_c_str(except_sid)?.map(str::to_owned);
        Ok(DestroyArgs { store: indexed(store, what)?, user, except })
    }

    async fn run(self) -> Result<u64, koa_session_core::StoreError> {
        destroy_user_sessions(&*self.store, &self.user, self.except.as_deref()).await
    }
}

/// Ends every session of user `user_id` in `store` ("log out everywhere"), except the one
/// whose id is `except_sid` (NULL: none; pass the current request's `ks_session_id()` for "log
/// out my other devices"), and writes how many sessions were ended into `*count_out`. Blocks
/// the calling thread.
///
/// Guarantee: every session committed under that user (with `ks_config_builder_set_user_field()`
/// set on the engine) before this call was made is gone when it returns, and a request of
/// such a session still in flight re-creates nothing: its commit writes no record and
/// returns the cookie-clearing values. Sessions logged in while the call runs may survive it.
/// On a failure part of the sessions may be gone already; calling it again goes on.
///
/// `user_id`: NUL-terminated UTF-8, the user's id as the session's `userField` holds it (a
/// number as its JSON text: "42"), non-empty, at most 512 bytes. `except_sid`: NUL-terminated
/// UTF-8 or NULL. On a C store each callback is bounded by the default store timeout (5000 ms).
///
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_UTF8, KS_RESULT_INVALID_ARGUMENT (an
/// empty or too long user id; a store without a user index: a C store without
/// `ks_c_store_set_user_index()`), the store errors, KS_RESULT_BLOCKING_IN_RUNTIME (called from
/// a callback run by the engine: use `ks_store_destroy_user_sessions_async()` there),
/// KS_RESULT_RUNTIME_UNAVAILABLE. Thread-safety: any thread.
///
/// # Safety
/// `store` is NULL or a live store handle; the strings are NULL or NUL-terminated;
/// `count_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_store_destroy_user_sessions(store: *const ks_store, user_id: *const c_char, except_sid: *const c_char, count_out: *mut u64) -> ks_result {
    guard(|| {
        let count_out = out(count_out)?;
        let args = DestroyArgs::read(store, user_id, except_sid, "ks_store_destroy_user_sessions")?;
        *count_out = block_on(args.run())??;
        Ok(())
    })
}

/// Receives the result of `ks_store_destroy_user_sessions_async()`: KS_RESULT_OK and how many
/// sessions were ended, or the error and 0.
pub type ks_destroy_user_sessions_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, result: ks_result, count: u64)>;

/// `ks_store_destroy_user_sessions()` without blocking: the arguments are checked and copied
/// before this returns. On KS_RESULT_OK the call is under way and `callback` will be called
/// exactly once, from a thread of the engine's runtime (never from inside this call), with
/// `userdata`, the result and the count; the callback rules of `ks_session_load_async()`
/// apply. On any other result the callback is never called. Errors: those of the blocking
/// call found before any store work (KS_RESULT_NULL_PARAMETER, also a NULL callback;
/// KS_RESULT_INVALID_UTF8; KS_RESULT_INVALID_ARGUMENT), KS_RESULT_RUNTIME_UNAVAILABLE; the
/// store errors go to the callback. May be called from any thread, including a callback.
///
/// # Safety
/// As `ks_store_destroy_user_sessions()`; `userdata` must stay usable by the callback until
/// it runs.
#[no_mangle]
pub unsafe extern "C" fn ks_store_destroy_user_sessions_async(
    store: *const ks_store,
    user_id: *const c_char,
    except_sid: *const c_char,
    callback: ks_destroy_user_sessions_callback,
    userdata: *mut c_void,
) -> ks_result {
    guard(|| {
        let args = DestroyArgs::read(store, user_id, except_sid, "ks_store_destroy_user_sessions_async")?;
        let callback = callback.ok_or(ks_result::NullParameter)?;
        let userdata = Userdata(userdata);
        let work = async move { args.run().await.map_err(Failure::from) };
        spawn_then(work, move |result| {
            let userdata = userdata;
            // SAFETY: the callback contract is the caller's.
            unsafe {
                match result {
                    Ok(count) => callback(userdata.0, ks_result::Ok, count),
                    Err(e) => callback(userdata.0, e, 0),
                }
            }
        })
    })
}

/// The live sessions of one user, from `ks_store_user_sessions()`, oldest login first.
///
/// A session id is a secret: whoever holds it is logged in as that user. A "your devices" page
/// shows each session's metadata (`ks_user_sessions_get()`: when it logged in, what the
/// session data says about the device), never its id; and never log ids. The id
/// (`ks_user_sessions_id()`) is there to compare with the current request's
/// `ks_session_id()` ("this device") or to keep one session in
/// `ks_store_destroy_user_sessions()`.
///
/// Ownership: made by `ks_store_user_sessions()` (or given to a
/// `ks_user_sessions_callback`), released by `ks_user_sessions_free()`. Thread-safety:
/// immutable; may be read from any thread.
pub struct ks_user_sessions {
    items: Vec<Item>,
}

struct Item {
    sid: CString,
    since_ms: i64,
    json: CString,
}

impl ks_user_sessions {
    /// A store may hold anything; a NUL byte would cut a C string short.
    fn new(sessions: Vec<UserSession>) -> Result<ks_user_sessions, ks_result> {
        let items = sessions
            .into_iter()
            .map(|s| match (CString::new(s.sid), CString::new(s.json)) {
                (Ok(sid), Ok(json)) => Ok(Item { sid, since_ms: s.since_ms, json }),
                _ => Err(ks_result::StoreError),
            })
            .collect::<Result<_, _>>()?;
        Ok(ks_user_sessions { items })
    }
}

/// The arguments of a listing, checked and copied.
/// # Safety
/// As `ks_store_user_sessions()`.
unsafe fn list_args(store: *const ks_store, field: *const c_char, user: *const c_char, what: &str) -> Result<(Arc<dyn Store>, UserField, String), ks_result> {
    let store = arg(store)?;
    let field = user_field(field)?;
    let user = user_id(user)?;
    Ok((indexed(store, what)?, field, user))
}

/// Lists the live sessions of user `user_id` in `store` into a new `*list_out` (free it with
/// `ks_user_sessions_free()`): the sessions indexed under that user whose record still
/// names that user in `user_field` (the engines' `ks_config_builder_set_user_field()` value,
/// e.g. "passport.user"), oldest login first. A session whose user changed is not listed (but
/// `ks_store_destroy_user_sessions()` still ends it, erring on the side of a logout). Index
/// entries of sessions gone for more than 25 hours are pruned on the way. Read the list with
/// `ks_user_sessions_count()`, `ks_user_sessions_get()` and, mind the secret,
/// `ks_user_sessions_id()`. Blocks the calling thread; one store read per indexed session. On a
/// C store each callback is bounded by the default store timeout (5000 ms).
///
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_UTF8, KS_RESULT_INVALID_ARGUMENT (a
/// `user_field` that `ks_config_builder_set_user_field()` refuses, an empty or too long user
/// id, a store without a user index), the store errors, KS_RESULT_BLOCKING_IN_RUNTIME,
/// KS_RESULT_RUNTIME_UNAVAILABLE. Thread-safety: any thread.
///
/// # Safety
/// `store` is NULL or a live store handle; the strings are NULL or NUL-terminated;
/// `list_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_store_user_sessions(store: *const ks_store, user_field: *const c_char, user_id: *const c_char, list_out: *mut *mut ks_user_sessions) -> ks_result {
    guard(|| {
        let list_out = out(list_out)?;
        let (store, field, user) = list_args(store, user_field, user_id, "ks_store_user_sessions")?;
        let sessions = block_on(user_sessions(&*store, &field, &user, koa_session_core::now_unix_ms()))??;
        *list_out = Box::into_raw(Box::new(ks_user_sessions::new(sessions)?));
        Ok(())
    })
}

/// Receives the result of `ks_store_user_sessions_async()`: KS_RESULT_OK and the list (the
/// callback's to keep or free with `ks_user_sessions_free()`), or the error and NULL.
pub type ks_user_sessions_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, result: ks_result, list: *mut ks_user_sessions)>;

/// A list on its way to the callback.
struct SendList(*mut ks_user_sessions);
// SAFETY: ks_user_sessions is immutable and Send; the pointer is only the box being handed over.
unsafe impl Send for SendList {}

/// `ks_store_user_sessions()` without blocking, as `ks_store_destroy_user_sessions_async()`
/// is to its blocking call: arguments checked and copied before this returns, then `callback`
/// called exactly once from a runtime thread on KS_RESULT_OK, never on any other result.
///
/// # Safety
/// As `ks_store_user_sessions()`; `userdata` must stay usable by the callback until it runs.
#[no_mangle]
pub unsafe extern "C" fn ks_store_user_sessions_async(
    store: *const ks_store,
    user_field: *const c_char,
    user_id: *const c_char,
    callback: ks_user_sessions_callback,
    userdata: *mut c_void,
) -> ks_result {
    guard(|| {
        let (store, field, user) = list_args(store, user_field, user_id, "ks_store_user_sessions_async")?;
        let callback = callback.ok_or(ks_result::NullParameter)?;
        let userdata = Userdata(userdata);
        let work = async move {
            let sessions = user_sessions(&*store, &field, &user, koa_session_core::now_unix_ms()).await?;
            Ok(SendList(Box::into_raw(Box::new(ks_user_sessions::new(sessions)?))))
        };
        spawn_then(work, move |result: Result<SendList, ks_result>| {
            let userdata = userdata;
            // SAFETY: the callback contract is the caller's.
            unsafe {
                match result {
                    Ok(SendList(list)) => callback(userdata.0, ks_result::Ok, list),
                    Err(e) => callback(userdata.0, e, std::ptr::null_mut()),
                }
            }
        })
    })
}

/// How many sessions the list holds. NULL gives 0.
///
/// # Safety
/// `list` is NULL or a live list.
#[no_mangle]
pub unsafe extern "C" fn ks_user_sessions_count(list: *const ks_user_sessions) -> usize {
    guard_value(0, || list.as_ref().map_or(0, |l| l.items.len()))
}

/// The metadata of session number `index` (from 0): `*since_ms_out` receives when it was put
/// under the user (unix ms: the login), `*json_out` the session data as stored (a
/// NUL-terminated JSON object, with its `cookie` field and whatever the application keeps
/// there, e.g. the device it saw at login) and `*json_len_out` its length without the NUL. The
/// string lives as long as `list`. This is what a "your devices" page shows.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_OUT_OF_RANGE.
///
/// # Safety
/// `list` is NULL or a live list; the out-pointers are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_user_sessions_get(
    list: *const ks_user_sessions,
    index: usize,
    since_ms_out: *mut i64,
    json_out: *mut *const c_char,
    json_len_out: *mut usize,
) -> ks_result {
    guard(|| {
        let list = arg(list)?;
        let since_ms_out = out(since_ms_out)?;
        let json_out = out(json_out)?;
        let json_len_out = out(json_len_out)?;
        let item = list.items.get(index).ok_or(ks_result::OutOfRange)?;
        *since_ms_out = item.since_ms;
        *json_out = item.json.as_ptr();
        *json_len_out = item.json.as_bytes().len();
        Ok(())
    })
}

/// Borrows the id of session number `index` (from 0): `*id_out` receives a NUL-terminated
/// string and `*len_out` its length without the NUL, valid as long as `list`. The id is a
/// secret (whoever holds it is logged in as this user): compare it, never show or log it.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_OUT_OF_RANGE.
///
/// # Safety
/// `list` is NULL or a live list; the out-pointers are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_user_sessions_id(list: *const ks_user_sessions, index: usize, id_out: *mut *const c_char, len_out: *mut usize) -> ks_result {
    guard(|| {
        let list = arg(list)?;
        let id_out = out(id_out)?;
        let len_out = out(len_out)?;
        let item = list.items.get(index).ok_or(ks_result::OutOfRange)?;
        *id_out = item.sid.as_ptr();
        *len_out = item.sid.as_bytes().len();
        Ok(())
    })
}

/// Frees a list (and the strings borrowed from it). NULL is a no-op.
///
/// # Safety
/// `list` is NULL or a list not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ks_user_sessions_free(list: *mut ks_user_sessions) {
    guard_value((), || {
        if !list.is_null() {
            drop(Box::from_raw(list));
        }
    })
}
