//! [`UpsertByUnique`]: one atomic find-or-insert keyed by a unique index.

// `UpsertError` is large on purpose (see its definition).
#![allow(clippy::result_large_err)]

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use mongodb::bson::{doc, oid::ObjectId, Bson, Document, RawDocument, RawDocumentBuf};
use mongodb::error::ErrorKind;
use mongodb::options::{ReturnDocument, UpdateModifications};
use mongodb::{ClientSession, Collection};
use serde::de::DeserializeOwned;

use super::error::UpsertError;
use super::index_cache::{self, Index, Indexes};
use super::private::Sealed;
use crate::key_pattern::is_plain;
use crate::DuplicateKey;

/// Attempts per call when the server does not retry a duplicate-key race itself.
const MAX_ATTEMPTS: usize = 4;

/// `NoSuchTransaction`: a statement in a transaction the server has aborted.
const NO_SUCH_TRANSACTION: i32 = 251;

/// Whether an upsert inserted a document or updated the one it found.
///
/// # Examples
///
/// ```no_run
/// use dupkey::{UpsertByUnique, UpsertOutcome};
/// use mongodb::bson::{doc, Document};
///
/// # async fn run(users: mongodb::Collection<Document>) -> Result<(), dupkey::UpsertError> {
/// let upserted = users
///     .upsert_by_unique(doc! { "email": "ann@example.com" }, doc! { "$inc": { "logins": 1 } })
///     .await?;
/// if upserted.outcome() == UpsertOutcome::Inserted {
///     println!("first login");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpsertOutcome {
    /// No document had the key: one was inserted.
    Inserted,
    /// The document with the key was updated (possibly to the same values).
    Updated,
}

/// What an upsert did: [`outcome`](Self::outcome), the document's [`id`](Self::id) and, when
/// it updated, the document as it was before ([`previous`](Self::previous)), like
/// `HashMap::insert` returns the value it replaced.
///
/// The document before, not after: only the pre-image says exactly whether the upsert
/// inserted (there was none) while the write stays a single retryable `findAndModify`.
///
/// # Examples
///
/// ```no_run
/// use dupkey::{UpsertByUnique, UpsertOutcome};
/// use mongodb::bson::{doc, Document};
///
/// # async fn run(counters: mongodb::Collection<Document>) -> Result<(), Box<dyn std::error::Error>> {
/// let upserted = counters
///     .upsert_by_unique(doc! { "page": "/home" }, doc! { "$inc": { "hits": 1 } })
///     .await?;
/// match upserted.previous()? {
///     None => println!("new counter {}", upserted.id()),
///     Some(before) => println!("{} hits before", before.get_i32("hits")?),
/// }
/// # Ok(())
/// # }
/// ```
pub struct Upserted<T> {
    outcome: UpsertOutcome,
    id: Bson,
    previous: Option<RawDocumentBuf>,
    _document: PhantomData<fn() -> T>,
}

impl<T> Upserted<T> {
    /// Whether the upsert inserted or updated.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::{UpsertByUnique, UpsertOutcome};
    /// # use mongodb::bson::{doc, Document};
    /// # async fn run(c: mongodb::Collection<Document>) -> Result<(), dupkey::UpsertError> {
    /// let upserted = c.upsert_by_unique(doc! { "sku": "A1" }, doc! { "$set": { "qty": 3 } }).await?;
    /// assert_eq!(upserted.outcome(), UpsertOutcome::Inserted);
    /// # Ok(())
    /// # }
    /// ```
    pub fn outcome(&self) -> UpsertOutcome {
        self.outcome
    }

    /// The document's `_id`: the inserted one's or the updated one's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::UpsertByUnique;
    /// # use mongodb::bson::{doc, Bson, Document};
    /// # async fn run(c: mongodb::Collection<Document>) -> Result<(), dupkey::UpsertError> {
    /// let upserted = c.upsert_by_unique(doc! { "_id": "cfg" }, doc! { "$set": { "on": true } }).await?;
    /// assert_eq!(upserted.id(), &Bson::from("cfg"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn id(&self) -> &Bson {
        &self.id
    }

    /// The updated document as it was before, as BSON; `None` when the upsert inserted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::UpsertByUnique;
    /// # use mongodb::bson::{doc, Document};
    /// # async fn run(c: mongodb::Collection<Document>) -> Result<(), Box<dyn std::error::Error>> {
    /// let upserted = c.upsert_by_unique(doc! { "sku": "A1" }, doc! { "$set": { "qty": 3 } }).await?;
    /// if let Some(before) = upserted.previous_raw() {
    ///     println!("qty was {}", before.get_i32("qty")?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn previous_raw(&self) -> Option<&RawDocument> {
        self.previous.as_deref()
    }
}

