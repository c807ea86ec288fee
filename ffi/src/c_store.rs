//! C stores: a store whose operations are C callbacks in a vtable. The callbacks are
//! synchronous C functions, so the engine runs them on tokio's blocking pool and a slow store
//! never stalls the runtime's workers.
//!
//! Every call has a deadline (the engine's store timeout). A C function cannot be cancelled,
//! so a callback past its deadline is abandoned, not stopped: the request fails with a store
//! timeout at once, the callback's eventual result is ignored, and its pool thread is released
//! when it returns. That is why, with a deadline, even a blocking `ks_` call hands the callback
//! to the pool and waits with a timer; only an engine configured without a deadline runs it
//! inline on the caller's own thread, saving that hop.
//!
//! Optional callbacks are registered separately, after `ks_c_store_new()` and before the
//! store is given to an engine (`ks_c_store_set_compare_and_set()`, `ks_c_store_set_touch()`,
//! and the three of a user index with `ks_c_store_set_user_index()`), so the vtable of
//! existing C code keeps its layout: a store registered without them works as before
//! (whole-record writes, touch by rewrite, no `userField`).

use crate::boundary::{arg, arg_mut, bytes, guard, opt_c_str, out, str_len};
use crate::result::ks_result;
use crate::runtime::in_blocking_call;
use crate::store::ks_store;
use koa_session_core::config::DEFAULT_STORE_TIMEOUT_MS;
use koa_session_core::store::{touch_by_rewrite, CasResult, IndexEntry, Store, StoreError, StoreErrorKind, StoreFuture};
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What a C store callback returns (as a `uint32_t`).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ks_store_status {
    /// Done. For `get`: the record was found and written with `ks_buffer_write()`.
    Ok = 0,
    /// For `get`: no record under this key (or it expired). Not an error. For `destroy` it
    /// counts as success; for `set` it is an error.
    NotFound = 1,
    /// The store is not connected: the call fails with KS_RESULT_STORE_UNAVAILABLE.
    Unavailable = 2,
    /// The store did not answer in time: KS_RESULT_STORE_TIMEOUT.
    Timeout = 3,
    /// The store refused the data (too large, full): KS_RESULT_STORE_REJECTED.
    Rejected = 4,
    /// Any other failure: KS_RESULT_STORE_ERROR. So is any value not listed here.
    Error = 5,
    /// For `compare_and_set`: the record is not the expected bytes; nothing was written, and
    /// the current record was written with `ks_buffer_write()`.
    Changed = 6,
}

/// The output of a C store's `get`: the callback copies the record into it with
/// `ks_buffer_write()`. Owned by the engine and valid only during that callback.
pub struct ks_buffer {
    data: Vec<u8>,
}

/// Appends `len` bytes to the buffer a `get` callback was given (call it once with the whole
/// record, or several times with pieces). The bytes are copied. The record must be UTF-8 JSON;
/// anything else is treated as a failed read (KS_RESULT_STORE_ERROR), and a record that is
/// valid UTF-8 but not a JSON object starts a fresh session (load report
/// KS_LOAD_REPORT_CORRUPT). Errors: KS_RESULT_NULL_PARAMETER (`buffer` NULL, or `data` NULL
/// with `len` > 0).
///
/// # Safety
/// `buffer` is the buffer passed to the running `get` callback; `data` is valid for reads
/// of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ks_buffer_write(buffer: *mut ks_buffer, data: *const u8, len: usize) -> ks_result {
    guard(|| {
        let buffer = arg_mut(buffer)?;
        let data = bytes(data, len)?;
        buffer.data.extend_from_slice(data);
        Ok(())
    })
}

/// The output of a C store's `index_entries` callback: the callback adds each entry of the
/// user's index with `ks_index_entries_add()`. Owned by the engine and valid only during that
/// callback.
pub struct ks_index_entries {
    entries: Vec<IndexEntry>,
}

