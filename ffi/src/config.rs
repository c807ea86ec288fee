//! `ks_config_builder`: collects the session settings a C program chooses. Each setter
//! checks its value at once with core's rules for that option (core/src/options.rs, the
//! ones a Koa app gets), so a mistake is reported where it was made; rules between two
//! settings (SameSite=None needs Secure) are checked by `ks_config_builder_validate()` and
//! `ks_engine_new()`. `ks_last_error_message()` then names the option.

use crate::boundary::{arg, arg_mut, bytes, c_str, enum_arg, guard, guard_value, opt_c_str};
use crate::result::ks_result;
use koa_session_core::options::{
    check_cookie_name, check_default_ttl, check_domain, check_expires, check_keys, check_max_age, check_path, check_store_timeout, check_timeout, ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT, RENEW_GRACE, RENEW_INTERVAL,
};
use koa_session_core::user_field::UserField;
use koa_session_core::{Clock, ConfigError, ConfigErrorKind, DecisionLog, LogLevel, Priority, SameSite, SessionConfig, SessionConfigBuilder};
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

/// The `SameSite` cookie attribute, passed to `ks_config_builder_set_same_site()`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ks_same_site {
    /// No SameSite attribute (the default).
    Unset = 0,
    Strict = 1,
    Lax = 2,
    None = 3,
}

/// The `Priority` cookie attribute, passed to `ks_config_builder_set_priority()`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ks_priority {
    /// No Priority attribute (the default).
    Unset = 0,
    Low = 1,
    Medium = 2,
    High = 3,
}

/// Session settings, collected before an engine is made from them.
///
/// Ownership: created by `ks_config_builder_new()`, released by `ks_config_builder_free()`.
/// `ks_engine_new()` copies the settings and does not take the builder, so one builder can
/// make several engines. Thread-safety: not synchronized; use it from one thread at a time.
///
/// Defaults (those of koa-session): cookie `koa.sid`, `path=/`, `httponly`, max age one day,
/// unsigned until a key is added, not rolling, empty sessions not saved, and a one-day store
/// TTL for sessions whose cookie has no lifetime.
pub struct ks_config_builder {
    builder: SessionConfigBuilder,
    keys: Vec<Vec<u8>>,
    pub(crate) log: Option<LogCallback>,
    pub(crate) clock: Option<ClockCallback>,
}

/// How much a log line matters, for a `ks_log_fn`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ks_log_level {
    /// An ordinary decision: a session loaded, saved, merged, not saved and why.
    Info = 1,
    /// What may be an attack or a broken store: a refused cookie, a corrupt record.
    Warn = 2,
}

/// Hears why the engine decided what it did. `message` is `len` bytes of UTF-8 (and
/// NUL-terminated), valid only during the call; it never holds session data, and shows an id
/// only as a tag (`#` and 12 hex digits: a keyed hash under a random key made once per process,
/// stable for the life of the process, useless to anyone reading the log). Called from whichever thread runs the request (the
/// asynchronous calls' runtime threads included), possibly from several at once.
pub type ks_log_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, level: ks_log_level, message: *const c_char, len: usize)>;

/// A registered log callback and its userdata.
#[derive(Clone, Copy)]
pub(crate) struct LogCallback {
    callback: unsafe extern "C" fn(*mut c_void, ks_log_level, *const c_char, usize),
    userdata: *mut c_void,
}

// SAFETY: `ks_config_builder_set_log` documents that the callback and userdata may be used
// from any thread, concurrently.
unsafe impl Send for LogCallback {}
unsafe impl Sync for LogCallback {}

impl LogCallback {
    /// The core's decision log over this callback.
    pub(crate) fn decision_log(self) -> DecisionLog {
        Arc::new(move |level, line| self.emit(level, line))
    }

    fn emit(&self, level: LogLevel, line: &str) {
        let level = match level {
            LogLevel::Info => ks_log_level::Info,
            LogLevel::Warn => ks_log_level::Warn,
        };
        let Ok(text) = CString::new(line) else { return };
        // SAFETY: the contract of ks_config_builder_set_log.
        unsafe { (self.callback)(self.userdata, level, text.as_ptr(), line.len()) }
    }
}

