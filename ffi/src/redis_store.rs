//! Redis stores for C: the core's `RedisStore` (one server or a Redis Cluster) behind a
//! `ks_store` handle. The store is built inside the engine's tokio runtime, which runs its
//! background connect / reconnect / health-check task; construction never waits for the
//! server, so a C server starts even while Redis is still coming up.

use crate::boundary::{arg, c_str, guard, opt_c_str, out};
use crate::result::ks_result;
use crate::runtime::runtime;
use crate::store::ks_store;
use koa_session_core::store::redis::DEFAULT_PREFIX;
use koa_session_core::{ConnectionState, RedisConfigError, RedisStore, RedisStoreOptions};
use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

/// Whether a Redis store can reach its server, from `ks_store_connection_state()`. For a
/// Redis Cluster it is the cluster as a whole (connected while any master answers): a master
/// lost to a crash is a failover that the operations on its slots wait out, not an outage.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ks_connection_state {
    /// Just created: no connection attempt has finished yet.
    Connecting = 0,
    /// The last command or health check got an answer (an error answer included).
    Connected = 1,
    /// The last command or health check could not reach the server or timed out; the store
    /// keeps reconnecting in the background.
    Disconnected = 2,
}

impl From<ConnectionState> for ks_connection_state {
    fn from(s: ConnectionState) -> Self {
        match s {
            ConnectionState::Connecting => ks_connection_state::Connecting,
            ConnectionState::Connected => ks_connection_state::Connected,
            ConnectionState::Disconnected => ks_connection_state::Disconnected,
        }
    }
}

/// The options shared by both constructors: NULL prefix = koa-generic-session's, 0 ms = the
/// core's default timeout.
unsafe fn options(key_prefix: *const c_char, connect_timeout_ms: u32, response_timeout_ms: u32) -> Result<RedisStoreOptions, ks_result> {
    let defaults = RedisStoreOptions::default();
    let ms = |v: u32, default: Duration| if v == 0 { default } else { Duration::from_millis(u64::from(v)) };
    Ok(RedisStoreOptions {
        prefix: opt_c_str(key_prefix)?.unwrap_or(DEFAULT_PREFIX).to_owned(),
        connect_timeout: ms(connect_timeout_ms, defaults.connect_timeout),
        response_timeout: ms(response_timeout_ms, defaults.response_timeout),
        ..defaults
    })
}

/// Builds the store with the engine runtime entered, so its background task runs there.
fn open(build: impl FnOnce() -> Result<RedisStore, RedisConfigError>) -> Result<*mut ks_store, ks_result> {
    let _entered = runtime()?.enter();
    let store = build().map_err(|e| {
        crate::last_error::detail(&e.message);
        ks_result::InvalidUrl
    })?;
    Ok(ks_store::new_redis(store))
}

/// Makes a store on one Redis server. Records are koa-generic-session + koa-redis's: key
/// `<key_prefix><session id>`, value the session JSON, expiry set with each write
/// (`SET key json PX ttl_ms`), one round trip per load and per save.
///
/// `url`: `redis://[user:password@]host[:port][/db]`, `rediss://...` (TLS, system roots),
/// `unix:///path/to/redis.sock` or `redis+unix:///path/to/redis.sock`; NUL-terminated UTF-8,
/// copied. `key_prefix`: NUL-terminated UTF-8, copied; NULL means "koa:sess:" (an empty
/// string means no prefix). `connect_timeout_ms`: limit for one connection attempt;
/// `response_timeout_ms`: limit for one answer; 0 means the default (2000 ms each). Every
/// store operation fails within connect + response timeout when the server is down or frozen:
/// KS_RESULT_STORE_UNAVAILABLE (cannot reach it, or it refuses the credentials),
/// KS_RESULT_STORE_TIMEOUT (no answer in time) or KS_RESULT_STORE_ERROR (the server answered
/// an error, e.g. WRONGTYPE or OOM).
///
/// The call does not wait for the server: the store connects in the background on the
/// engine's runtime, reconnects by itself with backoff after an outage, and PINGs while idle;
/// `ks_store_connection_state()` tells how it is doing. On success `*store_out` receives the
/// store (free it with `ks_store_free()`; engines made from it keep it alive). A record that
/// is not a JSON object loads as a new session (load report KS_LOAD_REPORT_CORRUPT).
///
/// Errors: KS_RESULT_NULL_PARAMETER (`url`, `store_out`), KS_RESULT_INVALID_UTF8 (`url`,
/// `key_prefix`), KS_RESULT_INVALID_URL (malformed URL or unsupported scheme),
/// KS_RESULT_RUNTIME_UNAVAILABLE. Thread-safety: may be called from any thread, including a
/// callback run by the engine (it never blocks).
///
/// # Safety
/// `url` is NULL or NUL-terminated; `key_prefix` is NULL or NUL-terminated; `store_out` is
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_redis_store_new(
    url: *const c_char,
    key_prefix: *const c_char,
    connect_timeout_ms: u32,
    response_timeout_ms: u32,
    store_out: *mut *mut ks_store,
) -> ks_result {
    guard(|| {
        let store_out = out(store_out)?;
        let url = c_str(url)?;
        let options = options(key_prefix, connect_timeout_ms, response_timeout_ms)?;
        *store_out = open(|| RedisStore::open(url, options))?;
        Ok(())
    })
}

