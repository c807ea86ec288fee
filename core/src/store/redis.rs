//! `RedisStore`: sessions in Redis or Redis Cluster, in the records koa-generic-session +
//! koa-redis keep: key `<prefix><sid>` (default `koa:sess:`), value the session JSON string
//! as-is, expiry set with the write (`SET key json PX ttl_ms`). One round trip per operation:
//! load = GET, save = SET PX, destroy = DEL, touch = PEXPIRE, and a merging commit's
//! compare-and-set = EVALSHA of [`CAS_SCRIPT`] (one key, so Cluster needs no hash tags).
//!
//! The user index (`userField`, see [`super::user_index`]): each user's index is one sorted
//! set, key [`USER_INDEX_PREFIX`] + prefix + user id (`ks-user:koa:sess:ann` by default),
//! member a session id, score when it was indexed (unix ms). Adding = EVALSHA of
//! [`USER_INDEX_ADD_SCRIPT`] (ZADD then ZCARD, one round trip), listing = `ZRANGE key 0 -1
//! WITHSCORES`, removing = `ZREM` (500 ids a command). The key has no expiry: the engine
//! prunes entries itself, and Redis drops a set once it is empty. Each command touches that
//! one key, so on a Cluster it goes to the index's own slot, independent of the sessions'.
//! Index writes take the same path as session writes (timeouts, failover waits,
//! `wait_for_replica`).
//!
//! The store is lazy: construction checks the URL(s) and options and returns at once; a
//! background task connects, reconnects with backoff while the server is away, and publishes
//! each [`ConnectionState`] transition (the host turns them into CONNECT / DISCONNECT). Every
//! attempt is bounded by `connect_timeout + response_timeout`, so a dead server yields an
//! error instead of a hang.
//!
//! Connection state, per node for a cluster: the store-wide state says whether the store can
//! reach Redis at all, which is what a request waiting on CONNECT needs. One server: that
//! server. A cluster: any of its masters (DISCONNECT only when none answers). A cluster whose
//! slot lost its master (crashed, a replica about to be promoted) is not disconnected: an
//! operation on that slot retries, with the slot map refreshed, until the slot has a master
//! again or `failover_timeout` runs out, and operations on the other slots carry on
//! undisturbed. Refused connections stay `Unavailable`, never `Timeout`.

use super::{CasResult, IndexEntry, Store, StoreError, StoreErrorKind, StoreFuture};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, ServerErrorKind, Value};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, OnceCell};

/// The key prefix koa-generic-session uses.
pub const DEFAULT_PREFIX: &str = "koa:sess:";

/// What the key of a user's index starts with: the key is this, then the store's prefix, then
/// the user id (`ks-user:koa:sess:ann`). Put *before* the store's prefix so that the operator
/// calls, which walk `<prefix>*` (`length`, `ids`, `clear`), never see an index key and count
/// only sessions. The exception: a prefix that is empty or a beginning of this text itself
/// (`k`, `ks-`, `ks-user:`, ...), whose walk matches the index keys too.
pub const USER_INDEX_PREFIX: &str = "ks-user:";

/// Ids one `ZREM` of [`Store::user_index_remove`] carries at most (longer lists go in turns).
const USER_INDEX_REMOVE_BATCH: usize = 500;

/// Longest expiry sent to Redis (100 years); Redis rejects expiries that overflow its clock.
const MAX_PX_MS: u64 = 100 * 365 * 86_400_000;
/// First wait between reconnect attempts; doubles up to `reconnect_max_delay`.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
/// Pauses between the attempts of an operation waiting for its slot's master: short at first
/// (a MOVED or a refreshed slot map often fixes it at once), then at most this.
const FAILOVER_MIN_PAUSE: Duration = Duration::from_millis(25);
const FAILOVER_MAX_PAUSE: Duration = Duration::from_millis(250);
/// Retries inside the cluster client, for its own redirects (MOVED, ASK) and reconnects; the
/// waiting for a failover is ours (`failover_timeout`), so its own waits stay short.
const CLUSTER_CLIENT_RETRIES: u32 = 4;
const CLUSTER_CLIENT_MIN_WAIT_MS: u64 = 10;
const CLUSTER_CLIENT_MAX_WAIT_MS: u64 = 100;

/// Compare-and-set on one key. KEYS[1] the key; ARGV: the expected bytes, the new record, the
/// expiry in ms. Answers 0 (no record), 1 (stored) or the current record as a bulk string; an
/// integer is never a record, so the answers cannot be confused. Strings are compared as
/// bytes and never decoded: Redis' cjson would rewrite numbers with 14 significant digits.
pub const CAS_SCRIPT: &str = r#"local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return v
"#;

/// A Lua script and its SHA1 (hex), the name EVALSHA knows it by. (redis-rs' `Script` would
/// run it on its own connection path; ours keeps the deadline, state and redirect handling.)
struct LuaScript {
    code: &'static str,
    sha1: String,
}

impl LuaScript {
    fn new(code: &'static str) -> LuaScript {
        use sha1::{Digest, Sha1};
        let sha1 = Sha1::digest(code.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        LuaScript { code, sha1 }
    }
}

static CAS: LazyLock<LuaScript> = LazyLock::new(|| LuaScript::new(CAS_SCRIPT));

/// Adds an id to a user's index and counts the index, in one round trip. `KEYS[1]` the index
/// key; ARGV: the score (unix ms, as a decimal integer), the session id. Answers how many ids
/// the index holds now (an id already there only gets the new score).
pub const USER_INDEX_ADD_SCRIPT: &str = r#"redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
"#;

static USER_INDEX_ADD: LazyLock<LuaScript> = LazyLock::new(|| LuaScript::new(USER_INDEX_ADD_SCRIPT));

#[derive(Clone, Debug)]
pub struct RedisStoreOptions {
    /// Prepended to every session id to form the Redis key.
    pub prefix: String,
    /// Limit for one attempt to open a connection (TCP/unix connect, TLS, handshake).
    pub connect_timeout: Duration,
    /// Limit for the server's answer to one command.
    pub response_timeout: Duration,
    /// Longest wait between background reconnect attempts while the server is unreachable.
    pub reconnect_max_delay: Duration,
    /// While connected, a PING this often notices a lost server even when no request comes;
    /// `None` leaves that to the next command.
    pub health_check_interval: Option<Duration>,
    /// PEM certificates of the CA(s) to trust for `rediss://` instead of the system roots.
    pub tls_root_ca_pem: Option<Vec<u8>>,
    /// Redis Cluster: how long an operation whose slot has no reachable master (the master
    /// crashed and the cluster has not promoted a replica yet) keeps retrying before it fails.
    /// Keep it within the middleware's `reconnectTimeout` and above the cluster's
    /// `cluster-node-timeout` plus a second or two for the election.
    pub failover_timeout: Duration,
    /// Durability, off by default: each write (save, destroy, touch) is followed on the same
    /// connection by `WAIT 1 <ms>` and is acknowledged only once a replica holds it, so a
    /// failover cannot lose it. Costs a replication round trip per write, and a master with
    /// no replica in sync refuses to acknowledge writes (Unavailable after this long).
    pub wait_for_replica: Option<Duration>,
}

impl Default for RedisStoreOptions {
    fn default() -> Self {
        RedisStoreOptions {
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            reconnect_max_delay: Duration::from_secs(1),
            health_check_interval: Some(Duration::from_secs(5)),
            tls_root_ca_pem: None,
            failover_timeout: Duration::from_secs(10),
            wait_for_replica: None,
        }
    }
}

/// Whether the store can currently reach Redis, as the last real outcome showed. For a
/// cluster this is the cluster as a whole: one master down is a failover for the operations
/// on its slots (they wait), not a disconnected store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Created; no connection attempt has finished yet.
    Connecting,
    /// The last command or health check got an answer (a cluster: from some master).
    Connected,
    /// The last command or health check failed for want of a connection or timed out (a
    /// cluster: no master answered the health check).
    Disconnected,
}

