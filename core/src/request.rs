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
//!                                  Ready ── (regenerate(new sid)) ── finish(Ending)
//!                                                                        ▼
//!                  Outcome { ops: [Destroy old id] [Save | Merge | Touch | Destroy], set_cookies }
//! ```
//!
//! The outcome is the plan every host executes as it is, in order: the C driver, the Node
//! middleware and the MemoryStore fast path run these operations and decide nothing.
//!
//! Change detection compares the JSON the host hands back with the JSON it was given: equal
//! strings mean equal data, so a change is never missed (a hash could collide and lose a write).

use crate::config::SessionConfig;
use crate::cookie_header::get_cookie;
use crate::lifetime::{alias_json, alias_of, app_json, read_times, with_times, AtLoad, Due, Standing, Times};
use crate::record::{check_record, session_cookie, ttl_ms, RecordError};
use crate::set_cookie::{format_clear_cookie, format_set_cookie, CookieAttributes, CookieError};
use crate::sid::is_valid_sid;
use crate::user_field::{user_of, UserIdError};
use crate::signing::Verified;
use std::borrow::Cow;
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
    /// A well-signed cookie naming an id the session was renewed from, within its grace: the
    /// session loads, and the current id's cookie is sent.
    Graced,
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
pub const STATE_CODES: u8 = 64;

/// The store's answer for the id being loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    Found(String),
    /// A record its store knows passed [`check_record`] when it was written (the native
    /// MemoryStore's `get_record_sync`): loaded without checking it again. Never for text from
    /// anywhere else: a record that breaks the rules would fail the request at its end
    /// instead of starting a new session.
    Checked(String),
    Missing,
    /// The host's `valid(ctx, session)` hook refused the record.
    Rejected,
}

/// How loading went; `Corrupt` is worth a log line (the store holds something that is not a
/// JSON object), every other outcome is ordinary. The numbers are the codes every host uses
/// (the C enum `ks_load_report` and the Node addon's `LoadReport` are generated from these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LoadReport {
    /// No (valid) session cookie named a session: a new session.
    NoCookie = 0,
    /// The record named by the cookie was loaded.
    Loaded = 1,
    /// The cookie named no record (expired or destroyed): a new session.
    Missing = 2,
    /// The host's `valid()` hook refused the record: a new session.
    Rejected = 3,
    /// The store holds something under that id that is not a usable session record.
    Corrupt = 4,
    /// The record passed its idle or absolute timeout: a new session, the record destroyed.
    Expired = 5,
    /// The cookie's id is a renewed session's (an alias record): its record is loaded next.
    Alias = 6,
}

impl LoadReport {
    /// What the report means, for a debug log.
    pub fn describe(self) -> &'static str {
        match self {
            LoadReport::NoCookie => "new session: no session cookie named one",
            LoadReport::Loaded => "session loaded from the store",
            LoadReport::Missing => "new session: the cookie's id is unknown or expired",
            LoadReport::Rejected => "new session: valid() refused the stored session",
            LoadReport::Corrupt => "new session: the store holds an unusable record under the cookie's id",
            LoadReport::Expired => "new session: the stored session passed its idle or absolute timeout (it is destroyed)",
            LoadReport::Alias => "the cookie's id belongs to a renewed session: loading its record",
        }
    }

    /// Every report, in code order.
    pub const ALL: [LoadReport; 7] =
        [LoadReport::NoCookie, LoadReport::Loaded, LoadReport::Missing, LoadReport::Rejected, LoadReport::Corrupt, LoadReport::Expired, LoadReport::Alias];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<LoadReport> {
        LoadReport::ALL.get(usize::from(code)).copied()
    }
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

/// One store operation of a plan. `Save` and `Merge` write the session JSON the host handed to
/// [`SessionRequest::finish`] (after its `beforeSave` hook, if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Remove the record: a destroyed session, or the id a regenerate replaced.
    Destroy { sid: String },
    /// Write the whole record: a new, regenerated or replaced (`ctx.session = {...}`) session,
    /// or a change on a store that cannot compare-and-set.
    Save { sid: String, ttl_ms: u64 },
    /// Apply this request's top-level changes (loaded JSON → session JSON) to the record the
    /// store holds now, by compare-and-set on the exact loaded bytes. When the record is gone,
    /// write nothing and send [`clear_cookies`] instead of the plan's cookies.
    Merge { sid: String, ttl_ms: u64 },
    /// Refresh the record's expiry only (unchanged data, rolling or `sessionSave = true`).
    /// When the record is gone, as for `Merge`.
    Touch { sid: String, ttl_ms: u64 },
    /// Put `sid` in the index of `user` (the `userField` option), before the record is
    /// written: see `store::user_index` for why first.
    IndexUser { user: String, sid: String },
    /// Write `json`, an alias record, under `sid`: the new id a renewal gives the session
    /// (`renewInterval`), written before the record names it as current.
    Alias { sid: String, json: String, ttl_ms: u64 },
}

