//! Commits that merge. A request that loaded a session and changed it writes back only what it
//! changed at the top level, applied to the record the store holds *now*, so parallel requests
//! on one session no longer erase each other's keys (same-key conflicts stay last-writer-wins).
//!
//! - [`Changes`]: the top-level keys a request set (with their exact JSON text) and removed.
//! - [`apply`]: rewrites a record with those changes, copying every other value byte for byte
//!   (never re-encoded, so 2^53+1, `0.1`, `1e300` and `"\u00e9"` survive exactly).
//! - [`MergeCommit`]: the sans-I/O compare-and-set loop every host runs, with the one retry
//!   rule: a conflict is retried at once with the record the store answered; when that retry
//!   conflicts too, the merge waits a jittered, growing, capped while ([`MergeStep::Wait`])
//!   first; for at most [`MERGE_BUDGET`] from the first conflict.
//!
//! Keys compare by their decoded text (`"\u0061"` and `"a"` are one key); values by their exact
//! text. A record with a repeated key reads as `JSON.parse` reads it: the key keeps its first
//! position and takes its last value, and is written back once.

use crate::lifetime::{merge_times, read_times, TIMES_FIELD};
use crate::record::NotAnObject;
use crate::store::CasResult;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// How long one merge keeps trying, counted from its first conflict: past it, a conflict ends
/// the merge ([`MergeOutcome::TooManyConflicts`]). Merges of one session from one process take
/// turns and are written together (see `store::merge_into_store`), so only other processes
/// can make an attempt fail, and each failure means another writer succeeded meanwhile.
pub const MERGE_BUDGET: Duration = Duration::from_secs(3);

/// The longest wait between two attempts of one merge.
pub const MERGE_BACKOFF_MAX: Duration = Duration::from_millis(100);

/// The first wait of a merge is up to this long, each later one up to twice the one before
/// (capped by [`MERGE_BACKOFF_MAX`]). A conflict is retried at once with the record the store
/// answered with; only when that retry conflicts too does the merge wait (and the write after
/// a wait, which finds the record changed if another process wrote meanwhile, is again
/// retried at once). See [`MergeCommit`].
pub const MERGE_BACKOFF_FIRST: Duration = Duration::from_millis(2);

/// A top-level key's identity: its decoded text, or its raw text (quotes included) for the
/// rare key that cannot be decoded to a Rust string (a lone UTF-16 surrogate escape, which
/// `JSON.stringify` can write).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum KeyId<'a> {
    Text(Cow<'a, str>),
    Raw(Cow<'a, str>),
}

impl<'a> KeyId<'a> {
    /// `raw` is a JSON string token as written, quotes included.
    fn of(raw: &'a str) -> KeyId<'a> {
        if !raw.contains('\\') {
            return KeyId::Text(Cow::Borrowed(&raw[1..raw.len() - 1]));
        }
        match serde_json::from_str::<String>(raw) {
            Ok(s) => KeyId::Text(Cow::Owned(s)),
            Err(_) => KeyId::Raw(Cow::Borrowed(raw)),
        }
    }

    fn into_owned(self) -> KeyId<'static> {
        match self {
            KeyId::Text(s) => KeyId::Text(Cow::Owned(s.into_owned())),
            KeyId::Raw(s) => KeyId::Raw(Cow::Owned(s.into_owned())),
        }
    }
}

/// One member of a top-level object: its key's identity, the key and the value as written.
struct Member<'a> {
    id: KeyId<'a>,
    key: &'a str,
    value: &'a str,
}

/// A top-level object, its repeated keys folded as `JSON.parse` folds them.
struct Object<'a> {
    members: Vec<Member<'a>>,
    index: HashMap<KeyId<'a>, usize>,
}