/// The engine's clock, for `ks_config_builder_set_clock()`: returns the current time in unix
/// milliseconds (ms since 1970-01-01 UTC, as `ks_config_builder_set_expires_ms()` takes it).
/// `userdata` is the pointer given to the setter, unchanged. Called from whichever thread
/// runs a request (the calling thread of a blocking call, a runtime thread of an asynchronous
/// one), possibly from several at once, several times per request.
pub type ks_clock_fn = Option<unsafe extern "C" fn(userdata: *mut c_void) -> i64>;

/// A registered clock callback and its userdata.
#[derive(Clone, Copy)]
pub(crate) struct ClockCallback {
    callback: unsafe extern "C" fn(*mut c_void) -> i64,
    userdata: *mut c_void,
}

// SAFETY: `ks_config_builder_set_clock` documents that the callback and userdata may be used
// from any thread, concurrently.
unsafe impl Send for ClockCallback {}
unsafe impl Sync for ClockCallback {}

impl ClockCallback {
    /// The core's clock over this callback.
    pub(crate) fn clock(self) -> Clock {
        Arc::new(move || self.now())
    }

    fn now(&self) -> i64 {
        // SAFETY: the contract of ks_config_builder_set_clock.
        unsafe { (self.callback)(self.userdata) }
    }
}

impl ks_config_builder {
    pub(crate) fn build(&self) -> Result<SessionConfig, ks_result> {
        let b = self.builder.clone();
        let b = if self.keys.is_empty() { b.unsigned() } else { b.keys(&self.keys) };
        Ok(b.build()?)
    }

    fn update(&mut self, f: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder) {
        self.builder = f(self.builder.clone());
    }
}

/// Makes a builder with the default settings. Free it with `ks_config_builder_free()`.
/// Returns NULL only if a panic was caught (which would be a bug).
#[no_mangle]
pub extern "C" fn ks_config_builder_new() -> *mut ks_config_builder {
    guard_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(ks_config_builder { builder: SessionConfig::builder(), keys: Vec::new(), log: None, clock: None }))
    })
}

/// Frees a builder. NULL is a no-op. The builder must not be used afterwards.
///
/// # Safety
/// `builder` is NULL or a pointer from `ks_config_builder_new()` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_free(builder: *mut ks_config_builder) {
    guard_value((), || {
        if !builder.is_null() {
            drop(Box::from_raw(builder));
        }
    })
}

/// Sets the cookie name (default "koa.sid"); the signature cookie is "<name>.sig".
/// `name` is NUL-terminated UTF-8, copied. Errors: KS_RESULT_NULL_PARAMETER,
/// KS_RESULT_INVALID_UTF8, KS_RESULT_INVALID_COOKIE_NAME (empty, or characters outside
/// printable ASCII, or ';', '=' or space).
///
/// # Safety
/// `builder` is a live builder; `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_cookie_name(builder: *mut ks_config_builder, name: *const c_char) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let name = c_str(name)?;
        check_cookie_name(name)?;
        b.update(|x| x.cookie_name(name));
        Ok(())
    })
}

/// Adds a signing key (bytes, copied). Keys are tried in the order added: the first signs,
/// every one verifies, so rotate by adding the new key first and the old ones after it. A
/// cookie verified by an older key is re-signed with the first. With no key, cookies are
/// unsigned. Errors: KS_RESULT_NULL_PARAMETER (`key` NULL), KS_RESULT_INVALID_ARGUMENT
/// (`key_len` 0).
///
/// # Safety
/// `builder` is a live builder; `key` is valid for reads of `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_add_key(builder: *mut ks_config_builder, key: *const u8, key_len: usize) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        if key.is_null() {
            return Err(ks_result::NullParameter);
        }
        let key = bytes(key, key_len)?;
        check_keys(&[key])?;
        b.keys.push(key.to_vec());
        Ok(())
    })
}

/// Removes every key added so far: cookies become unsigned until a key is added again.
///
/// # Safety
/// `builder` is a live builder or NULL (KS_RESULT_NULL_PARAMETER).
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_clear_keys(builder: *mut ks_config_builder) -> ks_result {
    guard(|| {
        arg_mut(builder)?.keys.clear();
        Ok(())
    })
}

/// An enum argument outside its values, reported with the option it sets.
fn enum_value<T: Copy>(value: u32, values: &[T], option: &'static str, c_type: &str) -> Result<T, ks_result> {
    enum_arg(value, values).map_err(|_| ConfigError::new(option, ConfigErrorKind::InvalidValue, format!("{value} is not a {c_type} value")).into())
}

