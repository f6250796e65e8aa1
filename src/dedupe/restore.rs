//! [`restore`]: put back the documents a run deleted or changed, where nobody wrote since.
//!
//! # Invariants
//!
//! - **Only the run's own collection.** The run record names the namespace the run archived;
//!   a restore into any other collection is refused ([`DedupeError::RunElsewhere`]), and so
//!   is one of a run id the archive does not hold ([`DedupeError::UnknownRun`]), before
//!   anything is written. Tests (`tests/archive_live.rs`):
//!   `a_run_id_is_refused_on_another_collection_or_index`, `restoring_an_unknown_run_is_an_error`.
//! - **Never over a newer write.** A document is put back only while it is in the state the
//!   run left it: absent (the run deleted it), or equal to what the run wrote (its original
//!   with the archived change applied, see `state.rs`). Any other document is reported in
//!   [`Restored::conflicts`] with its `_id` and left as it is, unless
//!   [`overwrite`](Restore::overwrite) is asked for. The check and the write are one
//!   operation on the server: an absent document comes back through an upsert that can only
//!   insert (a document there meanwhile makes it fail on `_id`), a changed one through a
//!   replacement whose filter requires the exact document that was read and checked. Tests:
//!   `restore_keeps_what_the_application_wrote_after_the_run_unless_told_to_overwrite`, and
//!   `restore_checks_and_writes_in_one_step_against_a_writer_in_between` (the application
//!   writes while the restore's update is held on the server).
//! - **Every refusal is reported.** Each document the server refuses to put back (a unique
//!   index, a validator) is in [`Restored::refused`] with its `_id` and code, whether or not
//!   the server sent a message (it can empty them in a large reply). Tests:
//!   `every_refusal_is_reported_with_its_id` (1,000 refusals, 2 MiB of messages, one reply)
//!   and, for a refusal whose message is empty, the unit test
//!   `a_refusal_without_a_message_keeps_its_id_and_code`.

mod state;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;

use super::archive::id_key;
use super::resolve::Faults;
use super::{update, Archive, DedupeError};
use crate::{codes, DuplicateKey};

/// Puts back the documents the run of `archive` deleted or changed in `collection`, each
/// only while it is still as the run left it; documents the run did not touch stay as they
/// are.
///
/// A document deleted by the run comes back when it is still absent; a document the run
/// changed (a merged survivor, a re-keyed document) gets its original back when it still
/// holds exactly what the run wrote. Anything written since (by the application, say) wins:
/// such documents are listed in [`Restored::conflicts`] and left alone, unless
/// [`overwrite`](Restore::overwrite) says otherwise. A document already as archived is left
/// alone, so restoring twice changes nothing more.
///
/// When the server refuses a document (a unique index built after the cleanup, say), the
/// others are restored all the same and each refused one is in [`Restored::refused`] with
/// its `_id`. The writes are `update` commands by `_id`, in batches, at the collection's
/// write concern (`w: 0` is refused); an interrupted restore can be run again.
///
/// A run id the archive does not hold is [`DedupeError::UnknownRun`]; a run of another
/// collection is [`DedupeError::RunElsewhere`]; both before anything is written.
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
/// println!(
///     "{} restored, {} changed since the run, {} refused",
///     back.restored(),
///     back.conflicts().len(),
///     back.refused().len()
/// );
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
        overwrite: false,
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
    overwrite: bool,
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

    /// Puts back every archived original, also over what was written since the run
    /// (default `false`: such documents are [conflicts](Restored::conflicts)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{restore, Archive};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>, archive: Archive) -> Result<(), dupkey::dedupe::DedupeError> {
    /// let back = restore(&users, &archive).overwrite(true).await?;
    /// assert!(back.conflicts().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
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
/// for id in back.conflicts() {
///     println!("changed since the run, left as it is: {id}");
/// }
/// for refused in back.refused() {
///     println!("not restored: {refused}");
/// }
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Restored {
    restored: u64,
    unchanged: u64,
    conflicts: Vec<Bson>,
    refused: Vec<RestoreRefusal>,
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

    /// The `_id`s of the documents not in the state the run left them (written, deleted or
    /// re-inserted since), left as they are.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(dupkey::dedupe::Restored::default().conflicts().is_empty());
    /// ```
    pub fn conflicts(&self) -> &[Bson] {
        &self.conflicts
    }

    /// The documents the server refused to put back, one each.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(dupkey::dedupe::Restored::default().refused().is_empty());
    /// ```
    pub fn refused(&self) -> &[RestoreRefusal] {
        &self.refused
    }
}

/// One document the server refused to put back.
///
/// `Display` names the index (for a duplicate key) or the code, never a key value; `Debug`
/// shows everything.
///
/// # Examples
///
/// ```no_run
/// # fn show(refused: &dupkey::dedupe::RestoreRefusal) {
/// match refused.duplicate() {
///     Some(dup) => println!("{:?} collides on {:?}", refused.id(), dup.index()),
///     None => println!("{:?} refused with code {}", refused.id(), refused.code()),
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RestoreRefusal {
    id: Bson,
    code: i32,
    message: String,
    duplicate: Option<DuplicateKey>,
}