/// Adds one entry of a user's index to the list an `index_entries` callback was given: the
/// session id `sid` (`sid_len` bytes of UTF-8, copied; no NUL needed) and `since_ms`, the
/// stamp it was indexed with (the `since_ms` its `index_add` call was given). Errors:
/// KS_RESULT_NULL_PARAMETER (`entries` or `sid` NULL), KS_RESULT_INVALID_UTF8,
/// KS_RESULT_INVALID_ARGUMENT (`sid_len` 0).
///
/// # Safety
/// `entries` is the list passed to the running `index_entries` callback; `sid` is valid for
/// reads of `sid_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ks_index_entries_add(entries: *mut ks_index_entries, sid: *const c_char, sid_len: usize, since_ms: i64) -> ks_result {
    guard(|| {
        let entries = arg_mut(entries)?;
        let sid = str_len(sid, sid_len)?;
        if sid.is_empty() {
            return Err(ks_result::InvalidArgument);
        }
        entries.entries.push(IndexEntry { sid: sid.to_owned(), since_ms });
        Ok(())
    })
}

/// Reads one record. `key` is the store key: the key prefix followed by the session id,
/// NUL-terminated, `key_len` bytes without the NUL, valid only during the call. On a hit, copy
/// the record's JSON with `ks_buffer_write(out, ...)` and return KS_STORE_STATUS_OK; on a miss
/// return KS_STORE_STATUS_NOT_FOUND; on a failure, another `ks_store_status` value.
pub type ks_store_get_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, key: *const c_char, key_len: usize, out: *mut ks_buffer) -> u32>;
/// Stores `json` (NUL-terminated, `json_len` bytes without the NUL, valid only during the
/// call) under `key`, replacing any record, to expire after `ttl_ms` milliseconds. Returns
/// KS_STORE_STATUS_OK, or a failure `ks_store_status`.
pub type ks_store_set_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, key: *const c_char, key_len: usize, json: *const c_char, json_len: usize, ttl_ms: u64) -> u32,
>;
/// Removes the record under `key`; removing an unknown key succeeds. Returns
/// KS_STORE_STATUS_OK (or KS_STORE_STATUS_NOT_FOUND), or a failure `ks_store_status`.
pub type ks_store_destroy_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, key: *const c_char, key_len: usize) -> u32>;
/// Releases `ctx`. Runs exactly once, after the last call to any other callback.
pub type ks_store_drop_fn = Option<unsafe extern "C" fn(ctx: *mut c_void)>;
/// Optional (`ks_c_store_set_compare_and_set()`), atomically: if the record under `key` is
/// exactly the `expected_len` bytes at `expected` (compare bytes, do not parse), replace it
/// with `json` to expire after `ttl_ms` ms and return KS_STORE_STATUS_OK; if it is different, write
/// the current record to `current` with `ks_buffer_write()`, change nothing and return
/// KS_STORE_STATUS_CHANGED; if there is no record, create none and return KS_STORE_STATUS_NOT_FOUND.
/// Strings are NUL-terminated, lengths exclude the NUL, all valid only during the call.
/// With it, commits of changed sessions merge into the current record instead of replacing it.
pub type ks_store_compare_and_set_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const c_char,
        key_len: usize,
        expected: *const c_char,
        expected_len: usize,
        json: *const c_char,
        json_len: usize,
        ttl_ms: u64,
        current: *mut ks_buffer,
    ) -> u32,
>;
/// Optional (`ks_c_store_set_touch()`): sets the expiry of the record under `key` to `ttl_ms`
/// ms from now without changing it; KS_STORE_STATUS_OK when done, KS_STORE_STATUS_NOT_FOUND (creating
/// nothing) when there is no record. Without it, a touch reads and rewrites the record.
pub type ks_store_touch_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, key: *const c_char, key_len: usize, ttl_ms: u64) -> u32>;