/// A configuration the store cannot work with (malformed URL, empty node list, zero timeout,
/// no tokio runtime). Raised at construction, never later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfigError {
    pub message: String,
}

impl RedisConfigError {
    fn new(message: impl Into<String>) -> Self {
        RedisConfigError { message: message.into() }
    }
}

impl fmt::Display for RedisConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for RedisConfigError {}

type StateListener = Box<dyn Fn(ConnectionState) + Send + Sync>;

/// A session store on Redis (one server) or Redis Cluster. Cheap to clone; clones share the
/// connection. Must be created inside a tokio runtime, which runs its background task.
///
/// Keys: a session under `<prefix><sid>`; with `userField`, each user's index of sessions
/// (a sorted set) under `ks-user:<prefix><user id>` ([`USER_INDEX_PREFIX`],
/// [`RedisStore::user_index_key`]), which the operator calls' walk of `<prefix>*` does not
/// see. With an empty prefix that walk sees everything in the database, index keys too, as
/// it sees any other key there.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    prefix: String,
    /// Bound on one attempt: one connection attempt plus one answer.
    deadline: Duration,
    connect_timeout: Duration,
    state: watch::Sender<ConnectionState>,
    listeners: Mutex<Vec<StateListener>>,
    target: String,
    /// `failover_timeout` in ms (cluster only).
    failover_ms: AtomicU64,
    /// `wait_for_replica` in ms; 0 = off.
    wait_replica_ms: AtomicU64,
    /// Operations now waiting for their slot to have a master again.
    waiting: AtomicUsize,
    /// Wakes the background task for a health check now (a cluster operation hit a dead node).
    check_now: Arc<Notify>,
}

enum Backend {
    /// Reconnects by itself after a lost connection (driven by commands and the health task).
    Single(ConnectionManager),
    /// Connected on first use; the cluster connection follows MOVED/ASK and refreshes slots.
    Cluster { client: Box<ClusterClient>, conn: OnceCell<ClusterConnection> },
}

impl RedisStore {
    /// A store on one Redis server: `redis://[user:pass@]host[:port][/db]`, `rediss://...`
    /// (TLS), `unix:///path/to.sock` or `redis+unix:///path/to.sock`.
    pub fn open(url: &str, options: RedisStoreOptions) -> Result<RedisStore, RedisConfigError> {
        check_options(&options)?;
        let runtime = current_runtime()?;
        let info = parse_url(url)?;
        let tls = is_tls(info.addr());
        if tls {
            install_tls_provider();
        }
        let client = match (&options.tls_root_ca_pem, tls) {
            (Some(ca), true) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates { client_tls: None, root_cert: Some(ca.clone()) },
            ),
            _ => redis::Client::open(info),
        }
        .map_err(|e| RedisConfigError::new(format!("invalid Redis URL {:?}: {e}", redact(url))))?;
        // No retries inside one command: a command makes at most one connection attempt, so it
        // fails within its deadline; the background task keeps retrying with backoff.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(0);
        let manager = {
            let _guard = runtime.enter();
            ConnectionManager::new_lazy_with_config(client, config)
        }
        .map_err(|e| RedisConfigError::new(format!("invalid Redis configuration for {:?}: {e}", redact(url))))?;
        Ok(RedisStore::start(Backend::Single(manager), &options, redact(url), &runtime))
    }

    /// A store on a Redis Cluster, given one or more of its nodes (`redis://host:port` or
    /// `rediss://host:port`); the client discovers the rest and follows slot moves.
    pub fn open_cluster<S: AsRef<str>>(nodes: &[S], options: RedisStoreOptions) -> Result<RedisStore, RedisConfigError> {
        check_options(&options)?;
        let runtime = current_runtime()?;
        if nodes.is_empty() {
            return Err(RedisConfigError::new("a Redis Cluster needs at least one node URL"));
        }
        let mut infos = Vec::with_capacity(nodes.len());
        for node in nodes {
            infos.push(parse_url(node.as_ref())?);
        }
        let tls = infos.iter().any(|i| is_tls(i.addr()));
        if tls {
            install_tls_provider();
        }
        let deadline = options.connect_timeout + options.response_timeout;
        let mut builder = ClusterClient::builder(infos)
            .connection_timeout(options.connect_timeout)
            .response_timeout(options.response_timeout)
            .overall_response_timeout(Some(deadline))
            // Its default first wait before a retry is 1.28 s: every request behind a refused
            // node or a CLUSTERDOWN answer would stall that long (healthy slots included).
            .retries(CLUSTER_CLIENT_RETRIES)
            .min_retry_wait(CLUSTER_CLIENT_MIN_WAIT_MS)
            .max_retry_wait(CLUSTER_CLIENT_MAX_WAIT_MS);
        if let (Some(ca), true) = (&options.tls_root_ca_pem, tls) {
            builder = builder.certs(redis::TlsCertificates { client_tls: None, root_cert: Some(ca.clone()) });
        }
        let client = builder.build().map_err(|e| RedisConfigError::new(format!("invalid Redis Cluster configuration: {e}")))?;
        let target = nodes.iter().map(|n| redact(n.as_ref())).collect::<Vec<_>>().join(",");
        Ok(RedisStore::start(Backend::Cluster { client: Box::new(client), conn: OnceCell::new() }, &options, target, &runtime))
    }

    fn start(backend: Backend, options: &RedisStoreOptions, target: String, runtime: &tokio::runtime::Handle) -> RedisStore {
        let (state, state_rx) = watch::channel(ConnectionState::Connecting);
        let inner = Arc::new(Inner {
            backend,
            prefix: options.prefix.clone(),
            deadline: options.connect_timeout + options.response_timeout,
            connect_timeout: options.connect_timeout,
            state,
            listeners: Mutex::new(Vec::new()),
            target,
            failover_ms: AtomicU64::new(millis(options.failover_timeout)),
            wait_replica_ms: AtomicU64::new(options.wait_for_replica.map_or(0, millis)),
            waiting: AtomicUsize::new(0),
            check_now: Arc::new(Notify::new()),
        });
        let check_now = Arc::clone(&inner.check_now);
        runtime.spawn(monitor(Arc::downgrade(&inner), state_rx, check_now, options.reconnect_max_delay, options.health_check_interval));
        RedisStore { inner }
    }

    /// The Redis key that holds session `sid`.
    pub fn key(&self, sid: &str) -> String {
        format!("{}{}", self.inner.prefix, sid)
    }

    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The Redis key of the index of `user`'s sessions: [`USER_INDEX_PREFIX`], the prefix,
    /// the user id (any bytes: keys are binary-safe).
    pub fn user_index_key(&self, user: &str) -> String {
        format!("{USER_INDEX_PREFIX}{}{user}", self.inner.prefix)
    }

    /// The connection state as of the last real outcome.
    pub fn state(&self) -> ConnectionState {
        *self.inner.state.borrow()
    }

    /// A receiver that sees every state transition (only transitions, never repeats). A slow
    /// reader may skip intermediate states but always ends on the current one.
    pub fn subscribe(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.subscribe()
    }

    /// Calls `listener` on every state transition, synchronously, on the thread that observed
    /// it (keep it short and non-blocking: e.g. queue an event for the host).
    pub fn on_state_change(&self, listener: impl Fn(ConnectionState) + Send + Sync + 'static) {
        self.inner.listeners.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(listener));
    }

    /// One health check, with the same deadline and state reporting as any operation (a
    /// cluster: a PING that succeeds when any master answers); hosts that want to fail fast at
    /// startup can await it.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.inner.health_check().await
    }

    /// Turns the durability wait on (`Some`) or off for later writes; see
    /// [`RedisStoreOptions::wait_for_replica`].
    pub fn set_wait_for_replica(&self, wait: Option<Duration>) {
        self.inner.wait_replica_ms.store(wait.map_or(0, millis), Ordering::Relaxed);
    }

    /// Changes [`RedisStoreOptions::failover_timeout`] for later operations.
    pub fn set_failover_timeout(&self, timeout: Duration) {
        self.inner.failover_ms.store(millis(timeout), Ordering::Relaxed);
    }

    /// How many operations are waiting right now for their slot to have a master again.
    pub fn failover_waits(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }
}

