//! Reading the request's `Cookie` header exactly as Koa's `cookies` module (0.9) reads it.
//!
//! `cookies` finds a value with the pattern `(?:^|;) *NAME=([^;]*)` (first match wins), then
//! drops the first and last character when the value starts with `"`. So: only spaces (not
//! tabs) may come before the name, nothing between the name and `=`, and the value is
//! everything up to the next `;`, spaces included (`koa.sid= SID` gives ` SID`, which is
//! no valid id). Both sides agreeing matters because a Koa app and a C server may share one
//! cookie: the same header must name the same session, or none, in both.
//!
//! A hostile or sloppy client may send anything: duplicates, quoted values, pairs without
//! `=`, empty names, non-UTF-8 bytes. The parser works on bytes (Node reads header bytes as
//! Latin-1, one character per byte, so the byte rules are the same), never allocates and
//! never fails.

/// Iterates the `(name, value)` pairs of a raw Cookie header, in order, the way
/// [`get_cookie`] reads them: leading spaces before a name are skipped, the name runs to the
/// first `=`, the value to the next `;` (unquoted as Koa does). Segments without `=` or with an
/// empty name are skipped. For any non-empty name without `;` or `=`, [`get_cookie`] gives the value of
/// the first pair with that name.
pub fn cookie_pairs(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    header.split(|&b| b == b';').filter_map(|segment| {
        let segment = skip_spaces(segment);
        let eq = segment.iter().position(|&b| b == b'=')?;
        let name = &segment[..eq];
        if name.is_empty() {
            return None;
        }
        Some((name, unquote(&segment[eq + 1..])))
    })
}

/// The value of the first cookie called `name`, if any, as Koa's `ctx.cookies.get(name)`
/// returns it (an empty value is `Some(b"")`; Koa treats it as absent, and so do callers).
pub fn get_cookie<'h>(header: &'h [u8], name: &str) -> Option<&'h [u8]> {
    header.split(|&b| b == b';').find_map(|segment| {
        let value = skip_spaces(segment).strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(unquote(value))
    })
}

/// ` *` in the pattern: spaces only.
fn skip_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    s
}

/// `if (value[0] === '"') value = value.slice(1, -1)`: the first and last character go,
/// whatever the last one is (a lone `"` gives an empty value).
fn unquote(s: &[u8]) -> &[u8] {
    match s {
        [b'"', inner @ .., _] => inner,
        [b'"'] => &[],
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(h: &'a str, n: &str) -> Option<&'a str> {
        get_cookie(h.as_bytes(), n).map(|v| std::str::from_utf8(v).unwrap())
    }

    /// Each row was checked against `cookies` 0.9.2:
    /// `new Cookies({headers:{cookie:H}}, null).get(N)` (undefined is `None`).
    #[test]
    fn agrees_with_koa_cookies() {
        let table: &[(&str, &str, Option<&str>)] = &[
            ("a=1; koa.sid=abc; koa.sid.sig=SIG", "koa.sid", Some("abc")),
            ("a=1; koa.sid=abc; koa.sid.sig=SIG", "koa.sid.sig", Some("SIG")),
            ("a=1; koa.sid=abc; koa.sid.sig=SIG", "a", Some("1")),
            ("a=1; koa.sid=abc; koa.sid.sig=SIG", "koa", None),
            ("koa.sid.sig=SIG;koa.sid=abc", "koa.sid", Some("abc")),
            // Values keep their spaces and tabs; only spaces before the name are skipped.
            ("koa.sid= SID", "koa.sid", Some(" SID")),
            ("koa.sid=SID ", "koa.sid", Some("SID ")),
            ("koa.sid=\tSID\t", "koa.sid", Some("\tSID\t")),
            ("   koa.sid=abc", "koa.sid", Some("abc")),
            ("x=y;   koa.sid=abc", "koa.sid", Some("abc")),
            ("\tkoa.sid=abc", "koa.sid", None),
            ("x=y;\tkoa.sid=abc", "koa.sid", None),
            ("koa.sid =abc", "koa.sid", None),
            ("  koa.sid =\t abc  ;x=y", "koa.sid", None),
            // Quotes: the first and last character go when the value starts with `"`.
            ("koa.sid=\"abc\"", "koa.sid", Some("abc")),
            ("koa.sid=\"abc", "koa.sid", Some("ab")),
            ("koa.sid=\"", "koa.sid", Some("")),
            ("koa.sid=\"\"", "koa.sid", Some("")),
            ("koa.sid=abc\"", "koa.sid", Some("abc\"")),
            ("koa.sid= \"abc\"", "koa.sid", Some(" \"abc\"")),
            // First match wins; names are case-sensitive and matched whole.
            ("koa.sid=first; koa.sid=second", "koa.sid", Some("first")),
            ("KOA.SID=x; koa.sid=y", "koa.sid", Some("y")),
            ("xkoa.sid=1; koa.sid=2", "koa.sid", Some("2")),
            ("koa.sidx=1; koa.sid=2", "koa.sid", Some("2")),
            ("koa.sid.sig=s", "koa.sid", None),
            ("garbage;;; =x; novalue; koa.sid=ok", "koa.sid", Some("ok")),
            ("koa.sid=", "koa.sid", Some("")),
            ("koa.sid=a=b", "koa.sid", Some("a=b")),
            ("koa.sid=a,b=c", "koa.sid", Some("a,b=c")),
            ("", "koa.sid", None),
            (";", "koa.sid", None),
        ];
        for (header, name, want) in table {
            assert_eq!(get(header, name), *want, "{header:?} {name}");
        }
        assert_eq!(get_cookie(b"x=\xff\xfe; koa.sid=v", "koa.sid"), Some(&b"v"[..]));
        assert_eq!(get_cookie(b"koa.sid=\xff", "koa.sid"), Some(&b"\xff"[..]));
    }

    #[test]
    fn pairs_agree_with_get_cookie() {
        let h = b" a=1;b = 2;  c=\"q\";d;=e; a=9; f=\xff";
        let pairs: Vec<_> = cookie_pairs(h).collect();
        assert_eq!(
            pairs,
            [(&b"a"[..], &b"1"[..]), (b"b ", b" 2"), (b"c", b"q"), (b"a", b"9"), (b"f", b"\xff")]
        );
        for name in ["a", "b", "b ", "c", "d", "f", "e", ""] {
            if name.is_empty() {
                continue;
            }
            let first = cookie_pairs(h).find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| v);
            assert_eq!(get_cookie(h, name), first, "{name}");
        }
    }
}
