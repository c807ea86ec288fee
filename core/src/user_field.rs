//! Whose session it is: the `userField` option names the field of the session data that
//! holds the user's id, a top-level name or a dotted path (`passport.user`, where passport
//! keeps it). The engine reads it at commit to keep each user's index of sessions
//! (`store::user_index`); this module is the one place that reads it.

use crate::json_field::get_field;
use crate::options::{ConfigError, ConfigErrorKind};
use serde_json::Value;
use std::fmt;

/// The longest user id the index accepts (bytes): ids become store keys.
pub const MAX_USER_ID_BYTES: usize = 512;

/// A checked `userField`: one or more non-empty names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserField {
    path: Vec<String>,
}

impl UserField {
    /// Parses `passport.user`-style paths. Empty names (`a..b`, a leading or trailing dot)
    /// are refused, as is a path deeper than the record limits could ever hold.
    pub fn parse(field: &str) -> Result<UserField, ConfigError> {
        let bad = |why: &str| ConfigError::new("userField", ConfigErrorKind::InvalidValue, format!("must be a field name or a dotted path such as 'passport.user': {why}"));
        if field.is_empty() {
            return Err(bad("it is empty"));
        }
        let path: Vec<String> = field.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad("it has an empty name between dots"));
        }
        if path.len() > 16 {
            return Err(bad("it is more than 16 names deep"));
        }
        Ok(UserField { path })
    }

    /// The field as the option was written.
    pub fn as_dotted(&self) -> String {
        self.path.join(".")
    }
}

/// The user id field holds something that is not a user id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserIdError {
    field: String,
    found: &'static str,
}

impl fmt::Display for UserIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session not saved: the user id in '{}' must be a non-empty string (at most {MAX_USER_ID_BYTES} bytes) or a number, got {}",
            self.field, self.found
        )
    }
}
impl std::error::Error for UserIdError {}

/// The user id of the session `json` (a valid record): `None` when the field, or an object
/// on its path, is absent or null (nobody is logged in). A number's id is its JSON text, so
/// `42` and `"42"` are the same user.
pub fn user_of(json: &str, field: &UserField) -> Result<Option<String>, UserIdError> {
    let wrong = |found| UserIdError { field: field.as_dotted(), found };
    let Ok(top) = get_field(json, &field.path[0]) else { return Err(wrong("a record that is not a JSON object")) };
    let mut value = match top {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    for name in &field.path[1..] {
        value = match value {
            Value::Object(mut m) => match m.remove(name) {
                None | Some(Value::Null) => return Ok(None),
                Some(v) => v,
            },
            // Only an object has fields: a string or number where an object should be means
            // the path is wrong for this data, said as clearly as a wrong id.
            other => return Err(wrong(kind(&other))),
        };
    }
    match value {
        Value::String(s) => check_user_id(&s).map(|()| Some(s)).map_err(|_| wrong("an empty or too long string")),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(wrong(kind(&other))),
    }
}

/// A user id handed to `userSessions` / `destroyUserSessions`: non-empty, at most
/// [`MAX_USER_ID_BYTES`].
pub fn check_user_id(user: &str) -> Result<(), String> {
    if user.is_empty() || user.len() > MAX_USER_ID_BYTES {
        return Err(format!("a user id must be a non-empty string of at most {MAX_USER_ID_BYTES} bytes, or a number"));
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(json: &str, field: &str) -> Result<Option<String>, UserIdError> {
        user_of(json, &UserField::parse(field).unwrap())
    }

    #[test]
    fn reads_top_level_and_dotted_fields() {
        assert_eq!(user(r#"{"uid":"ann"}"#, "uid"), Ok(Some("ann".into())));
        assert_eq!(user(r#"{"uid":42}"#, "uid"), Ok(Some("42".into())));
        assert_eq!(user(r#"{"passport":{"user":"bob"}}"#, "passport.user"), Ok(Some("bob".into())));
        assert_eq!(user(r#"{"passport":{}}"#, "passport.user"), Ok(None));
        assert_eq!(user(r#"{"passport":null}"#, "passport.user"), Ok(None));
        assert_eq!(user(r#"{"cookie":{}}"#, "passport.user"), Ok(None));
        assert_eq!(user(r#"{"passport":{"user":null}}"#, "passport.user"), Ok(None));
    }

    #[test]
    fn anything_else_is_an_error_naming_the_field() {
        for json in [r#"{"uid":true}"#, r#"{"uid":{}}"#, r#"{"uid":[1]}"#, r#"{"uid":""}"#] {
            let e = user(json, "uid").unwrap_err().to_string();
            assert!(e.contains("'uid'"), "{e}");
        }
        let e = user(r#"{"passport":"x"}"#, "passport.user").unwrap_err().to_string();
        assert!(e.contains("'passport.user'") && e.contains("a string"), "{e}");
        let long = format!(r#"{{"uid":"{}"}}"#, "x".repeat(MAX_USER_ID_BYTES + 1));
        assert!(user(&long, "uid").is_err());
    }

    #[test]
    fn paths_are_checked() {
        for bad in ["", ".", "a.", ".a", "a..b"] {
            assert!(UserField::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(UserField::parse("passport.user").unwrap().as_dotted(), "passport.user");
    }
}
