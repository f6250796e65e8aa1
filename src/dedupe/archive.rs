//! [`Archive`]: where a run keeps every document it deletes or changes, before it writes.
//!
//! One archive document per write batch, so that archiving costs one insert per batch, not
//! one per document, beside one run record per run (see `run.rs`):
//!
//! ```text
//! { _id: ObjectId, run: "<run id>", namespace: "<db>.<collection>",
//!   index: { key: { email: 1 }, name: "email_1" }, action: "delete" | "merge" | "rekey", at: Date,
//!   entries: [ { id: <_id>, reason: "deleted: ...", survivor: <_id>, doc: <original>,
//!                change: <replacement or update> (when changed, not deleted) }, ... ] }
//! ```
//!
//! The index `{ run: 1, "entries.id": 1 }` (built when a run is run again) finds what the run
//! already archived, so a re-run keeps the first (original) version of each document and
//! repeats the planned change.
//!
//! # Invariants
//!
//! - **Durable before the write it protects.** Every archive write (the run record and each
//!   archive document) is sent with `w: "majority", j: true`, whatever the write concern of
//!   the collection or of the archive's handle, and the run's update or delete is sent only
//!   after it is acknowledged. A delete that an election makes the run send again therefore
//!   never outlives its archive document. A collection handle with `w: 0` is refused before
//!   anything is written ([`DedupeError::Unacknowledged`]). Test: `tests/archive_live.rs`,
//!   `archive_writes_are_majority_and_journaled_whatever_the_collection_says`,
//!   `a_w0_collection_is_refused_before_anything_is_written`,
//!   `nothing_is_lost_when_the_primary_steps_down_during_an_archived_remove`.
//! - **A run id belongs to one collection, index and action.** The run record is taken
//!   (inserted, `_id` unique) before anything else is written; a run id already taken for
//!   another namespace, index (key pattern, name) or action is refused
//!   ([`DedupeError::RunElsewhere`]) with nothing written. Test:
//!   `a_run_id_is_refused_on_another_collection_or_index`.

mod run;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt;
use mongodb::bson::{
    self, doc, rawdoc, Bson, DateTime, Document, RawArrayBuf, RawDocument, RawDocumentBuf,
};
use mongodb::{Collection, IndexModel};
use serde::Serialize;

pub(crate) use run::RunTie;

use super::{step_down, DedupeError};
use crate::IsDuplicate;

/// Archive documents stay well under the server's 16 MiB limit.
const MAX_BUCKET_BYTES: usize = 8 * 1024 * 1024;

/// Where a run archives the documents it deletes or changes, and the run's id.
///
/// Each archived document keeps the whole original, the run's id and the reason. Run again
/// with the same run id, an interrupted run finishes what it planned, and
/// [`restore`](super::restore) with the same archive puts the run back.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{remove_duplicates, Archive, Keep, UniqueIndex};
///
/// # async fn run(db: mongodb::Database) -> Result<(), dupkey::dedupe::DedupeError> {
/// let users = db.collection::<mongodb::bson::Document>("users");
/// let archive = Archive::new(&db.collection::<()>("users_dedupe_archive"), "2026-12-01-email");
/// remove_duplicates(&users, &UniqueIndex::new(["email"]), Keep::oldest())
///     .archive(archive)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Archive {
    collection: Collection<RawDocumentBuf>,
    run: String,
    /// What the run id is tied to, once a run that writes took it.
    tie: Arc<Mutex<Option<RunTie>>>,
}

impl Archive {
    /// The archive collection (created on first write) and the run's id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(db: mongodb::Database) {
    /// let archive = dupkey::dedupe::Archive::new(&db.collection::<()>("archive"), "run-1");
    /// assert_eq!(archive.run_id(), "run-1");
    /// # }
    /// ```
    pub fn new<T: Send + Sync>(collection: &Collection<T>, run_id: impl Into<String>) -> Self {
        Archive {
            collection: collection.clone_with_type(),
            run: run_id.into(),
            tie: Arc::default(),
        }
    }

    /// The run's id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(archive: &dupkey::dedupe::Archive) {
    /// println!("run {}", archive.run_id());
    /// # }
    /// ```
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Builds the index `{ run: 1, "entries.id": 1 }` (nothing when it is there).
    pub(crate) async fn index(&self) -> Result<(), DedupeError> {
        let index = IndexModel::builder()
            .keys(doc! { "run": 1, "entries.id": 1 })
            .build();
        self.collection
            .create_index(index)
            .await
            .map_err(DedupeError::driver("createIndexes"))?;
        Ok(())
    }

