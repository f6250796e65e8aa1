//! Scratch collections: the server's own comparison of keys, without touching the target.
//!
//! A scratch collection lives in the target's database and carries what the server needs
//! to judge documents as the target would (its indexes, its validator); it holds copies of
//! key fields, which are often personal data, so none may outlive its run:
//! - each is named `dupkey_scratch_<unix seconds at creation>_<run id>_<n>`;
//! - [`Scratch::drop_all`] drops them when the work is over, also after an error;
//! - a [`Scratch`] dropped before that (a cancelled future, a panicking callback) spawns
//!   the drops on the current tokio runtime;
//! - what still stays behind (a killed process) is dropped by [`sweep`] at the start of a
//!   later run, once older than the age it is given;
//! - [`Scratch::check_intact`] tells whether one of them was dropped (by such a sweep) or
//!   replaced while in use: a write to a dropped collection silently makes a plain one, which
//!   refuses nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, Document};
use mongodb::{Collection, Database};

use super::DedupeError;

/// The prefix of every scratch collection's name.
pub(crate) const PREFIX: &str = "dupkey_scratch_";

/// The server's code for a namespace that does not exist (dropped already).
const NAMESPACE_NOT_FOUND: i32 = 26;

/// Scratch collections of one run, dropped together.
pub(crate) struct Scratch {
    database: Database,
    /// `<unix seconds>_<run id>`.
    tag: String,
    /// Made and not dropped yet, with the `uuid` each had when made.
    made: Vec<(String, Option<Bson>)>,
    count: usize,
}

impl Scratch {
    pub(crate) fn new(database: Database) -> Self {
        Scratch {
            database,
            tag: format!(
                "{}_{}",
                unix_seconds(SystemTime::now()),
                ObjectId::new().to_hex()
            ),
            made: Vec::new(),
            count: 0,
        }
    }

    /// Creates a scratch collection with `options` (those of the `create` command).
    pub(crate) async fn create(
        &mut self,
        options: Document,
    ) -> Result<Collection<Document>, DedupeError> {
        let name = format!("{PREFIX}{}_{}", self.tag, self.count);
        self.count += 1;
        let mut command = doc! { "create": &name };
        command.extend(options);
        // Recorded before it exists: a create whose reply is lost still made it.
        self.made.push((name.clone(), None));
        self.database
            .run_command(command)
            .await
            .map_err(DedupeError::driver("create"))?;
        let uuid = uuid_of(&self.database, &name).await?;
        if let Some(made) = self.made.last_mut() {
            made.1 = uuid;
        }
        Ok(self.database.collection(&name))
    }

    /// Fails when a scratch collection made is gone, or is another one by the same name.
    pub(crate) async fn check_intact(&self) -> Result<(), DedupeError> {
        for (name, uuid) in &self.made {
            if uuid.is_none() || uuid_of(&self.database, name).await? != *uuid {
                return Err(DedupeError::ScratchDropped { name: name.clone() });
            }
        }
        Ok(())
    }

    /// Drops every scratch collection made; the first failure is reported after trying all
    /// (what failed is left for [`sweep`]).
    pub(crate) async fn drop_all(&mut self) -> Result<(), DedupeError> {
        let mut first = Ok(());
        while let Some((name, _)) = self.made.last() {
            let dropped = self.database.collection::<Document>(name).drop().await;
            // Forgotten only once the drop is answered: a future dropped mid-await leaves it
            // to the guard.
            self.made.pop();
            if let (Err(source), true) = (dropped, first.is_ok()) {
                first = Err(DedupeError::Driver {
                    operation: "drop",
                    source,
                });
            }
        }
        first
    }

    /// Spawns the drops of `names` on the current tokio runtime, if there is one; what a
    /// runtime-less drop leaves is for [`sweep`].
    fn guard(&self, names: Vec<(String, Option<Bson>)>) {
        if names.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let database = self.database.clone();
        runtime.spawn(async move {
            for (name, _) in names {
                let _ = database.collection::<Document>(&name).drop().await;
            }
        });
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let left = std::mem::take(&mut self.made);
        self.guard(left);
    }
}

/// Drops the scratch collections of `database` made more than `older_than` ago, by any
/// run; answers how many.
pub(crate) async fn sweep(database: &Database, older_than: Duration) -> Result<u64, DedupeError> {
    let names: Vec<String> = database
        .list_collection_names()
        .filter(doc! { "name": { "$regex": format!("^{PREFIX}") }, "type": "collection" })
        .await
        .map_err(DedupeError::driver("listCollections"))?;
    let now = unix_seconds(SystemTime::now());
    let mut swept = 0;
    for name in names {
        let Some(made) = made_at(&name) else { continue };
        if now.saturating_sub(made) < older_than.as_secs() {
            continue;
        }
        match database.collection::<Document>(&name).drop().await {
            Ok(()) => swept += 1,
            // Another run swept it first.
            Err(err) if crate::index::command_code(&err) == Some(NAMESPACE_NOT_FOUND) => {}
            Err(source) => {
                return Err(DedupeError::Driver {
                    operation: "drop",
                    source,
                })
            }
        }
    }
    Ok(swept)
}

/// When a scratch collection was made (unix seconds), from its name: the seconds field, or
/// the `ObjectId` of a name without one (`dupkey_scratch_<ObjectId>_<n>`, dupkey 0.x).
fn made_at(name: &str) -> Option<u64> {
    let first = name.strip_prefix(PREFIX)?.split('_').next()?;
    if first.len() == 24 {
        return u32::from_str_radix(first.get(..8)?, 16).ok().map(u64::from);
    }
    first.parse().ok()
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The `uuid` of collection `name` (`listCollections`' `info.uuid`); `None` when absent.
async fn uuid_of(database: &Database, name: &str) -> Result<Option<Bson>, DedupeError> {
    let spec = crate::index::collection_spec(database, name)
        .await
        .map_err(DedupeError::driver("listCollections"))?;
    Ok(spec.map(|spec| {
        spec.get_document("info")
            .ok()
            .and_then(|info| info.get("uuid").cloned())
            .unwrap_or(Bson::Null)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_a_scratch_collection_was_made_is_read_from_its_name() {
        assert_eq!(
            made_at("dupkey_scratch_1700000000_65a1b2c3d4e5f60718293a4b_0"),
            Some(1_700_000_000)
        );
        // 0x65a1b2c3 = 1705095875.
        assert_eq!(
            made_at("dupkey_scratch_65a1b2c3d4e5f60718293a4b_2"),
            Some(1_705_095_875)
        );
        assert_eq!(made_at("dupkey_scratch_x_0"), None);
        assert_eq!(made_at("users"), None);
    }
}
