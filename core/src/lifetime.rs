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
//!
//! Renewal (`renewInterval`, `renewGrace`): the record stays under the id it was created with
//! (its key: merges, logout, `destroyUserSessions` and the user index all keep working on it),
//! and what changes is the id the cookie carries. A renewal writes an alias record under a new
//! id, `{"_ks":{"of":"<key>"}}`, and records in the session's times that the new id is the
//! current one (`sid`, `issued`) and until when the ids it replaces stay usable (`old`). A
//! request whose cookie names a replaced id within its grace loads the same record (its changes
//! merge like any other) and gets the current id's cookie; after the grace it loads nothing.
//! Requests that renew at once each write an alias; merging the times keeps the first renewal
//! stored, and the others send its id ([`merge_times`], [`renamed_to`]): one session, one new id.

use crate::json_field::{field_of, with_field, without_field};
use crate::record::RecordError;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The record's top-level field that holds the engine's times.
pub const TIMES_FIELD: &str = "_ks";

/// How long a replaced id stays usable when `renewGrace` is not given.
pub const DEFAULT_RENEW_GRACE_MS: i64 = 60_000;

/// The lifetime options; `None` is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// `idleTimeout` (ms): the longest a session lives unused.
    pub idle_ms: Option<i64>,
    /// `absoluteTimeout` (ms): the longest a session lives from its creation or regenerate.
    pub absolute_ms: Option<i64>,
    /// `renewInterval` (ms): a session whose cookie id is older gets a new one.
    pub renew_interval_ms: Option<i64>,
    /// `renewGrace` (ms): how long a replaced id stays usable (set when renewal is on).
    pub renew_grace_ms: i64,
}

/// The engine's times of one session (unix ms), and its cookie ids when renewal is on.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Times {
    /// When the session began, or was last regenerated (a login).
    pub created: i64,
    /// When a request last wrote the session (the idle window starts here).
    pub active: i64,
    /// When the current cookie id was issued (`None`: at `created`).
    #[serde(default)]
    pub issued: Option<i64>,
    /// The current cookie id when it is not the record's key (the session was renewed).
    #[serde(default)]
    pub sid: Option<String>,
    /// Ids the session was renewed from, each usable until its time.
    #[serde(default)]
    pub old: BTreeMap<String, i64>,
}

impl Times {
    /// The times of a session that begins at `now_ms`.
    pub fn starting(now_ms: i64) -> Times {
        Times { created: now_ms, active: now_ms, issued: None, sid: None, old: BTreeMap::new() }
    }

    /// When the current cookie id was issued.
    pub fn issued_at(&self) -> i64 {
        self.issued.unwrap_or(self.created)
    }

    /// The id the cookie must carry for the record under `key`.
    pub fn cookie_id<'a>(&'a self, key: &'a str) -> &'a str {
        self.sid.as_deref().unwrap_or(key)
    }

    /// Whether a cookie naming `id` may load the record under `key` at `now_ms`.
    pub fn standing(&self, key: &str, id: &str, now_ms: i64) -> Standing {
        if id == self.cookie_id(key) {
            Standing::Current
        } else if self.old.get(id).is_some_and(|&until| now_ms < until) {
            Standing::Graced
        } else {
            Standing::Dead
        }
    }

    /// The times after a renewal at `now_ms` to `new_id`: the id replaced stays usable for
    /// `grace_ms`, ids whose grace is over are dropped (and returned, the record's key aside:
    /// their alias records can go).
    pub fn renewed(&mut self, key: &str, new_id: &str, now_ms: i64, grace_ms: i64) -> Vec<String> {
        let replaced = self.cookie_id(key).to_owned();
        let over: Vec<String> = self.old.iter().filter(|(_, &until)| until <= now_ms).map(|(id, _)| id.clone()).collect();
        for id in &over {
            self.old.remove(id);
        }
        self.old.insert(replaced, now_ms.saturating_add(grace_ms));
        self.sid = Some(new_id.to_owned());
        self.issued = Some(now_ms);
        self.active = now_ms;
        over.into_iter().filter(|id| id != key).collect()
    }

