//! Session configuration: the cookie, its signing keys, and the save rules. Built once,
//! validated once, then shared read-only by every request.

pub use crate::options::{ConfigError, ConfigErrorKind};
use crate::lifetime::Lifetimes;
use crate::options::{check_cookie, check_cookie_name, check_default_ttl, check_keys, check_timeout, ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, RENEW_GRACE, RENEW_INTERVAL};
use crate::set_cookie::{CookieAttributes, Priority, SameSite};
use crate::signing::Keys;
use crate::user_field::UserField;
use serde_json::{json, Map, Value};

pub const DEFAULT_COOKIE_NAME: &str = "koa.sid";
pub const DEFAULT_MAX_AGE_MS: i64 = 86_400_000;
/// Store TTL for sessions whose cookie has no lifetime of its own (browser-session cookies).
pub const DEFAULT_SESSION_TTL_MS: i64 = 86_400_000;
/// Longest wait for one call to a host-language store (a C vtable callback, a JS store's
/// get/set/destroy) before the request fails with a store timeout. It bounds one call, not an
/// outage: a store that knows it is disconnected reports that at once and `reconnectTimeout`
/// applies.
pub const DEFAULT_STORE_TIMEOUT_MS: u64 = 5_000;

/// Validated session configuration. Create it with [`SessionConfig::builder`].
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub(crate) cookie_name: String,
    pub(crate) sig_name: String,
    pub(crate) keys: Option<Keys>,
    pub(crate) cookie: CookieAttributes,
    pub(crate) rolling: bool,
    pub(crate) allow_empty: bool,
    pub(crate) default_ttl_ms: i64,
    pub(crate) store_timeout: Option<std::time::Duration>,
    /// `userField`: where the session data holds the user's id (`None`: no user index).
    pub(crate) user_field: Option<UserField>,
    /// `idleTimeout`, `absoluteTimeout`, `renewInterval`, `renewGrace` (see [`crate::lifetime`]).
    pub(crate) lifetimes: Lifetimes,
    /// The JSON of a brand-new session: `{"cookie":{...}}`, as the original package makes it.
    pub(crate) fresh_json: String,
}

impl SessionConfig {
    pub fn builder() -> SessionConfigBuilder {
        SessionConfigBuilder::default()
    }
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }
    pub fn cookie(&self) -> &CookieAttributes {
        &self.cookie
    }
    pub fn signed(&self) -> bool {
        self.keys.is_some()
    }
    pub fn rolling(&self) -> bool {
        self.rolling
    }
    pub fn allow_empty(&self) -> bool {
        self.allow_empty
    }
    /// The deadline of one host-language store call (`None`: no deadline).
    pub fn store_timeout(&self) -> Option<std::time::Duration> {
        self.store_timeout
    }
    /// The `userField` option: where the session data holds the user's id.
    pub fn user_field(&self) -> Option<&UserField> {
        self.user_field.as_ref()
    }
    /// The idle and absolute timeouts and id renewal.
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }
    /// Refuses a store that cannot do what these settings need, naming what it lacks
    /// (`has_*`: what the store offers). `userField` needs compare-and-set (a stored session
    /// is never written blind) and a user index. The timeouts need compare-and-set: the
    /// activity time is written on reads too, and such a write must never undo a change
    /// another request made meanwhile.
    pub fn check_store(&self, has_compare_and_set: bool, has_user_index: bool) -> Result<(), ConfigError> {
        if !has_compare_and_set {
            let l = &self.lifetimes;
            let option = [(l.idle_ms, IDLE_TIMEOUT), (l.absolute_ms, ABSOLUTE_TIMEOUT), (l.renew_interval_ms, RENEW_INTERVAL)]
                .into_iter()
                .find_map(|(set, name)| set.map(|_| name));
            if let Some(option) = option {
                return Err(ConfigError::new(
                    option,
                    ConfigErrorKind::InvalidValue,
                    "needs a store with compare-and-set (compareAndSet): the session's activity time is written on reads too, and must never undo another request's change; this store lacks it",
                ));
            }
        }
        let Some(field) = &self.user_field else { return Ok(()) };
        let lacks: Vec<&str> = [(!has_compare_and_set, "compare-and-set (compareAndSet)"), (!has_user_index, "a user index (indexUserSession)")]
            .into_iter()
            .filter_map(|(lacking, what)| lacking.then_some(what))
            .collect();
        if lacks.is_empty() {
            return Ok(());
        }
        Err(ConfigError::new(
            "userField",
            ConfigErrorKind::InvalidValue,
            format!("('{}') needs a store with {}; this store lacks it", field.as_dotted(), lacks.join(" and ")),
        ))
    }
    /// The session JSON a new visitor starts with.
    pub fn fresh_session_json(&self) -> &str {
        &self.fresh_json
    }
}

