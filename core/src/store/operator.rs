//! Operator calls on the native stores: how many sessions there are, their ids in batches,
//! and removing them all. They are not part of [`Store`](super::Store): the engine never
//! needs them, and stores of the host's own (a JS or C store) do not have to offer them.
//!
//! Session ids are bearer credentials: whoever holds one is logged in as its user. Code that
//! walks them must never show or log them.
//!
//! - [`MemoryStore`](super::MemoryStore): every live session (expired ones do not count).
//! - [`RedisStore`](super::redis::RedisStore): the keys under the store's prefix, found with
//!   `SCAN MATCH <prefix>* COUNT n` (the prefix's glob characters escaped), on every master of
//!   a Redis Cluster; `clear` removes them with `UNLINK`, batch by batch. Keys of other
//!   prefixes are never touched.

use super::StoreFuture;

/// Ids a walk fetches at a time when the caller names no batch size (the C API's 0, the
/// Node `ids()` without `batch`).
pub const DEFAULT_IDS_BATCH: usize = 1000;

/// One batch of session ids, without the store's prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct IdsPage {
    /// The ids of this batch: empty only at the end of the walk.
    pub ids: Vec<String>,
    /// Where the next batch starts (an opaque token for [`StoreOperator::ids_page`], holding no
    /// session id); `None` once every id was returned.
    pub cursor: Option<String>,
}

impl std::fmt::Debug for IdsPage {
    // Ids are credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdsPage").field("ids", &self.ids.len()).field("cursor", &self.cursor).finish()
    }
}

/// The operator calls of a native store.
///
/// Consistency, as Redis' `SCAN` gives it: a session present for the whole walk is returned
/// exactly once by a walk of the memory store, and at least once by one of a Redis store (a
/// Redis server that resizes its table meanwhile may repeat a key); a session created or
/// removed during the walk may or may not be returned. `length` and `clear` walk the same way.
pub trait StoreOperator: Send + Sync {
    /// The number of live sessions (a Redis store: keys under its prefix, every master of a
    /// cluster). Takes time in proportion to the number of sessions.
    fn length(&self) -> StoreFuture<'_, u64>;
    /// The next batch of about `count` ids (at least 1), starting from `cursor` (`None`: the
    /// beginning; otherwise the `cursor` of the previous page). A cursor this store did not
    /// give is an error (`Rejected`).
    fn ids_page<'a>(&'a self, cursor: Option<&'a str>, count: usize) -> StoreFuture<'a, IdsPage>;
    /// Removes every session of this store (a Redis store: only the keys under its prefix),
    /// in batches; returns how many went.
    fn clear(&self) -> StoreFuture<'_, u64>;
}

/// A walk over a store's ids, one batch at a time: what the hosts hand out (a JS async
/// iterator, a C cursor). Holds one batch at most.
pub struct IdsWalk<S: ?Sized> {
    store: std::sync::Arc<S>,
    count: usize,
    /// `None` before the first batch; `Some(None)` once finished.
    cursor: Option<Option<String>>,
}

impl<S: StoreOperator + ?Sized> IdsWalk<S> {
    /// A walk in batches of about `count` ids (0 is taken as 1).
    pub fn new(store: std::sync::Arc<S>, count: usize) -> Self {
        IdsWalk { store, count: count.max(1), cursor: None }
    }

    /// The next batch; empty once every id was returned (and from then on).
    pub async fn next_batch(&mut self) -> Result<Vec<String>, super::StoreError> {
        let from = match &self.cursor {
            Some(None) => return Ok(Vec::new()),
            Some(Some(c)) => Some(c.as_str()),
            None => None,
        };
        let page = self.store.ids_page(from, self.count).await?;
        self.cursor = Some(page.cursor);
        if page.ids.is_empty() {
            self.cursor = Some(None);
        }
        Ok(page.ids)
    }

    /// Whether every id was returned.
    pub fn finished(&self) -> bool {
        matches!(self.cursor, Some(None))
    }
}

/// `prefix` as a literal in a Redis glob pattern (`SCAN MATCH`): `*`, `?`, `[`, `]` and `\`
/// escaped with a backslash, followed by `*`.
pub fn match_pattern(prefix: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(prefix.len() + 1);
    for &b in prefix {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            p.push(b'\\');
        }
        p.push(b);
    }
    p.push(b'*');
    p
}

impl StoreOperator for super::MemoryStore {
    fn length(&self) -> StoreFuture<'_, u64> {
        let n = self.length_sync();
        Box::pin(async move { Ok(n) })
    }
    fn ids_page<'a>(&'a self, cursor: Option<&'a str>, count: usize) -> StoreFuture<'a, IdsPage> {
        let page = self.ids_page_sync(cursor, count);
        Box::pin(async move { page })
    }
    fn clear(&self) -> StoreFuture<'_, u64> {
        let n = self.clear_sync();
        Box::pin(async move { Ok(n) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(match_pattern(b"koa:sess:"), b"koa:sess:*");
        assert_eq!(match_pattern(b""), b"*");
        assert_eq!(match_pattern(b"a*b?c[d]e\\"), b"a\\*b\\?c\\[d\\]e\\\\*");
    }
}