/// Sets the cookie path (default "/"); NULL means no path attribute. Requests whose path
/// lies outside it (segment match: "/app" covers "/app/x", not "/apple") get no session.
/// Copied. Errors: KS_RESULT_INVALID_UTF8, KS_RESULT_INVALID_COOKIE_ATTRIBUTE (not starting
/// with '/', or characters outside printable ASCII, or ';').
///
/// # Safety
/// `builder` is a live builder; `path` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_path(builder: *mut ks_config_builder, path: *const c_char) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let path = opt_c_str(path)?.map(str::to_owned);
        if let Some(p) = &path {
            check_path(p)?;
        }
        b.update(|x| x.path(path));
        Ok(())
    })
}

/// Sets the cookie domain; NULL (the default) means no domain attribute. Copied.
/// Errors: KS_RESULT_INVALID_UTF8, KS_RESULT_INVALID_COOKIE_ATTRIBUTE (not a host name such
/// as "example.com": an optional leading dot, then labels of letters, digits, '-' and '_').
///
/// # Safety
/// `builder` is a live builder; `domain` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_domain(builder: *mut ks_config_builder, domain: *const c_char) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let domain = opt_c_str(domain)?.map(str::to_owned);
        if let Some(d) = &domain {
            check_domain(d)?;
        }
        b.update(|x| x.domain(domain));
        Ok(())
    })
}

/// Sets the cookie lifetime in milliseconds (default 86400000, one day); 0 makes a
/// browser-session cookie. It also sets the store TTL. Errors: KS_RESULT_INVALID_ARGUMENT
/// (negative).
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_max_age_ms(builder: *mut ks_config_builder, max_age_ms: i64) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        check_max_age(max_age_ms)?;
        b.update(|x| x.max_age(Some(max_age_ms).filter(|&ms| ms != 0)));
        Ok(())
    })
}

/// Sets an absolute cookie expiry in unix milliseconds; 0 (the default) means none. Used
/// only when the max age is 0. Errors: KS_RESULT_INVALID_ARGUMENT (negative).
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_expires_ms(builder: *mut ks_config_builder, unix_ms: i64) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        check_expires(unix_ms)?;
        b.update(|x| x.expires(Some(unix_ms).filter(|&ms| ms != 0)));
        Ok(())
    })
}

/// Sets the `HttpOnly` attribute (default true).
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_http_only(builder: *mut ks_config_builder, http_only: bool) -> ks_result {
    guard(|| {
        arg_mut(builder)?.update(|x| x.http_only(http_only));
        Ok(())
    })
}

/// Sets the `Secure` attribute (default false). A secure cookie is refused on a request
/// committed with `plain_http` true (KS_RESULT_SECURE_COOKIE_OVER_HTTP), as Koa refuses it.
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_secure(builder: *mut ks_config_builder, secure: bool) -> ks_result {
    guard(|| {
        arg_mut(builder)?.update(|x| x.secure(secure));
        Ok(())
    })
}

/// Sets the `SameSite` attribute: a `ks_same_site` value. `KS_SAME_SITE_NONE` needs
/// `ks_config_builder_set_secure(builder, true)` (browsers drop SameSite=None cookies that
/// are not Secure): without it, `ks_config_builder_validate()` and `ks_engine_new()` fail with
/// KS_RESULT_INVALID_COOKIE_ATTRIBUTE. Errors: KS_RESULT_INVALID_ARGUMENT (not a
/// `ks_same_site` value).
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_same_site(builder: *mut ks_config_builder, same_site: u32) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let s = enum_value(same_site, &[None, Some(SameSite::Strict), Some(SameSite::Lax), Some(SameSite::None)], "cookieOptions.sameSite", "ks_same_site")?;
        b.update(|x| x.same_site(s));
        Ok(())
    })
}

/// Sets the `Priority` attribute: a `ks_priority` value. Errors: KS_RESULT_INVALID_ARGUMENT.
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_priority(builder: *mut ks_config_builder, priority: u32) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let p = enum_value(priority, &[None, Some(Priority::Low), Some(Priority::Medium), Some(Priority::High)], "cookieOptions.priority", "ks_priority")?;
        b.update(|x| x.priority(p));
        Ok(())
    })
}

