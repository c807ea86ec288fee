//! Property tests: the cookie parser and the request state machine never panic on arbitrary
//! bytes, formatting then parsing a cookie gives back what was written, the parser reads
//! values as Koa's `cookies` does, and signatures verify exactly when nothing was changed.
//! (The fuzz targets in fuzz/ check the same properties against independent oracles.)

use koa_session_core::cookie_header::{cookie_pairs, get_cookie};
use koa_session_core::set_cookie::{format_set_cookie, CookieAttributes};
use koa_session_core::signing::{Keys, Verified};
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

    #[test]
    fn get_cookie_is_the_first_pair_of_that_name(header in proptest::collection::vec(prop_oneof![Just(b';'), Just(b' '), Just(b'='), Just(b'"'), Just(b'\t'), b'a'..b'd'], 0..64), name in "[a-c]{1,2}") {
        let first = cookie_pairs(&header).find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| v);
        prop_assert_eq!(get_cookie(&header, &name), first);
    }

    #[test]
    fn values_keep_their_spaces_as_in_koa(pad_left in "[ \t]{0,3}", pad_right in "[ \t]{0,3}", v in value()) {
        let header = format!("a=1; koa.sid={pad_left}{v}{pad_right}; b=2");
        let raw = format!("{pad_left}{v}{pad_right}");
        let want = match raw.as_bytes() {
            [b'"', inner @ .., _] => inner,
            [b'"'] => &[][..],
            other => other,
        };
        prop_assert_eq!(get_cookie(header.as_bytes(), "koa.sid"), Some(want));
    }

    #[test]
    fn sign_then_verify_round_trips(keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..4), data in proptest::collection::vec(any::<u8>(), 0..100)) {
        let k = Keys::new(&keys).unwrap();
        let sig = k.sign(&data);
        prop_assert_eq!(sig.len(), 27);
        prop_assert_eq!(k.verify(&data, sig.as_bytes()), Some(Verified::Current));
        // After a rotation the old signature still verifies, by the older key, until re-signed.
        let mut rotated = vec![b"a newer key".to_vec()];
        rotated.extend(keys.iter().cloned());
        let r = Keys::new(&rotated).unwrap();
        if keys[0] != rotated[0] {
            prop_assert_eq!(r.verify(&data, sig.as_bytes()), Some(Verified::OlderKey(1)));
        }
    }

    #[test]
    fn any_change_to_value_or_signature_is_refused(key in proptest::collection::vec(any::<u8>(), 1..40), data in proptest::collection::vec(any::<u8>(), 1..100), at in any::<prop::sample::Index>(), flip in 1u8..=255, sig_at in 0usize..27, sig_char in "[A-Za-z0-9_-]") {
        let k = Keys::new([&key]).unwrap();
        let sig = k.sign(&data);
        let mut changed = data.clone();
        let i = at.index(changed.len());
        changed[i] ^= flip;
        prop_assert_eq!(k.verify(&changed, sig.as_bytes()), None);
        let mut bad = sig.clone().into_bytes();
        let c = sig_char.as_bytes()[0];
        prop_assume!(bad[sig_at] != c);
        bad[sig_at] = c;
        prop_assert_eq!(k.verify(&data, &bad), None);
        prop_assert_eq!(k.verify(&data, &sig.as_bytes()[..26]), None);
        let mut longer = sig.clone().into_bytes();
        longer.push(b'A');
        prop_assert_eq!(k.verify(&data, &longer), None);
    }
}