    /// Which of `ids` (by [`id_key`]) an archive document of this run older than `bucket`
    /// holds too: only the oldest version of a document is its original. Needs
    /// [`index`](Self::index).
    pub(crate) async fn held_before(
        &self,
        ids: &[Bson],
        bucket: &Bson,
    ) -> Result<HashSet<Vec<u8>>, DedupeError> {
        let wanted: HashSet<Vec<u8>> = ids.iter().map(id_key).collect();
        let mut older = self
            .collection
            .clone_with_type::<Document>()
            .find(doc! { "run": &self.run, "_id": { "$lt": bucket }, "entries.id": { "$in": ids } })
            .projection(doc! { "entries.id": 1 })
            .await
            .map_err(DedupeError::driver("find"))?;
        let mut held = HashSet::new();
        while let Some(older) = older
            .try_next()
            .await
            .map_err(DedupeError::driver("find"))?
        {
            let Ok(entries) = older.get_array("entries") else {
                continue;
            };
            for entry in entries {
                if let Some(id) = entry.as_document().and_then(|e| e.get("id")) {
                    let key = id_key(id);
                    if wanted.contains(&key) {
                        held.insert(key);
                    }
                }
            }
        }
        Ok(held)
    }

    /// Whether the run has archived nothing yet.
    pub(crate) async fn is_fresh(&self) -> Result<bool, DedupeError> {
        let found = self
            .collection
            .find_one(doc! { "run": &self.run })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(DedupeError::driver("find"))?;
        Ok(found.is_none())
    }

    /// What this run archived of `ids`, by [`id_key`].
    pub(crate) async fn lookup(
        &self,
        ids: &[Bson],
    ) -> Result<HashMap<Vec<u8>, Archived>, DedupeError> {
        let wanted: HashMap<Vec<u8>, ()> = ids.iter().map(|id| (id_key(id), ())).collect();
        let mut buckets = self
            .collection
            .clone_with_type::<Document>()
            .find(doc! { "run": &self.run, "entries.id": { "$in": ids } })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(DedupeError::driver("find"))?;
        let mut found = HashMap::new();
        while let Some(mut bucket) = buckets
            .try_next()
            .await
            .map_err(DedupeError::driver("find"))?
        {
            let Ok(entries) = bucket.get_array_mut("entries") else {
                continue;
            };
            for entry in entries.drain(..) {
                let Bson::Document(mut entry) = entry else {
                    continue;
                };
                let (Some(id), Some(Bson::Document(doc))) =
                    (entry.remove("id"), entry.remove("doc"))
                else {
                    continue;
                };
                let Ok(doc) = crate::bson_compat::to_raw(&doc) else {
                    continue;
                };
                let key = id_key(&id);
                if wanted.contains_key(&key) {
                    let change = match entry.remove("change") {
                        Some(Bson::Document(change)) => Some(change),
                        _ => None,
                    };
                    // The first archived version is the original.
                    found.entry(key).or_insert(Archived { doc, change });
                }
            }
        }
        Ok(found)
    }

    /// Writes `entries` in as few archive documents as fit, each durably (see the module
    /// docs); `before_write` runs before each insert (the fault-injection hook). Needs
    /// [`begin`](Self::begin).
    pub(crate) async fn write(
        &self,
        entries: Vec<RawDocumentBuf>,
        mut before_write: impl FnMut() -> Result<(), DedupeError>,
    ) -> Result<u64, DedupeError> {
        let tie = self
            .tie
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(DedupeError::Reply {
                detail: "an archive write before the run id was taken",
            })?;
        let index = crate::bson_compat::to_raw(&tie.index).map_err(|_| DedupeError::Reply {
            detail: "an index that cannot be encoded",
        })?;
        let mut written = 0;
        let mut bucket = RawArrayBuf::new();
        let (mut bytes, mut count) = (0, 0u64);
        let mut entries = entries.into_iter().peekable();
        while let Some(entry) = entries.next() {
            bytes += entry.as_bytes().len();
            bucket.push(entry);
            count += 1;
            let full = entries
                .peek()
                .is_none_or(|next| bytes + next.as_bytes().len() > MAX_BUCKET_BYTES);
            if full {
                before_write()?;
                let document = rawdoc! {
                    "_id": bson::oid::ObjectId::new(),
                    "run": self.run.as_str(),
                    "namespace": tie.namespace.as_str(),
                    "index": index.clone(),
                    "action": tie.action,
                    "at": DateTime::now(),
                    "entries": std::mem::take(&mut bucket),
                };
                self.insert_durably(document).await?;
                written += count;
                (bytes, count) = (0, 0);
            }
        }
        Ok(written)
    }

