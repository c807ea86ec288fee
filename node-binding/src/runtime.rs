//! The tokio runtime napi runs the native stores' async work on (RedisStore).
//!
//! One worker thread unless `TOKIO_WORKER_THREADS` says otherwise: the work is waiting on
//! one multiplexed connection, and a second worker only adds wake-ups and context switches
//! on the JS thread's core. Measured with the Koa middleware on RedisStore, server pinned to
//! one core, 50 requests in flight: 54-57 us CPU per request with napi's default (a worker
//! per core) against 41-43 us with one worker.
//!
//! On Linux the runtime's threads run as SCHED_BATCH: a reply from Redis waking the worker
//! does not preempt the JS thread. Where both share a core (a server pinned to one, or every
//! core busy) the worker then runs when the JS thread waits or its slice ends, and handles
//! every reply and command queued meanwhile in one go (one socket write for many commands)
//! instead of one preemption per operation; the JS thread settles the replies in one batch
//! too (stores/completions.rs). On an idle core it changes nothing. Measured like the above,
//! wrk -c50 on /write: 24-27k req/s and 37-40 us CPU per request without, 35-37k and 26-27
//! us with.

#[napi_derive::module_init]
fn init_runtime() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder.on_thread_start(batch_scheduling);
    // Failing to build it leaves napi's default runtime in place, which works too.
    if let Ok(rt) = builder.enable_all().build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}

/// Asks for SCHED_BATCH for the calling thread. Any thread may lower itself to it; should
/// it be refused (a seccomp policy), the thread keeps the normal policy, which works too.
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscall on the calling thread (pid 0) with a valid parameter.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
}
