//! [`check_import`]: which rows of an import would collide, before anything is written.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use futures_util::Stream;
use mongodb::bson::Document;
use mongodb::Collection;

mod index_check;
mod judge;
mod layout;
mod report;
mod validator;

pub use report::{Collider, ImportCheck, ImportProgress, InvalidRow, RowConflict, ValidatorCheck};

use super::indexes;
use super::scratch::{self, Scratch};
use super::DedupeError;
use judge::Judge;

/// A callback told each conflict.
type OnConflict<'a> = Box<dyn FnMut(&RowConflict) + Send + 'a>;
/// A callback told each row the validator refuses.
type OnInvalid<'a> = Box<dyn FnMut(&InvalidRow) + Send + 'a>;
/// A progress callback.
type OnImportProgress<'a> = Box<dyn FnMut(&ImportProgress) + Send + 'a>;

/// Lookups of a colliding row's holder in flight at once.
const LOOKUPS_IN_FLIGHT: usize = 8;

/// How old another run's scratch collection is before a check drops it.
const SWEEP_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Checks the rows of an import against every unique index of `collection` and its
/// validator, writing nothing to it: which rows the server would refuse if they were
/// inserted in order (as one unordered `insert_many` does), and why.
///
/// The server judges, not the client, so keys compare as each index compares them:
/// - a scratch collection in the same database carries a copy of every unique index (and
///   of each index with `prepareUnique`, which refuses new duplicates too): key, collation,
///   partial filter, sparse, and the collection's default collation for `_id`;
/// - before each batch, the stored documents holding one of its keys are found (one query
///   per index, under its collation) and copied in; then the rows' copies go in, unordered,
///   which the server applies in order. A row is refused when any index refuses it given
///   the stored documents and the rows accepted before it; a refused row is not accepted,
///   so it makes no later row collide, on any index;
/// - with a validator that refuses inserts, the rows first go into a scratch collection
///   carrying the same validator: those it refuses are reported
///   ([`ImportCheck::first_invalid`], [`CheckImport::on_invalid`]) and not accepted either.
///   [`ImportCheck::validator`] says whether the validator was checked;
/// - each refused row is then reported on every unique index that holds it (its partial
///   filter and sparseness asked of the server) and on which it collides, with the holder
///   of its key: a stored document, or an earlier row that was accepted.
///
/// Positions are 0-based, counted over all rows of the import. The scratch collections are
/// dropped at the end, also after an error, when the future is dropped or a callback
/// panics (the drops are then spawned on the current tokio runtime); leftovers of a run
/// that could not drop them (a killed process) are dropped by a later run once older than
/// a day ([`sweep_scratch_after`](CheckImport::sweep_scratch_after)).
///
/// Client memory holds one batch at a time (default 10,000 rows) and the first
/// [`max_reported`](CheckImport::max_reported) conflicts and invalid rows, whatever the
/// import's size.
///
/// The check is a snapshot: writes to the collection while it runs are not seen. A row
/// without `_id` gets a fresh one, as the driver gives it, so it collides on no `_id`. Key
/// fields are copied by their top-level field: a partial filter naming `_id` is not
/// supported. On a unique text or geo index, rows are checked against each other only; a
/// refused row's holder there, and on a key holding an array, is
/// [`Collider::Unknown`], and such an index is named only for the rows the server
/// refuses on it. The collection must exist ([`DedupeError::CollectionNotFound`]).
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{check_import, Collider};
/// use mongodb::bson::doc;
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let rows = vec![doc! { "email": "ann@example.com" }, doc! { "email": "ANN@example.com" }];
/// let check = check_import(&users, rows)
///     .on_conflict(|c| eprintln!("row {} collides on {}", c.position(), c.index()))
///     .await?;
/// if check.is_clean() {
///     println!("safe to import {} rows", check.rows());
/// }
/// # Ok(())
/// # }
/// ```
pub fn check_import<'a, T, I>(collection: &Collection<T>, rows: I) -> CheckImport<'a>
where
    T: Send + Sync,
    I: IntoIterator<Item = Document>,
    I::IntoIter: Send + 'a,
{
    check_import_stream(collection, stream::iter(rows))
}

/// [`check_import`] for rows that arrive as a stream (a file being read, a cursor).
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::check_import_stream;
/// use futures_util::stream;
/// use mongodb::bson::doc;
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let rows = stream::iter((0..1_000_000).map(|i| doc! { "email": format!("user{i}@example.com") }));
/// let check = check_import_stream(&users, rows).batch_size(5_000).await?;
/// # Ok(())
/// # }
/// ```
pub fn check_import_stream<'a, T, S>(collection: &Collection<T>, rows: S) -> CheckImport<'a>
where
    T: Send + Sync,
    S: Stream<Item = Document> + Send + 'a,
{
    CheckImport {
        collection: collection.clone_with_type(),
        rows: rows.boxed(),
        batch_size: 10_000,
        max_reported: 1000,
        on_conflict: None,
        on_invalid: None,
        on_progress: None,
        sweep_after: SWEEP_AFTER,
    }
}

/// The builder [`check_import`] returns; await it for the [`ImportCheck`].
///
/// # Examples
///
/// ```no_run
/// # use dupkey::dedupe::check_import;
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>, rows: Vec<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let check = check_import(&users, rows)
///     .batch_size(2_000)
///     .max_reported(100)
///     .on_progress(|p| eprint!("\r{} rows, {} conflicts", p.rows(), p.conflicts()))
///     .await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until awaited"]
pub struct CheckImport<'a> {
    collection: Collection<Document>,
    rows: BoxStream<'a, Document>,
    batch_size: usize,
    max_reported: usize,
    on_conflict: Option<OnConflict<'a>>,
    on_invalid: Option<OnInvalid<'a>>,
    on_progress: Option<OnImportProgress<'a>>,
    sweep_after: Duration,
}