impl<'a> Object<'a> {
    fn parse(json: &'a str) -> Result<Object<'a>, NotAnObject> {
        let mut de = serde_json::Deserializer::from_str(json);
        let raw = de.deserialize_map(RawMembers).map_err(|_| NotAnObject)?;
        de.end().map_err(|_| NotAnObject)?;
        let mut object = Object { members: Vec::with_capacity(raw.len()), index: HashMap::with_capacity(raw.len()) };
        for (key, value) in raw {
            let id = KeyId::of(key);
            match object.index.entry(id.clone()) {
                MapEntry::Occupied(o) => object.members[*o.get()].value = value,
                MapEntry::Vacant(v) => {
                    v.insert(object.members.len());
                    object.members.push(Member { id, key, value });
                }
            }
        }
        Ok(object)
    }

    fn get(&self, id: &KeyId<'_>) -> Option<&Member<'a>> {
        self.index.get(id).map(|&i| &self.members[i])
    }
}

/// Every member of a top-level object as (key, value) text, in order, repeats kept.
struct RawMembers;

impl<'de> Visitor<'de> for RawMembers {
    type Value = Vec<(&'de str, &'de str)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<&'de RawValue>()? {
            let value = map.next_value::<&'de RawValue>()?;
            out.push((key.get(), value.get()));
        }
        Ok(out)
    }
}

/// A key set by a request: identity, key text and value text as the request wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SetKey {
    id: KeyId<'static>,
    key: String,
    value: String,
}

/// What a request changed at the top level of a session: keys set (new or with a different
/// value text) in the order the request's JSON has them, and keys removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    set: Vec<SetKey>,
    removed: Vec<KeyId<'static>>,
}

impl Changes {
    /// The changes that turn the object `original` into the object `current`. A key whose
    /// value has the same text in both is unchanged. Errors when either is not one JSON object.
    pub fn between(original: &str, current: &str) -> Result<Changes, NotAnObject> {
        let (before, after) = (Object::parse(original)?, Object::parse(current)?);
        let mut changes = Changes::default();
        for m in &after.members {
            if before.get(&m.id).is_none_or(|b| b.value != m.value) {
                changes.set.push(SetKey { id: m.id.clone().into_owned(), key: m.key.to_owned(), value: m.value.to_owned() });
            }
        }
        for m in before.members {
            if after.get(&m.id).is_none() {
                changes.removed.push(m.id.into_owned());
            }
        }
        Ok(changes)
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.removed.is_empty()
    }

    /// These changes followed by `later` (a later request's, on the same session), as one:
    /// a key the later one sets or removes takes its value or removal.
    pub fn and_then(mut self, later: Changes) -> Changes {
        for s in later.set {
            self.removed.retain(|r| *r != s.id);
            match self.set.iter_mut().find(|m| m.id == s.id) {
                Some(m) if is_times_key(&s.id) => m.value = merge_times(&m.value, &s.value),
                Some(m) => *m = s,
                None => self.set.push(s),
            }
        }
        for r in later.removed {
            self.set.retain(|m| m.id != r);
            if !self.removed.contains(&r) {
                self.removed.push(r);
            }
        }
        self
    }

    /// The keys set, each as (key, value) JSON text as the request wrote them.
    pub fn set_members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.set.iter().map(|s| (s.key.as_str(), s.value.as_str()))
    }

    /// How many keys were removed.
    pub fn removed_count(&self) -> usize {
        self.removed.len()
    }
}

/// Whether a key is the engine's times ([`crate::lifetime::TIMES_FIELD`]).
fn is_times_key(id: &KeyId<'_>) -> bool {
    matches!(id, KeyId::Text(k) if k == TIMES_FIELD)
}

/// `record` with `changes` applied: its members in their order, each set key's value replaced
/// in place, removed keys dropped, then the keys it lacked appended in the request's order.
/// Every other value is copied byte for byte; the object is written without whitespace, and a
/// repeated key once (first position, last value). Errors when `record` is not one JSON
/// object (the caller treats such a record as gone).
pub fn apply(record: &str, changes: &Changes) -> Result<String, NotAnObject> {
    let object = Object::parse(record)?;
    let set: HashMap<&KeyId<'_>, usize> = changes.set.iter().enumerate().map(|(i, s)| (&s.id, i)).collect();
    let removed: HashSet<&KeyId<'_>> = changes.removed.iter().collect();
    let mut used = vec![false; changes.set.len()];
    let extra: usize = changes.set.iter().map(|s| s.key.len() + s.value.len() + 2).sum();
    let mut out = String::with_capacity(record.len() + extra);
    out.push('{');
    let mut push = |key: &str, value: &str| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(key);
        out.push(':');
        out.push_str(value);
    };
    for m in &object.members {
        if removed.contains(&m.id) {
            continue;
        }
        match set.get(&m.id) {
            // The engine's times merge by their own rule (a renewal made meanwhile is kept).
            Some(&i) if is_times_key(&m.id) => {
                used[i] = true;
                push(m.key, &merge_times(m.value, &changes.set[i].value));
            }
            Some(&i) => {
                used[i] = true;
                push(m.key, &changes.set[i].value);
            }
            None => push(m.key, m.value),
        }
    }
    for (s, used) in changes.set.iter().zip(used) {
        if !used {
            push(&s.key, &s.value);
        }
    }
    out.push('}');
    Ok(out)
}

