//! The one process-wide tokio runtime behind every engine. Blocking calls run their future
//! on the caller's thread with `block_on`; asynchronous calls are spawned on the runtime's
//! workers. A blocking call from inside the runtime (a completion callback, a C store
//! callback) would deadlock the worker it runs on, so it is refused.

use crate::boundary::guard;
use crate::result::ks_result;
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::runtime::{Builder, Handle, Runtime};

/// Two workers: the engine's own work is short; slow C stores run on the blocking pool.
const WORKER_THREADS: usize = 2;
/// Bounds the threads that slow C store callbacks can occupy at once.
const MAX_BLOCKING_THREADS: usize = 64;
/// How long `ks_runtime_shutdown()` waits for running store callbacks.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// The runtime's handle, for every call; the runtime itself is kept in `OWNER` so that
/// `ks_runtime_shutdown()` can stop it.
static HANDLE: OnceLock<Option<Handle>> = OnceLock::new();
static OWNER: Mutex<Option<Runtime>> = Mutex::new(None);
static SHUT_DOWN: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// True while this thread is inside a blocking `ks_` call: a C store may then run its
    /// callback right here instead of hopping to the blocking pool.
    static IN_BLOCKING_CALL: Cell<bool> = const { Cell::new(false) };
}

fn start() -> Option<Handle> {
    let rt = Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_name("koa-session")
        .enable_all()
        .build()
        .ok()?;
    let handle = rt.handle().clone();
    *OWNER.lock().unwrap_or_else(|p| p.into_inner()) = Some(rt);
    Some(handle)
}

pub(crate) fn runtime() -> Result<&'static Handle, ks_result> {
    if SHUT_DOWN.load(Ordering::Acquire) {
        return Err(ks_result::RuntimeUnavailable);
    }
    HANDLE.get_or_init(start).as_ref().ok_or(ks_result::RuntimeUnavailable)
}

/// Runs `fut` to completion on the calling thread. Refused on any thread that is already
/// inside a tokio runtime.
///
/// Most calls finish on their first poll (the memory store answers at once), so that poll
/// runs with the runtime merely entered, as `Handle::block_on` would poll it, but without
/// its per-call setup (a lock on the runtime's shared seed generator, the task budget), which
/// cost every thread of a server ~5% of a read-only request. A future that is not ready then
/// goes to `block_on`, which polls it again with a real waker.
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
    let mut fut = pin!(fut);
    {
        let _entered = rt.enter();
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return Ok(out);
        }
    }
    Ok(rt.block_on(fut))
}

/// Whether the current thread is a caller blocked in a `ks_` call (not a runtime thread).
pub(crate) fn in_blocking_call() -> bool {
    IN_BLOCKING_CALL.with(|f| f.get())
}

/// Optional, at the very end of a program: stops the engine runtime's threads and waits
/// (up to 10 s) for store callbacks still running, so that leak checkers such as valgrind
/// see every thread gone. Call it once nothing uses the library any more: afterwards every
/// call that needs the runtime (loads and commits) returns KS_RESULT_RUNTIME_UNAVAILABLE,
/// and asynchronous calls whose callbacks have not run yet are cancelled without a callback.
/// A program that simply exits need not call it. Calling it again is a no-op.
/// Errors: KS_RESULT_BLOCKING_IN_RUNTIME (called from a callback run by the engine).
#[no_mangle]
pub extern "C" fn ks_runtime_shutdown() -> ks_result {
    guard(|| {
        if Handle::try_current().is_ok() {
            return Err(ks_result::BlockingInRuntime);
        }
        SHUT_DOWN.store(true, Ordering::Release);
        let rt = OWNER.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(rt) = rt {
            rt.shutdown_timeout(SHUTDOWN_WAIT);
        }
        Ok(())
    })
}
