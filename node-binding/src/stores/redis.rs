//! `NativeRedisStore`: the core's `RedisStore` (one server or a Redis Cluster) as a JS class
//! with Promise-returning methods that run on napi's tokio runtime and are settled in
//! batches on the JS thread (completions.rs).
//!
//! Store failures do not reject: an operation resolves to its value (`getJson`: the record
//! or null; `touch`: found; `mergeJson`: its outcome; the others: null), or to a
//! [`NativeRedisFailure`] object with the error's stable `code` and message, which the JS
//! wrapper (lib/stores/redis.js) raises once it has reported any connection change. Values
//! are never objects, so an object always means failure; a success creates no object at all.
//! Only misuse of the class itself (bad options or arguments) throws.
//!
//! Connection state transitions are reported through a weak (unref'd) threadsafe function, so
//! a store never keeps the Node process alive; `close()` drops the connection and the
//! background task.

use super::completions::Completions;
use crate::errors;
use koa_session_core::store::redis::{ConnectionState, RedisStore};
use koa_session_core::store::redis_options::{self, Target};
use koa_session_core::store::{destroy_user_sessions, index_user_session, merge_into_store_written, user_sessions, Store, StoreError, StoreErrorKind, StoreOperator};
use koa_session_core::user_field::check_user_id;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue};
use napi_derive::napi;
use std::future::Future;
use std::sync::Mutex;

/// Why an operation failed.
#[napi(object)]
pub struct NativeRedisFailure {
    /// The error code the JS wrapper raises: ERR_REDIS_UNAVAILABLE (no connection: an
    /// outage), ERR_REDIS_TIMEOUT, ERR_REDIS_SERVER (the server refused the command),
    /// ERR_REDIS_REJECTED or ERR_REDIS_CLOSED.
    pub code: String,
    /// What went wrong, in the core's words (the server's message for ERR_REDIS_SERVER).
    pub error: String,
}

/// An operation's outcome: the value its Promise resolves to.
pub enum Reply {
    /// `getJson`: the record, or null for a miss.
    Json(Option<String>),
    /// `touch`: whether there was such a session.
    Found(bool),
    /// `mergeJson`: 'merged' | 'gone' | 'conflict' | 'renamed <id>'.
    Text(String),
    /// `length`, `clear`: a count.
    Count(f64),
    /// `idsPage`: `[ids, next cursor or null]` (an array: not a failure, see lib/stores/redis.js).
    Page(Vec<String>, Option<String>),
    /// `userSessions`: `[[id, sinceMs, json], ...]` (an array too).
    Sessions(super::UserSessionRows),
    /// The others: null.
    Done,
    Failed(NativeRedisFailure),
}

impl ToNapiValue for Reply {
    unsafe fn to_napi_value(env: sys::napi_env, reply: Self) -> Result<sys::napi_value> {
        match reply {
            Reply::Json(json) => Option::<String>::to_napi_value(env, json),
            Reply::Found(found) => bool::to_napi_value(env, found),
            Reply::Text(text) => String::to_napi_value(env, text),
            Reply::Count(n) => f64::to_napi_value(env, n),
            Reply::Page(ids, cursor) => <(Vec<String>, Option<String>)>::to_napi_value(env, (ids, cursor)),
            Reply::Sessions(rows) => super::UserSessionRows::to_napi_value(env, rows),
            Reply::Done => Null::to_napi_value(env, Null),
            Reply::Failed(failure) => NativeRedisFailure::to_napi_value(env, failure),
        }
    }
}

/// A store operation's outcome as a reply: `ok` makes the value.
fn reply<T>(r: std::result::Result<T, StoreError>, ok: fn(T) -> Reply) -> Reply {
    match r {
        Ok(v) => ok(v),
        Err(e) => {
            let code = match e.kind {
                StoreErrorKind::Unavailable => "ERR_REDIS_UNAVAILABLE",
                StoreErrorKind::Timeout => "ERR_REDIS_TIMEOUT",
                StoreErrorKind::Backend => "ERR_REDIS_SERVER",
                StoreErrorKind::Rejected => "ERR_REDIS_REJECTED",
            };
            Reply::Failed(NativeRedisFailure { code: code.to_owned(), error: e.message })
        }
    }
}

fn done(_: ()) -> Reply {
    Reply::Done
}

fn closed() -> Reply {
    Reply::Failed(NativeRedisFailure { code: "ERR_REDIS_CLOSED".to_owned(), error: "RedisStore is closed".to_owned() })
}

/// Called with the new state ('connecting' | 'connected' | 'disconnected'); weak, so it does
/// not keep the event loop alive; not callee-handled, so the callback gets just the state.
type StateCallback = ThreadsafeFunction<String, UnknownReturnValue, String, Status, false, true>;

