//! [`InsertManyOrConflict`]: a bulk insert that inserts what it can and reports its
//! duplicates.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use mongodb::bson::{Bson, RawDocumentBuf};
use mongodb::error::ErrorKind;
use mongodb::{ClientSession, Collection};
use serde::Serialize;

use super::exact::exact_keys;
use super::insert::prepare;
use super::private::Sealed;
use crate::{codes, DuplicateKey, IsDuplicate};

/// What a bulk insert did: the ids of the documents it inserted and one [`DuplicateKey`] per
/// document it rejected, both keyed by the document's position in the batch.
///
/// # Examples
///
/// ```no_run
/// use dupkey::InsertManyOrConflict;
/// use mongodb::bson::{doc, Document};
///
/// # async fn import(users: mongodb::Collection<Document>) -> mongodb::error::Result<()> {
/// let rows = [doc! { "email": "a@b.c" }, doc! { "email": "a@b.c" }];
/// let report = users.insert_many_or_conflict(&rows).await?;
/// assert_eq!(report.inserted_ids().len(), 1);
/// for dup in report.conflicts() {
///     println!("row {:?}: {:?} is taken", dup.position(), dup.key_value());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InsertManyReport {
    inserted_ids: BTreeMap<usize, Bson>,
    conflicts: Vec<DuplicateKey>,
}

impl InsertManyReport {
    /// The `_id` of each inserted document, by its position in the batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::InsertManyReport;
    ///
    /// let report = InsertManyReport::default();
    /// assert!(report.inserted_ids().is_empty());
    /// ```
    pub fn inserted_ids(&self) -> &BTreeMap<usize, Bson> {
        &self.inserted_ids
    }

    /// One duplicate per rejected document, in batch order; each has its
    /// [`position`](DuplicateKey::position) and the exact key value the document held.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::InsertManyReport;
    ///
    /// let report = InsertManyReport::default();
    /// assert!(report.conflicts().is_empty());
    /// ```
    pub fn conflicts(&self) -> &[DuplicateKey] {
        &self.conflicts
    }
}