/// Optional, with its two siblings (`ks_c_store_set_user_index()`): adds session id `sid` to
/// the index of user `user`, stamped `since_ms` (unix ms, the login), or, if the index holds
/// it already, replaces its stamp; then writes how many ids that user's index holds into
/// `*held_out` and returns KS_STORE_STATUS_OK. `user` is the user id (the value of the
/// `userField`, a number as its JSON text), `sid` a session id without the key prefix; both
/// NUL-terminated, lengths without the NUL, valid only during the call. The index of one user
/// is a set of (sid, since_ms) pairs that only these three callbacks touch: keep it apart from
/// the session records (and, if several stores share a backend, under the store's key
/// prefix). It has no expiry of its own: the engine prunes entries of sessions that are gone.
pub type ks_store_index_add_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, user: *const c_char, user_len: usize, sid: *const c_char, sid_len: usize, since_ms: i64, held_out: *mut u64) -> u32,
>;
/// Optional (`ks_c_store_set_user_index()`): gives every entry of the index of `user` (as
/// `ks_store_index_add_fn` describes it) by calling `ks_index_entries_add(out, sid, sid_len,
/// since_ms)` once per entry, in any order, and returns KS_STORE_STATUS_OK; a user with no
/// index has no entries (KS_STORE_STATUS_OK or KS_STORE_STATUS_NOT_FOUND, adding nothing). On
/// a failure status whatever was added is ignored.
pub type ks_store_index_entries_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, user: *const c_char, user_len: usize, out: *mut ks_index_entries) -> u32>;
/// Optional (`ks_c_store_set_user_index()`): removes `count` session ids from the index of
/// `user` (ids it does not hold are ignored) and returns KS_STORE_STATUS_OK (or
/// KS_STORE_STATUS_NOT_FOUND). `sids[i]` is NUL-terminated and `sid_lens[i]` bytes long without
/// the NUL; the arrays and strings are valid only during the call. `count` is at least 1.
pub type ks_store_index_remove_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, user: *const c_char, user_len: usize, sids: *const *const c_char, sid_lens: *const usize, count: usize) -> u32,
>;

/// A store implemented in C, registered with `ks_c_store_new()`.
///
/// Guarantees the library gives the callbacks:
/// - `ctx` is passed to every callback unchanged.
/// - Every pointer passed in is borrowed: valid only until the callback returns.
/// - Callbacks may be called from several threads at once (the engine is shared by all
///   server threads, and asynchronous calls run on the runtime's blocking pool): they must be
///   thread-safe. They may block (they never stall the runtime's workers), but must not call
///   blocking `ks_` functions (those return KS_RESULT_BLOCKING_IN_RUNTIME there).
/// - `drop` (may be NULL) runs exactly once, on whichever thread releases the last
///   reference to the store, after every other callback has returned (an abandoned one
///   included, see below). It does not run if `ks_c_store_new()` fails.
/// - Each call is bounded by the engine's store timeout (`ks_config_builder_set_store_timeout_ms()`,
///   default 5000 ms): past it the `ks_` call fails with KS_RESULT_STORE_TIMEOUT, even while
///   the callback is still running. The callback is not interrupted: it keeps its thread
///   until it returns, and whatever it returns or writes then is ignored. Up to 64 callbacks
///   run at once; further calls queue, and a queued call's wait counts against its deadline.
///
/// Each callback returns a `ks_store_status`; any failure makes the `ks_` call that needed
/// the store fail with the matching store error, and nothing is sent to the client.
///
/// This struct's layout is fixed. Optional callbacks are registered with their own
/// functions after `ks_c_store_new()`: `ks_c_store_set_compare_and_set()` (commits merge
/// instead of writing whole records), `ks_c_store_set_touch()` (a TTL refresh without a
/// rewrite) and `ks_c_store_set_user_index()` (each user's sessions, for the `userField`
/// option). Same contract as above for all of them, the deadline included.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ks_store_vtable {
    pub ctx: *mut c_void,
    pub get: ks_store_get_fn,
    pub set: ks_store_set_fn,
    pub destroy: ks_store_destroy_fn,
    pub drop: ks_store_drop_fn,
}

