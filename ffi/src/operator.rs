//! Operator calls on a store: `ks_store_length`, `ks_store_clear`, and the ids walk
//! (`ks_store_ids` + `ks_ids_cursor_*`), for the memory and Redis stores. A C store (vtable)
//! has no such calls: they fail with KS_RESULT_INVALID_ARGUMENT and say so.

use crate::boundary::{arg, arg_mut, guard, guard_value, out};
use crate::result::ks_result;
use crate::runtime::block_on;
use crate::store::ks_store;
use koa_session_core::store::{IdsWalk, StoreOperator, DEFAULT_IDS_BATCH};
use std::ffi::{c_char, CString};
use std::sync::Arc;

/// The store's operator calls, or the "not supported" failure for `what`.
fn operator(store: &ks_store, what: &str) -> Result<Arc<dyn StoreOperator>, ks_result> {
    store.operator.clone().ok_or_else(|| {
        crate::last_error::detail(&format!("{what}: not supported by this store (a C store); only the memory and Redis stores have it"));
        ks_result::InvalidArgument
    })
}

/// Counts the sessions in `store` into `*count_out`: the memory store's live sessions (expired
/// ones not counted); a Redis store's keys under its prefix, found with `SCAN MATCH prefix*`
/// on the server or on every master of a cluster (so it takes time in proportion to the
/// number of keys). Blocks the calling thread.
///
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT (a C store: not supported),
/// KS_RESULT_STORE_UNAVAILABLE / KS_RESULT_STORE_TIMEOUT / KS_RESULT_STORE_ERROR (Redis),
/// KS_RESULT_BLOCKING_IN_RUNTIME (called from a callback run by the engine),
/// KS_RESULT_RUNTIME_UNAVAILABLE. Thread-safety: any thread.
///
/// # Safety
/// `store` is NULL or a live store handle; `count_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_store_length(store: *const ks_store, count_out: *mut u64) -> ks_result {
    guard(|| {
        let store = arg(store)?;
        let count_out = out(count_out)?;
        let op = operator(store, "ks_store_length")?;
        *count_out = block_on(op.length())??;
        Ok(())
    })
}

/// Removes every session of `store` and writes how many went into `*removed_out`: the memory
/// store's sessions; a Redis store's keys under its prefix only (keys of other prefixes are
/// never touched), found with `SCAN` and removed with `UNLINK` batch by batch, on every master
/// of a cluster. On a failure part of them may be gone already; calling it again goes on.
/// Blocks the calling thread.
///
/// Errors: as `ks_store_length()`.
///
/// # Safety
/// `store` is NULL or a live store handle; `removed_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_store_clear(store: *const ks_store, removed_out: *mut u64) -> ks_result {
    guard(|| {
        let store = arg(store)?;
        let removed_out = out(removed_out)?;
        let op = operator(store, "ks_store_clear")?;
        *removed_out = block_on(op.clear())??;
        Ok(())
    })
}

/// A walk over a store's session ids, one batch at a time (never all of them in memory at
/// once). Session ids are bearer credentials: never show or log them. Ownership: made by
/// `ks_store_ids()`, released by `ks_ids_cursor_free()`; it keeps its store alive.
/// Thread-safety: one thread at a time.
pub struct ks_ids_cursor {
    walk: IdsWalk<dyn StoreOperator>,
    batch: Vec<CString>,
}

/// Starts a walk over the ids of `store` (without the Redis key prefix) in batches of about
/// `batch_size` ids (0 means 1000); nothing is fetched yet. Then call `ks_ids_cursor_next()`
/// until it gives 0 ids. A session present for the whole walk is returned (exactly once by
/// the memory store; at least once by Redis, whose `SCAN` may repeat a key while the server
/// resizes its table); one created or removed meanwhile may or may not be. On success
/// `*cursor_out` receives the cursor.
///
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_INVALID_ARGUMENT (a C store: not supported).
///
/// # Safety
/// `store` is NULL or a live store handle; `cursor_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_store_ids(store: *const ks_store, batch_size: usize, cursor_out: *mut *mut ks_ids_cursor) -> ks_result {
    guard(|| {
        let store = arg(store)?;
        let cursor_out = out(cursor_out)?;
        let op = operator(store, "ks_store_ids")?;
        let batch = if batch_size == 0 { DEFAULT_IDS_BATCH } else { batch_size };
        *cursor_out = Box::into_raw(Box::new(ks_ids_cursor { walk: IdsWalk::new(op, batch), batch: Vec::new() }));
        Ok(())
    })
}

/// Fetches the next batch of ids into the cursor (replacing the previous batch, whose strings
/// become invalid) and writes its size into `*count_out`: 0 means every id was returned (and
/// stays 0 on later calls). Read the ids with `ks_ids_cursor_get()`. Blocks the calling thread.
///
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_STORE_UNAVAILABLE / KS_RESULT_STORE_TIMEOUT /
/// KS_RESULT_STORE_ERROR (Redis; a failover during the walk may fail it: start again),
/// KS_RESULT_BLOCKING_IN_RUNTIME, KS_RESULT_RUNTIME_UNAVAILABLE. After an error the cursor
/// holds no batch; the same batch may be asked for again.
///
/// # Safety
/// `cursor` is NULL or a live cursor, used by one thread at a time; `count_out` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_ids_cursor_next(cursor: *mut ks_ids_cursor, count_out: *mut usize) -> ks_result {
    guard(|| {
        let cursor = arg_mut(cursor)?;
        let count_out = out(count_out)?;
        cursor.batch.clear();
        let ids = block_on(cursor.walk.next_batch())??;
        // Ids found in a store may hold anything; a NUL byte would cut the C string short.
        cursor.batch = ids.into_iter().map(|id| CString::new(id).map_err(|_| ks_result::StoreError)).collect::<Result<_, _>>()?;
        *count_out = cursor.batch.len();
        Ok(())
    })
}

/// Borrows id number `index` (from 0) of the current batch: `*id_out` receives a
/// NUL-terminated string and `*len_out` its length without the NUL. Valid until the next
/// `ks_ids_cursor_next()` or `ks_ids_cursor_free()`.
/// Errors: KS_RESULT_NULL_PARAMETER, KS_RESULT_OUT_OF_RANGE.
///
/// # Safety
/// `cursor` is NULL or a live cursor; the out-pointers are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ks_ids_cursor_get(cursor: *const ks_ids_cursor, index: usize, id_out: *mut *const c_char, len_out: *mut usize) -> ks_result {
    guard(|| {
        let cursor = arg(cursor)?;
        let id_out = out(id_out)?;
        let len_out = out(len_out)?;
        let id = cursor.batch.get(index).ok_or(ks_result::OutOfRange)?;
        *id_out = id.as_ptr();
        *len_out = id.as_bytes().len();
        Ok(())
    })
}

/// Frees a cursor (and the ids borrowed from it). NULL is a no-op.
///
/// # Safety
/// `cursor` is NULL or a cursor not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ks_ids_cursor_free(cursor: *mut ks_ids_cursor) {
    guard_value((), || {
        if !cursor.is_null() {
            drop(Box::from_raw(cursor));
        }
    })
}
