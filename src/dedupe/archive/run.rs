//! The run record: the one collection, index and action a run id belongs to.
//!
//! ```text
//! { _id: { run: "<run id>" }, namespace: "<db>.<collection>",
//!   index: { key: { email: 1 }, name: "email_1" }, action: "delete" | "merge" | "rekey", at: Date }
//! ```
//!
//! A run that writes inserts it (durably) before anything else; `_id` being unique, two runs
//! that try to take one run id for different collections cannot both succeed. Every archive
//! document of the run repeats the same three fields, so each is readable alone.

use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::{Acknowledgment, WriteConcern};
use mongodb::Collection;

use super::Archive;
use crate::dedupe::resolve::Action;
use crate::dedupe::step_down;
use crate::dedupe::{DedupeError, UniqueIndex};
use crate::IsDuplicate;

/// The write concern of every archive write: acknowledged by a majority, journaled, so an
/// election cannot roll it back after the write it protects went through.
pub(crate) fn durable() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build()
}

/// Refuses a collection handle whose writes are not acknowledged (`w: 0`): neither an
/// archived run nor a restore can tell what it did.
pub(crate) fn refuse_unacknowledged<T: Send + Sync>(
    collection: &Collection<T>,
) -> Result<(), DedupeError> {
    let unacknowledged = collection
        .write_concern()
        .is_some_and(|wc| matches!(wc.w, Some(Acknowledgment::Nodes(0))));
    match unacknowledged {
        true => Err(DedupeError::Unacknowledged),
        false => Ok(()),
    }
}

/// What a run id is tied to: namespace, index (key pattern and name) and action.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RunTie {
    pub(crate) namespace: String,
    pub(crate) index: Document,
    pub(crate) action: &'static str,
}

impl RunTie {
    pub(crate) fn new<T: Send + Sync>(
        collection: &Collection<T>,
        index: &UniqueIndex,
        action: &Action<'_>,
    ) -> Self {
        RunTie {
            namespace: collection.namespace().to_string(),
            index: index_identity(index),
            action: match action {
                Action::Delete => "delete",
                Action::Merge(_) => "merge",
                Action::Rekey(_) => "rekey",
            },
        }
    }

    /// The fields every archive document of the run carries.
    pub(crate) fn fields(&self) -> Document {
        doc! {
            "namespace": &self.namespace,
            "index": self.index.clone(),
            "action": self.action,
        }
    }

    /// Which part of `recorded` differs from this tie, first namespace, then index, then
    /// action; `None` when it is the same run.
    fn differs(&self, recorded: &Document) -> Option<&'static str> {
        if recorded.get_str("namespace").ok() != Some(self.namespace.as_str()) {
            return Some("collection");
        }
        if recorded.get_document("index").ok() != Some(&self.index) {
            return Some("index");
        }
        if recorded.get_str("action").ok() != Some(self.action) {
            return Some("action");
        }
        None
    }
}

/// `{ key, name }`: the key pattern with directions as integers, and the name given or
/// the server's default (`a_1_b_-1`), so one index is recorded one way however it was named.
fn index_identity(index: &UniqueIndex) -> Document {
    let mut key = Document::new();
    let mut default = Vec::new();
    for (field, direction) in index.keys() {
        let direction = match direction {
            Bson::Int64(d) if *d < 0 => -1,
            Bson::Int32(d) if *d < 0 => -1,
            Bson::Double(d) if *d < 0.0 => -1,
            _ => 1,
        };
        key.insert(field.clone(), direction);
        default.push(format!("{field}_{direction}"));
    }
    let name = index
        .name()
        .map_or_else(|| default.join("_"), str::to_owned);
    doc! { "key": key, "name": name }
}

impl Archive {
    fn record_id(&self) -> Document {
        doc! { "run": &self.run }
    }

    /// The run record, when the run id was taken.
    pub(crate) async fn record(&self) -> Result<Option<Document>, DedupeError> {
        self.collection
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": self.record_id() })
            .await
            .map_err(DedupeError::driver("find"))
    }

    /// Checks the run id against `tie` and, unless `dry_run`, takes it (a durable insert);
    /// refuses `w: 0` and a run id already used otherwise, before anything is written.
    /// Returns whether the run has archived nothing yet; when it has, the lookup index is
    /// built first (a fresh run never looks up, so its inserts do not pay for the index).
    pub(crate) async fn begin<T: Send + Sync>(
        &self,
        collection: &Collection<T>,
        tie: RunTie,
        dry_run: bool,
    ) -> Result<bool, DedupeError> {
        refuse_unacknowledged(collection)?;
        let recorded = match self.record().await? {
            Some(recorded) => Some(recorded),
            None if dry_run => None,
            None => self.take(&tie).await?,
        };
        if let Some(what) = recorded.as_ref().and_then(|r| tie.differs(r)) {
            return Err(DedupeError::RunElsewhere {
                run: self.run.clone(),
                what,
            });
        }
        let fresh = self.is_fresh().await?;
        if !dry_run {
            if !fresh {
                self.index().await?;
            }
            *self.tie.lock().unwrap_or_else(|e| e.into_inner()) = Some(tie);
        }
        Ok(fresh)
    }

    /// Inserts the run record; returns the record another run inserted first, if one did.
    async fn take(&self, tie: &RunTie) -> Result<Option<Document>, DedupeError> {
        let mut record = doc! { "_id": self.record_id() };
        record.extend(tie.fields());
        record.insert("at", DateTime::now());
        let records = self.collection.clone_with_type::<Document>();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let sent = records
                .insert_one(record.clone())
                .write_concern(durable())
                .await;
            match sent {
                Ok(_) => return Ok(None),
                // Taken by another run, or by this insert before a step-down: read which.
                Err(err) if err.is_duplicate() => return self.record().await,
                Err(err) if attempts < step_down::ATTEMPTS && step_down::is_step_down(&err) => {
                    tokio::time::sleep(step_down::PAUSE).await;
                }
                Err(err) => return Err(DedupeError::driver("insert")(err)),
            }
        }
    }

    /// Checks that the run exists and archived `collection`, for a restore.
    pub(crate) async fn check_restore<T: Send + Sync>(
        &self,
        collection: &Collection<T>,
    ) -> Result<String, DedupeError> {
        refuse_unacknowledged(collection)?;
        let Some(recorded) = self.record().await? else {
            return Err(DedupeError::UnknownRun {
                run: self.run.clone(),
            });
        };
        let namespace = collection.namespace().to_string();
        if recorded.get_str("namespace").ok() != Some(namespace.as_str()) {
            return Err(DedupeError::RunElsewhere {
                run: self.run.clone(),
                what: "collection",
            });
        }
        Ok(namespace)
    }
}
