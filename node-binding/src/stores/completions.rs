//! Promises settled from the async runtime in batches, through one threadsafe function per
//! store.
//!
//! napi-rs' `spawn_future` makes a threadsafe function (a libuv async handle, an env cleanup
//! hook, several allocations) for every Promise, wakes the JS thread once per Promise and
//! closes the handle again afterwards: several µs of JS-thread time per store operation.
//! Here a store makes one threadsafe function for its lifetime. A finished operation queues
//! its deferred and value; only the first one queued after a drain wakes the JS thread, which
//! then settles everything queued in one call (and runs the Promise reactions once).
//!
//! The threadsafe function is referenced (keeps the event loop alive) only while operations
//! are pending, so an idle store never keeps Node running. It is released when the store is
//! dropped and nothing is pending, or at environment teardown by a cleanup hook; after that
//! a late completion is dropped (its Promise can no longer be observed).

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The async resource name (async_hooks) of a store's completions.
const NAME: &CStr = c"koa-session-ts store";
const CONVERT_FAILED: &CStr = c"koa-session-ts: cannot convert a store reply";
const DROPPED: &CStr = c"koa-session-ts: the store operation ended without an answer (its task panicked or was cancelled)";

/// A `napi_deferred` travelling to a runtime thread and back. Node-API only lets the JS
/// thread use it; the runtime threads only carry it.
struct Deferred(sys::napi_deferred);
// SAFETY: the pointer is only dereferenced (resolved) on the JS thread, in `drain`.
unsafe impl Send for Deferred {}

struct Queue<T> {
    /// None once released (store dropped with nothing pending, or environment teardown).
    tsfn: Option<Tsfn>,
    /// Settled operations: their value, or None for one dropped unfinished (rejected).
    ready: Vec<(Deferred, Option<T>)>,
}

struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: a threadsafe function is made to be called from any thread.
unsafe impl Send for Tsfn {}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// Operations begun and not yet settled. Touched on the JS thread only.
    pending: AtomicU32,
    /// The owning store is gone: release the threadsafe function once nothing is pending.
    orphaned: AtomicBool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Releases the threadsafe function now (idempotent). `abort` at teardown.
    fn release(&self, mode: sys::napi_threadsafe_function_release_mode) {
        // Taken out under the lock (so nothing calls it after this), released outside it:
        // the last use of `self`, in case Node finalizes (drops our count) right away.
        let tsfn = self.lock().tsfn.take();
        if let Some(Tsfn(tsfn)) = tsfn {
            // SAFETY: the function was live in the queue and is released once.
            unsafe { sys::napi_release_threadsafe_function(tsfn, mode) };
        }
    }
}

/// Hands a runtime thread's result back to the JS thread. Dropped without a value (its
/// task panicked, or was cancelled), it rejects the Promise: nothing stays pending for ever,
/// keeping the event loop alive.
pub struct Completer<T> {
    shared: Arc<Shared<T>>,
    deferred: Option<Deferred>,
}

impl<T> Completer<T> {
    /// Queues the value for its Promise and wakes the JS thread if no drain is already due.
    pub fn complete(mut self, value: T) {
        self.settle(Some(value));
    }

    fn settle(&mut self, value: Option<T>) {
        let Some(deferred) = self.deferred.take() else { return };
        let mut q = self.shared.lock();
        let Some(Tsfn(tsfn)) = q.tsfn.as_ref() else { return };
        let tsfn = *tsfn;
        let wake = q.ready.is_empty();
        q.ready.push((deferred, value));
        if wake {
            // Under the lock, so the cleanup hook cannot release it meanwhile. Non-blocking on
            // an unbounded queue: fails only when Node is closing the function, when nothing
            // can be settled any more anyway.
            // SAFETY: tsfn is live while it is in the queue.
            unsafe { sys::napi_call_threadsafe_function(tsfn, ptr::null_mut(), sys::ThreadsafeFunctionCallMode::nonblocking) };
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.settle(None);
    }
}

/// One store's completion channel. Lives on the JS thread, in the store object.
pub struct Completions<T: ToNapiValue + Send + 'static> {
    shared: Arc<Shared<T>>,
}

