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
    if !index.is_scoped() {
        return Ok(());
    }
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

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, Document};
    use mongodb::options::UpdateModifications;

    use super::stays_inside;
    use crate::index::Index;
    use crate::Refusal;

    fn index(spec: Document) -> Index {
        Index::from_spec(spec).unwrap()
    }

    fn check(
        index: &Index,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Result<(), Refusal> {
        stays_inside(index, &filter, &update.into())
    }

    fn outside(index: &str, condition: &str) -> Result<(), Refusal> {
        Err(Refusal::OutsidePartialFilter {
            index: index.into(),
            condition: condition.into(),
        })
    }

    #[test]
    fn a_partial_index_takes_an_upsert_whose_insert_provably_matches_its_filter() {
        let active = index(doc! {
            "key": { "email": 1 }, "name": "email_active", "unique": true,
            "partialFilterExpression": { "active": true, "email": { "$type": "string" } },
        });
        let by_email = || doc! { "email": "a@b.c" };
        assert_eq!(
            check(
                &active,
                by_email(),
                doc! { "$setOnInsert": { "active": true } }
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &active,
                by_email(),
                doc! { "$set": { "active": true }, "$inc": { "n": 1 } }
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &active,
                doc! { "email": "a@b.c", "active": true },
                doc! { "$inc": { "n": 1 } }
            ),
            Ok(())
        );
        assert_eq!(
            check(&active, by_email(), doc! { "$inc": { "n": 1 } }),
            outside("email_active", "active")
        );
        assert_eq!(
            check(&active, by_email(), doc! { "$set": { "active": false } }),
            outside("email_active", "active")
        );
        // Another operator writes the path: its value cannot be told.
        assert_eq!(
            check(
                &active,
                by_email(),
                doc! { "$setOnInsert": { "active": true }, "$unset": { "active": "" } }
            ),
            outside("email_active", "active")
        );
        // A pipeline can write anything.
        assert_eq!(
            check(
                &active,
                by_email(),
                vec![doc! { "$set": { "active": true } }]
            ),
            outside("email_active", "active")
        );
        // The key itself outside the filter.
        assert_eq!(
            check(
                &active,
                doc! { "email": 5 },
                doc! { "$setOnInsert": { "active": true } }
            ),
            outside("email_active", "email")
        );
    }

    #[test]
    fn a_partial_filter_outside_the_evaluated_subset_is_refused() {
        let odd = index(doc! {
            "key": { "k": 1 }, "name": "k_odd", "unique": true,
            "partialFilterExpression": { "$expr": { "$eq": ["$a", 1] } },
        });
        assert_eq!(
            check(&odd, doc! { "k": 1 }, doc! { "$set": { "a": 1 } }),
            outside("k_odd", "$expr")
        );
    }

    #[test]
    fn a_sparse_index_takes_only_a_non_null_key_the_update_leaves_alone() {
        let sparse = index(
            doc! { "key": { "email": 1 }, "name": "email_sparse", "unique": true, "sparse": true },
        );
        let missing = |field: &str| {
            Err(Refusal::SparseKeyMissing {
                index: "email_sparse".into(),
                field: field.into(),
            })
        };
        assert_eq!(
            check(
                &sparse,
                doc! { "email": "a@b.c" },
                doc! { "$inc": { "n": 1 } }
            ),
            Ok(())
        );
        assert_eq!(
            check(&sparse, doc! { "email": null }, doc! { "$inc": { "n": 1 } }),
            missing("email")
        );
        assert_eq!(
            check(
                &sparse,
                doc! { "email": "a" },
                doc! { "$unset": { "email": "" } }
            ),
            missing("email")
        );
        assert_eq!(
            check(
                &sparse,
                doc! { "email": "a" },
                doc! { "$set": { "email": null } }
            ),
            missing("email")
        );
        assert_eq!(
            check(
                &sparse,
                doc! { "email": "a" },
                vec![doc! { "$set": { "n": 1 } }]
            ),
            missing("email")
        );
    }

    #[test]
    fn a_full_index_takes_any_upsert() {
        let full = index(doc! { "key": { "email": 1 }, "name": "email_1", "unique": true });
        assert_eq!(
            check(
                &full,
                doc! { "email": null },
                vec![doc! { "$set": { "n": 1 } }]
            ),
            Ok(())
        );
    }
}
