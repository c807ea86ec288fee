//! The one process-wide tokio runtime behind every engine. Blocking calls run their future
//! on the caller's thread with `block_on`; asynchronous calls are spawned on the runtime's
//! workers. A blocking call from inside the runtime (a completion callback, a C store
//! callback) would deadlock the worker it runs on, so it is refused.

use crate::result::ks_result;
use std::cell::Cell;
use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle, Runtime};

/// Two workers: the engine's own work is short; slow C stores run on the blocking pool.
const WORKER_THREADS: usize = 2;
/// Bounds the threads that slow C store callbacks can occupy at once.
const MAX_BLOCKING_THREADS: usize = 64;

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

thread_local! {
    /// True while this thread is inside a blocking `ks_` call: a C store may then run its
    /// callback right here instead of hopping to the blocking pool.
    static IN_BLOCKING_CALL: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn runtime() -> Result<&'static Runtime, ks_result> {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(WORKER_THREADS)
                .max_blocking_threads(MAX_BLOCKING_THREADS)
                .thread_name("koa-session")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or(ks_result::RuntimeUnavailable)
}

/// Runs `fut` to completion on the calling thread. Refused on any thread that is already
/// inside a tokio runtime.
pub(crate) fn block_on<F: Future>(fut: F) -> Result<F::Output, ks_result> {
    if Handle::try_current().is_ok() {
        return Err(ks_result::BlockingInRuntime);
    }
    let rt = runtime()?;
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_BLOCKING_CALL.with(|f| f.set(false));
        }
    }
    IN_BLOCKING_CALL.with(|f| f.set(true));
    let _reset = Reset;
    Ok(rt.block_on(fut))
}

/// Whether the current thread is a caller blocked in a `ks_` call (not a runtime thread).
pub(crate) fn in_blocking_call() -> bool {
    IN_BLOCKING_CALL.with(|f| f.get())
}
