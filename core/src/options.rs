//! The session options, one rulebook for every host: each option's type, default and sanity
//! checks. An error names the option as a Koa user writes it (`cookieOptions.sameSite`) and,
//! for an option of koa-session or koa-generic-session, says where it goes here.
//!
//! - The per-field checks (`check_*`) are what [`SessionConfigBuilder::build`] runs and what
//!   the C setters call, so a C program and a Koa app are refused the same values.
//! - [`SessionOptions::from_json`] reads the options exactly as a Koa user gives them (as
//!   JSON: the Node middleware writes Dates as unix ms, functions as `{"$js": "a function"}`
//!   and leaves the store's checks to itself), with the defaults, unknown-option detection
//!   and every check.

use crate::config::SessionConfigBuilder;
use crate::http_date::parse_iso8601;
use crate::set_cookie::{CookieAttributes, Priority, SameSite};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// How long a Koa request waits for a disconnected store (`reconnectTimeout`, ms).
pub const DEFAULT_RECONNECT_TIMEOUT_MS: u64 = 10_000;

/// What kind of mistake a [`ConfigError`] reports (the C API maps it to a `ks_result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// `key` is not a usable cookie name.
    CookieName,
    /// A cookie attribute that would make a broken or unsafe cookie (path, domain, sameSite).
    CookieAttribute,
    /// A value of the wrong type, or out of range (a negative maxAge, empty keys, ...).
    InvalidValue,
    /// An option this package does not have.
    UnknownOption,
}

/// A refused option: `option "cookieOptions.sameSite": <why, and what to do>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    option: Cow<'static, str>,
    kind: ConfigErrorKind,
    message: String,
}

impl ConfigError {
    pub fn new(option: impl Into<Cow<'static, str>>, kind: ConfigErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError { option: option.into(), kind, message: message.into() }
    }
    /// The option's name as a Koa user writes it: `key`, `cookieOptions.maxAge`, ...
    pub fn option(&self) -> &str {
        &self.option
    }
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
    /// Why it was refused, without the option's name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option \"{}\": {}", self.option, self.message)
    }
}
impl std::error::Error for ConfigError {}

// The options' names, as the errors spell them.
const KEY: &str = "key";
const KEYS: &str = "keys";
const RECONNECT_TIMEOUT: &str = "reconnectTimeout";
const STORE_TIMEOUT: &str = "storeTimeout";
const COOKIE_OPTIONS: &str = "cookieOptions";
const PATH: &str = "cookieOptions.path";
const DOMAIN: &str = "cookieOptions.domain";
const MAX_AGE: &str = "cookieOptions.maxAge";
const EXPIRES: &str = "cookieOptions.expires";
const SAME_SITE: &str = "cookieOptions.sameSite";
const PRIORITY: &str = "cookieOptions.priority";
const DEFAULT_TTL: &str = "defaultSessionTtl";
pub const IDLE_TIMEOUT: &str = "idleTimeout";
pub const ABSOLUTE_TIMEOUT: &str = "absoluteTimeout";
pub const RENEW_INTERVAL: &str = "renewInterval";
pub const RENEW_GRACE: &str = "renewGrace";

/// Top-level options whose values belong to the host (a store object, functions): known
/// here so they are not "unknown". The store is the host's to check; the functions arrive
/// as `{"$js": "a function"}` (see [`describe`]) and anything else is refused here.
/// `errorHanlder` is the original README's spelling.
pub const HOST_OPTIONS: [&str; 6] = ["store", "genSid", "errorHandler", "errorHanlder", "valid", "beforeSave"];

/// A host function option (`genSid`, `valid`, ...): absent, null or a function.
fn host_function(name: &str, v: &Value) -> Result<(), ConfigError> {
    match v {
        Value::Null => Ok(()),
        Value::Object(m) if m.len() == 1 && m.get("$js") == Some(&Value::String("a function".into())) => Ok(()),
        _ => Err(wrong_type(name.to_owned(), "a function", v)),
    }
}
const DATA_OPTIONS: [&str; 12] = [
    KEY, RECONNECT_TIMEOUT, STORE_TIMEOUT, COOKIE_OPTIONS, "defer", "rolling", "allowEmpty", "userField", IDLE_TIMEOUT, ABSOLUTE_TIMEOUT, RENEW_INTERVAL, RENEW_GRACE,
];
const COOKIE_FIELDS: [&str; 11] =
    ["httpOnly", "maxAge", "expires", "overwrite", "path", "domain", "secure", "signed", "sameSite", "priority", "partitioned"];