impl RestoreRefusal {
    /// The `_id` of the document not put back.
    pub fn id(&self) -> &Bson {
        &self.id
    }

    /// The server's error code (11000 for a duplicate key).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The server's message; empty when the server left it out.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The duplicate key, when the refusal is one and its message could be read.
    pub fn duplicate(&self) -> Option<&DuplicateKey> {
        self.duplicate.as_ref()
    }

    /// Whether a unique index refused it (by the code, message or not).
    pub fn is_duplicate(&self) -> bool {
        codes::is_duplicate(self.code, &self.message)
    }
}

impl fmt::Display for RestoreRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.duplicate {
            Some(duplicate) => duplicate.fmt(f),
            None if self.is_duplicate() => f.write_str("duplicate key"),
            None => write!(f, "refused with code {}", self.code),
        }
    }
}

impl<'a> IntoFuture for Restore<'a> {
    type Output = Result<Restored, DedupeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// One archived document: its `_id`, original, and the change the run sent (none when the
/// run deleted it).
struct Entry {
    id: Bson,
    original: Document,
    change: Option<Document>,
}

/// How one document is put back.
#[derive(Clone, Copy, PartialEq)]
enum Write {
    /// Inserted; refused when a document with its `_id` is there.
    Insert,
    /// Replaced, only while it is exactly the document read.
    Swap,
    /// Replaced or inserted, whatever is there ([`Restore::overwrite`]).
    Force,
}

impl Restore<'_> {
    async fn run(mut self) -> Result<Restored, DedupeError> {
        if self.batch_size == 0 {
            return Err(DedupeError::ZeroLimit {
                option: "batch_size",
            });
        }
        let namespace = self.archive.check_restore(&self.collection).await?;
        let mut done = Restored::default();
        if self.archive.is_fresh().await? {
            return Ok(done);
        }
        // A run re-run after a stop may have archived a document twice; the oldest version is
        // the original. The archive's index answers which, so memory stays one batch.
        self.archive.index().await?;
        let mut buckets = self.archive.buckets().await?;
        while let Some(mut bucket) = buckets
            .try_next()
            .await
            .map_err(DedupeError::driver("find"))?
        {
            if bucket.get_str("namespace").ok() != Some(namespace.as_str()) {
                return Err(DedupeError::RunElsewhere {
                    run: self.archive.run_id().to_owned(),
                    what: "collection",
                });
            }
            let Some(bucket_id) = bucket.remove("_id") else {
                continue;
            };
            let Ok(entries) = bucket.get_array_mut("entries") else {
                continue;
            };
            let mut pending = Vec::new();
            for entry in entries.drain(..) {
                let Bson::Document(mut entry) = entry else {
                    continue;
                };
                let (Some(id), Some(Bson::Document(original))) =
                    (entry.remove("id"), entry.remove("doc"))
                else {
                    continue;
                };
                let change = match entry.remove("change") {
                    Some(Bson::Document(change)) => Some(change),
                    None => None,
                    // A change of another shape (a pipeline): the state it left is unknown.
                    Some(_) if !self.overwrite => {
                        done.conflicts.push(id);
                        continue;
                    }
                    Some(_) => None,
                };
                pending.push(Entry {
                    id,
                    original,
                    change,
                });
                if pending.len() >= self.batch_size {
                    self.put_back(std::mem::take(&mut pending), &bucket_id, &mut done)
                        .await?;
                }
            }
            self.put_back(pending, &bucket_id, &mut done).await?;
        }
        Ok(done)
    }

