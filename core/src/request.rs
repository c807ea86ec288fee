//! The life of one request, as a sans-I/O state machine. The host does the I/O (store reads
//! and writes, sending headers); this module makes every decision:
//!
//! ```text
//! begin(Cookie header, path, upstream sid)
//!   ├─ outside the cookie path ─────────────────────────────▶ no session (None)
//!   └─ SessionRequest ── next() ─▶ Load(sid) ─ loaded(record | miss | rejected) ─┐
//!                           │                                                    │
//!                           └────▶ NeedSid ◀── miss / corrupt / rejected ────────┘
//!                                    │ set_new_sid(sid)
//!                                    ▼
//!                                  Ready ── (regenerate(new sid)) ── finish(json | null, sessionSave)
//!                                                                        ▼
//!                                      Outcome { store: Save | Destroy | None, set_cookies }
//! ```
//!
//! Change detection compares the JSON the host hands back with the JSON it was given: equal
//! strings mean equal data, so a change is never missed (a hash could collide and lose a write).

use crate::config::SessionConfig;
use crate::cookie_header::get_cookie;
use crate::record::{check_record, session_cookie, ttl_ms, RecordError};
use crate::set_cookie::{format_clear_cookie, format_set_cookie, CookieAttributes, CookieError};
use crate::sid::is_valid_sid;
use crate::signing::Verified;
use std::fmt;

/// What the session cookie the client sent turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientCookie {
    /// No session cookie (or one for another session than the upstream id): leave it alone.
    Absent,
    /// A well-signed cookie naming the current sid; `resign` if an older key signed it.
    Current { resign: bool },
    /// A cookie that must go: bad signature, unknown or invalid id, or a regenerated session.
    Stale,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Load,
    NeedSid,
    Ready,
}

/// What the host must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// Read this session id from the store, then call [`SessionRequest::loaded`].
    Load(&'a str),
    /// Generate a session id, then call [`SessionRequest::set_new_sid`].
    NeedSid,
    /// The session is ready: hand [`SessionRequest::session_json`] to the application.
    Ready,
}

/// How many distinct [`SessionRequest::state_code`] values exist (codes are `0..STATE_CODES`).
pub const STATE_CODES: u8 = 32;

/// The store's answer for the id being loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    Found(String),
    Missing,
    /// The host's `valid(ctx, session)` hook refused the record.
    Rejected,
}

/// How loading went; `Corrupt` is worth a log line (the store holds something that is not a
/// JSON object), every other outcome is ordinary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadReport {
    Loaded,
    Missing,
    Rejected,
    Corrupt,
}

/// The save decision, before any cookie is formatted. Hosts with a `beforeSave` hook run it
/// between [`SessionRequest::decide`] and [`SessionRequest::complete`] when this is `Save`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Save,
    Destroy,
    Nothing,
    /// `sessionSave = false`: neither the store nor the cookies are touched.
    Untouched,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreAction {
    None,
    Save { sid: String, json: String, ttl_ms: u64 },
    Destroy { sid: String },
}

/// Everything the host must do at the end of the request, in this order: the store action,
/// then (only if it succeeded) send each `Set-Cookie` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub store: StoreAction,
    pub set_cookies: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// A call that does not fit the current step (e.g. `finish` before a sid exists).
    WrongStep,
    /// A session id (from a generator or upstream) that cannot travel in a cookie.
    InvalidSid,
    /// Session data handed back by the host is not a JSON object.
    NotAnObject,
    /// Session data breaks another record rule (limits, the `cookie` field).
    InvalidRecord(RecordError),
    Cookie(CookieError),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::WrongStep => f.write_str("session request used out of order"),
            RequestError::InvalidSid => f.write_str("session id is invalid: 1-256 printable ASCII characters without ';' or space"),
            RequestError::NotAnObject => f.write_str("session data is not a JSON object"),
            RequestError::InvalidRecord(e) => e.fmt(f),
            RequestError::Cookie(e) => e.fmt(f),
        }
    }
}
impl std::error::Error for RequestError {}

impl From<RecordError> for RequestError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::NotAnObject => RequestError::NotAnObject,
            other => RequestError::InvalidRecord(other),
        }
    }
}

