//! Independent statements of what the engine must do, written here from the specifications
//! (Koa's `cookies` module, keygrip, RFC 6265) rather than taken from the engine, so a
//! target compares two implementations instead of checking the engine against itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use regex::bytes::Regex;
use sha1::Sha1;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

/// What Koa's `ctx.cookies.get(name)` (cookies 0.9) returns for a raw header: the first
/// match of `(?:^|;) *NAME=([^;]*)`, then the first and last character dropped when the value
/// starts with `"`. Node reads header bytes as Latin-1, so matching bytes is the same.
pub fn koa_cookie_get(header: &[u8], name: &str) -> Option<Vec<u8>> {
    // Compiled once per name: the targets ask for a handful of names millions of times.
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let re = {
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
        cache
            .entry(name.to_owned())
            .or_insert_with(|| Regex::new(&format!("(?-u)(?:^|;) *{}=([^;]*)", regex::escape(name))).expect("a valid pattern"))
            .clone()
    };
    let value = re.captures(header)?.get(1)?.as_bytes();
    Some(match value {
        [b'"', ..] if value.len() >= 2 => value[1..value.len() - 1].to_vec(),
        [b'"'] => Vec::new(),
        _ => value.to_vec(),
    })
}

/// The session id a Cookie header carries, signed with `key`, as Koa would take it: the
/// `name` cookie's value when it is a valid id and `name.sig` is its keygrip signature.
pub fn signed_id(header: &[u8], name: &str, key: &[u8]) -> Option<String> {
    let id = koa_cookie_get(header, name)?;
    let sig = koa_cookie_get(header, &format!("{name}.sig"))?;
    let data = [format!("{name}=").as_bytes(), &id].concat();
    (is_sid(&id) && keygrip_sign(key, &data).as_bytes() == sig.as_slice()).then(|| String::from_utf8(id).expect("an id is ASCII"))
}

/// keygrip's signature: base64url without padding of HMAC-SHA1(key, data).
pub fn keygrip_sign(key: &[u8], data: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("any key length");
    mac.update(data);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A session id as the engine may adopt or make one: 1..=256 printable ASCII characters
/// (no space), no `;`.
pub fn is_sid(s: &[u8]) -> bool {
    (1..=256).contains(&s.len()) && s.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b';')
}

/// The configured attributes a Set-Cookie value may carry, for [`check_set_cookie`].
pub struct Allowed<'a> {
    pub names: &'a [&'a str],
    pub path: Option<&'a str>,
    pub domain: Option<&'a str>,
}

fn is_http_date(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"(?-u)^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-5][0-9] GMT$").unwrap());
    re.is_match(s.as_bytes())
}

/// Checks one Set-Cookie value: `name=value` with a known name and a value of cookie
/// characters (no `;`, CR, LF, other controls, spaces or non-ASCII), then only known
/// attributes, each at most once, in Koa's order, with the configured path and domain.
/// Returns `(name, value, expires)`.
pub fn check_set_cookie<'c>(cookie: &'c str, allowed: &Allowed<'_>) -> (&'c str, &'c str, Option<&'c str>) {
    assert!(cookie.bytes().all(|b| (0x20..=0x7e).contains(&b)), "control or non-ASCII byte in {cookie:?}");
    let mut parts = cookie.split("; ");
    let first = parts.next().unwrap();
    let (name, value) = first.split_once('=').unwrap_or_else(|| panic!("no '=' in {cookie:?}"));
    assert!(allowed.names.contains(&name), "unexpected cookie name in {cookie:?}");
    assert!(value.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b';'), "bad value in {cookie:?}");
    const ORDER: [&str; 8] = ["path", "expires", "domain", "priority", "samesite", "secure", "httponly", "partitioned"];
    let mut last = None;
    let mut expires = None;
    for attr in parts {
        let (key, val) = match attr.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (attr, None),
        };
        let at = ORDER.iter().position(|k| *k == key).unwrap_or_else(|| panic!("unknown attribute {attr:?} in {cookie:?}"));
        assert!(last.is_none_or(|l| l < at), "attribute out of order or repeated in {cookie:?}");
        last = Some(at);
        match (key, val) {
            ("path", Some(v)) => assert_eq!(Some(v), allowed.path, "path in {cookie:?}"),
            ("domain", Some(v)) => assert_eq!(Some(v), allowed.domain, "domain in {cookie:?}"),
            ("expires", Some(v)) => {
                assert!(is_http_date(v), "bad date in {cookie:?}");
                expires = Some(v);
            }
            ("priority", Some(v)) => assert!(["low", "medium", "high"].contains(&v), "{cookie:?}"),
            ("samesite", Some(v)) => assert!(["strict", "lax", "none"].contains(&v), "{cookie:?}"),
            ("secure" | "httponly" | "partitioned", None) => {}
            _ => panic!("malformed attribute {attr:?} in {cookie:?}"),
        }
    }
    (name, value, expires)
}

