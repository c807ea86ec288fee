//! What the engine reads inside a session's JSON: only its `cookie` field, the per-session
//! cookie options (a "remember me" login may carry a longer maxAge), from which the cookie's
//! attributes and the store TTL follow. Every other field is the application's.

use crate::http_date::parse_iso8601;
use crate::json_field::field_of;
use crate::limits::{check_json_limits, LimitError};
use crate::set_cookie::CookieAttributes;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Longest store TTL and cookie lifetime: ten years. Larger values (or overflowing ones)
/// are clamped, so no store or date arithmetic ever overflows.
pub const MAX_TTL_MS: i64 = 10 * 365 * 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnObject;

impl std::fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("session data is not a JSON object")
    }
}
impl std::error::Error for NotAnObject {}

/// Why a JSON text cannot be a session record. The same rules hold wherever a record comes
/// from: data a host sets is refused with this error, and a stored record that breaks them
/// loads as corrupt (a new session), so a record the engine accepted always commits and
/// reloads with every field readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Not one well-formed JSON object.
    NotAnObject,
    /// Over [`crate::limits::MAX_RECORD_BYTES`].
    TooLarge,
    /// Nested deeper than [`crate::limits::MAX_DEPTH`].
    TooDeep,
    /// The `cookie` field (this session's cookie options) is present but neither an object
    /// nor `null`: no cookie could be written from it.
    CookieNotAnObject,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::NotAnObject => NotAnObject.fmt(f),
            RecordError::TooLarge => LimitError::TooLarge.fmt(f),
            RecordError::TooDeep => LimitError::TooDeep.fmt(f),
            RecordError::CookieNotAnObject => f.write_str("the session's `cookie` field must be an object (its cookie options) or null"),
        }
    }
}
impl std::error::Error for RecordError {}

impl From<LimitError> for RecordError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::TooLarge => RecordError::TooLarge,
            LimitError::TooDeep => RecordError::TooDeep,
        }
    }
}

/// Whether `json` is one well-formed JSON object. Syntax only: a session record must also
/// pass [`check_record`].
pub fn is_json_object(json: &str) -> bool {
    json.trim_start().starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok()
}

/// Checks every rule a session record must follow: within the limits (checked first, before
/// anything parses it), one JSON object, and a `cookie` field that is an object, `null` or
/// absent. A repeated key counts by its last value, as `JSON.parse` reads it.
pub fn check_record(json: &str) -> Result<(), RecordError> {
    // The field is read as a cookie is made from it, so a record accepted here always makes
    // one (a member that cannot be read, such as a number out of range, is refused here too).
    cookie_field(json).map(drop)
}

/// The `cookie` field of a valid record; `None` when absent or `null`.
fn cookie_field(json: &str) -> Result<Option<CookieOptions>, RecordError> {
    check_json_limits(json)?;
    match field_of::<CookieField>(json, "cookie").map_err(|_| RecordError::NotAnObject)? {
        None | Some(CookieField::Null) => Ok(None),
        Some(CookieField::Object(options)) => Ok(Some(options)),
        Some(CookieField::Other) => Err(RecordError::CookieNotAnObject),
    }
}

/// The members of a `cookie` field the engine reads (the last of a repeated key, as
/// `JSON.parse` reads it); the others are skipped unread.
#[derive(Default)]
struct CookieOptions {
    max_age: Option<Member>,
    /// `maxage`, read when there is no `maxAge`.
    max_age_lower: Option<Member>,
    expires: Option<Member>,
    http_only: Option<Member>,
    secure: Option<Member>,
}

/// A member's value, reduced to what the engine can use (small, so nothing large is copied
/// while parsing).
#[derive(Clone, Copy)]
enum Member {
    Null,
    Bool(bool),
    Number(f64),
    /// The string "session" (a browser-session cookie).
    Session,
    /// Any other string, read as an ISO 8601 date (None when it is none).
    Date(Option<i64>),
    Object,
    Array,
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Member, E> {
        Ok(Member::Null)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Member, E> {
        Ok(Member::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Member, E> {
        Ok(Member::Number(n as f64))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Member, E> {
        Ok(Member::Number(n as f64))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Member, E> {
        Ok(Member::Number(n))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Member, E> {
        Ok(if s == "session" { Member::Session } else { Member::Date(parse_iso8601(s)) })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Member, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Member::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Member::Array)
    }
}

/// What a `cookie` field holds. Read without building a map of its members: it is read on
/// every load and every save.
enum CookieField {
    Null,
    Object(CookieOptions),
    Other,
}

impl<'de> Deserialize<'de> for CookieField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CookieFieldVisitor)
    }
}

struct CookieFieldVisitor;

/// A `cookie` member's name, matched without allocating it.
enum CookieKey {
    MaxAge,
    MaxAgeLower,
    Expires,
    HttpOnly,
    Secure,
    Other,
}

impl<'de> Deserialize<'de> for CookieKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(CookieKeyVisitor)
    }
}

struct CookieKeyVisitor;

