//! `ks_result`: what every fallible function returns, and the text that explains each code.

use koa_session_core::record::RecordError;
use koa_session_core::{ConfigError, ConfigErrorKind, CookieError, EngineError, RequestError, StoreError, StoreErrorKind};
use std::ffi::c_char;

/// The result of a fallible `ks_` function. `KS_RESULT_OK` is 0; every other value is an
/// error and `ks_result_message()` describes it. Values are stable: new codes are only
/// ever appended.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ks_result {
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument was out of its allowed set (e.g. an unknown enum value, an empty key).
    InvalidArgument = 3,
    /// The caller's buffer is too small; the required length was written to the length out-param.
    InsufficientSize = 4,
    /// An index past the end of a list.
    OutOfRange = 5,
    /// The requested field is not in the session.
    NotFound = 6,
    /// The cookie name is empty or contains characters not allowed in a cookie name.
    InvalidCookieName = 7,
    /// A cookie attribute (path, domain, or one from the session's `cookie` field) is invalid,
    /// or the settings make a cookie browsers drop (SameSite=None without Secure).
    InvalidCookieAttribute = 8,
    /// Session data was not valid JSON, or not a JSON object where one is required.
    InvalidJson = 9,
    /// The session was marked destroyed; it has no data until new data is set.
    SessionDestroyed = 10,
    /// The session was already committed.
    SessionFinished = 11,
    /// The store is not connected.
    StoreUnavailable = 12,
    /// The store did not answer in time.
    StoreTimeout = 13,
    /// The store refused the data.
    StoreRejected = 14,
    /// The store failed (or answered something unusable).
    StoreError = 15,
    /// No session id could be generated (the OS random source failed).
    SidGenerationFailed = 16,
    /// A `secure` cookie would be sent on a plain-HTTP request.
    SecureCookieOverHttp = 17,
    /// A blocking call was made from a thread of the engine's runtime, e.g. inside a
    /// completion callback or a C store callback; it would deadlock, so it was refused.
    BlockingInRuntime = 18,
    /// The engine's tokio runtime could not be started.
    RuntimeUnavailable = 19,
    /// A Rust panic was caught at the API boundary. Report it as a bug.
    Panic = 20,
    /// An internal invariant failed. Report it as a bug.
    Internal = 21,
    /// A store URL (or a Redis Cluster node URL) is malformed or uses a scheme the store
    /// does not support.
    InvalidUrl = 22,
    /// The session's `userField` holds something that is not a user id (a non-empty string
    /// or a number); nothing was written. `ks_last_error_message` names the field.
    InvalidUserId = 23,
}

impl ks_result {
    const ALL: [ks_result; 24] = [
        ks_result::Ok,
        ks_result::NullParameter,
        ks_result::InvalidUtf8,
        ks_result::InvalidArgument,
        ks_result::InsufficientSize,
        ks_result::OutOfRange,
        ks_result::NotFound,
        ks_result::InvalidCookieName,
        ks_result::InvalidCookieAttribute,
        ks_result::InvalidJson,
        ks_result::SessionDestroyed,
        ks_result::SessionFinished,
        ks_result::StoreUnavailable,
        ks_result::StoreTimeout,
        ks_result::StoreRejected,
        ks_result::StoreError,
        ks_result::SidGenerationFailed,
        ks_result::SecureCookieOverHttp,
        ks_result::BlockingInRuntime,
        ks_result::RuntimeUnavailable,
        ks_result::Panic,
        ks_result::Internal,
        ks_result::InvalidUrl,
        ks_result::InvalidUserId,
    ];

    pub fn from_u32(code: u32) -> Option<ks_result> {
        ks_result::ALL.get(code as usize).copied()
    }

    /// NUL-terminated so C can print it directly.
    pub(crate) fn message(self) -> &'static str {
        match self {
            ks_result::Ok => "ok\0",
            ks_result::NullParameter => "a required pointer argument was NULL\0",
            ks_result::InvalidUtf8 => "a string argument is not valid UTF-8\0",
            ks_result::InvalidArgument => "an argument is outside its allowed values\0",
            ks_result::InsufficientSize => "the buffer is too small; the required length was returned\0",
            ks_result::OutOfRange => "index out of range\0",
            ks_result::NotFound => "no such field in the session\0",
            ks_result::InvalidCookieName => "cookie name is invalid: it needs 1 or more printable ASCII characters and no ';', '=' or space\0",
            ks_result::InvalidCookieAttribute => "cookie attribute is invalid: a malformed value, path or domain, or SameSite=None without Secure\0",
            ks_result::InvalidJson => "session data is not valid JSON or not a JSON object\0",
            ks_result::SessionDestroyed => "the session was marked destroyed and has no data\0",
            ks_result::SessionFinished => "the session was already committed\0",
            ks_result::StoreUnavailable => "session store is unavailable\0",
            ks_result::StoreTimeout => "session store did not answer in time\0",
            ks_result::StoreRejected => "session store refused the data\0",
            ks_result::StoreError => "session store error\0",
            ks_result::SidGenerationFailed => "could not generate a session id (OS random source failed)\0",
            ks_result::SecureCookieOverHttp => "Cannot send secure cookie over unencrypted connection\0",
            ks_result::BlockingInRuntime => "blocking call made from an engine runtime thread (a callback); use the _async variant\0",
            ks_result::RuntimeUnavailable => "the engine's tokio runtime could not be started\0",
            ks_result::Panic => "internal panic caught at the C API boundary (a bug)\0",
            ks_result::Internal => "internal error (a bug)\0",
            ks_result::InvalidUrl => "invalid store URL: expected redis://, rediss://, unix:// or redis+unix:// (a cluster node: redis:// or rediss://) with a host\0",
            ks_result::InvalidUserId => "the session's userField holds something that is not a user id (a non-empty string or a number)\0",
        }
    }
}

