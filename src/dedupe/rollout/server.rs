//! The server's side of a rollout: the index's state, `prepareUnique`, `collMod` and its
//! dry run's violations, and the cross-check of those against the aggregation.

use std::collections::HashMap;
use std::fmt;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document, RawDocument};
use mongodb::Collection;

use super::super::indexes;
use super::super::{find_duplicates, DedupeError, UniqueIndex};
use super::IndexState;
use crate::index::same::default_name;
use crate::index::Index;

/// `CannotConvertIndexToUnique`: duplicates stand in the way of `collMod ... unique: true`.
const CANNOT_CONVERT_INDEX_TO_UNIQUE: i32 = 359;
/// The wire version of MongoDB 6.0, the first with `prepareUnique`.
const WIRE_VERSION_6_0: i32 = 17;
/// `IndexOptionsConflict`: an index with the same key and options has another name.
const INDEX_OPTIONS_CONFLICT: i32 = 85;
/// `IndexKeySpecsConflict`: an index with the same name has another key or options.
const INDEX_KEY_SPECS_CONFLICT: i32 = 86;
/// Cross-checks tried before a disagreement is reported: another client's deletes or
/// updates between the two reads can make them differ for a moment.
const CROSS_CHECKS: u32 = 3;

/// The index on `index`'s key with its collation, partial filter and sparseness (and its
/// name, if it has one), unique or not.
pub(super) async fn find_index(
    collection: &Collection<Document>,
    index: &UniqueIndex,
) -> Result<Option<Index>, DedupeError> {
    let indexes = indexes::list(collection).await?;
    Ok(indexes.into_iter().find(|found| found.is_same_as(index)))
}

pub(super) fn state(found: &Index) -> IndexState {
    if found.unique() {
        IndexState::Unique
    } else if found.prepare_unique() {
        IndexState::Prepared
    } else {
        IndexState::Plain
    }
}

/// Whether the server has `prepareUnique` (6.0+), from `hello`'s `maxWireVersion`.
pub(super) async fn has_prepare_unique(
    collection: &Collection<Document>,
) -> Result<bool, DedupeError> {
    let hello = collection
        .client()
        .database("admin")
        .run_command(doc! { "hello": 1 })
        .await
        .map_err(DedupeError::driver("hello"))?;
    let wire = match hello.get("maxWireVersion") {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        _ => 0,
    };
    Ok(wire >= i64::from(WIRE_VERSION_6_0))
}

/// Creates the index with every option of `index` (collation, partial filter, sparse, name)
/// but `unique`: building it cannot fail on duplicates. An index of the same name with other
/// options, or of the same key and options with another name, is refused as
/// [`DedupeError::IndexInTheWay`]: nothing is written.
pub(super) async fn create_plain(
    collection: &Collection<Document>,
    index: &UniqueIndex,
) -> Result<String, DedupeError> {
    let mut model = index.model();
    if let Some(options) = model.options.as_mut() {
        options.unique = None;
    }
    match collection.create_index(model).await {
        Ok(created) => Ok(created.index_name),
        Err(err) => match crate::index::command_code(&err) {
            Some(INDEX_OPTIONS_CONFLICT | INDEX_KEY_SPECS_CONFLICT) => {
                Err(DedupeError::IndexInTheWay {
                    name: index
                        .name()
                        .map_or_else(|| default_name(index.keys()), str::to_owned),
                })
            }
            _ => Err(DedupeError::Driver {
                operation: "createIndexes",
                source: err,
            }),
        },
    }
}

/// Reads the index `name` back and checks it is the index `index` asks for, in state
/// `expected` (prepared, or unique): what `collMod` changed is the index asked for, even
/// when another client dropped or replaced it meanwhile. Otherwise
/// [`DedupeError::IndexChanged`].
pub(super) async fn read_back(
    collection: &Collection<Document>,
    index: &UniqueIndex,
    name: &str,
    expected: IndexState,
) -> Result<(), DedupeError> {
    let indexes = indexes::list(collection).await?;
    let found = indexes.iter().find(|found| found.name() == name);
    match found {
        Some(found) if found.is_same_as(index) && state(found) == expected => Ok(()),
        _ => Err(DedupeError::IndexChanged {
            name: name.to_owned(),
        }),
    }
}

/// The groups of a refused conversion: each `_id` by a 64-bit hash, each group by its size,
/// read straight from the raw reply (a fraction of its parsed size).
#[derive(Default)]
pub(super) struct Violations {
    pub(super) sizes: Vec<usize>,
    group_of: HashMap<u64, usize>,
}

impl Violations {
    fn read(reply: &RawDocument) -> Option<Self> {
        let mut violations = Violations::default();
        for (n, entry) in reply.get_array("violations").ok()?.into_iter().enumerate() {
            let ids = entry.ok()?.as_document()?.get_array("ids").ok()?;
            let mut size = 0;
            for id in ids {
                let id = Bson::try_from(id.ok()?).ok()?;
                violations.group_of.insert(id_hash(&id), n);
                size += 1;
            }
            violations.sizes.push(size);
        }
        Some(violations)
    }
}