impl Visitor<'_> for CookieKeyVisitor {
    type Value = CookieKey;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<CookieKey, E> {
        Ok(match key {
            "maxAge" => CookieKey::MaxAge,
            "maxage" => CookieKey::MaxAgeLower,
            "expires" => CookieKey::Expires,
            "httpOnly" => CookieKey::HttpOnly,
            "secure" => CookieKey::Secure,
            _ => CookieKey::Other,
        })
    }
}

impl<'de> Visitor<'de> for CookieFieldVisitor {
    type Value = CookieField;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<CookieField, E> {
        Ok(CookieField::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CookieField, A::Error> {
        let mut o = CookieOptions::default();
        while let Some(key) = map.next_key::<CookieKey>()? {
            let slot = match key {
                CookieKey::MaxAge => &mut o.max_age,
                CookieKey::MaxAgeLower => &mut o.max_age_lower,
                CookieKey::Expires => &mut o.expires,
                CookieKey::HttpOnly => &mut o.http_only,
                CookieKey::Secure => &mut o.secure,
                CookieKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(CookieField::Object(o))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CookieField, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(CookieField::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<CookieField, E> {
        Ok(CookieField::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<CookieField, E> {
        Ok(CookieField::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<CookieField, E> {
        Ok(CookieField::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<CookieField, E> {
        Ok(CookieField::Other)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<CookieField, E> {
        Ok(CookieField::Other)
    }
}

fn ms(f: f64) -> Option<i64> {
    f.is_finite().then(|| f.clamp(-(MAX_TTL_MS as f64), MAX_TTL_MS as f64) as i64)
}

/// The cookie attributes of a session: the configured ones, with the lifetime (`maxAge`,
/// `expires`) taken from the session's own `cookie` field where that holds a usable value, and
/// `secure`/`httpOnly` turned on when the record asks. Everything else (path, domain, sameSite,
/// priority, partitioned) comes from the configuration, so a record can neither move its cookie
/// where clearing would not reach it nor weaken what the application configured. The record
/// must pass [`check_record`].
pub fn session_cookie(json: &str, base: &CookieAttributes) -> Result<CookieAttributes, RecordError> {
    let mut attrs = base.clone();
    let Some(c) = cookie_field(json)? else { return Ok(attrs) };
    match c.max_age.or(c.max_age_lower) {
        Some(Member::Null | Member::Session) => attrs.max_age = Some(0),
        Some(Member::Number(n)) => {
            if let Some(m) = ms(n) {
                attrs.max_age = Some(m)
            }
        }
        _ => {}
    }
    match c.expires {
        Some(Member::Null) => attrs.expires = None,
        Some(Member::Date(Some(at))) => attrs.expires = Some(at),
        Some(Member::Number(n)) if n.is_finite() => attrs.expires = Some(n as i64),
        _ => {}
    }
    // `httpOnly` is the session's own choice either way, as in koa-session and
    // koa-generic-session (a page script may need to read its cookie). `secure` may only be
    // turned on: a record written before the application turned `secure` on must not keep
    // sending its cookie over plain HTTP.
    if let Some(Member::Bool(on)) = c.http_only {
        attrs.http_only = on;
    }
    if let Some(Member::Bool(true)) = c.secure {
        attrs.secure = true;
    }
    Ok(attrs)
}

/// The store TTL in milliseconds for a session whose cookie has `attrs`, written at `now_ms`:
/// the cookie's lifetime (maxAge wins over expires, as in Koa's cookies), `default_ttl_ms` for
/// a browser-session cookie, clamped to [`MAX_TTL_MS`]. Zero or less means already expired.
pub fn ttl_ms(attrs: &CookieAttributes, now_ms: i64, default_ttl_ms: i64) -> i64 {
    let ttl = match attrs.max_age {
        Some(m) if m != 0 => m,
        _ => match attrs.expires {
            Some(at) => at.saturating_sub(now_ms),
            None => default_ttl_ms,
        },
    };
    ttl.min(MAX_TTL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cookie_field() {
        let base = CookieAttributes { max_age: Some(86_400_000), ..Default::default() };
        let a = session_cookie(r#"{"cookie":{"maxAge":1000,"secure":true,"sameSite":"none","path":"/evil"},"n":1}"#, &base).unwrap();
        assert_eq!(a.max_age, Some(1000));
        assert!(a.secure);
        assert_eq!(a.same_site, None);
        assert_eq!(a.path.as_deref(), Some("/"));
        let strict = CookieAttributes { secure: true, ..base.clone() };
        let weaker = session_cookie(r#"{"cookie":{"secure":false,"httpOnly":false}}"#, &strict).unwrap();
        assert!(weaker.secure, "a record cannot turn the configured secure off");
        assert!(!weaker.http_only, "httpOnly is the session's own choice");
        let on = session_cookie(r#"{"cookie":{"httpOnly":true}}"#, &CookieAttributes { http_only: false, ..base.clone() }).unwrap();
        assert!(on.http_only);
        let b = session_cookie(r#"{"user":{"cookie":{"maxAge":1}}}"#, &base).unwrap();
        assert_eq!(b, base);
        let c = session_cookie(r#"{"cookie":{"maxAge":"junk","expires":"2026-11-20T18:08:43.456Z"}}"#, &base).unwrap();
        assert_eq!(c.max_age, Some(86_400_000));
        assert_eq!(c.expires, Some(1_795_198_123_456));
        assert!(session_cookie("[1,2]", &base).is_err());
        assert!(session_cookie("{\"cookie\":", &base).is_err());
        assert!(session_cookie("\"str\"", &base).is_err());
    }

    #[test]
    fn ttl_rules() {
        let now = 1_000_000;
        let day = 86_400_000;
        let a = |max_age, expires| CookieAttributes { max_age, expires, ..Default::default() };
        assert_eq!(ttl_ms(&a(Some(5000), Some(now + 1)), now, day), 5000);
        assert_eq!(ttl_ms(&a(None, Some(now + 7000)), now, day), 7000);
        assert_eq!(ttl_ms(&a(Some(0), None), now, day), day);
        assert_eq!(ttl_ms(&a(None, None), now, day), day);
        assert_eq!(ttl_ms(&a(Some(-1), None), now, day), -1);
        assert_eq!(ttl_ms(&a(None, Some(now - 5)), now, day), -5);
        // Months and overflow.
        assert_eq!(ttl_ms(&a(Some(90 * day), None), now, day), 90 * day);
        assert_eq!(ttl_ms(&a(Some(i64::MAX), None), now, day), MAX_TTL_MS);
        assert_eq!(ttl_ms(&a(None, Some(i64::MAX)), i64::MIN, day), MAX_TTL_MS);
        let big = session_cookie(r#"{"cookie":{"maxAge":1e300}}"#, &CookieAttributes::default()).unwrap();
        assert_eq!(big.max_age, Some(MAX_TTL_MS));
    }

    #[test]
    fn record_rules() {
        use crate::limits::{MAX_DEPTH, MAX_RECORD_BYTES};
        let deep = |d: usize| format!("{}{}", "{\"a\":".repeat(d - 1) + "{}", "}".repeat(d - 1));
        assert_eq!(check_record(r#"{"cookie":{"maxAge":5},"n":[1,{"x":null}]}"#), Ok(()));
        assert_eq!(check_record(r#"{"cookie":null}"#), Ok(()));
        assert_eq!(check_record("{}"), Ok(()));
        assert_eq!(check_record(&deep(MAX_DEPTH)), Ok(()));
        assert_eq!(check_record(&deep(MAX_DEPTH + 1)), Err(RecordError::TooDeep));
        assert_eq!(check_record(&deep(20_000)), Err(RecordError::TooDeep));
        let big = format!(r#"{{"b":"{}"}}"#, "x".repeat(MAX_RECORD_BYTES));
        assert_eq!(check_record(&big), Err(RecordError::TooLarge));
        for bad in ["[]", "null", "", "{", "{} {}", r#"{"a":}"#, "\"{}\""] {
            assert_eq!(check_record(bad), Err(RecordError::NotAnObject), "{bad}");
        }
        for cookie in ["5", "\"x\"", "[]", "true", "[{}]"] {
            let j = format!(r#"{{"cookie":{cookie}}}"#);
            assert_eq!(check_record(&j), Err(RecordError::CookieNotAnObject), "{j}");
        }
        // A repeated key counts by its last value, as JSON.parse reads it.
        assert_eq!(check_record(r#"{"cookie":5,"cookie":{}}"#), Ok(()));
        assert_eq!(check_record(r#"{"cookie":{},"cookie":5}"#), Err(RecordError::CookieNotAnObject));
        // A nested `cookie` is the application's.
        assert_eq!(check_record(r#"{"user":{"cookie":5}}"#), Ok(()));
        // A member a cookie cannot be made from is refused here too (found by the set_cookie
        // fuzz target): what check_record accepts, session_cookie reads.
        let out_of_range = r#"{"cookie":{"expires":-1e320}}"#;
        assert!(check_record(out_of_range).is_err());
        assert_eq!(check_record(out_of_range).err(), session_cookie(out_of_range, &CookieAttributes::default()).err());
    }

    #[test]
    fn every_valid_record_gives_cookie_attributes() {
        let base = CookieAttributes::default();
        for j in [r#"{"cookie":{"maxAge":1},"cookie":{"maxAge":2}}"#, r#"{"cookie":{"maxAge":1,"maxAge":"x"}}"#, r#"{"cookie":null}"#] {
            assert_eq!(check_record(j), Ok(()));
            assert!(session_cookie(j, &base).is_ok(), "{j}");
        }
        assert_eq!(session_cookie(r#"{"cookie":{"maxAge":1},"cookie":{"maxAge":2}}"#, &base).unwrap().max_age, Some(2));
        assert_eq!(session_cookie(r#"{"cookie":5}"#, &base), Err(RecordError::CookieNotAnObject));
    }

    #[test]
    fn object_check() {
        assert!(is_json_object(" {\"a\":[1,{}]} "));
        assert!(!is_json_object("{\"a\":"));
        assert!(!is_json_object("[]"));
        assert!(!is_json_object("null"));
        assert!(!is_json_object("{} {}"));
    }
}
