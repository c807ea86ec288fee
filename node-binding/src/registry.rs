//! Handles by number for the per-request calls (calls.rs): the engines and native memory
//! stores that a JS object owns, looked up by an id the JS side passes. A number never
//! points at memory, so a wrong or stale id is an error, never undefined behaviour. Each JS
//! thread (main thread, workers) has its own table: objects are created and finalized there.

use koa_session_core::store::MemoryStore;
use koa_session_core::SessionConfig;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::thread::LocalKey;

/// Ids are handed out in sequence by this file, never chosen by a caller, so a multiply
/// (Fibonacci hashing, spreading the bits the map's probing uses) is a good enough hash: the
/// lookups made on every request need no SipHash.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub struct Table<T> {
    next: u32,
    items: HashMap<u32, Arc<T>, BuildHasherDefault<IdHasher>>,
}

impl<T> Table<T> {
    const fn new() -> Self {
        Table { next: 1, items: HashMap::with_hasher(BuildHasherDefault::new()) }
    }
}

// (Initialised as constants: an access then makes no first-use check, twice per call.)
thread_local! {
    static ENGINES: RefCell<Table<SessionConfig>> = const { RefCell::new(Table::new()) };
    static MEMORY_STORES: RefCell<Table<MemoryStore>> = const { RefCell::new(Table::new()) };
}

fn add<T>(table: &'static LocalKey<RefCell<Table<T>>>, item: Arc<T>) -> u32 {
    table.with(|t| {
        let mut t = t.borrow_mut();
        let id = t.next;
        // Ids are never reused (4 billion objects per thread), so a stale id cannot name a new object.
        t.next = t.next.checked_add(1).expect("handle ids exhausted");
        t.items.insert(id, item);
        id
    })
}

fn get<T>(table: &'static LocalKey<RefCell<Table<T>>>, id: u32) -> Option<Arc<T>> {
    table.with(|t| t.borrow().items.get(&id).cloned())
}

fn remove<T>(table: &'static LocalKey<RefCell<Table<T>>>, id: u32) {
    // At thread exit the table may already be gone: then there is nothing left to remove.
    let _ = table.try_with(|t| t.borrow_mut().items.remove(&id));
}

pub fn add_engine(cfg: Arc<SessionConfig>) -> u32 {
    add(&ENGINES, cfg)
}
pub fn engine(id: u32) -> Option<Arc<SessionConfig>> {
    get(&ENGINES, id)
}
pub fn remove_engine(id: u32) {
    remove(&ENGINES, id)
}

pub fn add_memory_store(store: Arc<MemoryStore>) -> u32 {
    add(&MEMORY_STORES, store)
}
pub fn memory_store(id: u32) -> Option<Arc<MemoryStore>> {
    get(&MEMORY_STORES, id)
}
pub fn remove_memory_store(id: u32) {
    remove(&MEMORY_STORES, id)
}
