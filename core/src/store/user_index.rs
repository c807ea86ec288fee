//! Each user's sessions, so that "log out everywhere" ends them all. With the `userField`
//! option the engine keeps, in the store, an index per user: session ids, each stamped with
//! the time it was indexed. This module holds the rules; stores only keep the entries
//! ([`Store::user_index_add`] and its two siblings).
//!
//! # The invariant, and why it holds
//!
//! *A session committed under user U, and acknowledged before `destroy_user_sessions(U)` was
//! called, is gone when that call returns; a request of that session still in flight
//! re-creates nothing.*
//!
//! 1. **Index first.** A commit that puts a session under U (a login, a switch of user, a new
//!    session saved with a user) indexes it before it writes the record: the plan's
//!    `StoreOp::IndexUser` comes first, and a failure there fails the commit with nothing
//!    written. So once a commit under U is acknowledged, U's index holds its id.
//! 2. **Destroy reads the index after.** `destroy_user_sessions(U)` reads U's index when it
//!    starts, destroys every record listed, and only then removes the entries of the records
//!    it found. An entry whose record was missing stays: it may be a login between its index
//!    write and its record write, whose record lands after this call looked, and a later call
//!    must find it. Entries are removed by nothing else but pruning (4), so every id of (1)
//!    is destroyed, by this call or, for a login it overlapped, by the next.
//! 3. **Nothing brings a destroyed record back.** With `userField`, the engine never writes a
//!    stored session blind: changes are merged by compare-and-set on the bytes loaded, and an
//!    unchanged session is touched; both find no record and write nothing (the response
//!    clears the cookie). The only blind writes are of new ids (a new session, a regenerate),
//!    and a new id is not the destroyed session: it is a new login, indexed by (1).
//! 4. **Pruning never drops a live entry.** An entry whose record is missing is removed only
//!    once it is older than [`PRUNE_GRACE_MS`]: between a new id's index entry and its first
//!    record write there is one commit, far shorter than that. A stored record, once missing,
//!    never comes back (3), so such an entry can never matter again.
//!
//! No step needs two keys at once: on Redis Cluster the index and the records sit in
//! different slots, and each step is one single-key command whose order the engine fixes.
//! A session whose user changed in place (without a regenerate) stays in the old user's
//! index until pruned: destroying that user's sessions ends it too. That errs on the safe
//! side (a logout), and [`user_sessions`] lists only sessions whose record names the user.
//!
//! Entries of expired or destroyed sessions do not pile up: a destroy removes the entries of
//! the records it ended, a login that brings a user's index to [`PRUNE_AT`] entries (or a
//! power of two above) prunes it, and so does every [`user_sessions`] call.

use crate::lifetime::{read_times, without_times};
use super::{Store, StoreError};
use crate::user_field::{user_of, UserField};

/// An entry whose record is missing is pruned only when older than this (25 hours: longer
/// than any store call may take, `storeTimeout` being at most one day).
pub const PRUNE_GRACE_MS: i64 = 25 * 3_600_000;
/// A login that brings a user's index to this many entries, or to a power of two above it,
/// prunes it. Pruning reads every entry's record, so it runs once per doubling, not at every
/// login of a user with many live sessions: on average a constant per login, and an index
/// holds at most about twice its live entries.
pub const PRUNE_AT: u64 = 32;

/// One id in a user's index.
#[derive(Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub sid: String,
    /// When it was indexed (unix ms): the login.
    pub since_ms: i64,
}

impl std::fmt::Debug for IndexEntry {
    // Ids are credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexEntry").field("since_ms", &self.since_ms).finish_non_exhaustive()
    }
}

/// A live session of a user, as [`user_sessions`] lists it.
#[derive(Clone, PartialEq, Eq)]
pub struct UserSession {
    /// The session id: a secret (whoever holds it is logged in). Show metadata, never this.
    pub sid: String,
    /// When this session was put under the user (unix ms): the login.
    pub since_ms: i64,
    /// The session's data as stored.
    pub json: String,
}

impl std::fmt::Debug for UserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSession").field("since_ms", &self.since_ms).finish_non_exhaustive()
    }
}