/// What one attempt sends: a command, or a write followed by `WAIT 1 <ms>` on the same
/// connection (a pipeline goes to the node of its key, cluster or not).
enum Request<'a> {
    Cmd(&'a Cmd),
    Durable(redis::Pipeline, u64),
}

impl Request<'_> {
    /// The key the request is about (the first key of its command), for its cluster slot.
    fn key(&self) -> Option<Vec<u8>> {
        let cmd = match self {
            Request::Cmd(cmd) => *cmd,
            Request::Durable(pipe, _) => pipe.cmd_iter().next()?,
        };
        let mut args = cmd.args_iter().map(|a| match a {
            redis::Arg::Simple(b) => b.to_vec(),
            _ => Vec::new(),
        });
        let name = args.next()?.to_ascii_uppercase();
        // EVAL/EVALSHA script numkeys key ...; the others: NAME key ...
        let skip = if name.starts_with(b"EVAL") { 2 } else { 0 };
        args.nth(skip)
    }

    async fn run<C: redis::aio::ConnectionLike + Send>(&self, conn: &mut C) -> Result<redis::Value, RedisError> {
        match self {
            Request::Cmd(cmd) => cmd.query_async(conn).await,
            Request::Durable(pipe, _) => pipe.query_async(conn).await,
        }
    }
}

impl Inner {
    /// Runs one read (or a write that needs no replica), as [`Inner::run`] does.
    async fn query<T: FromRedisValue>(&self, op: &str, cmd: Cmd) -> Result<T, StoreError> {
        self.run(op, Request::Cmd(&cmd)).await
    }

    /// Runs a script by its SHA1 (EVALSHA), as a write (so `wait_for_replica` applies). A server
    /// that does not know it yet (NOSCRIPT: new, restarted, or a Cluster node that just took the
    /// slot over) gets it with EVAL, which also caches it there.
    async fn query_script<T: FromRedisValue>(&self, op: &str, script: &LuaScript, keys: &[&[u8]], args: &[&[u8]]) -> Result<T, StoreError> {
        let command = |name: &str, body: &[u8]| {
            let mut cmd = redis::cmd(name);
            cmd.arg(body).arg(keys.len()).arg(keys).arg(args);
            cmd
        };
        match self.write::<T>(op, command("EVALSHA", script.sha1.as_bytes())).await {
            Err(e) if e.kind == StoreErrorKind::Backend && is_no_script(&e.message) => self.write(op, command("EVAL", script.code.as_bytes())).await,
            other => other,
        }
    }

    /// Runs one write: with `wait_for_replica` on, acknowledged only once a replica has it.
    async fn write<T: FromRedisValue>(&self, op: &str, cmd: Cmd) -> Result<T, StoreError> {
        match self.wait_replica_ms.load(Ordering::Relaxed) {
            0 => self.run(op, Request::Cmd(&cmd)).await,
            ms => {
                let mut pipe = redis::pipe();
                pipe.add_command(cmd).cmd("WAIT").arg(1).arg(ms);
                self.run(op, Request::Durable(pipe, ms)).await
            }
        }
    }

    /// Runs one operation and records the outcome in the connection state. One server: one
    /// attempt. A cluster: an attempt that could not reach its slot's master (refused,
    /// dropped, timed out, CLUSTERDOWN) is a failover in progress: retried with growing
    /// pauses (the client refreshes its slot map meanwhile) until it goes through, the store
    /// as a whole is found disconnected, or `failover_timeout` runs out.
    async fn run<T: FromRedisValue>(&self, op: &str, request: Request<'_>) -> Result<T, StoreError> {
        let cluster = matches!(self.backend, Backend::Cluster { .. });
        let started = Instant::now();
        let mut pause = FAILOVER_MIN_PAUSE;
        let mut attempts = 0u32;
        // The last error that said more than a timeout: a give-up after retries names it.
        let mut cause: Option<String> = None;
        loop {
            attempts += 1;
            // A cluster operation ends within its failover budget (or one deadline, if longer).
            let budget = Duration::from_millis(self.failover_ms.load(Ordering::Relaxed));
            let limit = if cluster { self.deadline.min(budget.saturating_sub(started.elapsed()).max(FAILOVER_MIN_PAUSE)) } else { self.deadline };
            let result = match self.attempt::<T>(op, &request, limit).await {
                Err(e) if cluster && e.kind == StoreErrorKind::Timeout => Err(self.explain_timeout(op, &request, e).await),
                other => other,
            };
            let Err(e) = &result else {
                self.set_state(ConnectionState::Connected);
                return result;
            };
            if !is_outage(e) {
                // The server answered (with an error): the connection itself is fine.
                self.set_state(ConnectionState::Connected);
                return result;
            }
            if !cluster {
                self.set_state(ConnectionState::Disconnected);
                return result;
            }
            // One node away says nothing about the others: the health check decides whether
            // the cluster as a whole is gone (then waiting here is pointless).
            self.check_now.notify_one();
            if *self.state.borrow() == ConnectionState::Disconnected || started.elapsed() + pause > budget {
                return result.map_err(|e| gave_up(e, attempts, started.elapsed(), cause));
            }
            if e.kind != StoreErrorKind::Timeout {
                cause = Some(e.message.clone());
            }
            self.waiting.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(jitter(pause)).await;
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            pause = (pause * 2).min(FAILOVER_MAX_PAUSE);
        }
    }

