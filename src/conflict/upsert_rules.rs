//! The upsert's rules, which do no I/O: which filters and updates it takes, which unique
//! index backs a filter, and what to do after the server refuses a write.

use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{FindOneAndUpdateOptions, ReturnDocument, UpdateModifications};

use super::upsert_scope::stays_inside;
use super::{Error, Refusal};
use crate::index::{Index, Indexes};
use crate::key_pattern::is_plain;
use crate::DuplicateKey;

/// Attempts per call when the server does not retry a duplicate-key race itself.
pub(crate) const MAX_ATTEMPTS: usize = 4;

/// `NoSuchTransaction`: a statement in a transaction the server has aborted.
const NO_SUCH_TRANSACTION: i32 = 251;

/// A checked upsert: the filter, the update with the `_id` an insert will have, and the
/// unique index that backs the filter.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) filter: Document,
    pub(crate) update: UpdateModifications,
    pub(crate) inserted_id: Bson,
    pub(crate) index: Index,
    key_written: Option<bool>,
    /// Whether the collection's default collation is the index's: then the query compares
    /// as the index does without a collation sent.
    default_is_index_collation: bool,
}

/// A filter and an update that passed the checks that need no index list.
#[derive(Debug)]
pub(crate) struct Checked {
    filter: Document,
    update: UpdateModifications,
    inserted_id: Bson,
}

impl Checked {
    /// Checks `filter` and `update`, and gives the update the `_id` an insert will have.
    pub(crate) fn new(filter: Document, update: UpdateModifications) -> Result<Self, Refusal> {
        equality_fields(&filter)?;
        let (update, inserted_id) = prepare_update(&filter, update)?;
        Ok(Checked {
            filter,
            update,
            inserted_id,
        })
    }

    /// The filter's fields.
    pub(crate) fn fields(&self) -> Vec<&str> {
        self.filter.keys().map(String::as_str).collect()
    }

    /// Whether a unique index of `indexes` backs this upsert (on exactly the filter's
    /// fields, and holding the document an insert would make): a list that does not is read
    /// again before the upsert is refused.
    pub(crate) fn backed_by(&self, indexes: &Indexes) -> bool {
        backing_index(indexes, &self.fields(), &self.filter, &self.update).is_ok()
    }

    /// The plan on the unique index of `indexes` that backs the filter, or the refusal: the
    /// first unique index on the filter's fields (full before partial or sparse) that the
    /// document an insert would make stays inside.
    pub(crate) fn plan(self, indexes: &Indexes) -> Result<Plan, Refusal> {
        let index = backing_index(indexes, &self.fields(), &self.filter, &self.update)?.clone();
        let key_written = writes_key(&index, &self.update);
        let default_is_index_collation = indexes.default_collation() == index.collation_spec();
        Ok(Plan {
            filter: self.filter,
            update: self.update,
            inserted_id: self.inserted_id,
            index,
            key_written,
            default_is_index_collation,
        })
    }
}

/// What to do after a failed attempt.
#[derive(Debug)]
pub(crate) enum Step {
    /// The race on the filter's own key: the winner's document is there now; try again.
    Retry,
    /// Give up with this error.
    Fail(Error),
}

impl Plan {
    /// The caller's options with the helper's own: an upsert, the document before, and the
    /// index's collation (`{ locale: "simple" }` for none) whenever it is not the
    /// collection's default: without it the query compares under the default, and then
    /// finds another document than the one the index would refuse a second of. When the
    /// default is the index's collation, none is sent (the query compares the same, and the
    /// server keeps its fast path for an equality upsert without a collation).
    pub(crate) fn options(&self, mut options: FindOneAndUpdateOptions) -> FindOneAndUpdateOptions {
        options.upsert = Some(true);
        options.return_document = Some(ReturnDocument::Before);
        options.collation = if self.default_is_index_collation {
            None
        } else {
            Some(self.index.query_collation())
        };
        options
    }

