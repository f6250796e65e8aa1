//! [`InsertManyOrConflict`] and its action [`InsertMany`]: a bulk insert that inserts what it
//! can and accounts for every document.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::IntoFuture;
use std::ops::Range;

use futures_util::future::BoxFuture;
use mongodb::bson::{Bson, RawDocumentBuf};
use mongodb::error::{ErrorKind, IndexedWriteError, WriteConcernError};
use mongodb::options::InsertManyOptions;
use mongodb::{ClientSession, Collection};
use serde::Serialize;

use super::batches::ErrorBound;
use super::exact::exact_keys;
use super::index_cache::IndexCache;
use super::prepare::{id_of, prepare};
use super::private::Sealed;
use super::Error;
use crate::extract::Failure;
use crate::{codes, DuplicateKey};

/// Inserts a batch without stopping at duplicates (`ordered(false)`), as the guides
/// recommend for bulk imports, and accounts for every document.
///
/// When every document went in, the result is `Ok` with their ids. Otherwise it is
/// [`Error::InsertMany`] with an [`InsertManyReport`]: the id of each inserted document, one
/// [`DuplicateKey`] per rejected document (with its position, the index's key pattern and
/// the exact key value the document held, read out of the document sent), each other write
/// failure (document validation, say) with its position, any write concern error, and the
/// error that stopped the import early, if one did (a network error, say) along with the
/// positions whose fate it leaves unknown.
///
/// The documents are sent in batches this helper cuts itself, so an error in one batch never
/// hides what the batches before it inserted. A batch is cut so that its reply fits the
/// server's limit even when every document in it is refused (each refusal carries its whole
/// key value): a re-run of an import that is all duplicates reports every document as a
/// duplicate. Batches hold at most 100,000 documents and 40 MB; those of small keys hold tens
/// of thousands of documents, those of large keys fewer. An import too large to bound without
/// the collection's unique indexes reads them (`listIndexes`, outside any session) unless the
/// [`IndexCache`](crate::IndexCache) holds a list younger than its maximum age.
///
/// An empty batch inserts nothing. Documents without `_id` get a new `ObjectId` before they
/// are sent.
///
/// This trait is sealed: only [`mongodb::Collection`] implements it.
pub trait InsertManyOrConflict<T: Send + Sync>: Sealed {
    /// Inserts `docs`, unordered. Await the returned [`InsertMany`] action.
    ///
    /// `docs` is serialized when the action is made.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::prelude::*;
    /// use mongodb::bson::{doc, Document};
    ///
    /// # async fn import(users: mongodb::Collection<Document>) -> Result<(), dupkey::Error> {
    /// let rows = [doc! { "_id": 1 }, doc! { "_id": 1 }, doc! { "_id": 2 }];
    /// match users.insert_many_or_conflict(&rows).await {
    ///     Ok(report) => println!("{} imported", report.inserted_ids().len()),
    ///     Err(dupkey::Error::InsertMany(report)) if report.failures().is_empty() => {
    ///         assert_eq!(report.inserted_ids().keys().copied().collect::<Vec<_>>(), [0, 2]);
    ///         for dup in report.duplicates() {
    ///             println!("row {:?}: {:?} is taken", dup.position(), dup.key_value());
    ///         }
    ///     }
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn insert_many_or_conflict(
        &self,
        docs: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> InsertMany<'_, T>;
}

impl<T: Serialize + Send + Sync> InsertManyOrConflict<T> for Collection<T> {
    fn insert_many_or_conflict(
        &self,
        docs: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> InsertMany<'_, T> {
        InsertMany {
            coll: self,
            docs: docs.into_iter().map(|doc| prepare(doc.borrow())).collect(),
            options: InsertManyOptions::default(),
            session: None,
            cache: IndexCache::global(),
        }
    }
}

/// A bulk insert that accounts for every document; made by
/// [`InsertManyOrConflict::insert_many_or_conflict`], run by awaiting it.
///
/// Awaiting gives `Result<InsertManyReport, dupkey::Error>`: `Ok` when every document went
/// in, [`Error::InsertMany`] otherwise.
///
/// # Transactions
///
/// A duplicate key aborts the server's transaction. With [`session`](Self::session) in a
/// transaction, a conflict means **the transaction is over**, whatever the report's inserted
/// ids say (a batch sent after it stops the import with `NoSuchTransaction`): return the
/// error (`?`) from an `and_run` callback.
#[must_use = "an action does nothing until it is awaited"]
pub struct InsertMany<'a, T: Send + Sync> {
    coll: &'a Collection<T>,
    docs: mongodb::error::Result<Vec<RawDocumentBuf>>,
    options: InsertManyOptions,
    session: Option<&'a mut ClientSession>,
    cache: &'a IndexCache,
}

impl<'a, T: Send + Sync> InsertMany<'a, T> {
    super::setters!(common);
}

