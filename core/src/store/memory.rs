//! An in-process store. Records are JSON strings, so a caller always gets its own copy and
//! can never change stored data by mutating what it read (the original's aliasing bug).
//! Expiry uses a monotonic clock (a wall clock set backwards changes nothing) and needs no
//! timer per entry: reads check expiry, and each shard sweeps itself at most once a minute
//! when touched. TTLs of months or years are exact (no 24.8-day timer limit).
//! Each id is hashed once, with SipHash under a random per-store key (so clients choosing ids
//! cannot aim them at one slot or shard); that one hash picks the shard and the slot in it.

use super::{CasResult, IndexEntry, Store, StoreError, StoreFuture, UserSession};
use crate::user_field::UserField;
use crate::merge::{MergeCommit, MergeOutcome, MergeStep};
use crate::record::NotAnObject;
use hashbrown::hash_table::{Entry as Slot, HashTable};
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
    /// The store's hash of `sid`, kept so the table grows without hashing keys again.
    hash: u64,
    sid: Box<str>,
    json: Box<str>,
    /// `json` passed `record::check_record` before it was written (a session plan's own
    /// record), so a load need not check it again; anything else a caller sets is checked at
    /// load. The rules checked depend on no configuration, so the flag holds for every engine.
    checked: bool,
    /// Milliseconds since the store's epoch (monotonic).
    expires_at: u64,
}

#[derive(Default)]
struct Shard {
    map: HashTable<Entry>,
    next_sweep: u64,
}

impl Shard {
    fn sweep(&mut self, now: u64) -> usize {
        let before = self.map.len();
        self.map.retain(|e| e.expires_at > now);
        self.next_sweep = now + SWEEP_EVERY_MS;
        before - self.map.len()
    }
}

fn same_sid(sid: &str) -> impl Fn(&Entry) -> bool + '_ {
    move |e| *e.sid == *sid
}

fn entry_hash(e: &Entry) -> u64 {
    e.hash
}

pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    len: AtomicUsize,
    max_entries: Option<usize>,
    epoch: Instant,
    /// The user index (`userField`): user id → session id → when indexed (unix ms).
    users: Mutex<HashMap<String, HashMap<String, i64>>>,
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
            users: Mutex::new(HashMap::new()),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn hash(&self, sid: &str) -> u64 {
        self.hasher.hash_one(sid)
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // Bits 52-55: the table takes a slot from the low bits and a tag from the top 7, so
        // the ids of one shard still spread over all of its slots.
        let i = (hash >> 52) as usize % SHARDS;
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
        self.get_record_sync(sid).map(|(json, _)| json)
    }

    /// As [`get_sync`](Self::get_sync), with whether the record was written as one that passed
    /// `record::check_record` ([`set_checked_sync`](Self::set_checked_sync), or a request's
    /// own merge): a session request may then load it as [`crate::Loaded::Checked`].
    pub fn get_record_sync(&self, sid: &str) -> Option<(String, bool)> {
        let now = self.now();
        let hash = self.hash(sid);
        let mut shard = self.shard(hash);
        if now >= shard.next_sweep {
            let n = shard.sweep(now);
            self.len.fetch_sub(n, Ordering::Relaxed);
        }
        match shard.map.find_entry(hash, same_sid(sid)) {
            Ok(e) if e.get().expires_at > now => Some((e.get().json.to_string(), e.get().checked)),
            Ok(e) => {
                e.remove();
                self.len.fetch_sub(1, Ordering::Relaxed);
                None
            }
            Err(_) => None,
        }
    }

    /// Stores `json` for `ttl`; a zero TTL removes the record.
    pub fn set_sync(&self, sid: &str, json: &str, ttl: Duration) {
        self.put(sid, json, ttl, false)
    }

    /// As [`set_sync`](Self::set_sync) for a record that passed `record::check_record`: what a
    /// session plan's `StoreOp::Save` writes (`SessionRequest::finish` checked it). Loads then
    /// skip the check. Anything else goes through `set_sync`.
    pub fn set_checked_sync(&self, sid: &str, json: &str, ttl: Duration) {
        self.put(sid, json, ttl, true)
    }

    fn put(&self, sid: &str, json: &str, ttl: Duration, checked: bool) {
        if ttl.is_zero() {
            return self.destroy_sync(sid);
        }
        let now = self.now();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let (json, expires_at): (Box<str>, u64) = (json.into(), now.saturating_add(ttl_ms));
        let hash = self.hash(sid);
        let mut shard = self.shard(hash);
        if now >= shard.next_sweep {
            let n = shard.sweep(now);
            self.len.fetch_sub(n, Ordering::Relaxed);
        }
        // At the entry limit a new id first makes room (an update of a held id never evicts).
        if let Some(max) = self.max_entries.filter(|&max| self.len() >= max) {
            if shard.map.find(hash, same_sid(sid)).is_none() {
                let n = shard.sweep(now);
                self.len.fetch_sub(n, Ordering::Relaxed);
                if self.len() >= max {
                    drop(shard);
                    self.evict_one();
                    shard = self.shard(hash);
                }
            }
        }
        // One lookup: the common path probes the table once. (After an eviction the lock was
        // released, so another thread may have set `sid` meanwhile: it is replaced, not doubled.)
        match shard.map.entry(hash, same_sid(sid), entry_hash) {
            Slot::Occupied(mut o) => {
                let e = o.get_mut();
                (e.json, e.checked, e.expires_at) = (json, checked, expires_at);
            }
            Slot::Vacant(v) => {
                v.insert(Entry { hash, sid: sid.into(), json, checked, expires_at });
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Evicts the record closest to expiry across all shards (only ever at the entry limit).
    fn evict_one(&self) {
        let mut soonest: Option<(u64, u64, Box<str>)> = None;
        for s in self.shards.iter() {
            let shard = s.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = shard.map.iter().min_by_key(|e| e.expires_at) {
                if soonest.as_ref().is_none_or(|(at, _, _)| e.expires_at < *at) {
                    soonest = Some((e.expires_at, e.hash, e.sid.clone()));
                }
            }
        }
        if let Some((_, hash, sid)) = soonest {
            if let Ok(e) = self.shard(hash).map.find_entry(hash, same_sid(&sid)) {
                e.remove();
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    pub fn destroy_sync(&self, sid: &str) {
        let hash = self.hash(sid);
        if let Ok(e) = self.shard(hash).map.find_entry(hash, same_sid(sid)) {
            e.remove();
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn touch_sync(&self, sid: &str, ttl: Duration) -> bool {
        let now = self.now();
        let hash = self.hash(sid);
        let mut shard = self.shard(hash);
        match shard.map.find_mut(hash, same_sid(sid)) {
            Some(e) if e.expires_at > now => {
                e.expires_at = now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
                true
            }
            _ => false,
        }
    }

    /// Compare-and-set under the shard lock: stores `json` for `ttl` (a zero TTL removes the
    /// record) only if the record is exactly `expected`.
    pub fn compare_and_set_sync(&self, sid: &str, expected: &str, json: &str, ttl: Duration) -> CasResult {
        let now = self.now();
        let hash = self.hash(sid);
        let mut shard = self.shard(hash);
        self.compare_and_set_locked(&mut shard, hash, now, sid, expected, json, false, ttl)
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_and_set_locked(&self, shard: &mut Shard, hash: u64, now: u64, sid: &str, expected: &str, json: &str, checked: bool, ttl: Duration) -> CasResult {
        match shard.map.find_entry(hash, same_sid(sid)) {
            Err(_) => CasResult::Missing,
            Ok(e) if e.get().expires_at <= now => {
                e.remove();
                self.len.fetch_sub(1, Ordering::Relaxed);
                CasResult::Missing
            }
            Ok(e) if *e.get().json != *expected => CasResult::Changed(e.get().json.to_string()),
            Ok(e) if ttl.is_zero() => {
                e.remove();
                self.len.fetch_sub(1, Ordering::Relaxed);
                CasResult::Stored
            }
            Ok(mut e) => {
                let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                let entry = e.get_mut();
                (entry.json, entry.checked, entry.expires_at) = (json.into(), checked, now.saturating_add(ttl_ms));
                CasResult::Stored
            }
        }
    }

    /// Merges `json`, the session a request turned `loaded` into, into the record under `sid`
    /// (see [`crate::merge`]), all under the shard lock: no other writer can get in between,
    /// so it never waits nor runs out of time. A record that is gone stays gone ([`MergeOutcome::Gone`]).
    /// Errors when `loaded` or `json` is not a JSON object.
    pub fn merge_sync(&self, sid: &str, loaded: String, json: String, ttl: Duration) -> Result<MergeOutcome, NotAnObject> {
        Ok(self.merge_sync_written(sid, loaded, json, ttl)?.0)
    }

    /// As [`merge_sync`](Self::merge_sync), with the record stored (when the outcome is `Merged`).
    pub fn merge_sync_written(&self, sid: &str, loaded: String, json: String, ttl: Duration) -> Result<(MergeOutcome, Option<String>), NotAnObject> {
        Ok(self.merge_commit_sync(sid, MergeCommit::new(loaded, json)?, false, ttl))
    }

    /// As [`merge_sync`](Self::merge_sync) for a request's own loaded record and session JSON
    /// (see [`MergeCommit::of_request`]), with the record stored (when the outcome is
    /// `Merged`): what the session now is. `json` must pass `record::check_record` (a plan's
    /// `StoreOp::Merge` record: `SessionRequest::finish` checked it); written as it is, it
    /// needs no check at load. A merged record (after a conflict) is checked at load.
    pub fn merge_request_sync_written(&self, sid: &str, loaded: String, json: String, ttl: Duration) -> (MergeOutcome, Option<String>) {
        self.merge_commit_sync(sid, MergeCommit::of_request(loaded, json), true, ttl)
    }

    /// `own_checked`: the commit's first write (the request's own JSON) passed `check_record`.
    fn merge_commit_sync(&self, sid: &str, mut commit: MergeCommit, own_checked: bool, ttl: Duration) -> (MergeOutcome, Option<String>) {
        // The diff is made only on a conflict, under the lock: the store's lock makes one the
        // exception (another process's write), not the rule.
        let now = self.now();
        let hash = self.hash(sid);
        let mut shard = self.shard(hash);
        loop {
            let answer = match commit.next() {
                MergeStep::Done(outcome) => return (outcome, commit.into_written()),
                // Under the lock nothing changes meanwhile: no wait is needed (nor asked for:
                // the retry after a first conflict is immediate, and always stores).
                MergeStep::Wait(_) => {
                    commit.waited();
                    continue;
                }
                MergeStep::Write { expected, json } => {
                    // Only the first write is the request's own JSON; later ones are merges.
                    let checked = own_checked && commit.attempts() == 0;
                    self.compare_and_set_locked(&mut shard, hash, now, sid, expected, json, checked, ttl)
                }
            };
            commit.answer(answer);
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

/// Operator calls (see [`super::operator`]): under each shard's lock in turn, so a call never
/// holds more than one shard. Expired records neither count nor are listed.
impl MemoryStore {
    /// Live sessions (expired ones not yet swept left out).
    pub fn length_sync(&self) -> u64 {
        let now = self.now();
        let live = |s: &Mutex<Shard>| s.lock().unwrap_or_else(|p| p.into_inner()).map.iter().filter(|e| e.expires_at > now).count() as u64;
        self.shards.iter().map(live).sum()
    }

    /// Removes every session; returns how many live ones went.
    pub fn clear_sync(&self) -> u64 {
        let now = self.now();
        let mut live = 0;
        for s in self.shards.iter() {
            let mut shard = s.lock().unwrap_or_else(|p| p.into_inner());
            live += shard.map.iter().filter(|e| e.expires_at > now).count() as u64;
            let held = shard.map.len();
            shard.map.clear();
            self.len.fetch_sub(held, Ordering::Relaxed);
        }
        // Every session went: the user index has nothing left to point at.
        self.users_locked().clear();
        live
    }

    /// [`super::index_user_session`] without a runtime: the plan's `IndexUser` in a host's
    /// synchronous fast path. The rules stay in `user_index`; this store answers at once.
    pub fn index_user_session_sync(&self, user: &str, sid: &str, now_ms: i64) -> Result<(), StoreError> {
        at_once(super::index_user_session(self, user, sid, now_ms))
    }

    /// [`super::user_sessions`] without a runtime.
    pub fn user_sessions_sync(&self, field: &UserField, user: &str, now_ms: i64) -> Result<Vec<UserSession>, StoreError> {
        at_once(super::user_sessions(self, field, user, now_ms))
    }

    /// [`super::destroy_user_sessions`] without a runtime.
    pub fn destroy_user_sessions_sync(&self, user: &str, except: Option<&str>) -> Result<u64, StoreError> {
        at_once(super::destroy_user_sessions(self, user, except))
    }

    fn users_locked(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, i64>>> {
        // Each update is one map operation: a poisoned lock holds nothing half-done.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `count` ids or so (see [`super::operator::StoreOperator::ids_page`]). Each
    /// shard is walked in the order of the ids' hashes, and the cursor (`m<shard>:<last hash>`)
    /// names no id: an id held for the whole walk is returned exactly once. Ids with equal
    /// hashes are never split over two pages (so a page may exceed `count` by such a tie).
    pub fn ids_page_sync(&self, cursor: Option<&str>, count: usize) -> Result<super::operator::IdsPage, super::StoreError> {
        let (mut i, mut after) = match cursor {
            None => (0, None),
            Some(c) => parse_ids_cursor(c).ok_or_else(|| super::StoreError::new(super::StoreErrorKind::Rejected, "MemoryStore ids: not a cursor of this store"))?,
        };
        let count = count.max(1);
        let now = self.now();
        let mut ids = Vec::new();
        while i < SHARDS && ids.len() < count {
            let shard = self.shards[i].lock().unwrap_or_else(|p| p.into_inner());
            let want = count - ids.len();
            let next = |e: &&Entry| e.expires_at > now && after.is_none_or(|a| e.hash > a);
            // The `want` smallest hashes after the cursor (a max-heap of them).
            let mut smallest = std::collections::BinaryHeap::with_capacity(want + 1);
            for e in shard.map.iter().filter(next) {
                if smallest.len() < want {
                    smallest.push(e.hash);
                } else if smallest.peek().is_some_and(|&max| e.hash < max) {
                    smallest.pop();
                    smallest.push(e.hash);
                }
            }
            let Some(&last) = smallest.peek() else {
                (i, after) = (i + 1, None);
                continue;
            };
            let mut page: Vec<(u64, &str)> = shard.map.iter().filter(next).filter(|e| e.hash <= last).map(|e| (e.hash, &*e.sid)).collect();
            page.sort_unstable();
            ids.extend(page.into_iter().map(|(_, sid)| sid.to_owned()));
            (i, after) = if smallest.len() < want { (i + 1, None) } else { (i, Some(last)) };
        }
        let cursor = (i < SHARDS).then(|| format!("m{i}:{}", after.map_or(String::new(), |h| h.to_string())));
        Ok(super::operator::IdsPage { ids, cursor })
    }
}

/// `m<shard>:<hash>` (or `m<shard>:` for a shard's start) as made by `ids_page_sync`.
fn parse_ids_cursor(c: &str) -> Option<(usize, Option<u64>)> {
    let (shard, hash) = c.strip_prefix('m')?.split_once(':')?;
    let shard = shard.parse::<usize>().ok().filter(|&s| s < SHARDS)?;
    let hash = if hash.is_empty() { None } else { Some(hash.parse::<u64>().ok()?) };
    Some((shard, hash))
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
    fn supports_touch(&self) -> bool {
        true
    }
    fn compare_and_set<'a>(&'a self, sid: &'a str, expected: &'a str, json: &'a str, ttl: Duration) -> StoreFuture<'a, CasResult> {
        let r = self.compare_and_set_sync(sid, expected, json, ttl);
        Box::pin(async move { Ok(r) })
    }
    fn supports_compare_and_set(&self) -> bool {
        true
    }
    fn supports_user_index(&self) -> bool {
        true
    }
    fn user_index_add<'a>(&'a self, user: &'a str, sid: &'a str, since_ms: i64) -> StoreFuture<'a, u64> {
        let mut users = self.users_locked();
        let index = users.entry(user.to_owned()).or_default();
        index.insert(sid.to_owned(), since_ms);
        let held = index.len() as u64;
        Box::pin(async move { Ok(held) })
    }
    fn user_index_entries<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<IndexEntry>> {
        let mut entries: Vec<IndexEntry> =
            self.users_locked().get(user).map_or_else(Vec::new, |index| index.iter().map(|(sid, &since_ms)| IndexEntry { sid: sid.clone(), since_ms }).collect());
        entries.sort_by(|a, b| (a.since_ms, &a.sid).cmp(&(b.since_ms, &b.sid)));
        Box::pin(async move { Ok(entries) })
    }
    fn user_index_remove<'a>(&'a self, user: &'a str, sids: &'a [String]) -> StoreFuture<'a, ()> {
        let mut users = self.users_locked();
        if let Some(index) = users.get_mut(user) {
            for sid in sids {
                index.remove(sid);
            }
            if index.is_empty() {
                users.remove(user);
            }
        }
        Box::pin(async { Ok(()) })
    }
}

/// Runs a call made only of this store's operations, whose futures are all ready when made:
/// one poll finishes it. (Should one ever be pending, that is an error, not a hang.)
fn at_once<T>(f: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => Err(StoreError::new(super::StoreErrorKind::Backend, "MemoryStore: a user-index call did not finish at once")),
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
    fn one_hash_spreads_ids_over_the_shards() {
        let s = MemoryStore::default();
        for i in 0..1600 {
            s.set_sync(&format!("id-{i}"), "{}", Duration::from_secs(60));
        }
        for (i, shard) in s.shards.iter().enumerate() {
            let n = shard.lock().unwrap().map.len();
            assert!((40..=200).contains(&n), "shard {i} holds {n} of 1600 ids");
        }
        assert!((0..1600).all(|i| s.get_sync(&format!("id-{i}")).is_some()));
    }

    #[test]
    fn compare_and_set_and_merge_under_the_lock() {
        let s = MemoryStore::default();
        let ttl = Duration::from_secs(60);
        assert_eq!(s.compare_and_set_sync("m", "{}", "{}", ttl), CasResult::Missing);
        assert!(s.is_empty(), "a compare-and-set on nothing creates nothing");
        s.set_sync("m", r#"{"a":1}"#, ttl);
        assert_eq!(s.compare_and_set_sync("m", "{}", r#"{"b":2}"#, ttl), CasResult::Changed(r#"{"a":1}"#.into()));
        assert_eq!(s.compare_and_set_sync("m", r#"{"a":1}"#, r#"{"b":2}"#, ttl), CasResult::Stored);
        assert_eq!(s.get_sync("m").as_deref(), Some(r#"{"b":2}"#));
        // Two requests that both loaded {"b":2}: the second merges onto the first's write.
        assert_eq!(s.merge_sync("m", r#"{"b":2}"#.into(), r#"{"b":2,"x":1}"#.into(), ttl), Ok(MergeOutcome::Merged));
        assert_eq!(s.merge_sync("m", r#"{"b":2}"#.into(), r#"{"y":0.1}"#.into(), ttl), Ok(MergeOutcome::Merged));
        assert_eq!(s.get_sync("m").as_deref(), Some(r#"{"x":1,"y":0.1}"#));
        s.destroy_sync("m");
        assert_eq!(s.merge_sync("m", "{}".into(), r#"{"z":1}"#.into(), ttl), Ok(MergeOutcome::Gone));
        assert!(s.is_empty(), "a merge onto a destroyed record writes nothing");
        assert_eq!(s.merge_sync("m", "[]".into(), "{}".into(), ttl), Err(NotAnObject));
        // An expired record is gone too, and a zero TTL removes.
        s.set_sync("e", "{}", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.compare_and_set_sync("e", "{}", "{}", ttl), CasResult::Missing);
        s.set_sync("z", "{}", ttl);
        assert_eq!(s.compare_and_set_sync("z", "{}", "{}", Duration::ZERO), CasResult::Stored);
        assert!(s.get_sync("z").is_none() && s.is_empty());
    }

    #[test]
    fn only_a_plans_own_record_is_held_as_checked() {
        let s = MemoryStore::default();
        let ttl = Duration::from_secs(60);
        let checked = |sid: &str| s.get_record_sync(sid).map(|(_, c)| c);
        s.set_sync("a", r#"{"n":1}"#, ttl);
        assert_eq!(checked("a"), Some(false), "set_sync: any caller's text");
        s.set_checked_sync("a", r#"{"n":2}"#, ttl);
        assert_eq!(checked("a"), Some(true));
        assert!(s.touch_sync("a", ttl));
        assert_eq!(checked("a"), Some(true), "a touch keeps the text, and the flag");
        assert_eq!(s.compare_and_set_sync("a", r#"{"n":2}"#, r#"{"n":3}"#, ttl), CasResult::Stored);
        assert_eq!(checked("a"), Some(false), "a compare-and-set's text is the caller's");
        // A request's merge that stores its own JSON as it is: checked.
        let (outcome, _) = s.merge_request_sync_written("a", r#"{"n":3}"#.into(), r#"{"n":4}"#.into(), ttl);
        assert_eq!((outcome, checked("a")), (MergeOutcome::Merged, Some(true)));
        // After a conflict the record is a merge of two texts, which nothing checked.
        s.set_checked_sync("a", r#"{"n":4,"x":1}"#, ttl);
        let (outcome, written) = s.merge_request_sync_written("a", r#"{"n":4}"#.into(), r#"{"n":5}"#.into(), ttl);
        assert_eq!((outcome, written.as_deref()), (MergeOutcome::Merged, Some(r#"{"n":5,"x":1}"#)));
        assert_eq!(checked("a"), Some(false));
        // A host's merge (merge_sync) is never held as checked.
        s.set_checked_sync("b", "{}", ttl);
        assert_eq!(s.merge_sync("b", "{}".into(), r#"{"m":1}"#.into(), ttl), Ok(MergeOutcome::Merged));
        assert_eq!(checked("b"), Some(false));
        s.set_sync("b", "{}", ttl);
        assert_eq!(checked("b"), Some(false), "a plain set after a checked one clears the flag");
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