/// A value as an error shows it, short.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}

/// `got ...` for a JSON value. A value JSON cannot hold arrives from the host as
/// `{"$js": "<what it is>"}` (a function, NaN, an invalid Date) and is named as such.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", shown(s)),
        Value::Array(_) => "an array".into(),
        Value::Object(m) => match m.get("$js") {
            Some(Value::String(what)) if m.len() == 1 => what.clone(),
            _ => "an object".into(),
        },
    }
}

fn wrong_type(option: impl Into<Cow<'static, str>>, expected: &str, v: &Value) -> ConfigError {
    ConfigError::new(option, ConfigErrorKind::InvalidValue, format!("must be {expected}, got {}", describe(v)))
}

/// The first character `ok` refuses, described for a message.
fn first_bad(s: &str, ok: impl Fn(char) -> bool) -> Option<String> {
    let c = s.chars().find(|&c| !ok(c))?;
    Some(match c {
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character {:?}", c),
        c => format!("{c:?}"),
    })
}

/// `key`: a cookie name (printable ASCII, no `;`, `=` or space, not empty).
pub fn check_cookie_name(name: &str) -> Result<(), ConfigError> {
    let refuse = |why: String| Err(ConfigError::new(KEY, ConfigErrorKind::CookieName, format!("cookie name {} is invalid: {why}", shown(name))));
    if name.is_empty() {
        return refuse("it is empty".into());
    }
    match first_bad(name, |c| c.is_ascii_graphic() && c != ';' && c != '=') {
        Some(bad) => refuse(format!("{bad} is not allowed (printable ASCII without ';', '=' or space)")),
        None => Ok(()),
    }
}

/// `cookieOptions.path`: starts with `/`; printable ASCII without `;`.
pub fn check_path(path: &str) -> Result<(), ConfigError> {
    let refuse = |why: String| Err(ConfigError::new(PATH, ConfigErrorKind::CookieAttribute, format!("path {} is invalid: {why}", shown(path))));
    if !path.starts_with('/') {
        return refuse("it must start with '/', e.g. '/' or '/app'".into());
    }
    match first_bad(path, |c| (' '..='~').contains(&c) && c != ';') {
        Some(bad) => refuse(format!("{bad} is not allowed (printable ASCII without ';')")),
        None => Ok(()),
    }
}