/// Makes a store on a Redis Cluster, given `n_nodes` of its nodes (`redis://host:port` or
/// `rediss://host:port`, NUL-terminated UTF-8, copied; one reachable node is enough, the
/// client discovers the others). Each key goes to its slot's master; MOVED and ASK replies
/// (slot migrations) are followed. Records, prefix, timeouts, errors, background connection
/// and ownership are those of `ks_redis_store_new()`; the cluster connects on first use.
///
/// Errors: KS_RESULT_NULL_PARAMETER (`nodes` NULL with `n_nodes` > 0, a NULL node,
/// `store_out`), KS_RESULT_INVALID_ARGUMENT (`n_nodes` is 0), KS_RESULT_INVALID_UTF8 (a node or
/// `key_prefix`), KS_RESULT_INVALID_URL (a malformed node URL, or a unix socket, which a
/// cluster cannot use), KS_RESULT_RUNTIME_UNAVAILABLE.
///
/// # Safety
/// `nodes` is NULL or points to `n_nodes` pointers, each NULL or NUL-terminated;
/// `key_prefix` is NULL or NUL-terminated; `store_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_redis_cluster_store_new(
    nodes: *const *const c_char,
    n_nodes: usize,
    key_prefix: *const c_char,
    connect_timeout_ms: u32,
    response_timeout_ms: u32,
    store_out: *mut *mut ks_store,
) -> ks_result {
    guard(|| {
        let store_out = out(store_out)?;
        if n_nodes == 0 {
            return Err(ks_result::InvalidArgument);
        }
        if nodes.is_null() {
            return Err(ks_result::NullParameter);
        }
        let urls = std::slice::from_raw_parts(nodes, n_nodes).iter().map(|&p| c_str(p)).collect::<Result<Vec<&str>, _>>()?;
        let options = options(key_prefix, connect_timeout_ms, response_timeout_ms)?;
        *store_out = open(|| RedisStore::open_cluster(&urls, options))?;
        Ok(())
    })
}

/// Reads a Redis store's connection state as of its last real outcome (a command or a health
/// check), into `*state_out`. It changes as requests and the background task reach the server
/// or fail to. Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT (not a Redis
/// store). Thread-safety: any thread, any time.
///
/// # Safety
/// `store` is NULL or a live store handle; `state_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_store_connection_state(store: *const ks_store, state_out: *mut ks_connection_state) -> ks_result {
    guard(|| {
        let store = arg(store)?;
        let state_out = out(state_out)?;
        let redis = store.redis.as_ref().ok_or(ks_result::InvalidArgument)?;
        *state_out = redis.state().into();
        Ok(())
    })
}

/// Durability for a Redis store (off by default): with `timeout_ms` > 0 every later write
/// (save, destroy, touch) is followed on the same connection by `WAIT 1 timeout_ms` and counts
/// as done only once one replica holds it, so a failover cannot lose an acknowledged write.
/// Cost: one replication round trip per write; and while a master has no replica in sync
/// (e.g. right after a failover, until the old master rejoins as a replica) its writes fail
/// with KS_RESULT_STORE_UNAVAILABLE after `timeout_ms`. 0 turns it off. Errors:
/// KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT (not a Redis store). Thread-safety: any thread, any time;
/// operations already under way keep the setting they started with.
///
/// # Safety
/// `store` is NULL or a live store handle.
#[no_mangle]
pub unsafe extern "C" fn ks_redis_store_set_wait_for_replica(store: *const ks_store, timeout_ms: u32) -> ks_result {
    guard(|| {
        let redis = arg(store)?.redis.as_ref().ok_or(ks_result::InvalidArgument)?;
        redis.set_wait_for_replica(Some(Duration::from_millis(u64::from(timeout_ms))).filter(|d| !d.is_zero()));
        Ok(())
    })
}

/// Redis Cluster: how long an operation whose slot has no reachable master (it crashed and
/// the cluster has not promoted a replica yet) keeps retrying before it fails with
/// KS_RESULT_STORE_UNAVAILABLE; default 10000 ms. Meanwhile operations on other slots go on
/// undisturbed, and the store counts as connected while any master answers. Set it above the
/// cluster's `cluster-node-timeout` plus a second or two for the election. No effect on a
/// single-server store. Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT (not a Redis store, or 0).
///
/// # Safety
/// `store` is NULL or a live store handle.
#[no_mangle]
pub unsafe extern "C" fn ks_redis_store_set_failover_timeout(store: *const ks_store, timeout_ms: u32) -> ks_result {
    guard(|| {
        let redis = arg(store)?.redis.as_ref().ok_or(ks_result::InvalidArgument)?;
        if timeout_ms == 0 {
            return Err(ks_result::InvalidArgument);
        }
        redis.set_failover_timeout(Duration::from_millis(u64::from(timeout_ms)));
        Ok(())
    })
}

impl ks_store {
    pub(crate) fn new_redis(store: RedisStore) -> *mut ks_store {
        Box::into_raw(Box::new(ks_store { inner: Arc::new(store.clone()), redis: Some(store.clone()), c_store: None, c_callbacks: None, operator: Some(Arc::new(store)) }))
    }
}
