//! What the engine reads inside a session's JSON: only its `cookie` field, the per-session
//! cookie options (a "remember me" login may carry a longer maxAge), from which the cookie's
//! attributes and the store TTL follow. Every other field is the application's.

use crate::http_date::parse_iso8601;
use crate::set_cookie::CookieAttributes;
use serde::Deserialize;
use serde_json::Value;

/// Longest store TTL and cookie lifetime: ten years. Larger values (or overflowing ones)
/// are clamped, so no store or date arithmetic ever overflows.
pub const MAX_TTL_MS: i64 = 10 * 365 * 86_400_000;

#[derive(Deserialize, Default)]
struct Record {
    #[serde(default)]
    cookie: Option<CookieField>,
}

/// Deserializes a field that is present (even as `null`) to `Some`, so `"maxAge": null`
/// (a browser-session cookie) differs from a missing maxAge (the configured one).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CookieField {
    #[serde(default, deserialize_with = "present")]
    max_age: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    maxage: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    expires: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    http_only: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    secure: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnObject;

impl std::fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("session data is not a JSON object")
    }
}
impl std::error::Error for NotAnObject {}

/// Whether `json` is one well-formed JSON object (what a session record must be).
pub fn is_json_object(json: &str) -> bool {
    json.trim_start().starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok()
}

fn ms(v: &Value) -> Option<i64> {
    let f = v.as_f64()?;
    f.is_finite().then(|| f.clamp(-(MAX_TTL_MS as f64), MAX_TTL_MS as f64) as i64)
}

/// The cookie attributes of a session: the configured ones, with the lifetime (`maxAge`,
/// `expires`) taken from the session's own `cookie` field where that holds a usable value, and
/// `secure`/`httpOnly` turned on when the record asks. Everything else (path, domain, sameSite,
/// priority, partitioned) comes from the configuration, so a record can neither move its cookie
/// where clearing would not reach it nor weaken what the application configured.
pub fn session_cookie(json: &str, base: &CookieAttributes) -> Result<CookieAttributes, NotAnObject> {
    if !json.trim_start().starts_with('{') {
        return Err(NotAnObject);
    }
    let record: Record = serde_json::from_str(json).map_err(|_| NotAnObject)?;
    let mut attrs = base.clone();
    let Some(c) = record.cookie else { return Ok(attrs) };
    match c.max_age.as_ref().or(c.maxage.as_ref()) {
        Some(Value::Null) => attrs.max_age = Some(0),
        Some(Value::String(s)) if s == "session" => attrs.max_age = Some(0),
        Some(v) => {
            if let Some(m) = ms(v) {
                attrs.max_age = Some(m)
            }
        }
        None => {}
    }
    match &c.expires {
        Some(Value::Null) => attrs.expires = None,
        Some(Value::String(s)) => {
            if let Some(at) = parse_iso8601(s) {
                attrs.expires = Some(at)
            }
        }
        Some(v @ Value::Number(_)) => {
            if let Some(at) = v.as_f64().filter(|f| f.is_finite()) {
                attrs.expires = Some(at as i64)
            }
        }
        _ => {}
    }
    // `httpOnly` is the session's own choice either way, as in koa-session and
    // koa-generic-session (a page script may need to read its cookie). `secure` may only be
    // turned on: a record written before the application turned `secure` on must not keep
    // sending its cookie over plain HTTP.
    if let Some(Value::Bool(on)) = c.http_only {
        attrs.http_only = on;
    }
    if let Some(Value::Bool(true)) = c.secure {
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
    fn object_check() {
        assert!(is_json_object(" {\"a\":[1,{}]} "));
        assert!(!is_json_object("{\"a\":"));
        assert!(!is_json_object("[]"));
        assert!(!is_json_object("null"));
        assert!(!is_json_object("{} {}"));
    }
}
