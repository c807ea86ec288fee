//! A store registered through the C vtable passes the same conformance suite as every
//! native store, with and without the optional compare-and-set and touch callbacks, and its
//! `drop` runs exactly once, after the last call.

use koa_session::*;
use koa_session_core::store::conformance::{self, ConformanceOptions};
use koa_session_core::store::{merge_into_store, MergeOutcome};
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The C side of the store, written in Rust with the C calling convention.
struct Table {
    records: Mutex<HashMap<String, (String, Instant)>>,
    calls: AtomicUsize,
    cas_calls: AtomicUsize,
    touch_calls: AtomicUsize,
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

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn compare_and_set(
    ctx: *mut c_void,
    k: *const c_char,
    len: usize,
    expected: *const c_char,
    expected_len: usize,
    json: *const c_char,
    json_len: usize,
    ttl_ms: u64,
    current: *mut ks_buffer,
) -> u32 {
    let t = table(ctx);
    t.calls.fetch_add(1, Ordering::SeqCst);
    t.cas_calls.fetch_add(1, Ordering::SeqCst);
    let expected = std::slice::from_raw_parts(expected.cast::<u8>(), expected_len);
    let json = CStr::from_ptr(json).to_str().unwrap().to_owned();
    assert_eq!(json.len(), json_len);
    let mut records = t.records.lock().unwrap();
    let k = key(k, len);
    match records.get(&k) {
        Some((now, until)) if *until > Instant::now() => {
            if now.as_bytes() != expected {
                assert_eq!(ks_buffer_write(current, now.as_ptr(), now.len()), ks_result::Ok);
                return ks_store_status::Changed as u32;
            }
            let until = Instant::now() + Duration::from_millis(ttl_ms.min(u32::MAX as u64));
            records.insert(k, (json, until));
            ks_store_status::Ok as u32
        }
        _ => ks_store_status::NotFound as u32,
    }
}

unsafe extern "C" fn touch(ctx: *mut c_void, k: *const c_char, len: usize, ttl_ms: u64) -> u32 {
    let t = table(ctx);
    t.calls.fetch_add(1, Ordering::SeqCst);
    t.touch_calls.fetch_add(1, Ordering::SeqCst);
    let mut records = t.records.lock().unwrap();
    match records.get_mut(&key(k, len)) {
        Some((_, until)) if *until > Instant::now() => {
            *until = Instant::now() + Duration::from_millis(ttl_ms.min(u32::MAX as u64));
            ks_store_status::Ok as u32
        }
        _ => ks_store_status::NotFound as u32,
    }
}

unsafe extern "C" fn drop_table(ctx: *mut c_void) {
    let t = Box::from_raw(ctx as *mut Table);
    t.calls_at_drop.store(t.calls.load(Ordering::SeqCst), Ordering::SeqCst);
    t.drops.fetch_add(1, Ordering::SeqCst);
}

static DROPS: AtomicUsize = AtomicUsize::new(0);
static CALLS_AT_DROP: AtomicUsize = AtomicUsize::new(0);

fn new_table(drops: &'static AtomicUsize, calls_at_drop: &'static AtomicUsize) -> *mut Table {
    Box::into_raw(Box::new(Table {
        records: Mutex::new(HashMap::new()),
        calls: AtomicUsize::new(0),
        cas_calls: AtomicUsize::new(0),
        touch_calls: AtomicUsize::new(0),
        drops,
        calls_at_drop,
    }))
}

fn vtable(ctx: *mut Table) -> ks_store_vtable {
    ks_store_vtable { ctx: ctx.cast(), get: Some(get), set: Some(set), destroy: Some(destroy), drop: Some(drop_table) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_vtable_store_passes_the_conformance_suite() {
    let ctx = new_table(&DROPS, &CALLS_AT_DROP);
    let vtable = vtable(ctx);
    let mut handle: *mut ks_store = std::ptr::null_mut();
    let prefix = c"test:";
    assert_eq!(unsafe { ks_c_store_new(&vtable, prefix.as_ptr(), &mut handle) }, ks_result::Ok);
    let store = unsafe { (*handle).store() };
    unsafe { ks_store_free(handle) };
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "a reference is still held");

    assert!(!store.supports_compare_and_set() && !store.supports_touch());
    let opts = ConformanceOptions { tasks: 8, ops_per_task: 500, ..Default::default() };
    conformance::run(store.clone(), opts).await.expect("conformance");
    let calls = unsafe { (*ctx).calls.load(Ordering::SeqCst) };
    assert!(calls > 0);
    // Without compare-and-set a merging commit writes the whole record, as before.
    let outcome = merge_into_store(&*store, "m", "{}".into(), r#"{"a":1}"#.into(), Duration::from_secs(60)).await.unwrap();
    assert_eq!(outcome, MergeOutcome::Overwritten);
    assert_eq!(store.get("m").await.unwrap().as_deref(), Some(r#"{"a":1}"#));
    let calls = unsafe { (*ctx).calls.load(Ordering::SeqCst) };

    drop(store);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1, "drop runs once the last reference goes");
    assert_eq!(CALLS_AT_DROP.load(Ordering::SeqCst), calls, "no call after drop");
}

static CAS_DROPS: AtomicUsize = AtomicUsize::new(0);
static CAS_CALLS_AT_DROP: AtomicUsize = AtomicUsize::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_vtable_store_with_compare_and_set_and_touch_conforms() {
    let ctx = new_table(&CAS_DROPS, &CAS_CALLS_AT_DROP);
    let mut handle: *mut ks_store = std::ptr::null_mut();
    assert_eq!(unsafe { ks_c_store_new(&vtable(ctx), c"test:".as_ptr(), &mut handle) }, ks_result::Ok);
    assert_eq!(unsafe { ks_c_store_set_compare_and_set(handle, Some(compare_and_set)) }, ks_result::Ok);
    assert_eq!(unsafe { ks_c_store_set_touch(handle, Some(touch)) }, ks_result::Ok);
    let store = unsafe { (*handle).store() };
    unsafe { ks_store_free(handle) };
    assert!(store.supports_compare_and_set() && store.supports_touch());

    // The suite's merge checks: 50 tasks merging different keys into one record keep all 50.
    let opts = ConformanceOptions { tasks: 8, ops_per_task: 200, ..Default::default() };
    conformance::run(store.clone(), opts).await.expect("conformance");
    let (cas, touches) = unsafe { ((*ctx).cas_calls.load(Ordering::SeqCst), (*ctx).touch_calls.load(Ordering::SeqCst)) };
    assert!(cas >= 50, "merges went through the compare-and-set callback ({cas} calls)");
    assert!(touches > 0, "touch went through the touch callback");

    let calls = unsafe { (*ctx).calls.load(Ordering::SeqCst) };
    drop(store);
    assert_eq!(CAS_DROPS.load(Ordering::SeqCst), 1);
    assert_eq!(CAS_CALLS_AT_DROP.load(Ordering::SeqCst), calls, "no call after drop");
}

#[test]
fn optional_callbacks_are_registered_once_before_any_engine() {
    static D: AtomicUsize = AtomicUsize::new(0);
    static C: AtomicUsize = AtomicUsize::new(0);
    let ctx = new_table(&D, &C);
    let mut handle: *mut ks_store = std::ptr::null_mut();
    unsafe {
        assert_eq!(ks_c_store_new(&vtable(ctx), std::ptr::null(), &mut handle), ks_result::Ok);
        assert_eq!(ks_c_store_set_compare_and_set(std::ptr::null_mut(), Some(compare_and_set)), ks_result::NullParameter);
        assert_eq!(ks_c_store_set_compare_and_set(handle, None), ks_result::NullParameter);
        assert_eq!(ks_c_store_set_touch(handle, None), ks_result::NullParameter);
        assert_eq!(ks_c_store_set_touch(handle, Some(touch)), ks_result::Ok);
        assert_eq!(ks_c_store_set_touch(handle, Some(touch)), ks_result::InvalidArgument, "only once");
        // Once an engine holds the store, its callbacks are fixed.
        let builder = ks_config_builder_new();
        let mut engine: *mut ks_engine = std::ptr::null_mut();
        assert_eq!(ks_engine_new(builder, handle, &mut engine), ks_result::Ok);
        assert_eq!(ks_c_store_set_compare_and_set(handle, Some(compare_and_set)), ks_result::InvalidArgument);
        ks_engine_free(engine);
        ks_config_builder_free(builder);
        // Free again: registration works.
        assert_eq!(ks_c_store_set_compare_and_set(handle, Some(compare_and_set)), ks_result::Ok);
        ks_store_free(handle);
        // Not a C store.
        let mut memory: *mut ks_store = std::ptr::null_mut();
        assert_eq!(ks_memory_store_new(0, &mut memory), ks_result::Ok);
        assert_eq!(ks_c_store_set_compare_and_set(memory, Some(compare_and_set)), ks_result::InvalidArgument);
        assert_eq!(ks_c_store_set_touch(memory, Some(touch)), ks_result::InvalidArgument);
        ks_store_free(memory);
    }
    assert_eq!(D.load(Ordering::SeqCst), 1);
}
