//! The cache headers of a response that sets the session cookie. A shared cache (a CDN, a
//! proxy) that stored such a response could hand one visitor's session cookie to the next
//! one. So, as scs does, such a response says `Vary: Cookie` (a cached copy never answers a
//! request with other cookies) and, unless the application chose its own `Cache-Control`,
//! `Cache-Control: no-cache="Set-Cookie"` (a cache must not reuse the `Set-Cookie` header
//! without asking the server; caches that do not know the qualified form treat it as plain
//! `no-cache`, which is stricter). `private` is not used: it would also keep a shared cache
//! from storing the body of a public page that merely started a session.

/// The `Cache-Control` value set when the application set none.
pub const NO_CACHE_SET_COOKIE: &str = "no-cache=\"Set-Cookie\"";

/// What to set beside the session's `Set-Cookie`: `None` leaves a header as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheHeaders {
    pub cache_control: Option<String>,
    pub vary: Option<String>,
}

/// The headers to set, given the application's own `Cache-Control` and `Vary` (`None` or
/// empty: not set). The application's `Cache-Control` is kept as it is; `Cookie` is added to
/// its `Vary` unless it is there already (in any case) or `Vary` is `*`.
pub fn cache_headers(app_cache_control: Option<&str>, app_vary: Option<&str>) -> CacheHeaders {
    fn set(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    let cache_control = match set(app_cache_control) {
        Some(_) => None,
        None => Some(NO_CACHE_SET_COOKIE.to_owned()),
    };
    let vary = match set(app_vary) {
        None => Some("Cookie".to_owned()),
        Some(v) if v.split(',').map(str::trim).any(|t| t == "*" || t.eq_ignore_ascii_case("cookie")) => None,
        Some(v) => Some(format!("{v}, Cookie")),
    };
    CacheHeaders { cache_control, vary }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_own_headers_are_kept() {
        let h = |cc, v| cache_headers(cc, v);
        assert_eq!(h(None, None), CacheHeaders { cache_control: Some(NO_CACHE_SET_COOKIE.into()), vary: Some("Cookie".into()) });
        assert_eq!(h(Some("public, max-age=60"), Some("Accept-Encoding")), CacheHeaders { cache_control: None, vary: Some("Accept-Encoding, Cookie".into()) });
        assert_eq!(h(Some(" "), Some("accept, cookie")).vary, None);
        assert_eq!(h(Some(""), Some("*")), CacheHeaders { cache_control: Some(NO_CACHE_SET_COOKIE.into()), vary: None });
    }
}
