//! Top-level fields of a session's JSON, found while parsing: only the wanted value is built
//! and every other one is skipped. Hosts without a JSON library of their own (the C API) read
//! and change fields this way on every request, where parsing the whole object into a map
//! cost more than the rest of a read-only request.
//!
//! Changing a field keeps every other field as its exact text ([`RawValue`]), so a record
//! the engine accepted stays readable and writable field by field whatever its other values
//! hold: numbers beyond f64 or lone UTF-16 surrogates (`"\ud800"`, which JavaScript's
//! JSON.stringify writes) pass through untouched.

use crate::limits::check_json_limits;
use crate::record::{check_record, NotAnObject, RecordError};
use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

/// The value of the top-level field `key` of the JSON object `json`, `None` when absent. A
/// repeated key gives its last value, as parsing into a map does. Anything but one well-formed
/// JSON object is an error.
pub fn get_field(json: &str, key: &str) -> Result<Option<Value>, NotAnObject> {
    field_of::<Value>(json, key)
}

/// As [`get_field`], the value as its exact JSON text in `json`.
pub fn get_field_raw<'j>(json: &'j str, key: &str) -> Result<Option<&'j RawValue>, NotAnObject> {
    field_of::<&RawValue>(json, key)
}

/// As [`get_field`], the value read as `T`.
pub(crate) fn field_of<'de, T: Deserialize<'de>>(json: &'de str, key: &str) -> Result<Option<T>, NotAnObject> {
    let mut de = serde_json::Deserializer::from_str(json);
    let found = FieldOf(key, PhantomData).deserialize(&mut de).map_err(|_| NotAnObject)?;
    de.end().map_err(|_| NotAnObject)?;
    Ok(found)
}

/// `json` (a valid record) with its top-level field `key` set to the JSON value `value`,
/// written compact; every other field keeps its exact text and its place (a new key goes
/// last). The result must pass [`check_record`]: a value too deep or too large for a record,
/// or a `cookie` that is not an object, is refused.
pub fn with_field(json: &str, key: &str, value: &str) -> Result<String, RecordError> {
    check_json_limits(value)?;
    let value: Value = serde_json::from_str(value).map_err(|_| RecordError::NotAnObject)?;
    let raw = RawValue::from_string(value.to_string()).map_err(|_| RecordError::NotAnObject)?;
    let mut fields = fields(json)?;
    match fields.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = &*raw,
        None => fields.push((key.to_owned(), &*raw)),
    }
    let out = write_object(&fields);
    check_record(&out)?;
    Ok(out)
}

/// `json` (a valid record) without its top-level field `key`; `None` when there was no such
/// field (nothing to change).
pub fn without_field(json: &str, key: &str) -> Result<Option<String>, RecordError> {
    let mut fields = fields(json)?;
    let Some(at) = fields.iter().position(|(k, _)| k == key) else { return Ok(None) };
    fields.remove(at);
    let out = write_object(&fields);
    check_record(&out)?;
    Ok(Some(out))
}

/// The top-level fields of a record in order, each value as its text. A repeated key keeps
/// its first place and its last value, as `JSON.parse` and a parsed map do.
fn fields(json: &str) -> Result<Vec<(String, &RawValue)>, RecordError> {
    check_record(json)?;
    let mut de = serde_json::Deserializer::from_str(json);
    let fields = de.deserialize_map(Fields(PhantomData)).map_err(|_| RecordError::NotAnObject)?;
    de.end().map_err(|_| RecordError::NotAnObject)?;
    Ok(fields)
}

fn write_object(fields: &[(String, &RawValue)]) -> String {
    let mut out = String::with_capacity(2 + fields.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>());
    out.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(k.as_str()).to_string());
        out.push(':');
        out.push_str(v.get());
    }
    out.push('}');
    out
}

struct Fields<'de>(PhantomData<&'de ()>);

impl<'de> Visitor<'de> for Fields<'de> {
    type Value = Vec<(String, &'de RawValue)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(String, &'de RawValue)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: &'de RawValue = map.next_value()?;
            match index.get(&key) {
                Some(&at) => out[at].1 = value,
                None => {
                    index.insert(key.clone(), out.len());
                    out.push((key, value));
                }
            }
        }
        Ok(out)
    }
}

struct FieldOf<'k, T>(&'k str, PhantomData<T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for FieldOf<'_, T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for FieldOf<'_, T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(wanted) = map.next_key_seed(KeyIs(self.0))? {
            if wanted {
                found = Some(map.next_value::<T>()?);
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

    #[test]
    fn raw_fields_keep_their_text() {
        let j = r#"{"a": [1, 2],"big":1e400,"s":"\ud800x","a":{"x" : 1}}"#;
        assert_eq!(get_field_raw(j, "a").unwrap().unwrap().get(), r#"{"x" : 1}"#);
        assert_eq!(get_field_raw(j, "big").unwrap().unwrap().get(), "1e400");
        assert_eq!(get_field_raw(j, "s").unwrap().unwrap().get(), r#""\ud800x""#);
        assert!(get_field_raw(j, "nope").unwrap().is_none());
        // What serde_json cannot hold as a Value still survives a change to another field.
        assert_eq!(with_field(j, "n", " [1, \"x\"] ").unwrap(), r#"{"a":{"x" : 1},"big":1e400,"s":"\ud800x","n":[1,"x"]}"#);
        assert_eq!(with_field(j, "big", "2").unwrap(), r#"{"a":{"x" : 1},"big":2,"s":"\ud800x"}"#);
        assert_eq!(without_field(j, "s").unwrap().unwrap(), r#"{"a":{"x" : 1},"big":1e400}"#);
        assert_eq!(without_field(j, "zz").unwrap(), None);
        assert_eq!(with_field(r#"{"k\u00e9":1}"#, "ké", "2").unwrap(), r#"{"ké":2}"#);
    }

    #[test]
    fn changed_records_obey_the_record_rules() {
        use crate::limits::MAX_DEPTH;
        let deep = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
        assert!(with_field("{}", "d", &deep(MAX_DEPTH - 1)).is_ok());
        assert_eq!(with_field("{}", "d", &deep(MAX_DEPTH)), Err(RecordError::TooDeep));
        assert_eq!(with_field("{}", "d", &deep(200)), Err(RecordError::TooDeep));
        assert_eq!(with_field("{}", "cookie", "5"), Err(RecordError::CookieNotAnObject));
        assert_eq!(with_field("{}", "cookie", "null").unwrap(), r#"{"cookie":null}"#);
        assert_eq!(with_field("{}", "x", "1e400"), Err(RecordError::NotAnObject), "a new value must be plain JSON");
        assert_eq!(with_field("{}", "x", "{nope"), Err(RecordError::NotAnObject));
        assert_eq!(with_field("[]", "x", "1"), Err(RecordError::NotAnObject));
        let half = format!("\"{}\"", "x".repeat(crate::limits::MAX_RECORD_BYTES / 2));
        let one = with_field("{}", "a", &half).unwrap();
        assert_eq!(with_field(&one, "b", &half), Err(RecordError::TooLarge));
    }
}
