//! `MergeAttempt`: the core's compare-and-set loop of one merge (`merge::MergeCommit`), for
//! a JS store of the user's that has `compareAndSet`. The middleware makes each write the loop
//! asks for, waits as long as it asks after a conflict, and hands back the store's answer;
//! the retry rule (backoff and time budget) stays in the core.

use crate::errors::invalid_arg;
use koa_session_core::merge::{MergeCommit, MergeOutcome, MergeStep};
use koa_session_core::store::CasResult;
use napi::bindgen_prelude::*;
use napi_derive::napi;

#[napi]
pub struct MergeAttempt {
    commit: MergeCommit,
    /// The request's JSON when it holds the engine's times, to tell whether the session was
    /// renewed meanwhile (without them it cannot have been).
    json: Option<String>,
}

#[napi]
impl MergeAttempt {
    /// A merge of the session `loaded` (the record as the store gave it) that the request
    /// turned into `json`.
    #[napi(constructor, catch_unwind)]
    pub fn new(loaded: String, json: String) -> Result<Self> {
        let wanted = json.contains(koa_session_core::lifetime::TIMES_FIELD).then(|| json.clone());
        Ok(MergeAttempt { commit: MergeCommit::new(loaded, json).map_err(invalid_arg)?, json: wanted })
    }

    /// The compare-and-set to make next, `[expectedJson, json]`; or the ms to wait before it
    /// (a number: call `waited()` once the wait is over); or null once done.
    #[napi(catch_unwind)]
    pub fn next(&self) -> Option<Either<Vec<String>, f64>> {
        match self.commit.next() {
            MergeStep::Write { expected, json } => Some(Either::A(vec![expected.to_owned(), json.to_owned()])),
            MergeStep::Wait(wait) => Some(Either::B(wait.as_secs_f64() * 1000.0)),
            MergeStep::Done(_) => None,
        }
    }

    /// The wait `next()` asked for is over.
    #[napi(catch_unwind)]
    pub fn waited(&mut self) {
        self.commit.waited();
    }

    /// The store's answer to that write: `true` (stored), null (no record), or the record's
    /// JSON as it is now (it differed: nothing was written).
    #[napi(catch_unwind)]
    pub fn answer(&mut self, answer: Option<Either<bool, String>>) {
        self.commit.answer(match answer {
            Some(Either::A(true)) => CasResult::Stored,
            Some(Either::B(current)) => CasResult::Changed(current),
            Some(Either::A(false)) | None => CasResult::Missing,
        });
    }

    /// Once merged into the session stored under `sid`: the id its cookie must now carry when
    /// another request renewed it meanwhile (core's `lifetime::renamed_to`), else null.
    #[napi(catch_unwind)]
    pub fn renamed_to(&self, sid: String) -> Option<String> {
        koa_session_core::lifetime::renamed_to(self.json.as_deref()?, self.commit.written()?, &sid)
    }

    /// Once done: 'merged', 'gone' (the record went away: write nothing, clear the cookies) or
    /// 'conflict' (other writers kept winning for the whole time budget). Null before.
    #[napi(getter)]
    pub fn outcome(&self) -> Option<&'static str> {
        match self.commit.next() {
            MergeStep::Write { .. } | MergeStep::Wait(_) => None,
            MergeStep::Done(MergeOutcome::Merged | MergeOutcome::Overwritten) => Some("merged"),
            MergeStep::Done(MergeOutcome::Gone) => Some("gone"),
            MergeStep::Done(MergeOutcome::TooManyConflicts) => Some("conflict"),
        }
    }
}
