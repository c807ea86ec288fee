//! Runs the request state machine against a [`Store`]: the engine behind the C API (and any
//! Rust host). One `Engine` is shared by all threads; each request gets an `ActiveSession`.

use crate::config::SessionConfig;
use crate::record::check_record;
use crate::request::{LoadReport, Loaded, Next, RequestError, SessionRequest, StoreAction};
use crate::sid::generate_sid;
use crate::store::{Store, StoreError};
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

pub struct Engine {
    config: SessionConfig,
    store: Arc<dyn Store>,
    gen_sid: SidGenerator,
}

/// One request's session between `load` and `commit`. Cloneable so a host can keep it and
/// retry a commit that failed (e.g. the store was briefly unavailable).
#[derive(Debug, Clone)]
pub struct ActiveSession {
    request: SessionRequest,
    /// The session JSON as the application left it; `None` once destroyed.
    json: Option<String>,
    save: Option<bool>,
    /// Ids whose records `regenerate` replaced; destroyed at commit.
    replaced: Vec<String>,
    report: Option<LoadReport>,
}

impl ActiveSession {
    pub fn sid(&self) -> &str {
        self.request.sid().unwrap_or_default()
    }
    pub fn json(&self) -> Option<&str> {
        self.json.as_deref()
    }
    /// Replaces the session data; it must be a valid record ([`check_record`]: a JSON
    /// object within the limits). `None` destroys the session.
    pub fn set_json(&mut self, json: Option<String>) -> Result<(), RequestError> {
        if let Some(j) = &json {
            check_record(j)?;
        }
        self.json = json;
        Ok(())
    }
    /// The `sessionSave` override: `Some(true)` forces a save, `Some(false)` touches nothing.
    pub fn set_save(&mut self, save: Option<bool>) {
        self.save = save;
    }
    pub fn is_new(&self) -> bool {
        self.request.is_new()
    }
    /// How loading went (`None` when no cookie named a session).
    pub fn load_report(&self) -> Option<LoadReport> {
        self.report
    }
}

impl Engine {
    pub fn new(config: SessionConfig, store: Arc<dyn Store>) -> Engine {
        Engine { config, store, gen_sid: Arc::new(|| generate_sid().map_err(|e| e.to_string())) }
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
        let mut report = None;
        loop {
            match request.next() {
                Next::Load(sid) => {
                    let found = self.store.get(sid).await?;
                    report = Some(request.loaded(found.map_or(Loaded::Missing, Loaded::Found))?);
                }
                Next::NeedSid => request.set_new_sid(self.new_sid()?)?,
                Next::Ready => break,
            }
        }
        let json = Some(request.session_json(&self.config).to_owned());
        Ok(Some(ActiveSession { request, json, save: None, replaced: Vec::new(), report }))
    }

    /// Gives the session a new id and fresh data; the old record is destroyed at commit.
    pub fn regenerate(&self, session: &mut ActiveSession) -> Result<(), EngineError> {
        let new_sid = self.new_sid()?;
        if let Some(old) = session.request.regenerate(new_sid)? {
            session.replaced.push(old);
        }
        session.json = Some(self.config.fresh_json.clone());
        Ok(())
    }

    /// Ends the request: writes the store as the session rules say, then returns the
    /// `Set-Cookie` values to send. On error nothing is to be sent, and cookie errors are
    /// found before the store is written.
    pub async fn commit(&self, session: ActiveSession, plain_http: bool) -> Result<Vec<String>, EngineError> {
        let ActiveSession { request, json, save, replaced, .. } = session;
        let outcome = request.finish(&self.config, json.as_deref(), save, plain_http, crate::now_unix_ms())?;
        for sid in &replaced {
            self.store.destroy(sid).await?;
        }
        match &outcome.store {
            StoreAction::Save { sid, json, ttl_ms } => self.store.set(sid, json, Duration::from_millis(*ttl_ms)).await?,
            StoreAction::Destroy { sid } => self.store.destroy(sid).await?,
            StoreAction::None => {}
        }
        Ok(outcome.set_cookies)
    }
}