/// Sets the `Partitioned` attribute (CHIPS; default false).
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_partitioned(builder: *mut ks_config_builder, partitioned: bool) -> ks_result {
    guard(|| {
        arg_mut(builder)?.update(|x| x.partitioned(partitioned));
        Ok(())
    })
}

/// Rolling sessions (default false): every request that has a session saves it again and
/// re-sends the cookie, so the expiry moves forward on each visit.
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_rolling(builder: *mut ks_config_builder, rolling: bool) -> ks_result {
    guard(|| {
        arg_mut(builder)?.update(|x| x.rolling(rolling));
        Ok(())
    })
}

/// Saves new sessions even when nothing was put in them (default false).
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_allow_empty(builder: *mut ks_config_builder, allow_empty: bool) -> ks_result {
    guard(|| {
        arg_mut(builder)?.update(|x| x.allow_empty(allow_empty));
        Ok(())
    })
}

/// The store TTL in milliseconds for sessions whose cookie has no lifetime of its own
/// (browser-session cookies); default one day. Errors: KS_RESULT_INVALID_ARGUMENT (0 or
/// negative).
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_default_ttl_ms(builder: *mut ks_config_builder, ttl_ms: i64) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        check_default_ttl(ttl_ms)?;
        b.update(|x| x.default_session_ttl_ms(ttl_ms));
        Ok(())
    })
}

/// Bounds every call to a C store (`ks_c_store_new()`) made by the engines built from this
/// builder: a callback (`get`, `set`, `destroy` or an optional one) that has not returned
/// within `timeout_ms` milliseconds makes the `ks_` call that needed it fail with
/// KS_RESULT_STORE_TIMEOUT ("session store get did not answer within N ms"), the
/// asynchronous calls included. (Calls on the store itself, such as
/// `ks_store_destroy_user_sessions()`, use the default.) Default 5000 ms (the `storeTimeout` option of the Koa
/// middleware). The callback itself cannot be interrupted: it keeps running on a thread of the
/// engine's pool, and what it returns is ignored. With a deadline, a blocking call runs the
/// callback on that pool and waits with a timer; 0 turns the deadline off, and the callback
/// then runs on the caller's own thread (one thread hop less, but a callback that never
/// returns blocks that request for ever). Native stores bound their own I/O and ignore it.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT (over 86400000, one day;
/// `ks_last_error_message()` names the option).
///
/// # Safety
/// `builder` is a live builder.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_store_timeout_ms(builder: *mut ks_config_builder, timeout_ms: u64) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        check_store_timeout(timeout_ms)?;
        b.update(|x| x.store_timeout(Some(std::time::Duration::from_millis(timeout_ms))));
        Ok(())
    })
}

/// Sets the `userField` option: the field of the session data that holds the user's id, a
/// top-level name ("uid") or a dotted path ("passport.user", where Passport keeps it); NULL
/// (the default) clears it. With it, every commit that puts a session under a user (a login)
/// first adds the session to that user's index in the store, so that
/// `ks_store_destroy_user_sessions()` can end them all ("log out everywhere") and
/// `ks_store_user_sessions()` can list them; and a stored session is never written blind (its
/// changes are merged, an unchanged one is touched), so a request still in flight cannot bring
/// a destroyed session back. The field must then hold a non-empty string (at most 512 bytes)
/// or a number, or be absent or null (nobody logged in): anything else fails the commit with
/// KS_RESULT_INVALID_USER_ID and writes nothing. `ks_engine_new()` refuses a store that lacks
/// what this needs: compare-and-set and a user index (the memory and Redis stores have both; a
/// C store needs `ks_c_store_set_compare_and_set()` and `ks_c_store_set_user_index()`).
/// `field` is NUL-terminated UTF-8, copied. Errors: KS_RESULT_NULL_PARAMETER (`builder`),
/// KS_RESULT_INVALID_UTF8, KS_RESULT_INVALID_ARGUMENT (empty, an empty name between dots, or
/// more than 16 names deep; `ks_last_error_message()` says which).
///
/// # Safety
/// `builder` is a live builder; `field` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_user_field(builder: *mut ks_config_builder, field: *const c_char) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let field = opt_c_str(field)?.map(str::to_owned);
        if let Some(f) = &field {
            UserField::parse(f)?;
        }
        b.update(|x| x.user_field(field));
        Ok(())
    })
}