    /// One attempt within `limit`, its error mapped.
    async fn attempt<T: FromRedisValue>(&self, op: &str, request: &Request<'_>, limit: Duration) -> Result<T, StoreError> {
        let value = match tokio::time::timeout(limit, self.send(request)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(map_error(op, &self.target, e)),
            Err(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Timeout,
                    format!("redis {op}: no answer from {} within {} ms", self.target, limit.as_millis()),
                ))
            }
        };
        let value = match request {
            Request::Cmd(_) => value,
            Request::Durable(_, ms) => {
                let (value, replicas): (redis::Value, i64) = redis::from_redis_value(value).map_err(|e| {
                    StoreError::new(StoreErrorKind::Backend, format!("redis {op}: unexpected answer to WAIT: {e}"))
                })?;
                if replicas < 1 {
                    return Err(StoreError::new(
                        StoreErrorKind::Unavailable,
                        format!("redis {op}: no replica acknowledged the write within {ms} ms (waitForReplica); it is on the master only"),
                    ));
                }
                value
            }
        };
        redis::from_redis_value(value).map_err(|e| StoreError::new(StoreErrorKind::Backend, format!("redis {op}: unexpected answer: {e}")))
    }

    /// A cluster attempt that timed out. While the master of its slot is dead (refusing
    /// connections) the cluster client keeps refreshing its slot map and retrying until the
    /// time runs out, so the timeout hides the cause: asks a live master who serves the slot
    /// and tries to connect there. Refused: the error is Unavailable, as it really is.
    async fn explain_timeout(&self, op: &str, request: &Request<'_>, timeout: StoreError) -> StoreError {
        use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
        let (Backend::Cluster { conn, .. }, Some(key)) = (&self.backend, request.key()) else { return timeout };
        let Some(conn) = conn.get() else { return timeout };
        let slot = key_slot(&key);
        let any_master = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(ResponsePolicy::OneSucceeded)));
        let mut slots_cmd = redis::cmd("CLUSTER");
        slots_cmd.arg("SLOTS");
        let slots = match tokio::time::timeout(self.deadline, conn.clone().route_command(slots_cmd, any_master)).await {
            Ok(Ok(v)) => v,
            _ => return timeout,
        };
        let Some((host, port)) = slot_master(&slots, slot) else { return timeout };
        match tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect((host.as_str(), port))).await {
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => StoreError::new(
                StoreErrorKind::Unavailable,
                format!("redis {op}: cannot reach {host}:{port}, the master of slot {slot} ({}): connection refused", self.target),
            ),
            _ => timeout,
        }
    }

    /// The health check: one server, a PING; a cluster, a PING to every master that succeeds
    /// when any of them answers. Sets the store-wide state either way.
    async fn health_check(&self) -> Result<(), StoreError> {
        let Backend::Cluster { client, conn } = &self.backend else {
            return self.query::<String>("PING", redis::cmd("PING")).await.map(|_| ());
        };
        use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
        let ping = async {
            let conn = conn.get_or_try_init(|| client.get_async_connection()).await?;
            let any_master = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(ResponsePolicy::OneSucceeded)));
            conn.clone().route_command(redis::cmd("PING"), any_master).await
        };
        let result = match tokio::time::timeout(self.deadline, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(map_error("PING", &self.target, e)),
            Err(_) => Err(StoreError::new(
                StoreErrorKind::Timeout,
                format!("redis PING: no master of {} answered within {} ms", self.target, self.deadline.as_millis()),
            )),
        };
        match &result {
            Err(e) if is_outage(e) => self.set_state(ConnectionState::Disconnected),
            _ => self.set_state(ConnectionState::Connected),
        }
        result
    }

    async fn send(&self, request: &Request<'_>) -> Result<redis::Value, RedisError> {
        match &self.backend {
            Backend::Single(manager) => request.run(&mut manager.clone()).await,
            Backend::Cluster { client, conn } => {
                let conn = conn.get_or_try_init(|| client.get_async_connection()).await?;
                let mut pause = Duration::from_millis(1);
                loop {
                    match request.run(&mut conn.clone()).await {
                        // The client follows MOVED/ASK itself, but while a slot migrates,
                        // concurrent requests on one connection can swallow each other's ASKING
                        // and bounce between the two nodes until its retries run out. A short
                        // jittered pause breaks the lockstep; the caller's deadline bounds it.
                        Err(e) if is_redirect(&e) => {
                            tokio::time::sleep(jitter(pause)).await;
                            pause = (pause * 2).min(Duration::from_millis(50));
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    fn set_state(&self, new: ConnectionState) {
        if *self.state.borrow() == new {
            return;
        }
        // Under the listeners' lock: two threads changing the state at once must reach the
        // listeners in the order the state changed, or they would hear a repeat.
        let listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        let changed = self.state.send_if_modified(|s| {
            let changed = *s != new;
            *s = new;
            changed
        });
        if changed {
            for listener in listeners.iter() {
                listener(new);
            }
        }
    }
}

/// Connects at start, reconnects with backoff while disconnected, and health-checks while
/// connected. Holds the store only weakly and ends when the store is dropped.
async fn monitor(
    store: Weak<Inner>,
    mut state: watch::Receiver<ConnectionState>,
    check_now: Arc<Notify>,
    max_delay: Duration,
    health_check: Option<Duration>,
) {
    let ping = |store: &Weak<Inner>| {
        let store = store.upgrade();
        async move {
            match store {
                Some(s) => {
                    let _ = s.health_check().await;
                    true
                }
                None => false,
            }
        }
    };

    let mut delay = RECONNECT_MIN_DELAY;
    loop {
        let current = *state.borrow_and_update();
        if current == ConnectionState::Connected {
            delay = RECONNECT_MIN_DELAY;
            let every = health_check.unwrap_or(Duration::MAX);
            tokio::select! {
                changed = state.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(every) => if !ping(&store).await { return },
                // A cluster operation that hit a dead node asks for a health check now.
                _ = check_now.notified() => if !ping(&store).await { return },
            }
            continue;
        }
        if !ping(&store).await {
            return;
        }
        if *state.borrow_and_update() != ConnectionState::Connected {
            tokio::select! {
                changed = state.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(max_delay.max(RECONNECT_MIN_DELAY));
        }
    }
}

impl Store for RedisStore {
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("GET");
            cmd.arg(self.key(sid));
            // Bytes, not String: a record that is not UTF-8 is handed on (lossily) as the
            // corrupt record it is, for the session rules to treat as a miss.
            let raw: Option<Vec<u8>> = self.inner.query("GET", cmd).await?;
            Ok(raw.map(|b| String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())))
        })
    }

    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if ttl.is_zero() {
                // Redis refuses PX 0; a record that expires at once is no record.
                return self.destroy(sid).await;
            }
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.key(sid)).arg(json).arg("PX").arg(px_ms(ttl).max(1));
            self.inner.write::<()>("SET", cmd).await
        })
    }

    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(self.key(sid));
            self.inner.write::<i64>("DEL", cmd).await.map(|_| ())
        })
    }

    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut cmd = redis::cmd("PEXPIRE");
            cmd.arg(self.key(sid)).arg(px_ms(ttl));
            Ok(self.inner.write::<i64>("PEXPIRE", cmd).await? == 1)
        })
    }

    fn supports_touch(&self) -> bool {
        true
    }

    fn compare_and_set<'a>(&'a self, sid: &'a str, expected: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, CasResult> {
        Box::pin(async move {
            let key = self.key(sid);
            // PX 0 is refused; a record that expires at once lives 1 ms.
            let px = px_ms(ttl).max(1).to_string();
            let answer: Value = self
                .inner
                .query_script("EVALSHA", &CAS, &[key.as_bytes()], &[expected.as_bytes(), json.as_bytes(), px.as_bytes()])
                .await?;
            match answer {
                Value::Int(0) => Ok(CasResult::Missing),
                Value::Int(1) => Ok(CasResult::Stored),
                // As in `get`: a record that is not UTF-8 is handed on (lossily) as the
                // corrupt record it is; it is no JSON object, so the merge treats it as gone.
                Value::BulkString(b) => Ok(CasResult::Changed(
                    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                )),
                other => Err(StoreError::new(
                    StoreErrorKind::Backend,
                    format!("redis EVALSHA: unexpected answer from the compare-and-set script ({}): {other:?}", self.inner.target),
                )),
            }
        })
    }

    fn supports_compare_and_set(&self) -> bool {
        true
    }

    fn supports_user_index(&self) -> bool {
        true
    }

    fn user_index_add<'a>(&'a self, user: &'a str, sid: &'a str, since_ms: i64) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let key = self.user_index_key(user);
            let since = since_ms.to_string();
            self.inner.query_script("EVALSHA", &USER_INDEX_ADD, &[key.as_bytes()], &[since.as_bytes(), sid.as_bytes()]).await
        })
    }

    fn user_index_entries<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(self.user_index_key(user)).arg(0).arg(-1).arg("WITHSCORES");
            let answer: Value = self.inner.query("ZRANGE", cmd).await?;
            index_entries(answer).map_err(|why| {
                StoreError::new(StoreErrorKind::Backend, format!("redis ZRANGE: unexpected answer for a user index ({}): {why}", self.inner.target))
            })
        })
    }

    fn user_index_remove<'a>(&'a self, user: &'a str, sids: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = self.user_index_key(user);
            for batch in sids.chunks(USER_INDEX_REMOVE_BATCH) {
                let mut cmd = redis::cmd("ZREM");
                cmd.arg(&key).arg(batch);
                self.inner.write::<i64>("ZREM", cmd).await?;
            }
            Ok(())
        })
    }
}