impl From<CookieError> for RequestError {
    fn from(e: CookieError) -> Self {
        RequestError::Cookie(e)
    }
}

/// Whether `request_path` is inside `cookie_path` (RFC 6265 path-match: `/app` covers `/app`
/// and `/app/x`, not `/apple`). A missing or `/` path covers everything.
pub fn path_matches(cookie_path: Option<&str>, request_path: &str) -> bool {
    let Some(cp) = cookie_path.filter(|p| !p.is_empty() && *p != "/") else { return true };
    let path = request_path.split(['?', '#']).next().unwrap_or("");
    match path.strip_prefix(cp) {
        Some(rest) => rest.is_empty() || cp.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// One request's session, from the Cookie header to the final store action.
#[derive(Clone, Debug)]
pub struct SessionRequest {
    sid: Option<String>,
    step: Step,
    /// A record exists in the store under `sid` (it was loaded and not regenerated away).
    stored: bool,
    original: Option<String>,
    cookie: ClientCookie,
}

fn read_cookie(cfg: &SessionConfig, header: &[u8]) -> Option<(String, ClientCookie)> {
    let raw = get_cookie(header, &cfg.cookie_name)?;
    if raw.is_empty() {
        return None;
    }
    let stale = Some((String::new(), ClientCookie::Stale));
    let Some(value) = std::str::from_utf8(raw).ok().filter(|v| is_valid_sid(v)) else { return stale };
    let resign = match &cfg.keys {
        None => false,
        Some(keys) => {
            let Some(sig) = get_cookie(header, &cfg.sig_name) else { return stale };
            let mut data = Vec::with_capacity(cfg.cookie_name.len() + 1 + value.len());
            data.extend_from_slice(cfg.cookie_name.as_bytes());
            data.push(b'=');
            data.extend_from_slice(value.as_bytes());
            match keys.verify(&data, sig) {
                None => return stale,
                Some(Verified::Current) => false,
                Some(Verified::OlderKey(_)) => true,
            }
        }
    };
    Some((value.to_owned(), ClientCookie::Current { resign }))
}

impl SessionRequest {
    /// Starts a request. `request_path` (when given) is matched against the cookie path;
    /// outside it there is no session and `None` is returned. An `upstream_sid` (set by an
    /// earlier middleware) wins over the cookie.
    pub fn begin(cfg: &SessionConfig, cookie_header: Option<&[u8]>, request_path: Option<&str>, upstream_sid: Option<&str>) -> Option<SessionRequest> {
        if let Some(path) = request_path {
            if !path_matches(cfg.cookie.path.as_deref(), path) {
                return None;
            }
        }
        let from_cookie = cookie_header.and_then(|h| read_cookie(cfg, h));
        let (sid, cookie) = match (upstream_sid.filter(|s| !s.is_empty()), from_cookie) {
            (Some(up), Some((c, state))) if c == up => (Some(c), state),
            (Some(up), Some((_, ClientCookie::Stale))) => (Some(up.to_owned()), ClientCookie::Stale),
            (Some(up), _) => (Some(up.to_owned()), ClientCookie::Absent),
            (None, Some((_, ClientCookie::Stale))) => (None, ClientCookie::Stale),
            (None, Some((c, state))) => (Some(c), state),
            (None, None) => (None, ClientCookie::Absent),
        };
        let sid = sid.filter(|s| is_valid_sid(s));
        Some(SessionRequest {
            step: if sid.is_some() { Step::Load } else { Step::NeedSid },
            sid,
            stored: false,
            original: None,
            cookie,
        })
    }

    pub fn next(&self) -> Next<'_> {
        match (self.step, &self.sid) {
            (Step::Load, Some(sid)) => Next::Load(sid),
            (Step::Ready, _) => Next::Ready,
            _ => Next::NeedSid,
        }
    }

    /// Feeds the store's answer for [`Next::Load`]. Anything but a valid record (a JSON
    /// object within the limits, see [`check_record`]) starts a new session under a new id: a
    /// client-chosen id is never adopted.
    pub fn loaded(&mut self, result: Loaded) -> Result<LoadReport, RequestError> {
        if self.step != Step::Load {
            return Err(RequestError::WrongStep);
        }
        let report = match result {
            Loaded::Found(json) if check_record(&json).is_ok() => {
                self.original = Some(json);
                self.stored = true;
                self.step = Step::Ready;
                return Ok(LoadReport::Loaded);
            }
            Loaded::Found(_) => LoadReport::Corrupt,
            Loaded::Missing => LoadReport::Missing,
            Loaded::Rejected => LoadReport::Rejected,
        };
        self.sid = None;
        self.step = Step::NeedSid;
        if self.cookie != ClientCookie::Absent {
            self.cookie = ClientCookie::Stale;
        }
        Ok(report)
    }

    /// Gives a new session its id (after [`Next::NeedSid`]).
    pub fn set_new_sid(&mut self, sid: String) -> Result<(), RequestError> {
        if self.step != Step::NeedSid {
            return Err(RequestError::WrongStep);
        }
        if !is_valid_sid(&sid) {
            return Err(RequestError::InvalidSid);
        }
        self.sid = Some(sid);
        self.step = Step::Ready;
        Ok(())
    }

    /// The session id, once known.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// True until a stored record backs this session.
    pub fn is_new(&self) -> bool {
        !self.stored
    }

    /// The session JSON to hand to the application: the loaded record, or a fresh session.
    pub fn session_json<'a>(&'a self, cfg: &'a SessionConfig) -> &'a str {
        self.original.as_deref().unwrap_or(&cfg.fresh_json)
    }

    /// Replaces the session with a fresh one under `new_sid` (e.g. at login, against session
    /// fixation). Returns the old id when a stored record must be destroyed by the host.
    pub fn regenerate(&mut self, new_sid: String) -> Result<Option<String>, RequestError> {
        if self.step != Step::Ready {
            return Err(RequestError::WrongStep);
        }
        if !is_valid_sid(&new_sid) {
            return Err(RequestError::InvalidSid);
        }
        let old = self.sid.replace(new_sid);
        let to_destroy = if self.stored { old } else { None };
        self.stored = false;
        self.original = None;
        if self.cookie != ClientCookie::Absent {
            self.cookie = ClientCookie::Stale;
        }
        Ok(to_destroy)
    }

    /// Whether handing back the loaded JSON unchanged, with no `sessionSave` override, is
    /// certain to end the request with nothing to do (no store action, no cookie): a stored
    /// session, not rolling, whose cookie needs neither re-signing nor clearing. A host may
    /// then skip [`finish`](Self::finish) for an unchanged session (the Node addon's reads
    /// make one native call instead of two); `finish` would give the same empty outcome.
    pub fn quiet_when_unchanged(&self, cfg: &SessionConfig) -> bool {
        self.step == Step::Ready
            && self.stored
            && !cfg.rolling
            && !matches!(self.cookie, ClientCookie::Stale | ClientCookie::Current { resign: true })
    }

    /// Decides what the end of the request does with `json` (`None`: the application set the
    /// session to null) and the `sessionSave` override.
    pub fn decide(&self, cfg: &SessionConfig, json: Option<&str>, save: Option<bool>) -> Decision {
        match (save, json) {
            (Some(false), _) => Decision::Untouched,
            (_, None) if self.stored => Decision::Destroy,
            (_, None) => Decision::Nothing,
            (Some(true), Some(_)) => Decision::Save,
            (None, Some(j)) if !self.stored => {
                if cfg.allow_empty || j != cfg.fresh_json {
                    Decision::Save
                } else {
                    Decision::Nothing
                }
            }
            (None, Some(j)) => {
                if cfg.rolling || Some(j) != self.original.as_deref() {
                    Decision::Save
                } else {
                    Decision::Nothing
                }
            }
        }
    }

    /// Turns a decision into the store action and cookies. All cookie formatting and checks
    /// happen here, before the host writes anything, so a cookie error never follows a store
    /// write. `plain_http` refuses `secure` cookies on unencrypted requests, as Koa does.
    pub fn complete(self, cfg: &SessionConfig, decision: Decision, json: Option<&str>, plain_http: bool, now_ms: i64) -> Result<Outcome, RequestError> {
        let sid = match (self.step, self.sid) {
            (Step::Ready, Some(sid)) => sid,
            _ => return Err(RequestError::WrongStep),
        };
        let none = |set_cookies| Ok(Outcome { store: StoreAction::None, set_cookies });
        match decision {
            Decision::Untouched => none(vec![]),
            Decision::Destroy => Ok(Outcome { store: StoreAction::Destroy { sid }, set_cookies: clear_cookies(cfg)? }),
            Decision::Nothing => match self.cookie {
                ClientCookie::Stale => none(clear_cookies(cfg)?),
                ClientCookie::Current { resign: true } => {
                    let json = self.original.as_deref().unwrap_or(&cfg.fresh_json);
                    let attrs = session_cookie(json, &cfg.cookie).unwrap_or_else(|_| cfg.cookie.clone());
                    check_transport(&attrs, plain_http)?;
                    let mut cookies = session_cookies(cfg, &sid, &attrs, now_ms)?;
                    none(cookies.split_off(1))
                }
                _ => none(vec![]),
            },
            Decision::Save => {
                let json = json.ok_or(RequestError::WrongStep)?;
                let attrs = session_cookie(json, &cfg.cookie)?;
                let ttl = ttl_ms(&attrs, now_ms, cfg.default_ttl_ms);
                if ttl <= 0 {
                    // The session's own cookie says it has expired: end it rather than store it.
                    let store = if self.stored { StoreAction::Destroy { sid } } else { StoreAction::None };
                    return Ok(Outcome { store, set_cookies: clear_cookies(cfg)? });
                }
                check_transport(&attrs, plain_http)?;
                let set_cookies = session_cookies(cfg, &sid, &attrs, now_ms)?;
                Ok(Outcome { store: StoreAction::Save { sid, json: json.to_owned(), ttl_ms: ttl as u64 }, set_cookies })
            }
        }
    }

    /// The request's state besides its id and loaded JSON, as one small number (below
    /// [`STATE_CODES`]): with [`into_parts`](Self::into_parts) and
    /// [`from_parts`](Self::from_parts) a host can keep a request in its own plain variables
    /// between calls (the Node addon keeps no native object per request).
    pub fn state_code(&self) -> u8 {
        let step = match self.step {
            Step::Load => 0,
            Step::NeedSid => 1,
            Step::Ready => 2,
        };
        let cookie = match self.cookie {
            ClientCookie::Absent => 0,
            ClientCookie::Current { resign: false } => 1,
            ClientCookie::Current { resign: true } => 2,
            ClientCookie::Stale => 3,
        };
        step | (u8::from(self.stored) << 2) | (cookie << 3)
    }

    /// The request as `(state code, sid, loaded JSON)`.
    pub fn into_parts(self) -> (u8, Option<String>, Option<String>) {
        (self.state_code(), self.sid, self.original)
    }

    /// Rebuilds a request from [`into_parts`](Self::into_parts). Parts that no request can
    /// have (an unknown code, a missing or invalid id where one is needed, loaded JSON
    /// without a stored record or the reverse) are refused, so a host's slip is an error
    /// rather than a wrong decision.
    pub fn from_parts(code: u8, sid: Option<String>, original: Option<String>) -> Result<SessionRequest, RequestError> {
        if code >= STATE_CODES {
            return Err(RequestError::WrongStep);
        }
        let step = match code & 3 {
            0 => Step::Load,
            1 => Step::NeedSid,
            2 => Step::Ready,
            _ => return Err(RequestError::WrongStep),
        };
        let stored = code & 4 != 0;
        let cookie = match code >> 3 {
            0 => ClientCookie::Absent,
            1 => ClientCookie::Current { resign: false },
            2 => ClientCookie::Current { resign: true },
            _ => ClientCookie::Stale,
        };
        let sid = match step {
            // Waiting for an id: whatever id the host kept is no longer the session's.
            Step::NeedSid => None,
            _ => Some(sid.filter(|s| is_valid_sid(s)).ok_or(RequestError::InvalidSid)?),
        };
        if stored != original.is_some() || (stored && step != Step::Ready) {
            return Err(RequestError::WrongStep);
        }
        Ok(SessionRequest { sid, step, stored, original, cookie })
    }

    /// [`decide`](Self::decide) then [`complete`](Self::complete), for hosts without a
    /// `beforeSave` hook.
    pub fn finish(self, cfg: &SessionConfig, json: Option<&str>, save: Option<bool>, plain_http: bool, now_ms: i64) -> Result<Outcome, RequestError> {
        let decision = self.decide(cfg, json, save);
        self.complete(cfg, decision, json, plain_http, now_ms)
    }
}

fn check_transport(attrs: &CookieAttributes, plain_http: bool) -> Result<(), CookieError> {
    if attrs.secure && plain_http {
        return Err(CookieError::SecureOverHttp);
    }
    Ok(())
}

/// `name=sid` and, when signing, `name.sig=<signature>` with the same attributes.
fn session_cookies(cfg: &SessionConfig, sid: &str, attrs: &CookieAttributes, now_ms: i64) -> Result<Vec<String>, CookieError> {
    let cookie = format_set_cookie(&cfg.cookie_name, sid, attrs, now_ms)?;
    let Some(keys) = &cfg.keys else { return Ok(vec![cookie]) };
    // The cookie starts with the signed data, `name=sid`; the rest is its attribute text (path,
    // the expires date, ...), the same for the `.sig` cookie: the date is formatted only once.
    let (data, attributes) = cookie.split_at(cfg.cookie_name.len() + 1 + sid.len());
    let signature = keys.sign(data.as_bytes());
    let mut sig = String::with_capacity(cfg.sig_name.len() + 1 + signature.len() + attributes.len());
    sig.push_str(&cfg.sig_name);
    sig.push('=');
    sig.push_str(&signature);
    sig.push_str(attributes);
    // Nothing to check: the config checked the name (".sig" keeps it valid), a signature is base64url.
    debug_assert_eq!(Ok(&sig), format_set_cookie(&cfg.sig_name, &signature, attrs, now_ms).as_ref());
    Ok(vec![cookie, sig])
}

/// Clears the session cookie and its signature, with the configured path and domain.
fn clear_cookies(cfg: &SessionConfig) -> Result<Vec<String>, CookieError> {
    let mut out = vec![format_clear_cookie(&cfg.cookie_name, &cfg.cookie)?];
    if cfg.keys.is_some() {
        out.push(format_clear_cookie(&cfg.sig_name, &cfg.cookie)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `quiet_when_unchanged` is exact: for every request state that holds a loaded record,
    /// finishing with that record unchanged does nothing exactly when the flag says so.
    #[test]
    fn quiet_when_unchanged_matches_finish() {
        const SID: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        const RECORD: &str = r#"{"user":"ann"}"#;
        let mut quiet_seen = 0;
        for rolling in [false, true] {
            let cfg = SessionConfig::builder().keys(["k"]).rolling(rolling).build().unwrap();
            for code in 0..STATE_CODES {
                let Ok(req) = SessionRequest::from_parts(code, Some(SID.to_owned()), Some(RECORD.to_owned())) else { continue };
                let quiet = req.quiet_when_unchanged(&cfg);
                let outcome = req.finish(&cfg, Some(RECORD), None, true, 0).unwrap();
                let nothing = outcome.store == StoreAction::None && outcome.set_cookies.is_empty();
                assert_eq!(quiet, nothing, "code {code} rolling {rolling}: {outcome:?}");
                quiet_seen += usize::from(quiet);
            }
            // Without a loaded record there is nothing to be unchanged from.
            for code in 0..STATE_CODES {
                if let Ok(req) = SessionRequest::from_parts(code, Some(SID.to_owned()), None) {
                    assert!(!req.quiet_when_unchanged(&cfg), "code {code}");
                }
            }
        }
        assert!(quiet_seen > 0);
    }

    #[test]
    fn path_matching_is_by_segment() {
        for (cookie, path, ok) in [
            (None, "/x", true),
            (Some("/"), "/anything", true),
            (Some("/app"), "/app", true),
            (Some("/app"), "/app/", true),
            (Some("/app"), "/app/x?y=1", true),
            (Some("/app"), "/apple", false),
            (Some("/app"), "/", false),
            (Some("/app/"), "/app/x", true),
            (Some("/app/"), "/app", false),
            (Some("/app"), "/app?x", true),
        ] {
            assert_eq!(path_matches(cookie, path), ok, "{cookie:?} {path}");
        }
    }
}
