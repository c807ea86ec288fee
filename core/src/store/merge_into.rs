//! Runs a [`MergeCommit`] against any store: the one executor the C driver and the Node
//! native stores call for a merging commit.
//!
//! Merges of one session id from this process take turns, and the ones that queue up while
//! another is writing are written together. Without turns, N parallel requests on one session
//! all send their compare-and-set at once; each round only one of them wins, and the last
//! would need N attempts. With turns alone, they would write one after another, one round trip
//! each. So the merge writing a session (the writer) hands the merges that queued meanwhile to
//! the first of them, which applies all their changes in order and stores them with one
//! compare-and-set (a group commit), starting from the record the writer left, and every merge
//! of that group gets its outcome. Only other processes can then get in between.
//!
//! Turns are only about contention: correctness comes from compare-and-set alone, so a merge
//! that waits longer than [`TURN_WAIT`] (the store is slow or down and a queue built up) stops
//! waiting and writes on its own; one whose group's writer went away does the same.

use super::{CasResult, Store, StoreError, StoreErrorKind};
use crate::merge::{MergeCommit, MergeOutcome, MergeStep};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// Longest wait for this process's earlier merges of the same session to finish.
pub const TURN_WAIT: Duration = Duration::from_secs(1);

/// Merges `json`, the session the request turned `loaded` into, into the record under `sid`
/// (see [`crate::merge`]), for `ttl`. `loaded` must be the record exactly as the store gave it.
///
/// A store without compare-and-set gets the whole record written (`set`), as before merging
/// existed, and the outcome says so ([`MergeOutcome::Overwritten`]). Errors: the store's, or
/// `Rejected` when `loaded` or `json` is not a JSON object.
pub async fn merge_into_store(store: &dyn Store, sid: &str, loaded: String, json: String, ttl: Duration) -> Result<MergeOutcome, StoreError> {
    Ok(merge_into_store_written(store, sid, loaded, json, ttl).await?.0)
}

/// As [`merge_into_store`], with the record as stored (see [`merge_request_into_store_written`]).
pub async fn merge_into_store_written(store: &dyn Store, sid: &str, loaded: String, json: String, ttl: Duration) -> Result<(MergeOutcome, Option<String>), StoreError> {
    if !store.supports_compare_and_set() {
        return Ok((overwrite(store, sid, &json, ttl).await?, Some(json)));
    }
    let commit = MergeCommit::new(loaded, json).map_err(|e| StoreError::new(StoreErrorKind::Rejected, format!("merge: {e}")))?;
    let (outcome, written) = run_merge(store, sid, commit, ttl).await;
    Ok((outcome?, written))
}

/// As [`merge_into_store`] for a request's own loaded record and session JSON (see
/// [`MergeCommit::of_request`]): what the driver runs for a plan's merge.
pub async fn merge_request_into_store(store: &dyn Store, sid: &str, loaded: String, json: String, ttl: Duration) -> Result<MergeOutcome, StoreError> {
    Ok(merge_request_into_store_written(store, sid, loaded, json, ttl).await?.0)
}

/// As [`merge_request_into_store`], with the record as stored when the merge (or the group
/// it was written in) stored one: what the session now is, other requests' changes included
/// (the C driver reads the session's current cookie id from it, see
/// [`crate::lifetime::renamed_to`]).
pub async fn merge_request_into_store_written(store: &dyn Store, sid: &str, loaded: String, json: String, ttl: Duration) -> Result<(MergeOutcome, Option<String>), StoreError> {
    if !store.supports_compare_and_set() {
        return Ok((overwrite(store, sid, &json, ttl).await?, Some(json)));
    }
    let (outcome, written) = run_merge(store, sid, MergeCommit::of_request(loaded, json), ttl).await;
    Ok((outcome?, written))
}

/// A store that cannot compare-and-set gets the whole record, as before merging existed.
async fn overwrite(store: &dyn Store, sid: &str, json: &str, ttl: Duration) -> Result<MergeOutcome, StoreError> {
    store.set(sid, json, ttl).await?;
    Ok(MergeOutcome::Overwritten)
}

type Outcome = Result<MergeOutcome, StoreError>;
/// An outcome and the record stored, when one was.
type Written = (Outcome, Option<String>);

/// What a queued merge hears from the writer before it.
enum Message {
    /// It was written in a group: the group's outcome and the record stored.
    Done(Written),
    /// It writes next (its commit comes back), for itself and the merges queued after it,
    /// starting from the record the last writer stored, when it stored one.
    Write(MergeCommit, Vec<Waiter>, Option<String>),
}

