//! `ks_set_cookies`: the `Set-Cookie` header values a commit produced; `ks_cache_headers`: the
//! cache headers to send with them (core's `cache_headers`).

use crate::boundary::{arg, copy_out, guard, guard_value, opt_c_str, out};
use crate::result::ks_result;
use koa_session_core::cache_headers::{cache_headers, NO_CACHE_SET_COOKIE};
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

/// `Cache-Control: no-cache="Set-Cookie"`, NUL-terminated, for the out-pointer.
static NO_CACHE_SET_COOKIE_C: &[u8] = b"no-cache=\"Set-Cookie\"\0";

/// The cache headers a response must carry when it sends the session's Set-Cookie values (a
/// commit that returned any), so that a shared cache (a CDN, a proxy) never hands one
/// visitor's session cookie to another, as the Koa middleware sets them: `Vary: Cookie`, added
/// to the application's own `Vary` unless that already names `Cookie` (in any case) or is
/// `*`; and `Cache-Control: no-cache="Set-Cookie"` unless the application set its own
/// `Cache-Control`, which is then kept as it is.
///
/// `app_cache_control` and `app_vary`: the response's `Cache-Control` and `Vary` as the
/// application set them (NUL-terminated UTF-8), or NULL when it set none (an empty or blank
/// value counts as none). `*cache_control_out` receives the `Cache-Control` value to set, a
/// static string never to be freed (`no-cache="Set-Cookie"`), or NULL: leave the header as
/// it is. The `Vary` value to set (replacing the application's: e.g. `Accept-Encoding,
/// Cookie`) is copied into `vary_buf` NUL-terminated, with `*vary_len_out` its length; an
/// empty value (length 0) means: leave `Vary` as it is. Buffer rules as in
/// `ks_session_json_copy()` (`vary_buf` may be NULL with `vary_buf_len` 0 to ask for the
/// length); `(app_vary ? strlen(app_vary) : 0) + 9` bytes always suffice. Errors:
/// KS_RESULT_NULL_PARAMETER (an out-pointer NULL), KS_RESULT_INVALID_UTF8,
/// KS_RESULT_INSUFFICIENT_SIZE (`*cache_control_out` is then not written). Thread-safe.
///
/// # Safety
/// `app_cache_control` and `app_vary` are NULL or NUL-terminated; `vary_buf` is valid for
/// writes of `vary_buf_len` bytes; `cache_control_out` and `vary_len_out` are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_cache_headers(
    app_cache_control: *const c_char,
    app_vary: *const c_char,
    cache_control_out: *mut *const c_char,
    vary_buf: *mut c_char,
    vary_buf_len: usize,
    vary_len_out: *mut usize,
) -> ks_result {
    guard(|| {
        let cache_control_out = out(cache_control_out)?;
        let vary_len_out = out(vary_len_out)?;
        let headers = cache_headers(opt_c_str(app_cache_control)?, opt_c_str(app_vary)?);
        copy_out(headers.vary.as_deref().unwrap_or("").as_bytes(), vary_buf, vary_buf_len, vary_len_out)?;
        *cache_control_out = match headers.cache_control.as_deref() {
            None => std::ptr::null(),
            // Core's only value, which the static copy spells out (anything else would be a bug).
            Some(v) if v == NO_CACHE_SET_COOKIE => NO_CACHE_SET_COOKIE_C.as_ptr().cast(),
            Some(_) => return Err(ks_result::Internal),
        };
        Ok(())
    })
}
