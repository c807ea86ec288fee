//! Runs the request state machine against a [`Store`] and executes its plan: the engine behind
//! the C API (and any Rust host). One `Engine` is shared by all threads; each request gets an
//! `ActiveSession`.

use crate::config::{ConfigError, SessionConfig};
use crate::log_id::log_id;
use crate::record::check_record;
use crate::lifetime::renamed_to;
use crate::request::{clear_cookies, explain_cookie, renamed_cookies, Ending, LoadReport, Loaded, Next, Outcome, RequestError, SessionRequest, StoreCaps, StoreOp};
use crate::sid::generate_sid;
use crate::store::{index_user_session, merge_request_into_store_written, MergeOutcome, Store, StoreError, StoreErrorKind};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Makes session ids; the default draws 24 bytes from the OS CSPRNG.
pub type SidGenerator = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    Store(StoreError),
    Request(RequestError),
    /// The session id generator failed.
    Sid(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Store(e) => write!(f, "session store error: {e}"),
            EngineError::Request(e) => e.fmt(f),
            EngineError::Sid(e) => write!(f, "session id generator failed: {e}"),
        }
    }
}
impl std::error::Error for EngineError {}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::Store(e)
    }
}
impl From<RequestError> for EngineError {
    fn from(e: RequestError) -> Self {
        EngineError::Request(e)
    }
}

/// How much a decision log line matters: `Warn` for what may be an attack or a broken store
/// (a refused cookie, a corrupt record), `Info` for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum LogLevel {
    Info = 1,
    Warn = 2,
}

/// The engine's clock: unix milliseconds. The timeouts, cookie dates and TTLs follow it; a
/// test or a conformance runner may set its own ([`Engine::with_clock`]).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Hears why the engine decided what it did, one line per decision. A line never holds
/// session data, and shows ids only as tags (`log_id::log_id`: a keyed hash).
pub type DecisionLog = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

pub struct Engine {
    config: SessionConfig,
    store: Arc<dyn Store>,
    gen_sid: SidGenerator,
    log: Option<DecisionLog>,
    clock: Clock,
}


/// One request's session between `load` and `commit`. Cloneable so a host can keep it and
/// retry a commit that failed (e.g. the store was briefly unavailable).
#[derive(Debug, Clone)]
pub struct ActiveSession {
    request: SessionRequest,
    /// The session JSON as the application left it; `None` once destroyed.
    json: Option<String>,
    save: Option<bool>,
    /// The application replaced the whole session (`set_json`), so it is written whole.
    replaced_whole: bool,
    report: LoadReport,
}

impl ActiveSession {
    pub fn sid(&self) -> &str {
        self.request.sid().unwrap_or_default()
    }
    pub fn json(&self) -> Option<&str> {
        self.json.as_deref()
    }
    /// Replaces the whole session; it must be a valid record ([`check_record`]: a JSON object
    /// within the limits). `None` destroys the session. A replaced session is written whole at
    /// commit (never merged into the stored record).
    pub fn set_json(&mut self, json: Option<String>) -> Result<(), RequestError> {
        if let Some(j) = &json {
            check_record(j)?;
        }
        self.json = json;
        self.replaced_whole = true;
        Ok(())
    }
    /// Changes the session's fields: the new JSON (a valid record) keeps the identity of the
    /// session, so a stored session's commit merges these changes into the stored record.
    pub fn update_json(&mut self, json: String) -> Result<(), RequestError> {
        check_record(&json)?;
        self.json = Some(json);
        Ok(())
    }
    /// The `sessionSave` override: `Some(true)` forces a save, `Some(false)` touches nothing.
    pub fn set_save(&mut self, save: Option<bool>) {
        self.save = save;
    }
    pub fn is_new(&self) -> bool {
        self.request.is_new()
    }
    /// How loading went.
    pub fn load_report(&self) -> LoadReport {
        self.report
    }
}

impl Engine {
    /// An engine over `store`. A store that cannot do what the config needs (`userField`
    /// needs compare-and-set and a user index) is refused, naming what it lacks.
    pub fn new(config: SessionConfig, store: Arc<dyn Store>) -> Result<Engine, ConfigError> {
        config.check_store(store.supports_compare_and_set(), store.supports_user_index())?;
        Ok(Engine { config, store, gen_sid: Arc::new(|| generate_sid().map_err(|e| e.to_string())), log: None, clock: Arc::new(crate::now_unix_ms) })
    }

    /// Logs every decision (see [`DecisionLog`]); without it nothing is formatted.
    pub fn with_log(mut self, log: DecisionLog) -> Engine {
        self.log = Some(log);
        self
    }

    fn note(&self, level: LogLevel, line: impl FnOnce() -> String) {
        if let Some(log) = &self.log {
            log(level, &line());
        }
    }

    /// Reads the time from `clock` instead of the system's (see [`Clock`]).
    pub fn with_clock(mut self, clock: Clock) -> Engine {
        self.clock = clock;
        self
    }