/// The `secure` and `httpOnly` members of a session record's `cookie` field as `JSON.parse`
/// reads the record (the last of a repeated key): `Some` only for a boolean, `None` when the
/// field or the member is absent, `null` or anything else. Read here with serde's own maps of
/// raw values, not with the engine's reader, and without interpreting any other value (a
/// record may hold numbers beyond f64). `json` must be a record `check_record` accepted.
pub fn record_cookie_flags(json: &str) -> (Option<bool>, Option<bool>) {
    use serde_json::value::RawValue;
    type Object<'a> = HashMap<String, &'a RawValue>;
    let record: Object = serde_json::from_str(json).expect("an accepted record is an object");
    let cookie: Option<Object> = record.get("cookie").and_then(|c| serde_json::from_str(c.get()).ok());
    let flag = |name: &str| match cookie.as_ref()?.get(name)?.get() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    (flag("secure"), flag("httpOnly"))
}

/// The user a session record names under the `userField` path `path` (issue 19), read as the
/// README states the rule, with serde's own maps of raw values rather than the engine's
/// reader: `Ok(None)` when the field, or an object on its path, is absent or `null`;
/// `Ok(Some(id))` for a non-empty string of at most 512 bytes (its value) or a number (its
/// JSON text: `42` and `"42"` are one user); `Err` for anything else (a boolean, an object,
/// an array, an empty or too long string, or a non-object where the path goes on).
/// `json` must be a record `check_record` accepted (a JSON object).
pub fn record_user(json: &str, path: &[&str]) -> Result<Option<String>, &'static str> {
    use serde_json::value::RawValue;
    type Object<'a> = HashMap<String, &'a RawValue>;
    let mut object: Object = serde_json::from_str(json).expect("an accepted record is an object");
    let (last, walk) = path.split_last().expect("a non-empty path");
    for name in walk {
        let Some(raw) = object.get(*name).map(|r| r.get()) else { return Ok(None) };
        if raw == "null" {
            return Ok(None);
        }
        object = serde_json::from_str(raw).map_err(|_| "not an object on the path")?;
    }
    let Some(raw) = object.get(*last).map(|r| r.get()) else { return Ok(None) };
    match raw.as_bytes()[0] {
        b'n' => Ok(None),
        b'"' => {
            let s: String = serde_json::from_str(raw).expect("a JSON string");
            if s.is_empty() || s.len() > 512 {
                Err("an empty or too long string")
            } else {
                Ok(Some(s))
            }
        }
        b'-' | b'0'..=b'9' => Ok(Some(raw.to_owned())),
        _ => Err("a boolean, an object or an array"),
    }
}

// ---- Session lifetimes (issue 20): idleTimeout, absoluteTimeout, renewInterval, renewGrace ----
//
// Read here from the README's statement of the record format, with serde's own values (not the
// engine's `lifetime` module): the engine's times live in the record's top-level `"_ks"` field
// as `{"created":ms,"active":ms[,"issued":ms][,"sid":id][,"old":{id:until}]}`, and a renewed
// session's new id holds an alias record, exactly `{"_ks":{"of":"<key>"}}`.

/// The record's field that holds the engine's times.
pub const TIMES_KEY: &str = "_ks";

/// The engine's times in a record, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordTimes {
    pub created: i64,
    pub active: i64,
    pub issued: Option<i64>,
    pub sid: Option<String>,
    pub old: BTreeMap<String, i64>,
}

