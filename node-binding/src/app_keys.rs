//! `app.keys` as Koa apps give them, read into signing keys: an array of strings or Buffers
//! (newest first), or an object holding one as `keys` (a Keygrip-like holder). A keygrip 1.x
//! instance keeps its keys private, so it cannot sign here: that, like missing or empty keys,
//! means unsigned cookies and a warning saying why. Anything else is a TypeError naming what
//! is wrong.

use napi::bindgen_prelude::*;

const FORM: &str = "app.keys must be an array of strings or Buffers, e.g. app.keys = ['a long random secret']";
const NOT_SET: &str = "app.keys is not set, so session cookies are not signed. Set app.keys = ['a long random secret'] (or cookieOptions.signed = false to silence this).";
const EMPTY: &str = "app.keys is empty, so session cookies are not signed. Set app.keys = ['a long random secret'] (or cookieOptions.signed = false to silence this).";
const KEYGRIP: &str = "app.keys is a Keygrip instance whose keys cannot be read; session cookies are NOT signed. Set app.keys to an array of keys.";

/// What `app.keys` gave.
pub enum AppKeys {
    /// Signing keys, newest first.
    Signing(Vec<Vec<u8>>),
    /// Unsigned cookies; the warning says why.
    Unsigned(&'static str),
}

/// Reads `app.keys`; `Err(message)` for a value that cannot be keys.
pub fn read(v: Unknown) -> Result<std::result::Result<AppKeys, String>> {
    let list = match v.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(Ok(AppKeys::Unsigned(NOT_SET))),
        ValueType::Object if v.is_array()? => v,
        ValueType::Object => {
            let holder: Object = unsafe { v.cast()? };
            let keys: Unknown = holder.get_named_property("keys")?;
            if keys.get_type()? == ValueType::Object && keys.is_array()? {
                keys
            } else if holder.get_named_property::<Unknown>("sign")?.get_type()? == ValueType::Function {
                return Ok(Ok(AppKeys::Unsigned(KEYGRIP)));
            } else {
                return Ok(Err(format!("{FORM}; got {}", describe(&v)?)));
            }
        }
        _ => return Ok(Err(format!("{FORM}; got {}", describe(&v)?))),
    };
    let list: Object = unsafe { list.cast()? };
    let n = list.get_array_length()?;
    if n == 0 {
        return Ok(Ok(AppKeys::Unsigned(EMPTY)));
    }
    let mut keys = Vec::with_capacity(n as usize);
    for i in 0..n {
        let k: Unknown = list.get_element(i)?;
        match key_bytes(&k)? {
            Some(bytes) if !bytes.is_empty() => keys.push(bytes),
            _ => return Ok(Err(format!("{FORM}; app.keys[{i}] is {}", describe(&k)?))),
        }
    }
    Ok(Ok(AppKeys::Signing(keys)))
}

/// A key's bytes: a string's UTF-8, a Buffer's or Uint8Array's bytes; None for anything else.
fn key_bytes(k: &Unknown) -> Result<Option<Vec<u8>>> {
    Ok(match k.get_type()? {
        ValueType::String => Some(unsafe { k.cast::<String>()? }.into_bytes()),
        ValueType::Object if k.is_typedarray()? => unsafe { k.cast::<Uint8Array>() }.ok().map(|a| a.to_vec()),
        _ => None,
    })
}

/// A value as the errors name it: `a string`, `number 5`, `an object`, ...
fn describe(v: &Unknown) -> Result<String> {
    Ok(match v.get_type()? {
        ValueType::Null => "null".into(),
        ValueType::String if unsafe { v.cast::<String>()? }.is_empty() => "an empty string".into(),
        ValueType::String => "a string".into(),
        ValueType::Object if v.is_array()? => "an array".into(),
        ValueType::Object => "an object".into(),
        ValueType::Number => format!("number {}", unsafe { v.cast::<f64>()? }),
        ValueType::Boolean => format!("boolean {}", unsafe { v.cast::<bool>()? }),
        ValueType::Undefined => "undefined".into(),
        ValueType::Function => "a function".into(),
        _ => "a symbol or bigint".into(),
    })
}