impl StoreOp {
    /// The operation codes every host uses (the Node addon exports them as `STORE_OP_*`).
    pub const DESTROY: u8 = 0;
    pub const SAVE: u8 = 1;
    pub const MERGE: u8 = 2;
    pub const TOUCH: u8 = 3;
    pub const INDEX_USER: u8 = 4;
    pub const ALIAS: u8 = 5;

    /// What an operation of code `code` did, for a debug log.
    pub fn describe(code: u8) -> Option<&'static str> {
        Some(match code {
            StoreOp::DESTROY => "store: record destroyed",
            StoreOp::SAVE => "store: session written whole",
            StoreOp::MERGE => "store: changes merged into the stored record",
            StoreOp::TOUCH => "store: expiry refreshed (data unchanged)",
            StoreOp::INDEX_USER => "store: session added to its user's index",
            StoreOp::ALIAS => "store: the session's new id written (renewal)",
            _ => return None,
        })
    }

    /// This operation's code.
    pub fn code(&self) -> u8 {
        match self {
            StoreOp::Destroy { .. } => StoreOp::DESTROY,
            StoreOp::Save { .. } => StoreOp::SAVE,
            StoreOp::Merge { .. } => StoreOp::MERGE,
            StoreOp::Touch { .. } => StoreOp::TOUCH,
            StoreOp::IndexUser { .. } => StoreOp::INDEX_USER,
            StoreOp::Alias { .. } => StoreOp::ALIAS,
        }
    }
    pub fn sid(&self) -> &str {
        match self {
            StoreOp::Destroy { sid }
            | StoreOp::Save { sid, .. }
            | StoreOp::Merge { sid, .. }
            | StoreOp::Touch { sid, .. }
            | StoreOp::IndexUser { sid, .. }
            | StoreOp::Alias { sid, .. } => sid,
        }
    }
    /// The TTL to write (0 for `Destroy` and `IndexUser`).
    pub fn ttl_ms(&self) -> u64 {
        match self {
            StoreOp::Destroy { .. } | StoreOp::IndexUser { .. } => 0,
            StoreOp::Save { ttl_ms, .. } | StoreOp::Merge { ttl_ms, .. } | StoreOp::Touch { ttl_ms, .. } | StoreOp::Alias { ttl_ms, .. } => *ttl_ms,
        }
    }
}

/// The plan for the end of a request: run `ops` in order, stop at the first failure, then
/// (only if every one succeeded) send each `Set-Cookie` value.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    pub ops: Vec<StoreOp>,
    pub set_cookies: Vec<String>,
    /// The JSON that `Save` and `Merge` write when it is not the host's: with lifetimes the
    /// engine's times go into it ([`crate::lifetime`]). `None`: write the host's JSON.
    pub json: Option<String>,
}

impl Outcome {
    /// Nothing to write and no cookie to send.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.set_cookies.is_empty()
    }
}

/// What the store can do besides get/set/destroy; the plan uses `Merge` and `Touch` only
/// where the store has them, and a whole-record `Save` elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StoreCaps {
    pub compare_and_set: bool,
    pub touch: bool,
}

/// How the application left the session at the end of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending<'a> {
    /// The session's JSON; `None` when the application set it to null (destroy).
    pub json: Option<&'a str>,
    /// The `sessionSave` override: `Some(true)` forces a save, `Some(false)` touches nothing.
    pub save: Option<bool>,
    /// The application replaced the whole session (`ctx.session = {...}`, C `set_json`) rather
    /// than changing its fields: written whole, never merged.
    pub replaced: bool,
}

impl<'a> Ending<'a> {
    pub fn new(json: Option<&'a str>) -> Ending<'a> {
        Ending { json, save: None, replaced: false }
    }
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
    /// The `userField` of the session holds something that is not a user id.
    UserId(UserIdError),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::WrongStep => f.write_str("session request used out of order"),
            RequestError::InvalidSid => f.write_str("session id is invalid: 1-256 printable ASCII characters without ';' or space"),
            RequestError::NotAnObject => f.write_str("session data is not a JSON object"),
            RequestError::InvalidRecord(e) => e.fmt(f),
            RequestError::Cookie(e) => e.fmt(f),
            RequestError::UserId(e) => e.fmt(f),
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
    /// The stored id a regenerate replaced, or of a record that was over (timed out):
    /// destroyed first at the end of the request.
    replaced: Option<String>,
    /// Lifetimes: what the loaded session is due for even when nothing else changes.
    due: Due,
    /// While loading through an alias: the id the cookie named (a renewed session's).
    via: Option<String>,
    /// The new id of a renewal (`due` is `Renewal`), once the host gave one.
    renew_to: Option<String>,
}

/// What the session cookie of a request is, in detail (for [`explain_cookie`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CookieCheck {
    Absent,
    InvalidId,
    Unsigned,
    BadSignature,
    Current,
    OlderKey,
}

