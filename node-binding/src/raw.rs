//! Plain Node-API glue for the calls made on every request (calls.rs).
//!
//! napi-rs 3's generated glue costs 150-600 ns per call on this kind of machine (a borrow
//! scope with an `Arc<Mutex>` per call, a global map per class-method call); a plain Node-API
//! callback with the same arguments costs 25-70 ns. Every function here checks its argument
//! types, reports failures as thrown JS errors and never lets a panic cross into Node.

use napi::sys;
use std::ffi::{c_char, CStr, CString};
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

pub type Env = sys::napi_env;
pub type Value = sys::napi_value;
pub type Callback = unsafe extern "C" fn(Env, sys::napi_callback_info) -> Value;

/// A failure to throw as a JS error: `Error` with `code` (as napi-rs sets it), or `TypeError`.
pub struct Fail {
    type_error: bool,
    code: &'static str,
    message: String,
}

impl Fail {
    /// Like napi-rs' `Status::InvalidArg` errors.
    pub fn invalid_arg(message: impl std::fmt::Display) -> Fail {
        Fail { type_error: false, code: "InvalidArg", message: message.to_string() }
    }
    /// Like napi-rs' `Status::GenericFailure` errors.
    pub fn generic(message: impl std::fmt::Display) -> Fail {
        Fail { type_error: false, code: "GenericFailure", message: message.to_string() }
    }
    /// A JS `TypeError`.
    pub fn type_error(message: String) -> Fail {
        Fail { type_error: true, code: "ERR_INVALID_ARG_TYPE", message }
    }
}

impl Fail {
    /// The same failure for a napi-rs function to return (thrown, as `run` would).
    pub fn into_napi(self, env: &napi::Env) -> napi::Error {
        let message = self.message.clone();
        unsafe { throw(env.raw(), self) };
        napi::Error::new(napi::Status::PendingException, message)
    }
}

pub type Result<T> = std::result::Result<T, Fail>;

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

unsafe fn throw(env: Env, fail: Fail) {
    let code = cstring(fail.code);
    let message = cstring(&fail.message);
    if fail.type_error {
        sys::napi_throw_type_error(env, code.as_ptr(), message.as_ptr());
    } else {
        sys::napi_throw_error(env, code.as_ptr(), message.as_ptr());
    }
}

/// Runs a callback body: its value, or a thrown error (a panic becomes an error too).
pub unsafe fn run(env: Env, body: impl FnOnce() -> Result<Value>) -> Value {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(fail)) => {
            throw(env, fail);
            ptr::null_mut()
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            throw(env, Fail::generic(format!("koa-session-ts: internal error: {what}")));
            ptr::null_mut()
        }
    }
}

/// The first `N` arguments (missing ones are `undefined`).
pub unsafe fn args<const N: usize>(env: Env, info: sys::napi_callback_info) -> Result<[Value; N]> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let status = sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut());
    if status != sys::Status::napi_ok {
        return Err(Fail::generic("cannot read the call's arguments"));
    }
    Ok(argv)
}

unsafe fn type_of(env: Env, v: Value) -> sys::napi_valuetype {
    let mut t = 0;
    sys::napi_typeof(env, v, &mut t);
    t
}

/// `typeof v` as JavaScript says it (null as "null").
pub unsafe fn type_name(env: Env, v: Value) -> &'static str {
    match type_of(env, v) {
        sys::ValueType::napi_undefined => "undefined",
        sys::ValueType::napi_null => "null",
        sys::ValueType::napi_boolean => "boolean",
        sys::ValueType::napi_number => "number",
        sys::ValueType::napi_string => "string",
        sys::ValueType::napi_symbol => "symbol",
        sys::ValueType::napi_function => "function",
        sys::ValueType::napi_bigint => "bigint",
        _ => "object",
    }
}

fn expected(what: &str, kind: &str) -> Fail {
    Fail::type_error(format!("{what} must be {kind}"))
}