    /// Puts back one batch: each original as the state of its document allows.
    /// Versions an older archive document of the run holds too are not originals: skipped.
    async fn put_back(
        &mut self,
        entries: Vec<Entry>,
        bucket: &Bson,
        done: &mut Restored,
    ) -> Result<(), DedupeError> {
        if entries.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = entries.iter().map(|e| e.id.clone()).collect();
        let held = self.archive.held_before(&ids, bucket).await?;
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| !held.contains(&id_key(&e.id)))
            .collect();
        let now = self.read(&ids).await?;
        let mut writes: Vec<(&Entry, Write, Document)> = Vec::new();
        for entry in &entries {
            let current = now.get(&id_key(&entry.id));
            let write = match current {
                Some(current) if state::same(current, &entry.original) => {
                    done.unchanged += 1;
                    continue;
                }
                None if entry.change.is_none() || self.overwrite => Write::Insert,
                Some(current) if self.left_by_run(entry, current) => Write::Swap,
                Some(_) if self.overwrite => Write::Force,
                _ => {
                    done.conflicts.push(entry.id.clone());
                    continue;
                }
            };
            let statement = statement(entry, write, current);
            writes.push((entry, write, statement));
        }
        if writes.is_empty() {
            return Ok(());
        }
        let statements = writes.iter().map(|(_, _, s)| s.clone()).collect();
        let faults = &mut self.faults;
        let updated = update::update(&self.collection, statements, self.batch_size, || {
            faults.before_write()
        })
        .await?;
        let refused: HashSet<usize> = updated.refused.iter().map(|(at, ..)| *at).collect();
        // Which writes' outcome a read must tell: an insert refused on a duplicate key (the
        // `_id`, or an earlier attempt before a step-down, or another unique index), and
        // replacements when fewer matched than were sent.
        let mut check: Vec<(&Entry, Option<RestoreRefusal>)> = Vec::new();
        for (at, code, message) in updated.refused {
            let (entry, write, _) = &writes[at];
            let refusal = refusal(entry, code, message);
            match *write == Write::Insert && refusal.is_duplicate() {
                true => check.push((entry, Some(refusal))),
                false => done.refused.push(refusal),
            }
        }
        let sent = (writes.len() - refused.len()) as u64;
        let mut restored = updated.matched.min(sent);
        if updated.matched < sent {
            restored = 0;
            for (at, (entry, write, _)) in writes.iter().enumerate() {
                match (*write, refused.contains(&at)) {
                    (Write::Swap, false) => check.push((entry, None)),
                    (_, false) => restored += 1,
                    _ => {}
                }
            }
        }
        done.restored += restored;
        if !check.is_empty() {
            let ids: Vec<Bson> = check.iter().map(|(e, _)| e.id.clone()).collect();
            let now = self.read(&ids).await?;
            for (entry, refusal) in check {
                match (now.get(&id_key(&entry.id)), refusal) {
                    (Some(current), _) if state::same(current, &entry.original) => {
                        done.restored += 1;
                    }
                    (None, Some(refusal)) => done.refused.push(refusal),
                    _ => done.conflicts.push(entry.id.clone()),
                }
            }
        }
        Ok(())
    }

    /// Whether `current` is what the run wrote: the original with the archived change.
    fn left_by_run(&self, entry: &Entry, current: &Document) -> bool {
        entry
            .change
            .as_ref()
            .and_then(|change| state::after(&entry.original, change))
            .is_some_and(|after| state::same(current, &after))
    }

    /// The documents with these `_id`s now, by [`id_key`].
    async fn read(&self, ids: &[Bson]) -> Result<HashMap<Vec<u8>, Document>, DedupeError> {
        let mut cursor = self
            .collection
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(DedupeError::driver("find"))?;
        let mut now = HashMap::new();
        while let Some(document) = cursor
            .try_next()
            .await
            .map_err(DedupeError::driver("find"))?
        {
            if let Some(id) = document.get("_id") {
                now.insert(id_key(id), document);
            }
        }
        Ok(now)
    }
}

/// The `update` statement of one write. Equality of documents is the server's own
/// (`$eq` on `$$ROOT`, field order included) under the simple collation.
fn statement(entry: &Entry, write: Write, current: Option<&Document>) -> Document {
    let id = entry.id.clone();
    let (filter, upsert) = match (write, current) {
        // No document has no `_id`: the filter matches nothing, so the upsert inserts.
        (Write::Insert, _) => (
            doc! { "$and": [{ "_id": id }, { "_id": { "$exists": false } }] },
            true,
        ),
        (Write::Swap, Some(current)) => (
            doc! {
                "_id": id,
                "$expr": { "$eq": ["$$ROOT", { "$literal": current.clone() }] },
            },
            false,
        ),
        _ => (doc! { "_id": id }, true),
    };
    doc! {
        "q": filter,
        "u": entry.original.clone(),
        "upsert": upsert,
        "collation": { "locale": "simple" },
    }
}

/// A refused write of `entry`, with whatever the server said.
fn refusal(entry: &Entry, code: i32, message: String) -> RestoreRefusal {
    let duplicate = codes::is_duplicate(code, &message)
        .then(|| DuplicateKey::from_message(&message))
        .flatten();
    RestoreRefusal {
        id: entry.id.clone(),
        code,
        message,
        duplicate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_without_a_message_keeps_its_id_and_code() {
        let entry = Entry {
            id: Bson::Int32(7),
            original: doc! { "_id": 7, "email": "a@x" },
            change: None,
        };
        let blank = refusal(&entry, 11000, String::new());
        assert_eq!((blank.id(), blank.code()), (&Bson::Int32(7), 11000));
        assert!(blank.is_duplicate() && blank.duplicate().is_none());
        assert_eq!(blank.to_string(), "duplicate key");
        let other = refusal(&entry, 121, String::new());
        assert!(!other.is_duplicate());
        assert_eq!(other.to_string(), "refused with code 121");
        let message = "E11000 duplicate key error collection: db.users index: email_1 dup key: { email: \"a@x\" }";
        let full = refusal(&entry, 11000, message.to_owned());
        assert_eq!(
            full.duplicate().and_then(DuplicateKey::index),
            Some("email_1")
        );
        assert_eq!(
            full.to_string(),
            r#"duplicate key for index "email_1" in "db.users""#
        );
    }
}
