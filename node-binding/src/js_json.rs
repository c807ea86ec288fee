//! Options objects as the user gave them, read into JSON for core's option checks
//! (`koa_session_core::options`, `store::redis_options`): what JSON holds as itself, a Date
//! as unix ms, and anything else (a function, NaN, an invalid Date, a symbol, ...) as
//! `{"$js": "<what it is>"}`, which core names in its error instead of dropping it the way
//! `JSON.stringify` would. A top-level `store` is the host's to check and stays a marker.
//! Undefined members are left out; objects nest at most [`MAX_DEPTH`] deep, so a cycle is
//! refused rather than followed.

use crate::raw::{self, Env, Fail, Result, Value};
use napi::sys;
use serde_json::{Map, Number, Value as Json};
use std::ptr;

const MAX_DEPTH: usize = 32;

/// The options object (or anything else the user passed) as JSON text.
pub unsafe fn options_json(env: Env, v: Value) -> Result<String> {
    Ok(to_json(env, v, 0)?.unwrap_or(Json::Null).to_string())
}

fn marker(what: &str) -> Json {
    Json::Object(Map::from_iter([("$js".to_owned(), Json::String(what.to_owned()))]))
}

unsafe fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Fail::generic("koa-session-ts: cannot read the options object"))
    }
}

/// `None` for undefined (left out of objects).
unsafe fn to_json(env: Env, v: Value, depth: usize) -> Result<Option<Json>> {
    let mut t = 0;
    check(sys::napi_typeof(env, v, &mut t))?;
    Ok(Some(match t {
        sys::ValueType::napi_undefined => return Ok(None),
        sys::ValueType::napi_null => Json::Null,
        sys::ValueType::napi_boolean => {
            let mut b = false;
            check(sys::napi_get_value_bool(env, v, &mut b))?;
            Json::Bool(b)
        }
        sys::ValueType::napi_number => {
            let mut n = 0.0;
            check(sys::napi_get_value_double(env, v, &mut n))?;
            number(n)
        }
        sys::ValueType::napi_string => Json::String(raw::string(env, v, "option")?),
        sys::ValueType::napi_object => return object(env, v, depth).map(Some),
        _ => marker(&format!("a {}", raw::type_name(env, v))),
    }))
}

/// A finite number as JSON writes it (an integer without `.0`); NaN and ±Infinity as markers.
fn number(n: f64) -> Json {
    if !n.is_finite() {
        return marker(if n.is_nan() { "NaN" } else if n > 0.0 { "Infinity" } else { "-Infinity" });
    }
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        return Json::Number(Number::from(n as i64));
    }
    Number::from_f64(n).map_or(Json::Null, Json::Number)
}

unsafe fn object(env: Env, v: Value, depth: usize) -> Result<Json> {
    if depth >= MAX_DEPTH {
        return Err(Fail::type_error(format!(
            "koa-session-ts: options must be plain data besides the store and the functions (nested more than {MAX_DEPTH} deep, or cyclic)"
        )));
    }
    let mut is = false;
    check(sys::napi_is_date(env, v, &mut is))?;
    if is {
        let mut ms = 0.0;
        check(sys::napi_get_date_value(env, v, &mut ms))?;
        return Ok(if ms.is_finite() { number(ms) } else { marker("an invalid Date") });
    }
    check(sys::napi_is_array(env, v, &mut is))?;
    if is {
        let mut items = Vec::new();
        for i in 0..length(env, v)? {
            let mut item = ptr::null_mut();
            check(sys::napi_get_element(env, v, i, &mut item))?;
            items.push(to_json(env, item, depth + 1)?.unwrap_or(Json::Null));
        }
        return Ok(Json::Array(items));
    }
    let mut names = ptr::null_mut();
    let filter = sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols;
    check(sys::napi_get_all_property_names(env, v, sys::KeyCollectionMode::own_only, filter, sys::KeyConversion::numbers_to_strings, &mut names))?;
    let mut members = Map::new();
    for i in 0..length(env, names)? {
        let (mut key, mut value) = (ptr::null_mut(), ptr::null_mut());
        check(sys::napi_get_element(env, names, i, &mut key))?;
        check(sys::napi_get_property(env, v, key, &mut value))?;
        let name = raw::string(env, key, "option name")?;
        let json = if depth == 0 && name == "store" { store_marker(env, value)? } else { to_json(env, value, depth + 1)? };
        if let Some(json) = json {
            members.insert(name, json);
        }
    }
    Ok(Json::Object(members))
}

/// A top-level `store`: null or a marker, never walked (a store is a live object).
unsafe fn store_marker(env: Env, v: Value) -> Result<Option<Json>> {
    Ok(match raw::type_name(env, v) {
        "undefined" => None,
        "null" => Some(Json::Null),
        _ => Some(marker("a store")),
    })
}

unsafe fn length(env: Env, array: Value) -> Result<u32> {
    let mut n = 0;
    check(sys::napi_get_array_length(env, array, &mut n))?;
    Ok(n)
}
