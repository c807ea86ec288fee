//! The calling thread's last failure, in words: `ks_last_error_message()`.
//!
//! A `ks_result` says what kind of failure happened; the text here says what exactly, where
//! the library knows more: the store's own message (the server's `WRONGTYPE`/`OOM` text, an
//! authentication failure, which address could not be reached) or why a URL was refused.
//! Like `errno` it is per thread: every guarded call clears it on entry and leaves the
//! text of its own failure (the generic `ks_result_message()` text when there is no more
//! detail), or nothing when it succeeds; calls nested inside it (a C store's callback
//! calling back into the library) leave it alone. An async callback finds the text of the
//! result it was given, set on its thread just before it is called.

use crate::boundary::{copy_out, out};
use crate::result::ks_result;
use std::cell::{Cell, RefCell};
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
    /// Guarded calls under way on this thread: more than one when a C store's callback,
    /// run inside a blocking call, calls back into the library (e.g. `ks_buffer_write`).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

fn clear() {
    LAST.with(|l| l.borrow_mut().clear());
}

/// A guarded call starts. Only the outermost one owns the text (clears it now, sets it at
/// the end): what a nested call does must not stand for the call the caller made.
pub(crate) fn enter() -> bool {
    let outermost = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get() == 1
    });
    if outermost {
        clear();
    }
    outermost
}

/// A guarded call ends: for the outermost, nothing after a success, and after a failure
/// the detail recorded meanwhile or else the code's text.
pub(crate) fn leave(outermost: bool, result: ks_result) {
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    if outermost {
        finish(result);
    }
}

fn finish(result: ks_result) {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        if result == ks_result::Ok {
            l.clear();
        } else if l.is_empty() {
            l.push_str(result.message().trim_end_matches('\0'));
        }
    });
}

/// Records what exactly went wrong in the call under way (the latest detail wins).
pub(crate) fn detail(text: &str) {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.clear();
        l.push_str(text);
    });
}

/// A failure on its way to an async callback, with its detail (recorded on another thread).
pub(crate) struct Failure {
    pub code: ks_result,
    pub detail: Option<String>,
}

impl From<ks_result> for Failure {
    fn from(code: ks_result) -> Self {
        Failure { code, detail: None }
    }
}

impl From<koa_session_core::EngineError> for Failure {
    fn from(e: koa_session_core::EngineError) -> Self {
        let detail = match &e {
            koa_session_core::EngineError::Store(s) => Some(s.message.clone()),
            _ => None,
        };
        Failure { code: e.into(), detail }
    }
}

impl From<koa_session_core::StoreError> for Failure {
    fn from(e: koa_session_core::StoreError) -> Self {
        let detail = Some(e.message.clone());
        Failure { code: e.into(), detail }
    }
}

/// Sets the thread's last failure to what an async callback is about to be given.
pub(crate) fn deliver(result: ks_result, detail: Option<&str>) {
    match detail {
        Some(d) => self::detail(d),
        None => clear(),
    }
    finish(result);
}

/// Copies the text of the calling thread's last failure, NUL-terminated, into `buf` (`buf_len`
/// bytes): the detail the library has (a store's own message, why a URL was refused), else the
/// `ks_result_message()` text of that failure; an empty string when the thread's last call
/// succeeded or made none. Buffer rules as in `ks_session_json_copy()` (`*len_out` gets the
/// length, or the length needed with KS_RESULT_INSUFFICIENT_SIZE). This call itself does not
/// change the text. In a load/commit callback it describes the result the callback was given,
/// until the callback makes another `ks_` call. Errors: KS_RESULT_NULL_PARAMETER,
/// KS_RESULT_INSUFFICIENT_SIZE. Thread-safe (the text is per thread).
///
/// # Safety
/// `buf` is valid for writes of `buf_len` bytes; `len_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_last_error_message(buf: *mut c_char, buf_len: usize, len_out: *mut usize) -> ks_result {
    // Not `guard()`: that would clear the very text asked for.
    catch_unwind(AssertUnwindSafe(|| {
        let len_out = match out(len_out) {
            Ok(l) => l,
            Err(e) => return e,
        };
        LAST.with(|l| match copy_out(l.borrow().as_bytes(), buf, buf_len, len_out) {
            Ok(()) => ks_result::Ok,
            Err(e) => e,
        })
    }))
    .unwrap_or(ks_result::Panic)
}