impl CookieCheck {
    fn describe(self) -> &'static str {
        match self {
            CookieCheck::Absent => "no session cookie",
            CookieCheck::InvalidId => "session cookie refused: not a valid session id",
            CookieCheck::Unsigned => "session cookie refused: unsigned (no .sig cookie) while keys are set",
            CookieCheck::BadSignature => "session cookie refused: bad signature",
            CookieCheck::Current => "session cookie signed with the current key",
            CookieCheck::OlderKey => "session cookie signed with an older key: it will be re-signed with the current one",
        }
    }
}

fn check_cookie<'h>(cfg: &SessionConfig, header: &'h [u8]) -> (CookieCheck, Option<&'h str>) {
    let Some(raw) = get_cookie(header, &cfg.cookie_name).filter(|r| !r.is_empty()) else { return (CookieCheck::Absent, None) };
    let Some(value) = std::str::from_utf8(raw).ok().filter(|v| is_valid_sid(v)) else { return (CookieCheck::InvalidId, None) };
    let Some(keys) = &cfg.keys else { return (CookieCheck::Current, Some(value)) };
    let Some(sig) = get_cookie(header, &cfg.sig_name) else { return (CookieCheck::Unsigned, None) };
    let mut data = Vec::with_capacity(cfg.cookie_name.len() + 1 + value.len());
    data.extend_from_slice(cfg.cookie_name.as_bytes());
    data.push(b'=');
    data.extend_from_slice(value.as_bytes());
    match keys.verify(&data, sig) {
        None => (CookieCheck::BadSignature, None),
        Some(Verified::Current) => (CookieCheck::Current, Some(value)),
        Some(Verified::OlderKey(_)) => (CookieCheck::OlderKey, Some(value)),
    }
}

fn read_cookie(cfg: &SessionConfig, header: &[u8]) -> Option<(String, ClientCookie)> {
    match check_cookie(cfg, header) {
        (CookieCheck::Absent, _) => None,
        (CookieCheck::Current, Some(sid)) => Some((sid.to_owned(), ClientCookie::Current { resign: false })),
        (CookieCheck::OlderKey, Some(sid)) => Some((sid.to_owned(), ClientCookie::Current { resign: true })),
        _ => Some((String::new(), ClientCookie::Stale)),
    }
}