struct Waiter {
    id: u64,
    commit: MergeCommit,
    reply: oneshot::Sender<Message>,
}

async fn run_merge(store: &dyn Store, sid: &str, commit: MergeCommit, ttl: Duration) -> Written {
    if tokio::runtime::Handle::try_current().is_err() {
        // No runtime to wait on (a host driving the future itself): compare-and-set alone.
        return write_group(store, sid, commit, Vec::new(), None, ttl).await;
    }
    let (tx, mut rx) = oneshot::channel();
    let mine = commit.clone();
    let Some(id) = WRITERS.begin_or_queue(sid, commit, tx) else {
        return write_as_writer(store, sid, mine, Vec::new(), None, ttl).await;
    };
    let message = match tokio::time::timeout(TURN_WAIT, &mut rx).await {
        Ok(received) => received.ok(),
        Err(_) => {
            // Waited long enough: leave the queue and write alone. A message sent meanwhile is
            // still taken; after close() no writer can send one that nobody reads.
            WRITERS.leave(sid, id);
            rx.close();
            rx.try_recv().ok()
        }
    };
    match message {
        Some(Message::Done(written)) => written,
        Some(Message::Write(commit, group, previous)) => write_as_writer(store, sid, commit, group, previous, ttl).await,
        // The writer went away before writing this merge, or the wait ran out.
        None => write_group(store, sid, mine, Vec::new(), None, ttl).await,
    }
}

/// Writes as the session's writer, then hands the turn to the first merge queued meanwhile
/// (with the rest of the queue) or ends the turn.
async fn write_as_writer(store: &dyn Store, sid: &str, commit: MergeCommit, group: Vec<Waiter>, previous: Option<String>, ttl: Duration) -> Written {
    let mut turn = TurnGuard { sid, handed_on: false };
    let (outcome, mut written) = write_group(store, sid, commit, group, previous, ttl).await;
    let mine = (outcome, written.clone());
    // A group whose first merge's request went away while it waited is written here.
    while let Some((commit, rest, previous)) = hand_on(sid, written) {
        written = write_group(store, sid, commit, rest, previous, ttl).await.1;
    }
    turn.handed_on = true;
    mine
}

/// Hands the turn to the first merge queued behind the writer, with the rest of the queue and
/// the record last stored, or ends the turn when none is queued. When that merge's request
/// went away, its group comes back (undelivered) for the caller to deal with.
fn hand_on(sid: &str, written: Option<String>) -> Option<(MergeCommit, Vec<Waiter>, Option<String>)> {
    let (next, rest) = WRITERS.next_or_end(sid)?;
    match next.reply.send(Message::Write(next.commit, rest, written)) {
        Err(Message::Write(commit, rest, previous)) => Some((commit, rest, previous)),
        Ok(()) | Err(Message::Done(_)) => None,
    }
}

/// Hands the turn on if a writer's future is dropped before it could (its request went
/// away): the next merge writes then, with no record to start from.
struct TurnGuard<'a> {
    sid: &'a str,
    handed_on: bool,
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        if self.handed_on {
            return;
        }
        // An undelivered group is dropped: its merges hear nothing and write on their own.
        while hand_on(self.sid, None).is_some() {}
    }
}

/// One compare-and-set loop for `commit` with the merges of `group` taken in, each of which
/// is told the outcome. Returns the outcome and the record stored, if one was.
async fn write_group(store: &dyn Store, sid: &str, mut commit: MergeCommit, group: Vec<Waiter>, previous: Option<String>, ttl: Duration) -> (Outcome, Option<String>) {
    let mut absorbed = Vec::with_capacity(group.len());
    for mut w in group {
        if commit.absorb(&mut w.commit) {
            absorbed.push(w.reply);
        } else {
            // Cannot happen for objects; it still gets an answer rather than none.
            let _ = w.reply.send(Message::Done((Err(StoreError::new(StoreErrorKind::Rejected, "merge: not a JSON object")), None)));
        }
    }
    if let (Some(previous), MergeStep::Write { expected, .. }) = (&previous, commit.next()) {
        if expected != previous {
            // What the store will answer, unless another process wrote meanwhile.
            commit.answer(CasResult::Changed(previous.clone()));
        }
    }
    let outcome = loop {
        let answer = match commit.next() {
            MergeStep::Done(outcome) => break Ok(outcome),
            MergeStep::Wait(wait) => {
                pause(wait).await;
                commit.waited();
                continue;
            }
            MergeStep::Write { expected, json } => store.compare_and_set(sid, expected, json, ttl).await,
        };
        match answer {
            Ok(answer) => commit.answer(answer),
            Err(e) => break Err(e),
        }
    };
    let written = if outcome.is_ok() { commit.into_written() } else { None };
    for reply in absorbed {
        let _ = reply.send(Message::Done((outcome.clone(), written.clone())));
    }
    (outcome, written)
}