impl<'a> CheckImport<'a> {
    /// Sends at most `size` rows per batch (default 10,000; at least 1): fewer round trips
    /// for more memory (about 19 MiB at the default on 1M small rows, 2 MiB at 1,000).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }

    /// Keeps at most `max` conflicts in [`ImportCheck::first_conflicts`] (default 1,000); all
    /// are counted.
    pub fn max_reported(mut self, max: usize) -> Self {
        self.max_reported = max;
        self
    }

    /// Calls `callback` with every conflict, in row order within each batch.
    pub fn on_conflict(mut self, callback: impl FnMut(&RowConflict) + Send + 'a) -> Self {
        self.on_conflict = Some(Box::new(callback));
        self
    }

    /// Calls `callback` with every row the validator refuses, in row order within each
    /// batch.
    pub fn on_invalid(mut self, callback: impl FnMut(&InvalidRow) + Send + 'a) -> Self {
        self.on_invalid = Some(Box::new(callback));
        self
    }

    /// Drops, before the check, the scratch collections any run left in the database more
    /// than `age` ago (default 1 day); a run still using one then fails with
    /// [`DedupeError::ScratchDropped`] rather than answer wrongly.
    pub fn sweep_scratch_after(mut self, age: Duration) -> Self {
        self.sweep_after = age;
        self
    }

    /// Calls `callback` after each batch, and once at the end ([`ImportProgress::finished`]).
    pub fn on_progress(mut self, callback: impl FnMut(&ImportProgress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }
}

impl fmt::Debug for CheckImport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckImport")
            .field("namespace", &self.collection.namespace())
            .field("batch_size", &self.batch_size)
            .field("max_reported", &self.max_reported)
            .field("sweep_after", &self.sweep_after)
            .finish_non_exhaustive()
    }
}

impl<'a> IntoFuture for CheckImport<'a> {
    type Output = Result<ImportCheck, DedupeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if self.batch_size == 0 {
                return Err(DedupeError::ZeroLimit {
                    option: "batch_size",
                });
            }
            let indexes = indexes::list(&self.collection).await?;
            let default_collation = indexes::default_collation(&self.collection).await?;
            let (validator, validator_check) = validator::read(&self.collection).await?;
            let database = self
                .collection
                .client()
                .database(&self.collection.namespace().db);
            scratch::sweep(&database, self.sweep_after).await?;
            let mut scratch = Scratch::new(database);
            let judge = Judge::new(
                self.collection.clone(),
                &indexes,
                default_collation.as_ref(),
                validator,
                &mut scratch,
            )
            .await;
            let result = match judge {
                Ok(judge) => run(self, &judge).await,
                Err(err) => Err(err),
            };
            let intact = match &result {
                Ok(_) => scratch.check_intact().await,
                Err(_) => Ok(()),
            };
            let dropped = scratch.drop_all().await;
            let mut check = result?;
            intact?;
            dropped?;
            check.validator = validator_check;
            Ok(check)
        })
    }
}

async fn run(mut job: CheckImport<'_>, judge: &Judge) -> Result<ImportCheck, DedupeError> {
    let mut report = ImportCheck {
        indexes: judge.checks.iter().map(|c| c.name.clone()).collect(),
        ..ImportCheck::default()
    };
    let mut progress = ImportProgress::default();
    let mut rows = job.rows.by_ref().ready_chunks(job.batch_size);
    let mut base = 0u64;
    while let Some(batch) = rows.next().await {
        // ready_chunks yields what is ready: fill the batch up when the stream is slow.
        let batch = fill(batch, &mut rows, job.batch_size).await;
        let verdicts = judge.batch(&batch, base).await?;
        let mut refused: Vec<u64> = verdicts
            .conflicts
            .iter()
            .map(|c| c.position)
            .chain(verdicts.invalid.iter().map(|r| r.position))
            .collect();
        refused.sort_unstable();
        refused.dedup();
        report.rows_refused += refused.len() as u64;
        for invalid in verdicts.invalid {
            report.rows_invalid += 1;
            if let Some(callback) = &mut job.on_invalid {
                callback(&invalid);
            }
            if report.first_invalid.len() < job.max_reported {
                report.first_invalid.push(invalid);
            }
        }
        for conflict in verdicts.conflicts {
            report.conflicts += 1;
            match conflict.with {
                Collider::Row(_) => report.with_rows += 1,
                Collider::Stored(_) => report.with_stored += 1,
                Collider::Unknown => {}
            }
            if let Some(callback) = &mut job.on_conflict {
                callback(&conflict);
            }
            if report.first.len() < job.max_reported {
                report.first.push(conflict);
            }
        }
        base += batch.len() as u64;
        report.rows = base;
        progress.rows = base;
        progress.conflicts = report.conflicts;
        progress.rows_refused = report.rows_refused;
        if let Some(callback) = &mut job.on_progress {
            callback(&progress);
        }
    }
    progress.finished = true;
    if let Some(callback) = &mut job.on_progress {
        callback(&progress);
    }
    Ok(report)
}

async fn fill<S>(mut batch: Vec<Document>, rows: &mut S, size: usize) -> Vec<Document>
where
    S: Stream<Item = Vec<Document>> + Unpin,
{
    while batch.len() < size {
        match rows.next().await {
            Some(more) => batch.extend(more),
            None => break,
        }
    }
    batch
}