/// `collMod { index: <change> }`; with `dry_run`, only checks. A refusal for duplicates
/// answers their groups, `None` meaning none.
pub(super) async fn collmod(
    collection: &Collection<Document>,
    change: Document,
    dry_run: bool,
) -> Result<Option<Violations>, DedupeError> {
    let namespace = collection.namespace();
    let mut command = doc! { "collMod": &namespace.coll, "index": change };
    if dry_run {
        command.insert("dryRun", true);
    }
    let reply = collection
        .client()
        .database(&namespace.db)
        .run_command(command)
        .await;
    let err = match reply {
        Ok(_) => return Ok(None),
        Err(err) => err,
    };
    if crate::index::command_code(&err) != Some(CANNOT_CONVERT_INDEX_TO_UNIQUE) {
        return Err(DedupeError::Driver {
            operation: "collMod",
            source: err,
        });
    }
    err.server_response()
        .and_then(|raw| Violations::read(raw))
        .map(Some)
        .ok_or(DedupeError::Reply {
            detail: "a refused conversion without readable violations",
        })
}

/// Compares the server's dry-run violations with [`find_duplicates`]' groups, group by
/// group; answers how many groups there are. Tries again a few times before reporting a
/// disagreement, since deletes by other clients can land between the two reads.
pub(super) async fn cross_check(
    collection: &Collection<Document>,
    index: &UniqueIndex,
    name: &str,
) -> Result<u64, DedupeError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Violations { sizes, group_of } =
            collmod(collection, doc! { "name": name, "unique": true }, true)
                .await?
                .unwrap_or_default();
        let mut groups = find_duplicates(collection, index)
            .max_ids_per_group(i32::MAX as usize)
            .await?;
        let mut found = 0u64;
        let mut agree = true;
        while let Some(group) = groups.try_next().await? {
            found += 1;
            let mut numbers = group.ids().iter().map(|id| group_of.get(&id_hash(id)));
            let first = numbers.next().flatten();
            agree &= first.is_some_and(|n| sizes[*n] == group.ids().len())
                && numbers.all(|n| n == first);
        }
        agree &= found == sizes.len() as u64;
        if agree {
            return Ok(found);
        }
        if attempt >= CROSS_CHECKS {
            return Err(DedupeError::Disagreement {
                server_groups: sizes.len() as u64,
                found_groups: found,
            });
        }
    }
}

/// A hash of an `_id`'s type and value, without allocating.
fn id_hash(id: &Bson) -> u64 {
    use std::fmt::Write;
    use std::hash::{DefaultHasher, Hasher};

    struct Writer(DefaultHasher);
    impl Write for Writer {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut writer = Writer(DefaultHasher::new());
    let _ = write!(writer, "{id:?}");
    writer.0.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(spec: Document) -> Index {
        Index::from_spec(spec).unwrap()
    }

    fn same_index(wanted: &UniqueIndex, found: &Index) -> bool {
        found.is_same_as(wanted)
    }

    #[test]
    fn the_state_is_read_from_the_spec() {
        let wanted = UniqueIndex::new(["email"]);
        let plain = spec(doc! { "key": { "email": 1 }, "name": "email_1" });
        assert!(same_index(&wanted, &plain));
        assert_eq!(state(&plain), IndexState::Plain);
        let prepared =
            spec(doc! { "key": { "email": 1 }, "name": "email_1", "prepareUnique": true });
        assert_eq!(state(&prepared), IndexState::Prepared);
        let unique = spec(doc! { "key": { "email": 1 }, "name": "email_1", "unique": true });
        assert_eq!(state(&unique), IndexState::Unique);
        assert!(!same_index(
            &wanted,
            &spec(doc! { "key": { "email": -1 }, "name": "e" })
        ));
        assert!(!same_index(&wanted.clone().with_name("other"), &plain));
        let partial = spec(doc! {
            "key": { "email": 1 }, "name": "email_1",
            "partialFilterExpression": { "active": true },
        });
        assert!(!same_index(&wanted, &partial));
        assert!(same_index(
            &wanted.clone().with_partial_filter(doc! { "active": true }),
            &partial
        ));
        let sparse = spec(doc! { "key": { "email": 1 }, "name": "email_1", "sparse": true });
        assert!(!same_index(&wanted, &sparse));
        assert!(!same_index(&wanted.clone().with_sparse(true), &plain));
        assert!(same_index(&wanted.with_sparse(true), &sparse));
    }

    #[test]
    fn the_default_name_is_the_servers() {
        let index = UniqueIndex::from_keys(doc! { "email": 1, "created": -1 });
        assert_eq!(default_name(index.keys()), "email_1_created_-1");
    }

    #[test]
    fn ids_hash_by_type_and_value() {
        assert_eq!(id_hash(&Bson::Int32(1)), id_hash(&Bson::Int32(1)));
        assert_ne!(id_hash(&Bson::Int32(1)), id_hash(&Bson::Int64(1)));
        assert_ne!(id_hash(&Bson::from("a")), id_hash(&Bson::from("b")));
    }
}
