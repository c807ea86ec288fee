//! Property tests of commits that merge: diffing then applying gives back the request's
//! session, merging onto another record keeps that record's untouched values byte for byte,
//! and merges of disjoint changes commute.

use koa_session_core::merge::{apply, Changes};
use proptest::prelude::*;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// JSON value texts, exotic ones included: they must survive as written.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("9007199254740993".to_owned()),
        Just("0.1".to_owned()),
        Just("1e300".to_owned()),
        Just("-0".to_owned()),
        Just("1.50".to_owned()),
        Just(r#""\u00e9\ud83e\udd80""#.to_owned()),
        Just(r#""\ud800""#.to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-z\u{e9}\u{1f980} ]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(inner, 0..3).prop_map(|v| {
                let members: Vec<String> = v.iter().enumerate().map(|(i, x)| format!(r#" "k{i}" : {x} "#)).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// A key as written: a few names so keys collide, sometimes spelled with an escape.
fn key() -> impl Strategy<Value = String> {
    (0..6u8, any::<bool>()).prop_map(|(n, escaped)| {
        let c = (b'a' + n) as char;
        if escaped {
            format!(r#""\u{:04x}""#, c as u32)
        } else {
            format!(r#""{c}""#)
        }
    })
}

/// An object text, repeated keys possible.
fn object() -> impl Strategy<Value = String> {
    proptest::collection::vec((key(), value()), 0..8).prop_map(|members| {
        let members: Vec<String> = members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        format!("{{{}}}", members.join(","))
    })
}

/// The object as `JSON.parse` sees it: decoded key -> value text (last one wins), plus the
/// order of first appearance.
fn members(json: &str) -> (HashMap<String, String>, Vec<String>) {
    let raw = pairs(json);
    let mut map = HashMap::new();
    let mut order = Vec::new();
    for (k, v) in raw {
        let k: String = serde_json::from_str(k.get()).unwrap();
        if !map.contains_key(&k) {
            order.push(k.clone());
        }
        map.insert(k, v.get().to_owned());
    }
    (map, order)
}

fn pairs(json: &str) -> Vec<(&RawValue, &RawValue)> {
    use serde::de::{Deserializer, MapAccess, Visitor};
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(&'de RawValue, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(k) = m.next_key()? {
                out.push((k, m.next_value()?));
            }
            Ok(out)
        }
    }
    serde_json::Deserializer::from_str(json).deserialize_map(V).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn apply_of_the_diff_gives_the_request_session(original in object(), current in object()) {
        let changes = Changes::between(&original, &current).unwrap();
        let got = apply(&original, &changes).unwrap();
        let (want, current_order) = members(&current);
        let (have, order) = members(&got);
        prop_assert_eq!(&have, &want);
        // Keys the original had keep its order; new keys follow in the request's order.
        let (_, original_order) = members(&original);
        let kept: Vec<&String> = original_order.iter().filter(|k| want.contains_key(*k)).collect();
        let added: Vec<&String> = current_order.iter().filter(|k| !original_order.contains(k)).collect();
        prop_assert_eq!(order.iter().collect::<Vec<_>>(), kept.into_iter().chain(added).collect::<Vec<_>>());
    }

    #[test]
    fn merging_onto_another_record_keeps_its_untouched_values(record in object(), original in object(), current in object()) {
        let changes = Changes::between(&original, &current).unwrap();
        let got = apply(&record, &changes).unwrap();
        let (r, _) = members(&record);
        let (o, _) = members(&original);
        let (c, _) = members(&current);
        let (m, _) = members(&got);
        for (k, v) in &c {
            if o.get(k) != Some(v) {
                prop_assert_eq!(m.get(k), Some(v), "key {} was set by the request", k);
            }
        }
        for (k, v) in &r {
            let set = c.get(k).is_some_and(|cv| o.get(k) != Some(cv));
            let removed = o.contains_key(k) && !c.contains_key(k);
            if removed {
                prop_assert!(!m.contains_key(k), "key {} was removed by the request", k);
            } else if !set {
                prop_assert_eq!(m.get(k), Some(v), "key {} is the record's, untouched", k);
            }
        }
        for k in m.keys() {
            prop_assert!(r.contains_key(k) || c.contains_key(k), "key {} came from nowhere", k);
        }
        // The result is a valid object that diffs to nothing against itself.
        prop_assert!(Changes::between(&got, &got).unwrap().is_empty());
    }

    #[test]
    fn disjoint_changes_commute(base in object(), a in object(), b in object()) {
        // Request A changes only keys a..c, request B only d..f, both from `base`.
        let (bm, _) = members(&base);
        let only = |json: &str, keep: fn(&str) -> bool| -> String {
            let (m, order) = members(json);
            let mut out: Vec<String> = bm.iter().filter(|(k, _)| !keep(k)).map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap())).collect();
            out.extend(order.iter().filter(|k| keep(k)).map(|k| format!("{}:{}", serde_json::to_string(k).unwrap(), m[k])));
            format!("{{{}}}", out.join(","))
        };
        let (ja, jb) = (only(&a, |k| k <= "c"), only(&b, |k| k > "c"));
        let (da, db) = (Changes::between(&base, &ja).unwrap(), Changes::between(&base, &jb).unwrap());
        let ab = apply(&apply(&base, &da).unwrap(), &db).unwrap();
        let ba = apply(&apply(&base, &db).unwrap(), &da).unwrap();
        prop_assert_eq!(members(&ab).0, members(&ba).0);
    }

    #[test]
    fn never_panics_on_arbitrary_text(record in ".{0,64}", original in ".{0,32}", current in ".{0,32}") {
        if let Ok(changes) = Changes::between(&original, &current) {
            let _ = apply(&record, &changes);
        }
        let _ = apply(&record, &Changes::default());
    }
}