/// How a merge ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The changes are in the store.
    Merged,
    /// The record was gone (destroyed elsewhere, expired) or is no JSON object any more:
    /// nothing was written, and the session must not be re-created (clear its cookies).
    Gone,
    /// Other writers kept winning for [`MERGE_BUDGET`] after the first conflict; nothing was
    /// written.
    TooManyConflicts,
    /// The store cannot compare-and-set: the request's whole record was written, as before
    /// merging existed (see `store::merge_into_store`).
    Overwritten,
}

/// The next thing a [`MergeCommit`] needs.
#[derive(Debug, PartialEq, Eq)]
pub enum MergeStep<'a> {
    /// Compare-and-set: store `json` only if the record is still exactly `expected`, then
    /// hand the store's answer to [`MergeCommit::answer`].
    Write { expected: &'a str, json: &'a str },
    /// Wait this long (a conflict: another process wrote the record), then call
    /// [`MergeCommit::waited`]; the next step is the write that follows.
    Wait(Duration),
    Done(MergeOutcome),
}

/// The compare-and-set loop of one merge, without I/O. The first write stores the request's
/// JSON as it is, if the record is still the one the request loaded; after each conflict the
/// request's changes are re-applied to the record the store answered with and written again:
/// at once after odd conflicts (1st, 3rd, ...), after a jittered backoff after even ones,
/// until [`MERGE_BUDGET`] has passed since the first conflict.
///
/// Why alternate: a write made right after a conflict compares against the record as it was
/// one round trip ago, so it wins unless another write lands within that round trip. Waiting
/// after *every* conflict would compare against a record as old as the wait, and lose to any
/// write made meanwhile (simulated: 60 writers of one session, each its own process, 0.5 ms
/// away: 11% gave up in 3 s). Retrying always at once wins as often but costs three times the
/// compare-and-sets (1830 against 600 for those 60 writers): the waits are what keep a burst
/// from hammering the store.
#[derive(Clone, Debug)]
pub struct MergeCommit {
    /// Made at the first conflict, from the loaded and current JSON (still in `expected` and
    /// `json` then): the common, unconflicted merge never needs them.
    changes: Option<Changes>,
    expected: String,
    json: String,
    attempts: u32,
    conflicts: u32,
    budget: Duration,
    /// The first conflict's time plus the budget.
    deadline: Option<Instant>,
    /// The wait asked for before the next write, until [`MergeCommit::waited`].
    wait: Option<Duration>,
    /// The jitter's state (splitmix64), seeded at the first wait.
    rng: u64,
    done: Option<MergeOutcome>,
}

impl MergeCommit {
    /// A merge of the session `loaded` (the record exactly as the store gave it) that the
    /// request turned into `current`. Errors when either is not one JSON object.
    pub fn new(loaded: String, current: String) -> Result<MergeCommit, NotAnObject> {
        MergeCommit::with_budget(loaded, current, MERGE_BUDGET)
    }

    /// As [`MergeCommit::new`] with another time budget (zero: the first conflict after the
    /// one retried at once ends it), for tests.
    pub fn with_budget(loaded: String, current: String, budget: Duration) -> Result<MergeCommit, NotAnObject> {
        check_object(&loaded)?;
        check_object(&current)?;
        Ok(MergeCommit::of_checked(loaded, current, budget))
    }

