//! `ks_set_cookies`: the `Set-Cookie` header values a commit produced.

use crate::boundary::{arg, guard, guard_value, out};
use crate::result::ks_result;
use std::ffi::{c_char, CString};

/// The `Set-Cookie` header values to send with the response, in order (the session cookie,
/// then its `.sig` signature cookie). Possibly empty: nothing to send. Ownership: returned
/// by a commit, released by `ks_set_cookies_free()`. Thread-safety: immutable; may be read
/// from any thread.
pub struct ks_set_cookies {
    values: Vec<CString>,
}

impl ks_set_cookies {
    pub(crate) fn new(values: Vec<String>) -> Result<ks_set_cookies, ks_result> {
        // Set-Cookie values are validated printable ASCII, so a NUL here would be a bug.
        let values = values.into_iter().map(CString::new).collect::<Result<_, _>>().map_err(|_| ks_result::Internal)?;
        Ok(ks_set_cookies { values })
    }
}

/// How many `Set-Cookie` values there are. NULL gives 0.
///
/// # Safety
/// `cookies` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ks_set_cookies_count(cookies: *const ks_set_cookies) -> usize {
    guard_value(0, || cookies.as_ref().map_or(0, |c| c.values.len()))
}

/// Borrows value number `index` (from 0): `*value_out` receives a NUL-terminated string
/// (a complete header value, e.g. "koa.sid=...; path=/; expires=...; httponly") and
/// `*len_out` its length without the NUL. The string lives as long as `cookies`.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_OUT_OF_RANGE.
///
/// # Safety
/// `cookies` is a live handle; the out-pointers are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_set_cookies_get(cookies: *const ks_set_cookies, index: usize, value_out: *mut *const c_char, len_out: *mut usize) -> ks_result {
    guard(|| {
        let cookies = arg(cookies)?;
        let value_out = out(value_out)?;
        let len_out = out(len_out)?;
        let value = cookies.values.get(index).ok_or(ks_result::OutOfRange)?;
        *value_out = value.as_ptr();
        *len_out = value.as_bytes().len();
        Ok(())
    })
}

/// Frees the values. NULL is a no-op. Strings borrowed from it become invalid.
///
/// # Safety
/// `cookies` is NULL or a handle not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ks_set_cookies_free(cookies: *mut ks_set_cookies) {
    guard_value((), || {
        if !cookies.is_null() {
            drop(Box::from_raw(cookies));
        }
    })
}