/// `cookieOptions.domain`: a host name such as `example.com` (an optional leading dot, labels
/// of letters, digits, `-` and `_`, none empty).
pub fn check_domain(domain: &str) -> Result<(), ConfigError> {
    let refuse = |why: String| {
        Err(ConfigError::new(DOMAIN, ConfigErrorKind::CookieAttribute, format!("domain {} is invalid: {why}; use a host name such as example.com", shown(domain))))
    };
    let host = domain.strip_prefix('.').unwrap_or(domain);
    if let Some(bad) = first_bad(host, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return refuse(format!("{bad} is not allowed"));
    }
    if host.is_empty() || host.len() > 253 {
        return refuse("it must be 1 to 253 characters long".into());
    }
    for label in host.split('.') {
        if label.is_empty() {
            return refuse("it has an empty label (two dots in a row, or a dot at the end)".into());
        }
        if label.len() > 63 {
            return refuse("a label is longer than 63 characters".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return refuse("a label starts or ends with '-'".into());
        }
    }
    Ok(())
}

/// `cookieOptions.maxAge` in ms: not negative (0 is a browser-session cookie, as in Koa's
/// cookies, where 0 is falsy).
pub fn check_max_age(ms: i64) -> Result<(), ConfigError> {
    if ms < 0 {
        return Err(ConfigError::new(
            MAX_AGE,
            ConfigErrorKind::InvalidValue,
            format!("must not be negative, got {ms}: give the cookie's lifetime in ms, or 0 for a browser-session cookie"),
        ));
    }
    Ok(())
}

/// `cookieOptions.expires` in unix ms: not before 1970.
pub fn check_expires(unix_ms: i64) -> Result<(), ConfigError> {
    if unix_ms < 0 {
        return Err(ConfigError::new(EXPIRES, ConfigErrorKind::InvalidValue, format!("must be a date after 1970, got {unix_ms} ms")));
    }
    Ok(())
}

/// The store TTL of browser-session cookies (C only): positive.
pub fn check_default_ttl(ms: i64) -> Result<(), ConfigError> {
    if ms <= 0 {
        return Err(ConfigError::new(DEFAULT_TTL, ConfigErrorKind::InvalidValue, format!("the default session TTL must be positive, got {ms} ms")));
    }
    Ok(())
}

/// The longest `storeTimeout`: one day (0 turns the deadline off).
pub const MAX_STORE_TIMEOUT_MS: u64 = 86_400_000;

/// `storeTimeout` in ms, as the C setter takes it: 0 (no deadline) to one day.
pub fn check_store_timeout(ms: u64) -> Result<(), ConfigError> {
    if ms > MAX_STORE_TIMEOUT_MS {
        return Err(ConfigError::new(STORE_TIMEOUT, ConfigErrorKind::InvalidValue, format!("must be a number of milliseconds from 0 (no limit) to {MAX_STORE_TIMEOUT_MS}, got {ms}")));
    }
    Ok(())
}

/// `idleTimeout` / `absoluteTimeout` / `renewInterval` / `renewGrace` in ms (`option` names
/// which): from 1 ms to ten years (0 is off, or the default grace, and never reaches this check).
pub fn check_timeout(option: &'static str, ms: i64) -> Result<(), ConfigError> {
    if !(1..=crate::record::MAX_TTL_MS).contains(&ms) {
        return Err(ConfigError::new(
            option,
            ConfigErrorKind::InvalidValue,
            format!("must be a number of milliseconds from 1 to {} (ten years), or 0 to leave it unset; got {ms}", crate::record::MAX_TTL_MS),
        ));
    }
    Ok(())
}

/// Signing keys: at least one, none empty.
pub fn check_keys<K: AsRef<[u8]>>(keys: &[K]) -> Result<(), ConfigError> {
    if keys.is_empty() {
        return Err(ConfigError::new(KEYS, ConfigErrorKind::InvalidValue, "the signing key list is empty: give at least one key, or none at all for unsigned cookies"));
    }
    if let Some(i) = keys.iter().position(|k| k.as_ref().is_empty()) {
        return Err(ConfigError::new(KEYS, ConfigErrorKind::InvalidValue, format!("a signing key is empty (key {i} of the list); keys must not be empty")));
    }
    Ok(())
}

/// Every configured cookie attribute, and the rules between them.
pub fn check_cookie(c: &CookieAttributes) -> Result<(), ConfigError> {
    if let Some(p) = &c.path {
        check_path(p)?;
    }
    if let Some(d) = &c.domain {
        check_domain(d)?;
    }
    if let Some(ms) = c.max_age {
        check_max_age(ms)?;
    }
    if let Some(at) = c.expires {
        check_expires(at)?;
    }
    if c.same_site == Some(SameSite::None) && !c.secure {
        return Err(ConfigError::new(
            SAME_SITE,
            ConfigErrorKind::CookieAttribute,
            "'none' needs secure: browsers drop a SameSite=None cookie that is not Secure; turn secure on (cookieOptions.secure: true), or use 'lax'",
        ));
    }
    Ok(())
}

/// Where an unknown option goes, or what to use instead.
fn hint(cookie_options: bool, name: &str) -> Option<String> {
    let known: Vec<&str> = if cookie_options { COOKIE_FIELDS.to_vec() } else { [&DATA_OPTIONS[..], &HOST_OPTIONS[..]].concat() };
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(format!("did you mean {k}?"));
    }
    if !cookie_options {
        if let Some(field) = COOKIE_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(name)) {
            return Some(format!("it is a cookie setting: use cookieOptions.{field}"));
        }
    }
    let text = match (cookie_options, name) {
        (false, "cookie") => "koa-session and koa-generic-session's cookie option is cookieOptions here",
        (_, "ttl") => "the store TTL follows the cookie's lifetime: set cookieOptions.maxAge",
        (false, "prefix") => "the key prefix is the store's option: new RedisStore({ url, prefix }) or new MemoryStore({ prefix })",
        (false, "autoCommit") => {
            "not supported: the session is always committed after the downstream middleware; set ctx.sessionSave = false to skip a save"
        }
        (false, "encode" | "decode") => "not supported: sessions are kept in the store as JSON, the cookie only carries the session id",
        (false, "renew") => "not supported: use rolling: true to extend the session on every request",
        (false, "externalKey" | "sessionIdStore" | "sessionIdContext") => {
            "not supported: the session id travels in the cookie; an earlier middleware may set ctx.sessionId to choose the session"
        }
        (false, "ContextStore") => "not supported: give a store object as the store option",
        (false, "genid") => "the session id generator is genSid(ctx, length) here",
        (false, "name") => "the cookie name is the key option here",
        (_, "secret" | "keys") => "signing keys come from app.keys: app.keys = ['a long random secret']",
        (false, "saveUninitialized") => "saving new empty sessions is allowEmpty: true here",
        (false, "resave") => "not needed: only changed sessions are saved; set ctx.sessionSave = true to force a save, or use rolling: true",
        (_, "proxy" | "secureProxy") => "not supported: set app.proxy = true so Koa trusts X-Forwarded-Proto from your TLS proxy",
        (true, "key" | "name") => "the cookie name is the top-level option key",
        (true, "expire") => "did you mean expires?",
        _ => return None,
    };
    Some(text.into())
}