impl<T: DeserializeOwned> Upserted<T> {
    /// The updated document as it was before, as a `T`; `None` when the upsert inserted.
    ///
    /// Read on demand: a document that does not fit `T` is an error here, not a failed
    /// upsert (the write happened).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::UpsertByUnique;
    /// # use mongodb::bson::{doc, Document};
    /// # async fn run(c: mongodb::Collection<Document>) -> Result<(), Box<dyn std::error::Error>> {
    /// let upserted = c.upsert_by_unique(doc! { "sku": "A1" }, doc! { "$set": { "qty": 3 } }).await?;
    /// let before: Option<Document> = upserted.previous()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn previous(&self) -> mongodb::error::Result<Option<T>> {
        self.previous
            .as_ref()
            .map(|raw| crate::bson_compat::from_raw(raw))
            .transpose()
    }
}

impl<T> Clone for Upserted<T> {
    fn clone(&self) -> Self {
        Upserted {
            outcome: self.outcome,
            id: self.id.clone(),
            previous: self.previous.clone(),
            _document: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Upserted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upserted")
            .field("outcome", &self.outcome)
            .field("id", &self.id)
            .field("previous", &self.previous)
            .finish()
    }
}

/// Upserts by a unique key: finds the document whose unique key equals the filter and
/// updates it, or inserts one, atomically (one `findAndModify` with `upsert: true`).
///
/// Before it writes, it checks that the filter is made of plain equality values on exactly
/// the key fields of a unique index of the collection (nested paths and compound keys
/// included; `_id` is unique). A filter on a field no unique index covers is the classic
/// cause of surprise E11000 errors and of duplicate documents: it is refused, as are an empty
/// filter, operators (`{ "email": { "$in": [..] } }`), fields beyond the unique key and an
/// update without update operators (a replacement). See [`UpsertError`].
///
/// When two writers upsert the same new key at once, one inserts and the other gets E11000.
/// MongoDB 4.2+ retries that itself only for an exact equality filter without a collation;
/// this helper retries the rest (a few times, at once: the winner's document is there), and
/// uses the index's collation for its query, so `{ name: "ALICE" }` finds `"alice"` under a
/// case-insensitive unique index. A collision on another unique index, one caused by an
/// update that writes the key's fields, or one that outlives the retries, is
/// [`UpsertError::Duplicate`].
///
/// A partial unique index counts (a full one is preferred when both exist), but it keeps
/// keys unique only among the documents its `partialFilterExpression` covers: make sure the
/// upserted document is one of them.
///
/// The filter's `_id`, the update's `$set`/`$setOnInsert` `_id`, or else an `ObjectId` the
/// helper adds with `$setOnInsert` (for a pipeline, a first `$set` stage that keeps an
/// existing `_id`) is the id of an inserted document, known before the write. A pipeline that
/// drops `_id` (`$replaceWith`, `$project`, `$unset`) lets the server pick another id on
/// insert, which the result would not report: keep `_id` in such pipelines.
///
/// Round trips: one `findAndModify` per call once the collection's index list is cached
/// (`listIndexes`, cached per namespace for the process, read again once before a filter is
/// refused, so an index created since is seen).
///
/// This trait is sealed: only [`mongodb::Collection`] implements it.
///
/// # Examples
///
/// ```no_run
/// use dupkey::{UpsertByUnique, UpsertOutcome};
/// use mongodb::bson::{doc, Document};
///
/// # async fn run(users: mongodb::Collection<Document>) -> Result<(), dupkey::UpsertError> {
/// // With a unique index on { email: 1 }:
/// let upserted = users
///     .upsert_by_unique(
///         doc! { "email": "ann@example.com" },
///         doc! { "$set": { "name": "Ann" }, "$inc": { "logins": 1 } },
///     )
///     .await?;
/// println!("{:?} {}", upserted.outcome(), upserted.id());
/// # Ok(())
/// # }
/// ```
pub trait UpsertByUnique<T>: Sealed {
    /// Updates the document whose unique key equals `filter`, or inserts one.
    ///
    /// `update` is an update document (operators: `$set`, `$inc`, ...) or a pipeline.
    ///
    /// Equivalent to:
    ///
    /// ```ignore
    /// async fn upsert_by_unique(
    ///     &self,
    ///     filter: Document,
    ///     update: impl Into<UpdateModifications>,
    /// ) -> Result<Upserted<T>, UpsertError>;
    /// ```
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::UpsertByUnique;
    /// use mongodb::bson::{doc, Document};
    ///
    /// # async fn run(stock: mongodb::Collection<Document>) -> Result<(), dupkey::UpsertError> {
    /// // With a unique index on { warehouse: 1, sku: 1 }:
    /// stock
    ///     .upsert_by_unique(doc! { "warehouse": 4, "sku": "A1" }, doc! { "$inc": { "qty": 10 } })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    fn upsert_by_unique(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> impl Future<Output = Result<Upserted<T>, UpsertError>> + Send;