/// Why the request's session cookie was taken or refused, for a debug log (no id in it).
pub fn explain_cookie(cfg: &SessionConfig, cookie_header: Option<&[u8]>) -> &'static str {
    cookie_header.map_or(CookieCheck::Absent, |h| check_cookie(cfg, h).0).describe()
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
            replaced: None,
            due: Due::Nothing,
            via: None,
            renew_to: None,
        })
    }

    pub fn next(&self) -> Next<'_> {
        match (self.step, &self.sid) {
            (Step::Load, Some(sid)) => Next::Load(sid),
            // A renewal needs its new id: asked for once the session is loaded.
            (Step::Ready, _) if self.due == Due::Renewal && self.renew_to.is_none() => Next::NeedSid,
            (Step::Ready, _) => Next::Ready,
            _ => Next::NeedSid,
        }
    }

    /// Feeds the store's answer for [`Next::Load`], at `now_ms` on the host's clock (what the
    /// timeouts are checked against). Anything but a valid record (a JSON object within the
    /// limits, see [`check_record`]) starts a new session under a new id: a client-chosen id
    /// is never adopted. A record past its idle or absolute timeout starts one too, and is
    /// destroyed at the end of the request.
    pub fn loaded(&mut self, cfg: &SessionConfig, result: Loaded, now_ms: i64) -> Result<LoadReport, RequestError> {
        if self.step != Step::Load {
            return Err(RequestError::WrongStep);
        }
        let lifetimes = cfg.lifetimes;
        let report = match result {
            // (Checked once, first: it is the load's costliest step.)
            Loaded::Found(json) if check_record(&json).is_err() => LoadReport::Corrupt,
            Loaded::Found(json) | Loaded::Checked(json) if lifetimes.is_on() => {
                let times = read_times(&json);
                let key = self.sid.clone().unwrap_or_default();
                let cookie_id = self.via.clone().unwrap_or_else(|| key.clone());
                match (alias_of(&json), &times) {
                    // An alias: the cookie names a renewed session; its record comes next (one hop).
                    (Some(of), None) if self.via.is_none() && is_valid_sid(&of) => {
                        self.via = self.sid.replace(of);
                        return Ok(LoadReport::Alias);
                    }
                    (Some(_), _) => LoadReport::Corrupt,
                    (None, _) => match times.as_ref().map_or(Standing::Current, |t| t.standing(&key, &cookie_id, now_ms)) {
                        // Not (or no longer) one of this session's ids: it loads nothing.
                        Standing::Dead => LoadReport::Missing,
                        standing => match lifetimes.at_load(times.as_ref(), now_ms) {
                            AtLoad::Expired(_) => {
                                self.replaced = Some(key);
                                LoadReport::Expired
                            }
                            AtLoad::Live(due) => {
                                if standing == Standing::Graced && self.cookie != ClientCookie::Absent {
                                    self.cookie = ClientCookie::Graced;
                                }
                                self.due = match (due, standing, &times) {
                                    // Renewed already: a request with a replaced id renews nothing,
                                    // but its activity counts like any other request's.
                                    (Due::Renewal, Standing::Graced, Some(t)) if lifetimes.refresh_due(t, now_ms) => Due::Refresh,
                                    (Due::Renewal, Standing::Graced, _) => Due::Nothing,
                                    _ => due,
                                };
                                self.via = None;
                                self.original = Some(json);
                                self.stored = true;
                                self.step = Step::Ready;
                                return Ok(LoadReport::Loaded);
                            }
                        },
                    },
                }
            }
            // With the options off the engine keeps no times: a record is the app's data,
            // whatever it holds (aliases are followed only where "_ks" cannot be forged: with
            // the options, the app's "_ks" is replaced at every write).
            Loaded::Found(json) | Loaded::Checked(json) => {
                self.original = Some(json);
                self.stored = true;
                self.step = Step::Ready;
                return Ok(LoadReport::Loaded);
            }
            Loaded::Missing => LoadReport::Missing,
            Loaded::Rejected => LoadReport::Rejected,
        };
        self.via = None;
        self.sid = None;
        self.step = Step::NeedSid;
        if self.cookie != ClientCookie::Absent {
            self.cookie = ClientCookie::Stale;
        }
        Ok(report)
    }

    /// Gives a new session its id (after [`Next::NeedSid`]).
    pub fn set_new_sid(&mut self, sid: String) -> Result<(), RequestError> {
        if self.next() != Next::NeedSid {
            return Err(RequestError::WrongStep);
        }
        if !is_valid_sid(&sid) {
            return Err(RequestError::InvalidSid);
        }
        if self.step == Step::Ready {
            // A renewal's new id (see `next`).
            self.renew_to = Some(sid);
            return Ok(());
        }
        self.sid = Some(sid);
        self.step = Step::Ready;
        Ok(())
    }

    /// The session id, once known: the key of its record (with `renewInterval` the cookie
    /// may carry another id of the session, see [`cookie_id`](Self::cookie_id)).
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The id the session's cookie carries: a renewal's new id, else the current id the
    /// record names, else its key.
    pub fn cookie_id(&self, cfg: &SessionConfig) -> Option<Cow<'_, str>> {
        if let Some(to) = &self.renew_to {
            return Some(Cow::Borrowed(to));
        }
        let key = self.sid.as_deref()?;
        // (Only the lifetime options put times in records: without them nothing is read.)
        let loaded = self.original.as_deref().filter(|_| self.stored && cfg.lifetimes.is_on());
        let renamed = loaded.and_then(read_times).and_then(|t| t.sid);
        Some(renamed.map_or(Cow::Borrowed(key), Cow::Owned))
    }

    /// The record's JSON exactly as the store gave it (what a `Merge` compares against).
    pub fn loaded_json(&self) -> Option<&str> {
        self.original.as_deref()
    }

    /// The stored id a regenerate replaced (destroyed by the plan), if any.
    pub fn replaced_sid(&self) -> Option<&str> {
        self.replaced.as_deref()
    }

    /// True until a stored record backs this session.
    pub fn is_new(&self) -> bool {
        !self.stored
    }

    /// The session JSON to hand to the application: the loaded record (with lifetimes,
    /// without the engine's times), or a fresh session.
    pub fn session_json<'a>(&'a self, cfg: &'a SessionConfig) -> Cow<'a, str> {
        match &self.original {
            Some(loaded) => app_json(cfg, loaded),
            None => Cow::Borrowed(&cfg.fresh_json),
        }
    }

    /// Whether the application handed back the session as it was given.
    fn unchanged(&self, cfg: &SessionConfig, json: &str) -> bool {
        self.original.as_deref().is_some_and(|loaded| app_json(cfg, loaded) == json)
    }

    /// Replaces the session with a fresh one under `new_sid` (e.g. at login, against session
    /// fixation). A stored record under the old id is destroyed by the end-of-request plan,
    /// whatever else happens (even `sessionSave = false`); the id is returned for the host's
    /// information.
    pub fn regenerate(&mut self, new_sid: String) -> Result<Option<String>, RequestError> {
        if self.step != Step::Ready {
            return Err(RequestError::WrongStep);
        }
        if !is_valid_sid(&new_sid) {
            return Err(RequestError::InvalidSid);
        }
        let old = self.sid.replace(new_sid);
        let to_destroy = if self.stored { old } else { None };
        if to_destroy.is_some() {
            self.replaced.clone_from(&to_destroy);
        }
        self.stored = false;
        self.original = None;
        self.due = Due::Nothing;
        self.renew_to = None;
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
            && self.due == Due::Nothing
            && !matches!(self.cookie, ClientCookie::Stale | ClientCookie::Graced | ClientCookie::Current { resign: true })
    }

    /// Decides what the end of the request does with the session (before any cookie is
    /// formatted). Hosts with a `beforeSave` hook run it when this is [`Decision::Save`], then
    /// [`finish`](Self::finish) with the session as the hook left it.
    pub fn decide(&self, cfg: &SessionConfig, end: &Ending<'_>) -> Decision {
        self.decide_why(cfg, end).0
    }

    /// Why [`decide`](Self::decide) decides what it does, for a debug log (no data in it).
    pub fn explain_decision(&self, cfg: &SessionConfig, end: &Ending<'_>) -> &'static str {
        self.decide_why(cfg, end).1
    }

    fn decide_why(&self, cfg: &SessionConfig, end: &Ending<'_>) -> (Decision, &'static str) {
        match (end.save, end.json) {
            (Some(false), _) => (Decision::Untouched, "not saved: sessionSave is false (store and cookie left as they are)"),
            (_, None) if self.stored => (Decision::Destroy, "destroyed: the session was set to null"),
            (_, None) => (Decision::Nothing, "nothing to destroy: the session set to null was never stored"),
            (Some(true), Some(_)) => (Decision::Save, "saved: sessionSave is true"),
            (None, Some(j)) if !self.stored => {
                if j != cfg.fresh_json {
                    (Decision::Save, "saved: a new session that holds data")
                } else if cfg.allow_empty {
                    (Decision::Save, "saved: a new empty session (allowEmpty)")
                } else {
                    (Decision::Nothing, "not saved: a new session with nothing in it (allowEmpty is off)")
                }
            }
            (None, Some(j)) => {
                if !self.unchanged(cfg, j) {
                    (Decision::Save, "saved: the session changed")
                } else if self.due == Due::Renewal {
                    (Decision::Save, "saved: renewed: the session gets a new id (renewInterval)")
                } else if self.due == Due::Refresh {
                    (Decision::Save, "saved: its activity time is refreshed (idleTimeout: more than half the window passed, or the record had no times yet)")
                } else if self.cookie == ClientCookie::Graced {
                    // The response names the current id: merged unchanged first, so that a
                    // session ended meanwhile (logout) clears the cookie instead.
                    (Decision::Save, "saved: through an id the session was renewed from (renewGrace): merged unchanged, then the current id's cookie")
                } else if cfg.rolling {
                    (Decision::Save, "saved: rolling (unchanged data: its expiry is refreshed)")
                } else {
                    (Decision::Nothing, "not saved: the session is unchanged")
                }
            }
        }
    }

    /// The plan for the end of the request. All cookie formatting and checks happen here,
    /// before the host writes anything, so a cookie error never follows a store write.
    /// `plain_http` refuses `secure` cookies on unencrypted requests, as Koa does; `now_ms` is
    /// the host's clock (JavaScript's `Date.now()` in Node, so fake timers apply).
    pub fn finish(&self, cfg: &SessionConfig, end: &Ending<'_>, caps: StoreCaps, plain_http: bool, now_ms: i64) -> Result<Outcome, RequestError> {
        let decision = self.decide(cfg, end);
        let sid = match (self.next(), &self.sid) {
            (Next::Ready, Some(sid)) => sid.clone(),
            _ => return Err(RequestError::WrongStep),
        };
        // The id the cookie carries: the record's key, or the id a renewal gave it.
        let cookie_id = self.cookie_id(cfg).unwrap_or(Cow::Borrowed(sid.as_str())).into_owned();
        let mut ops = Vec::new();
        let mut stamped = None;
        if let Some(old) = self.replaced.clone() {
            ops.push(StoreOp::Destroy { sid: old });
        }
        let set_cookies = match decision {
            Decision::Untouched => vec![],
            Decision::Destroy => {
                ops.push(StoreOp::Destroy { sid });
                clear_cookies(cfg)?
            }
            Decision::Nothing => match self.cookie {
                ClientCookie::Stale => clear_cookies(cfg)?,
                ClientCookie::Current { resign: true } => {
                    let json = self.original.as_deref().unwrap_or(&cfg.fresh_json);
                    let attrs = session_cookie(json, &cfg.cookie).unwrap_or_else(|_| cfg.cookie.clone());
                    check_transport(&attrs, plain_http)?;
                    // Re-signed: the signature only.
                    session_cookies(cfg, &cookie_id, &attrs, now_ms)?.split_off(1)
                }
                _ => vec![],
            },
            Decision::Save => {
                let json = end.json.ok_or(RequestError::WrongStep)?;
                let attrs = session_cookie(json, &cfg.cookie)?;
                let mut ttl = ttl_ms(&attrs, now_ms, cfg.default_ttl_ms);
                let unchanged = self.unchanged(cfg, json) && !end.replaced && self.due == Due::Nothing;
                let mut times = None;
                if cfg.lifetimes.is_on() {
                    // The engine's times, from the loaded record: written anew (activity now)
                    // whenever the record is written; a touch keeps them.
                    let loaded = self.original.as_deref().filter(|_| self.stored).and_then(read_times);
                    let mut t = loaded.unwrap_or(Times::starting(now_ms));
                    if !unchanged {
                        t.active = now_ms;
                    }
                    if let Some(left) = cfg.lifetimes.ttl_bound_ms(&t, now_ms) {
                        ttl = ttl.min(left);
                    }
                    times = Some(t);
                }
                if ttl <= 0 {
                    // The session's own cookie says it has expired: end it rather than store it.
                    if self.stored {
                        ops.push(StoreOp::Destroy { sid });
                    }
                    return Ok(Outcome { ops, set_cookies: clear_cookies(cfg)?, json: None });
                }
                if let (Some(t), Some(to)) = (times.as_mut(), &self.renew_to) {
                    // Renewal: the new id's alias first, then the record naming it current.
                    for over in t.renewed(&sid, to, now_ms, cfg.lifetimes.renew_grace_ms) {
                        ops.push(StoreOp::Destroy { sid: over });
                    }
                    ops.push(StoreOp::Alias { sid: to.clone(), json: alias_json(&sid), ttl_ms: cfg.lifetimes.alias_ttl_ms(t, now_ms) as u64 });
                }
                if let Some(t) = &times {
                    stamped = Some(with_times(json, t)?);
                }
                check_transport(&attrs, plain_http)?;
                let set_cookies = session_cookies(cfg, &cookie_id, &attrs, now_ms)?;
                let ttl_ms = ttl as u64;
                // With a user index a stored session is never written blind, so that a record
                // destroyed meanwhile (log out everywhere) is never re-created.
                let indexed = cfg.user_field.is_some() && caps.compare_and_set;
                if let Some(user) = self.user_to_index(cfg, json)? {
                    ops.push(StoreOp::IndexUser { user, sid: sid.clone() });
                }
                ops.push(match (self.stored, unchanged) {
                    // With renewal a touch would not see a renewal made meanwhile (a merge does,
                    // and the response then carries the current id).
                    (true, true) if caps.touch && cfg.lifetimes.renew_interval_ms.is_none() => StoreOp::Touch { sid, ttl_ms },
                    // With the lifetime options (or a user index) a stored session is never
                    // written blind: a whole write of what it loaded would undo what another
                    // request changed or ended meanwhile.
                    (true, true) if caps.compare_and_set && (cfg.lifetimes.is_on() || indexed) => StoreOp::Merge { sid, ttl_ms },
                    // With renewal a replaced session is merged too: its times must merge with a renewal made meanwhile.
                    (true, false) if caps.compare_and_set && (!end.replaced || indexed || cfg.lifetimes.renew_interval_ms.is_some()) => StoreOp::Merge { sid, ttl_ms },
                    _ => StoreOp::Save { sid, ttl_ms },
                });
                set_cookies
            }
        };
        Ok(Outcome { ops, set_cookies, json: stamped })
    }

    /// With `userField`: the user to index this session under before writing `json`, when the
    /// write puts it under a user it was not stored under (a login, a switch, a new or
    /// regenerated session with a user). A request that leaves the user as loaded indexes
    /// nothing, and costs nothing. A user field holding something else is an error.
    fn user_to_index(&self, cfg: &SessionConfig, json: &str) -> Result<Option<String>, RequestError> {
        let Some(field) = &cfg.user_field else { return Ok(None) };
        let Some(user) = user_of(json, field).map_err(RequestError::UserId)? else { return Ok(None) };
        let before = match (&self.original, self.stored) {
            (Some(loaded), true) => user_of(loaded, field).ok().flatten(),
            _ => None,
        };
        Ok((before.as_deref() != Some(user.as_str())).then_some(user))
    }

    /// The request's state besides its id and loaded JSON, as one small number (below
    /// [`STATE_CODES`]): with [`into_parts`](Self::into_parts) and
    /// [`from_parts`](Self::from_parts) a host can keep a request in its own plain variables
    /// between calls (the Node addon keeps no native object per request).
    pub fn state_code(&self) -> u8 {
        // A stored session is always ready: its two low bits say what it is due for instead.
        let low = match (self.stored, self.step, self.due) {
            (true, _, Due::Nothing) => 0,
            (true, _, Due::Refresh) => 1,
            (true, _, Due::Renewal) => 2,
            (false, Step::Load, _) => 0,
            (false, Step::NeedSid, _) => 1,
            (false, Step::Ready, _) => 2,
        };
        let cookie = match self.cookie {
            ClientCookie::Absent => 0,
            ClientCookie::Current { resign: false } => 1,
            ClientCookie::Current { resign: true } => 2,
            ClientCookie::Stale => 3,
            ClientCookie::Graced => 4,
        };
        low | (u8::from(self.stored) << 2) | (cookie << 3)
    }

    /// The request as plain parts, to rebuild it later with [`from_parts`](Self::from_parts).
    pub fn into_parts(self) -> RequestParts {
        RequestParts { code: self.state_code(), sid: self.sid, original: self.original, replaced: self.replaced, via: self.via, renew_to: self.renew_to }
    }

    /// Rebuilds a request from [`into_parts`](Self::into_parts). Parts that no request can
    /// have (an unknown code, a missing or invalid id where one is needed, loaded JSON
    /// without a stored record or the reverse, a replaced id that cannot be one) are refused,
    /// so a host's slip is an error rather than a wrong decision.
    pub fn from_parts(parts: RequestParts) -> Result<SessionRequest, RequestError> {
        let RequestParts { code, sid, original, replaced, via, renew_to } = parts;
        if code >= STATE_CODES {
            return Err(RequestError::WrongStep);
        }
        let stored = code & 4 != 0;
        let (step, due) = match (stored, code & 3) {
            (true, 0) => (Step::Ready, Due::Nothing),
            (true, 1) => (Step::Ready, Due::Refresh),
            (true, 2) => (Step::Ready, Due::Renewal),
            (false, 0) => (Step::Load, Due::Nothing),
            (false, 1) => (Step::NeedSid, Due::Nothing),
            (false, 2) => (Step::Ready, Due::Nothing),
            _ => return Err(RequestError::WrongStep),
        };
        let cookie = match code >> 3 {
            0 => ClientCookie::Absent,
            1 => ClientCookie::Current { resign: false },
            2 => ClientCookie::Current { resign: true },
            3 => ClientCookie::Stale,
            4 => ClientCookie::Graced,
            _ => return Err(RequestError::WrongStep),
        };
        let sid = match step {
            // Waiting for an id: whatever id the host kept is no longer the session's.
            Step::NeedSid => None,
            _ => Some(sid.filter(|s| is_valid_sid(s)).ok_or(RequestError::InvalidSid)?),
        };
        if stored != original.is_some() || (cookie == ClientCookie::Graced && !stored) {
            return Err(RequestError::WrongStep);
        }
        let valid = |id: &Option<String>| id.as_deref().is_none_or(is_valid_sid);
        // A regenerated session is ready; a timed-out record's request may await its new id.
        let replaced_ok = replaced.is_none() || (!stored && step != Step::Load);
        let via_ok = via.is_none() || step == Step::Load;
        let renew_ok = renew_to.is_none() || due == Due::Renewal;
        if !(replaced_ok && via_ok && renew_ok && valid(&replaced) && valid(&via) && valid(&renew_to)) {
            return Err(RequestError::WrongStep);
        }
        Ok(SessionRequest { sid, step, stored, original, cookie, replaced, due, via, renew_to })
    }

    /// The request as one short string, for hosts that keep it in their own variables
    /// between calls (the Node middleware): `<step><state><sid>[ <other id>]`, where `<step>`
    /// is a [`TokenStep`] byte and `<state>` is `'@' + state_code()`; the other id is, by the
    /// state, the id a regenerate or a timeout replaced, the id an alias was reached by, or a
    /// renewal's new id (a request has one of them at most). Ids hold no space, so the form
    /// is unambiguous. The loaded JSON travels separately.
    pub fn token(&self, cfg: &SessionConfig) -> String {
        let step = match self.next() {
            Next::Load(_) => TokenStep::Load,
            Next::NeedSid => TokenStep::NeedSid,
            Next::Ready if self.quiet_when_unchanged(cfg) => TokenStep::Quiet,
            Next::Ready => TokenStep::Ready,
        };
        let sid = self.sid.as_deref().unwrap_or("");
        let other = self.replaced.as_deref().or(self.via.as_deref()).or(self.renew_to.as_deref());
        let mut t = String::with_capacity(2 + sid.len() + other.map_or(0, |r| 1 + r.len()));
        t.push(char::from(step as u8));
        t.push(char::from(b'@' + self.state_code()));
        t.push_str(sid);
        if let Some(r) = other {
            t.push(' ');
            t.push_str(r);
        }
        t
    }

    /// Rebuilds a request from [`token`](Self::token) and its loaded JSON. The step byte is
    /// informational (it is derived from the state); anything malformed is refused.
    pub fn from_token(token: &str, original: Option<String>) -> Result<SessionRequest, RequestError> {
        let b = token.as_bytes();
        if b.len() < 2 || TokenStep::from_byte(b[0]).is_none() || !(b'@'..b'@' + STATE_CODES).contains(&b[1]) {
            return Err(RequestError::WrongStep);
        }
        let code = b[1] - b'@';
        let rest = &token[2..];
        let (sid, other) = match rest.split_once(' ') {
            Some((sid, other)) => (sid, Some(other.to_owned())),
            None => (rest, None),
        };
        let sid = Some(sid).filter(|s| !s.is_empty()).map(str::to_owned);
        let mut parts = RequestParts { code, sid, original, ..RequestParts::default() };
        match (code & 4 != 0, code & 3) {
            (true, _) => parts.renew_to = other,
            (false, 0) => parts.via = other,
            (false, _) => parts.replaced = other,
        }
        SessionRequest::from_parts(parts)
    }
}