/// Indexes `sid` under `user` (the plan's `IndexUser`), pruning the user's index when it has
/// grown to [`PRUNE_AT`] or a power of two above it.
pub async fn index_user_session<S: Store + ?Sized>(store: &S, user: &str, sid: &str, now_ms: i64) -> Result<(), StoreError> {
    let held = store.user_index_add(user, sid, now_ms).await?;
    if held >= PRUNE_AT && held.is_power_of_two() {
        prune(store, user, &store.user_index_entries(user).await?, now_ms).await?;
    }
    Ok(())
}

/// Removes the entries whose record is missing and that are older than [`PRUNE_GRACE_MS`];
/// returns the records of the others, in index order (`None`: missing but too young to prune).
async fn prune<S: Store + ?Sized>(store: &S, user: &str, entries: &[IndexEntry], now_ms: i64) -> Result<Vec<Option<String>>, StoreError> {
    let mut records = Vec::with_capacity(entries.len());
    let mut dead = Vec::new();
    for e in entries {
        let record = store.get(&e.sid).await?;
        if record.is_none() && now_ms.saturating_sub(e.since_ms) > PRUNE_GRACE_MS {
            dead.push(e.sid.clone());
        }
        records.push(record);
    }
    if !dead.is_empty() {
        store.user_index_remove(user, &dead).await?;
    }
    Ok(records)
}

/// The live sessions of `user`: indexed under it, with a record that (read with `field`)
/// names that user. Prunes the index as it goes.
pub async fn user_sessions<S: Store + ?Sized>(store: &S, field: &UserField, user: &str, now_ms: i64) -> Result<Vec<UserSession>, StoreError> {
    let entries = store.user_index_entries(user).await?;
    let records = prune(store, user, &entries, now_ms).await?;
    let mut live = Vec::new();
    for (e, record) in entries.into_iter().zip(records) {
        let Some(json) = record else { continue };
        if user_of(&json, field).ok().flatten().as_deref() == Some(user) {
            // The session as the app sees it: without the engine's times (lifetime options).
            let json = match read_times(&json) {
                Some(_) => without_times(&json).into_owned(),
                None => json,
            };
            live.push(UserSession { sid: e.sid, since_ms: e.since_ms, json });
        }
    }
    live.sort_by_key(|s| s.since_ms);
    Ok(live)
}