fn unknown(cookie_options: bool, name: &str) -> ConfigError {
    let (option, list) = if cookie_options {
        (format!("{COOKIE_OPTIONS}.{name}"), COOKIE_FIELDS.join(", "))
    } else {
        (name.to_owned(), [&DATA_OPTIONS[..], &HOST_OPTIONS[..3], &HOST_OPTIONS[4..]].concat().join(", "))
    };
    let what = if cookie_options { "unknown cookie option" } else { "unknown option" };
    let message = match hint(cookie_options, name) {
        Some(h) => format!("{what}; {h}"),
        None => format!("{what}; the known ones are {list}"),
    };
    ConfigError::new(option, ConfigErrorKind::UnknownOption, message)
}

fn boolean(option: &'static str, v: &Value) -> Result<bool, ConfigError> {
    v.as_bool().ok_or_else(|| wrong_type(option, "a boolean", v))
}

/// A JSON number as whole ms, clamped so no date arithmetic overflows.
fn whole_ms(v: &Value) -> Option<i64> {
    let f = v.as_f64().filter(|f| f.is_finite())?;
    Some(f.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
}

/// A timeout option: a whole number of ms (checked by [`check_timeout`]), or 0 / null: off.
fn timeout_ms(option: &'static str, v: &Value) -> Result<Option<i64>, ConfigError> {
    if v.is_null() {
        return Ok(None);
    }
    let ms = v.as_f64().filter(|f| f.is_finite() && f.fract() == 0.0);
    let ms = ms.ok_or_else(|| wrong_type(option, "a whole number of milliseconds, or 0 / null for none", v))?;
    let ms = ms.clamp(i64::MIN as f64, i64::MAX as f64) as i64;
    if ms != 0 {
        check_timeout(option, ms)?;
    }
    Ok(Some(ms))
}

/// A string that is empty or `null`: no attribute.
fn optional_string(option: &'static str, v: &Value) -> Result<Option<String>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(wrong_type(option, "a string or null", v)),
    }
}

/// The options of `session(options)`, checked, with their defaults: the engine's settings
/// (without keys: those are the app's) and the ones only the Koa middleware uses.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Cookie name, attributes, `rolling`, `allowEmpty`; add keys, then `build()`.
    pub config: SessionConfigBuilder,
    /// `cookieOptions.signed` (default true): sign cookies when the app has keys.
    pub signed: bool,
    /// `defer` (default false).
    pub defer: bool,
    /// `reconnectTimeout` in ms (default 10000).
    pub reconnect_timeout_ms: u64,
    /// `storeTimeout` in ms (default 5000; 0: no deadline), also set in `config`.
    pub store_timeout_ms: u64,
}

