//! A store registered through the C vtable passes the same conformance suite as every
//! native store, and its `drop` runs exactly once, after the last call.

use koa_session::*;
use koa_session_core::store::conformance::{self, ConformanceOptions};
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The C side of the store, written in Rust with the C calling convention.
struct Table {
    records: Mutex<HashMap<String, (String, Instant)>>,
    calls: AtomicUsize,
    drops: &'static AtomicUsize,
    calls_at_drop: &'static AtomicUsize,
}

unsafe fn table<'a>(ctx: *mut c_void) -> &'a Table {
    &*(ctx as *const Table)
}

unsafe fn key(k: *const c_char, len: usize) -> String {
    let s = CStr::from_ptr(k).to_str().unwrap().to_owned();
    assert_eq!(s.len(), len, "key_len excludes the NUL");
    s
}

unsafe extern "C" fn get(ctx: *mut c_void, k: *const c_char, len: usize, out: *mut ks_buffer) -> u32 {
    let t = table(ctx);
    t.calls.fetch_add(1, Ordering::SeqCst);
    let k = key(k, len);
    assert!(k.starts_with("test:"), "the key prefix is applied");
    let records = t.records.lock().unwrap();
    match records.get(&k) {
        Some((json, until)) if *until > Instant::now() => {
            // Two writes: the buffer appends.
            let (a, b) = json.as_bytes().split_at(json.len() / 2);
            assert_eq!(ks_buffer_write(out, a.as_ptr(), a.len()), ks_result::Ok);
            assert_eq!(ks_buffer_write(out, b.as_ptr(), b.len()), ks_result::Ok);
            ks_store_status::Ok as u32
        }
        _ => ks_store_status::NotFound as u32,
    }
}

unsafe extern "C" fn set(ctx: *mut c_void, k: *const c_char, len: usize, json: *const c_char, json_len: usize, ttl_ms: u64) -> u32 {
    let t = table(ctx);
    t.calls.fetch_add(1, Ordering::SeqCst);
    let json = CStr::from_ptr(json).to_str().unwrap().to_owned();
    assert_eq!(json.len(), json_len);
    let until = Instant::now() + Duration::from_millis(ttl_ms.min(u32::MAX as u64));
    t.records.lock().unwrap().insert(key(k, len), (json, until));
    ks_store_status::Ok as u32
}

unsafe extern "C" fn destroy(ctx: *mut c_void, k: *const c_char, len: usize) -> u32 {
    let t = table(ctx);
    t.calls.fetch_add(1, Ordering::SeqCst);
    t.records.lock().unwrap().remove(&key(k, len));
    ks_store_status::Ok as u32
}

unsafe extern "C" fn drop_table(ctx: *mut c_void) {
    let t = Box::from_raw(ctx as *mut Table);
    t.calls_at_drop.store(t.calls.load(Ordering::SeqCst), Ordering::SeqCst);
    t.drops.fetch_add(1, Ordering::SeqCst);
}

static DROPS: AtomicUsize = AtomicUsize::new(0);
static CALLS_AT_DROP: AtomicUsize = AtomicUsize::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_vtable_store_passes_the_conformance_suite() {
    let ctx = Box::into_raw(Box::new(Table {
        records: Mutex::new(HashMap::new()),
        calls: AtomicUsize::new(0),
        drops: &DROPS,
        calls_at_drop: &CALLS_AT_DROP,
    }));
    let vtable = ks_store_vtable { ctx: ctx.cast(), get: Some(get), set: Some(set), destroy: Some(destroy), drop: Some(drop_table) };
    let mut handle: *mut ks_store = std::ptr::null_mut();
    let prefix = c"test:";
    assert_eq!(unsafe { ks_c_store_new(&vtable, prefix.as_ptr(), &mut handle) }, ks_result::Ok);
    let store = unsafe { (*handle).store() };
    unsafe { ks_store_free(handle) };
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "a reference is still held");

    let opts = ConformanceOptions { tasks: 8, ops_per_task: 500, short_ttl: Duration::from_millis(150) };
    conformance::run(store.clone(), opts).await.expect("conformance");
    let calls = unsafe { (*ctx).calls.load(Ordering::SeqCst) };
    assert!(calls > 0);

    drop(store);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1, "drop runs once the last reference goes");
    assert_eq!(CALLS_AT_DROP.load(Ordering::SeqCst), calls, "no call after drop");
}
