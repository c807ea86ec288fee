//! Reading the request's `Cookie` header.
//!
//! Browsers send `a=1; b=2`, but a hostile or sloppy client may send anything: duplicates,
//! quoted values, stray whitespace, pairs without `=`, empty names, non-UTF-8 bytes. The
//! parser works on bytes, never allocates, never fails, and like Koa's `cookies` module the
//! first occurrence of a name wins.

/// Iterates the `(name, value)` pairs of a raw Cookie header. Whitespace around names and
/// values is trimmed, a value wrapped in double quotes is unquoted, and segments without
/// `=` or with an empty name are skipped.
pub fn cookie_pairs(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    header.split(|&b| b == b';').filter_map(|segment| {
        let eq = segment.iter().position(|&b| b == b'=')?;
        let name = trim(&segment[..eq]);
        if name.is_empty() {
            return None;
        }
        Some((name, unquote(trim(&segment[eq + 1..]))))
    })
}

/// The value of the first cookie called `name`, if any.
pub fn get_cookie<'h>(header: &'h [u8], name: &str) -> Option<&'h [u8]> {
    cookie_pairs(header).find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| v)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn unquote(s: &[u8]) -> &[u8] {
    match s {
        [b'"', inner @ .., b'"'] => inner,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(h: &'a str, n: &str) -> Option<&'a str> {
        get_cookie(h.as_bytes(), n).map(|v| std::str::from_utf8(v).unwrap())
    }

    #[test]
    fn finds_cookies_in_any_order_and_shape() {
        let h = "a=1; koa.sid=abc; koa.sid.sig=SIG";
        assert_eq!(get(h, "koa.sid"), Some("abc"));
        assert_eq!(get(h, "koa.sid.sig"), Some("SIG"));
        assert_eq!(get(h, "a"), Some("1"));
        assert_eq!(get(h, "koa"), None);
        assert_eq!(get("koa.sid.sig=SIG;koa.sid=abc", "koa.sid"), Some("abc"));
        assert_eq!(get("  koa.sid =\t abc  ;x=y", "koa.sid"), Some("abc"));
        assert_eq!(get("koa.sid=\"abc\"", "koa.sid"), Some("abc"));
        assert_eq!(get("koa.sid=\"abc", "koa.sid"), Some("\"abc"));
        assert_eq!(get("koa.sid=first; koa.sid=second", "koa.sid"), Some("first"));
        assert_eq!(get("garbage;;; =x; novalue; koa.sid=ok", "koa.sid"), Some("ok"));
        assert_eq!(get("koa.sid=", "koa.sid"), Some(""));
        assert_eq!(get("koa.sid=a=b", "koa.sid"), Some("a=b"));
        assert_eq!(get("", "koa.sid"), None);
        assert_eq!(get_cookie(b"x=\xff\xfe; koa.sid=v", "koa.sid"), Some(&b"v"[..]));
        assert_eq!(get_cookie(b"koa.sid=\xff", "koa.sid"), Some(&b"\xff"[..]));
    }
}