impl<'a, T: Send + Sync + 'a> IntoFuture for InsertMany<'a, T> {
    type Output = Result<InsertManyReport, Error>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<T: Send + Sync> InsertMany<'_, T> {
    async fn run(mut self) -> Result<InsertManyReport, Error> {
        let sent = self.docs?;
        let mut options = self.options;
        options.ordered = Some(false);
        let raw = self.coll.clone_with_type::<RawDocumentBuf>();
        let mut report = InsertManyReport::new(sent.len());
        let mut dups = Vec::new();
        let mut bound = ErrorBound::unknown(&self.coll.namespace());
        if bound.needs_list(&sent) {
            let mut cached = self.cache.cached(self.coll.namespace());
            let indexes = match cached.fresh() {
                Some(indexes) => Ok(indexes),
                None => cached.refresh(self.coll).await,
            };
            // Unreadable, the list leaves the bound that knows no index: smaller batches.
            if let Ok(indexes) = indexes {
                bound.know(&indexes);
            }
        }
        for range in bound.batches(&sent) {
            let action = raw
                .insert_many(&sent[range.clone()])
                .with_options(options.clone());
            let result = match self.session.as_deref_mut() {
                Some(session) => action.session(session).await,
                None => action.await,
            };
            report.record(&sent, range, result.map(drop), &mut dups)?;
            if report.is_stopped() {
                break;
            }
        }
        let dups = exact_keys(self.coll, self.cache, dups, &sent).await;
        report.into_result(dups)
    }
}

/// What a bulk insert did with each document, by its position in the batch given.
///
/// Every position is in exactly one of: [`inserted_ids`](Self::inserted_ids),
/// [`duplicates`](Self::duplicates), [`failures`](Self::failures) or
/// [`unconfirmed`](Self::unconfirmed).
///
/// `Display` counts documents; it names no key value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InsertManyReport {
    total: usize,
    inserted_ids: BTreeMap<usize, Bson>,
    duplicates: Vec<DuplicateKey>,
    failures: Vec<IndexedWriteError>,
    write_concern_errors: Vec<WriteConcernError>,
    stopped_by: Option<StoppedBy>,
}

/// The error that ended an import early, and the positions whose fate it leaves unknown.
#[derive(Debug, Clone)]
struct StoppedBy {
    error: mongodb::error::Error,
    unconfirmed: Range<usize>,
}

impl PartialEq for StoppedBy {
    fn eq(&self, other: &Self) -> bool {
        self.unconfirmed == other.unconfirmed && self.error.to_string() == other.error.to_string()
    }
}

impl InsertManyReport {
    pub(crate) fn new(total: usize) -> Self {
        InsertManyReport {
            total,
            ..Self::default()
        }
    }

    /// The `_id` of each inserted document, by its position in the batch.
    pub fn inserted_ids(&self) -> &BTreeMap<usize, Bson> {
        &self.inserted_ids
    }

    /// One duplicate per document a unique index refused, in batch order, each with its
    /// [`position`](DuplicateKey::position) and the exact key value the document held.
    pub fn duplicates(&self) -> &[DuplicateKey] {
        &self.duplicates
    }

    /// Each other write failure (document validation, say); `index` is the document's
    /// position in the batch.
    pub fn failures(&self) -> &[IndexedWriteError] {
        &self.failures
    }

    /// The write concern errors of the batches sent: their documents were written, but not
    /// acknowledged as the write concern asked.
    pub fn write_concern_errors(&self) -> &[WriteConcernError] {
        &self.write_concern_errors
    }

    /// The error that ended the import early (a network error, say), if one did.
    pub fn stopped_by(&self) -> Option<&mongodb::error::Error> {
        self.stopped_by.as_ref().map(|s| &s.error)
    }

    /// The positions whose fate is unknown: the batch the import stopped in (some of its
    /// documents may be in) and every position after it (never sent). Empty unless
    /// [`stopped_by`](Self::stopped_by) is set.
    pub fn unconfirmed(&self) -> Range<usize> {
        self.stopped_by
            .as_ref()
            .map_or(self.total..self.total, |s| s.unconfirmed.clone())
    }

    /// Whether every document was inserted and acknowledged.
    fn is_complete(&self) -> bool {
        self.duplicates.is_empty()
            && self.failures.is_empty()
            && self.write_concern_errors.is_empty()
            && self.stopped_by.is_none()
    }

