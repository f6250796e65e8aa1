//! [`check_import`]: which rows of an import would collide, before anything is written.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use futures_util::Stream;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Collation, FindOneOptions, FindOptions, InsertManyOptions};
use mongodb::Collection;

use super::scratch::Scratch;
use super::server_index::{self, ServerIndex};
use super::DedupeError;
use crate::extract;

/// A callback told each conflict.
type OnConflict<'a> = Box<dyn FnMut(&RowConflict) + Send + 'a>;
/// A progress callback.
type OnImportProgress<'a> = Box<dyn FnMut(&ImportProgress) + Send + 'a>;

/// Lookups of a colliding row's holder in flight at once.
const LOOKUPS_IN_FLIGHT: usize = 8;

/// What a row collides with: the document that holds its key first.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::Collider;
///
/// # fn show(with: &Collider) {
/// match with {
///     Collider::Row(position) => println!("an earlier row, #{position}"),
///     Collider::Stored(id) => println!("the stored document {id}"),
///     _ => println!("a document the check could not name"),
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Collider {
    /// An earlier row of the import, by position (0-based).
    Row(u64),
    /// A document already in the collection, by `_id`.
    Stored(Bson),
    /// A document the check could not name: the index is text or geo, or the key holds an
    /// array (a multikey index compares its elements).
    Unknown,
}

/// One row the collection would refuse, on one unique index.
///
/// # Examples
///
/// ```no_run
/// # fn show(conflict: &dupkey::dedupe::RowConflict) {
/// println!("row {} on {}: {:?}", conflict.position(), conflict.index(), conflict.with());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RowConflict {
    position: u64,
    index: String,
    with: Collider,
}

impl RowConflict {
    /// The row's position in the import (0-based).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The name of the unique index that refuses it.
    pub fn index(&self) -> &str {
        &self.index
    }

    /// What it collides with.
    pub fn with(&self) -> &Collider {
        &self.with
    }
}

/// How far a [`check_import`] run is.
///
/// # Examples
///
/// ```
/// let p = dupkey::dedupe::ImportProgress::default();
/// assert_eq!((p.rows(), p.conflicts(), p.finished()), (0, 0, false));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportProgress {
    rows: u64,
    conflicts: u64,
    finished: bool,
}

impl ImportProgress {
    /// Rows checked so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Conflicts found so far.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Whether this is the last report.
    pub fn finished(&self) -> bool {
        self.finished
    }
}

/// What [`check_import`] found.
///
/// # Examples
///
/// ```no_run
/// # fn show(check: &dupkey::dedupe::ImportCheck) {
/// if !check.is_clean() {
///     println!(
///         "{} of {} rows would be refused ({} conflicts with rows, {} with stored documents)",
///         check.rows_refused(), check.rows(), check.with_rows(), check.with_stored(),
///     );
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportCheck {
    rows: u64,
    rows_refused: u64,
    conflicts: u64,
    with_rows: u64,
    with_stored: u64,
    indexes: Vec<String>,
    first: Vec<RowConflict>,
}

impl ImportCheck {
    /// Rows checked.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows that at least one unique index would refuse.
    pub fn rows_refused(&self) -> u64 {
        self.rows_refused
    }

    /// Conflicts: one per refused row and index that refuses it.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Conflicts with an earlier row of the import.
    pub fn with_rows(&self) -> u64 {
        self.with_rows
    }

    /// Conflicts with a stored document. The rest of [`conflicts`](Self::conflicts) are
    /// with a [`Collider::Unknown`].
    pub fn with_stored(&self) -> u64 {
        self.with_stored
    }

    /// The unique indexes checked, by name (`_id_` among them: rows without `_id` pass it).
    pub fn indexes(&self) -> &[String] {
        &self.indexes
    }

    /// The first conflicts, in row order, at most
    /// [`max_reported`](CheckImport::max_reported) of them; all of them go through
    /// [`on_conflict`](CheckImport::on_conflict).
    pub fn first_conflicts(&self) -> &[RowConflict] {
        &self.first
    }

    /// No row would be refused.
    pub fn is_clean(&self) -> bool {
        self.conflicts == 0
    }
}

