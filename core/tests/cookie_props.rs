//! Property tests: the cookie parser and the request state machine never panic on arbitrary
//! bytes, and formatting then parsing a cookie gives back what was written.

use koa_session_core::cookie_header::{cookie_pairs, get_cookie};
use koa_session_core::set_cookie::{format_set_cookie, CookieAttributes};
use koa_session_core::{Next, SessionConfig, SessionRequest};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}"
}

fn value() -> impl Strategy<Value = String> {
    // Cookie values as they travel: printable ASCII without ';', spaces, quotes or commas.
    "[A-Za-z0-9!#$%&'()*+./:<=>?@\\[\\]^_`{|}~-]{0,64}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics(header in proptest::collection::vec(any::<u8>(), 0..512), n in "[ -~]{0,10}") {
        let _ = cookie_pairs(&header).count();
        let _ = get_cookie(&header, &n);
    }

    #[test]
    fn state_machine_never_panics(header in proptest::collection::vec(any::<u8>(), 0..256), path in ".{0,20}") {
        let cfg = SessionConfig::builder().keys(["k1", "k2"]).path(Some("/a".into())).build().unwrap();
        let _ = SessionRequest::begin(&cfg, Some(&header), Some(&path), None).map(|r| r.next() == Next::NeedSid);
    }

    #[test]
    fn format_then_parse_round_trips(pairs in proptest::collection::vec((name(), value()), 1..6), max_age in proptest::option::of(-1_000_000_000i64..1_000_000_000)) {
        let attrs = CookieAttributes { max_age, ..Default::default() };
        let mut header = String::new();
        for (n, v) in &pairs {
            let set = format_set_cookie(n, v, &attrs, 1_795_198_123_456).unwrap();
            // A browser sends back only the `name=value` part.
            let sent = set.split(';').next().unwrap();
            if !header.is_empty() { header.push_str("; "); }
            header.push_str(sent);
        }
        for (n, v) in &pairs {
            let first = pairs.iter().find(|(m, _)| m == n).unwrap();
            let expected = if first.1.is_empty() { "" } else { first.1.as_str() };
            let got = get_cookie(header.as_bytes(), n).unwrap();
            // Quoted values come back unquoted, as in Koa.
            let expected = expected.strip_prefix('"').and_then(|e| e.strip_suffix('"')).unwrap_or(expected);
            prop_assert_eq!(got, expected.as_bytes(), "value {:?}", v);
        }
    }

    #[test]
    fn formatter_rejects_every_control_character(prefix in value(), c in prop_oneof![0u8..0x20, Just(0x7f), Just(b';')], suffix in value()) {
        let v = format!("{prefix}{}{suffix}", c as char);
        prop_assert!(format_set_cookie("n", &v, &CookieAttributes::default(), 0).is_err());
    }
}
