//! Session lifetimes, as the OWASP session cheat sheet asks: an idle timeout (a session not
//! used for this long is gone, reads count as use) and an absolute one (a session this old,
//! counted from its creation or its last regenerate, is gone however active it is).
//!
//! The deadlines live in the record, so every store and both hosts enforce them with the
//! engine's clock; the store's TTL only cleans up (it never outlives the first deadline). The
//! engine keeps its times under [`TIMES_FIELD`], `"_ks":{"created":ms,"active":ms}` (unix ms),
//! a top-level field that other apps on the same records (koa-generic-session, koa-session)
//! carry along as data. With lifetimes on, the engine hides it from the application (it is
//! not in `ctx.session` nor in C `ks_session_json`) and writes it back at every write, from
//! the loaded record: the application can neither see nor forge it.
//!
//! Keeping a read-only session alive must not cost a write per request: `active` is written
//! only when more than half of the idle window has passed ([`Lifetimes::at_load`]), so a
//! session lives at least half the window after any request, and at most the whole window.

use crate::json_field::{field_of, with_field, without_field};
use crate::record::RecordError;
use serde::Deserialize;
use std::borrow::Cow;

/// The record's top-level field that holds the engine's times.
pub const TIMES_FIELD: &str = "_ks";

/// The lifetime options; `None` is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// `idleTimeout` (ms): the longest a session lives unused.
    pub idle_ms: Option<i64>,
    /// `absoluteTimeout` (ms): the longest a session lives from its creation or regenerate.
    pub absolute_ms: Option<i64>,
}

/// The engine's times of one session (unix ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Times {
    /// When the session began, or was last regenerated (a login).
    pub created: i64,
    /// When a request last wrote the session (the idle window starts here).
    pub active: i64,
}

impl Times {
    /// The times of a session that begins at `now_ms`.
    pub fn starting(now_ms: i64) -> Times {
        Times { created: now_ms, active: now_ms }
    }
}

/// Why a stored session is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Idle,
    Absolute,
}

/// What the lifetimes say of a stored session when it is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtLoad {
    /// Usable. `refresh`: write its activity time at the end of the request even when
    /// nothing else changed (more than half the idle window passed, or the record has no
    /// times yet: a record from before the options were set starts its clock now).
    Live { refresh: bool },
    Expired(Expiry),
}

impl Lifetimes {
    pub fn is_on(&self) -> bool {
        self.idle_ms.is_some() || self.absolute_ms.is_some()
    }

    /// The verdict on a stored session with `times` (`None`: the record has none) at `now_ms`.
    pub fn at_load(&self, times: Option<Times>, now_ms: i64) -> AtLoad {
        let Some(t) = times else { return AtLoad::Live { refresh: true } };
        if self.absolute_ms.is_some_and(|abs| now_ms >= t.created.saturating_add(abs)) {
            return AtLoad::Expired(Expiry::Absolute);
        }
        let Some(idle) = self.idle_ms else { return AtLoad::Live { refresh: false } };
        if now_ms >= t.active.saturating_add(idle) {
            return AtLoad::Expired(Expiry::Idle);
        }
        AtLoad::Live { refresh: now_ms.saturating_sub(t.active) > idle / 2 }
    }

    /// How long a record with `times` may live from `now_ms`: until its first deadline
    /// (`None` when no lifetime is set). 0 or less: it is over.
    pub fn remaining_ms(&self, t: Times, now_ms: i64) -> Option<i64> {
        let idle = self.idle_ms.map(|ms| t.active.saturating_add(ms).saturating_sub(now_ms));
        let absolute = self.absolute_ms.map(|ms| t.created.saturating_add(ms).saturating_sub(now_ms));
        match (idle, absolute) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The engine's times in a record, `None` when it has none (or none it can read: a record
/// written by hand is then treated as one from before the options).
pub fn read_times(json: &str) -> Option<Times> {
    field_of::<Option<Times>>(json, TIMES_FIELD).ok().flatten().flatten()
}

/// The record as the application sees it: without the engine's times.
pub fn without_times(json: &str) -> Cow<'_, str> {
    match without_field(json, TIMES_FIELD) {
        Ok(Some(stripped)) => Cow::Owned(stripped),
        _ => Cow::Borrowed(json),
    }
}

/// A loaded record as the application sees it: with lifetimes on, without the engine's times.
pub fn app_json<'a>(cfg: &crate::config::SessionConfig, record: &'a str) -> Cow<'a, str> {
    if cfg.lifetimes().is_on() {
        without_times(record)
    } else {
        Cow::Borrowed(record)
    }
}

/// `json` (the application's session, a valid record) with the engine's times set.
pub fn with_times(json: &str, t: Times) -> Result<String, RecordError> {
    with_field(json, TIMES_FIELD, &format!(r#"{{"created":{},"active":{}}}"#, t.created, t.active))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Lifetimes = Lifetimes { idle_ms: Some(1000), absolute_ms: None };

    #[test]
    fn idle_refreshes_past_half_and_expires_at_the_window() {
        let t = Times { created: 0, active: 10_000 };
        assert_eq!(IDLE.at_load(Some(t), 10_500), AtLoad::Live { refresh: false });
        assert_eq!(IDLE.at_load(Some(t), 10_501), AtLoad::Live { refresh: true });
        assert_eq!(IDLE.at_load(Some(t), 10_999), AtLoad::Live { refresh: true });
        assert_eq!(IDLE.at_load(Some(t), 11_000), AtLoad::Expired(Expiry::Idle));
        assert_eq!(IDLE.at_load(None, 0), AtLoad::Live { refresh: true });
        assert_eq!(IDLE.remaining_ms(t, 10_200), Some(800));
    }

    #[test]
    fn absolute_wins_over_activity() {
        let both = Lifetimes { idle_ms: Some(1000), absolute_ms: Some(5000) };
        let t = Times { created: 0, active: 4900 };
        assert_eq!(both.at_load(Some(t), 4950), AtLoad::Live { refresh: false });
        assert_eq!(both.at_load(Some(t), 5000), AtLoad::Expired(Expiry::Absolute));
        assert_eq!(both.remaining_ms(t, 4950), Some(50));
        assert_eq!(Lifetimes::default().remaining_ms(t, 0), None);
        // Times far from now never overflow.
        let far = Lifetimes { idle_ms: Some(i64::MAX), absolute_ms: Some(i64::MAX) };
        assert_eq!(far.at_load(Some(Times { created: i64::MAX, active: i64::MAX }), i64::MIN), AtLoad::Live { refresh: false });
    }

    #[test]
    fn times_travel_in_the_record_and_hide() {
        let json = with_times(r#"{"a":1,"n":1e400}"#, Times { created: 5, active: 7 }).unwrap();
        assert_eq!(json, r#"{"a":1,"n":1e400,"_ks":{"created":5,"active":7}}"#);
        assert_eq!(read_times(&json), Some(Times { created: 5, active: 7 }));
        assert_eq!(without_times(&json), r#"{"a":1,"n":1e400}"#);
        // Replaced in place, never repeated.
        let again = with_times(&json, Times { created: 5, active: 9 }).unwrap();
        assert_eq!(again, r#"{"a":1,"n":1e400,"_ks":{"created":5,"active":9}}"#);
        // Unreadable times are no times.
        for bad in [r#"{"_ks":1}"#, r#"{"_ks":{"created":"x","active":1}}"#, r#"{"_ks":null}"#, r#"{}"#] {
            assert_eq!(read_times(bad), None, "{bad}");
        }
        assert!(matches!(without_times(r#"{"a":1}"#), Cow::Borrowed(_)));
    }
}
