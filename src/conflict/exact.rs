//! A [`DuplicateKey`] made exact from the document that was sent.
//!
//! The Rust driver drops the server's reply on inserts, so `keyPattern`/`keyValue` are gone;
//! the message names the index (and prints the value cut, or as collation keys). The index
//! name gives the key pattern (from the cached `listIndexes`), and the pattern reads the
//! values out of the document the caller sent: the value the caller attempted, exactly.

use mongodb::bson::{doc, Document, RawDocumentBuf};
use mongodb::Collection;

use super::index_cache::IndexCache;
use super::key_values::key_value;
use crate::index::Indexes;
use crate::DuplicateKey;

/// Where a duplicate's key pattern comes from.
enum Pattern {
    Known(Document),
    /// Named, but not (or not like this) in the list at hand: reading it again may help.
    Unknown,
    /// Nothing names the index.
    Never,
}

fn pattern(indexes: Option<&Indexes>, dup: &DuplicateKey) -> Pattern {
    match dup.index() {
        // A clustered collection (5.3+) names no index: its key is `_id`.
        None if dup.fields().eq(["_id"]) => Pattern::Known(doc! { "_id": 1 }),
        None => Pattern::Never,
        Some(name) => match indexes.and_then(|list| list.named(name)) {
            // A name whose fields disagree with the message is a stale entry (the index was
            // dropped and made again with another key).
            Some(index)
                if dup.fields().len() == 0
                    || index.key().keys().map(String::as_str).eq(dup.fields()) =>
            {
                // Geo, text and hashed keys are not the values the document holds.
                if index.plain_key() {
                    Pattern::Known(index.key().clone())
                } else {
                    Pattern::Never
                }
            }
            _ => Pattern::Unknown,
        },
    }
}

/// Duplicates on their way to their exact keys: what the cached list tells of each pattern,
/// and whether a list read again could tell more.
pub(crate) struct Exact {
    dups: Vec<DuplicateKey>,
    patterns: Vec<Pattern>,
}

impl Exact {
    /// Each duplicate's pattern as far as `indexes` (the cached list, if any) tells.
    pub(crate) fn new(indexes: Option<&Indexes>, dups: Vec<DuplicateKey>) -> Self {
        let patterns = dups.iter().map(|d| pattern(indexes, d)).collect();
        Exact { dups, patterns }
    }

    /// Whether a pattern is unknown to the list at hand, so that reading it again may help.
    pub(crate) fn needs_list(&self) -> bool {
        self.patterns.iter().any(|p| matches!(p, Pattern::Unknown))
    }

    /// Looks the unknown patterns up again in a list read since.
    pub(crate) fn refine(&mut self, indexes: &Indexes) {
        for (slot, dup) in self.patterns.iter_mut().zip(&self.dups) {
            if matches!(slot, Pattern::Unknown) {
                *slot = pattern(Some(indexes), dup);
            }
        }
    }

    /// Gives each duplicate with a known pattern its exact value, read out of `sent` (the
    /// document at the duplicate's position in its batch, or the only one). A key path that
    /// meets an array keeps what the message said.
    pub(crate) fn finish(self, sent: &[RawDocumentBuf]) -> Vec<DuplicateKey> {
        self.dups
            .into_iter()
            .zip(self.patterns)
            .map(|(dup, pattern)| {
                let Pattern::Known(pattern) = pattern else {
                    return dup;
                };
                let doc = match dup.position() {
                    Some(position) => sent.get(position),
                    None => sent.first(),
                };
                match doc.and_then(|doc| key_value(doc, &pattern)) {
                    Some(value) => dup.with_key(pattern, value),
                    None => dup,
                }
            })
            .collect()
    }
}

/// Gives each duplicate the key pattern and the exact value it collided on, read out of
/// `sent`. Reads `listIndexes` only when a named index is not in the cached list, at most
/// once per call; when the list cannot be read, the duplicates keep what the messages said.
pub(crate) async fn exact_keys<T: Send + Sync>(
    coll: &Collection<T>,
    cache: &IndexCache,
    dups: Vec<DuplicateKey>,
    sent: &[RawDocumentBuf],
) -> Vec<DuplicateKey> {
    let mut cached = cache.cached(coll.namespace());
    let mut exact = Exact::new(cached.current().as_deref(), dups);
    if exact.needs_list() {
        if let Ok(indexes) = cached.refresh(coll).await {
            exact.refine(&indexes);
        }
    }
    exact.finish(sent)
}
