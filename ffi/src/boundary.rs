//! The API boundary: no panic crosses it, and every pointer and string from C is checked
//! (NULL, UTF-8) before use.

use crate::last_error;
use crate::result::ks_result;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs an export's body; a panic becomes `KS_RESULT_PANIC`. The thread's last-error text
/// (last_error.rs) ends up describing this call's failure, or empty after a success.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), ks_result>) -> ks_result {
    let outermost = last_error::enter();
    let result = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => ks_result::Ok,
        Ok(Err(e)) => e,
        Err(_) => ks_result::Panic,
    };
    last_error::leave(outermost, result);
    result
}

/// For exports that return a value instead of a `ks_result`: a panic yields `fallback`.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// # Safety
/// `p` is NULL or points to a live `T` for `'a`.
pub(crate) unsafe fn arg<'a, T>(p: *const T) -> Result<&'a T, ks_result> {
    p.as_ref().ok_or(ks_result::NullParameter)
}

/// # Safety
/// `p` is NULL or points to a live `T`, not aliased, for `'a`.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T) -> Result<&'a mut T, ks_result> {
    p.as_mut().ok_or(ks_result::NullParameter)
}

/// An out-parameter: checked for NULL before any work is done, written only on success.
/// # Safety
/// `p` is NULL or valid for writes of `T`.
pub(crate) unsafe fn out<'a, T>(p: *mut T) -> Result<&'a mut T, ks_result> {
    if p.is_null() {
        return Err(ks_result::NullParameter);
    }
    Ok(&mut *p)
}

/// A NUL-terminated UTF-8 string argument.
/// # Safety
/// `p` is NULL or a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char) -> Result<&'a str, ks_result> {
    if p.is_null() {
        return Err(ks_result::NullParameter);
    }
    CStr::from_ptr(p).to_str().map_err(|_| ks_result::InvalidUtf8)
}

/// An optional NUL-terminated UTF-8 string argument: NULL means "none".
/// # Safety
/// As [`c_str`].
pub(crate) unsafe fn opt_c_str<'a>(p: *const c_char) -> Result<Option<&'a str>, ks_result> {
    if p.is_null() {
        return Ok(None);
    }
    c_str(p).map(Some)
}

/// A (pointer, length) byte argument; NULL is allowed only with length 0.
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], ks_result> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(ks_result::NullParameter) };
    }
    if len > isize::MAX as usize {
        return Err(ks_result::InvalidArgument);
    }
    Ok(std::slice::from_raw_parts(p, len))
}

/// A (pointer, length) UTF-8 string argument.
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn str_len<'a>(p: *const c_char, len: usize) -> Result<&'a str, ks_result> {
    if p.is_null() {
        return Err(ks_result::NullParameter);
    }
    std::str::from_utf8(bytes(p.cast(), len)?).map_err(|_| ks_result::InvalidUtf8)
}

/// Copies `s` plus a NUL into the caller's buffer `buf` of `cap` bytes. `*out_len` receives
/// the length without the NUL; on `KS_RESULT_INSUFFICIENT_SIZE` it is the length needed
/// (the buffer must hold `len + 1` bytes) and the buffer is untouched.
/// # Safety
/// `buf` is valid for writes of `cap` bytes; `out_len` was checked non-NULL.
pub(crate) unsafe fn copy_out(s: &[u8], buf: *mut c_char, cap: usize, out_len: &mut usize) -> Result<(), ks_result> {
    if s.len() >= cap {
        *out_len = s.len();
        return Err(ks_result::InsufficientSize);
    }
    if buf.is_null() {
        return Err(ks_result::NullParameter);
    }
    std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
    *buf.add(s.len()) = 0;
    *out_len = s.len();
    Ok(())
}

/// Reads a C enum passed as an integer. C can pass any value, so the integer is checked
/// instead of being trusted as a Rust enum (which would be undefined behaviour).
pub(crate) fn enum_arg<T: Copy>(value: u32, table: &[T]) -> Result<T, ks_result> {
    table.get(value as usize).copied().ok_or(ks_result::InvalidArgument)
}