    /// As [`MergeCommit::new`] for JSON already known to be objects: a request's own loaded
    /// record and session JSON, which the request checked (`record::check_record`) when it
    /// took them. Skips the two scans `new` makes.
    pub fn of_request(loaded: String, current: String) -> MergeCommit {
        MergeCommit::of_checked(loaded, current, MERGE_BUDGET)
    }

    fn of_checked(loaded: String, current: String, budget: Duration) -> MergeCommit {
        MergeCommit { changes: None, expected: loaded, json: current, attempts: 0, conflicts: 0, budget, deadline: None, wait: None, rng: 0, done: None }
    }

    pub fn next(&self) -> MergeStep<'_> {
        match (self.done, self.wait) {
            (Some(outcome), _) => MergeStep::Done(outcome),
            (None, Some(wait)) => MergeStep::Wait(wait),
            (None, None) => MergeStep::Write { expected: &self.expected, json: &self.json },
        }
    }

    /// The wait of a [`MergeStep::Wait`] is over: the next step is the write.
    pub fn waited(&mut self) {
        self.wait = None;
    }

    /// The store's answer to the last [`MergeStep::Write`], received now. Ignored once done.
    pub fn answer(&mut self, answer: CasResult) {
        self.answer_at(answer, now());
    }

    /// As [`MergeCommit::answer`], received at `now` (tests and the fuzzer run a clock of
    /// their own).
    pub fn answer_at(&mut self, answer: CasResult, now: Instant) {
        if self.done.is_some() {
            return;
        }
        self.attempts += 1;
        self.wait = None;
        self.done = match answer {
            CasResult::Stored => Some(MergeOutcome::Merged),
            CasResult::Missing => Some(MergeOutcome::Gone),
            CasResult::Changed(now_record) if self.refreshed_meanwhile(&now_record) => {
                // All this request wrote was its activity time (idleTimeout), and another
                // request refreshed it since: nothing left to write. (Parallel reads past half
                // the idle window would otherwise each write.)
                self.json = now_record;
                Some(MergeOutcome::Merged)
            }
            CasResult::Changed(now_record) => {
                self.conflicts += 1;
                let deadline = *self.deadline.get_or_insert(now + self.budget);
                if self.conflicts > 1 && now >= deadline {
                    Some(MergeOutcome::TooManyConflicts)
                } else {
                    match apply(&now_record, self.changes_made()) {
                        Ok(json) => {
                            (self.expected, self.json) = (now_record, json);
                            self.wait = self.backoff(deadline.saturating_duration_since(now));
                            None
                        }
                        Err(NotAnObject) => Some(MergeOutcome::Gone),
                    }
                }
            }
        };
    }

    /// Whether this merge only refreshes the engine's activity time (its one change is the
    /// times, naming the same cookie id as the record it expected) and `now_record` was
    /// written with a later activity time than that record: then its write would add nothing.
    fn refreshed_meanwhile(&mut self, now_record: &str) -> bool {
        let changes = self.changes_made();
        let only_times = changes.removed.is_empty() && changes.set.len() == 1 && is_times_key(&changes.set[0].id);
        if !only_times {
            return false;
        }
        let mine = serde_json::from_str::<crate::lifetime::Times>(&changes.set[0].value).ok();
        let (Some(mine), Some(before), Some(now)) = (mine, read_times(&self.expected), read_times(now_record)) else { return false };
        mine.sid == before.sid && now.active > before.active
    }

    /// The wait before the write after this conflict. The answer to a conflict holds the
    /// record as it is now, so the write right after it (none) has the best chance: only a
    /// write landing within that round trip beats it. When that one conflicts too, another
    /// process is writing steadily: wait, up to [`MERGE_BACKOFF_FIRST`] the first time, twice
    /// as long each time after (capped by [`MERGE_BACKOFF_MAX`]), jittered into the upper half
    /// so that writers that collided come back apart, and never past the deadline (`left`).
    /// The write after a wait serves to fetch the record again if it changed meanwhile, and
    /// its conflict is retried at once: odd conflicts at once, even ones after a wait.
    fn backoff(&mut self, left: Duration) -> Option<Duration> {
        if self.conflicts % 2 == 1 {
            return None;
        }
        let doublings = (self.conflicts / 2 - 1).min(16);
        let ceiling = MERGE_BACKOFF_FIRST.saturating_mul(1 << doublings).min(MERGE_BACKOFF_MAX);
        if self.rng == 0 {
            self.rng = RandomState::new().hash_one((self as *const Self as usize, self.attempts)) | 1;
        }
        let half = ceiling / 2;
        let jitter = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).saturating_add(1);
        let wait = half + Duration::from_micros(self.random() % jitter);
        Some(wait.min(left)).filter(|w| !w.is_zero())
    }

    /// splitmix64: jitter needs spread, not secrecy.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Compare-and-set answers received so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The record this merge stored, once it has (the outcome was `Merged`), without giving
    /// up the commit.
    pub fn written(&self) -> Option<&str> {
        (self.done == Some(MergeOutcome::Merged)).then_some(self.json.as_str())
    }

    /// The record this merge stored, once it has (the outcome was `Merged`).
    pub fn into_written(self) -> Option<String> {
        (self.done == Some(MergeOutcome::Merged)).then_some(self.json)
    }

    /// The request's changes, once a conflict has made them.
    pub fn changes(&self) -> Option<&Changes> {
        self.changes.as_ref()
    }

    /// The changes, made now if no conflict has made them yet (before the first answer,
    /// `expected` and `json` are still the loaded and the current JSON).
    fn changes_made(&mut self) -> &Changes {
        // Both are objects (checked by `new`, or by the request).
        self.changes.get_or_insert_with(|| Changes::between(&self.expected, &self.json).unwrap_or_default())
    }

    /// Takes in `later`, a merge of the same session not begun yet, so that one write stores
    /// both (a group commit: merges of one session waiting for each other write once). Its
    /// changes go on top of this one's; on a conflict both are re-applied, in that order.
    /// Only before this merge's first write, and only a merge that has not begun.
    /// Returns false (and `later` must run on its own) when it cannot be taken in.
    pub fn absorb(&mut self, later: &mut MergeCommit) -> bool {
        if self.done.is_some() || self.attempts > 0 || later.attempts > 0 {
            return false;
        }
        let theirs = later.changes_made().clone();
        let mine = self.changes_made().clone();
        match apply(&self.json, &theirs) {
            Ok(json) => {
                self.json = json;
                self.changes = Some(mine.and_then(theirs));
                true
            }
            Err(NotAnObject) => false,
        }
    }
}

