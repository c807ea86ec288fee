//! `merge`: the exact-text merge of "commits that merge" (core/src/merge.rs).
//!
//! Input: three JSON texts separated by NULs: the record the request loaded, the session as
//! the request left it, and the record the store holds now (another request changed it).
//! Invariants, whenever the texts are JSON objects:
//! - merging a request's changes onto the record it loaded gives exactly its session's keys
//!   and values (nothing lost, nothing invented);
//! - merged onto another record, every value the request did not change keeps that record's
//!   exact text (never re-encoded), every value it set has the request's exact text, and every
//!   key it removed is gone;
//! - the merge loop (`MergeCommit`) against a store that keeps changing ends once its time
//!   budget is spent (on a simulated clock), never waiting longer than its backoff cap at once.

use crate::input::Input;
use koa_session_core::merge::{apply, Changes, MergeCommit, MergeOutcome, MergeStep, MERGE_BACKOFF_MAX, MERGE_BUDGET};
use koa_session_core::store::CasResult;
use serde_json::value::RawValue;

/// The top-level members as (key, exact value text), last value of a repeated key winning.
fn members(json: &str) -> Option<Vec<(String, String)>> {
    let map: std::collections::BTreeMap<String, Box<RawValue>> = serde_json::from_str(json).ok()?;
    Some(map.into_iter().map(|(k, v)| (k, v.get().to_owned())).collect())
}

fn value<'a>(m: &'a [(String, String)], key: &str) -> Option<&'a str> {
    m.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let loaded = text(input.until(0));
    let current = text(input.until(0));
    let other = text(input.rest());
    let Ok(changes) = Changes::between(&loaded, &current) else { return };
    let (Some(l), Some(c)) = (members(&loaded), members(&current)) else { return };

    let own = apply(&loaded, &changes).expect("the loaded record is an object");
    let o = members(&own).expect("a merge writes a JSON object");
    for (k, v) in &c {
        assert_eq!(value(&o, k), Some(v.as_str()), "merged onto its own record, {k:?} is not the session's");
    }
    assert_eq!(o.len(), c.len(), "merged onto its own record, keys were invented or lost");

    let Some(r) = members(&other) else { return };
    let merged = apply(&other, &changes).expect("another record that is an object merges");
    let m = members(&merged).expect("a merge writes a JSON object");
    for (k, v) in &r {
        let changed = value(&l, k) != value(&c, k);
        if !changed {
            assert_eq!(value(&m, k), Some(v.as_str()), "an untouched value {k:?} was not kept byte for byte");
        }
    }
    for (k, v) in &c {
        if value(&l, k) != Some(v.as_str()) {
            assert_eq!(value(&m, k), Some(v.as_str()), "a value the request set ({k:?}) was not written exactly");
        }
    }
    for (k, _) in &l {
        if value(&c, k).is_none() {
            assert_eq!(value(&m, k), None, "a key the request removed ({k:?}) came back");
        }
    }

    // The loop against a store that differs every time ends when its budget is spent, on a
    // simulated clock that the waits advance.
    let start = std::time::Instant::now();
    let mut clock = start;
    let mut commit = MergeCommit::new(loaded, current).unwrap();
    loop {
        match commit.next() {
            MergeStep::Write { .. } => commit.answer_at(CasResult::Changed(other.clone()), clock),
            MergeStep::Wait(d) => {
                assert!(d <= MERGE_BACKOFF_MAX, "a wait of {d:?}");
                clock += d;
                commit.waited();
            }
            MergeStep::Done(outcome) => {
                assert_eq!(outcome, MergeOutcome::TooManyConflicts);
                break;
            }
        }
    }
    assert_eq!(clock - start, MERGE_BUDGET, "gave up before or after the budget");
}