fn state_name(s: ConnectionState) -> &'static str {
    match s {
        ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Disconnected => "disconnected",
    }
}

#[napi]
pub struct NativeRedisStore {
    /// None once closed.
    inner: Mutex<Option<RedisStore>>,
    /// Settles the operations' Promises in batches (see completions.rs).
    completions: Completions<Reply>,
}

impl NativeRedisStore {
    fn store(&self) -> Option<RedisStore> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `op` on the store on napi's tokio runtime; a closed store answers 'closed'. The
    /// Promise is settled through the store's completion channel (see completions.rs).
    fn run<'env, F, Fut>(&self, env: &'env Env, op: F) -> Result<PromiseRaw<'env, Reply>>
    where
        F: FnOnce(RedisStore) -> Fut + Send + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let store = self.store();
        let (promise, completer) = self.completions.begin(env.raw())?;
        let work = async move {
            completer.complete(match store {
                Some(s) => op(s).await,
                None => closed(),
            })
        };
        // Spawning fails (by panicking) only once napi has dropped the runtime at environment
        // teardown. The completer then goes with the work and rejects the Promise, which is
        // still returned: failures reach the caller through it, never as a throw.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| napi::bindgen_prelude::spawn(work)));
        Ok(PromiseRaw::new(env.raw(), promise))
    }
}