    /// What follows a failed attempt (`attempts` made so far). `collided` is the race's
    /// duplicate from an earlier attempt, kept for a retry that finds the transaction gone.
    pub(crate) fn after(
        &self,
        err: mongodb::error::Error,
        attempts: usize,
        collided: &mut Option<DuplicateKey>,
    ) -> Step {
        match DuplicateKey::from_error(&err) {
            Some(dup) if self.key_written != Some(true) && collided_on(&dup, &self.index) => {
                if attempts >= MAX_ATTEMPTS {
                    return Step::Fail(Error::Duplicate(self.exact(dup)));
                }
                *collided = Some(dup);
                Step::Retry
            }
            Some(dup) => Step::Fail(Error::Duplicate(dup)),
            None => Step::Fail(match collided.take() {
                // The retry ran in the transaction that the duplicate aborted.
                Some(dup) if is_no_such_transaction(&err) => Error::Duplicate(self.exact(dup)),
                _ => Error::Driver(err),
            }),
        }
    }

    /// A collision on the filter's own index, by an update that leaves the key fields
    /// alone, has the filter's values as its key: the value the caller sent (under a
    /// collation, the server only has collation keys).
    fn exact(&self, dup: DuplicateKey) -> DuplicateKey {
        if self.key_written != Some(false) || !is_plain(self.index.key()) {
            return dup;
        }
        let value: Option<Document> = self
            .index
            .key()
            .keys()
            .map(|field| Some((field.clone(), self.filter.get(field)?.clone())))
            .collect();
        match value {
            Some(value) => dup.with_key(self.index.key().clone(), value),
            None => dup,
        }
    }
}

/// The filter's fields, when each holds a plain equality value.
pub(crate) fn equality_fields(filter: &Document) -> Result<Vec<&str>, Refusal> {
    if filter.is_empty() {
        return Err(Refusal::EmptyFilter);
    }
    filter
        .iter()
        .map(|(field, value)| {
            let plain = !field.starts_with('$')
                && match value {
                    Bson::Document(inner) => !inner.keys().any(|k| k.starts_with('$')),
                    Bson::RegularExpression(_) | Bson::Array(_) => false,
                    _ => true,
                };
            if plain {
                Ok(field.as_str())
            } else {
                Err(Refusal::NotEquality {
                    field: field.clone(),
                })
            }
        })
        .collect()
}

/// Checks `update` and gives it the `_id` an inserted document will have.
fn prepare_update(
    filter: &Document,
    update: UpdateModifications,
) -> Result<(UpdateModifications, Bson), Refusal> {
    match update {
        UpdateModifications::Document(mut update) => {
            if update.is_empty() || update.keys().any(|k| !k.starts_with('$')) {
                return Err(Refusal::NotAnUpdate);
            }
            let id = match filter.get("_id").or_else(|| set_id(&update)) {
                Some(id) => id.clone(),
                None => {
                    let id = ObjectId::new();
                    match update.get_mut("$setOnInsert") {
                        Some(Bson::Document(on_insert)) => {
                            on_insert.insert("_id", id);
                        }
                        // Not a document: the server refuses the update, nothing is inserted.
                        Some(_) => {}
                        None => {
                            update.insert("$setOnInsert", doc! { "_id": id });
                        }
                    }
                    Bson::ObjectId(id)
                }
            };
            Ok((UpdateModifications::Document(update), id))
        }
        UpdateModifications::Pipeline(mut stages) => {
            if stages.is_empty() {
                return Err(Refusal::NotAnUpdate);
            }
            let id = match filter.get("_id") {
                Some(id) => id.clone(),
                None => {
                    let id = ObjectId::new();
                    let keep_or_set = doc! { "$set": { "_id": { "$ifNull": ["$_id", id] } } };
                    stages.insert(0, keep_or_set);
                    Bson::ObjectId(id)
                }
            };
            Ok((UpdateModifications::Pipeline(stages), id))
        }
        // `UpdateModifications` is non-exhaustive: what this version does not know is not an
        // update it can check.
        _ => Err(Refusal::NotAnUpdate),
    }
}

/// The `_id` the update itself sets with `$set` or `$setOnInsert`.
fn set_id(update: &Document) -> Option<&Bson> {
    ["$setOnInsert", "$set"]
        .into_iter()
        .find_map(|op| update.get_document(op).ok()?.get("_id"))
}

/// The unique index on exactly `fields` that backs an upsert best (full before partial or
/// sparse, simple before collated), or why there is none. Whether the upsert stays inside a
/// partial or sparse one is [`stays_inside`]'s question.
pub(crate) fn unique_index<'a>(
    indexes: &'a Indexes,
    fields: &[&str],
) -> Result<&'a Index, Refusal> {
    if let Some(index) = indexes.unique_on(fields).first() {
        return Ok(index);
    }
    Err(match indexes.unique_within(fields) {
        Some(index) => Refusal::ExtraFields {
            index: index.name().to_owned(),
            extra: fields
                .iter()
                .filter(|f| !index.key().contains_key(f))
                .map(|f| (*f).to_owned())
                .collect(),
        },
        None => Refusal::NotUnique {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        },
    })
}