/// Checks the rows of an import against every unique index of `collection`, writing nothing
/// to it: which rows collide with an earlier row, which with a stored document.
///
/// Keys compare as each index compares them, because the server compares them: for each
/// unique index (and each index with `prepareUnique`, which refuses new duplicates too), a
/// scratch collection in the same database carries a copy of it (key, collation, partial
/// filter, sparse), the rows go into it in unordered batches, and those it refuses with
/// E11000 are the rows that collide. Before each batch, the stored documents holding one of
/// its keys are found with one query under the index's collation and copied in first, so a
/// row colliding with a stored document is refused too, and each refused row's holder (an
/// earlier row, or a stored document) is then looked up in the scratch collection. The
/// scratch collections are dropped at the end, also after an error (see the module's note
/// on cancellation).
///
/// Client memory holds one batch at a time (default 10,000 rows) and the first
/// [`max_reported`](CheckImport::max_reported) conflicts, whatever the import's size.
///
/// The check is a snapshot: writes to the collection while it runs are not seen. Rows
/// without `_id` are not checked on `_id_` (the driver gives them a fresh one). Key fields
/// of other indexes are copied into the scratch collection by their top-level field, with
/// the row's `_id` left out: a partial filter or a compound key naming `_id` is not
/// supported. On a unique text or geo index, rows are checked against each other only,
/// their holder [`Collider::Unknown`]. The collection must exist
/// ([`DedupeError::CollectionNotFound`]).
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
        on_progress: None,
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
    on_progress: Option<OnImportProgress<'a>>,
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
            let indexes = server_index::list(&self.collection).await?;
            let default_collation = server_index::default_collation(&self.collection).await?;
            let namespace = self.collection.namespace();
            let mut scratch = Scratch::new(self.collection.client().database(&namespace.db));
            let result = run(self, &indexes, default_collation.as_ref(), &mut scratch).await;
            let dropped = scratch.drop_all().await;
            let check = result?;
            dropped?;
            Ok(check)
        })
    }
}

