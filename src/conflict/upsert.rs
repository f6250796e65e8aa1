//! [`UpsertByUnique`] and its action [`Upsert`]: one atomic find-or-insert keyed by a unique
//! index.

use std::fmt;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use mongodb::bson::{Bson, Document, RawDocument, RawDocumentBuf};
use mongodb::options::{FindOneAndUpdateOptions, UpdateModifications};
use mongodb::{ClientSession, Collection};
use serde::de::DeserializeOwned;

use super::index_cache::IndexCache;
use super::private::Sealed;
use super::upsert_rules::{Checked, Step};
use super::{Error, Refusal};
use crate::index::Indexes;

/// Whether an upsert inserted a document or updated the one it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
/// use dupkey::prelude::*;
/// use mongodb::bson::{doc, Document};
///
/// # async fn run(counters: mongodb::Collection<Document>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
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
    pub fn outcome(&self) -> UpsertOutcome {
        self.outcome
    }

    /// The document's `_id`: the inserted one's or the updated one's.
    pub fn id(&self) -> &Bson {
        &self.id
    }

    /// The updated document as it was before, as BSON; `None` when the upsert inserted.
    pub fn previous_raw(&self) -> Option<&RawDocument> {
        self.previous.as_deref()
    }

    pub(crate) fn new(previous: Option<RawDocumentBuf>, inserted_id: Bson) -> Result<Self, Error> {
        let (outcome, id) = match &previous {
            None => (UpsertOutcome::Inserted, inserted_id),
            Some(before) => {
                let id = before
                    .get("_id")
                    .ok()
                    .flatten()
                    .and_then(|id| Bson::try_from(id).ok())
                    .ok_or_else(|| Error::Driver(crate::bson_compat::missing_field("_id")))?;
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

impl<T: DeserializeOwned> Upserted<T> {
    /// The updated document as it was before, as a `T`; `None` when the upsert inserted.
    ///
    /// Read on demand: a document that does not fit `T` is an error here, not a failed
    /// upsert (the write happened).
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
/// update without update operators (a replacement). See [`Refusal`].
///
/// When two writers upsert the same new key at once, one inserts and the other gets E11000.
/// MongoDB 4.2+ retries that itself only for an exact equality filter without a collation;
/// this helper retries the rest (a few times, at once: the winner's document is there), and
/// makes its query compare as the index does, so `{ name: "ALICE" }` finds `"alice"` under a
/// case-insensitive unique index: whenever the collection's default collation is not the
/// index's, it sends the index's (`{ locale: "simple" }` for an index without one), so a
/// collection's default collation never makes the query compare otherwise than the index. A collision on another unique index, one caused by an update that writes the key's
/// fields, or one that outlives the retries, is [`Error::Duplicate`].
///
/// A partial or sparse unique index keeps keys unique only among the documents it holds: two
/// racing upserts whose new document it would not hold both insert. So one backs an upsert
/// (a full one is preferred when both exist) only when the document the upsert would insert
/// provably is one it holds; otherwise the upsert is refused
/// ([`Refusal::OutsidePartialFilter`], [`Refusal::SparseKeyMissing`]). That document is the
/// filter's values with the update's `$setOnInsert` and `$set` values; a path another
/// operator (or a pipeline) writes is not known. A partial filter is evaluated for equality,
/// `$eq`, `$in`, `$exists`, `$type`, `$gt`/`$gte`/`$lt`/`$lte` (numbers, dates), `$and` and
/// `$or`; any other condition is not proven. On a sparse index, every key field must hold a
/// value other than null that the update leaves alone. Put the fields the filter selects on
/// in `$setOnInsert`: `{ "$setOnInsert": { "active": true } }` under
/// `partialFilterExpression: { active: true }`.
///
/// The filter's `_id`, the update's `$set`/`$setOnInsert` `_id`, or else an `ObjectId` the
/// helper adds with `$setOnInsert` (for a pipeline, a first `$set` stage that keeps an
/// existing `_id`) is the id of an inserted document, known before the write. A pipeline that
/// drops `_id` (`$replaceWith`, `$project`, `$unset`) lets the server pick another id on
/// insert, which the result would not report: keep `_id` in such pipelines.
///
/// Round trips: one `findAndModify` per call while the [`IndexCache`] holds a list younger
/// than its maximum age; otherwise one `listIndexes` first. A filter the cached list does not
/// back re-reads the list before it is refused, so an index created since is seen.
///
/// This trait is sealed: only [`mongodb::Collection`] implements it.
pub trait UpsertByUnique<T: Send + Sync>: Sealed {
    /// Updates the document whose unique key equals `filter`, or inserts one. Await the
    /// returned [`Upsert`] action.
    ///
    /// `update` is an update document (operators: `$set`, `$inc`, ...) or a pipeline.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::prelude::*;
    /// use dupkey::UpsertOutcome;
    /// use mongodb::bson::{doc, Document};
    ///
    /// # async fn run(stock: mongodb::Collection<Document>) -> Result<(), dupkey::Error> {
    /// // With a unique index on { warehouse: 1, sku: 1 }:
    /// let upserted = stock
    ///     .upsert_by_unique(doc! { "warehouse": 4, "sku": "A1" }, doc! { "$inc": { "qty": 10 } })
    ///     .await?;
    /// if upserted.outcome() == UpsertOutcome::Inserted {
    ///     println!("new stock line {}", upserted.id());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn upsert_by_unique(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Upsert<'_, T>;
}

impl<T: Send + Sync> UpsertByUnique<T> for Collection<T> {
    fn upsert_by_unique(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Upsert<'_, T> {
        Upsert {
            coll: self,
            checked: Checked::new(filter, update.into()),
            options: FindOneAndUpdateOptions::default(),
            session: None,
            cache: IndexCache::global(),
        }
    }
}

/// An upsert by unique key; made by [`UpsertByUnique::upsert_by_unique`], run by awaiting
/// it.
///
/// Awaiting gives `Result<Upserted<T>, dupkey::Error>`. The helper keeps `upsert`, the
/// returned document and the collation (the index's) to itself.
///
/// # Transactions
///
/// A duplicate key aborts the server's transaction. With [`session`](Self::session) in a
/// transaction, [`Error::Duplicate`] means **the transaction is over**: return it (`?`) from
/// an `and_run` callback. Inside a transaction the helper cannot retry a race (the retry
/// finds the transaction aborted, and it reports the duplicate); concurrent transactions
/// upserting one key mostly see a `WriteConflict` instead, which is passed through with its
/// `TransientTransactionError` label.
#[must_use = "an action does nothing until it is awaited"]
pub struct Upsert<'a, T: Send + Sync> {
    coll: &'a Collection<T>,
    checked: Result<Checked, Refusal>,
    options: FindOneAndUpdateOptions,
    session: Option<&'a mut ClientSession>,
    cache: &'a IndexCache,
}

impl<'a, T: Send + Sync> Upsert<'a, T> {
    super::setters!(common);
    super::setters!(upsert);
}

impl<'a, T: Send + Sync + 'a> IntoFuture for Upsert<'a, T> {
    type Output = Result<Upserted<T>, Error>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<T: Send + Sync> Upsert<'_, T> {
    async fn run(mut self) -> Result<Upserted<T>, Error> {
        let checked = self.checked?;
        let indexes = unique_indexes(self.coll, self.cache, &checked).await?;
        let plan = checked.plan(&indexes)?;
        let options = plan.options(self.options);

        let raw = self.coll.clone_with_type::<RawDocumentBuf>();
        let mut collided = None;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let action = raw
                .find_one_and_update(plan.filter.clone(), plan.update.clone())
                .with_options(options.clone());
            let result = match self.session.as_deref_mut() {
                Some(session) => action.session(session).await,
                None => action.await,
            };
            let err = match result {
                Ok(previous) => return Upserted::new(previous, plan.inserted_id),
                Err(err) => err,
            };
            match plan.after(err, attempts, &mut collided) {
                Step::Retry => continue,
                Step::Fail(err) => return Err(err),
            }
        }
    }
}

/// The collection's indexes: the cached list when it backs the filter and is fresh,
/// otherwise the list read again.
async fn unique_indexes<T: Send + Sync>(
    coll: &Collection<T>,
    cache: &IndexCache,
    checked: &Checked,
) -> Result<Arc<Indexes>, Error> {
    let mut cached = cache.cached(coll.namespace());
    match cached.fresh() {
        Some(indexes) if checked.backed_by(&indexes) => Ok(indexes),
        _ => cached.refresh(coll).await.map_err(Error::Driver),
    }
}