/// Builder for [`SessionConfig`]; defaults match the original package: cookie `koa.sid`,
/// `path=/`, `httponly`, maxAge one day, unsigned until keys are given.
#[derive(Debug, Clone)]
pub struct SessionConfigBuilder {
    cookie_name: String,
    keys: Option<Vec<Vec<u8>>>,
    cookie: CookieAttributes,
    rolling: bool,
    allow_empty: bool,
    default_ttl_ms: i64,
    store_timeout: Option<std::time::Duration>,
    user_field: Option<String>,
    lifetimes: Lifetimes,
}

impl Default for SessionConfigBuilder {
    fn default() -> Self {
        SessionConfigBuilder {
            cookie_name: DEFAULT_COOKIE_NAME.into(),
            keys: None,
            cookie: CookieAttributes { max_age: Some(DEFAULT_MAX_AGE_MS), ..Default::default() },
            rolling: false,
            allow_empty: false,
            default_ttl_ms: DEFAULT_SESSION_TTL_MS,
            store_timeout: Some(std::time::Duration::from_millis(DEFAULT_STORE_TIMEOUT_MS)),
            user_field: None,
            lifetimes: Lifetimes { renew_grace_ms: crate::lifetime::DEFAULT_RENEW_GRACE_MS, ..Lifetimes::default() },
        }
    }
}