type CasFn = unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const c_char, usize, *const c_char, usize, u64, *mut ks_buffer) -> u32;
type TouchFn = unsafe extern "C" fn(*mut c_void, *const c_char, usize, u64) -> u32;

/// The three callbacks of a user index, registered together.
#[derive(Clone, Copy)]
struct UserIndexFns {
    add: unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const c_char, usize, i64, *mut u64) -> u32,
    entries: unsafe extern "C" fn(*mut c_void, *const c_char, usize, *mut ks_index_entries) -> u32,
    remove: unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const *const c_char, *const usize, usize) -> u32,
}

pub(crate) struct Callbacks {
    ctx: *mut c_void,
    get: unsafe extern "C" fn(*mut c_void, *const c_char, usize, *mut ks_buffer) -> u32,
    set: unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const c_char, usize, u64) -> u32,
    destroy: unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> u32,
    drop: ks_store_drop_fn,
    /// Registered once, before any engine uses the store.
    compare_and_set: OnceLock<CasFn>,
    touch: OnceLock<TouchFn>,
    user_index: OnceLock<UserIndexFns>,
}

// SAFETY: the vtable contract (documented on ks_store_vtable) makes the callbacks and ctx
// usable from any thread, concurrently.
unsafe impl Send for Callbacks {}
unsafe impl Sync for Callbacks {}

impl Drop for Callbacks {
    fn drop(&mut self) {
        if let Some(drop_ctx) = self.drop {
            // SAFETY: the last reference is going, so no other callback is running or will run.
            unsafe { drop_ctx(self.ctx) }
        }
    }
}

const STATUS_OK: u32 = ks_store_status::Ok as u32;
const STATUS_NOT_FOUND: u32 = ks_store_status::NotFound as u32;
const STATUS_UNAVAILABLE: u32 = ks_store_status::Unavailable as u32;
const STATUS_TIMEOUT: u32 = ks_store_status::Timeout as u32;
const STATUS_REJECTED: u32 = ks_store_status::Rejected as u32;
const STATUS_ERROR: u32 = ks_store_status::Error as u32;
const STATUS_CHANGED: u32 = ks_store_status::Changed as u32;

fn status_error(op: &str, status: u32) -> StoreError {
    let (kind, what) = match status {
        STATUS_UNAVAILABLE => (StoreErrorKind::Unavailable, "unavailable"),
        STATUS_TIMEOUT => (StoreErrorKind::Timeout, "timed out"),
        STATUS_REJECTED => (StoreErrorKind::Rejected, "rejected the data"),
        STATUS_ERROR => (StoreErrorKind::Backend, "failed"),
        _ => (StoreErrorKind::Backend, "returned an unknown status"),
    };
    StoreError::new(kind, format!("C store {op}: {what} ({status})"))
}

impl Callbacks {
    fn get(&self, key: &CString) -> Result<Option<String>, StoreError> {
        let mut buffer = ks_buffer { data: Vec::new() };
        // SAFETY: the pointers are valid for the call; the contract covers ctx.
        let status = unsafe { (self.get)(self.ctx, key.as_ptr(), key.as_bytes().len(), &mut buffer) };
        match status {
            STATUS_OK => String::from_utf8(buffer.data)
                .map(Some)
                .map_err(|_| StoreError::new(StoreErrorKind::Backend, "C store get: the record is not UTF-8")),
            STATUS_NOT_FOUND => Ok(None),
            s => Err(status_error("get", s)),
        }
    }