impl SessionOptions {
    /// Parses JSON text; see [`from_json`](Self::from_json).
    pub fn from_json_str(json: &str) -> Result<SessionOptions, ConfigError> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| ConfigError::new("options", ConfigErrorKind::InvalidValue, format!("are not valid JSON: {e}")))?;
        SessionOptions::from_json(&v)
    }

    /// Reads `session(options)` as the user wrote it: an object (or null for the defaults)
    /// whose dates are unix ms. Of the options in [`HOST_OPTIONS`] only the functions' kind is
    /// checked here; any other option not listed in the README is refused, with a hint when it is
    /// koa-session's or koa-generic-session's.
    pub fn from_json(options: &Value) -> Result<SessionOptions, ConfigError> {
        let empty = Map::new();
        let top = match options {
            Value::Null => &empty,
            Value::Object(m) => m,
            other => return Err(ConfigError::new("options", ConfigErrorKind::InvalidValue, format!("must be an object, got {}", describe(other)))),
        };
        let mut o = SessionOptions { config: SessionConfigBuilder::default(), signed: true, defer: false, reconnect_timeout_ms: DEFAULT_RECONNECT_TIMEOUT_MS, store_timeout_ms: crate::config::DEFAULT_STORE_TIMEOUT_MS };
        for (name, v) in top {
            match name.as_str() {
                KEY => {
                    let key = v.as_str().ok_or_else(|| wrong_type(KEY, "a string", v))?;
                    check_cookie_name(key)?;
                    o.config = o.config.cookie_name(key);
                }
                RECONNECT_TIMEOUT => {
                    let ms = v.as_f64().filter(|ms| ms.is_finite() && *ms >= 0.0);
                    let ms = ms.ok_or_else(|| wrong_type(RECONNECT_TIMEOUT, "a number of milliseconds, 0 or more", v))?;
                    o.reconnect_timeout_ms = ms as u64;
                }
                STORE_TIMEOUT => {
                    let ms = v.as_f64().filter(|ms| ms.is_finite() && (0.0..=MAX_STORE_TIMEOUT_MS as f64).contains(ms));
                    let ms = ms.ok_or_else(|| wrong_type(STORE_TIMEOUT, &format!("a number of milliseconds from 0 (no limit) to {MAX_STORE_TIMEOUT_MS}"), v))?;
                    o.store_timeout_ms = ms as u64;
                    o.config = o.config.store_timeout(Some(std::time::Duration::from_millis(o.store_timeout_ms)));
                }
                "defer" => o.defer = boolean("defer", v)?,
                "rolling" => o.config = o.config.rolling(boolean("rolling", v)?),
                "allowEmpty" => o.config = o.config.allow_empty(boolean("allowEmpty", v)?),
                "userField" => {
                    let field = match v {
                        Value::Null => None,
                        Value::String(s) => Some(crate::user_field::UserField::parse(s).map(|_| s.clone())?),
                        _ => return Err(wrong_type("userField", "a field name or dotted path such as 'passport.user', or null", v)),
                    };
                    o.config = o.config.user_field(field);
                }
                IDLE_TIMEOUT => o.config = o.config.idle_timeout_ms(timeout_ms(IDLE_TIMEOUT, v)?),
                ABSOLUTE_TIMEOUT => o.config = o.config.absolute_timeout_ms(timeout_ms(ABSOLUTE_TIMEOUT, v)?),
                RENEW_INTERVAL => o.config = o.config.renew_interval_ms(timeout_ms(RENEW_INTERVAL, v)?),
                RENEW_GRACE => o.config = o.config.renew_grace_ms(timeout_ms(RENEW_GRACE, v)?),
                COOKIE_OPTIONS => o.cookie_options(v)?,
                "store" => {}
                n if HOST_OPTIONS.contains(&n) => host_function(n, v)?,
                n => return Err(unknown(false, n)),
            }
        }
        check_cookie(o.config.attributes())?;
        Ok(o)
    }

    fn cookie_options(&mut self, v: &Value) -> Result<(), ConfigError> {
        let fields = match v {
            Value::Null => return Ok(()),
            Value::Object(m) => m,
            _ => return Err(wrong_type(COOKIE_OPTIONS, "an object", v)),
        };
        let mut c = self.config.attributes().clone();
        for (name, v) in fields {
            match name.as_str() {
                "httpOnly" => c.http_only = boolean("cookieOptions.httpOnly", v)?,
                "secure" => c.secure = boolean("cookieOptions.secure", v)?,
                "partitioned" => c.partitioned = boolean("cookieOptions.partitioned", v)?,
                "signed" => self.signed = boolean("cookieOptions.signed", v)?,
                // Koa's cookies always overwrite; accepted for compatibility.
                "overwrite" => drop(boolean("cookieOptions.overwrite", v)?),
                "path" => c.path = optional_string(PATH, v)?,
                "domain" => c.domain = optional_string(DOMAIN, v)?,
                "maxAge" => {
                    c.max_age = match v {
                        Value::Null => None,
                        Value::String(s) if s == "session" => None,
                        _ => Some(whole_ms(v).ok_or_else(|| wrong_type(MAX_AGE, "a number of milliseconds, 'session' or null", v))?),
                    }
                }
                "expires" => {
                    c.expires = match v {
                        Value::Null => None,
                        Value::String(s) => Some(parse_iso8601(s).ok_or_else(|| wrong_type(EXPIRES, "a Date, an ISO 8601 date string or unix ms", v))?),
                        _ => Some(whole_ms(v).ok_or_else(|| wrong_type(EXPIRES, "a Date, an ISO 8601 date string or unix ms", v))?),
                    }
                }
                "sameSite" => {
                    c.same_site = match v {
                        Value::Null | Value::Bool(false) => None,
                        Value::Bool(true) => Some(SameSite::Strict),
                        Value::String(s) => Some(SameSite::parse(s).ok_or_else(|| wrong_type(SAME_SITE, "true, false, 'strict', 'lax' or 'none'", v))?),
                        _ => return Err(wrong_type(SAME_SITE, "true, false, 'strict', 'lax' or 'none'", v)),
                    }
                }
                "priority" => {
                    c.priority = match v {
                        Value::Null => None,
                        Value::String(s) => Some(Priority::parse(s).ok_or_else(|| wrong_type(PRIORITY, "'low', 'medium' or 'high'", v))?),
                        _ => return Err(wrong_type(PRIORITY, "'low', 'medium' or 'high'", v)),
                    }
                }
                n => return Err(unknown(true, n)),
            }
        }
        self.config = self.config.clone().cookie_attributes(c);
        Ok(())
    }

    /// The cookie name (`key`).
    pub fn key(&self) -> &str {
        self.config.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(v: Value) -> ConfigError {
        SessionOptions::from_json(&v).expect_err(&v.to_string())
    }

    /// The option named and a phrase of the message.
    fn assert_refused(v: Value, option: &str, phrase: &str) {
        let e = refused(v.clone());
        assert_eq!(e.option(), option, "{v}: {e}");
        assert!(e.message().contains(phrase), "{v}: {e:?} lacks {phrase:?}");
        assert!(e.to_string().starts_with(&format!("option \"{option}\": ")), "{e}");
    }

    #[test]
    fn defaults() {
        for v in [json!(null), json!({})] {
            let o = SessionOptions::from_json(&v).unwrap();
            assert_eq!(o.key(), "koa.sid");
            assert!(o.signed && !o.defer);
            assert_eq!(o.reconnect_timeout_ms, 10_000);
            let cfg = o.config.keys(["k"]).build().unwrap();
            assert_eq!(
                cfg.fresh_session_json(),
                r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true}}"#
            );
        }
    }

    #[test]
    fn reads_every_option() {
        let o = SessionOptions::from_json(&json!({
            "key": "app.sid", "reconnectTimeout": 1500.7, "defer": true, "rolling": true, "allowEmpty": true,
            "store": {"$js": "an object"}, "genSid": {"$js": "a function"},
            "cookieOptions": {
                "httpOnly": false, "maxAge": 5000, "overwrite": true, "path": "/app", "domain": ".example.com",
                "secure": true, "signed": false, "sameSite": "None", "priority": "HIGH", "partitioned": true,
                "expires": "2100-01-01T00:00:00.000Z"
            }
        }))
        .unwrap();
        assert_eq!((o.key(), o.signed, o.defer, o.reconnect_timeout_ms), ("app.sid", false, true, 1500));
        let c = o.config.attributes();
        assert_eq!(c.path.as_deref(), Some("/app"));
        assert_eq!(c.domain.as_deref(), Some(".example.com"));
        assert_eq!((c.max_age, c.expires), (Some(5000), Some(4_102_444_800_000)));
        assert_eq!((c.http_only, c.secure, c.partitioned), (false, true, true));
        assert_eq!((c.same_site, c.priority), (Some(SameSite::None), Some(Priority::High)));
        let cfg = o.config.build().unwrap();
        assert!(cfg.rolling() && cfg.allow_empty());

        let o = SessionOptions::from_json(&json!({"cookieOptions": {"maxAge": "session", "sameSite": true, "path": null, "domain": ""}})).unwrap();
        let c = o.config.attributes();
        assert_eq!((c.max_age, c.same_site, c.path.as_deref(), c.domain.as_deref()), (None, Some(SameSite::Strict), None, None));
        let o = SessionOptions::from_json(&json!({"cookieOptions": {"maxAge": null, "sameSite": false, "expires": 4102444800000u64}})).unwrap();
        assert_eq!((o.config.attributes().max_age, o.config.attributes().same_site), (None, None));
        // 0 is a browser-session cookie, as in Koa's cookies (0 is falsy there).
        let o = SessionOptions::from_json(&json!({"cookieOptions": {"maxAge": 0}})).unwrap();
        assert!(!o.config.build().unwrap().fresh_session_json().contains("maxAge"));
    }

    #[test]
    fn wrong_types_name_the_option() {
        assert_refused(json!("opts"), "options", "must be an object, got string \"opts\"");
        assert_refused(json!({"key": 5}), "key", "must be a string, got number 5");
        assert_refused(json!({"key": null}), "key", "must be a string");
        assert_refused(json!({"reconnectTimeout": "10"}), "reconnectTimeout", "got string \"10\"");
        assert_refused(json!({"reconnectTimeout": -1}), "reconnectTimeout", "0 or more");
        assert_refused(json!({"defer": "yes"}), "defer", "a boolean");
        assert_refused(json!({"rolling": 1}), "rolling", "a boolean");
        assert_refused(json!({"allowEmpty": null}), "allowEmpty", "got null");
        assert_refused(json!({"cookieOptions": "x"}), "cookieOptions", "an object");
        assert_refused(json!({"cookieOptions": []}), "cookieOptions", "got an array");
        assert_refused(json!({"cookieOptions": {"maxAge": "1d"}}), "cookieOptions.maxAge", "got string \"1d\"");
        assert_refused(json!({"cookieOptions": {"maxAge": {"$js": "NaN"}}}), "cookieOptions.maxAge", "got NaN");
        assert_refused(json!({"cookieOptions": {"httpOnly": "true"}}), "cookieOptions.httpOnly", "a boolean");
        assert_refused(json!({"cookieOptions": {"secure": 1}}), "cookieOptions.secure", "a boolean");
        assert_refused(json!({"cookieOptions": {"signed": "no"}}), "cookieOptions.signed", "a boolean");
        assert_refused(json!({"cookieOptions": {"overwrite": 0}}), "cookieOptions.overwrite", "a boolean");
        assert_refused(json!({"cookieOptions": {"partitioned": "y"}}), "cookieOptions.partitioned", "a boolean");
        assert_refused(json!({"cookieOptions": {"path": 5}}), "cookieOptions.path", "a string or null");
        assert_refused(json!({"cookieOptions": {"domain": true}}), "cookieOptions.domain", "a string or null");
        assert_refused(json!({"cookieOptions": {"sameSite": "sometimes"}}), "cookieOptions.sameSite", "'strict', 'lax' or 'none'");
        assert_refused(json!({"cookieOptions": {"sameSite": 1}}), "cookieOptions.sameSite", "got number 1");
        assert_refused(json!({"cookieOptions": {"priority": "urgent"}}), "cookieOptions.priority", "'low', 'medium' or 'high'");
        assert_refused(json!({"cookieOptions": {"expires": "not a date"}}), "cookieOptions.expires", "ISO 8601");
        assert_refused(json!({"cookieOptions": {"expires": {"$js": "an invalid Date"}}}), "cookieOptions.expires", "got an invalid Date");
        assert!(SessionOptions::from_json_str("{").unwrap_err().to_string().starts_with("option \"options\": are not valid JSON"));
    }

    #[test]
    fn nonsensical_values_are_refused() {
        assert_refused(json!({"key": "a;b"}), "key", "';' is not allowed");
        assert_refused(json!({"key": ""}), "key", "it is empty");
        assert_refused(json!({"key": "a b"}), "key", "a space is not allowed");
        assert_refused(json!({"cookieOptions": {"maxAge": -5}}), "cookieOptions.maxAge", "must not be negative, got -5");
        assert_refused(json!({"cookieOptions": {"expires": -1}}), "cookieOptions.expires", "after 1970");
        assert_refused(json!({"cookieOptions": {"sameSite": "none"}}), "cookieOptions.sameSite", "'none' needs secure");
        assert_refused(json!({"cookieOptions": {"sameSite": "None", "secure": false}}), "cookieOptions.sameSite", "turn secure on");
        for bad in ["a b", "x\r\ny", "a.com; secure", "a..com", "a.com.", ".", "-a.com", "a-.com", "\u{e9}.com", "[::1]"] {
            let e = refused(json!({"cookieOptions": {"domain": bad}}));
            assert_eq!((e.option(), e.kind()), ("cookieOptions.domain", ConfigErrorKind::CookieAttribute), "{bad:?}: {e}");
        }
        assert_refused(json!({"cookieOptions": {"domain": "a b"}}), "cookieOptions.domain", "a space is not allowed");
        assert_refused(json!({"cookieOptions": {"domain": "a..b"}}), "cookieOptions.domain", "empty label");
        assert_refused(json!({"cookieOptions": {"domain": "x".repeat(64)}}), "cookieOptions.domain", "longer than 63");
        for ok in ["example.com", ".example.com", "localhost", "127.0.0.1", "my_host.example", "xn--bcher-kva.example"] {
            assert!(SessionOptions::from_json(&json!({"cookieOptions": {"domain": ok}})).is_ok(), "{ok}");
        }
        for bad in ["app", "/a;b", "/a\r\nX: y", "/a\u{7f}", "/caf\u{e9}"] {
            let e = refused(json!({"cookieOptions": {"path": bad}}));
            assert_eq!((e.option(), e.kind()), ("cookieOptions.path", ConfigErrorKind::CookieAttribute), "{bad:?}: {e}");
        }
        assert_refused(json!({"cookieOptions": {"path": "app"}}), "cookieOptions.path", "must start with '/'");
        assert_refused(json!({"cookieOptions": {"path": "/a\tb"}}), "cookieOptions.path", "control character '\\t'");
    }

    #[test]
    fn unknown_options_say_where_they_go() {
        for name in ["maxAge", "secure", "sameSite", "httpOnly", "domain", "path", "signed", "overwrite", "expires"] {
            assert_refused(json!({ name: 1 }), name, &format!("use cookieOptions.{name}"));
        }
        assert_refused(json!({"maxage": 1}), "maxage", "use cookieOptions.maxAge");
        assert_refused(json!({"cookie": {}}), "cookie", "is cookieOptions here");
        assert_refused(json!({"ttl": 1000}), "ttl", "set cookieOptions.maxAge");
        assert_refused(json!({"prefix": "app:"}), "prefix", "new RedisStore({ url, prefix })");
        assert_refused(json!({"autoCommit": false}), "autoCommit", "ctx.sessionSave = false");
        assert_refused(json!({"encode": {"$js": "a function"}}), "encode", "not supported");
        assert_refused(json!({"decode": {"$js": "a function"}}), "decode", "not supported");
        assert_refused(json!({"renew": true}), "renew", "rolling: true");
        assert_refused(json!({"externalKey": {}}), "externalKey", "ctx.sessionId");
        assert_refused(json!({"ContextStore": {}}), "ContextStore", "store option");
        assert_refused(json!({"sessionIdStore": {}}), "sessionIdStore", "ctx.sessionId");
        assert_refused(json!({"genid": {}}), "genid", "genSid");
        assert_refused(json!({"secret": "s"}), "secret", "app.keys");
        assert_refused(json!({"allowempty": true}), "allowempty", "did you mean allowEmpty?");
        assert_refused(json!({"errorhandler": 1}), "errorhandler", "did you mean errorHandler?");
        let e = refused(json!({"colour": 1}));
        assert_eq!((e.option(), e.kind()), ("colour", ConfigErrorKind::UnknownOption));
        assert!(e.message().contains("key, reconnectTimeout, storeTimeout, cookieOptions") && !e.message().contains("errorHanlder"), "{e}");
        // Inside cookieOptions.
        assert_refused(json!({"cookieOptions": {"maxage": 1}}), "cookieOptions.maxage", "did you mean maxAge?");
        assert_refused(json!({"cookieOptions": {"ttl": 1}}), "cookieOptions.ttl", "set cookieOptions.maxAge");
        assert_refused(json!({"cookieOptions": {"secureProxy": true}}), "cookieOptions.secureProxy", "app.proxy = true");
        assert_refused(json!({"cookieOptions": {"key": "x"}}), "cookieOptions.key", "top-level option key");
        assert_refused(json!({"cookieOptions": {"colour": 1}}), "cookieOptions.colour", "httpOnly, maxAge");
        // The host's own options are known (their values are the host's to check).
        for name in HOST_OPTIONS {
            assert!(SessionOptions::from_json(&json!({ name: {"$js": "a function"} })).is_ok(), "{name}");
            assert!(SessionOptions::from_json(&json!({ name: null })).is_ok(), "{name}");
        }
        // Their values are refused when the host says they are not functions (the store is the host's).
        assert_refused(json!({"genSid": "abc"}), "genSid", "must be a function, got string \"abc\"");
        assert_refused(json!({"valid": {"$js": "a symbol"}}), "valid", "must be a function, got a symbol");
        assert_refused(json!({"errorHanlder": 1}), "errorHanlder", "must be a function, got number 1");
        assert!(SessionOptions::from_json(&json!({"store": {"a": 1}})).is_ok());
    }

    #[test]
    fn per_field_checks_are_the_builders() {
        assert!(check_cookie_name("koa.sid").is_ok());
        assert_eq!(check_max_age(-1).unwrap_err().option(), "cookieOptions.maxAge");
        assert!(check_max_age(0).is_ok());
        assert_eq!(check_path("x").unwrap_err().kind(), ConfigErrorKind::CookieAttribute);
        assert_eq!(check_keys::<&[u8]>(&[]).unwrap_err().option(), "keys");
        assert_eq!(check_default_ttl(-1).unwrap_err().option(), "defaultSessionTtl");
    }
}