    fn to_json(&self) -> String {
        let mut out = format!(r#"{{"created":{},"active":{}"#, self.created, self.active);
        if let Some(at) = self.issued {
            out.push_str(&format!(r#","issued":{at}"#));
        }
        if let Some(sid) = &self.sid {
            out.push_str(&format!(r#","sid":{}"#, serde_json::Value::from(sid.as_str())));
        }
        if !self.old.is_empty() {
            out.push_str(r#","old":"#);
            out.push_str(&serde_json::to_string(&self.old).unwrap_or_else(|_| "{}".into()));
        }
        out.push('}');
        out
    }
}

/// Whether a cookie's id may load a record ([`Times::standing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The session's current id.
    Current,
    /// An id the session was renewed from, within its grace: load it, send the current id.
    Graced,
    /// Not (or no longer) an id of this session: it loads nothing.
    Dead,
}

/// Why a stored session is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Idle,
    Absolute,
}

/// What a live session is due for at the end of the request, even when nothing else changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// Write its activity time (more than half the idle window passed, or the record has no
    /// times yet: a record from before the options were set starts its clock now).
    Refresh,
    /// A new cookie id (its id is older than `renewInterval`).
    Renewal,
}

/// What the lifetimes say of a stored session when it is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtLoad {
    Live(Due),
    Expired(Expiry),
}

impl Lifetimes {
    pub fn is_on(&self) -> bool {
        self.idle_ms.is_some() || self.absolute_ms.is_some() || self.renew_interval_ms.is_some()
    }

    /// The verdict on a stored session with `times` (`None`: the record has none) at `now_ms`.
    pub fn at_load(&self, times: Option<&Times>, now_ms: i64) -> AtLoad {
        let Some(t) = times else { return AtLoad::Live(Due::Refresh) };
        if self.absolute_ms.is_some_and(|abs| now_ms >= t.created.saturating_add(abs)) {
            return AtLoad::Expired(Expiry::Absolute);
        }
        if self.idle_ms.is_some_and(|idle| now_ms >= t.active.saturating_add(idle)) {
            return AtLoad::Expired(Expiry::Idle);
        }
        if self.renew_interval_ms.is_some_and(|every| now_ms >= t.issued_at().saturating_add(every)) {
            return AtLoad::Live(Due::Renewal);
        }
        AtLoad::Live(if self.refresh_due(t, now_ms) { Due::Refresh } else { Due::Nothing })
    }

    /// The store TTL bound of a write at `now_ms` of a record with `times`: the idle window
    /// from now (another request may have refreshed the activity since these times were
    /// loaded: the TTL must never end the session before its deadline, the engine's own check
    /// at load keeps the exact one) and the absolute deadline. `None` when neither timeout is
    /// set; 0 or less: the session is over.
    pub fn ttl_bound_ms(&self, t: &Times, now_ms: i64) -> Option<i64> {
        self.left_ms(now_ms, t.created, now_ms)
    }

    /// How long a record with `times` may live from `now_ms`: until its first deadline
    /// (`None` when neither timeout is set). 0 or less: it is over.
    pub fn remaining_ms(&self, t: &Times, now_ms: i64) -> Option<i64> {
        self.left_ms(t.active, t.created, now_ms)
    }

    /// What is left at `now_ms` of the idle window from `active` and of the absolute one from
    /// `created`, the lesser (`None` when neither timeout is set). Takes the two times, not a
    /// [`Times`]: [`Lifetimes::ttl_bound_ms`] counts the idle window from now without a copy.
    fn left_ms(&self, active: i64, created: i64, now_ms: i64) -> Option<i64> {
        let idle = self.idle_ms.map(|ms| active.saturating_add(ms).saturating_sub(now_ms));
        let absolute = self.absolute_ms.map(|ms| created.saturating_add(ms).saturating_sub(now_ms));
        match (idle, absolute) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The TTL of the alias a renewal at `now_ms` writes for a record with `times`: it must
    /// outlive the record until the next renewal (the first request after `renewInterval`)
    /// and its grace. A record written before then lives at most the idle window, or to its
    /// absolute deadline; without either, its cookie's lifetime, which the application may
    /// lengthen later, so then the longest TTL.
    pub fn alias_ttl_ms(&self, t: &Times, now_ms: i64) -> i64 {
        let interval = self.renew_interval_ms.unwrap_or(0);
        let life = self.ttl_bound_ms(t, now_ms).unwrap_or(crate::record::MAX_TTL_MS);
        interval.saturating_add(life).saturating_add(self.renew_grace_ms).min(crate::record::MAX_TTL_MS)
    }

    /// Whether a live session with `times` is due for its activity time at `now_ms`.
    pub fn refresh_due(&self, t: &Times, now_ms: i64) -> bool {
        self.idle_ms.is_some_and(|idle| now_ms.saturating_sub(t.active) > idle / 2)
    }
}

/// The engine's times in a record, `None` when it has none (or none it can read: a record
/// written by hand is then treated as one from before the options).
pub fn read_times(json: &str) -> Option<Times> {
    field_of::<Option<Times>>(json, TIMES_FIELD).ok().flatten().flatten()
}

/// The record's key when `json` is an alias record (a renewed session's cookie id): exactly
/// what [`alias_json`] writes, so that session data that merely holds such a field is none.
pub fn alias_of(json: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Alias {
        of: String,
    }
    if !json.starts_with(ALIAS_PREFIX) {
        return None;
    }
    let of = field_of::<Alias>(json, TIMES_FIELD).ok().flatten()?.of;
    (alias_json(&of) == json).then_some(of)
}

/// How every alias record begins ([`alias_json`]).
pub const ALIAS_PREFIX: &str = r#"{"_ks":{"of":"#;

/// The alias record that makes a cookie id load the record under `key`.
pub fn alias_json(key: &str) -> String {
    format!(r#"{ALIAS_PREFIX}{}}}}}"#, serde_json::Value::from(key))
}

/// A loaded record as the application sees it: with lifetimes on, without the engine's times.
pub fn app_json<'a>(cfg: &crate::config::SessionConfig, record: &'a str) -> Cow<'a, str> {
    if cfg.lifetimes().is_on() {
        without_times(record)
    } else {
        Cow::Borrowed(record)
    }
}

/// The record as the application sees it: without the engine's times.
pub fn without_times(json: &str) -> Cow<'_, str> {
    match without_field(json, TIMES_FIELD) {
        Ok(Some(stripped)) => Cow::Owned(stripped),
        _ => Cow::Borrowed(json),
    }
}

/// `json` (the application's session, a valid record) with the engine's times set.
pub fn with_times(json: &str, t: &Times) -> Result<String, RecordError> {
    with_field(json, TIMES_FIELD, &t.to_json())
}

/// After a merge of a request that wrote `json` stored `written` under `key`: the id the
/// session's cookie must carry now when it is not the one `json` names (a renewal made by
/// another request meanwhile), else `None`. Then the response carries that id's cookie, not
/// the one the plan made: a request already under way when the session was renewed must not
/// send the replaced id back to the browser.
pub fn renamed_to(json: &str, written: &str, key: &str) -> Option<String> {
    // Without the engine's times (no lifetime option) nothing can have been renamed.
    if !json.contains(TIMES_FIELD) {
        return None;
    }
    let wanted = read_times(json)?.sid;
    let now = read_times(written)?.sid;
    (now != wanted).then(|| now.unwrap_or_else(|| key.to_owned()))
}

/// The times a merge writes when the stored record's times are `stored` and a request wrote
/// `mine` (both the JSON text of the field): the later activity, and one current id. When
/// `mine` renewed from the id that is still current in `stored`, its new id is current and
/// the one it replaced stays in grace. Otherwise the stored id stands: a request that did not
/// renew keeps it, and one that renewed from an id another request had already replaced takes
/// the current id instead of its own (its response then sends that one, see [`renamed_to`]),
/// so parallel renewals give the session one new id, not one per request. Ids whose grace is
/// over are dropped. A side that is no readable times loses to the other.
pub fn merge_times(stored: &str, mine: &str) -> String {
    let parse = |t: &str| serde_json::from_str::<Times>(t).ok();
    let (Some(a), Some(b)) = (parse(stored), parse(mine)) else {
        return if parse(mine).is_some() { mine.to_owned() } else { stored.to_owned() };
    };
    let active = b.active.max(a.active);
    // `mine` names an id the stored times do not know, replacing the stored current one (the
    // record's key when the stored times name none).
    let mine_new = b.sid.as_ref().is_some_and(|id| Some(id) != a.sid.as_ref() && !a.old.contains_key(id));
    let replaced_current = a.sid.as_ref().is_none_or(|id| b.old.contains_key(id));
    let mut old = a.old;
    let (issued, sid) = if mine_new && replaced_current {
        for (id, t) in b.old {
            let e = old.entry(id).or_insert(t);
            *e = (*e).max(t);
        }
        (b.issued, b.sid)
    } else {
        (a.issued, a.sid)
    };
    if let Some(current) = &sid {
        old.remove(current);
    }
    old.retain(|_, until| *until > active);
    Times { created: a.created, active, issued, sid, old }.to_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Lifetimes = Lifetimes { idle_ms: Some(1000), absolute_ms: None, renew_interval_ms: None, renew_grace_ms: 0 };

    #[test]
    fn idle_refreshes_past_half_and_expires_at_the_window() {
        let t = Times { active: 10_000, ..Times::starting(0) };
        assert_eq!(IDLE.at_load(Some(&t), 10_500), AtLoad::Live(Due::Nothing));
        assert_eq!(IDLE.at_load(Some(&t), 10_501), AtLoad::Live(Due::Refresh));
        assert_eq!(IDLE.at_load(Some(&t), 10_999), AtLoad::Live(Due::Refresh));
        assert_eq!(IDLE.at_load(Some(&t), 11_000), AtLoad::Expired(Expiry::Idle));
        assert_eq!(IDLE.at_load(None, 0), AtLoad::Live(Due::Refresh));
        assert_eq!(IDLE.remaining_ms(&t, 10_200), Some(800));
    }

    #[test]
    fn absolute_wins_over_activity() {
        let both = Lifetimes { absolute_ms: Some(5000), ..IDLE };
        let t = Times { active: 4900, ..Times::starting(0) };
        assert_eq!(both.at_load(Some(&t), 4950), AtLoad::Live(Due::Nothing));
        assert_eq!(both.at_load(Some(&t), 5000), AtLoad::Expired(Expiry::Absolute));
        assert_eq!(both.remaining_ms(&t, 4950), Some(50));
        assert_eq!(Lifetimes::default().remaining_ms(&t, 0), None);
        // Times far from now never overflow.
        let far = Lifetimes { idle_ms: Some(i64::MAX), absolute_ms: Some(i64::MAX), renew_interval_ms: Some(i64::MAX), renew_grace_ms: i64::MAX };
        assert_eq!(far.at_load(Some(&Times::starting(i64::MAX)), i64::MIN), AtLoad::Live(Due::Nothing));
        assert_eq!(far.alias_ttl_ms(&Times::starting(0), 0), crate::record::MAX_TTL_MS);
    }

    #[test]
    fn times_travel_in_the_record_and_hide() {
        let json = with_times(r#"{"a":1,"n":1e400}"#, &Times { active: 7, ..Times::starting(5) }).unwrap();
        assert_eq!(json, r#"{"a":1,"n":1e400,"_ks":{"created":5,"active":7}}"#);
        assert_eq!(read_times(&json), Some(Times { active: 7, ..Times::starting(5) }));
        assert_eq!(without_times(&json), r#"{"a":1,"n":1e400}"#);
        // Replaced in place, never repeated.
        let again = with_times(&json, &Times { active: 9, ..Times::starting(5) }).unwrap();
        assert_eq!(again, r#"{"a":1,"n":1e400,"_ks":{"created":5,"active":9}}"#);
        // Unreadable times are no times.
        for bad in [r#"{"_ks":1}"#, r#"{"_ks":{"created":"x","active":1}}"#, r#"{"_ks":null}"#, r#"{}"#] {
            assert_eq!(read_times(bad), None, "{bad}");
        }
        assert!(matches!(without_times(r#"{"a":1}"#), Cow::Borrowed(_)));
    }

    const RENEW: Lifetimes = Lifetimes { idle_ms: None, absolute_ms: None, renew_interval_ms: Some(1000), renew_grace_ms: 100 };

    #[test]
    fn renewal_is_due_after_the_interval_and_keeps_the_replaced_id_for_its_grace() {
        let mut t = Times::starting(0);
        assert_eq!(RENEW.at_load(Some(&t), 999), AtLoad::Live(Due::Nothing));
        assert_eq!(RENEW.at_load(Some(&t), 1000), AtLoad::Live(Due::Renewal));
        assert_eq!(t.standing("K", "K", 5), Standing::Current);
        assert!(t.renewed("K", "N1", 1000, 100).is_empty());
        assert_eq!(t.cookie_id("K"), "N1");
        assert_eq!(t.standing("K", "N1", 1050), Standing::Current);
        assert_eq!(t.standing("K", "K", 1099), Standing::Graced);
        assert_eq!(t.standing("K", "K", 1100), Standing::Dead);
        assert_eq!(t.standing("K", "X", 1000), Standing::Dead);
        assert_eq!(RENEW.at_load(Some(&t), 1999), AtLoad::Live(Due::Nothing));
        // The next renewal drops what is over; the key is no alias to destroy.
        assert!(t.renewed("K", "N2", 2000, 100).is_empty());
        assert_eq!(t.renewed("K", "N3", 3000, 100), ["N1".to_owned()]);
        assert_eq!(t.old.keys().collect::<Vec<_>>(), ["N2"]);
        let json = with_times("{}", &t).unwrap();
        assert_eq!(read_times(&json), Some(t));
        assert_eq!(alias_of(&alias_json("K\"1")), Some("K\"1".to_owned()));
        assert_eq!(alias_of(&json), None);
    }

    #[test]
    fn a_refresh_another_request_already_made_is_not_written_again() {
        use crate::merge::{MergeCommit, MergeOutcome, MergeStep};
        use crate::store::CasResult;
        let at = |active| with_times(r#"{"n":1}"#, &Times { active, ..Times::starting(0) }).unwrap();
        // Loaded at activity 0; this request refreshes to 600; another one wrote 550 meanwhile.
        let mut commit = MergeCommit::of_request(at(0), at(600));
        commit.answer(CasResult::Changed(at(550)));
        assert_eq!(commit.next(), MergeStep::Done(MergeOutcome::Merged));
        assert_eq!(commit.into_written().as_deref(), Some(at(550).as_str()));
        // A change besides the times is written, times merged.
        let changed = with_times(r#"{"n":2}"#, &Times { active: 600, ..Times::starting(0) }).unwrap();
        let mut commit = MergeCommit::of_request(at(0), changed);
        commit.answer(CasResult::Changed(at(550)));
        match commit.next() {
            MergeStep::Write { json, .. } => assert_eq!(read_times(json).map(|t| t.active), Some(600)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_renewals_merge_into_one_current_id_and_one_in_grace() {
        let loaded = Times::starting(0);
        let (mut a, mut b) = (loaded.clone(), loaded.clone());
        a.renewed("K", "A", 1000, 100);
        b.renewed("K", "B", 1001, 100);
        for (stored, mine, current, other) in [(&a, &b, "A", "B"), (&b, &a, "B", "A")] {
            let merged: Times = serde_json::from_str(&merge_times(&stored.to_json(), &mine.to_json())).unwrap();
            assert_eq!(merged.cookie_id("K"), current, "the renewal stored first stands");
            assert_eq!(merged.standing("K", other, 1050), Standing::Dead, "the other id was never sent: renamed_to sends the current one");
            assert_eq!(renamed_to(&with_times("{}", mine).unwrap(), &with_times("{}", &merged).unwrap(), "K").as_deref(), Some(current));
            assert_eq!(merged.standing("K", "K", 1050), Standing::Graced);
            assert_eq!(merged.active, 1001);
            // Merging the same times again changes nothing (a retry, a group member).
            assert_eq!(merge_times(&merge_times(&stored.to_json(), &mine.to_json()), &mine.to_json()), merge_times(&stored.to_json(), &mine.to_json()));
        }
        // A refresh merged over a renewal keeps the renewal.
        let mut refresh = loaded.clone();
        refresh.active = 1200;
        let merged: Times = serde_json::from_str(&merge_times(&a.to_json(), &refresh.to_json())).unwrap();
        assert_eq!((merged.cookie_id("K"), merged.active), ("A", 1200));
        // A request held since before two renewals (its id's grace over and dropped) does not
        // bring its id back.
        let mut stale = loaded.clone();
        stale.renewed("K", "S", 10, 100);
        let mut now = stale.clone();
        now.renewed("K", "T", 2000, 100);
        now.renewed("K", "U", 3000, 100);
        assert!(!now.old.contains_key("S"));
        let merged: Times = serde_json::from_str(&merge_times(&now.to_json(), &stale.to_json())).unwrap();
        assert_eq!(merged.cookie_id("K"), "U");
        assert_eq!(merge_times("1", &a.to_json()), a.to_json());
        assert_eq!(merge_times(&a.to_json(), "[]"), a.to_json());
    }
}