    /// Inserts one archive document with `w: "majority", j: true`, again after a step-down.
    /// Its `_id` is new, so a duplicate `_id` on a later attempt is an earlier attempt that
    /// went through.
    async fn insert_durably(&self, document: RawDocumentBuf) -> Result<(), DedupeError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let sent = self
                .collection
                .insert_one(&document)
                .write_concern(run::durable())
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(err) if attempts > 1 && err.is_duplicate() => return Ok(()),
                Err(err) if attempts < step_down::ATTEMPTS && step_down::is_step_down(&err) => {
                    tokio::time::sleep(step_down::PAUSE).await;
                }
                Err(err) => return Err(DedupeError::driver("insert")(err)),
            }
        }
    }

    /// The archive documents of this run, oldest first.
    pub(crate) async fn buckets(&self) -> Result<mongodb::Cursor<Document>, DedupeError> {
        self.collection
            .clone_with_type::<Document>()
            .find(doc! { "run": &self.run })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(DedupeError::driver("find"))
    }
}

/// One document as a run archived it.
#[derive(Debug)]
pub(crate) struct Archived {
    /// The original.
    pub(crate) doc: RawDocumentBuf,
    /// The replacement or update the run planned, when it changed the document.
    pub(crate) change: Option<Document>,
}

/// One archive entry.
pub(crate) fn entry(
    id: &Bson,
    reason: &str,
    survivor: &Bson,
    original: &RawDocument,
    change: Option<&Document>,
) -> Result<RawDocumentBuf, DedupeError> {
    /// The original is copied as bytes, never parsed.
    #[derive(Serialize)]
    struct Entry<'a> {
        id: &'a Bson,
        reason: &'a str,
        survivor: &'a Bson,
        doc: &'a RawDocument,
        #[serde(skip_serializing_if = "Option::is_none")]
        change: Option<&'a Document>,
    }
    let entry = Entry {
        id,
        reason,
        survivor,
        doc: original,
        change,
    };
    crate::bson_compat::to_raw(&entry).map_err(|_| DedupeError::Reply {
        detail: "a document that cannot be encoded",
    })
}

/// A byte key for an `_id`, to match ids without an order or a hash on `Bson`.
pub(crate) fn id_key(id: &Bson) -> Vec<u8> {
    crate::bson_compat::to_raw(&doc! { "": id })
        .map(RawDocumentBuf::into_bytes)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_holds_the_original_whole_and_the_change_when_there_is_one() {
        let original = doc! { "_id": 7, "email": "a@x", "profile": { "tags": ["x", 1.5] } };
        let raw = crate::bson_compat::to_raw(&original).unwrap();
        let read =
            |entry: RawDocumentBuf| -> Document { crate::bson_compat::from_raw(&entry).unwrap() };
        let deleted = entry(&Bson::Int32(7), "deleted", &Bson::Int32(1), &raw, None).unwrap();
        assert_eq!(
            read(deleted),
            doc! { "id": 7, "reason": "deleted", "survivor": 1, "doc": original.clone() }
        );
        let change = doc! { "$set": { "email": "a+7@x" } };
        let changed = entry(
            &Bson::Int32(7),
            "changed",
            &Bson::Int32(1),
            &raw,
            Some(&change),
        );
        assert_eq!(
            read(changed.unwrap()),
            doc! { "id": 7, "reason": "changed", "survivor": 1, "doc": original, "change": change }
        );
    }

    #[test]
    fn id_keys_tell_ids_apart_by_value_and_type() {
        assert_eq!(id_key(&Bson::Int32(1)), id_key(&Bson::Int32(1)));
        assert_ne!(id_key(&Bson::Int32(1)), id_key(&Bson::Int64(1)));
        assert_ne!(id_key(&Bson::Int32(1)), id_key(&Bson::Int32(2)));
    }
}
