//! Commits that merge. A request that loaded a session and changed it writes back only what it
//! changed at the top level, applied to the record the store holds *now*, so parallel requests
//! on one session no longer erase each other's keys (same-key conflicts stay last-writer-wins).
//!
//! - [`Changes`]: the top-level keys a request set (with their exact JSON text) and removed.
//! - [`apply`]: rewrites a record with those changes, copying every other value byte for byte
//!   (never re-encoded, so 2^53+1, `0.1`, `1e300` and `"\u00e9"` survive exactly).
//! - [`MergeCommit`]: the sans-I/O compare-and-set loop every host runs, with the one bounded
//!   retry rule ([`MAX_MERGE_ATTEMPTS`]).
//!
//! Keys compare by their decoded text (`"\u0061"` and `"a"` are one key); values by their exact
//! text. A record with a repeated key reads as `JSON.parse` reads it: the key keeps its first
//! position and takes its last value, and is written back once.

use crate::record::NotAnObject;
use crate::store::CasResult;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Compare-and-set attempts one merge makes before it gives up. Merges of one session from one
/// process take turns (see `store::merge_into_store`), so only other processes can make an
/// attempt fail; each failure means another writer succeeded meanwhile.
pub const MAX_MERGE_ATTEMPTS: u32 = 8;

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
    /// Other writers won [`MAX_MERGE_ATTEMPTS`] times in a row; nothing was written.
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
    Done(MergeOutcome),
}

/// The compare-and-set loop of one merge, without I/O. The first write stores the request's
/// JSON as it is, if the record is still the one the request loaded; after each conflict the
/// request's changes are re-applied to the record the store answered with.
#[derive(Clone, Debug)]
pub struct MergeCommit {
    /// Made at the first conflict, from the loaded and current JSON (still in `expected` and
    /// `json` then): the common, unconflicted merge never needs them.
    changes: Option<Changes>,
    expected: String,
    json: String,
    attempts: u32,
    max_attempts: u32,
    done: Option<MergeOutcome>,
}

impl MergeCommit {
    /// A merge of the session `loaded` (the record exactly as the store gave it) that the
    /// request turned into `current`. Errors when either is not one JSON object.
    pub fn new(loaded: String, current: String) -> Result<MergeCommit, NotAnObject> {
        MergeCommit::with_max_attempts(loaded, current, MAX_MERGE_ATTEMPTS)
    }

    /// As [`MergeCommit::new`] with another bound (at least 1), for tests.
    pub fn with_max_attempts(loaded: String, current: String, max_attempts: u32) -> Result<MergeCommit, NotAnObject> {
        check_object(&loaded)?;
        check_object(&current)?;
        Ok(MergeCommit::of_checked(loaded, current, max_attempts))
    }

    /// As [`MergeCommit::new`] for JSON already known to be objects: a request's own loaded
    /// record and session JSON, which the request checked (`record::check_record`) when it
    /// took them. Skips the two scans `new` makes.
    pub fn of_request(loaded: String, current: String) -> MergeCommit {
        MergeCommit::of_checked(loaded, current, MAX_MERGE_ATTEMPTS)
    }

    fn of_checked(loaded: String, current: String, max_attempts: u32) -> MergeCommit {
        MergeCommit { changes: None, expected: loaded, json: current, attempts: 0, max_attempts: max_attempts.max(1), done: None }
    }

    pub fn next(&self) -> MergeStep<'_> {
        match self.done {
            Some(outcome) => MergeStep::Done(outcome),
            None => MergeStep::Write { expected: &self.expected, json: &self.json },
        }
    }

    /// The store's answer to the last [`MergeStep::Write`]. Ignored once done.
    pub fn answer(&mut self, answer: CasResult) {
        if self.done.is_some() {
            return;
        }
        self.attempts += 1;
        self.done = match answer {
            CasResult::Stored => Some(MergeOutcome::Merged),
            CasResult::Missing => Some(MergeOutcome::Gone),
            CasResult::Changed(_) if self.attempts >= self.max_attempts => Some(MergeOutcome::TooManyConflicts),
            CasResult::Changed(now) => {
                let next = apply(&now, self.changes_made());
                match next {
                    Ok(json) => {
                        (self.expected, self.json) = (now, json);
                        None
                    }
                    Err(NotAnObject) => Some(MergeOutcome::Gone),
                }
            }
        };
    }

    /// Compare-and-set answers received so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
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
    fn gives_up_after_the_bound() {
        let mut c = MergeCommit::new("{}".into(), r#"{"x":1}"#.into()).unwrap();
        for i in 0..MAX_MERGE_ATTEMPTS {
            assert!(matches!(c.next(), MergeStep::Write { .. }), "attempt {i}");
            c.answer(CasResult::Changed(format!(r#"{{"n":{i}}}"#)));
        }
        assert_eq!(c.next(), MergeStep::Done(MergeOutcome::TooManyConflicts));
        assert_eq!(c.attempts(), MAX_MERGE_ATTEMPTS);
        let mut one = MergeCommit::with_max_attempts("{}".into(), "{}".into(), 0).unwrap();
        one.answer(CasResult::Changed("{}".into()));
        assert_eq!(one.next(), MergeStep::Done(MergeOutcome::TooManyConflicts));
    }

    #[test]
    fn refuses_requests_that_are_not_objects() {
        assert!(MergeCommit::new("[]".into(), "{}".into()).is_err());
        assert!(MergeCommit::new("{}".into(), "null".into()).is_err());
    }
}
