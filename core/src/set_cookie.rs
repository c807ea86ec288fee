//! Writing `Set-Cookie` values byte-identical to Koa's `ctx.cookies.set` (the `cookies`
//! module): lowercase attributes in the order path, expires, domain, priority, samesite,
//! secure, httponly, partitioned; `maxAge` becomes an `expires` date.

use crate::http_date::push_http_date;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

impl SameSite {
    /// Accepts what Koa accepts: `strict`, `lax`, `none` in any case.
    pub fn parse(s: &str) -> Option<SameSite> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Some(SameSite::Strict),
            "lax" => Some(SameSite::Lax),
            "none" => Some(SameSite::None),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "strict",
            SameSite::Lax => "lax",
            SameSite::None => "none",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl Priority {
    pub fn parse(s: &str) -> Option<Priority> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Priority::Low),
            "medium" => Some(Priority::Medium),
            "high" => Some(Priority::High),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

/// Cookie attributes, with Koa's defaults (`path=/`, `httponly`).
#[derive(Clone, Debug, PartialEq)]
pub struct CookieAttributes {
    pub path: Option<String>,
    pub domain: Option<String>,
    /// Lifetime in milliseconds; 0 (like JavaScript's falsy 0) means a browser-session cookie.
    pub max_age: Option<i64>,
    /// Absolute expiry, unix milliseconds; ignored when `max_age` is set and non-zero.
    pub expires: Option<i64>,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: Option<SameSite>,
    pub priority: Option<Priority>,
    pub partitioned: bool,
}

impl Default for CookieAttributes {
    fn default() -> Self {
        CookieAttributes {
            path: Some("/".into()),
            domain: None,
            max_age: None,
            expires: None,
            http_only: true,
            secure: false,
            same_site: None,
            priority: None,
            partitioned: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieError {
    InvalidName,
    InvalidValue,
    InvalidPath,
    InvalidDomain,
    /// A `secure` cookie on a plain-HTTP request, refused as Koa's cookies refuse it; the
    /// message says which setting asked for it and how to fix it.
    SecureOverHttp,
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CookieError::InvalidName => "cookie name is invalid: it needs 1 or more printable ASCII characters and no ';' or '='",
            CookieError::InvalidValue => "cookie value is invalid: only printable ASCII without ';' is allowed",
            CookieError::InvalidPath => "cookie path is invalid: only printable ASCII without ';' is allowed",
            CookieError::InvalidDomain => "cookie domain is invalid: only printable ASCII without ';' is allowed",
            CookieError::SecureOverHttp => {
                "Cannot send secure cookie over unencrypted connection: the session cookie is secure \
                 (option cookieOptions.secure, or the session's own cookie.secure) but this request came over plain HTTP. \
                 Behind a TLS proxy, trust its X-Forwarded-Proto: https (Koa: app.proxy = true; C: commit with plain_http false); \
                 in development over HTTP, set cookieOptions.secure: false"
            }
        })
    }
}

impl std::error::Error for CookieError {}

/// Printable ASCII (space through `~`) minus the characters listed in `forbidden`. Stricter
/// than Koa (which lets `;` through in paths, and tabs and Latin-1 everywhere) because each of
/// those lets a value inject attributes or breaks on the way through other servers.
fn is_clean(s: &str, forbidden: &[u8]) -> bool {
    s.bytes().all(|b| (0x20..=0x7e).contains(&b) && !forbidden.contains(&b))
}

pub(crate) fn check_name(name: &str) -> Result<(), CookieError> {
    if name.is_empty() || !is_clean(name, b";= ") {
        return Err(CookieError::InvalidName);
    }
    Ok(())
}

pub(crate) fn check_value(value: &str) -> Result<(), CookieError> {
    if !is_clean(value, b";") {
        return Err(CookieError::InvalidValue);
    }
    Ok(())
}

impl CookieAttributes {
    /// Checks the attributes that come from configuration.
    pub fn validate(&self) -> Result<(), CookieError> {
        if let Some(p) = &self.path {
            if !is_clean(p, b";") {
                return Err(CookieError::InvalidPath);
            }
        }
        if let Some(d) = &self.domain {
            if !is_clean(d, b";") {
                return Err(CookieError::InvalidDomain);
            }
        }
        Ok(())
    }