    fn set(&self, key: &CString, json: &CString, ttl_ms: u64) -> Result<(), StoreError> {
        // SAFETY: as above.
        let status = unsafe { (self.set)(self.ctx, key.as_ptr(), key.as_bytes().len(), json.as_ptr(), json.as_bytes().len(), ttl_ms) };
        match status {
            STATUS_OK => Ok(()),
            s => Err(status_error("set", s)),
        }
    }

    fn destroy(&self, key: &CString) -> Result<(), StoreError> {
        // SAFETY: as above.
        match unsafe { (self.destroy)(self.ctx, key.as_ptr(), key.as_bytes().len()) } {
            STATUS_OK | STATUS_NOT_FOUND => Ok(()),
            s => Err(status_error("destroy", s)),
        }
    }

    fn compare_and_set(&self, key: &CString, expected: &CString, json: &CString, ttl_ms: u64) -> Result<CasResult, StoreError> {
        let cas = *self.compare_and_set.get().ok_or_else(unsupported)?;
        let mut current = ks_buffer { data: Vec::new() };
        // SAFETY: as above.
        let status = unsafe {
            cas(
                self.ctx,
                key.as_ptr(),
                key.as_bytes().len(),
                expected.as_ptr(),
                expected.as_bytes().len(),
                json.as_ptr(),
                json.as_bytes().len(),
                ttl_ms,
                &mut current,
            )
        };
        match status {
            STATUS_OK => Ok(CasResult::Stored),
            STATUS_NOT_FOUND => Ok(CasResult::Missing),
            STATUS_CHANGED => String::from_utf8(current.data)
                .map(CasResult::Changed)
                .map_err(|_| StoreError::new(StoreErrorKind::Backend, "C store compare_and_set: the current record is not UTF-8")),
            s => Err(status_error("compare_and_set", s)),
        }
    }

    /// `None` when no touch callback was registered.
    fn touch(&self, key: &CString, ttl_ms: u64) -> Option<Result<bool, StoreError>> {
        let touch = *self.touch.get()?;
        // SAFETY: as above.
        Some(match unsafe { touch(self.ctx, key.as_ptr(), key.as_bytes().len(), ttl_ms) } {
            STATUS_OK => Ok(true),
            STATUS_NOT_FOUND => Ok(false),
            s => Err(status_error("touch", s)),
        })
    }
}

impl Callbacks {
    fn user_index(&self) -> Result<UserIndexFns, StoreError> {
        self.user_index.get().copied().ok_or_else(|| StoreError::new(StoreErrorKind::Backend, "C store: no user index callbacks were registered"))
    }

    fn index_add(&self, user: &CString, sid: &CString, since_ms: i64) -> Result<u64, StoreError> {
        let add = self.user_index()?.add;
        let mut held = 0u64;
        // SAFETY: as above.
        let status = unsafe { add(self.ctx, user.as_ptr(), user.as_bytes().len(), sid.as_ptr(), sid.as_bytes().len(), since_ms, &mut held) };
        match status {
            STATUS_OK => Ok(held),
            s => Err(status_error("index_add", s)),
        }
    }

    fn index_entries(&self, user: &CString) -> Result<Vec<IndexEntry>, StoreError> {
        let entries = self.user_index()?.entries;
        let mut out = ks_index_entries { entries: Vec::new() };
        // SAFETY: as above.
        match unsafe { entries(self.ctx, user.as_ptr(), user.as_bytes().len(), &mut out) } {
            STATUS_OK => Ok(out.entries),
            STATUS_NOT_FOUND => Ok(Vec::new()),
            s => Err(status_error("index_entries", s)),
        }
    }

    fn index_remove(&self, user: &CString, sids: &[CString]) -> Result<(), StoreError> {
        let remove = self.user_index()?.remove;
        let ptrs: Vec<*const c_char> = sids.iter().map(|s| s.as_ptr()).collect();
        let lens: Vec<usize> = sids.iter().map(|s| s.as_bytes().len()).collect();
        // SAFETY: as above; the arrays hold `sids.len()` elements and live for the call.
        match unsafe { remove(self.ctx, user.as_ptr(), user.as_bytes().len(), ptrs.as_ptr(), lens.as_ptr(), sids.len()) } {
            STATUS_OK | STATUS_NOT_FOUND => Ok(()),
            s => Err(status_error("index_remove", s)),
        }
    }
}