/// The times a record holds, `None` when it holds none that read as times.
pub fn record_times(json: &str) -> Option<RecordTimes> {
    let record: Map<String, Value> = serde_json::from_str(json).ok()?;
    let t = record.get(TIMES_KEY)?.as_object()?;
    let int = |k: &str| t.get(k).and_then(Value::as_i64);
    let old = match t.get("old") {
        None => BTreeMap::new(),
        Some(Value::Object(o)) => o.iter().map(|(id, v)| Some((id.clone(), v.as_i64()?))).collect::<Option<_>>()?,
        Some(_) => return None,
    };
    Some(RecordTimes {
        created: int("created")?,
        active: int("active")?,
        issued: int("issued"),
        sid: t.get("sid").and_then(Value::as_str).map(str::to_owned),
        old,
    })
}

/// The key an alias record points to: a record that is exactly `{"_ks":{"of":"<key>"}}`.
pub fn alias_target(json: &str) -> Option<String> {
    let record: Map<String, Value> = serde_json::from_str(json).ok()?;
    if record.len() != 1 {
        return None;
    }
    let t = record.get(TIMES_KEY)?.as_object()?;
    match (t.len(), t.get("of")) {
        (1, Some(Value::String(of))) => Some(of.clone()),
        _ => None,
    }
}

/// A record (or a session's JSON) as the application's data: without the engine's times.
pub fn app_data(json: &str) -> Map<String, Value> {
    let mut m: Map<String, Value> = serde_json::from_str(json).expect("a session is a JSON object");
    m.remove(TIMES_KEY);
    m
}

/// The store TTL a session's own cookie asks for (ms): its `cookie.maxAge` when that is a
/// non-zero number, else the default (one day). Zero or less: expired.
pub fn cookie_ttl_ms(json: &str) -> i64 {
    const DEFAULT: i64 = 86_400_000;
    let record: Map<String, Value> = serde_json::from_str(json).expect("a session is a JSON object");
    match record.get("cookie").and_then(|c| c.get("maxAge")).and_then(Value::as_f64) {
        Some(ms) if ms != 0.0 => ms as i64,
        _ => DEFAULT,
    }
}