/// Inserts a batch without stopping at duplicates (`ordered(false)`), as the guides
/// recommend for bulk imports, and reports the inserted ids and the rejected documents.
///
/// Each rejected document's [`DuplicateKey`] has its position in the batch, the index's key
/// pattern and the exact key value the document held (read out of the document sent, as
/// [`InsertOrConflict`](crate::InsertOrConflict) does). Any other failure (a write error that
/// is not a duplicate, a write concern error, a network error) is returned as the driver's
/// error, untouched: `err.duplicate_keys()` ([`IsDuplicate`]) still lists the duplicates in
/// it.
///
/// An empty batch inserts nothing and reports nothing (the driver's `insert_many` refuses
/// one). Documents without `_id` get a new `ObjectId` before they are sent.
///
/// This trait is sealed: only [`mongodb::Collection`] implements it.
///
/// # Examples
///
/// ```no_run
/// use dupkey::InsertManyOrConflict;
/// use mongodb::bson::{doc, Document};
///
/// # async fn import(users: mongodb::Collection<Document>, rows: Vec<Document>) -> mongodb::error::Result<()> {
/// let report = users.insert_many_or_conflict(&rows).await?;
/// println!("{} imported, {} duplicates", report.inserted_ids().len(), report.conflicts().len());
/// # Ok(())
/// # }
/// ```
pub trait InsertManyOrConflict<T>: Sealed {
    /// Inserts `docs`, unordered; duplicates are reported, not raised.
    ///
    /// `docs` is serialized before the returned future is first polled.
    ///
    /// Equivalent to:
    ///
    /// ```ignore
    /// async fn insert_many_or_conflict(
    ///     &self,
    ///     docs: impl IntoIterator<Item = impl Borrow<T>>,
    /// ) -> mongodb::error::Result<InsertManyReport>;
    /// ```
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::InsertManyOrConflict;
    /// use mongodb::bson::{doc, Document};
    ///
    /// # async fn run(users: mongodb::Collection<Document>) -> mongodb::error::Result<()> {
    /// let report = users
    ///     .insert_many_or_conflict([doc! { "_id": 1 }, doc! { "_id": 1 }, doc! { "_id": 2 }])
    ///     .await?;
    /// assert_eq!(report.inserted_ids().keys().copied().collect::<Vec<_>>(), [0, 2]);
    /// assert_eq!(report.conflicts()[0].position(), Some(1));
    /// assert_eq!(report.conflicts()[0].key_value(), Some(&doc! { "_id": 1 }));
    /// # Ok(())
    /// # }
    /// ```
    fn insert_many_or_conflict(
        &self,
        docs: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> impl Future<Output = mongodb::error::Result<InsertManyReport>> + Send;

    /// Inserts `docs` in `session`, unordered; duplicates are reported, not raised.
    ///
    /// # Transactions
    ///
    /// A duplicate key aborts the server's transaction. When `session` is in a transaction
    /// and the report has conflicts, **the transaction is over**: nothing the batch (or the
    /// transaction before it) wrote is kept, whatever
    /// [`inserted_ids`](InsertManyReport::inserted_ids) says, and `commit_transaction` fails
    /// with `NoSuchTransaction` (code 251). Call `abort_transaction`, or return an error from
    /// an `and_run` callback (its commit would otherwise be retried until its time limit).
    ///
    /// Equivalent to:
    ///
    /// ```ignore
    /// async fn insert_many_or_conflict_with_session(
    ///     &self,
    ///     docs: impl IntoIterator<Item = impl Borrow<T>>,
    ///     session: &mut ClientSession,
    /// ) -> mongodb::error::Result<InsertManyReport>;
    /// ```
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::InsertManyOrConflict;
    /// use mongodb::bson::{doc, Document};
    ///
    /// # async fn run(client: mongodb::Client, users: mongodb::Collection<Document>) -> mongodb::error::Result<()> {
    /// let mut session = client.start_session().await?;
    /// session.start_transaction().await?;
    /// let report = users
    ///     .insert_many_or_conflict_with_session([doc! { "_id": 1 }, doc! { "_id": 2 }], &mut session)
    ///     .await?;
    /// if report.conflicts().is_empty() {
    ///     session.commit_transaction().await?;
    /// } else {
    ///     session.abort_transaction().await?; // already over on the server
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn insert_many_or_conflict_with_session(
        &self,
        docs: impl IntoIterator<Item = impl Borrow<T>>,
        session: &mut ClientSession,
    ) -> impl Future<Output = mongodb::error::Result<InsertManyReport>> + Send;
}

impl<T: Serialize + Send + Sync> InsertManyOrConflict<T> for Collection<T> {
    fn insert_many_or_conflict(
        &self,
        docs: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> impl Future<Output = mongodb::error::Result<InsertManyReport>> + Send {
        insert_many(self, prepare_all(docs), None)
    }

    fn insert_many_or_conflict_with_session(
        &self,
        docs: impl IntoIterator<Item = impl Borrow<T>>,
        session: &mut ClientSession,
    ) -> impl Future<Output = mongodb::error::Result<InsertManyReport>> + Send {
        insert_many(self, prepare_all(docs), Some(session))
    }
}

fn prepare_all<T: Serialize>(
    docs: impl IntoIterator<Item = impl Borrow<T>>,
) -> mongodb::error::Result<Vec<RawDocumentBuf>> {
    docs.into_iter().map(|doc| prepare(doc.borrow())).collect()
}

async fn insert_many<T: Send + Sync>(
    coll: &Collection<T>,
    prepared: mongodb::error::Result<Vec<RawDocumentBuf>>,
    session: Option<&mut ClientSession>,
) -> mongodb::error::Result<InsertManyReport> {
    let sent = prepared?;
    if sent.is_empty() {
        return Ok(InsertManyReport::default());
    }
    let raw = coll.clone_with_type::<RawDocumentBuf>();
    let action = raw.insert_many(&sent).ordered(false);
    let result = match session {
        Some(session) => action.session(session).await,
        None => action.await,
    };
    let err = match result {
        Ok(done) => {
            return Ok(InsertManyReport {
                inserted_ids: done.inserted_ids.into_iter().collect(),
                conflicts: Vec::new(),
            })
        }
        Err(err) => err,
    };
    let ErrorKind::InsertMany(batch) = &*err.kind else {
        return Err(err);
    };
    let rejected: BTreeSet<usize> = match (&batch.write_errors, &batch.write_concern_error) {
        (Some(errors), None)
            if errors
                .iter()
                .all(|e| codes::is_duplicate(e.code, &e.message)) =>
        {
            errors.iter().map(|e| e.index).collect()
        }
        _ => return Err(err),
    };
    // Unordered: every document but the rejected ones went in (the driver says the same).
    let inserted_ids = sent
        .iter()
        .enumerate()
        .filter(|(position, _)| !rejected.contains(position))
        .map(|(position, doc)| Ok((position, id_of(doc)?)))
        .collect::<mongodb::error::Result<_>>()?;
    let conflicts = exact_keys(coll, err.duplicate_keys(), &sent).await;
    Ok(InsertManyReport {
        inserted_ids,
        conflicts,
    })
}

/// The `_id` of a prepared document (it always has one).
fn id_of(doc: &RawDocumentBuf) -> mongodb::error::Result<Bson> {
    let id = doc
        .get("_id")?
        .ok_or_else(|| crate::bson_compat::missing_field("_id"))?;
    Ok(Bson::try_from(id)?)
}