/// The wait a merge asks for after a conflict: on the runtime's timer, or, for a host driving
/// the future without a runtime, on the calling thread (which is blocked in it anyway).
async fn pause(wait: Duration) {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::time::sleep(wait).await;
    } else {
        std::thread::sleep(wait);
    }
}

const SHARDS: usize = 16;

/// Per session id being merged in this process: whether a merge is writing it, and the
/// merges queued behind that one. Entries go when the last turn ends.
#[derive(Default)]
struct Entry {
    queue: Vec<Waiter>,
}

struct Writers {
    hasher: RandomState,
    next_id: std::sync::atomic::AtomicU64,
    shards: [Mutex<HashMap<Box<str>, Entry>>; SHARDS],
}

static WRITERS: LazyLock<Writers> = LazyLock::new(|| Writers {
    hasher: RandomState::new(),
    next_id: Default::default(),
    shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
});

impl Writers {
    fn shard(&self, sid: &str) -> MutexGuard<'_, HashMap<Box<str>, Entry>> {
        let i = (self.hasher.hash_one(sid) % SHARDS as u64) as usize;
        // Every update is one map operation: a poisoned lock holds a consistent map.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts writing `sid` (None: the caller is the writer; an entry marks the turn as
    /// taken) or queues the merge behind the writer (Some: its id in the queue).
    fn begin_or_queue(&self, sid: &str, commit: MergeCommit, reply: oneshot::Sender<Message>) -> Option<u64> {
        let mut map = self.shard(sid);
        match map.get_mut(sid) {
            None => {
                map.insert(sid.into(), Entry::default());
                None
            }
            Some(entry) => {
                let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                entry.queue.push(Waiter { id, commit, reply });
                Some(id)
            }
        }
    }

    /// The next writer and the merges queued behind it, or None: the turn ends (entry gone).
    fn next_or_end(&self, sid: &str) -> Option<(Waiter, Vec<Waiter>)> {
        let mut map = self.shard(sid);
        let entry = map.get_mut(sid)?;
        if entry.queue.is_empty() {
            map.remove(sid);
            if map.is_empty() {
                // Give the table back: an idle process holds no allocation here (and leak
                // checkers at exit see none).
                map.shrink_to_fit();
            }
            return None;
        }
        let mut queue = std::mem::take(&mut entry.queue).into_iter();
        let next = queue.next()?;
        Some((next, queue.collect()))
    }