/// A JS string as UTF-8 (lone surrogates become U+FFFD, as Node converts them).
///
/// One conversion into a stack buffer covers the strings of a request (cookie header, token,
/// session JSON); only a longer string pays the second pass that measures it first.
pub unsafe fn string(env: Env, v: Value, what: &str) -> Result<String> {
    const STACK: usize = 1024;
    // Uninitialised: Node writes the bytes it reports, and only those are read.
    let mut stack = MaybeUninit::<[u8; STACK]>::uninit();
    let mut written = 0usize;
    if sys::napi_get_value_string_utf8(env, v, stack.as_mut_ptr().cast::<c_char>(), STACK, &mut written) != sys::Status::napi_ok {
        return Err(expected(what, "a string"));
    }
    // Node writes at most STACK - 1 bytes (then a NUL) and never splits a character (up to
    // 4 bytes in UTF-8): with room for one more character left over, the whole string is here.
    // Closer to the end, a longer string may have stopped short: measure it.
    if written + 4 < STACK {
        let bytes = std::slice::from_raw_parts(stack.as_ptr().cast::<u8>(), written);
        return utf8(bytes.to_vec(), what);
    }
    let mut len = 0usize;
    sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len);
    let mut buf = Vec::<u8>::with_capacity(len + 1);
    sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast::<c_char>(), len + 1, &mut written);
    buf.set_len(written.min(len));
    utf8(buf, what)
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Fail::generic(format!("{what}: not valid UTF-8")))
}

/// A string, or `None` for null / undefined.
pub unsafe fn opt_string(env: Env, v: Value, what: &str) -> Result<Option<String>> {
    match type_of(env, v) {
        sys::ValueType::napi_null | sys::ValueType::napi_undefined => Ok(None),
        _ => string(env, v, what).map(Some),
    }
}

pub unsafe fn boolean(env: Env, v: Value, what: &str) -> Result<bool> {
    let mut b = false;
    if sys::napi_get_value_bool(env, v, &mut b) != sys::Status::napi_ok {
        return Err(expected(what, "a boolean"));
    }
    Ok(b)
}

/// A boolean, or `None` for null / undefined.
pub unsafe fn opt_boolean(env: Env, v: Value, what: &str) -> Result<Option<bool>> {
    match type_of(env, v) {
        sys::ValueType::napi_null | sys::ValueType::napi_undefined => Ok(None),
        _ => boolean(env, v, what).map(Some),
    }
}

pub unsafe fn uint32(env: Env, v: Value, what: &str) -> Result<u32> {
    let mut n = 0u32;
    if type_of(env, v) != sys::ValueType::napi_number || sys::napi_get_value_uint32(env, v, &mut n) != sys::Status::napi_ok {
        return Err(expected(what, "a number"));
    }
    Ok(n)
}

/// A finite number (e.g. `Date.now()`).
pub unsafe fn float(env: Env, v: Value, what: &str) -> Result<f64> {
    let mut n = 0f64;
    if type_of(env, v) != sys::ValueType::napi_number || sys::napi_get_value_double(env, v, &mut n) != sys::Status::napi_ok || !n.is_finite() {
        return Err(expected(what, "a finite number"));
    }
    Ok(n)
}

pub unsafe fn to_js_string(env: Env, s: &str) -> Result<Value> {
    let mut v = ptr::null_mut();
    if sys::napi_create_string_utf8(env, s.as_ptr().cast::<c_char>(), s.len() as isize, &mut v) != sys::Status::napi_ok {
        return Err(Fail::generic("cannot create a string"));
    }
    Ok(v)
}

pub unsafe fn number(env: Env, n: f64) -> Value {
    let mut v = ptr::null_mut();
    sys::napi_create_double(env, n, &mut v);
    v
}

pub unsafe fn boolean_value(env: Env, b: bool) -> Result<Value> {
    let mut v = ptr::null_mut();
    if sys::napi_get_boolean(env, b, &mut v) != sys::Status::napi_ok {
        return Err(Fail::generic("cannot create a boolean"));
    }
    Ok(v)
}

pub unsafe fn null(env: Env) -> Value {
    let mut v = ptr::null_mut();
    sys::napi_get_null(env, &mut v);
    v
}

pub unsafe fn array(env: Env, items: &[Value]) -> Result<Value> {
    let mut a = ptr::null_mut();
    if sys::napi_create_array_with_length(env, items.len(), &mut a) != sys::Status::napi_ok {
        return Err(Fail::generic("cannot create an array"));
    }
    for (i, item) in items.iter().enumerate() {
        sys::napi_set_element(env, a, i as u32, *item);
    }
    Ok(a)
}

/// Adds `f` to `exports` as `name`.
pub unsafe fn export(env: Env, exports: Value, name: &CStr, f: Callback) -> napi::Result<()> {
    let mut func = ptr::null_mut();
    let status = sys::napi_create_function(env, name.as_ptr(), name.to_bytes().len() as isize, Some(f), ptr::null_mut(), &mut func);
    if status != sys::Status::napi_ok || sys::napi_set_named_property(env, exports, name.as_ptr(), func) != sys::Status::napi_ok {
        return Err(napi::Error::from_reason(format!("cannot export {name:?}")));
    }
    Ok(())
}