/// The merge loop's clock: tokio's, which is the system's unless a test paused it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One JSON object, checked without building anything.
fn check_object(json: &str) -> Result<(), NotAnObject> {
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_map(serde::de::IgnoredAny).map_err(|_| NotAnObject)?;
    de.end().map_err(|_| NotAnObject)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(record: &str, original: &str, current: &str) -> String {
        apply(record, &Changes::between(original, current).unwrap()).unwrap()
    }

    #[test]
    fn finds_set_and_removed_keys_by_exact_text() {
        let c = Changes::between(r#"{"a":1,"b":[1,2],"c":"x","d":1.0}"#, r#"{"a":1,"b":[1,2,3],"d":1,"e":null}"#).unwrap();
        assert_eq!(c.set_members().collect::<Vec<_>>(), [(r#""b""#, "[1,2,3]"), (r#""d""#, "1"), (r#""e""#, "null")]);
        assert_eq!(c.removed_count(), 1);
        assert!(Changes::between(r#"{"a":{"x":1}}"#, r#" { "a" : {"x":1} } "#).unwrap().is_empty());
        // Same value, different text: a change (exact text is what is kept).
        assert!(!Changes::between(r#"{"a":{"x":1}}"#, r#"{"a":{ "x":1}}"#).unwrap().is_empty());
    }

    #[test]
    fn a_group_applies_later_changes_on_top() {
        let mut first = MergeCommit::new(r#"{"a":1,"b":1}"#.into(), r#"{"a":2,"b":1,"c":1}"#.into()).unwrap();
        // Removes b, sets c.
        let mut later = MergeCommit::new(r#"{"a":1,"b":1}"#.into(), r#"{"a":1,"c":3}"#.into()).unwrap();
        assert!(first.absorb(&mut later));
        assert_eq!(first.next(), MergeStep::Write { expected: r#"{"a":1,"b":1}"#, json: r#"{"a":2,"c":3}"# });
        // A conflict re-applies both, in that order.
        first.answer(CasResult::Changed(r#"{"a":1,"b":1,"z":9}"#.into()));
        assert_eq!(first.next(), MergeStep::Write { expected: r#"{"a":1,"b":1,"z":9}"#, json: r#"{"a":2,"z":9,"c":3}"# });
        // Once a write was answered, nothing more is taken in.
        let mut late = MergeCommit::new("{}".into(), r#"{"x":1}"#.into()).unwrap();
        assert!(!first.absorb(&mut late));
    }

    #[test]
    fn applies_in_place_appends_and_drops() {
        let record = r#"{"cookie":{"maxAge":1},"a":1,"b":2,"z":"other request"}"#;
        let got = merged(record, r#"{"cookie":{"maxAge":1},"a":1,"b":2}"#, r#"{"cookie":{"maxAge":1},"b":3,"n":"new"}"#);
        assert_eq!(got, r#"{"cookie":{"maxAge":1},"b":3,"z":"other request","n":"new"}"#);
    }

    #[test]
    fn untouched_values_are_copied_byte_for_byte() {
        let exotic = r#"{"big":9007199254740993,"tenth":0.1,"huge":1e300,"neg":-0,"esc":"\u00e9\ud83e\udd80\"","lone":"\ud800",
            "deep":[[[[[[[[[[[[[[[[[[[[{"x":[1.50,2E+3]}]]]]]]]]]]]]]]]]]]]],"ws":[ 1 , 2 ]}"#;
        let got = merged(exotic, "{}", r#"{"mine":true}"#);
        let object = Object::parse(&got).unwrap();
        for m in Object::parse(exotic).unwrap().members {
            assert_eq!(object.get(&m.id).unwrap().value, m.value);
        }
        assert!(got.contains(r#""big":9007199254740993,"#) && got.contains(r#""esc":"\u00e9\ud83e\udd80\"""#));
        assert!(got.ends_with(r#","mine":true}"#));
    }

    #[test]
    fn keys_compare_decoded() {
        let got = merged(r#"{"\u0061":1,"é":2}"#, r#"{"a":1}"#, r#"{"a":5,"\u00e9":3}"#);
        // The record's own key text is kept for keys it has.
        assert_eq!(got, r#"{"\u0061":5,"é":3}"#);
        // A lone surrogate key cannot decode: it is matched by its text.
        assert_eq!(merged(r#"{"\ud800":1}"#, r#"{"\ud800":1}"#, "{}"), "{}");
    }

    #[test]
    fn repeated_keys_read_like_json_parse() {
        // First position, last value, written once.
        assert_eq!(apply(r#"{"a":1,"b":2,"a":3}"#, &Changes::default()).unwrap(), r#"{"a":3,"b":2}"#);
        let c = Changes::between(r#"{"a":1,"a":2}"#, r#"{"a":2}"#).unwrap();
        assert!(c.is_empty(), "the last value counts: {c:?}");
        assert_eq!(merged(r#"{"a":1,"b":2,"a":3}"#, "{}", r#"{"a":9}"#), r#"{"a":9,"b":2}"#);
    }

    #[test]
    fn anything_but_one_object_is_refused() {
        for bad in ["", "[]", "null", "1", "\"s\"", "{", r#"{"a":1}x"#, r#"{"a":1}{}"#, "{1:2}"] {
            assert_eq!(apply(bad, &Changes::default()), Err(NotAnObject), "{bad}");
            assert_eq!(Changes::between(bad, "{}"), Err(NotAnObject), "{bad}");
            assert_eq!(Changes::between("{}", bad), Err(NotAnObject), "{bad}");
        }
        assert_eq!(apply(" {} \n", &Changes::default()).unwrap(), "{}");
    }

    fn write(c: &MergeCommit) -> (String, String) {
        match c.next() {
            MergeStep::Write { expected, json } => (expected.to_owned(), json.to_owned()),
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn first_write_is_the_request_json_against_the_loaded_record() {
        let mut c = MergeCommit::new(r#"{"a":1}"#.into(), r#"{"a":1,"b":2}"#.into()).unwrap();
        assert_eq!(write(&c), (r#"{"a":1}"#.into(), r#"{"a":1,"b":2}"#.into()));
        c.answer(CasResult::Stored);
        assert_eq!(c.next(), MergeStep::Done(MergeOutcome::Merged));
        assert_eq!(c.attempts(), 1);
    }

    #[test]
    fn a_conflict_reapplies_onto_the_current_record() {
        let mut c = MergeCommit::new(r#"{"a":1}"#.into(), r#"{"a":1,"mine":2}"#.into()).unwrap();
        c.answer(CasResult::Changed(r#"{"a":1,"theirs":3}"#.into()));
        assert_eq!(write(&c), (r#"{"a":1,"theirs":3}"#.into(), r#"{"a":1,"theirs":3,"mine":2}"#.into()));
        c.answer(CasResult::Changed(r#"{"theirs":4}"#.into()));
        // A second conflict in a row waits first (see the backoff tests).
        assert!(matches!(c.next(), MergeStep::Wait(_)));
        c.waited();
        assert_eq!(write(&c), (r#"{"theirs":4}"#.into(), r#"{"theirs":4,"mine":2}"#.into()));
        c.answer(CasResult::Stored);
        assert_eq!(c.next(), MergeStep::Done(MergeOutcome::Merged));
        // Answers after the end change nothing.
        c.answer(CasResult::Missing);
        assert_eq!(c.next(), MergeStep::Done(MergeOutcome::Merged));
    }

    #[test]
    fn a_missing_or_corrupt_record_is_gone() {
        let mut c = MergeCommit::new("{}".into(), r#"{"x":1}"#.into()).unwrap();
        c.answer(CasResult::Missing);
        assert_eq!(c.next(), MergeStep::Done(MergeOutcome::Gone));
        let mut c = MergeCommit::new("{}".into(), r#"{"x":1}"#.into()).unwrap();
        c.answer(CasResult::Changed("not json".into()));
        assert_eq!(c.next(), MergeStep::Done(MergeOutcome::Gone));
    }

    #[test]
    fn retries_at_once_then_waits_longer_and_longer_within_the_budget() {
        let start = Instant::now();
        let mut clock = start;
        let mut c = MergeCommit::new("{}".into(), r#"{"x":1}"#.into()).unwrap();
        let mut waits = Vec::new();
        let mut i = 0;
        loop {
            match c.next() {
                MergeStep::Write { .. } => {
                    c.answer_at(CasResult::Changed(format!(r#"{{"n":{i}}}"#)), clock);
                    i += 1;
                }
                MergeStep::Wait(d) => {
                    waits.push(d);
                    clock += d;
                    c.waited();
                }
                MergeStep::Done(outcome) => {
                    assert_eq!(outcome, MergeOutcome::TooManyConflicts);
                    break;
                }
            }
        }
        // Odd conflicts are retried at once, even ones after a wait; the last one ended it.
        assert_eq!(waits.len() as u32, (c.attempts() - 1) / 2);
        // Each wait is in the upper half of its ceiling: 2 ms, doubling, capped at 100 ms
        // (the last one cut short by the budget).
        let last = waits.len() - 1;
        for (n, w) in waits.iter().enumerate() {
            let ceiling = (MERGE_BACKOFF_FIRST * (1 << n.min(16))).min(MERGE_BACKOFF_MAX);
            assert!(*w <= ceiling && (n == last || *w >= ceiling / 2), "wait {n}: {w:?}, ceiling {ceiling:?}");
        }
        // It gave up at the first conflict once the budget (from the first conflict) was spent,
        // and waited for all of it: a budget in time, not a count of attempts.
        assert_eq!(clock - start, MERGE_BUDGET);
        assert!(c.attempts() > 20, "{} attempts", c.attempts());
        // A zero budget: the first conflict is still retried once.
        let mut c = MergeCommit::with_budget("{}".into(), "{}".into(), Duration::ZERO).unwrap();
        c.answer_at(CasResult::Changed(r#"{"a":1}"#.into()), start);
        assert!(matches!(c.next(), MergeStep::Write { .. }));
        c.answer_at(CasResult::Changed(r#"{"a":2}"#.into()), start);
        assert_eq!(c.next(), MergeStep::Done(MergeOutcome::TooManyConflicts));
    }

    #[test]
    fn a_wait_lasts_until_waited() {
        let mut c = MergeCommit::new("{}".into(), r#"{"x":1}"#.into()).unwrap();
        let t = Instant::now();
        c.answer_at(CasResult::Changed(r#"{"a":1}"#.into()), t);
        c.answer_at(CasResult::Changed(r#"{"a":2}"#.into()), t);
        let MergeStep::Wait(d) = c.next() else { panic!("a second conflict waits: {:?}", c.next()) };
        assert_eq!(c.next(), MergeStep::Wait(d), "asking again changes nothing");
        c.waited();
        assert_eq!(write(&c), (r#"{"a":2}"#.into(), r#"{"a":2,"x":1}"#.into()));
        // The write after a wait found the record changed: retried at once.
        c.answer_at(CasResult::Changed(r#"{"a":3}"#.into()), t + d);
        assert_eq!(write(&c), (r#"{"a":3}"#.into(), r#"{"a":3,"x":1}"#.into()));
        c.answer_at(CasResult::Stored, t + d);
        assert_eq!(c.next(), MergeStep::Done(MergeOutcome::Merged));
    }

    /// Many writers of one session, each its own process (no turns, no groups), all loaded the
    /// same record and all write at once through a store a round trip away, on a simulated
    /// clock. Each round one of them wins, so some need many more than the 8 attempts of old;
    /// within the budget all of them get their key in.
    #[test]
    fn many_conflicting_writers_all_succeed() {
        const WRITERS: usize = 60;
        let rtt = Duration::from_micros(500);
        let start = Instant::now();
        let mut record = r#"{"n":0}"#.to_owned();
        let mut writers: Vec<MergeCommit> =
            (0..WRITERS).map(|i| MergeCommit::new(record.clone(), format!(r#"{{"n":0,"k{i}":{i}}}"#)).unwrap()).collect();
        // (when, writer): a writer's next step is due then. Writes reach the store at `when` and
        // are answered a round trip later.
        let mut due: Vec<(Instant, usize)> = (0..WRITERS).map(|i| (start + rtt / 2, i)).collect();
        let mut outcomes = vec![None; WRITERS];
        while let Some(k) = (0..due.len()).min_by_key(|&k| due[k]) {
            let (when, i) = due.swap_remove(k);
            let w = &mut writers[i];
            match w.next() {
                MergeStep::Write { expected, json } => {
                    let answer = if record == expected {
                        record = json.to_owned();
                        CasResult::Stored
                    } else {
                        CasResult::Changed(record.clone())
                    };
                    w.answer_at(answer, when + rtt / 2);
                    due.push((when + rtt, i));
                }
                MergeStep::Wait(d) => {
                    w.waited();
                    due.push((when + d, i));
                }
                MergeStep::Done(outcome) => outcomes[i] = Some(outcome),
            }
        }
        assert!(outcomes.iter().all(|o| *o == Some(MergeOutcome::Merged)), "{outcomes:?}");
        let attempts: Vec<u32> = writers.iter().map(MergeCommit::attempts).collect();
        assert!(attempts.iter().any(|&a| a > 8), "contended: {attempts:?}");
        let object = Object::parse(&record).unwrap();
        for i in 0..WRITERS {
            assert_eq!(object.get(&KeyId::of(&format!(r#""k{i}""#))).map(|m| m.value), Some(i.to_string().as_str()), "k{i} kept");
        }
    }

    #[test]
    fn refuses_requests_that_are_not_objects() {
        assert!(MergeCommit::new("[]".into(), "{}".into()).is_err());
        assert!(MergeCommit::new("{}".into(), "null".into()).is_err());
    }
}