    /// Now, on the engine's clock.
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    pub fn with_sid_generator(mut self, gen_sid: SidGenerator) -> Engine {
        self.gen_sid = gen_sid;
        self
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn new_sid(&self) -> Result<String, EngineError> {
        (self.gen_sid)().map_err(EngineError::Sid)
    }

    /// Loads the session named by the request's Cookie header. `Ok(None)` when `path` is
    /// outside the cookie path. A store failure is an error; a missing, corrupt or unknown
    /// record is a new session.
    pub async fn load(&self, cookie_header: Option<&[u8]>, path: Option<&str>) -> Result<Option<ActiveSession>, EngineError> {
        let Some(mut request) = SessionRequest::begin(&self.config, cookie_header, path, None) else { return Ok(None) };
        if self.log.is_some() {
            let verdict = explain_cookie(&self.config, cookie_header);
            let level = if verdict.contains("refused") { LogLevel::Warn } else { LogLevel::Info };
            self.note(level, || verdict.to_owned());
        }
        let mut report = LoadReport::NoCookie;
        loop {
            match request.next() {
                Next::Load(sid) => {
                    let found = self.store.get(sid).await?;
                    report = request.loaded(&self.config, found.map_or(Loaded::Missing, Loaded::Found), self.now_ms())?;
                }
                Next::NeedSid => request.set_new_sid(self.new_sid()?)?,
                Next::Ready => break,
            }
        }
        let level = if report == LoadReport::Corrupt { LogLevel::Warn } else { LogLevel::Info };
        self.note(level, || format!("{} (session {})", report.describe(), log_id(request.sid().unwrap_or(""))));
        let json = Some(request.session_json(&self.config).into_owned());
        Ok(Some(ActiveSession { request, json, save: None, replaced_whole: false, report }))
    }

    /// Gives the session a new id and fresh data; the old record is destroyed at commit.
    pub fn regenerate(&self, session: &mut ActiveSession) -> Result<(), EngineError> {
        let new_sid = self.new_sid()?;
        session.request.regenerate(new_sid)?;
        session.json = Some(self.config.fresh_json.clone());
        session.replaced_whole = false;
        Ok(())
    }

    /// What this engine's store can do besides get/set/destroy, for the plan.
    fn store_caps(&self) -> StoreCaps {
        StoreCaps { compare_and_set: self.store.supports_compare_and_set(), touch: self.store.supports_touch() }
    }

    /// Ends the request: runs the plan's store operations in order, then returns the
    /// `Set-Cookie` values to send. On error nothing is to be sent, and cookie errors are
    /// found before the store is written.
    pub async fn commit(&self, session: ActiveSession, plain_http: bool) -> Result<Vec<String>, EngineError> {
        let ActiveSession { request, json, save, replaced_whole, .. } = session;
        let ending = Ending { json: json.as_deref(), save, replaced: replaced_whole };
        let loaded = request.loaded_json().map(str::to_owned);
        self.note(LogLevel::Info, || format!("{} (session {})", request.explain_decision(&self.config, &ending), log_id(request.sid().unwrap_or(""))));
        let mut outcome = request.finish(&self.config, &ending, self.store_caps(), plain_http, self.now_ms())?;
        // With lifetimes the plan writes the session with the engine's times in it.
        let json = outcome.json.take().or(json);
        self.execute(outcome, json.as_deref(), loaded, plain_http).await
    }

    /// Executes a plan against the store. `json` is the session JSON the plan was made for,
    /// `loaded` the record as loaded (what a merge compares against).
    async fn execute(&self, outcome: Outcome, json: Option<&str>, mut loaded: Option<String>, plain_http: bool) -> Result<Vec<String>, EngineError> {
        let mut renamed = None;
        for op in &outcome.ops {
            let ttl = Duration::from_millis(op.ttl_ms());
            let data = || json.ok_or(EngineError::Request(RequestError::WrongStep));
            self.note(LogLevel::Info, || format!("{} (session {})", StoreOp::describe(op.code()).unwrap_or("store"), log_id(op.sid())));
            match op {
                StoreOp::Destroy { sid } => self.store.destroy(sid).await?,
                StoreOp::Save { sid, .. } => self.store.set(sid, data()?, ttl).await?,
                StoreOp::Alias { sid, json, .. } => self.store.set(sid, json, ttl).await?,
                StoreOp::Merge { sid, .. } => {
                    // A plan holds one Merge at most: the loaded record moves into it.
                    let loaded = loaded.take().ok_or(EngineError::Request(RequestError::WrongStep))?;
                    match merge_request_into_store_written(&*self.store, sid, loaded, data()?.to_owned(), ttl).await? {
                        (MergeOutcome::Merged | MergeOutcome::Overwritten, written) => {
                            // Renewed by another request meanwhile: send the session's current id.
                            renamed = written.and_then(|w| renamed_to(json.unwrap_or_default(), &w, sid));
                        }
                        // Logged out or expired elsewhere: never re-create it.
                        (MergeOutcome::Gone, _) => return self.gone(sid),
                        (MergeOutcome::TooManyConflicts, _) => return Err(too_many_conflicts().into()),
                    }
                }
                StoreOp::Touch { sid, .. } => {
                    if !self.store.touch(sid, ttl).await? {
                        return self.gone(sid);
                    }
                }
                StoreOp::IndexUser { user, sid } => index_user_session(&*self.store, user, sid, self.now_ms()).await?,
            }
        }
        if let (Some(id), Some(json)) = (renamed, json) {
            self.note(LogLevel::Info, || format!("the session was renewed meanwhile: its current id's cookie is sent (session {})", log_id(&id)));
            return Ok(renamed_cookies(&self.config, &id, json, plain_http, self.now_ms())?);
        }
        Ok(outcome.set_cookies)
    }

    /// A merge or touch found the record gone (logged out or expired elsewhere): nothing is
    /// written, and the cookies are cleared rather than the session re-created.
    fn gone(&self, sid: &str) -> Result<Vec<String>, EngineError> {
        self.note(LogLevel::Info, || format!("the stored record is gone (logged out or expired elsewhere): nothing written, cookies cleared (session {})", log_id(sid)));
        Ok(clear_cookies(&self.config).map_err(RequestError::from)?)
    }
}

/// A merge that lost to other writers every time it tried: nothing was written.
pub fn too_many_conflicts() -> StoreError {
    StoreError::new(StoreErrorKind::Rejected, "session not saved: other requests changed it at the same time, again and again")
}