/// A request as plain values (see [`SessionRequest::into_parts`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RequestParts {
    /// [`SessionRequest::state_code`].
    pub code: u8,
    pub sid: Option<String>,
    /// The loaded record's JSON.
    pub original: Option<String>,
    /// The stored id a regenerate or a timeout replaced.
    pub replaced: Option<String>,
    /// While loading through an alias: the id the cookie named.
    pub via: Option<String>,
    /// A renewal's new id.
    pub renew_to: Option<String>,
}

/// The first byte of a request token: what the host does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TokenStep {
    /// Read the session id from the store.
    Load = b'L',
    /// Generate a session id.
    NeedSid = b'N',
    /// Ready.
    Ready = b'R',
    /// Ready, and handing back the loaded JSON unchanged with no `sessionSave` override ends
    /// the request with nothing to do ([`SessionRequest::quiet_when_unchanged`]).
    Quiet = b'Q',
}

impl TokenStep {
    pub const ALL: [TokenStep; 4] = [TokenStep::Load, TokenStep::NeedSid, TokenStep::Ready, TokenStep::Quiet];

    pub fn from_byte(b: u8) -> Option<TokenStep> {
        TokenStep::ALL.into_iter().find(|s| *s as u8 == b)
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

/// The cookies of the session `json` under the cookie id `cookie_id`: what a host sends instead
/// of the plan's cookies when a merge found the session renewed meanwhile (see
/// [`crate::lifetime::renamed_to`]).
pub fn renamed_cookies(cfg: &SessionConfig, cookie_id: &str, json: &str, plain_http: bool, now_ms: i64) -> Result<Vec<String>, RequestError> {
    let attrs = session_cookie(json, &cfg.cookie)?;
    check_transport(&attrs, plain_http)?;
    Ok(session_cookies(cfg, cookie_id, &attrs, now_ms)?)
}

/// Clears the session cookie and its signature, with the configured path and domain: what a
/// host sends instead of the plan's cookies when a `Merge` or `Touch` finds the record gone.
pub fn clear_cookies(cfg: &SessionConfig) -> Result<Vec<String>, CookieError> {
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
                let parts = RequestParts { code, sid: Some(SID.to_owned()), original: Some(RECORD.to_owned()), ..RequestParts::default() };
                let Ok(req) = SessionRequest::from_parts(parts) else { continue };
                if req.next() != Next::Ready {
                    // A renewal awaiting its new id: not finishable yet.
                    continue;
                }
                let quiet = req.quiet_when_unchanged(&cfg);
                let outcome = req.finish(&cfg, &Ending::new(Some(RECORD)), StoreCaps::default(), true, 0).unwrap();
                let nothing = outcome.is_empty();
                assert_eq!(quiet, nothing, "code {code} rolling {rolling}: {outcome:?}");
                quiet_seen += usize::from(quiet);
            }
            // Without a loaded record there is nothing to be unchanged from.
            for code in 0..STATE_CODES {
                if let Ok(req) = SessionRequest::from_parts(RequestParts { code, sid: Some(SID.to_owned()), original: None, ..RequestParts::default() }) {
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