/// A timeout setter's value: 0 is off; anything else is checked by core's rule for `option`
/// (1 ms to ten years), whose message names the option.
fn timeout_value(option: &'static str, ms: u64) -> Result<Option<i64>, ks_result> {
    if ms == 0 {
        return Ok(None);
    }
    match i64::try_from(ms) {
        Ok(ms) => {
            check_timeout(option, ms)?;
            Ok(Some(ms))
        }
        // Past i64::MAX, and so past ten years: core's message, with the value as given.
        Err(_) => {
            let e = check_timeout(option, i64::MAX).expect_err("i64::MAX is over ten years");
            let message = e.message().replace(&i64::MAX.to_string(), &ms.to_string());
            Err(ConfigError::new(option, e.kind(), message).into())
        }
    }
}

/// Sets the `idleTimeout` option in milliseconds: a session not used for this long is gone.
/// Reads count as use, so a session read at least once per window lives on; without a change
/// to save, its activity time is written only when more than half of the window has passed
/// since it was last written (so a session read often costs about one store write per half
/// window, not one per request, and lives from half a window to a whole one after its last
/// request). Loading a session past its timeout gives a new one (KS_LOAD_REPORT_EXPIRED) and
/// the old record is destroyed at commit. The times are kept in the record, under the
/// top-level field `_ks` (`{"created":ms,"active":ms}`, unix ms of the engine's clock), which
/// `ks_session_json()` and the other session data functions never show and the application
/// cannot change (the store's own views, such as `ks_store_user_sessions()`, give records as
/// stored, with it); a record without it (written before the option was set) loads and starts
/// its clock then. The store's TTL never outlives the first deadline. 0 (the default) turns it off.
/// `ks_engine_new()` refuses a store without compare-and-set when a timeout is set (the
/// activity time is written on reads too, and must never undo another request's change): the
/// memory and Redis stores have it, a C store needs `ks_c_store_set_compare_and_set()`.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT (over 315360000000, ten
/// years; `ks_last_error_message()` names `idleTimeout`).
///
/// # Safety
/// `builder` is a live builder or NULL (KS_RESULT_NULL_PARAMETER).
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_idle_timeout_ms(builder: *mut ks_config_builder, timeout_ms: u64) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let ms = timeout_value(IDLE_TIMEOUT, timeout_ms)?;
        b.update(|x| x.idle_timeout_ms(ms));
        Ok(())
    })
}

/// Sets the `absoluteTimeout` option in milliseconds: a session this old, counted from its
/// creation or its last `ks_session_regenerate()` (a login), is gone however active it is.
/// Loading it then gives a new session (KS_LOAD_REPORT_EXPIRED) and the old record is
/// destroyed at commit. The creation time is kept in the record as for
/// `ks_config_builder_set_idle_timeout_ms()` (a record without it starts its clock at its first
/// load), and the store needs compare-and-set in the same way. 0 (the default) turns it off.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT (over 315360000000, ten
/// years; `ks_last_error_message()` names `absoluteTimeout`).
///
/// # Safety
/// `builder` is a live builder or NULL (KS_RESULT_NULL_PARAMETER).
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_absolute_timeout_ms(builder: *mut ks_config_builder, timeout_ms: u64) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let ms = timeout_value(ABSOLUTE_TIMEOUT, timeout_ms)?;
        b.update(|x| x.absolute_timeout_ms(ms));
        Ok(())
    })
}

/// Sets the `renewInterval` option in milliseconds: a session whose cookie id is older than this
/// gets a new id at the end of its next request (the cookie changes; the session, its data and
/// `ks_session_id()`, which names the record's key, stay). The renewing commit writes an alias
/// record `{"_ks":{"of":"<key>"}}` under the new id and returns the Set-Cookie values of the
/// new id; the ids a renewal replaced stay usable for `renewGrace`
/// (`ks_config_builder_set_renew_grace_ms()`): a request whose cookie names one loads the same
/// session (its changes merge with the others'), and its commit returns the current id's
/// cookie even when nothing changed; after the grace such a cookie loads a new session. Two
/// requests that renew at once keep one session: one id stays current, the other is in grace.
/// Ending the session (`ks_session_mark_destroyed()` then a commit, with any of its ids, or
/// `ks_store_destroy_user_sessions()`) ends all its ids. The times are kept in the record's
/// `_ks` field, as for `ks_config_builder_set_idle_timeout_ms()`, and the store needs
/// compare-and-set in the same way. 0 (the default) turns it off. Errors: KS_RESULT_NULL_PARAMETER,
/// KS_RESULT_INVALID_ARGUMENT (over 315360000000, ten years; `ks_last_error_message()` names
/// `renewInterval`).
///
/// # Safety
/// `builder` is a live builder or NULL (KS_RESULT_NULL_PARAMETER).
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_renew_interval_ms(builder: *mut ks_config_builder, interval_ms: u64) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let ms = timeout_value(RENEW_INTERVAL, interval_ms)?;
        b.update(|x| x.renew_interval_ms(ms));
        Ok(())
    })
}