impl<T: ToNapiValue + Send + 'static> Completions<T> {
    /// Makes the store's threadsafe function (unreferenced until an operation is pending).
    pub fn new(env: sys::napi_env) -> napi::Result<Self> {
        let shared = Arc::new(Shared { queue: Mutex::new(Queue { tsfn: None, ready: Vec::new() }), pending: AtomicU32::new(0), orphaned: AtomicBool::new(false) });
        let context = Arc::into_raw(Arc::clone(&shared)) as *mut c_void;
        let mut name = ptr::null_mut();
        let mut tsfn = ptr::null_mut();
        // SAFETY: plain Node-API calls on the JS thread; `context` is one strong count owned
        // by the threadsafe function and given back in `finalize`.
        unsafe {
            let status = sys::napi_create_string_utf8(env, NAME.as_ptr(), NAME.count_bytes() as _, &mut name);
            let status = if status == sys::Status::napi_ok {
                sys::napi_create_threadsafe_function(env, ptr::null_mut(), ptr::null_mut(), name, 0, 1, context, Some(finalize::<T>), context, Some(drain::<T>), &mut tsfn)
            } else {
                status
            };
            if status != sys::Status::napi_ok {
                drop(Arc::from_raw(context as *const Shared<T>));
                return Err(napi::Error::new(napi::Status::from(status), "cannot create the store's completion channel"));
            }
            sys::napi_unref_threadsafe_function(env, tsfn);
            shared.lock().tsfn = Some(Tsfn(tsfn));
            // Runs before Node tears the threadsafe function down (hooks run newest first).
            sys::napi_add_env_cleanup_hook(env, Some(teardown::<T>), context);
        }
        Ok(Completions { shared })
    }

    /// Makes a Promise for an operation about to start; the operation settles it through
    /// the returned completer (dropped unused, the completer rejects it). JS thread only.
    pub fn begin(&self, env: sys::napi_env) -> napi::Result<(sys::napi_value, Completer<T>)> {
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        // SAFETY: plain Node-API call on the JS thread.
        let status = unsafe { sys::napi_create_promise(env, &mut deferred, &mut promise) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(napi::Status::from(status), "cannot create a Promise"));
        }
        if self.shared.pending.fetch_add(1, Ordering::Relaxed) == 0 {
            if let Some(Tsfn(tsfn)) = self.shared.lock().tsfn.as_ref() {
                // SAFETY: JS thread; keeps the loop alive while an operation is pending.
                unsafe { sys::napi_ref_threadsafe_function(env, *tsfn) };
            }
        }
        Ok((promise, Completer { shared: Arc::clone(&self.shared), deferred: Some(Deferred(deferred)) }))
    }
}

impl<T: ToNapiValue + Send + 'static> Drop for Completions<T> {
    /// The store is gone (collected): release now, or when the last pending operation settles.
    fn drop(&mut self) {
        self.shared.orphaned.store(true, Ordering::Relaxed);
        if self.shared.pending.load(Ordering::Relaxed) == 0 {
            self.shared.release(sys::ThreadsafeFunctionReleaseMode::release);
        }
    }
}

/// The threadsafe function's callback, on the JS thread: settles everything queued. Node
/// runs the Promise reactions once this returns.
unsafe extern "C" fn drain<T: ToNapiValue + Send + 'static>(env: sys::napi_env, _js: sys::napi_value, context: *mut c_void, _data: *mut c_void) {
    if env.is_null() || context.is_null() {
        return; // being torn down: nothing can be settled
    }
    // SAFETY: the threadsafe function owns a strong count until `finalize`.
    let shared = &*(context as *const Shared<T>);
    let ready = std::mem::take(&mut shared.lock().ready);
    let settled = ready.len() as u32;
    for (Deferred(deferred), value) in ready {
        // A panic converting one value must not cross into Node or strand the others.
        let converted = value.map(|value| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| T::to_napi_value(env, value))));
        let failure = match converted {
            Some(Ok(Ok(v))) => {
                sys::napi_resolve_deferred(env, deferred, v);
                continue;
            }
            Some(_) => CONVERT_FAILED,
            None => DROPPED,
        };
        let mut message = ptr::null_mut();
        let mut error = ptr::null_mut();
        sys::napi_create_string_utf8(env, failure.as_ptr(), failure.count_bytes() as _, &mut message);
        sys::napi_create_error(env, ptr::null_mut(), message, &mut error);
        sys::napi_reject_deferred(env, deferred, error);
    }
    let left = shared.pending.fetch_sub(settled, Ordering::Relaxed) - settled;
    if left == 0 {
        if shared.orphaned.load(Ordering::Relaxed) {
            shared.release(sys::ThreadsafeFunctionReleaseMode::release);
        } else if let Some(Tsfn(tsfn)) = shared.lock().tsfn.as_ref() {
            sys::napi_unref_threadsafe_function(env, *tsfn);
        }
    }
}

/// Environment teardown, before Node finalizes the threadsafe function: stop using it.
unsafe extern "C" fn teardown<T>(context: *mut c_void) {
    // SAFETY: the threadsafe function (and so `context`) is alive until `finalize`, which
    // unregisters this hook first.
    (*(context as *const Shared<T>)).release(sys::ThreadsafeFunctionReleaseMode::abort);
}

/// Node is done with the threadsafe function: drop its strong count.
unsafe extern "C" fn finalize<T>(env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if !env.is_null() {
        sys::napi_remove_env_cleanup_hook(env, Some(teardown::<T>), data);
    }
    // SAFETY: the strong count made for the threadsafe function in `Completions::new`.
    drop(Arc::from_raw(data as *const Shared<T>));
}