    /// The absolute expiry this cookie gets when written at `now_ms`, if any.
    pub fn expiry_at(&self, now_ms: i64) -> Option<i64> {
        match self.max_age {
            Some(ms) if ms != 0 => Some(now_ms.saturating_add(ms)),
            _ => self.expires,
        }
    }
}

/// Formats one `Set-Cookie` value. An empty `value` clears the cookie, as in Koa: its expiry
/// becomes the epoch whatever the attributes say.
pub fn format_set_cookie(name: &str, value: &str, attrs: &CookieAttributes, now_ms: i64) -> Result<String, CookieError> {
    check_name(name)?;
    check_value(value)?;
    attrs.validate()?;
    let expires = if value.is_empty() { Some(0) } else { attrs.expiry_at(now_ms) };
    let mut out = String::with_capacity(name.len() + value.len() + 96);
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    if let Some(path) = attrs.path.as_deref().filter(|p| !p.is_empty()) {
        out.push_str("; path=");
        out.push_str(path);
    }
    if let Some(at) = expires {
        out.push_str("; expires=");
        push_http_date(&mut out, at);
    }
    if let Some(domain) = attrs.domain.as_deref().filter(|d| !d.is_empty()) {
        out.push_str("; domain=");
        out.push_str(domain);
    }
    if let Some(p) = attrs.priority {
        out.push_str("; priority=");
        out.push_str(p.as_str());
    }
    if let Some(s) = attrs.same_site {
        out.push_str("; samesite=");
        out.push_str(s.as_str());
    }
    if attrs.secure {
        out.push_str("; secure");
    }
    if attrs.http_only {
        out.push_str("; httponly");
    }
    if attrs.partitioned {
        out.push_str("; partitioned");
    }
    Ok(out)
}

/// A `Set-Cookie` value that removes `name` (same path and domain as when it was set).
pub fn format_clear_cookie(name: &str, attrs: &CookieAttributes) -> Result<String, CookieError> {
    format_set_cookie(name, "", attrs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_198_123_456; // Fri, 20 Nov 2026 18:08:43 GMT

    #[test]
    fn matches_koa_output() {
        // new Cookies(req, res).set('koa.sid', 'abc', { maxAge: 86400000 }) at NOW
        let attrs = CookieAttributes { max_age: Some(86_400_000), ..Default::default() };
        assert_eq!(
            format_set_cookie("koa.sid", "abc", &attrs, NOW).unwrap(),
            "koa.sid=abc; path=/; expires=Sat, 21 Nov 2026 18:08:43 GMT; httponly"
        );
        let all = CookieAttributes {
            path: Some("/app".into()),
            domain: Some("example.com".into()),
            max_age: Some(1000),
            expires: Some(0),
            http_only: true,
            secure: true,
            same_site: Some(SameSite::Lax),
            priority: Some(Priority::High),
            partitioned: true,
        };
        assert_eq!(
            format_set_cookie("s", "v", &all, NOW).unwrap(),
            "s=v; path=/app; expires=Fri, 20 Nov 2026 18:08:44 GMT; domain=example.com; priority=high; samesite=lax; secure; httponly; partitioned"
        );
        let session_cookie = CookieAttributes { max_age: Some(0), http_only: false, path: None, ..Default::default() };
        assert_eq!(format_set_cookie("s", "v", &session_cookie, NOW).unwrap(), "s=v");
        let expires = CookieAttributes { expires: Some(NOW), ..Default::default() };
        assert_eq!(format_set_cookie("s", "v", &expires, 0).unwrap(), "s=v; path=/; expires=Fri, 20 Nov 2026 18:08:43 GMT; httponly");
    }

    #[test]
    fn clearing() {
        let attrs = CookieAttributes { max_age: Some(5), domain: Some("d.example".into()), ..Default::default() };
        assert_eq!(
            format_clear_cookie("koa.sid", &attrs).unwrap(),
            "koa.sid=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; domain=d.example; httponly"
        );
    }

    #[test]
    fn rejects_injection() {
        let a = CookieAttributes::default();
        assert_eq!(format_set_cookie("koa.sid", "a;b", &a, NOW), Err(CookieError::InvalidValue));
        assert_eq!(format_set_cookie("koa.sid", "a\nb", &a, NOW), Err(CookieError::InvalidValue));
        assert_eq!(format_set_cookie("koa.sid", "a\rb", &a, NOW), Err(CookieError::InvalidValue));
        assert_eq!(format_set_cookie("koa.sid", "\u{e9}", &a, NOW), Err(CookieError::InvalidValue));
        assert_eq!(format_set_cookie("a=b", "v", &a, NOW), Err(CookieError::InvalidName));
        assert_eq!(format_set_cookie("", "v", &a, NOW), Err(CookieError::InvalidName));
        let p = CookieAttributes { path: Some("/;secure".into()), ..Default::default() };
        assert_eq!(format_set_cookie("n", "v", &p, NOW), Err(CookieError::InvalidPath));
        let d = CookieAttributes { domain: Some("x\0y".into()), ..Default::default() };
        assert_eq!(format_set_cookie("n", "v", &d, NOW), Err(CookieError::InvalidDomain));
    }
}
