//! [`restore`]: put back every document a run deleted or changed.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::Collection;

use super::archive::id_key;
use super::resolve::Faults;
use super::{update, Archive, DedupeError};
use crate::{codes, DuplicateKey};

/// Puts back every document the run of `archive` deleted or changed in `collection`,
/// exactly as it was archived; documents the run did not touch stay as they are.
///
/// A document already as archived is left alone, so restoring twice changes nothing more.
/// When a unique index now refuses a document (the index built after the cleanup, say), the
/// others are restored all the same and each refused one comes back as a [`DuplicateKey`]
/// in [`Restored::refused`]. The writes are `update` commands with upserts by `_id`, in
/// batches, at the collection's write concern; an interrupted restore can be run again.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{restore, Archive};
///
/// # async fn run(db: mongodb::Database) -> Result<(), dupkey::dedupe::DedupeError> {
/// let users = db.collection::<mongodb::bson::Document>("users");
/// let archive = Archive::new(&db.collection::<()>("dedupe_archive"), "run-7");
/// let back = restore(&users, &archive).await?;
/// println!("{} restored, {} refused", back.restored(), back.refused().len());
/// # Ok(())
/// # }
/// ```
pub fn restore<'a, T: Send + Sync>(
    collection: &Collection<T>,
    archive: &'a Archive,
) -> Restore<'a> {
    Restore {
        collection: collection.clone_with_type(),
        archive,
        batch_size: 1000,
        faults: Faults::default(),
    }
}

/// The builder [`restore`] returns; await it for [`Restored`].
///
/// # Examples
///
/// ```no_run
/// # use dupkey::dedupe::{restore, Archive};
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>, archive: Archive) -> Result<(), dupkey::dedupe::DedupeError> {
/// let back = restore(&users, &archive).batch_size(500).await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until awaited"]
pub struct Restore<'a> {
    collection: Collection<Document>,
    archive: &'a Archive,
    batch_size: usize,
    faults: Faults,
}

impl Restore<'_> {
    /// Restores at most `size` documents per command (default 1,000; at least 1).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{restore, Archive};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>, archive: Archive) -> Result<(), dupkey::dedupe::DedupeError> {
    /// restore(&users, &archive).batch_size(100).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }

    /// Stops with an error just before write number `writes` (0 = the first): a test hook.
    #[doc(hidden)]
    pub fn fail_before_write(mut self, writes: u64) -> Self {
        self.faults.fail_at = Some(writes);
        self
    }
}

/// What [`restore`] did.
///
/// # Examples
///
/// ```no_run
/// # fn show(back: &dupkey::dedupe::Restored) {
/// for refused in back.refused() {
///     println!("not restored: {refused}");
/// }
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Restored {
    restored: u64,
    unchanged: u64,
    refused: Vec<DuplicateKey>,
}

impl Restored {
    /// Documents put back (re-inserted or replaced).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Restored::default().restored(), 0);
    /// ```
    pub fn restored(&self) -> u64 {
        self.restored
    }

    /// Archived documents already as archived (never changed, or restored before).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Restored::default().unchanged(), 0);
    /// ```
    pub fn unchanged(&self) -> u64 {
        self.unchanged
    }

    /// The documents a unique index refused, one [`DuplicateKey`] each.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(dupkey::dedupe::Restored::default().refused().is_empty());
    /// ```
    pub fn refused(&self) -> &[DuplicateKey] {
        &self.refused
    }
}

impl<'a> IntoFuture for Restore<'a> {
    type Output = Result<Restored, DedupeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl Restore<'_> {
    async fn run(mut self) -> Result<Restored, DedupeError> {
        if self.batch_size == 0 {
            return Err(DedupeError::ZeroLimit {
                option: "batch_size",
            });
        }
        let mut done = Restored::default();
        // A run re-run after a stop may have archived a document twice; the oldest version is
        // the original. The archive's index answers which, so memory stays one batch.
        if self.archive.is_fresh().await? {
            return Ok(done);
        }
        self.archive.index().await?;
        let mut buckets = self.archive.buckets().await?;
        while let Some(mut bucket) = buckets
            .try_next()
            .await
            .map_err(DedupeError::driver("find"))?
        {
            let Some(bucket_id) = bucket.remove("_id") else {
                continue;
            };
            let Ok(entries) = bucket.get_array_mut("entries") else {
                continue;
            };
            let mut pending: Vec<(Bson, Document)> = Vec::new();
            for entry in entries.drain(..) {
                let Bson::Document(mut entry) = entry else {
                    continue;
                };
                let (Some(id), Some(Bson::Document(original))) =
                    (entry.remove("id"), entry.remove("doc"))
                else {
                    continue;
                };
                pending.push((id, original));
                if pending.len() >= self.batch_size {
                    self.put_back(std::mem::take(&mut pending), &bucket_id, &mut done)
                        .await?;
                }
            }
            self.put_back(pending, &bucket_id, &mut done).await?;
        }
        Ok(done)
    }

    /// Upserts by `_id` the originals that differ from what is there now.
    /// Versions an older archive document of the run holds too are not originals: skipped.
    async fn put_back(
        &mut self,
        originals: Vec<(Bson, Document)>,
        bucket: &Bson,
        done: &mut Restored,
    ) -> Result<(), DedupeError> {
        if originals.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = originals.iter().map(|(id, _)| id.clone()).collect();
        let held = self.archive.held_before(&ids, bucket).await?;
        let originals: Vec<(Bson, Document)> = originals
            .into_iter()
            .filter(|(id, _)| !held.contains(&id_key(id)))
            .collect();
        let mut now = std::collections::HashMap::new();
        let mut cursor = self
            .collection
            .clone_with_type::<RawDocumentBuf>()
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(DedupeError::driver("find"))?;
        while let Some(raw) = cursor
            .try_next()
            .await
            .map_err(DedupeError::driver("find"))?
        {
            let id = raw
                .get("_id")
                .ok()
                .flatten()
                .and_then(|id| Bson::try_from(id).ok());
            if let Some(id) = id {
                now.insert(id_key(&id), raw.into_bytes());
            }
        }
        let mut statements = Vec::new();
        for (id, original) in originals {
            let same = crate::bson_compat::to_raw(&original)
                .ok()
                .is_some_and(|raw| now.get(&id_key(&id)) == Some(&raw.into_bytes()));
            if same {
                done.unchanged += 1;
            } else {
                statements.push(doc! { "q": { "_id": id }, "u": original, "upsert": true });
            }
        }
        if statements.is_empty() {
            return Ok(());
        }
        let faults = &mut self.faults;
        let updated = update::update(&self.collection, statements, self.batch_size, || {
            faults.before_write()
        })
        .await?;
        for (_, code, message) in updated.refused {
            if !codes::is_duplicate(code, &message) {
                return Err(DedupeError::Refused {
                    operation: "update",
                    code,
                    message,
                });
            }
            if let Some(duplicate) = DuplicateKey::from_message(&message) {
                done.refused.push(duplicate);
            }
        }
        done.restored += updated.matched;
        Ok(())
    }
}