async fn run(
    mut job: CheckImport<'_>,
    indexes: &[ServerIndex],
    default_collation: Option<&Document>,
    scratch: &mut Scratch,
) -> Result<ImportCheck, DedupeError> {
    let mut checks = Vec::new();
    for index in indexes.iter().filter(|i| i.refuses_duplicates()) {
        let into = scratch.copy_of(index, default_collation).await?;
        checks.push(IndexCheck::new(index, into));
    }
    let mut report = ImportCheck {
        indexes: checks.iter().map(|c| c.name.clone()).collect(),
        ..ImportCheck::default()
    };
    let mut progress = ImportProgress::default();
    let mut rows = job.rows.by_ref().ready_chunks(job.batch_size);
    let mut base = 0u64;
    while let Some(batch) = rows.next().await {
        // ready_chunks yields what is ready: fill the batch up when the stream is slow.
        let batch = fill(batch, &mut rows, job.batch_size).await;
        let found = futures_util::future::try_join_all(
            checks
                .iter()
                .map(|check| check.batch(&job.collection, &batch, base)),
        )
        .await?;
        let mut conflicts: Vec<RowConflict> = found.into_iter().flatten().collect();
        conflicts.sort_by_key(|c| c.position);
        let mut last = None;
        for conflict in conflicts {
            if last != Some(conflict.position) {
                report.rows_refused += 1;
                last = Some(conflict.position);
            }
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

/// One unique index and its scratch copy.
struct IndexCheck {
    name: String,
    is_id: bool,
    /// The key's paths, when it is an ordinary key (not text, geo or hashed).
    paths: Option<Vec<String>>,
    /// The top-level fields a row's scratch copy keeps; `None`: all of them.
    fields: Option<Vec<String>>,
    partial: Option<Document>,
    collation: Collation,
    scratch: Collection<Document>,
}

impl IndexCheck {
    fn new(index: &ServerIndex, scratch: Collection<Document>) -> Self {
        let paths: Vec<String> = index.key().keys().cloned().collect();
        let plain = index.plain_key();
        let mut named = paths.clone();
        if let Some(filter) = index.partial_filter() {
            server_index::filter_paths(filter, &mut named);
        }
        let mut fields: Vec<String> = named
            .iter()
            .filter_map(|p| p.split('.').next())
            .map(str::to_owned)
            .collect();
        fields.sort();
        fields.dedup();
        IndexCheck {
            name: index.name().to_owned(),
            is_id: index.is_id(),
            paths: plain.then_some(paths),
            fields: plain.then_some(fields),
            partial: index.partial_filter().cloned(),
            collation: index
                .collation()
                .unwrap_or_else(|| Collation::builder().locale("simple").build()),
            scratch,
        }
    }

    /// The conflicts of one batch of rows, whose first row is at `base`.
    async fn batch(
        &self,
        target: &Collection<Document>,
        rows: &[Document],
        base: u64,
    ) -> Result<Vec<RowConflict>, DedupeError> {
        let (positions, copies) = self.copies(rows, base);
        if copies.is_empty() {
            return Ok(Vec::new());
        }
        self.copy_stored(target, rows).await?;
        let refused = insert(&self.scratch, &copies, false).await?;
        stream::iter(refused)
            .map(|i| self.conflict(positions[i], &copies[i]))
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Each row's scratch copy, and its position. On `_id_`: `{ _id, p: position }` (rows
    /// without `_id` are left out); otherwise the fields the index reads, under
    /// `_id: position`.
    fn copies(&self, rows: &[Document], base: u64) -> (Vec<u64>, Vec<Document>) {
        let mut positions = Vec::with_capacity(rows.len());
        let mut copies = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let position = base + i as u64;
            let copy = if self.is_id {
                let Some(id) = row.get("_id") else { continue };
                doc! { "_id": id.clone(), "p": position as i64 }
            } else {
                let mut copy = doc! { "_id": position as i64 };
                match &self.fields {
                    Some(fields) => {
                        for field in fields {
                            if let Some(value) = row.get(field) {
                                copy.insert(field.clone(), value.clone());
                            }
                        }
                    }
                    None => {
                        for (field, value) in row.iter().filter(|(f, _)| *f != "_id") {
                            copy.insert(field.clone(), value.clone());
                        }
                    }
                }
                copy
            };
            positions.push(position);
            copies.push(copy);
        }
        (positions, copies)
    }

    /// Copies into the scratch collection the stored documents that hold a key of `rows`,
    /// found with one query under the index's collation (and its partial filter, so that a
    /// partial index can serve it). On `_id_` as `{ _id }`, otherwise under `_id: { s: <_id> }`.
    async fn copy_stored(
        &self,
        target: &Collection<Document>,
        rows: &[Document],
    ) -> Result<(), DedupeError> {
        let Some(paths) = &self.paths else {
            return Ok(());
        };
        let Some(mut filter) = keys_filter(paths, rows) else {
            return Ok(());
        };
        if let Some(partial) = &self.partial {
            filter = doc! { "$and": [partial.clone(), filter] };
        }
        let mut projection = doc! { "_id": 1 };
        for field in self.fields.iter().flatten() {
            projection.insert(field.clone(), 1);
        }
        let options = FindOptions::builder()
            .collation(self.collation.clone())
            .projection(projection)
            .build();
        let stored: Vec<Document> = target
            .find(filter)
            .with_options(options)
            .await
            .map_err(DedupeError::driver("find"))?
            .try_collect()
            .await
            .map_err(DedupeError::driver("find"))?;
        if stored.is_empty() {
            return Ok(());
        }
        let copies: Vec<Document> = stored
            .into_iter()
            .map(|mut doc| {
                if !self.is_id {
                    let id = doc.remove("_id").unwrap_or(Bson::Null);
                    doc.insert("_id", doc! { "s": id });
                }
                doc
            })
            .collect();
        // A stored document copied for an earlier batch is refused again: nothing to report.
        insert(&self.scratch, &copies, true).await?;
        Ok(())
    }

    /// The conflict of the refused row at `position`, whose scratch copy is `copy`: the
    /// holder of its key is looked up in the scratch collection.
    async fn conflict(&self, position: u64, copy: &Document) -> Result<RowConflict, DedupeError> {
        let filter = match (&self.paths, self.is_id) {
            (_, true) => Some(doc! { "_id": copy.get("_id").cloned().unwrap_or(Bson::Null) }),
            (Some(paths), false) => {
                let mut filter = Document::new();
                for path in paths {
                    let value = server_index::value_at(copy, path).cloned();
                    if matches!(value, Some(Bson::Array(_))) {
                        return Ok(self.unknown(position));
                    }
                    filter.insert(path.clone(), doc! { "$eq": value.unwrap_or(Bson::Null) });
                }
                if let Some(partial) = &self.partial {
                    filter = doc! { "$and": [partial.clone(), filter] };
                }
                Some(filter)
            }
            (None, false) => None,
        };
        let Some(filter) = filter else {
            return Ok(self.unknown(position));
        };
        let options = FindOneOptions::builder()
            .collation(self.collation.clone())
            .projection(doc! { "_id": 1, "p": 1 })
            .build();
        let holder = self
            .scratch
            .find_one(filter)
            .with_options(options)
            .await
            .map_err(DedupeError::driver("find"))?;
        let with = match holder {
            None => Collider::Unknown,
            Some(holder) if self.is_id => match holder.get("p") {
                Some(Bson::Int64(p)) => Collider::Row(*p as u64),
                _ => Collider::Stored(holder.get("_id").cloned().unwrap_or(Bson::Null)),
            },
            Some(mut holder) => match holder.remove("_id") {
                Some(Bson::Int64(p)) => Collider::Row(p as u64),
                Some(Bson::Document(mut stored)) => {
                    Collider::Stored(stored.remove("s").unwrap_or(Bson::Null))
                }
                _ => Collider::Unknown,
            },
        };
        Ok(RowConflict {
            position,
            index: self.name.clone(),
            with,
        })
    }

    fn unknown(&self, position: u64) -> RowConflict {
        RowConflict {
            position,
            index: self.name.clone(),
            with: Collider::Unknown,
        }
    }
}

/// The filter finding the documents that hold one of the rows' keys: `$in` on a single
/// field (an array's elements and the array itself), `$or` of equalities on a compound key.
/// A missing field is looked for as `null`, which also finds missing fields.
fn keys_filter(paths: &[String], rows: &[Document]) -> Option<Document> {
    let value = |row: &Document, path: &str| {
        server_index::value_at(row, path)
            .cloned()
            .unwrap_or(Bson::Null)
    };
    if let [path] = paths {
        let mut values = Vec::with_capacity(rows.len());
        for row in rows {
            let v = value(row, path);
            if let Bson::Array(items) = &v {
                values.extend(items.iter().cloned());
            }
            values.push(v);
        }
        return Some(doc! { path.clone(): { "$in": values } });
    }
    let clauses: Vec<Document> = rows
        .iter()
        .map(|row| {
            paths
                .iter()
                .map(|p| (p.clone(), Bson::from(doc! { "$eq": value(row, p) })))
                .collect()
        })
        .collect();
    (!clauses.is_empty()).then(|| doc! { "$or": clauses })
}

/// Inserts `docs` unordered; answers the batch positions refused as duplicates. Any other
/// failure is an error; with `only_count` the positions are not collected.
async fn insert(
    scratch: &Collection<Document>,
    docs: &[Document],
    only_count: bool,
) -> Result<Vec<usize>, DedupeError> {
    let options = InsertManyOptions::builder().ordered(false).build();
    let Err(err) = scratch.insert_many(docs).with_options(options).await else {
        return Ok(Vec::new());
    };
    let mut refused = Vec::new();
    let only_duplicates = matches!(&*err.kind, mongodb::error::ErrorKind::InsertMany(e)
        if e.write_concern_error.is_none());
    for failure in extract::failures(&err) {
        match failure.position {
            Some(position) if only_duplicates && failure.is_duplicate() => {
                if !only_count {
                    refused.push(position);
                }
            }
            _ => {
                return Err(DedupeError::Driver {
                    operation: "insert",
                    source: err,
                })
            }
        }
    }
    if !only_duplicates {
        return Err(DedupeError::Driver {
            operation: "insert",
            source: err,
        });
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_looked_for_by_in_or_by_or() {
        let rows = vec![
            doc! { "email": "a", "t": 1 },
            doc! { "t": 2 },
            doc! { "email": ["b", "c"] },
        ];
        assert_eq!(
            keys_filter(&["email".to_owned()], &rows),
            Some(doc! { "email": { "$in": ["a", Bson::Null, "b", "c", ["b", "c"]] } })
        );
        assert_eq!(
            keys_filter(&["email".to_owned(), "t".to_owned()], &rows[..2]),
            Some(doc! { "$or": [
                { "email": { "$eq": "a" }, "t": { "$eq": 1 } },
                { "email": { "$eq": Bson::Null }, "t": { "$eq": 2 } },
            ] })
        );
    }
}