    /// Updates the document whose unique key equals `filter`, or inserts one, in `session`.
    ///
    /// # Transactions
    ///
    /// A duplicate key aborts the server's transaction. When `session` is in a transaction
    /// and this returns [`UpsertError::Duplicate`], **the transaction is over**: nothing it
    /// wrote is kept and `commit_transaction` fails with `NoSuchTransaction` (code 251). Call
    /// `abort_transaction`, or return an error from an `and_run` callback (its commit would
    /// otherwise be retried until its time limit). Inside a transaction the helper cannot
    /// retry a race (the retry finds the transaction aborted and it reports the duplicate);
    /// concurrent transactions upserting one key mostly see a `WriteConflict` instead, which
    /// is passed through with its `TransientTransactionError` label.
    ///
    /// Equivalent to:
    ///
    /// ```ignore
    /// async fn upsert_by_unique_with_session(
    ///     &self,
    ///     filter: Document,
    ///     update: impl Into<UpdateModifications>,
    ///     session: &mut ClientSession,
    /// ) -> Result<Upserted<T>, UpsertError>;
    /// ```
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::{UpsertByUnique, UpsertError};
    /// use mongodb::bson::{doc, Document};
    ///
    /// # async fn run(client: mongodb::Client, users: mongodb::Collection<Document>) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut session = client.start_session().await?;
    /// session.start_transaction().await?;
    /// let upserted = users
    ///     .upsert_by_unique_with_session(doc! { "email": "a@b.c" }, doc! { "$set": { "plan": "pro" } }, &mut session)
    ///     .await;
    /// match upserted {
    ///     Ok(_) => session.commit_transaction().await?,
    ///     Err(err) => {
    ///         session.abort_transaction().await?;
    ///         return Err(err.into());
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn upsert_by_unique_with_session(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
        session: &mut ClientSession,
    ) -> impl Future<Output = Result<Upserted<T>, UpsertError>> + Send;
}

impl<T: Send + Sync> UpsertByUnique<T> for Collection<T> {
    fn upsert_by_unique(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> impl Future<Output = Result<Upserted<T>, UpsertError>> + Send {
        upsert(self, filter, update.into(), None)
    }

    fn upsert_by_unique_with_session(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
        session: &mut ClientSession,
    ) -> impl Future<Output = Result<Upserted<T>, UpsertError>> + Send {
        upsert(self, filter, update.into(), Some(session))
    }
}

async fn upsert<T: Send + Sync>(
    coll: &Collection<T>,
    filter: Document,
    update: UpdateModifications,
    mut session: Option<&mut ClientSession>,
) -> Result<Upserted<T>, UpsertError> {
    let fields = equality_fields(&filter)?;
    let (update, inserted_id) = prepare_update(&filter, update)?;
    let indexes = unique_indexes(coll, &fields).await?;
    let index = unique_index(&indexes, &fields)?;
    let key_written = writes_key(index, &update);

    let raw = coll.clone_with_type::<RawDocumentBuf>();
    let mut collided = None;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut action = raw
            .find_one_and_update(filter.clone(), update.clone())
            .upsert(true)
            .return_document(ReturnDocument::Before);
        if let Some(collation) = &index.collation {
            action = action.collation(collation.clone());
        }
        let result = match session.as_deref_mut() {
            Some(session) => action.session(session).await,
            None => action.await,
        };
        let err = match result {
            Ok(previous) => return Upserted::new(previous, inserted_id),
            Err(err) => err,
        };
        let exact = |dup| UpsertError::Duplicate(exact_key(dup, index, &filter, key_written));
        match DuplicateKey::from_error(&err) {
            // The race on the filter's own key: the winner's document is there now.
            Some(dup) if key_written != Some(true) && collided_on(&dup, index) => {
                if attempts == MAX_ATTEMPTS {
                    return Err(exact(dup));
                }
                collided = Some(dup);
            }
            Some(dup) => return Err(UpsertError::Duplicate(dup)),
            None => {
                return Err(match collided.take() {
                    // The retry ran in the transaction that the duplicate aborted.
                    Some(dup) if is_no_such_transaction(&err) => exact(dup),
                    _ => UpsertError::Driver(err),
                });
            }
        }
    }
}

/// The filter's fields, when each holds a plain equality value.
fn equality_fields(filter: &Document) -> Result<Vec<&str>, UpsertError> {
    if filter.is_empty() {
        return Err(UpsertError::EmptyFilter);
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
                Err(UpsertError::NotEquality {
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
) -> Result<(UpdateModifications, Bson), UpsertError> {
    match update {
        UpdateModifications::Document(mut update) => {
            if update.is_empty() || update.keys().any(|k| !k.starts_with('$')) {
                return Err(UpsertError::NotAnUpdate);
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
                return Err(UpsertError::NotAnUpdate);
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
        _ => Err(UpsertError::NotAnUpdate),
    }
}

/// The `_id` the update itself sets with `$set` or `$setOnInsert`.
fn set_id(update: &Document) -> Option<&Bson> {
    ["$setOnInsert", "$set"]
        .into_iter()
        .find_map(|op| update.get_document(op).ok()?.get("_id"))
}

/// The collection's indexes, read again once when none is unique on `fields`.
async fn unique_indexes<T: Send + Sync>(
    coll: &Collection<T>,
    fields: &[&str],
) -> Result<Arc<Indexes>, UpsertError> {
    let mut cached = index_cache::cached(coll);
    match cached.current() {
        Some(indexes) if indexes.unique_on(fields).is_some() => Ok(indexes),
        _ => cached.refresh(coll).await.map_err(UpsertError::Driver),
    }
}

fn unique_index<'a>(indexes: &'a Indexes, fields: &[&str]) -> Result<&'a Index, UpsertError> {
    if let Some(index) = indexes.unique_on(fields) {
        return Ok(index);
    }
    Err(match indexes.unique_within(fields) {
        Some(index) => UpsertError::ExtraFields {
            index: index.name.clone(),
            extra: fields
                .iter()
                .filter(|f| !index.key.contains_key(f))
                .map(|f| (*f).to_owned())
                .collect(),
        },
        None => UpsertError::NotUnique {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        },
    })
}

/// Whether `dup` is a collision on `index` (the race a retry resolves).
fn collided_on(dup: &DuplicateKey, index: &Index) -> bool {
    match (dup.index(), dup.key_pattern()) {
        (Some(name), _) => name == index.name,
        (None, Some(pattern)) => pattern.keys().eq(index.key.keys()),
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
        index.key.keys().any(|field| {
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

/// A collision on the filter's own index, by an update that leaves the key fields alone,
/// has the filter's values as its key: the value the caller sent (under a collation, the
/// server only has collation keys).
fn exact_key(
    dup: DuplicateKey,
    index: &Index,
    filter: &Document,
    key_written: Option<bool>,
) -> DuplicateKey {
    if key_written != Some(false) || !is_plain(&index.key) {
        return dup;
    }
    let value: Option<Document> = index
        .key
        .keys()
        .map(|field| Some((field.clone(), filter.get(field)?.clone())))
        .collect();
    match value {
        Some(value) => dup.with_key(index.key.clone(), value),
        None => dup,
    }
}

impl<T> Upserted<T> {
    fn new(previous: Option<RawDocumentBuf>, inserted_id: Bson) -> Result<Self, UpsertError> {
        let (outcome, id) = match &previous {
            None => (UpsertOutcome::Inserted, inserted_id),
            Some(before) => {
                let id = before
                    .get("_id")
                    .ok()
                    .flatten()
                    .and_then(|id| Bson::try_from(id).ok())
                    .ok_or_else(|| UpsertError::Driver(crate::bson_compat::missing_field("_id")))?;
                (UpsertOutcome::Updated, id)
            }
        };
        Ok(Upserted {
            outcome,
            id,
            previous,
            _document: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
    use mongodb::options::UpdateModifications;

    use super::{equality_fields, prepare_update};
    use crate::UpsertError;

    fn not_equality(filter: Document) -> String {
        match equality_fields(&filter) {
            Err(UpsertError::NotEquality { field }) => field,
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
            Err(UpsertError::EmptyFilter)
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
                Err(UpsertError::NotAnUpdate)
            ));
        }
    }
}
