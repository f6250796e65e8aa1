//! Scratch collections: the server's own comparison of keys, without touching the target.
//!
//! A scratch collection carries a copy of one unique index of the target (same key,
//! collation and partial filter), so that inserting into it refuses exactly what the target
//! would refuse. They are named `dupkey_scratch_<id>_<n>` in the target's database and
//! dropped when the work is over, also after an error. A future dropped mid-way (a cancelled
//! task) cannot run the drop: its scratch collections stay, recognisable by their prefix.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use mongodb::options::Collation;
use mongodb::{Collection, Database};

use super::DedupeError;
use crate::index::Index;

/// The prefix of every scratch collection's name.
pub(crate) const PREFIX: &str = "dupkey_scratch_";

/// Scratch collections of one run, dropped together.
pub(crate) struct Scratch {
    database: Database,
    tag: String,
    made: Vec<Collection<Document>>,
}

impl Scratch {
    pub(crate) fn new(database: Database) -> Self {
        Scratch {
            database,
            tag: ObjectId::new().to_hex(),
            made: Vec::new(),
        }
    }

    /// A scratch collection refusing what `index` refuses. The `_id` index needs the target's
    /// default collation on the collection itself; any other index is copied onto it, made
    /// unique (a `prepareUnique` index refuses new duplicates just the same).
    pub(crate) async fn copy_of(
        &mut self,
        index: &Index,
        default_collation: Option<&Document>,
    ) -> Result<Collection<Document>, DedupeError> {
        let name = format!("{PREFIX}{}_{}", self.tag, self.made.len());
        let mut create = self.database.create_collection(&name);
        if index.is_id() {
            if let Some(collation) = default_collation {
                let collation: Collation = crate::bson_compat::from_document(collation.clone())
                    .map_err(|_| DedupeError::Reply {
                        detail: "a collection collation that cannot be read",
                    })?;
                create = create.collation(collation);
            }
        }
        create.await.map_err(DedupeError::driver("create"))?;
        let collection = self.database.collection::<Document>(&name);
        self.made.push(collection.clone());
        if !index.is_id() {
            let mut spec = index.spec().clone();
            for option in [
                "v",
                "ns",
                "prepareUnique",
                "hidden",
                "expireAfterSeconds",
                "clustered",
            ] {
                spec.remove(option);
            }
            spec.insert("unique", true);
            self.database
                .run_command(doc! { "createIndexes": &name, "indexes": [spec] })
                .await
                .map_err(DedupeError::driver("createIndexes"))?;
        }
        Ok(collection)
    }

    /// Drops every scratch collection made; the first failure is reported after trying all.
    pub(crate) async fn drop_all(self) -> Result<(), DedupeError> {
        let mut first = Ok(());
        for collection in self.made {
            if let Err(source) = collection.drop().await {
                if first.is_ok() {
                    first = Err(DedupeError::Driver {
                        operation: "drop",
                        source,
                    });
                }
            }
        }
        first
    }
}