fn unsupported() -> StoreError {
    StoreError::new(StoreErrorKind::Backend, "C store: no compare_and_set callback was registered")
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

/// The `Store` over a C vtable. Each engine gets its own view of a registered store, with
/// that engine's deadline; the views share the callbacks.
#[derive(Clone)]
pub(crate) struct CStore {
    callbacks: Arc<Callbacks>,
    prefix: Arc<str>,
    deadline: Option<Duration>,
}

fn c_string(s: String, what: &str) -> Result<CString, StoreError> {
    CString::new(s).map_err(|_| StoreError::new(StoreErrorKind::Rejected, format!("{what} contains a NUL byte")))
}

impl CStore {
    fn key(&self, sid: &str) -> Result<CString, StoreError> {
        c_string(format!("{}{}", self.prefix, sid), "session key")
    }

    /// The same store with another deadline (an engine's store timeout).
    pub(crate) fn with_deadline(&self, deadline: Option<Duration>) -> CStore {
        CStore { deadline, ..self.clone() }
    }

    /// Runs one callback. Without a deadline: inline on a caller blocked in a `ks_` call (its
    /// thread is free to block), otherwise on the blocking pool so runtime workers keep
    /// running. With one: always on the blocking pool, waited for with a timer; past the
    /// deadline the wait ends and the callback is left to finish on its own (its result,
    /// dropped with the task, is never looked at).
    async fn run<T: Send + 'static>(&self, op: &str, call: impl FnOnce(&Callbacks) -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
        let inline = self.deadline.is_none() && in_blocking_call();
        if inline || tokio::runtime::Handle::try_current().is_err() {
            return call(&self.callbacks);
        }
        let callbacks = Arc::clone(&self.callbacks);
        let task = tokio::task::spawn_blocking(move || call(&callbacks));
        let completed = match self.deadline {
            None => task.await,
            Some(limit) => match tokio::time::timeout(limit, task).await {
                Ok(done) => done,
                Err(_) => return Err(StoreError::deadline_exceeded(op, limit)),
            },
        };
        completed.unwrap_or_else(|e| Err(StoreError::new(StoreErrorKind::Backend, format!("C store callback did not complete: {e}"))))
    }
}

