//! The tokio runtime napi runs the native stores' async work on (RedisStore).
//!
//! One worker thread unless `TOKIO_WORKER_THREADS` says otherwise: the work is waiting on
//! one multiplexed connection, and a second worker only adds wake-ups and context switches
//! on the JS thread's core. Measured with the Koa middleware on RedisStore, server pinned to
//! one core, 50 requests in flight: 54-57 us CPU per request with napi's default (a worker
//! per core) against 41-43 us with one worker.

#[napi_derive::module_init]
fn init_runtime() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    // Failing to build it leaves napi's default runtime in place, which works too.
    if let Ok(rt) = builder.enable_all().build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