/// The unique index that backs an upsert of `filter` (whose fields are `fields`) and
/// `update`: the first of [`Indexes::unique_on`] the document an insert would make stays
/// inside; or why there is none.
pub(crate) fn backing_index<'a>(
    indexes: &'a Indexes,
    fields: &[&str],
    filter: &Document,
    update: &UpdateModifications,
) -> Result<&'a Index, Refusal> {
    let best = unique_index(indexes, fields)?;
    let inside = indexes
        .unique_on(fields)
        .into_iter()
        .find(|index| stays_inside(index, filter, update).is_ok());
    match inside {
        Some(index) => Ok(index),
        // None stays inside: the best one's refusal says why.
        None => stays_inside(best, filter, update).map(|()| best),
    }
}

/// Whether `dup` is a collision on `index` (the race a retry resolves).
fn collided_on(dup: &DuplicateKey, index: &Index) -> bool {
    match (dup.index(), dup.key_pattern()) {
        (Some(name), _) => name == index.name(),
        (None, Some(pattern)) => pattern.keys().eq(index.key().keys()),
        (None, None) => true,
    }
}

fn is_no_such_transaction(err: &mongodb::error::Error) -> bool {
    matches!(&*err.kind, ErrorKind::Command(e) if e.code == NO_SUCH_TRANSACTION)
}

/// Whether `update` writes one of the index's key fields (or a path above or below one):
/// then a collision on the index is not the race on the filter's key, and the key it
/// collided on is not the filter's. `None` for a pipeline, which cannot be told.
fn writes_key(index: &Index, update: &UpdateModifications) -> Option<bool> {
    let UpdateModifications::Document(update) = update else {
        return None;
    };
    let touches = |path: &str| {
        index.key().keys().any(|field| {
            let below = |a: &str, b: &str| a.strip_prefix(b).is_some_and(|r| r.starts_with('.'));
            path == field || below(path, field) || below(field, path)
        })
    };
    Some(
        update
            .values()
            .filter_map(Bson::as_document)
            .any(|spec| spec.keys().any(|path| touches(path))),
    )
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
    use mongodb::options::UpdateModifications;

    use super::{equality_fields, prepare_update};
    use crate::Refusal;

    fn not_equality(filter: Document) -> String {
        match equality_fields(&filter) {
            Err(Refusal::NotEquality { field }) => field,
            other => panic!("expected NotEquality, got {other:?}"),
        }
    }

    #[test]
    fn plain_equalities_give_their_fields() {
        let filter =
            doc! { "tenant": 3, "profile.email": "a@b.c", "addr": { "city": "Oslo" }, "x": null };
        assert_eq!(
            equality_fields(&filter).unwrap(),
            ["tenant", "profile.email", "addr", "x"]
        );
    }

    #[test]
    fn operators_regexes_and_arrays_are_refused() {
        assert_eq!(
            not_equality(doc! { "email": { "$in": ["a", "b"] } }),
            "email"
        );
        assert_eq!(not_equality(doc! { "a": 1, "$or": [{ "a": 1 }] }), "$or");
        assert_eq!(
            not_equality(doc! { "email": { "x": 1, "$eq": 2 } }),
            "email"
        );
        assert_eq!(
            not_equality(
                doc! { "email": Bson::RegularExpression(crate::bson_compat::regex("^a", "").unwrap()) }
            ),
            "email"
        );
        assert_eq!(not_equality(doc! { "tags": ["a"] }), "tags");
        assert!(matches!(
            equality_fields(&doc! {}),
            Err(Refusal::EmptyFilter)
        ));
    }

    fn update_doc(update: UpdateModifications) -> Document {
        match update {
            UpdateModifications::Document(d) => d,
            other => panic!("expected a document, got {other:?}"),
        }
    }

    #[test]
    fn an_id_is_added_on_insert_only() {
        let (update, id) =
            prepare_update(&doc! { "email": "a" }, doc! { "$inc": { "n": 1 } }.into()).unwrap();
        let Bson::ObjectId(oid) = id else {
            panic!("expected an ObjectId, got {id:?}")
        };
        assert_eq!(
            update_doc(update),
            doc! { "$inc": { "n": 1 }, "$setOnInsert": { "_id": oid } }
        );

        let (update, id) = prepare_update(
            &doc! { "email": "a" },
            doc! { "$setOnInsert": { "created": 1 } }.into(),
        )
        .unwrap();
        let Bson::ObjectId(oid) = id else {
            panic!("expected an ObjectId, got {id:?}")
        };
        assert_eq!(
            update_doc(update),
            doc! { "$setOnInsert": { "created": 1, "_id": oid } }
        );
    }

    #[test]
    fn a_given_id_is_used() {
        let (update, id) =
            prepare_update(&doc! { "_id": 5 }, doc! { "$set": { "n": 1 } }.into()).unwrap();
        assert_eq!(
            (update_doc(update), id),
            (doc! { "$set": { "n": 1 } }, Bson::Int32(5))
        );

        let oid = ObjectId::new();
        let update = doc! { "$setOnInsert": { "_id": oid }, "$set": { "n": 1 } };
        let (sent, id) = prepare_update(&doc! { "email": "a" }, update.clone().into()).unwrap();
        assert_eq!((update_doc(sent), id), (update, Bson::ObjectId(oid)));
    }

    #[test]
    fn pipelines_get_a_first_stage_that_keeps_an_existing_id() {
        let (update, id) =
            prepare_update(&doc! { "k": 1 }, vec![doc! { "$set": { "n": 1 } }].into()).unwrap();
        let UpdateModifications::Pipeline(stages) = update else {
            panic!("pipeline expected")
        };
        let Bson::ObjectId(oid) = id else {
            panic!("expected an ObjectId, got {id:?}")
        };
        assert_eq!(
            stages,
            [
                doc! { "$set": { "_id": { "$ifNull": ["$_id", oid] } } },
                doc! { "$set": { "n": 1 } }
            ]
        );
    }

    #[test]
    fn replacements_and_empty_updates_are_refused() {
        for update in [
            UpdateModifications::Document(doc! { "name": "Ann" }),
            UpdateModifications::Document(doc! { "$set": { "a": 1 }, "name": "Ann" }),
            UpdateModifications::Document(doc! {}),
            UpdateModifications::Pipeline(vec![]),
        ] {
            assert!(matches!(
                prepare_update(&doc! { "k": 1 }, update),
                Err(Refusal::NotAnUpdate)
            ));
        }
    }
}

