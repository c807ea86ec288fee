//! Independent statements of what the engine must do, written here from the specifications
//! (Koa's `cookies` module, keygrip, RFC 6265) rather than taken from the engine, so a
//! target compares two implementations instead of checking the engine against itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use regex::bytes::Regex;
use sha1::Sha1;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// What Koa's `ctx.cookies.get(name)` (cookies 0.9) returns for a raw header: the first
/// match of `(?:^|;) *NAME=([^;]*)`, then the first and last character dropped when the value
/// starts with `"`. Node reads header bytes as Latin-1, so matching bytes is the same.
pub fn koa_cookie_get(header: &[u8], name: &str) -> Option<Vec<u8>> {
    // Compiled once per name: the targets ask for a handful of names millions of times.
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let re = {
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
        cache
            .entry(name.to_owned())
            .or_insert_with(|| Regex::new(&format!("(?-u)(?:^|;) *{}=([^;]*)", regex::escape(name))).expect("a valid pattern"))
            .clone()
    };
    let value = re.captures(header)?.get(1)?.as_bytes();
    Some(match value {
        [b'"', ..] if value.len() >= 2 => value[1..value.len() - 1].to_vec(),
        [b'"'] => Vec::new(),
        _ => value.to_vec(),
    })
}

/// keygrip's signature: base64url without padding of HMAC-SHA1(key, data).
pub fn keygrip_sign(key: &[u8], data: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("any key length");
    mac.update(data);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A session id as the engine may adopt or make one: 1..=256 printable ASCII characters
/// (no space), no `;`.
pub fn is_sid(s: &[u8]) -> bool {
    (1..=256).contains(&s.len()) && s.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b';')
}

/// The configured attributes a Set-Cookie value may carry, for [`check_set_cookie`].
pub struct Allowed<'a> {
    pub names: &'a [&'a str],
    pub path: Option<&'a str>,
    pub domain: Option<&'a str>,
}

fn is_http_date(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"(?-u)^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-5][0-9] GMT$").unwrap());
    re.is_match(s.as_bytes())
}

/// Checks one Set-Cookie value: `name=value` with a known name and a value of cookie
/// characters (no `;`, CR, LF, other controls, spaces or non-ASCII), then only known
/// attributes, each at most once, in Koa's order, with the configured path and domain.
/// Returns `(name, value, expires)`.
pub fn check_set_cookie<'c>(cookie: &'c str, allowed: &Allowed<'_>) -> (&'c str, &'c str, Option<&'c str>) {
    assert!(cookie.bytes().all(|b| (0x20..=0x7e).contains(&b)), "control or non-ASCII byte in {cookie:?}");
    let mut parts = cookie.split("; ");
    let first = parts.next().unwrap();
    let (name, value) = first.split_once('=').unwrap_or_else(|| panic!("no '=' in {cookie:?}"));
    assert!(allowed.names.contains(&name), "unexpected cookie name in {cookie:?}");
    assert!(value.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b';'), "bad value in {cookie:?}");
    const ORDER: [&str; 8] = ["path", "expires", "domain", "priority", "samesite", "secure", "httponly", "partitioned"];
    let mut last = None;
    let mut expires = None;
    for attr in parts {
        let (key, val) = match attr.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (attr, None),
        };
        let at = ORDER.iter().position(|k| *k == key).unwrap_or_else(|| panic!("unknown attribute {attr:?} in {cookie:?}"));
        assert!(last.is_none_or(|l| l < at), "attribute out of order or repeated in {cookie:?}");
        last = Some(at);
        match (key, val) {
            ("path", Some(v)) => assert_eq!(Some(v), allowed.path, "path in {cookie:?}"),
            ("domain", Some(v)) => assert_eq!(Some(v), allowed.domain, "domain in {cookie:?}"),
            ("expires", Some(v)) => {
                assert!(is_http_date(v), "bad date in {cookie:?}");
                expires = Some(v);
            }
            ("priority", Some(v)) => assert!(["low", "medium", "high"].contains(&v), "{cookie:?}"),
            ("samesite", Some(v)) => assert!(["strict", "lax", "none"].contains(&v), "{cookie:?}"),
            ("secure" | "httponly" | "partitioned", None) => {}
            _ => panic!("malformed attribute {attr:?} in {cookie:?}"),
        }
    }
    (name, value, expires)
}

/// The `secure` and `httpOnly` members of a session record's `cookie` field as `JSON.parse`
/// reads the record (the last of a repeated key): `Some` only for a boolean, `None` when the
/// field or the member is absent, `null` or anything else. Read here with serde's own maps of
/// raw values, not with the engine's reader, and without interpreting any other value (a
/// record may hold numbers beyond f64). `json` must be a record `check_record` accepted.
pub fn record_cookie_flags(json: &str) -> (Option<bool>, Option<bool>) {
    use serde_json::value::RawValue;
    type Object<'a> = HashMap<String, &'a RawValue>;
    let record: Object = serde_json::from_str(json).expect("an accepted record is an object");
    let cookie: Option<Object> = record.get("cookie").and_then(|c| serde_json::from_str(c.get()).ok());
    let flag = |name: &str| match cookie.as_ref()?.get(name)?.get() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    (flag("secure"), flag("httpOnly"))
}

/// The user a session record names under the `userField` path `path` (issue 19), read as the
/// README states the rule, with serde's own maps of raw values rather than the engine's
/// reader: `Ok(None)` when the field, or an object on its path, is absent or `null`;
/// `Ok(Some(id))` for a non-empty string of at most 512 bytes (its value) or a number (its
/// JSON text: `42` and `"42"` are one user); `Err` for anything else (a boolean, an object,
/// an array, an empty or too long string, or a non-object where the path goes on).
/// `json` must be a record `check_record` accepted (a JSON object).
pub fn record_user(json: &str, path: &[&str]) -> Result<Option<String>, &'static str> {
    use serde_json::value::RawValue;
    type Object<'a> = HashMap<String, &'a RawValue>;
    let mut object: Object = serde_json::from_str(json).expect("an accepted record is an object");
    let (last, walk) = path.split_last().expect("a non-empty path");
    for name in walk {
        let Some(raw) = object.get(*name).map(|r| r.get()) else { return Ok(None) };
        if raw == "null" {
            return Ok(None);
        }
        object = serde_json::from_str(raw).map_err(|_| "not an object on the path")?;
    }
    let Some(raw) = object.get(*last).map(|r| r.get()) else { return Ok(None) };
    match raw.as_bytes()[0] {
        b'n' => Ok(None),
        b'"' => {
            let s: String = serde_json::from_str(raw).expect("a JSON string");
            if s.is_empty() || s.len() > 512 {
                Err("an empty or too long string")
            } else {
                Ok(Some(s))
            }
        }
        b'-' | b'0'..=b'9' => Ok(Some(raw.to_owned())),
        _ => Err("a boolean, an object or an array"),
    }
}