/// The entries of a `ZRANGE key 0 -1 WITHSCORES` answer, in its order (by score, then id):
/// RESP2's flat `[id, score, id, score, ...]` or RESP3's `[[id, score], ...]`. Anything else
/// is described (never quoted: ids are credentials) as the error.
fn index_entries(answer: Value) -> Result<Vec<IndexEntry>, String> {
    let Value::Array(items) = answer else { return Err(format!("{} instead of an array", value_kind(&answer))) };
    let pairs: Vec<(Value, Value)> = if items.iter().all(|v| matches!(v, Value::Array(_))) {
        let mut pairs = Vec::with_capacity(items.len());
        for item in items {
            let Value::Array(pair) = item else { unreachable!("all items are arrays") };
            let [id, score]: [Value; 2] = pair.try_into().map_err(|p: Vec<Value>| format!("a pair of {} values", p.len()))?;
            pairs.push((id, score));
        }
        pairs
    } else {
        if items.len() % 2 != 0 {
            return Err(format!("an odd number of values ({})", items.len()));
        }
        let mut it = items.into_iter();
        std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
    };
    pairs
        .into_iter()
        .map(|(id, score)| {
            let sid = match id {
                // As in `get`: bytes that are not UTF-8 are handed on lossily (no session id
                // of ours is such; the entry is then pruned like any other).
                Value::BulkString(b) => String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                Value::SimpleString(s) => s,
                other => return Err(format!("{} as a member", value_kind(&other))),
            };
            Ok(IndexEntry { sid, since_ms: index_score(&score).ok_or_else(|| format!("{} as a score", value_kind(&score)))? })
        })
        .collect()
}

/// A sorted-set score as unix ms: RESP2 sends it as text, RESP3 as a double. Scores we wrote
/// are integers; any other number is rounded (and clamped to `i64`).
fn index_score(score: &Value) -> Option<i64> {
    let text = match score {
        Value::Int(i) => return Some(*i),
        Value::Double(d) if !d.is_nan() => return Some(d.round() as i64),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?,
        Value::SimpleString(s) => s.as_str(),
        _ => return None,
    };
    let text = text.trim();
    text.parse::<i64>().ok().or_else(|| text.parse::<f64>().ok().filter(|d| !d.is_nan()).map(|d| d.round() as i64))
}

/// What kind of value an answer is, for an error message that must not quote it.
fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) => "a bulk string",
        Value::Array(_) => "an array",
        Value::SimpleString(_) => "a status",
        Value::Okay => "OK",
        Value::Map(_) => "a map",
        Value::Attribute { .. } => "an attribute",
        Value::Set(_) => "a set",
        Value::Double(_) => "a double",
        Value::Boolean(_) => "a boolean",
        Value::VerbatimString { .. } => "a verbatim string",
        Value::BigNumber(_) => "a big number",
        Value::Push { .. } => "a push",
        Value::ServerError(_) => "a server error",
        _ => "an unknown value",
    }
}

