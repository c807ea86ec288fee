//! Native stores exposed as JS classes. Each is wrapped in JS by a class extending
//! `BaseStore` (lib/stores/), which adds the EventEmitter side and the object API; the
//! middleware may use the JSON-string methods directly when the wrapper is untouched.

mod completions;
pub mod memory;
pub mod redis;

use koa_session_core::store::UserSession;
use koa_session_core::user_field::{check_user_id, UserField};
use koa_session_core::MergeOutcome;
use std::time::Duration;

/// A request's JSON kept for [`merge_answer`]: only one with the engine's times (a lifetime
/// option) can have been renewed meanwhile, so the others are not copied.
fn renewable(json: &str) -> Option<String> {
    json.contains(koa_session_core::lifetime::TIMES_FIELD).then(|| json.to_owned())
}

/// A merge's answer as JS sees it, for a request that wrote `json` under `sid`: the outcome,
/// or `renamed <id>` when it merged into a session renewed meanwhile, whose cookie must now
/// carry `<id>` (core's `lifetime::renamed_to`).
fn merge_answer(o: MergeOutcome, written: Option<&str>, json: Option<&str>, sid: &str) -> String {
    let renamed = written.zip(json).and_then(|(w, json)| koa_session_core::lifetime::renamed_to(json, w, sid));
    match (o, renamed) {
        (MergeOutcome::Merged | MergeOutcome::Overwritten, Some(id)) => format!("renamed {id}"),
        _ => merge_outcome(o).to_owned(),
    }
}

/// A merge's outcome as JS sees it: 'merged' | 'gone' | 'conflict' | 'overwritten'.
fn merge_outcome(o: MergeOutcome) -> &'static str {
    match o {
        MergeOutcome::Merged => "merged",
        MergeOutcome::Gone => "gone",
        MergeOutcome::TooManyConflicts => "conflict",
        MergeOutcome::Overwritten => "overwritten",
    }
}

/// The `userField` and user id of a `userSessions` call, checked by core's rules.
fn user_field_args(field: &str, user: &str) -> std::result::Result<UserField, String> {
    check_user_id(user)?;
    UserField::parse(field).map_err(|e| e.to_string())
}

/// A user's live sessions as JS gets them: `[id, sinceMs, json]` each.
type UserSessionRows = Vec<(String, f64, String)>;

fn user_session_rows(sessions: Vec<UserSession>) -> UserSessionRows {
    sessions.into_iter().map(|s| (s.sid, s.since_ms as f64, s.json)).collect()
}

/// A TTL in ms from JS as a Duration. NaN and negatives mean "already expired": a zero TTL
/// removes the record.
fn ttl(ms: f64) -> Duration {
    if ms.is_nan() || ms <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_millis(ms.min(u64::MAX as f64).ceil() as u64)
    }
}