/// Also records the store's message as the detail of the call under way (last_error.rs).
impl From<StoreError> for ks_result {
    fn from(e: StoreError) -> Self {
        crate::last_error::detail(&e.message);
        match e.kind {
            StoreErrorKind::Unavailable => ks_result::StoreUnavailable,
            StoreErrorKind::Timeout => ks_result::StoreTimeout,
            StoreErrorKind::Rejected => ks_result::StoreRejected,
            StoreErrorKind::Backend => ks_result::StoreError,
        }
    }
}

/// A secure cookie over plain HTTP also records core's message, which says how to fix it.
impl From<CookieError> for ks_result {
    fn from(e: CookieError) -> Self {
        if e == CookieError::SecureOverHttp {
            crate::last_error::detail(&e.to_string());
        }
        match e {
            CookieError::InvalidName => ks_result::InvalidCookieName,
            CookieError::SecureOverHttp => ks_result::SecureCookieOverHttp,
            CookieError::InvalidValue | CookieError::InvalidPath | CookieError::InvalidDomain => ks_result::InvalidCookieAttribute,
        }
    }
}

impl From<RequestError> for ks_result {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Cookie(c) => c.into(),
            RequestError::NotAnObject => ks_result::InvalidJson,
            RequestError::InvalidRecord(r) => r.into(),
            RequestError::WrongStep | RequestError::InvalidSid => ks_result::Internal,
            RequestError::UserId(u) => {
                crate::last_error::detail(&u.to_string());
                ks_result::InvalidUserId
            }
        }
    }
}

/// Data over the limits is INVALID_JSON; a `cookie` field that is not an object is
/// INVALID_COOKIE_ATTRIBUTE (no cookie can be written from it).
impl From<RecordError> for ks_result {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::NotAnObject | RecordError::TooLarge | RecordError::TooDeep => ks_result::InvalidJson,
            RecordError::CookieNotAnObject => ks_result::InvalidCookieAttribute,
        }
    }
}

impl From<EngineError> for ks_result {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(s) => s.into(),
            EngineError::Request(r) => r.into(),
            EngineError::Sid(_) => ks_result::SidGenerationFailed,
        }
    }
}

/// Also records core's message, which names the option (`option "cookieOptions.domain": ...`),
/// as the detail of the call under way.
impl From<ConfigError> for ks_result {
    fn from(e: ConfigError) -> Self {
        crate::last_error::detail(&e.to_string());
        match e.kind() {
            ConfigErrorKind::CookieName => ks_result::InvalidCookieName,
            ConfigErrorKind::CookieAttribute => ks_result::InvalidCookieAttribute,
            ConfigErrorKind::InvalidValue | ConfigErrorKind::UnknownOption => ks_result::InvalidArgument,
        }
    }
}

/// Describes a result code in English. Returns a static NUL-terminated string (never NULL,
/// never to be freed); an unknown code gives "unknown ks_result code". Thread-safe.
#[no_mangle]
pub extern "C" fn ks_result_message(result: u32) -> *const c_char {
    let text = match ks_result::from_u32(result) {
        Some(r) => r.message(),
        None => "unknown ks_result code\0",
    };
    text.as_ptr().cast()
}

/// The library version, e.g. "0.1.0": a static NUL-terminated string. Thread-safe. A program
/// compiled against this header can compare it with KS_VERSION_STRING to detect that it runs
/// with another build of the library.
#[no_mangle]
pub extern "C" fn ks_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_messages_terminated() {
        for (i, r) in ks_result::ALL.iter().enumerate() {
            assert_eq!(*r as u32, i as u32);
            assert_eq!(ks_result::from_u32(i as u32), Some(*r));
            assert!(r.message().ends_with('\0'));
            assert_eq!(r.message().matches('\0').count(), 1);
        }
        assert_eq!(ks_result::from_u32(ks_result::ALL.len() as u32), None);
    }
}