/// How many keys one `SCAN` of `length` and `clear` asks for (a hint to Redis).
const SCAN_BATCH: usize = 1000;

/// The operator calls (see [`super::operator`]): `SCAN MATCH <prefix>* COUNT n`, on the one
/// server or on each master of a cluster in turn (found with `CLUSTER SLOTS`, walked in the
/// order of their addresses; masters hold disjoint slots, so no key is seen twice across
/// them). A walk's cursor is `r<scan cursor>` on one server, `r<scan cursor>@<host>:<port>`
/// on a cluster. A failover during a walk may fail it: start again.
impl RedisStore {
    /// The masters of a cluster, sorted by address; `None` for one server.
    async fn masters(&self) -> Result<Option<Vec<(String, u16)>>, StoreError> {
        use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
        let Backend::Cluster { client, conn } = &self.inner.backend else { return Ok(None) };
        let ask = async {
            let conn = conn.get_or_try_init(|| client.get_async_connection()).await?;
            let any_master = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(ResponsePolicy::OneSucceeded)));
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SLOTS");
            conn.clone().route_command(cmd, any_master).await
        };
        let slots = self.inner.bounded("CLUSTER SLOTS", ask).await?;
        let mut masters = slot_masters(&slots);
        if masters.is_empty() {
            return Err(StoreError::new(StoreErrorKind::Unavailable, format!("redis CLUSTER SLOTS: no master serves a slot ({})", self.inner.target)));
        }
        masters.sort();
        masters.dedup();
        Ok(Some(masters))
    }

    /// One `SCAN cursor MATCH <prefix>* COUNT count` on the server, or on the master `node`:
    /// the next cursor (0: done) and the keys.
    async fn scan(&self, node: Option<&(String, u16)>, cursor: u64, count: usize) -> Result<(u64, Vec<Vec<u8>>), StoreError> {
        use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("MATCH").arg(super::operator::match_pattern(self.inner.prefix.as_bytes())).arg("COUNT").arg(count.max(1));
        let (Backend::Cluster { client, conn }, Some((host, port))) = (&self.inner.backend, node) else {
            return self.inner.query("SCAN", cmd).await;
        };
        let ask = async {
            let conn = conn.get_or_try_init(|| client.get_async_connection()).await?;
            let at = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
            conn.clone().route_command(cmd, at).await
        };
        let value = self.inner.bounded("SCAN", ask).await?;
        redis::from_redis_value(value).map_err(|e| StoreError::new(StoreErrorKind::Backend, format!("redis SCAN: unexpected answer from {host}:{port}: {e}")))
    }

    /// A walk over every key under the prefix: the server, or every master in turn.
    async fn key_walk(&self) -> Result<KeyWalk, StoreError> {
        let nodes = match self.masters().await? {
            None => vec![None],
            Some(masters) => masters.into_iter().map(Some).collect(),
        };
        Ok(KeyWalk { nodes, node: 0, cursor: 0 })
    }

    /// The walk's next batch of keys (possibly empty); `None` once done.
    async fn next_keys(&self, walk: &mut KeyWalk) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let Some(node) = walk.nodes.get(walk.node) else { return Ok(None) };
        let (next, keys) = self.scan(node.as_ref(), walk.cursor, SCAN_BATCH).await?;
        walk.cursor = next;
        if next == 0 {
            walk.node += 1;
        }
        Ok(Some(keys))
    }

    /// The id in a key found under the prefix.
    fn id_of(&self, key: &[u8]) -> String {
        let id = key.get(self.inner.prefix.len()..).unwrap_or_default();
        String::from_utf8_lossy(id).into_owned()
    }
}

impl Inner {
    /// Runs a request of our own routing within one deadline, its outcome recorded in the
    /// connection state as any operation's.
    async fn bounded(&self, op: &str, ask: impl std::future::Future<Output = Result<Value, RedisError>>) -> Result<Value, StoreError> {
        let result = match tokio::time::timeout(self.deadline, ask).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(map_error(op, &self.target, e)),
            Err(_) => Err(StoreError::new(StoreErrorKind::Timeout, format!("redis {op}: no answer from {} within {} ms", self.target, self.deadline.as_millis()))),
        };
        match &result {
            Err(e) if is_outage(e) => self.check_now.notify_one(),
            _ => self.set_state(ConnectionState::Connected),
        }
        result
    }
}

impl super::operator::StoreOperator for RedisStore {
    fn length(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let (mut walk, mut n) = (self.key_walk().await?, 0u64);
            while let Some(keys) = self.next_keys(&mut walk).await? {
                n += keys.len() as u64;
            }
            Ok(n)
        })
    }

    fn ids_page<'a>(&'a self, cursor: Option<&'a str>, count: usize) -> StoreFuture<'a, super::operator::IdsPage> {
        Box::pin(async move {
            let bad = || StoreError::new(StoreErrorKind::Rejected, "RedisStore ids: not a cursor of this store");
            let cluster = matches!(self.inner.backend, Backend::Cluster { .. });
            // Where to go on: the scan cursor and, on a cluster, the master.
            let (mut scan, mut node): (u64, Option<(String, u16)>) = match cursor {
                None => (0, if cluster { self.masters().await?.and_then(|m| m.into_iter().next()) } else { None }),
                Some(c) => {
                    let c = c.strip_prefix('r').ok_or_else(bad)?;
                    let (scan, at) = match c.split_once('@') {
                        Some((scan, at)) if cluster => {
                            let (host, port) = at.rsplit_once(':').ok_or_else(bad)?;
                            (scan, Some((host.to_owned(), port.parse::<u16>().map_err(|_| bad())?)))
                        }
                        None if !cluster => (c, None),
                        _ => return Err(bad()),
                    };
                    (scan.parse::<u64>().map_err(|_| bad())?, at)
                }
            };
            if cluster && node.is_none() {
                return Ok(super::operator::IdsPage { ids: Vec::new(), cursor: None });
            }
            loop {
                let (next, keys) = self.scan(node.as_ref(), scan, count).await?;
                let ids: Vec<String> = keys.iter().map(|k| self.id_of(k)).collect();
                scan = next;
                let mut finished = next == 0 && !cluster;
                if next == 0 && cluster {
                    // This master is done: on to the next one by address.
                    let current = node.take();
                    node = self.masters().await?.and_then(|m| m.into_iter().find(|a| Some(a) > current.as_ref()));
                    finished = node.is_none();
                }
                if !ids.is_empty() || finished {
                    let cursor = (!finished).then(|| match &node {
                        Some((host, port)) => format!("r{scan}@{host}:{port}"),
                        None => format!("r{scan}"),
                    });
                    return Ok(super::operator::IdsPage { ids, cursor });
                }
            }
        })
    }

    fn clear(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let (mut walk, mut removed) = (self.key_walk().await?, 0u64);
            while let Some(keys) = self.next_keys(&mut walk).await? {
                if keys.is_empty() {
                    continue;
                }
                // On a cluster the client splits a multi-key UNLINK by slot and adds up the
                // answers; the keys of one SCAN are on the master that answers for them.
                let mut cmd = redis::cmd("UNLINK");
                cmd.arg(keys);
                removed += self.inner.query::<u64>("UNLINK", cmd).await?;
            }
            Ok(removed)
        })
    }
}

