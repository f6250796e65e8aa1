//! A [`DuplicateKey`] made exact from the document that was sent.
//!
//! The Rust driver drops the server's reply on inserts, so `keyPattern`/`keyValue` are gone;
//! the message names the index (and prints the value cut, or as collation keys). The index
//! name gives the key pattern (from the cached `listIndexes`), and the pattern reads the
//! values out of the document the caller sent: the value the caller attempted, exactly.

use mongodb::bson::{doc, Document, RawDocumentBuf};
use mongodb::Collection;

use super::index_cache::IndexCache;
use super::indexes::Indexes;
use super::key_values::key_value;
use crate::key_pattern::is_plain;
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
                    || index.key.keys().map(String::as_str).eq(dup.fields()) =>
            {
                // Geo, text and hashed keys are not the values the document holds.
                if is_plain(&index.key) {
                    Pattern::Known(index.key.clone())
                } else {
                    Pattern::Never
                }
            }
            _ => Pattern::Unknown,
        },
    }
}

/// Gives each duplicate the key pattern and the exact value it collided on, read out of
/// `sent` (the document at the duplicate's position in its batch, or the only one).
///
/// Reads `listIndexes` only when a named index is not in the cached list, at most once per
/// call. When the list cannot be read, or a key path meets an array, the duplicate keeps what
/// the message said.
pub(crate) async fn exact_keys<T: Send + Sync>(
    coll: &Collection<T>,
    cache: &IndexCache,
    dups: Vec<DuplicateKey>,
    sent: &[RawDocumentBuf],
) -> Vec<DuplicateKey> {
    let mut cached = cache.cached(coll.namespace());
    let mut patterns = patterns(cached.current().as_deref(), &dups);
    if patterns.iter().any(|p| matches!(p, Pattern::Unknown)) {
        if let Ok(indexes) = cached.refresh(coll).await {
            refine(&mut patterns, &indexes, &dups);
        }
    }
    apply(dups, patterns, sent)
}

/// Each duplicate's pattern as far as `indexes` (the cached list, if any) tells.
fn patterns(indexes: Option<&Indexes>, dups: &[DuplicateKey]) -> Vec<Pattern> {
    dups.iter().map(|d| pattern(indexes, d)).collect()
}

/// Looks the unknown patterns up again in a list read since.
fn refine(patterns: &mut [Pattern], indexes: &Indexes, dups: &[DuplicateKey]) {
    for (slot, dup) in patterns.iter_mut().zip(dups) {
        if matches!(slot, Pattern::Unknown) {
            *slot = pattern(Some(indexes), dup);
        }
    }
}

/// Gives each duplicate with a known pattern its exact value, read out of `sent`.
fn apply(
    dups: Vec<DuplicateKey>,
    patterns: Vec<Pattern>,
    sent: &[RawDocumentBuf],
) -> Vec<DuplicateKey> {
    dups.into_iter()
        .zip(patterns)
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
