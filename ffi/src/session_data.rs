//! Reading and changing a session's data: the whole JSON object, or one top-level field at
//! a time (C has no JSON library of its own, so the field helpers parse and print for it).

use crate::boundary::{arg, arg_mut, c_str, copy_out, guard, out, str_len};
use crate::result::ks_result;
use crate::session::ks_session;
use koa_session_core::json_field::{get_field_raw, with_field, without_field};
use std::ffi::c_char;

fn data(session: &ks_session) -> Result<&str, ks_result> {
    session.active()?.json().ok_or(ks_result::SessionDestroyed)
}

fn store(session: &mut ks_session, json: String) -> Result<(), ks_result> {
    // A field changed, not the whole session replaced: a stored session's commit merges it.
    session.active_mut()?.update_json(json)?;
    Ok(())
}

/// Borrows the session data, a JSON object such as
/// `{"cookie":{"httpOnly":true,...},"views":3}` (the `cookie` field holds this session's
/// cookie options, as in koa-session). `*json_out` receives a pointer to the UTF-8 text,
/// which is NOT NUL-terminated (use `*len_out`, or `ks_session_json_copy()`), valid until the
/// next call that changes the session or its free. Errors: KS_RESULT_NULL_PARAMETER,
/// KS_RESULT_SESSION_DESTROYED, KS_RESULT_SESSION_FINISHED.
///
/// # Safety
/// `session` is a live session; the out-pointers are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_session_json(session: *const ks_session, json_out: *mut *const c_char, len_out: *mut usize) -> ks_result {
    guard(|| {
        let session = arg(session)?;
        let json_out = out(json_out)?;
        let len_out = out(len_out)?;
        let json = data(session)?;
        *json_out = json.as_ptr().cast();
        *len_out = json.len();
        Ok(())
    })
}

/// Copies the session data, NUL-terminated, into `buf` (`buf_len` bytes). `*len_out` receives
/// the length without the NUL; with KS_RESULT_INSUFFICIENT_SIZE it receives the length needed
/// (the buffer must hold one byte more) and `buf` is untouched, so `buf` may be NULL with
/// `buf_len` 0 to ask for the size. Errors: KS_RESULT_NULL_PARAMETER,
/// KS_RESULT_INSUFFICIENT_SIZE, KS_RESULT_SESSION_DESTROYED, KS_RESULT_SESSION_FINISHED.
///
/// # Safety
/// `session` is a live session; `buf` is valid for writes of `buf_len` bytes; `len_out` is
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_session_json_copy(session: *const ks_session, buf: *mut c_char, buf_len: usize, len_out: *mut usize) -> ks_result {
    guard(|| {
        let session = arg(session)?;
        let len_out = out(len_out)?;
        copy_out(data(session)?.as_bytes(), buf, buf_len, len_out)
    })
}

/// Replaces the session data with `json` (`json_len` bytes of UTF-8, not necessarily
/// NUL-terminated; copied), which must be a JSON object of at most 1 MiB nested at most 64
/// levels deep (the top-level object is level 1), whose `cookie` field, if present, is an
/// object or null. A destroyed session comes back to life. On any error nothing changes.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_UTF8, KS_RESULT_INVALID_JSON (not an object, or over a limit),
/// KS_RESULT_INVALID_COOKIE_ATTRIBUTE (a `cookie` field that is not an object), KS_RESULT_SESSION_FINISHED.
///
/// # Safety
/// `session` is a live session; `json` is valid for reads of `json_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ks_session_set_json(session: *mut ks_session, json: *const c_char, json_len: usize) -> ks_result {
    guard(|| {
        let session = arg_mut(session)?;
        let json = str_len(json, json_len)?;
        session.active_mut()?.set_json(Some(json.to_owned()))?;
        Ok(())
    })
}

/// Copies the JSON text of the top-level field `key` (NUL-terminated UTF-8) into `buf`,
/// NUL-terminated: e.g. `3`, `"alice"` (with quotes), `{"a":1}`, exactly as it stands in the
/// session data (values set through this API are written compact). Buffer rules as in
/// `ks_session_json_copy()`. Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_UTF8, KS_RESULT_NOT_FOUND,
/// KS_RESULT_INSUFFICIENT_SIZE, KS_RESULT_SESSION_DESTROYED, KS_RESULT_SESSION_FINISHED.
///
/// # Safety
/// `session` is a live session; `key` is NUL-terminated; `buf` is valid for writes of
/// `buf_len` bytes; `len_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_session_get_field(
    session: *const ks_session,
    key: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> ks_result {
    guard(|| {
        let session = arg(session)?;
        let key = c_str(key)?;
        let len_out = out(len_out)?;
        let value = get_field_raw(data(session)?, key).map_err(|_| ks_result::InvalidJson)?.ok_or(ks_result::NotFound)?;
        copy_out(value.get().as_bytes(), buf, buf_len, len_out)
    })
}

/// Sets the top-level field `key` (NUL-terminated UTF-8) to the JSON value `value`
/// (`value_len` bytes of UTF-8 JSON of any type, e.g. `3` or `"alice"`; copied, written
/// compact). Every other field keeps its exact text. The session data must stay within the
/// limits of `ks_session_set_json()`: a value nested 64 levels deep (63 inside the session
/// object) or making the data larger than 1 MiB is refused. On any error nothing changes.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_UTF8, KS_RESULT_INVALID_JSON, KS_RESULT_INVALID_COOKIE_ATTRIBUTE (`cookie`
/// set to something other than an object or null), KS_RESULT_SESSION_DESTROYED, KS_RESULT_SESSION_FINISHED.
///
/// # Safety
/// `session` is a live session; `key` is NUL-terminated; `value` is valid for reads of
/// `value_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ks_session_set_field(session: *mut ks_session, key: *const c_char, value: *const c_char, value_len: usize) -> ks_result {
    guard(|| {
        let session = arg_mut(session)?;
        let key = c_str(key)?;
        let value = str_len(value, value_len)?;
        let json = with_field(data(session)?, key, value)?;
        store(session, json)
    })
}

/// Removes the top-level field `key` (NUL-terminated UTF-8); removing an absent field succeeds
/// and changes nothing. Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_UTF8,
/// KS_RESULT_SESSION_DESTROYED, KS_RESULT_SESSION_FINISHED.
///
/// # Safety
/// `session` is a live session; `key` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ks_session_remove_field(session: *mut ks_session, key: *const c_char) -> ks_result {
    guard(|| {
        let session = arg_mut(session)?;
        let key = c_str(key)?;
        match without_field(data(session)?, key)? {
            Some(json) => store(session, json),
            None => Ok(()),
        }
    })
}
