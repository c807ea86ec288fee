//! Times the engine's per-request native work: session ids, the signed session-cookie pair of
//! a new session, and MemoryStore set/get.
//! `cargo run --release -p koa-session-core --example hot_paths [N]` (default 1M each; best of 3).

use koa_session_core::http_date::format_http_date;
use koa_session_core::request::{Ending, SessionRequest, StoreCaps};
use koa_session_core::set_cookie::format_set_cookie;
use koa_session_core::sid::generate_sid;
use koa_session_core::store::MemoryStoreOptions;
use koa_session_core::{MemoryStore, SessionConfig};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn best_of_3(n: usize, mut run: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);

    let ns = best_of_3(n, || {
        for _ in 0..n {
            black_box(generate_sid().unwrap());
        }
    });
    println!("generate_sid                 {ns:7.1} ns/op");

    // A new, signed session saved with the default cookie (maxAge one day): what `finish`
    // does besides the store write, mostly formatting `koa.sid` and `koa.sid.sig`.
    let cfg = SessionConfig::builder().keys(["a secret key"]).build().unwrap();
    let sid = generate_sid().unwrap();
    let json = r#"{"n":1,"_expire":1795284523456,"_maxAge":86400000}"#;
    let now = 1_795_198_123_456;
    let ns = best_of_3(n, || {
        for _ in 0..n {
            let mut req = SessionRequest::begin(&cfg, None, None, None).unwrap();
            req.set_new_sid(sid.clone()).unwrap();
            black_box(req.finish(&cfg, &Ending::new(Some(json)), StoreCaps::default(), false, black_box(now)).unwrap());
        }
    });
    println!("finish (signed cookie pair)  {ns:7.1} ns/op");

    let attrs = cfg.cookie().clone();
    let ns = best_of_3(n, || {
        for i in 0..n {
            black_box(format_set_cookie("koa.sid", &sid, &attrs, now + i as i64).unwrap());
        }
    });
    println!("format_set_cookie            {ns:7.1} ns/op");
    let ns = best_of_3(n, || {
        for i in 0..n {
            black_box(format_http_date(now + i as i64 * 1_000_003));
        }
    });
    println!("format_http_date             {ns:7.1} ns/op");

    // A store growing to n entries, then n reads; and n set+get pairs over 10k live ids.
    let sids: Vec<String> = (0..n).map(|_| generate_sid().unwrap()).collect();
    let ttl = Duration::from_secs(3600);
    let (mut set, mut get) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..3 {
        let store = MemoryStore::new(MemoryStoreOptions::default());
        let t = Instant::now();
        for sid in &sids {
            store.set_sync(sid, json, ttl);
        }
        set = set.min(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for sid in &sids {
            black_box(store.get_sync(sid));
        }
        get = get.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("set_sync (growing to n)      {set:7.1} ns/op");
    println!("get_sync (n entries)         {get:7.1} ns/op");
    let store = MemoryStore::new(MemoryStoreOptions::default());
    let ns = best_of_3(n, || {
        for sid in sids.iter().take(10_000).cycle().take(n) {
            store.set_sync(sid, json, ttl);
            black_box(store.get_sync(sid));
        }
    });
    println!("set_sync+get_sync (10k ids)  {ns:7.1} ns/op");
}