/// Ends every session indexed under `user` but `except`; returns how many records there were
/// to destroy. The entries of the records found go after those records; the entries of
/// missing records stay for pruning (see the module's argument).
pub async fn destroy_user_sessions<S: Store + ?Sized>(store: &S, user: &str, except: Option<&str>) -> Result<u64, StoreError> {
    let entries = store.user_index_entries(user).await?;
    let mut gone = Vec::with_capacity(entries.len());
    let mut destroyed = 0;
    for e in entries {
        if Some(e.sid.as_str()) == except {
            continue;
        }
        let found = store.get(&e.sid).await?.is_some();
        store.destroy(&e.sid).await?;
        // A missing record may be a login between its index write and its record write: its
        // entry must outlive this call, or that session would escape every later one. Such
        // entries go by pruning, once older than PRUNE_GRACE_MS.
        if found {
            destroyed += 1;
            gone.push(e.sid);
        }
    }
    if !gone.is_empty() {
        store.user_index_remove(user, &gone).await?;
    }
    Ok(destroyed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use std::time::Duration;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn destroy_ends_every_indexed_session_but_the_exception() {
        block(async {
            let s = MemoryStore::default();
            let field = UserField::parse("passport.user").unwrap();
            for (i, sid) in ["a", "b", "c"].iter().enumerate() {
                index_user_session(&s, "ann", sid, 1000 + i as i64).await.unwrap();
                s.set(sid, r#"{"passport":{"user":"ann"}}"#, HOUR).await.unwrap();
            }
            index_user_session(&s, "bob", "d", 1000).await.unwrap();
            s.set("d", r#"{"passport":{"user":"bob"}}"#, HOUR).await.unwrap();
            let listed: Vec<String> = user_sessions(&s, &field, "ann", 2000).await.unwrap().into_iter().map(|u| u.sid).collect();
            assert_eq!(listed, ["a", "b", "c"]);
            assert_eq!(destroy_user_sessions(&s, "ann", Some("b")).await.unwrap(), 2);
            assert_eq!(s.get("a").await.unwrap(), None);
            assert!(s.get("b").await.unwrap().is_some());
            assert_eq!(s.get("c").await.unwrap(), None);
            assert!(s.get("d").await.unwrap().is_some());
            let left: Vec<String> = s.user_index_entries("ann").await.unwrap().into_iter().map(|e| e.sid).collect();
            assert_eq!(left, ["b"]);
        });
    }

    #[test]
    fn a_login_overlapping_a_destroy_is_ended_by_the_next_one() {
        block(async {
            let s = MemoryStore::default();
            // The login has written its index entry; its record is not written yet.
            index_user_session(&s, "ann", "late", 1000).await.unwrap();
            assert_eq!(destroy_user_sessions(&s, "ann", None).await.unwrap(), 0);
            // Then the record lands and the login is acknowledged.
            s.set("late", r#"{"uid":"ann"}"#, HOUR).await.unwrap();
            assert_eq!(destroy_user_sessions(&s, "ann", None).await.unwrap(), 1);
            assert_eq!(s.get("late").await.unwrap(), None);
            assert!(s.user_index_entries("ann").await.unwrap().is_empty());
        });
    }

    #[test]
    fn listing_checks_the_record_and_prunes_only_old_missing_entries() {
        block(async {
            let s = MemoryStore::default();
            let field = UserField::parse("uid").unwrap();
            index_user_session(&s, "ann", "live", 0).await.unwrap();
            s.set("live", r#"{"uid":"ann"}"#, HOUR).await.unwrap();
            index_user_session(&s, "ann", "switched", 0).await.unwrap();
            s.set("switched", r#"{"uid":"bob"}"#, HOUR).await.unwrap();
            index_user_session(&s, "ann", "gone-old", 0).await.unwrap();
            // Indexed, record not written yet: a commit under way.
            index_user_session(&s, "ann", "young", PRUNE_GRACE_MS).await.unwrap();
            let now = PRUNE_GRACE_MS + 10;
            let listed: Vec<String> = user_sessions(&s, &field, "ann", now).await.unwrap().into_iter().map(|u| u.sid).collect();
            assert_eq!(listed, ["live"]);
            let mut kept: Vec<String> = s.user_index_entries("ann").await.unwrap().into_iter().map(|e| e.sid).collect();
            kept.sort();
            assert_eq!(kept, ["live", "switched", "young"]);
        });
    }

    #[test]
    fn only_logins_that_double_the_index_prune_it() {
        block(async {
            let s = MemoryStore::default();
            // 40 live sessions: the 32nd login prunes (and keeps all), the ones after do not.
            for i in 0..40 {
                let sid = format!("live{i}");
                index_user_session(&s, "ann", &sid, 0).await.unwrap();
                s.set(&sid, r#"{"uid":"ann"}"#, HOUR).await.unwrap();
            }
            // A dead old entry added at 41 stays until the index reaches 64.
            index_user_session(&s, "ann", "dead", 0).await.unwrap();
            let now = PRUNE_GRACE_MS + 1;
            for i in 42..64 {
                index_user_session(&s, "ann", &format!("young{i}"), now).await.unwrap();
                assert!(s.user_index_entries("ann").await.unwrap().iter().any(|e| e.sid == "dead"), "pruned at {i}");
            }
            index_user_session(&s, "ann", "young64", now).await.unwrap();
            let left = s.user_index_entries("ann").await.unwrap();
            assert!(left.iter().all(|e| e.sid != "dead"), "the 64th entry prunes");
            assert_eq!(left.len(), 63, "the live and the young entries stay");
        });
    }

    #[test]
    fn logins_prune_a_grown_index() {
        block(async {
            let s = MemoryStore::default();
            for i in 0..PRUNE_AT - 1 {
                index_user_session(&s, "ann", &format!("old{i}"), 0).await.unwrap();
            }
            // Below PRUNE_AT a login prunes nothing (it costs one index write).
            assert_eq!(s.user_index_entries("ann").await.unwrap().len() as u64, PRUNE_AT - 1);
            // The login that brings the index to PRUNE_AT prunes the old missing entries.
            index_user_session(&s, "ann", "new", PRUNE_GRACE_MS + 1).await.unwrap();
            s.set("new", r#"{"uid":"ann"}"#, HOUR).await.unwrap();
            let left: Vec<String> = s.user_index_entries("ann").await.unwrap().into_iter().map(|e| e.sid).collect();
            assert_eq!(left, ["new"]);
        });
    }
}