    /// Whether an error ended the import early: no batch is sent after it.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped_by.is_some()
    }

    /// The helper's result, with the duplicates made exact.
    pub(crate) fn into_result(mut self, duplicates: Vec<DuplicateKey>) -> Result<Self, Error> {
        self.duplicates = duplicates;
        if self.is_complete() {
            Ok(self)
        } else {
            Err(Error::InsertMany(Box::new(self)))
        }
    }

    /// Accounts for the batch `range` of `sent` from the driver's `result`; duplicates go
    /// to `dups` with their positions in `sent`.
    pub(crate) fn record(
        &mut self,
        sent: &[RawDocumentBuf],
        range: Range<usize>,
        result: mongodb::error::Result<()>,
        dups: &mut Vec<DuplicateKey>,
    ) -> mongodb::error::Result<()> {
        let err = match result {
            Ok(()) => return self.inserted(sent, range, &[]),
            Err(err) => err,
        };
        let ErrorKind::InsertMany(batch) = &*err.kind else {
            self.stopped_by = Some(StoppedBy {
                error: err,
                unconfirmed: range.start..self.total,
            });
            return Ok(());
        };
        let base = range.start;
        let write_errors = batch.write_errors.as_deref().unwrap_or_default();
        let mut rejected = vec![false; range.len()];
        for e in write_errors {
            if let Some(slot) = rejected.get_mut(e.index) {
                *slot = true;
            }
            let position = base + e.index;
            if codes::is_duplicate(e.code, &e.message) {
                dups.push(DuplicateKey::from_failure(&Failure {
                    code: e.code,
                    message: &e.message,
                    position: Some(position),
                    reply: None,
                }));
            } else {
                let mut failure = e.clone();
                failure.index = position;
                self.failures.push(failure);
            }
        }
        self.write_concern_errors
            .extend(batch.write_concern_error.clone());
        // Unordered: every document of the batch but the rejected ones went in.
        self.inserted(sent, range, &rejected)
    }

    /// Records the ids of the batch `range` of `sent`, but those `rejected` (by position in
    /// the batch).
    fn inserted(
        &mut self,
        sent: &[RawDocumentBuf],
        range: Range<usize>,
        rejected: &[bool],
    ) -> mongodb::error::Result<()> {
        let base = range.start;
        for position in range {
            if !rejected.get(position - base).copied().unwrap_or(false) {
                self.inserted_ids.insert(position, id_of(&sent[position])?);
            }
        }
        Ok(())
    }
}

impl fmt::Display for InsertManyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} documents inserted, {} duplicate keys, {} other failures",
            self.inserted_ids.len(),
            self.total,
            self.duplicates.len(),
            self.failures.len()
        )?;
        if !self.write_concern_errors.is_empty() {
            write!(
                f,
                ", {} write concern errors",
                self.write_concern_errors.len()
            )?;
        }
        if let Some(stopped) = &self.stopped_by {
            write!(
                f,
                ", stopped with {} documents unconfirmed",
                stopped.unconfirmed.len()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for InsertManyReport {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.stopped_by().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, RawDocumentBuf};

    use crate::bson_compat::from_document;
    use mongodb::error::{Error, ErrorKind, InsertManyError};

    use super::InsertManyReport;

    fn raw(n: i32) -> RawDocumentBuf {
        crate::bson_compat::to_raw(&doc! { "_id": n }).unwrap()
    }

    #[test]
    fn every_position_is_accounted_for() {
        let sent: Vec<_> = (0..6).map(raw).collect();
        let mut report = InsertManyReport::new(sent.len());
        let mut dups = Vec::new();
        report.record(&sent, 0..3, Ok(()), &mut dups).unwrap();
        let batch: InsertManyError = from_document(doc! { "writeErrors": [
            { "index": 0, "code": 11000, "errmsg": "E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 3 }" },
            { "index": 2, "code": 121, "errmsg": "Document failed validation" },
        ]})
        .unwrap();
        let err = Error::from(ErrorKind::InsertMany(batch));
        report.record(&sent, 3..6, Err(err), &mut dups).unwrap();
        assert_eq!(
            report.inserted_ids().keys().copied().collect::<Vec<_>>(),
            [0, 1, 2, 4]
        );
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].position(), Some(3));
        assert_eq!(report.failures()[0].index, 5);
        assert!(report.unconfirmed().is_empty());
        assert_eq!(
            report.to_string(),
            "4 of 6 documents inserted, 0 duplicate keys, 1 other failures"
        );
    }

    #[test]
    fn write_errors_in_any_order_reject_their_own_positions_only() {
        let sent: Vec<_> = (0..5).map(raw).collect();
        let mut report = InsertManyReport::new(sent.len());
        let mut dups = Vec::new();
        let batch: InsertManyError = from_document(doc! { "writeErrors": [
            { "index": 3, "code": 11000, "errmsg": "" },
            { "index": 0, "code": 11000, "errmsg": "" },
        ]})
        .unwrap();
        let err = Error::from(ErrorKind::InsertMany(batch));
        report.record(&sent, 1..5, Err(err), &mut dups).unwrap();
        assert_eq!(
            report.inserted_ids().keys().copied().collect::<Vec<_>>(),
            [2, 3]
        );
        let positions: Vec<_> = dups.iter().map(|d| d.position()).collect();
        assert_eq!(positions, [Some(4), Some(1)]);
    }

    #[test]
    fn a_network_error_leaves_the_rest_unconfirmed() {
        let sent: Vec<_> = (0..4).map(raw).collect();
        let mut report = InsertManyReport::new(sent.len());
        let mut dups = Vec::new();
        report.record(&sent, 0..2, Ok(()), &mut dups).unwrap();
        let err = Error::from(ErrorKind::Shutdown);
        report.record(&sent, 2..4, Err(err), &mut dups).unwrap();
        assert_eq!(report.inserted_ids().len(), 2);
        assert_eq!(report.unconfirmed(), 2..4);
        assert!(report.stopped_by().is_some());
        assert!(!report.is_complete());
    }
}