impl Store for CStore {
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let key = self.key(sid)?;
            self.run("get", move |c| c.get(&key)).await
        })
    }

    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = self.key(sid)?;
            let json = c_string(json.to_owned(), "session JSON")?;
            let ttl_ms = ttl_ms(ttl);
            self.run("set", move |c| c.set(&key, &json, ttl_ms)).await
        })
    }

    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = self.key(sid)?;
            self.run("destroy", move |c| c.destroy(&key)).await
        })
    }

    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            if !self.supports_touch() {
                return touch_by_rewrite(self, sid, ttl).await;
            }
            let key = self.key(sid)?;
            let ttl_ms = ttl_ms(ttl);
            self.run("touch", move |c| c.touch(&key, ttl_ms).unwrap_or_else(|| Err(StoreError::new(StoreErrorKind::Backend, "C store: no touch callback"))))
                .await
        })
    }

    fn supports_touch(&self) -> bool {
        self.callbacks.touch.get().is_some()
    }

    fn compare_and_set<'a>(&'a self, sid: &'a str, expected: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, CasResult> {
        Box::pin(async move {
            if !self.supports_compare_and_set() {
                return Err(unsupported());
            }
            let key = self.key(sid)?;
            let expected = c_string(expected.to_owned(), "expected session JSON")?;
            let json = c_string(json.to_owned(), "session JSON")?;
            let ttl_ms = ttl_ms(ttl);
            self.run("compare_and_set", move |c| c.compare_and_set(&key, &expected, &json, ttl_ms)).await
        })
    }

    fn supports_compare_and_set(&self) -> bool {
        self.callbacks.compare_and_set.get().is_some()
    }

    fn supports_user_index(&self) -> bool {
        self.callbacks.user_index.get().is_some()
    }

    fn user_index_add<'a>(&'a self, user: &'a str, sid: &'a str, since_ms: i64) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let user = c_string(user.to_owned(), "user id")?;
            let sid = c_string(sid.to_owned(), "session id")?;
            self.run("index_add", move |c| c.index_add(&user, &sid, since_ms)).await
        })
    }

    fn user_index_entries<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        Box::pin(async move {
            let user = c_string(user.to_owned(), "user id")?;
            self.run("index_entries", move |c| c.index_entries(&user)).await
        })
    }

    fn user_index_remove<'a>(&'a self, user: &'a str, sids: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if sids.is_empty() {
                return Ok(());
            }
            let user = c_string(user.to_owned(), "user id")?;
            let sids = sids.iter().map(|s| c_string(s.clone(), "session id")).collect::<Result<Vec<_>, _>>()?;
            self.run("index_remove", move |c| c.index_remove(&user, &sids)).await
        })
    }
}

/// Registers a store implemented in C. The vtable is copied; `get`, `set` and `destroy` are
/// required, `drop` is optional. `key_prefix` (NUL-terminated UTF-8, copied; NULL for none) is
/// put before every session id to make the store key, e.g. "koa:sess:" to share records with
/// koa-generic-session + koa-redis. On success `*store_out` receives the store and the store
/// owns `ctx` (released through `drop`); on failure nothing is kept and `drop` is not called.
/// Errors: KS_RESULT_NULL_PARAMETER (`vtable`, `store_out` or a required callback NULL),
/// KS_RESULT_INVALID_UTF8 (`key_prefix`).
///
/// # Safety
/// `vtable` points to a vtable whose callbacks honour the contract of `ks_store_vtable`;
/// `key_prefix` is NULL or NUL-terminated; `store_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_c_store_new(vtable: *const ks_store_vtable, key_prefix: *const c_char, store_out: *mut *mut ks_store) -> ks_result {
    guard(|| {
        let vt = *arg(vtable)?;
        let store_out = out(store_out)?;
        let prefix: Arc<str> = opt_c_str(key_prefix)?.unwrap_or("").into();
        let (Some(get), Some(set), Some(destroy)) = (vt.get, vt.set, vt.destroy) else { return Err(ks_result::NullParameter) };
        let callbacks = Arc::new(Callbacks {
            ctx: vt.ctx,
            get,
            set,
            destroy,
            drop: vt.drop,
            compare_and_set: OnceLock::new(),
            touch: OnceLock::new(),
            user_index: OnceLock::new(),
        });
        let store = CStore { callbacks: Arc::clone(&callbacks), prefix, deadline: Some(Duration::from_millis(DEFAULT_STORE_TIMEOUT_MS)) };
        *store_out = ks_store::new_c(store, callbacks);
        Ok(())
    })
}

/// The C store's callbacks, if `store` is a C store that nothing else uses yet (no engine was
/// made from it): the only time optional callbacks may be registered.
/// References to a C store's callbacks held by its `ks_store` handle alone (see `ks_store::new_c`).
const HANDLE_REFERENCES: usize = 3;

fn unshared_c_store(store: &ks_store) -> Result<&Callbacks, ks_result> {
    match &store.c_callbacks {
        // The handle holds three references (its callbacks, its store and the store's shared
        // copy); each engine's deadline view adds one while the engine lives.
        Some(callbacks) if Arc::strong_count(callbacks) == HANDLE_REFERENCES => Ok(callbacks),
        _ => Err(ks_result::InvalidArgument),
    }
}