#[napi]
impl NativeRedisStore {
    /// `options`: as the user gave them (read by js_json.rs, checked by core's
    /// `redis_options`). A wrong option throws a `TypeError` naming it, a malformed URL an
    /// `Error` with code `ERR_REDIS_CONFIG`; otherwise this returns at once and connects in the
    /// background. `onState` hears every connection state transition.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        #[napi(ts_arg_type = "unknown")] options: Unknown,
        on_state: Option<Function<String, UnknownReturnValue>>,
    ) -> Result<Self> {
        let json = unsafe { crate::js_json::options_json(env.raw(), options.raw()) }.map_err(|f| f.into_napi(&env))?;
        let (target, opts) = redis_options::parse(&json).map_err(|e| errors::type_error(&env, format!("RedisStore: {e}")))?;
        // The store's background task is spawned on the runtime it is created in.
        let store = within_runtime_if_available(|| match target {
            Target::Url(url) => RedisStore::open(&url, opts),
            Target::Nodes(nodes) => RedisStore::open_cluster(&nodes, opts),
        })
        .map_err(|e| errors::coded_error(&env, "ERR_REDIS_CONFIG", format!("RedisStore: {e}")))?;
        if let Some(cb) = on_state {
            let tsfn: StateCallback = cb.build_threadsafe_function::<String>().callee_handled::<false>().weak::<true>().build()?;
            store.on_state_change(move |s| {
                // Non-blocking: this runs on a runtime thread under the store's lock. A full or
                // closing queue only loses a nudge; JS reads the current state anyway.
                let _ = tsfn.call(state_name(s).to_owned(), ThreadsafeFunctionCallMode::NonBlocking);
            });
        }
        Ok(NativeRedisStore { inner: Mutex::new(Some(store)), completions: Completions::new(env.raw())? })
    }

    /// 'connecting' | 'connected' | 'disconnected' | 'closed', as of the last real outcome.
    #[napi(getter, catch_unwind)]
    pub fn state(&self) -> &'static str {
        match self.store() {
            Some(s) => state_name(s.state()),
            None => "closed",
        }
    }

    /// The key prefix in use.
    #[napi(getter, catch_unwind)]
    pub fn prefix(&self) -> Option<String> {
        self.store().map(|s| s.prefix().to_owned())
    }

    /// GET: the record under `sid`, or null for a miss.
    #[napi(catch_unwind, ts_return_type = "Promise<string | null | NativeRedisFailure>")]
    pub fn get_json<'env>(&self, env: &'env Env, sid: String) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, move |s| async move { reply(s.get(&sid).await, Reply::Json) })
    }

    /// SET key json PX ttl (a TTL <= 0 deletes the record); null when done.
    #[napi(catch_unwind, ts_return_type = "Promise<null | NativeRedisFailure>")]
    pub fn set_json<'env>(&self, env: &'env Env, sid: String, json: String, ttl_ms: f64) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, move |s| async move { reply(s.set(&sid, &json, super::ttl(ttl_ms)).await, done) })
    }

    /// DEL; an unknown id succeeds. Null when done.
    #[napi(catch_unwind, ts_return_type = "Promise<null | NativeRedisFailure>")]
    pub fn destroy_json<'env>(&self, env: &'env Env, sid: String) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, move |s| async move { reply(s.destroy(&sid).await, done) })
    }

    /// PEXPIRE: false when there is no such session.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean | NativeRedisFailure>")]
    pub fn touch_json<'env>(&self, env: &'env Env, sid: String, ttl_ms: f64) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, move |s| async move { reply(s.touch(&sid, super::ttl(ttl_ms)).await, Reply::Found) })
    }

    /// A merging commit: compare-and-set (EVALSHA) of the request's JSON against `loadedJson`
    /// (the record exactly as `getJson` gave it), re-applying the request's top-level changes
    /// to the current record after a conflict. 'merged'; 'gone' when the record no longer
    /// exists (nothing written: clear the cookies); 'conflict' when other writers kept winning
    /// for the whole retry budget (nothing written); 'renamed <id>': merged into a session
    /// renewed meanwhile, whose cookie must now carry `<id>`. Merges of one session in this
    /// process take turns; after a conflict with another process they back off and retry.
    #[napi(catch_unwind, ts_return_type = "Promise<'merged' | 'gone' | 'conflict' | `renamed ${string}` | NativeRedisFailure>")]
    pub fn merge_json<'env>(&self, env: &'env Env, sid: String, loaded_json: String, json: String, ttl_ms: f64) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, move |s| async move {
            let wanted = super::renewable(&json);
            let outcome = merge_into_store_written(&s, &sid, loaded_json, json, super::ttl(ttl_ms)).await;
            let answer = outcome.map(|(o, written)| super::merge_answer(o, written.as_deref(), wanted.as_deref(), &sid));
            reply(answer, Reply::Text)
        })
    }

    /// One PING (e.g. to fail fast at startup); null when done.
    #[napi(catch_unwind, ts_return_type = "Promise<null | NativeRedisFailure>")]
    pub fn ping<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, |s| async move { reply(s.ping().await, done) })
    }

    /// The number of keys under the prefix (SCAN on the server, or on every master).
    #[napi(catch_unwind, ts_return_type = "Promise<number | NativeRedisFailure>")]
    pub fn length<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, |s| async move { reply(s.length().await, |n| Reply::Count(n as f64)) })
    }

    /// About `count` ids after `cursor` (null: from the start), without the prefix:
    /// `[ids, next cursor or null once every id was returned]`. Ids are credentials.
    #[napi(catch_unwind, ts_return_type = "Promise<[string[], string | null] | NativeRedisFailure>")]
    pub fn ids_page<'env>(&self, env: &'env Env, cursor: Option<String>, count: u32) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, move |s| async move { reply(s.ids_page(cursor.as_deref(), count as usize).await, |p| Reply::Page(p.ids, p.cursor)) })
    }

    /// Puts `sid` in the index of `user` (the plan's `IndexUser`), stamped `nowMs`; null when done.
    #[napi(catch_unwind, ts_return_type = "Promise<null | NativeRedisFailure>")]
    pub fn index_user_session<'env>(&self, env: &'env Env, user: String, sid: String, now_ms: f64) -> Result<PromiseRaw<'env, Reply>> {
        check_user_id(&user).map_err(errors::invalid_arg)?;
        self.run(env, move |s| async move { reply(index_user_session(&s, &user, &sid, now_ms as i64).await, done) })
    }

    /// The live sessions of `user` (records whose `field` names that user): `[id, sinceMs,
    /// json]` each, oldest login first. Ids are credentials: never show or log them.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<[string, number, string]> | NativeRedisFailure>")]
    pub fn user_sessions<'env>(&self, env: &'env Env, field: String, user: String, now_ms: f64) -> Result<PromiseRaw<'env, Reply>> {
        let field = super::user_field_args(&field, &user).map_err(errors::invalid_arg)?;
        self.run(env, move |s| async move { reply(user_sessions(&s, &field, &user, now_ms as i64).await, |v| Reply::Sessions(super::user_session_rows(v))) })
    }

    /// Destroys every session indexed under `user` but `except`; how many there were.
    #[napi(catch_unwind, ts_return_type = "Promise<number | NativeRedisFailure>")]
    pub fn destroy_user_sessions<'env>(&self, env: &'env Env, user: String, except: Option<String>) -> Result<PromiseRaw<'env, Reply>> {
        check_user_id(&user).map_err(errors::invalid_arg)?;
        self.run(env, move |s| async move { reply(destroy_user_sessions(&s, &user, except.as_deref()).await, |n| Reply::Count(n as f64)) })
    }

    /// UNLINKs every key under the prefix (and no other), batch by batch; how many went.
    #[napi(catch_unwind, ts_return_type = "Promise<number | NativeRedisFailure>")]
    pub fn clear<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Reply>> {
        self.run(env, |s| async move { reply(s.clear().await, |n| Reply::Count(n as f64)) })
    }

    /// Drops this handle's connection and background task; later calls answer 'closed'.
    /// Operations already running finish first. Idempotent.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        let store = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(store);
    }
}
