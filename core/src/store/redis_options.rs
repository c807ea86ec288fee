//! The RedisStore's options as a host gives them in JSON (the Node package's
//! `new RedisStore(options)`, functions written as `{"$js": ...}`), read into
//! [`RedisStoreOptions`] with a message naming the option for each wrong value. Options this
//! store does not have are ignored, as koa-redis does.

use super::redis::RedisStoreOptions;
use serde_json::{Map, Value};
use std::time::Duration;

/// Where the store connects.
pub enum Target {
    /// One server.
    Url(String),
    /// A Redis Cluster, from one or more of its nodes.
    Nodes(Vec<String>),
}

const MAX_MS: f64 = 86_400_000.0;

fn ms(name: &str, v: &Value) -> Result<Duration, String> {
    match v.as_f64() {
        Some(ms) if (1.0..=MAX_MS).contains(&ms) => Ok(Duration::from_millis(ms.round() as u64)),
        _ => Err(format!("option \"{name}\" must be a number of ms from 1 to 86400000")),
    }
}

/// Reads the options; `Err` is the message for a `TypeError` (without the `RedisStore: ` prefix).
pub fn parse(json: &str) -> Result<(Target, RedisStoreOptions), String> {
    let object = serde_json::from_str::<Value>(json).ok();
    let Some(o) = object.as_ref().and_then(Value::as_object) else {
        return Err("options must be an object: { url } for one server or { nodes } for a Redis Cluster".into());
    };
    let target = match (o.get("url"), o.get("nodes")) {
        (Some(Value::String(url)), None) => Target::Url(url.clone()),
        (Some(_), None) => return Err("option \"url\" must be a string such as redis://127.0.0.1:6379".into()),
        (None, Some(nodes)) => Target::Nodes(node_list(nodes)?),
        _ => return Err("give exactly one of the options \"url\" (one server) and \"nodes\" (a Redis Cluster)".into()),
    };
    let mut opts = RedisStoreOptions::default();
    if let Some(prefix) = o.get("prefix") {
        opts.prefix = prefix.as_str().ok_or("option \"prefix\" must be a string")?.to_owned();
    }
    let timeout = |name: &str, default: Duration| o.get(name).map_or(Ok(default), |v| ms(name, v));
    opts.connect_timeout = timeout("connectTimeout", opts.connect_timeout)?;
    opts.response_timeout = timeout("responseTimeout", opts.response_timeout)?;
    opts.failover_timeout = timeout("failoverTimeout", opts.failover_timeout)?;
    opts.wait_for_replica = wait_for_replica(o, opts.response_timeout)?;
    Ok((target, opts))
}

fn node_list(nodes: &Value) -> Result<Vec<String>, String> {
    let list: Option<Vec<String>> = nodes.as_array().and_then(|a| a.iter().map(|n| n.as_str().map(str::to_owned)).collect());
    list.filter(|l| !l.is_empty()).ok_or_else(|| "option \"nodes\" must be a non-empty array of node URLs (strings)".into())
}

/// `waitForReplica`: off when absent, null or false; `true` waits as long as one answer may
/// take (`responseTimeout`); else a number of ms.
fn wait_for_replica(o: &Map<String, Value>, response_timeout: Duration) -> Result<Option<Duration>, String> {
    match o.get("waitForReplica") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(response_timeout)),
        Some(v) => ms("waitForReplica", v).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(json: &str) -> String {
        parse(json).err().unwrap_or_else(|| panic!("{json} was accepted"))
    }

    #[test]
    fn reads_the_options() {
        let (target, o) = parse(r#"{"url":"redis://127.0.0.1:1","prefix":"p:","connectTimeout":100,"waitForReplica":true,"host":"x"}"#).unwrap();
        assert!(matches!(target, Target::Url(u) if u == "redis://127.0.0.1:1"));
        assert_eq!((o.prefix.as_str(), o.connect_timeout), ("p:", Duration::from_millis(100)));
        assert_eq!(o.wait_for_replica, Some(o.response_timeout));
        let (target, o) = parse(r#"{"nodes":["redis://a:1"],"waitForReplica":false}"#).unwrap();
        assert!(matches!(target, Target::Nodes(n) if n.len() == 1));
        assert_eq!((o.prefix.as_str(), o.wait_for_replica), ("koa:sess:", None));
    }

    #[test]
    fn names_the_wrong_option() {
        for (json, phrase) in [
            ("null", "options must be an object"),
            (r#""redis://x""#, "options must be an object"),
            ("{}", "exactly one"),
            (r#"{"url":"a","nodes":["b"]}"#, "exactly one"),
            (r#"{"url":5}"#, "option \"url\""),
            (r#"{"url":{"$js":"a function"}}"#, "option \"url\""),
            (r#"{"nodes":[]}"#, "option \"nodes\""),
            (r#"{"nodes":[1]}"#, "option \"nodes\""),
            (r#"{"url":"a","prefix":null}"#, "option \"prefix\""),
            (r#"{"url":"a","connectTimeout":"100"}"#, "option \"connectTimeout\""),
            (r#"{"url":"a","responseTimeout":0}"#, "option \"responseTimeout\""),
            (r#"{"url":"a","failoverTimeout":86400001}"#, "option \"failoverTimeout\""),
            (r#"{"url":"a","waitForReplica":"yes"}"#, "option \"waitForReplica\""),
        ] {
            assert!(refused(json).contains(phrase), "{json}: {}", refused(json));
        }
    }
}
