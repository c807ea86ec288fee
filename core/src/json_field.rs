//! One top-level field of a session's JSON, found while parsing: only that value is built and
//! every other one is skipped. Hosts without a JSON library of their own (the C API) read
//! fields this way on every request, where parsing the whole object into a map cost more than
//! the rest of a read-only request.

use crate::record::NotAnObject;
use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The value of the top-level field `key` of the JSON object `json`, `None` when absent. A
/// repeated key gives its last value, as parsing into a map does. Anything but one well-formed
/// JSON object is an error.
pub fn get_field(json: &str, key: &str) -> Result<Option<Value>, NotAnObject> {
    let mut de = serde_json::Deserializer::from_str(json);
    let found = FieldOf(key).deserialize(&mut de).map_err(|_| NotAnObject)?;
    de.end().map_err(|_| NotAnObject)?;
    Ok(found)
}

struct FieldOf<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for FieldOf<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldOf<'_> {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(wanted) = map.next_key_seed(KeyIs(self.0))? {
            if wanted {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Compares an object key (unescaped) with the wanted one without allocating it.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    /// What the whole-object parse gives, the behaviour `get_field` must keep.
    fn via_map(j: &str, key: &str) -> Result<Option<Value>, NotAnObject> {
        match serde_json::from_str::<Value>(j) {
            Ok(Value::Object(map)) => Ok(Map::get(&map, key).cloned()),
            _ => Err(NotAnObject),
        }
    }

    #[test]
    fn finds_top_level_fields_like_a_parsed_map() {
        let j = r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"user":"nested"},"user":"alice","n":3,
                   "list":[1,{"user":0}],"nil":null,"f":1.5e3,"esc":"a\"b\u00e9","k\u0065y":true}"#;
        for key in ["cookie", "user", "n", "list", "nil", "f", "esc", "key", "missing", "", "httpOnly"] {
            assert_eq!(get_field(j, key), via_map(j, key), "{key}");
        }
        assert_eq!(get_field(j, "user"), Ok(Some(json!("alice"))));
        assert_eq!(get_field(j, "nil"), Ok(Some(Value::Null)));
        assert_eq!(get_field(j, "httpOnly"), Ok(None), "only top-level fields");
        assert_eq!(get_field(j, "list").unwrap().unwrap().to_string(), r#"[1,{"user":0}]"#);
    }

    #[test]
    fn a_repeated_key_gives_its_last_value() {
        let j = r#"{"a":1,"b":2,"a":{"x":[3]}}"#;
        assert_eq!(get_field(j, "a"), Ok(Some(json!({"x": [3]}))));
        assert_eq!(get_field(j, "a"), via_map(j, "a"));
    }

    #[test]
    fn anything_but_one_object_is_an_error() {
        for j in ["", "[]", "3", "\"s\"", "null", "{", r#"{"a":}"#, r#"{"a":1} x"#, r#"{"a":1}{}"#, r#"{"a" 1}"#, "{1:2}"] {
            assert_eq!(get_field(j, "a"), Err(NotAnObject), "{j}");
            assert_eq!(via_map(j, "a"), Err(NotAnObject), "{j}");
        }
        assert_eq!(get_field("  {} \n", "a"), Ok(None));
        // Invalid JSON after the wanted field still fails: the whole text is checked.
        assert_eq!(get_field(r#"{"a":1,"b":[}"#, "a"), Err(NotAnObject));
    }
}