/// Where a walk over a Redis store's keys is: the nodes to scan (`None`: the one server), the
/// one being scanned, and its SCAN cursor.
struct KeyWalk {
    nodes: Vec<Option<(String, u16)>>,
    node: usize,
    cursor: u64,
}

/// Every master in a `CLUSTER SLOTS` answer (`[[start, end, [host, port, id, ...], ...], ...]`).
fn slot_masters(slots: &Value) -> Vec<(String, u16)> {
    let Value::Array(ranges) = slots else { return Vec::new() };
    ranges
        .iter()
        .filter_map(|range| {
            let Value::Array(parts) = range else { return None };
            let Value::Array(master) = parts.get(2)? else { return None };
            let host = match master.first()? {
                Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
                Value::SimpleString(s) => s.clone(),
                _ => return None,
            };
            let Value::Int(port) = master.get(1)? else { return None };
            Some((host, u16::try_from(*port).ok()?))
        })
        .collect()
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner.backend {
            Backend::Single(_) => "single",
            Backend::Cluster { .. } => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("target", &self.inner.target)
            .field("mode", &kind)
            .field("prefix", &self.inner.prefix)
            .field("state", &self.state())
            .finish()
    }
}

fn is_redirect(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(ServerErrorKind::Ask | ServerErrorKind::Moved | ServerErrorKind::TryAgain)
    )
}

/// The error of a cluster operation that retried through a failover until its budget ran
/// out: the last attempt's error, with how long it waited in all and, when that last error is
/// a bare timeout, the cause seen before it (a refused master, an unacknowledged write).
fn gave_up(last: StoreError, attempts: u32, waited: Duration, cause: Option<String>) -> StoreError {
    if attempts < 2 {
        return last;
    }
    let before = match cause {
        Some(c) if last.kind == StoreErrorKind::Timeout && c != last.message => format!("; before that: {c}"),
        _ => String::new(),
    };
    StoreError::new(last.kind, format!("{} (gave up after {attempts} attempts in {} ms of failover waiting{before})", last.message, waited.as_millis()))
}

/// Somewhere between half and all of `d`.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    d / 2 + d.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// The Redis Cluster slot of a key: CRC16 (XMODEM) of the key, or of its `{hash tag}`, mod 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let mut k = key;
    if let Some(open) = k.iter().position(|&b| b == b'{') {
        if let Some(len) = k[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                k = &k[open + 1..open + 1 + len];
            }
        }
    }
    let mut crc: u16 = 0;
    for &b in k {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc % 16384
}

/// The master's host and port for `slot` in a `CLUSTER SLOTS` answer
/// (`[[start, end, [host, port, id, ...], replicas...], ...]`).
fn slot_master(slots: &redis::Value, slot: u16) -> Option<(String, u16)> {
    use redis::Value;
    let int = |v: &Value| match v {
        Value::Int(i) => Some(*i),
        _ => None,
    };
    let Value::Array(ranges) = slots else { return None };
    ranges.iter().find_map(|range| {
        let Value::Array(parts) = range else { return None };
        let (start, end) = (int(parts.first()?)?, int(parts.get(1)?)?);
        if !(start..=end).contains(&i64::from(slot)) {
            return None;
        }
        let Value::Array(master) = parts.get(2)? else { return None };
        let host = match master.first()? {
            Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
            Value::SimpleString(s) => s.clone(),
            _ => return None,
        };
        Some((host, u16::try_from(int(master.get(1)?)?).ok()?))
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The store could not reach the node (or it is not serving): an outage, not an answer.
fn is_outage(e: &StoreError) -> bool {
    matches!(e.kind, StoreErrorKind::Unavailable | StoreErrorKind::Timeout)
}

fn px_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).min(MAX_PX_MS)
}

fn check_options(o: &RedisStoreOptions) -> Result<(), RedisConfigError> {
    if o.connect_timeout.is_zero() || o.response_timeout.is_zero() {
        return Err(RedisConfigError::new("connect_timeout and response_timeout must be greater than zero"));
    }
    if o.wait_for_replica.is_some_and(|d| d.is_zero()) {
        return Err(RedisConfigError::new("wait_for_replica must be greater than zero (or None)"));
    }
    if o.health_check_interval.is_some_and(|d| d.is_zero()) {
        return Err(RedisConfigError::new("health_check_interval must be greater than zero (or None)"));
    }
    Ok(())
}

fn current_runtime() -> Result<tokio::runtime::Handle, RedisConfigError> {
    tokio::runtime::Handle::try_current()
        .map_err(|_| RedisConfigError::new("RedisStore must be created inside a tokio runtime (it runs a background task)"))
}

fn parse_url(url: &str) -> Result<redis::ConnectionInfo, RedisConfigError> {
    use redis::IntoConnectionInfo;
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis" | "rediss" | "unix" | "redis+unix") => {}
        _ => {
            return Err(RedisConfigError::new(format!(
                "invalid Redis URL {:?}: expected redis://, rediss://, unix:// or redis+unix://",
                redact(url)
            )))
        }
    }
    let info = url.into_connection_info().map_err(|e| RedisConfigError::new(format!("invalid Redis URL {:?}: {e}", redact(url))))?;
    if let redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. } = info.addr() {
        if host.is_empty() {
            return Err(RedisConfigError::new(format!("invalid Redis URL {:?}: no host", redact(url))));
        }
    }
    Ok(info)
}