/// Sets the `renewGrace` option in milliseconds: how long an id replaced by a renewal
/// (`ks_config_builder_set_renew_interval_ms()`) stays usable, for the requests already on
/// their way with the old cookie. 0 (the default) is the default grace, 60000 (one minute).
/// Without a renewal interval it does nothing. Errors: KS_RESULT_NULL_PARAMETER,
/// KS_RESULT_INVALID_ARGUMENT (over 315360000000, ten years; `ks_last_error_message()` names
/// `renewGrace`).
///
/// # Safety
/// `builder` is a live builder or NULL (KS_RESULT_NULL_PARAMETER).
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_renew_grace_ms(builder: *mut ks_config_builder, grace_ms: u64) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        let ms = timeout_value(RENEW_GRACE, grace_ms)?;
        b.update(|x| x.renew_grace_ms(ms));
        Ok(())
    })
}

/// Sets the clock of the engines made from this builder: `clock(userdata)` gives the current
/// time in unix milliseconds, read wherever the engine needs the time: the idle and absolute
/// timeouts, the times kept in the record, cookie `Expires` dates, the TTLs handed to the
/// store (durations from now) and the user index's login times. For tests and conformance
/// runners, which move time on by hand instead of sleeping. NULL `clock` (the default) is the
/// system clock. The stores keep their own time: a TTL the store was given runs out on the
/// store's clock (the memory store's and Redis's are real time), so a record may vanish early
/// when real time runs ahead of this clock, and one kept past a timeout on this clock is still
/// refused by the engine. The callback may be called from any thread, several at once (see
/// `ks_clock_fn`); it must be thread-safe, return quickly, and must not call blocking `ks_`
/// functions. Errors: KS_RESULT_NULL_PARAMETER (`builder` NULL).
///
/// # Safety
/// `builder` is a live builder; `clock` and `userdata` stay valid while any engine made from
/// the builder lives, including the sessions and asynchronous calls that keep it alive.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_clock(builder: *mut ks_config_builder, clock: ks_clock_fn, userdata: *mut c_void) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        b.clock = clock.map(|callback| ClockCallback { callback, userdata });
        Ok(())
    })
}

/// Sets a callback that hears every decision of the engines made from this builder, in the
/// style of rustls-ffi's log callback: the session cookie taken, refused (unsigned, bad
/// signature, invalid id) or re-signed; the id unknown or expired; a corrupt record; the
/// session saved, merged, touched, destroyed or not saved and why. `log` NULL turns it off.
/// `userdata` is passed to every call unchanged; the callback must be thread-safe and must not
/// call blocking `ks_` functions. Errors: KS_RESULT_NULL_PARAMETER (`builder` NULL).
///
/// # Safety
/// `builder` is a live builder; `log` and `userdata` stay valid while any engine made from the
/// builder lives.
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_set_log(builder: *mut ks_config_builder, log: ks_log_fn, userdata: *mut c_void) -> ks_result {
    guard(|| {
        let b = arg_mut(builder)?;
        b.log = log.map(|callback| LogCallback { callback, userdata });
        Ok(())
    })
}

/// Checks the settings as `ks_engine_new()` would, without making an engine: each value and
/// the rules between them (SameSite=None needs Secure). Errors: KS_RESULT_NULL_PARAMETER,
/// KS_RESULT_INVALID_COOKIE_ATTRIBUTE, with `ks_last_error_message()` naming the option.
///
/// # Safety
/// `builder` is a live builder or NULL (KS_RESULT_NULL_PARAMETER).
#[no_mangle]
pub unsafe extern "C" fn ks_config_builder_validate(builder: *const ks_config_builder) -> ks_result {
    guard(|| arg(builder)?.build().map(drop))
}