/// The top-level changes that turn `from` into `to` (the engine's times aside): keys set (new
/// or with another value) and keys removed.
pub fn changes(from: &Map<String, Value>, to: &Map<String, Value>) -> (Vec<(String, Value)>, Vec<String>) {
    let set = to.iter().filter(|(k, v)| k.as_str() != TIMES_KEY && from.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let removed = from.keys().filter(|k| k.as_str() != TIMES_KEY && !to.contains_key(*k)).cloned().collect();
    (set, removed)
}

/// `data` with `changes` applied.
pub fn apply_changes(data: &Map<String, Value>, (set, removed): &(Vec<(String, Value)>, Vec<String>)) -> Map<String, Value> {
    let mut out = data.clone();
    for k in removed {
        out.remove(k);
    }
    for (k, v) in set {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// How a cookie's id stands with its session, by the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdStanding {
    /// The id the session's cookie carries now.
    Current,
    /// An id a renewal replaced, within its grace.
    Graced,
    /// An id that loads nothing: replaced and past its grace, or its session ended.
    Dead,
}

/// What the model knows of one stored session (its record's key).
#[derive(Clone, Debug)]
pub struct Life {
    /// When its record was first written (the commit that created it).
    pub created: i64,
    /// The latest commit that wrote its record: no activity the engine stores is later.
    pub written: i64,
    /// The activity the engine must have stored at least: the commit that created it, every
    /// commit that changed it or renewed its id, and `load - idle/2` for every request loaded
    /// and committed (a read writes its activity only past half the window, so any earlier
    /// activity would have been written).
    pub used: i64,
    /// The id its cookie carries, and when that id was issued.
    pub current: String,
    pub issued: i64,
    /// Ids replaced by renewals, each usable until its time.
    pub graced: BTreeMap<String, i64>,
}

/// The lifetime options as the target set them, and the model of every session: which ids name
/// it and how they stand, its deadlines' bounds, and the data its acknowledged commits say it
/// holds. Events come from what the engine acknowledged (commits, their store calls); the
/// questions (may it load? must it load?) are answered from the options alone.
#[derive(Debug, Default)]
pub struct SessionLives {
    pub idle: Option<i64>,
    pub absolute: Option<i64>,
    pub renew: Option<i64>,
    pub grace: i64,
    pub lives: HashMap<String, Life>,
    /// Every id the engine made for a stored session (record keys and renewals' new ids, the
    /// ones that never became current included): the key of its record.
    pub key_of: HashMap<String, String>,
    /// Keys whose record a commit or destroy_user_sessions ended: no id of theirs loads again,
    /// and they never hold a record again.
    pub ended: HashSet<String>,
    /// Per key: the application's data its acknowledged commits say the record holds.
    pub data: HashMap<String, Map<String, Value>>,
}

impl SessionLives {
    /// May the session under `key` load at `t`? Not past its absolute deadline, nor past its
    /// idle one counted from the latest write of its record (nothing the engine stores is later).
    pub fn may_load(&self, key: &str, t: i64) -> bool {
        let Some(l) = self.lives.get(key) else { return false };
        !self.ended.contains(key) && self.absolute.is_none_or(|a| t < l.created + a) && self.idle.is_none_or(|i| t < l.written + i)
    }

    /// Must the session under `key` still be live at `t`? Not ended, before its absolute
    /// deadline, and before the idle deadline of the activity it surely holds.
    pub fn surely_live(&self, key: &str, t: i64) -> bool {
        let Some(l) = self.lives.get(key) else { return false };
        !self.ended.contains(key) && self.absolute.is_none_or(|a| t < l.created + a) && self.idle.is_none_or(|i| t < l.used + i)
    }

    /// How a cookie naming `id` stands at `t`, and the key of its session.
    pub fn standing(&self, id: &str, t: i64) -> Option<(String, IdStanding)> {
        let key = self.key_of.get(id)?;
        let l = self.lives.get(key)?;
        let s = if self.ended.contains(key) {
            IdStanding::Dead
        } else if l.current == id {
            IdStanding::Current
        } else if l.graced.get(id).is_some_and(|&until| t < until) {
            IdStanding::Graced
        } else {
            IdStanding::Dead
        };
        Some((key.clone(), s))
    }

    /// A session's record written for the first time, at `c`.
    pub fn created(&mut self, key: &str, c: i64, data: Map<String, Value>) {
        self.lives.insert(key.to_owned(), Life { created: c, written: c, used: c, current: key.to_owned(), issued: c, graced: BTreeMap::new() });
        self.key_of.insert(key.to_owned(), key.to_owned());
        self.data.insert(key.to_owned(), data);
    }

    /// A renewal of the session under `key` to `new_id`, stored at `c` by a request that
    /// loaded the session while `loaded_current` was its id. The renewal stored first stands
    /// (bee5886): when `loaded_current` is still current, `new_id` becomes current and the id it
    /// replaced stays in grace until `c + grace`; otherwise another renewal replaced that id
    /// already, the session keeps that renewal's id, and `new_id` (whose alias was written all
    /// the same) never names it. Returns whether the renewal took effect.
    pub fn renewed(&mut self, key: &str, new_id: &str, loaded_current: &str, c: i64) -> bool {
        let grace = self.grace;
        self.key_of.insert(new_id.to_owned(), key.to_owned());
        let l = self.lives.get_mut(key).expect("a renewed session is known");
        if l.current != loaded_current {
            return false;
        }
        let replaced = std::mem::replace(&mut l.current, new_id.to_owned());
        let until = l.graced.entry(replaced).or_insert(c + grace);
        *until = (*until).max(c + grace);
        l.issued = c;
        l.used = l.used.max(c);
        true
    }

    /// The session under `key` ended (destroyed): every id of it is dead.
    pub fn end(&mut self, key: &str) {
        if self.lives.contains_key(key) {
            self.ended.insert(key.to_owned());
        }
        self.data.remove(key);
    }

    /// The earliest deadline stored times give (`None`: no timeout is set).
    pub fn deadline(&self, t: &RecordTimes) -> Option<i64> {
        let idle = self.idle.map(|i| t.active + i);
        let absolute = self.absolute.map(|a| t.created + a);
        match (idle, absolute) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