fn is_tls(addr: &redis::ConnectionAddr) -> bool {
    matches!(addr, redis::ConnectionAddr::TcpTls { .. })
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// rustls needs a process-wide crypto provider; ring builds without system libraries. A
/// provider the host installed first is kept.
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The server refused our credentials (AUTH failed) or wants some (NOAUTH): every command on
/// this connection fails alike until the server's or the URL's credentials change. (NOPERM
/// stays a server error: it concerns one command, the connection is fine.)
fn is_auth_failure(e: &RedisError) -> bool {
    e.kind() == ErrorKind::AuthenticationFailed || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// Whether a server error's text (as `map_error` words it) is Redis's NOSCRIPT.
fn is_no_script(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("noscript") || m.contains("no matching script")
}

fn map_error(op: &str, target: &str, e: RedisError) -> StoreError {
    // Not a server error: a store it cannot use is as good as not connected (DISCONNECT, the
    // middleware's reconnectTimeout, background retries with backoff), with the reason said.
    if is_auth_failure(&e) {
        return StoreError::new(StoreErrorKind::Unavailable, format!("redis {op}: authentication failed ({target}): {e}"));
    }
    let kind = if e.is_timeout() {
        StoreErrorKind::Timeout
    } else {
        match e.kind() {
            ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => StoreErrorKind::Unavailable,
            ErrorKind::Server(
                ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain,
            ) => StoreErrorKind::Unavailable,
            _ if e.is_connection_dropped() || e.is_connection_refusal() => StoreErrorKind::Unavailable,
            _ => StoreErrorKind::Backend,
        }
    };
    let what = match kind {
        StoreErrorKind::Backend => "server error",
        StoreErrorKind::Timeout => "timed out",
        _ => "cannot reach",
    };
    StoreError::new(kind, format!("redis {op}: {what} ({target}): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_give_up_after_failover_retries_says_how_long_and_why() {
        let timeout = || StoreError::new(StoreErrorKind::Timeout, "redis DEL: no answer from c within 1301 ms");
        let one = gave_up(timeout(), 1, Duration::from_millis(1301), None);
        assert_eq!(one.message, "redis DEL: no answer from c within 1301 ms");
        let e = gave_up(timeout(), 4, Duration::from_millis(4012), Some("redis DEL: no replica acknowledged the write within 1000 ms (waitForReplica); it is on the master only".into()));
        assert_eq!(e.kind, StoreErrorKind::Timeout);
        assert_eq!(
            e.message,
            "redis DEL: no answer from c within 1301 ms (gave up after 4 attempts in 4012 ms of failover waiting; before that: redis DEL: no replica acknowledged the write within 1000 ms (waitForReplica); it is on the master only)"
        );
        let refused = StoreError::new(StoreErrorKind::Unavailable, "redis DEL: cannot reach h:1, the master of slot 7: connection refused");
        let e = gave_up(refused, 3, Duration::from_millis(2000), Some("other".into()));
        assert_eq!(e.message, "redis DEL: cannot reach h:1, the master of slot 7: connection refused (gave up after 3 attempts in 2000 ms of failover waiting)");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://:secret@h"), "redis://:***@h");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }

    #[test]
    fn key_slots_match_redis() {
        // What CLUSTER KEYSLOT answers (Redis 7.0).
        for (key, slot) in [
            ("foo", 12182),
            ("koa:sess:abc", 9467),
            ("{user1000}.following", 3443),
            ("user1000", 3443),
            ("{}x", 10595),
            ("a{b}c", 3300),
            ("123456789", 12739),
        ] {
            assert_eq!(key_slot(key.as_bytes()), slot, "{key}");
        }
    }

    #[test]
    fn index_answers_of_either_protocol_and_wrong_shapes() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let want = |pairs: &[(&str, i64)]| pairs.iter().map(|&(sid, since_ms)| IndexEntry { sid: sid.into(), since_ms }).collect::<Vec<_>>();
        // RESP2: flat, scores as text (Redis writes big integers without an exponent).
        let resp2 = Value::Array(vec![bulk("a"), bulk("1700000000000"), bulk("b"), bulk("1700000000001.0")]);
        assert_eq!(index_entries(resp2).unwrap(), want(&[("a", 1_700_000_000_000), ("b", 1_700_000_000_001)]));
        // RESP3: pairs, scores as doubles.
        let resp3 = Value::Array(vec![Value::Array(vec![bulk("a"), Value::Double(5.0)]), Value::Array(vec![bulk("b"), Value::Double(-2.0)])]);
        assert_eq!(index_entries(resp3).unwrap(), want(&[("a", 5), ("b", -2)]));
        assert_eq!(index_entries(Value::Array(Vec::new())).unwrap(), want(&[]));
        assert_eq!(index_entries(Value::Array(vec![bulk("inf-ish"), bulk("inf")])).unwrap(), want(&[("inf-ish", i64::MAX)]));
        for bad in [
            Value::Nil,
            Value::Int(3),
            bulk("secret-sid"),
            Value::Array(vec![bulk("secret-sid")]),
            Value::Array(vec![bulk("secret-sid"), bulk("not a number")]),
            Value::Array(vec![bulk("secret-sid"), bulk("nan")]),
            Value::Array(vec![Value::Int(1), bulk("1")]),
            Value::Array(vec![Value::Array(vec![bulk("secret-sid")])]),
            Value::Array(vec![Value::Array(vec![bulk("secret-sid"), Value::Nil])]),
        ] {
            let why = index_entries(bad).unwrap_err();
            assert!(!why.contains("secret-sid"), "ids are never quoted: {why}");
        }
    }

    #[test]
    fn index_requests_route_by_the_index_key() {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&USER_INDEX_ADD.sha1).arg(1).arg("ks-user:koa:sess:ann").arg("1").arg("sid");
        assert_eq!(Request::Cmd(&cmd).key().as_deref(), Some(&b"ks-user:koa:sess:ann"[..]));
        let mut cmd = redis::cmd("ZREM");
        cmd.arg("ks-user:koa:sess:ann").arg(&["a".to_owned(), "b".to_owned()][..]);
        assert_eq!(cmd.args_iter().count(), 4, "one argument per id");
        assert_eq!(Request::Cmd(&cmd).key().as_deref(), Some(&b"ks-user:koa:sess:ann"[..]));
        // The index key never falls under the default prefix's walk.
        assert!(!format!("{USER_INDEX_PREFIX}{DEFAULT_PREFIX}ann").starts_with(DEFAULT_PREFIX));
    }

    #[test]
    fn px_is_capped() {
        assert_eq!(px_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(px_ms(Duration::MAX), MAX_PX_MS);
    }

    #[test]
    fn needs_a_runtime() {
        let e = RedisStore::open("redis://127.0.0.1:1", RedisStoreOptions::default()).unwrap_err();
        assert!(e.message.contains("tokio runtime"), "{e}");
    }

    #[tokio::test]
    async fn rejects_bad_urls_and_options() {
        for url in ["", "127.0.0.1:6380", "http://127.0.0.1:1", "redis://", "redis://127.0.0.1:notaport", "redis://[::1"] {
            let e = RedisStore::open(url, RedisStoreOptions::default()).unwrap_err();
            assert!(e.message.contains("invalid Redis URL"), "{url}: {e}");
        }
        let zero = RedisStoreOptions { connect_timeout: Duration::ZERO, ..Default::default() };
        assert!(RedisStore::open("redis://127.0.0.1:1", zero).is_err());
        assert!(RedisStore::open_cluster::<&str>(&[], RedisStoreOptions::default()).is_err());
        let e = RedisStore::open_cluster(&["unix:///tmp/x.sock"], RedisStoreOptions::default()).unwrap_err();
        assert!(e.message.contains("unix"), "{e}");
    }
}
