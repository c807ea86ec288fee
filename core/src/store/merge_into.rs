//! Runs a [`MergeCommit`] against any store: the one executor the C driver and the Node
//! native stores call for a merging commit.
//!
//! Merges of one session id from this process take turns. Without that, N parallel requests
//! on one session all send their compare-and-set at once; each round only one of them wins,
//! and the last would need N attempts. With turns, only other processes can get in between,
//! and a merge that follows another one in this process starts from the record that one wrote
//! instead of learning it from a failed attempt. Turns are only about contention: correctness
//! comes from compare-and-set alone, so a turn that cannot be had within [`TURN_WAIT`] (the
//! store is slow or down and a queue built up) is not waited for any longer.

use super::{CasResult, Store, StoreError, StoreErrorKind};
use crate::merge::{MergeCommit, MergeOutcome, MergeStep};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

/// Longest wait for this process's earlier merges of the same session to finish.
pub const TURN_WAIT: Duration = Duration::from_secs(1);

/// Merges `json`, the session the request turned `loaded` into, into the record under `sid`
/// (see [`crate::merge`]), for `ttl`. `loaded` must be the record exactly as the store gave it.
///
/// A store without compare-and-set gets the whole record written (`set`), as before merging
/// existed, and the outcome says so ([`MergeOutcome::Overwritten`]). Errors: the store's, or
/// `Rejected` when `loaded` or `json` is not a JSON object.
pub async fn merge_into_store(store: &dyn Store, sid: &str, loaded: String, json: String, ttl: Duration) -> Result<MergeOutcome, StoreError> {
    if !store.supports_compare_and_set() {
        return overwrite(store, sid, &json, ttl).await;
    }
    let commit = MergeCommit::new(loaded, json).map_err(|e| StoreError::new(StoreErrorKind::Rejected, format!("merge: {e}")))?;
    run_merge(store, sid, commit, ttl).await
}

/// As [`merge_into_store`] for a request's own loaded record and session JSON (see
/// [`MergeCommit::of_request`]): what the driver runs for a plan's merge.
pub async fn merge_request_into_store(store: &dyn Store, sid: &str, loaded: String, json: String, ttl: Duration) -> Result<MergeOutcome, StoreError> {
    if !store.supports_compare_and_set() {
        return overwrite(store, sid, &json, ttl).await;
    }
    run_merge(store, sid, MergeCommit::of_request(loaded, json), ttl).await
}

/// A store that cannot compare-and-set gets the whole record, as before merging existed.
async fn overwrite(store: &dyn Store, sid: &str, json: &str, ttl: Duration) -> Result<MergeOutcome, StoreError> {
    store.set(sid, json, ttl).await?;
    Ok(MergeOutcome::Overwritten)
}

async fn run_merge(store: &dyn Store, sid: &str, mut commit: MergeCommit, ttl: Duration) -> Result<MergeOutcome, StoreError> {
    let mut turn = Turn::take(sid).await;
    if let Some(previous) = turn.previous_write() {
        if let MergeStep::Write { expected, .. } = commit.next() {
            if expected != previous {
                // What the store will answer, unless another process wrote meanwhile.
                commit.answer(CasResult::Changed(previous.to_owned()));
            }
        }
    }
    let mut written = None;
    let outcome = loop {
        let answer = match commit.next() {
            MergeStep::Done(outcome) => break outcome,
            MergeStep::Write { expected, json } => {
                let answer = store.compare_and_set(sid, expected, json, ttl).await;
                if matches!(answer, Ok(CasResult::Stored)) && turn.others_waiting() {
                    written = Some(json.to_owned());
                }
                answer?
            }
        };
        commit.answer(answer);
    };
    turn.record_write(written.filter(|_| outcome == MergeOutcome::Merged));
    Ok(outcome)
}

const SHARDS: usize = 16;

type TurnState = Arc<TurnLock<Option<String>>>;

/// Per session id in this process: a lock whose value is the record the last holder wrote
/// (kept only while others wait). Entries go when their last user does.
struct Turns {
    hasher: RandomState,
    shards: [Mutex<HashMap<Box<str>, TurnState>>; SHARDS],
}

static TURNS: LazyLock<Turns> =
    LazyLock::new(|| Turns { hasher: RandomState::new(), shards: std::array::from_fn(|_| Mutex::new(HashMap::new())) });

impl Turns {
    fn shard(&self, sid: &str) -> MutexGuard<'_, HashMap<Box<str>, TurnState>> {
        let i = (self.hasher.hash_one(sid) % SHARDS as u64) as usize;
        // Every update is one map operation: a poisoned lock holds a consistent map.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Turn {
    sid: Box<str>,
    state: Option<TurnState>,
    /// None when the wait gave up, or outside a tokio runtime.
    guard: Option<OwnedMutexGuard<Option<String>>>,
}

impl Turn {
    async fn take(sid: &str) -> Turn {
        let state = TURNS.shard(sid).entry(sid.into()).or_default().clone();
        let guard = match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::time::timeout(TURN_WAIT, state.clone().lock_owned()).await.ok(),
            Err(_) => None,
        };
        Turn { sid: sid.into(), state: Some(state), guard }
    }

    fn previous_write(&self) -> Option<&str> {
        self.guard.as_ref().and_then(|g| g.as_deref())
    }

    /// Whether other merges of this session wait for the turn (then the record written is
    /// worth handing on). The map, this turn and its guard hold the other three references.
    fn others_waiting(&self) -> bool {
        self.state.as_ref().is_some_and(|s| Arc::strong_count(s) > 3)
    }

    fn record_write(&mut self, written: Option<String>) {
        if let Some(g) = self.guard.as_mut() {
            **g = written;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut map = TURNS.shard(&self.sid);
        self.guard = None;
        self.state = None;
        // New users clone the entry under this same shard lock, so the count is exact here.
        if map.get(&self.sid).is_some_and(|s| Arc::strong_count(s) == 1) {
            map.remove(&self.sid);
            if map.is_empty() {
                // Give the table back: an idle process holds no allocation here (and leak
                // checkers at exit see none).
                map.shrink_to_fit();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreFuture;

    /// A store whose compare-and-set always finds another value, counting attempts.
    struct AlwaysChanged(std::sync::atomic::AtomicU32);

    impl Store for AlwaysChanged {
        fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<String>> {
            Box::pin(async { Ok(Some("{}".to_owned())) })
        }
        fn set<'a>(&'a self, _: &'a str, _: &'a str, _: Duration) -> StoreFuture<'a, ()> {
            Box::pin(async { panic!("a merge must not write whole records to a compare-and-set store") })
        }
        fn destroy<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn compare_and_set<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str, _: Duration) -> StoreFuture<'a, CasResult> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { Ok(CasResult::Changed(format!(r#"{{"other":{n}}}"#))) })
        }
        fn supports_compare_and_set(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn conflicts_are_bounded() {
        let store = AlwaysChanged(Default::default());
        let outcome = merge_into_store(&store, "s", "{}".into(), r#"{"a":1}"#.into(), Duration::from_secs(1)).await.unwrap();
        assert_eq!(outcome, MergeOutcome::TooManyConflicts);
        assert_eq!(store.0.load(std::sync::atomic::Ordering::SeqCst), crate::merge::MAX_MERGE_ATTEMPTS);
        assert!(TURNS.shard("s").is_empty(), "the turn entry went with its last user");
    }

    #[tokio::test]
    async fn refuses_data_that_is_not_an_object() {
        let store = AlwaysChanged(Default::default());
        let err = merge_into_store(&store, "s", "{}".into(), "[]".into(), Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Rejected);
        assert_eq!(store.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}
