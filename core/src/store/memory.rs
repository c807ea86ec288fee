//! An in-process store. Records are JSON strings, so a caller always gets its own copy and
//! can never change stored data by mutating what it read (the original's aliasing bug).
//! Expiry uses a monotonic clock (a wall clock set backwards changes nothing) and needs no
//! timer per entry: reads check expiry, and each shard sweeps itself at most once a minute
//! when touched. TTLs of months or years are exact (no 24.8-day timer limit).

use super::{Store, StoreFuture};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
const SWEEP_EVERY_MS: u64 = 60_000;

#[derive(Clone, Debug, Default)]
pub struct MemoryStoreOptions {
    /// At most this many sessions; at the limit, a new session evicts the one closest to expiry.
    pub max_entries: Option<usize>,
}

struct Entry {
    json: Box<str>,
    /// Milliseconds since the store's epoch (monotonic).
    expires_at: u64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, Entry>,
    next_sweep: u64,
}

impl Shard {
    fn sweep(&mut self, now: u64) -> usize {
        let before = self.map.len();
        self.map.retain(|_, e| e.expires_at > now);
        self.next_sweep = now + SWEEP_EVERY_MS;
        before - self.map.len()
    }
}

pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    len: AtomicUsize,
    max_entries: Option<usize>,
    epoch: Instant,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(MemoryStoreOptions::default())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("len", &self.len()).field("max_entries", &self.max_entries).finish()
    }
}

impl MemoryStore {
    pub fn new(options: MemoryStoreOptions) -> Self {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
            max_entries: options.max_entries.map(|n| n.max(1)),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn shard(&self, sid: &str) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(sid) as usize) % SHARDS;
        // A panic while holding a shard lock cannot leave an entry half-written (every update
        // is a single map operation), so a poisoned lock is safe to keep using.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records currently held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get_sync(&self, sid: &str) -> Option<String> {
        let now = self.now();
        let mut shard = self.shard(sid);
        if now >= shard.next_sweep {
            let n = shard.sweep(now);
            self.len.fetch_sub(n, Ordering::Relaxed);
        }
        match shard.map.get(sid) {
            Some(e) if e.expires_at > now => Some(e.json.to_string()),
            Some(_) => {
                shard.map.remove(sid);
                self.len.fetch_sub(1, Ordering::Relaxed);
                None
            }
            None => None,
        }
    }

    /// Stores `json` for `ttl`; a zero TTL removes the record.
    pub fn set_sync(&self, sid: &str, json: &str, ttl: Duration) {
        if ttl.is_zero() {
            return self.destroy_sync(sid);
        }
        let now = self.now();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let entry = Entry { json: json.into(), expires_at: now.saturating_add(ttl_ms) };
        let mut shard = self.shard(sid);
        if now >= shard.next_sweep {
            let n = shard.sweep(now);
            self.len.fetch_sub(n, Ordering::Relaxed);
        }
        if let Some(existing) = shard.map.get_mut(sid) {
            *existing = entry;
            return;
        }
        if let Some(max) = self.max_entries {
            if self.len() >= max {
                let n = shard.sweep(now);
                self.len.fetch_sub(n, Ordering::Relaxed);
            }
            if self.len() >= max {
                drop(shard);
                self.evict_one();
                shard = self.shard(sid);
            }
        }
        if shard.map.insert(sid.into(), entry).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Evicts the record closest to expiry across all shards (only ever at the entry limit).
    fn evict_one(&self) {
        let mut soonest: Option<(u64, usize, Box<str>)> = None;
        for (i, s) in self.shards.iter().enumerate() {
            let shard = s.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((k, e)) = shard.map.iter().min_by_key(|(_, e)| e.expires_at) {
                if soonest.as_ref().is_none_or(|(at, _, _)| e.expires_at < *at) {
                    soonest = Some((e.expires_at, i, k.clone()));
                }
            }
        }
        if let Some((_, i, key)) = soonest {
            let mut shard = self.shards[i].lock().unwrap_or_else(|p| p.into_inner());
            if shard.map.remove(&key).is_some() {
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    pub fn destroy_sync(&self, sid: &str) {
        if self.shard(sid).map.remove(sid).is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn touch_sync(&self, sid: &str, ttl: Duration) -> bool {
        let now = self.now();
        let mut shard = self.shard(sid);
        match shard.map.get_mut(sid) {
            Some(e) if e.expires_at > now => {
                e.expires_at = now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
                true
            }
            _ => false,
        }
    }

    /// Removes every expired record now; returns how many went.
    pub fn sweep(&self) -> usize {
        let now = self.now();
        let mut total = 0;
        for s in self.shards.iter() {
            total += s.lock().unwrap_or_else(|p| p.into_inner()).sweep(now);
        }
        self.len.fetch_sub(total, Ordering::Relaxed);
        total
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, Option<String>> {
        let r = self.get_sync(sid);
        Box::pin(async move { Ok(r) })
    }
    fn set<'a>(&'a self, sid: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        self.set_sync(sid, json, ttl);
        Box::pin(async { Ok(()) })
    }
    fn destroy<'a>(&'a self, sid: &'a str) -> StoreFuture<'a, ()> {
        self.destroy_sync(sid);
        Box::pin(async { Ok(()) })
    }
    fn touch<'a>(&'a self, sid: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        let r = self.touch_sync(sid, ttl);
        Box::pin(async move { Ok(r) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_evicts_the_soonest_to_expire() {
        let s = MemoryStore::new(MemoryStoreOptions { max_entries: Some(3) });
        s.set_sync("a", "{}", Duration::from_secs(100));
        s.set_sync("b", "{}", Duration::from_secs(5));
        s.set_sync("c", "{}", Duration::from_secs(100));
        s.set_sync("d", "{}", Duration::from_secs(100));
        assert_eq!(s.len(), 3);
        assert_eq!(s.get_sync("b"), None);
        for k in ["a", "c", "d"] {
            assert!(s.get_sync(k).is_some(), "{k}");
        }
        s.set_sync("a", "{\"x\":1}", Duration::from_secs(100));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn months_long_ttl_and_zero_ttl() {
        let s = MemoryStore::default();
        s.set_sync("m", "{}", Duration::from_millis(90 * 86_400_000));
        assert!(s.get_sync("m").is_some());
        s.set_sync("m", "{}", Duration::ZERO);
        assert!(s.get_sync("m").is_none());
        s.set_sync("huge", "{}", Duration::MAX);
        assert!(s.get_sync("huge").is_some());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn sweep_counts() {
        let s = MemoryStore::default();
        s.set_sync("x", "{}", Duration::from_millis(1));
        s.set_sync("y", "{}", Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.sweep(), 1);
        assert_eq!(s.len(), 1);
    }
}