#[cfg(test)]
mod collation_tests {
    use mongodb::bson::{doc, Document};
    use mongodb::options::FindOneAndUpdateOptions;

    use super::Checked;
    use crate::index::Indexes;

    /// The collation the upsert on `{ name }` sends, with `specs` listed.
    fn sent(specs: Vec<Document>) -> Option<Document> {
        let checked =
            Checked::new(doc! { "name": "Bob" }, doc! { "$inc": { "n": 1 } }.into()).unwrap();
        let plan = checked.plan(&Indexes::from_specs(specs)).unwrap();
        let options = plan.options(FindOneAndUpdateOptions::default());
        options
            .collation
            .map(|c| crate::bson_compat::to_document(&c).unwrap())
    }

    #[test]
    fn the_index_collation_is_sent_whenever_the_collection_default_differs() {
        let en2 = doc! { "locale": "en", "strength": 2, "version": "57.1" };
        let id = |collation: Option<&Document>| match collation {
            Some(c) => doc! { "key": { "_id": 1 }, "name": "_id_", "collation": c.clone() },
            None => doc! { "key": { "_id": 1 }, "name": "_id_" },
        };
        let name = |collation: Option<&Document>| match collation {
            Some(c) => {
                doc! { "key": { "name": 1 }, "name": "n", "unique": true, "collation": c.clone() }
            }
            None => doc! { "key": { "name": 1 }, "name": "n", "unique": true },
        };
        // Default and index agree: nothing to send.
        assert_eq!(sent(vec![id(None), name(None)]), None);
        assert_eq!(sent(vec![id(Some(&en2)), name(Some(&en2))]), None);
        // The collection compares case-insensitively, the index byte-wise: simple is sent.
        assert_eq!(
            sent(vec![id(Some(&en2)), name(None)]),
            Some(doc! { "locale": "simple" })
        );
        // The index compares case-insensitively, the collection byte-wise.
        assert_eq!(
            sent(vec![id(None), name(Some(&en2))]),
            Some(doc! { "locale": "en", "strength": 2 })
        );
    }
}