    /// Takes a merge that stopped waiting out of the queue (if it is still there).
    fn leave(&self, sid: &str, id: u64) {
        if let Some(entry) = self.shard(sid).get_mut(sid) {
            entry.queue.retain(|w| w.id != id);
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

    /// On tokio's paused clock: the waits pass at once, and the budget is counted on it.
    #[tokio::test(start_paused = true)]
    async fn conflicts_are_bounded_by_the_budget() {
        let store = AlwaysChanged(Default::default());
        let start = tokio::time::Instant::now();
        let outcome = merge_into_store(&store, "s", "{}".into(), r#"{"a":1}"#.into(), Duration::from_secs(1)).await.unwrap();
        assert_eq!(outcome, MergeOutcome::TooManyConflicts);
        // It kept trying for the whole budget (many more than the 8 attempts of old), and stopped.
        assert!(start.elapsed() >= crate::merge::MERGE_BUDGET);
        let calls = store.0.load(std::sync::atomic::Ordering::SeqCst);
        assert!(calls > 8, "{calls} compare-and-sets");
        assert!(WRITERS.shard("s").is_empty(), "the turn entry went with its last user");
    }

    /// A store another process keeps writing to: each of the first `rivals` compare-and-sets
    /// finds a key of that process's just written.
    struct Contended {
        record: std::sync::Mutex<String>,
        rivals: std::sync::atomic::AtomicU32,
    }

    impl Store for Contended {
        fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<String>> {
            let r = self.record.lock().unwrap().clone();
            Box::pin(async move { Ok(Some(r)) })
        }
        fn set<'a>(&'a self, _: &'a str, _: &'a str, _: Duration) -> StoreFuture<'a, ()> {
            Box::pin(async { panic!("a merge must not write whole records to a compare-and-set store") })
        }
        fn destroy<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn compare_and_set<'a>(&'a self, _: &'a str, expected: &'a str, json: &'a str, _: Duration) -> StoreFuture<'a, CasResult> {
            Box::pin(async move {
                let mut record = self.record.lock().unwrap();
                let left = self.rivals.load(std::sync::atomic::Ordering::SeqCst);
                if left > 0 {
                    self.rivals.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                    let rival = format!(r#","other{left}":{left}}}"#);
                    *record = format!("{}{rival}", &record[..record.len() - 1]);
                }
                if *record != expected {
                    return Ok(CasResult::Changed(record.clone()));
                }
                *record = json.to_owned();
                Ok(CasResult::Stored)
            })
        }
        fn supports_compare_and_set(&self) -> bool {
            true
        }
    }

    /// 20 writes of another process in a row beat this one's first 20 attempts (more than the
    /// 8 immediate retries of old could take): it waits them out and merges, every key kept.
    #[tokio::test(start_paused = true)]
    async fn a_merge_outlasts_a_run_of_rival_writes() {
        let store = Contended { record: std::sync::Mutex::new(r#"{"n":0}"#.to_owned()), rivals: 20.into() };
        let outcome = merge_request_into_store(&store, "c", r#"{"n":0}"#.into(), r#"{"n":0,"mine":1}"#.into(), Duration::from_secs(60)).await;
        assert_eq!(outcome, Ok(MergeOutcome::Merged));
        let record: serde_json::Value = serde_json::from_str(&store.record.lock().unwrap()).unwrap();
        assert_eq!(record["mine"], 1);
        for i in 1..=20 {
            assert_eq!(record[format!("other{i}")], i, "{record}");
        }
    }

    #[tokio::test]
    async fn refuses_data_that_is_not_an_object() {
        let store = AlwaysChanged(Default::default());
        let err = merge_into_store(&store, "s", "{}".into(), "[]".into(), Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err.kind, StoreErrorKind::Rejected);
        assert_eq!(store.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// A store holding one record, whose compare-and-set takes a while (as a network store's
    /// does) and counts its calls.
    struct SlowRecord {
        record: std::sync::Mutex<String>,
        calls: std::sync::atomic::AtomicU32,
    }

    impl Store for SlowRecord {
        fn get<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<String>> {
            let r = self.record.lock().unwrap().clone();
            Box::pin(async move { Ok(Some(r)) })
        }
        fn set<'a>(&'a self, _: &'a str, _: &'a str, _: Duration) -> StoreFuture<'a, ()> {
            Box::pin(async { panic!("a merge must not write whole records to a compare-and-set store") })
        }
        fn destroy<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn compare_and_set<'a>(&'a self, _: &'a str, expected: &'a str, json: &'a str, _: Duration) -> StoreFuture<'a, CasResult> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let mut record = self.record.lock().unwrap();
                if *record != expected {
                    return Ok(CasResult::Changed(record.clone()));
                }
                *record = json.to_owned();
                Ok(CasResult::Stored)
            })
        }
        fn supports_compare_and_set(&self) -> bool {
            true
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn merges_that_queue_up_are_written_together() {
        let store = std::sync::Arc::new(SlowRecord { record: std::sync::Mutex::new(r#"{"n":0}"#.to_owned()), calls: Default::default() });
        let merges = (0..50).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let json = format!(r#"{{"n":0,"k{i}":{i}}}"#);
                merge_request_into_store(&*store, "g", r#"{"n":0}"#.to_owned(), json, Duration::from_secs(60)).await
            })
        });
        for m in merges.collect::<Vec<_>>() {
            assert_eq!(m.await.unwrap(), Ok(MergeOutcome::Merged));
        }
        let record: serde_json::Value = serde_json::from_str(&store.record.lock().unwrap()).unwrap();
        for i in 0..50 {
            assert_eq!(record[format!("k{i}")], i, "key {i} kept: {record}");
        }
        // One write for the first, then groups: far fewer than one round trip per merge.
        let calls = store.calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(calls < 10, "{calls} compare-and-sets for 50 merges");
        assert!(WRITERS.shard("g").is_empty(), "the turn entry went with its last user");
    }
}

