//! koa-session-core: the session engine shared by the Koa middleware and the C API.
//!
//! - [`cookie_header`], [`set_cookie`], [`signing`]: cookies on the wire, byte-compatible with Koa;
//!   [`cache_headers`]: what a response that sets the session cookie tells caches.
//! - [`sid`]: session ids. [`options`]: every option's rules and defaults, errors naming the
//!   option. [`config`]: validated settings. [`record`]: the `cookie` field inside
//!   session JSON and the store TTL that follows from it.
//! - [`merge`]: commits that merge (top-level changes applied to the stored record).
//! - [`limits`]: the one depth and size policy for session data.
//! - [`request`]: the sans-I/O state machine that makes every per-request decision.
//! - [`store`]: the async `Store` trait, `MemoryStore`, and a conformance suite for any store.
//! - [`user_field`]: whose session it is (`userField`); [`store::user_index`]: each user's sessions.
//! - [`lifetime`]: idle and absolute timeouts, and the engine's times in the record.
//! - [`driver`]: runs the state machine and executes its plan against a `Store` (used by the C API).
//!
//! No FFI and no JavaScript here: the bindings translate, the core decides.

pub mod cache_headers;
pub mod config;
pub mod cookie_header;
pub mod driver;
pub mod http_date;
pub mod json_field;
pub mod lifetime;
pub mod limits;
pub mod log_id;
pub mod merge;
pub mod options;
pub mod record;
pub mod request;
pub mod set_cookie;
pub mod sid;
pub mod signing;
pub mod store;
pub mod user_field;

pub use config::{SessionConfig, SessionConfigBuilder};
pub use options::{ConfigError, ConfigErrorKind, SessionOptions};
pub use driver::{ActiveSession, Clock, DecisionLog, Engine, EngineError, LogLevel, SidGenerator};
pub use request::{Decision, Ending, LoadReport, Loaded, Next, Outcome, RequestError, RequestParts, SessionRequest, StoreCaps, StoreOp, TokenStep};
pub use set_cookie::{CookieAttributes, CookieError, Priority, SameSite};
pub use signing::Keys;
pub use store::{CasResult, IdsPage, IdsWalk, MemoryStore, MergeOutcome, Store, StoreError, StoreErrorKind, StoreOperator};
#[cfg(feature = "redis")]
pub use store::redis::{ConnectionState, RedisConfigError, RedisStore, RedisStoreOptions};

/// Wall-clock now in unix milliseconds. A clock set before 1970 reads as 0 rather than failing.
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}
