//! Whether an upsert stays inside the unique index that backs it.
//!
//! A partial or sparse unique index refuses a duplicate only among the documents it holds.
//! Two racing upserts whose new document falls outside it both find nothing and both insert:
//! two documents for one key. So an upsert is taken on such an index only when the document
//! it would insert provably is one the index holds:
//! - partial: the filter's equality values, then `$setOnInsert` and `$set` values, make up
//!   the document an insert starts from; every path another operator writes (or a pipeline,
//!   all of them) is not known; the partial filter must be proven on that (`index::scope`);
//! - sparse: no key field may be null or missing in the filter, nor written by the update.

use mongodb::bson::{Bson, Document};
use mongodb::options::UpdateModifications;

use super::Refusal;
use crate::index::scope::{proves, Known};
use crate::index::Index;

/// `Ok` when an upsert of `filter` and `update` can only insert a document `index` holds.
pub(crate) fn stays_inside(
    index: &Index,
    filter: &Document,
    update: &UpdateModifications,
) -> Result<(), Refusal> {
    let inserted = inserted(filter, update);
    if index.sparse() {
        if let Some(field) = index.key().keys().find(|f| !inserted.holds_non_null(f)) {
            return Err(Refusal::SparseKeyMissing {
                index: index.name().to_owned(),
                field: field.clone(),
            });
        }
    }
    if let Some(partial) = index.partial_filter() {
        if let Err(condition) = proves(partial, &inserted) {
            return Err(Refusal::OutsidePartialFilter {
                index: index.name().to_owned(),
                condition,
            });
        }
    }
    Ok(())
}

/// What the upsert would insert, as far as it can be told.
fn inserted(filter: &Document, update: &UpdateModifications) -> Known {
    let mut known = Known::default();
    for (path, value) in filter {
        known.set(path, value.clone());
    }
    match update {
        UpdateModifications::Document(update) => {
            for (op, spec) in update {
                let Bson::Document(spec) = spec else { continue };
                for (path, value) in spec {
                    match op.as_str() {
                        "$set" | "$setOnInsert" => known.set(path, value.clone()),
                        _ => known.unknown(path),
                    }
                }
            }
        }
        // A pipeline can write any path.
        _ => known.forget_all(),
    }
    known
}