impl SessionConfigBuilder {
    /// The cookie name set so far.
    pub fn name(&self) -> &str {
        &self.cookie_name
    }
    /// The cookie attributes set so far.
    pub fn attributes(&self) -> &CookieAttributes {
        &self.cookie
    }
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }
    /// Signing keys, newest first; cookies are signed when keys are set.
    pub fn keys<K: AsRef<[u8]>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.keys = Some(keys.into_iter().map(|k| k.as_ref().to_vec()).collect());
        self
    }
    pub fn unsigned(mut self) -> Self {
        self.keys = None;
        self
    }
    pub fn cookie_attributes(mut self, attrs: CookieAttributes) -> Self {
        self.cookie = attrs;
        self
    }
    pub fn path(mut self, path: Option<String>) -> Self {
        self.cookie.path = path;
        self
    }
    pub fn domain(mut self, domain: Option<String>) -> Self {
        self.cookie.domain = domain;
        self
    }
    /// Cookie lifetime in ms; `None` or `Some(0)` makes a browser-session cookie.
    pub fn max_age(mut self, ms: Option<i64>) -> Self {
        self.cookie.max_age = ms;
        self
    }
    pub fn expires(mut self, unix_ms: Option<i64>) -> Self {
        self.cookie.expires = unix_ms;
        self
    }
    pub fn http_only(mut self, on: bool) -> Self {
        self.cookie.http_only = on;
        self
    }
    pub fn secure(mut self, on: bool) -> Self {
        self.cookie.secure = on;
        self
    }
    pub fn same_site(mut self, s: Option<SameSite>) -> Self {
        self.cookie.same_site = s;
        self
    }
    pub fn priority(mut self, p: Option<Priority>) -> Self {
        self.cookie.priority = p;
        self
    }
    pub fn partitioned(mut self, on: bool) -> Self {
        self.cookie.partitioned = on;
        self
    }
    pub fn rolling(mut self, on: bool) -> Self {
        self.rolling = on;
        self
    }
    pub fn allow_empty(mut self, on: bool) -> Self {
        self.allow_empty = on;
        self
    }
    /// Store TTL for sessions with a browser-session cookie (default one day).
    pub fn default_session_ttl_ms(mut self, ms: i64) -> Self {
        self.default_ttl_ms = ms;
        self
    }
    /// Deadline of one host-language store call (default 5 s); `None` lets a call take as
    /// long as it takes (a C store's callback then runs inline on a blocking call's thread).
    pub fn store_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.store_timeout = timeout.filter(|d| !d.is_zero());
        self
    }

    /// `userField`: the field (a name or a dotted path such as `passport.user`) of the
    /// session data that holds the user's id; the engine then keeps each user's index of
    /// sessions (see `store::user_index`). `None` (the default): no index, no cost.
    pub fn user_field(mut self, field: Option<String>) -> Self {
        self.user_field = field;
        self
    }

    /// `idleTimeout` in ms: a session not used for this long is gone (`None` or 0: off).
    pub fn idle_timeout_ms(mut self, ms: Option<i64>) -> Self {
        self.lifetimes.idle_ms = ms.filter(|&ms| ms != 0);
        self
    }

    /// `absoluteTimeout` in ms: a session this old since it began or was regenerated is gone,
    /// however active (`None` or 0: off).
    pub fn absolute_timeout_ms(mut self, ms: Option<i64>) -> Self {
        self.lifetimes.absolute_ms = ms.filter(|&ms| ms != 0);
        self
    }

    /// `renewInterval` in ms: a session whose cookie id is older gets a new id at the end of
    /// the request (`None` or 0: off).
    pub fn renew_interval_ms(mut self, ms: Option<i64>) -> Self {
        self.lifetimes.renew_interval_ms = ms.filter(|&ms| ms != 0);
        self
    }

    /// `renewGrace` in ms: how long the id a renewal replaced stays usable (`None` or 0: the
    /// default, [`crate::lifetime::DEFAULT_RENEW_GRACE_MS`]).
    pub fn renew_grace_ms(mut self, ms: Option<i64>) -> Self {
        self.lifetimes.renew_grace_ms = ms.filter(|&ms| ms != 0).unwrap_or(crate::lifetime::DEFAULT_RENEW_GRACE_MS);
        self
    }

    /// Checks every setting with the rules of [`crate::options`] (the error names the
    /// option as a Koa user writes it).
    pub fn build(self) -> Result<SessionConfig, ConfigError> {
        check_cookie_name(&self.cookie_name)?;
        check_cookie(&self.cookie)?;
        check_default_ttl(self.default_ttl_ms)?;
        if let Some(ms) = self.lifetimes.idle_ms {
            check_timeout(IDLE_TIMEOUT, ms)?;
        }
        if let Some(ms) = self.lifetimes.absolute_ms {
            check_timeout(ABSOLUTE_TIMEOUT, ms)?;
        }
        if let Some(ms) = self.lifetimes.renew_interval_ms {
            check_timeout(RENEW_INTERVAL, ms)?;
        }
        check_timeout(RENEW_GRACE, self.lifetimes.renew_grace_ms)?;
        let keys = match self.keys {
            None => None,
            Some(k) => {
                check_keys(&k)?;
                Keys::new(k)
            }
        };
        let user_field = self.user_field.as_deref().map(UserField::parse).transpose()?;
        let fresh_json = fresh_json(&self.cookie, keys.is_some());
        Ok(SessionConfig {
            sig_name: format!("{}.sig", self.cookie_name),
            cookie_name: self.cookie_name,
            keys,
            cookie: self.cookie,
            rolling: self.rolling,
            allow_empty: self.allow_empty,
            default_ttl_ms: self.default_ttl_ms,
            store_timeout: self.store_timeout,
            user_field,
            lifetimes: self.lifetimes,
            fresh_json,
        })
    }
}