/// Gives a C store made by `ks_c_store_new()` a compare-and-set callback (see
/// `ks_store_compare_and_set_fn`). Call it before making an engine from the store. With it,
/// a commit of a session loaded from the store and changed merges its top-level changes into
/// the record as it is now (parallel requests keep each other's keys; a record destroyed
/// meanwhile is not re-created); without it, commits write the whole record.
/// Errors: KS_RESULT_NULL_PARAMETER (`store` or `compare_and_set` NULL), KS_RESULT_INVALID_ARGUMENT (`store` is
/// not a C store, an engine already uses it, or a callback was already registered).
///
/// # Safety
/// `store` is NULL or a live store handle used by no other thread during the call; the
/// callback honours the contract of `ks_store_vtable` and of `ks_store_compare_and_set_fn`.
#[no_mangle]
pub unsafe extern "C" fn ks_c_store_set_compare_and_set(store: *mut ks_store, compare_and_set: ks_store_compare_and_set_fn) -> ks_result {
    guard(|| {
        let store = arg_mut(store)?;
        let cas = compare_and_set.ok_or(ks_result::NullParameter)?;
        unshared_c_store(store)?.compare_and_set.set(cas).map_err(|_| ks_result::InvalidArgument)
    })
}

/// Gives a C store made by `ks_c_store_new()` a touch callback (see `ks_store_touch_fn`), used
/// to refresh a session's expiry without rewriting it. Call it before making an engine from
/// the store. Errors: as `ks_c_store_set_compare_and_set()`.
///
/// # Safety
/// As `ks_c_store_set_compare_and_set()`.
#[no_mangle]
pub unsafe extern "C" fn ks_c_store_set_touch(store: *mut ks_store, touch: ks_store_touch_fn) -> ks_result {
    guard(|| {
        let store = arg_mut(store)?;
        let touch = touch.ok_or(ks_result::NullParameter)?;
        unshared_c_store(store)?.touch.set(touch).map_err(|_| ks_result::InvalidArgument)
    })
}

/// Gives a C store made by `ks_c_store_new()` a user index: the three callbacks
/// `ks_store_index_add_fn`, `ks_store_index_entries_fn` and `ks_store_index_remove_fn`, all
/// required. Call it before making an engine from the store. The `userField` option
/// (`ks_config_builder_set_user_field()`) needs it, and compare-and-set
/// (`ks_c_store_set_compare_and_set()`): without them `ks_engine_new()` fails with
/// KS_RESULT_INVALID_ARGUMENT and `ks_store_destroy_user_sessions()` /
/// `ks_store_user_sessions()` fail too. Each callback is bounded like the others: by the
/// engine's store timeout when the engine calls it (a login's `index_add`), by the default
/// 5000 ms when a `ks_store_` call on the store itself does. Errors: KS_RESULT_NULL_PARAMETER
/// (`store` or a callback NULL), KS_RESULT_INVALID_ARGUMENT (`store` is not a C store, an
/// engine already uses it, or a user index was already registered).
///
/// # Safety
/// As `ks_c_store_set_compare_and_set()`; the callbacks honour the contract of
/// `ks_store_vtable` and their own.
#[no_mangle]
pub unsafe extern "C" fn ks_c_store_set_user_index(
    store: *mut ks_store,
    index_add: ks_store_index_add_fn,
    index_entries: ks_store_index_entries_fn,
    index_remove: ks_store_index_remove_fn,
) -> ks_result {
    guard(|| {
        let store = arg_mut(store)?;
        let (Some(add), Some(entries), Some(remove)) = (index_add, index_entries, index_remove) else { return Err(ks_result::NullParameter) };
        unshared_c_store(store)?.user_index.set(UserIndexFns { add, entries, remove }).map_err(|_| ks_result::InvalidArgument)
    })
}
