//! `MergeAttempt`: the core's compare-and-set loop of one merge (`merge::MergeCommit`), for
//! a JS store of the user's that has `compareAndSet`. The middleware makes each write the loop
//! asks for and hands back the store's answer; the retry rule stays in the core.

use crate::errors::invalid_arg;
use koa_session_core::merge::{MergeCommit, MergeOutcome, MergeStep};
use koa_session_core::store::CasResult;
use napi::bindgen_prelude::*;
use napi_derive::napi;

#[napi]
pub struct MergeAttempt {
    commit: MergeCommit,
}

#[napi]
impl MergeAttempt {
    /// A merge of the session `loaded` (the record as the store gave it) that the request
    /// turned into `json`.
    #[napi(constructor, catch_unwind)]
    pub fn new(loaded: String, json: String) -> Result<Self> {
        Ok(MergeAttempt { commit: MergeCommit::new(loaded, json).map_err(invalid_arg)? })
    }

    /// The compare-and-set to make next, `[expectedJson, json]`, or null once done.
    #[napi(catch_unwind)]
    pub fn next(&self) -> Option<Vec<String>> {
        match self.commit.next() {
            MergeStep::Write { expected, json } => Some(vec![expected.to_owned(), json.to_owned()]),
            MergeStep::Done(_) => None,
        }
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

    /// Once done: 'merged', 'gone' (the record went away: write nothing, clear the cookies) or
    /// 'conflict' (other writers won every try). Null before.
    #[napi(getter)]
    pub fn outcome(&self) -> Option<&'static str> {
        match self.commit.next() {
            MergeStep::Write { .. } => None,
            MergeStep::Done(MergeOutcome::Merged | MergeOutcome::Overwritten) => Some("merged"),
            MergeStep::Done(MergeOutcome::Gone) => Some("gone"),
            MergeStep::Done(MergeOutcome::TooManyConflicts) => Some("conflict"),
        }
    }
}