/// `{"cookie":{httpOnly, maxAge, overwrite, path, secure, signed, ...}}` in the original
/// package's key order, so records look like the ones existing deployments already hold.
fn fresh_json(c: &CookieAttributes, signed: bool) -> String {
    let mut m = Map::new();
    m.insert("httpOnly".into(), json!(c.http_only));
    if let Some(ms) = c.max_age.filter(|&ms| ms != 0) {
        m.insert("maxAge".into(), json!(ms));
    }
    m.insert("overwrite".into(), json!(true));
    if let Some(p) = &c.path {
        m.insert("path".into(), json!(p));
    }
    m.insert("secure".into(), json!(c.secure));
    m.insert("signed".into(), json!(signed));
    if let Some(d) = &c.domain {
        m.insert("domain".into(), json!(d));
    }
    if let Some(at) = c.expires {
        // The ISO string JSON.stringify(Date) writes, so both runtimes read it back alike.
        m.insert("expires".into(), json!(crate::http_date::format_iso8601(at)));
    }
    if let Some(s) = c.same_site {
        m.insert("sameSite".into(), json!(s.as_str()));
    }
    if let Some(p) = c.priority {
        m.insert("priority".into(), json!(p.as_str()));
    }
    if c.partitioned {
        m.insert("partitioned".into(), json!(true));
    }
    let mut root = Map::new();
    root.insert("cookie".into(), Value::Object(m));
    Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_original() {
        let c = SessionConfig::builder().keys(["k"]).build().unwrap();
        assert_eq!(
            c.fresh_session_json(),
            r#"{"cookie":{"httpOnly":true,"maxAge":86400000,"overwrite":true,"path":"/","secure":false,"signed":true}}"#
        );
        assert_eq!(c.cookie_name(), "koa.sid");
        assert!(c.signed());
    }

    fn refused(b: SessionConfigBuilder) -> (String, ConfigErrorKind) {
        let e = b.build().unwrap_err();
        (e.option().to_owned(), e.kind())
    }

    #[test]
    fn rejects_bad_config_naming_the_option() {
        use ConfigErrorKind::*;
        let b = SessionConfig::builder;
        assert_eq!(refused(b().cookie_name("a;b")), ("key".into(), CookieName));
        assert_eq!(refused(b().cookie_name("")), ("key".into(), CookieName));
        assert_eq!(refused(b().keys(Vec::<String>::new())), ("keys".into(), InvalidValue));
        assert_eq!(refused(b().keys(["k", ""])), ("keys".into(), InvalidValue));
        assert_eq!(refused(b().path(Some("/a\r\nX: y".into()))), ("cookieOptions.path".into(), CookieAttribute));
        assert_eq!(refused(b().path(Some("app".into()))), ("cookieOptions.path".into(), CookieAttribute));
        assert_eq!(refused(b().domain(Some("a b".into()))), ("cookieOptions.domain".into(), CookieAttribute));
        assert_eq!(refused(b().max_age(Some(-5))), ("cookieOptions.maxAge".into(), InvalidValue));
        assert_eq!(refused(b().expires(Some(-1))), ("cookieOptions.expires".into(), InvalidValue));
        assert_eq!(refused(b().same_site(Some(SameSite::None))), ("cookieOptions.sameSite".into(), CookieAttribute));
        assert_eq!(refused(b().default_session_ttl_ms(0)), ("defaultSessionTtl".into(), InvalidValue));
        // The same settings made valid.
        assert!(b().same_site(Some(SameSite::None)).secure(true).max_age(Some(0)).path(None).domain(Some(".a.example".into())).build().is_ok());
    }
}
