//! [`DedupeError`]: everything that can stop a find, a cleanup, a build or a verify.

use mongodb::bson::Bson;

use super::DuplicateGroup;
use crate::DuplicateKey;

/// Why a [`dedupe`](crate::dedupe) operation stopped.
///
/// Bad input (the first six variants) is refused before anything is read or deleted.
/// `Display` never shows key values; `Debug` does.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::{DedupeError, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) {
/// let err = dupkey::dedupe::find_duplicates(&users, &UniqueIndex::new(["$where"]))
///     .await
///     .unwrap_err();
/// assert!(matches!(err, DedupeError::InvalidField { .. }));
/// assert_eq!(err.to_string(), r#"invalid key field "$where": a path segment starts with '$'"#);
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DedupeError {
    /// The index has no key fields.
    #[error("no key fields given")]
    NoKeyFields,

    /// A field name (of the key, or the keep strategy's sort field) that is not a plain
    /// field path: empty, with an empty segment, a segment starting with `$`, or a NUL byte.
    #[error("invalid key field {field:?}: {reason}")]
    InvalidField {
        /// The name as given.
        field: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A key field given twice.
    #[error("key field {field:?} is listed twice")]
    RepeatedField {
        /// The name as given.
        field: String,
    },

    /// A key direction other than `1` or `-1`.
    #[error("key field {field:?} must have direction 1 or -1")]
    InvalidDirection {
        /// The field.
        field: String,
    },

    /// The collection does not exist (a typo, usually).
    #[error("collection {namespace:?} does not exist")]
    CollectionNotFound {
        /// `<db>.<collection>`.
        namespace: String,
    },

    /// A zero batch size or id limit.
    #[error("{option} must be at least 1")]
    ZeroLimit {
        /// The option's name.
        option: &'static str,
    },

    /// A document holds an array in a key field: a unique index would index each element
    /// (multikey), which this module does not compute.
    #[error("key field {field:?} holds an array; multikey keys are not supported")]
    ArrayKey {
        /// The field.
        field: String,
        /// The group whose key is (or holds) the array.
        group: Box<DuplicateGroup>,
    },

    /// The keep strategy named no survivor for a group; nothing of that group was deleted.
    #[error("the keep strategy named no survivor for a duplicate group")]
    NoSurvivor {
        /// The group.
        group: Box<DuplicateGroup>,
    },

    /// The keep strategy named a survivor that is not one of the group's `_id`s; nothing of
    /// that group was deleted.
    #[error("the keep strategy named a survivor outside its duplicate group")]
    SurvivorOutsideGroup {
        /// The group.
        group: Box<DuplicateGroup>,
        /// The `_id` it named.
        survivor: Bson,
    },

    /// A group has more documents than the id limit, so a caller's keep strategy cannot see
    /// them all; raise `max_ids_per_group`. Nothing of that group was deleted.
    #[error("a duplicate group of {count} documents exceeds the id limit of {limit}")]
    GroupTooLarge {
        /// Documents in the group.
        count: u64,
        /// The id limit in force.
        limit: usize,
    },

    /// [`Rekey::unset`](super::Rekey::unset) on an index that does not leave documents
    /// without the key out: they would all collide on `null`. Nothing was written.
    #[error(
        "unsetting the key needs a sparse index or a partial filter that leaves missing keys out"
    )]
    UnsetNotExcluded,

    /// A [`Rekey::with`](super::Rekey::with) function returned no field to set, or the
    /// `_id`; nothing of that group was written.
    #[error("invalid new key: {reason}")]
    InvalidRekey {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A merge changed a top-level field whose name holds a dot or starts with `$`, which
    /// an update (`$set`/`$unset`) reads as a path or an operator; nothing of that batch was
    /// written.
    #[error("a merge cannot change the field {field:?}: its name is not a plain field name")]
    MergeField {
        /// The field's name.
        field: String,
    },

    /// The server refused one write of a resolution or a restore (its message, which may
    /// show key values, is only in `Debug`).
    #[error("the server refused a {operation} with code {code}")]
    Refused {
        /// The command: `update`, `insert`, ...
        operation: &'static str,
        /// The server's error code.
        code: i32,
        /// The server's message.
        message: String,
    },

    /// The collection handle's write concern is `w: 0`: a run with an archive, and a
    /// restore, must know what each write did. Nothing was written.
    #[error("archived runs and restores need acknowledged writes, not w: 0")]
    Unacknowledged,

    /// The archive holds no run with this id (a typo, or another archive collection).
    #[error("the archive holds no run {run:?}")]
    UnknownRun {
        /// The run id given.
        run: String,
    },

    /// The run id belongs to a run on another collection, index or action (`what`): a run
    /// id names one run. Nothing was written.
    #[error("run {run:?} belongs to another {what}")]
    RunElsewhere {
        /// The run id given.
        run: String,
        /// `collection`, `index` or `action`.
        what: &'static str,
    },

    /// A write stopped on purpose by the test hook.
    #[doc(hidden)]
    #[error("stopped before write {0} (fault injection)")]
    FaultInjected(u64),

    /// Duplicates stand in the way of the unique index, which was not built.
    #[error("{total} duplicate groups block the unique index")]
    Duplicates {
        /// The first groups found, at most the limit asked for.
        groups: Vec<DuplicateGroup>,
        /// How many groups there are in all.
        total: u64,
    },

    /// The index build failed on a duplicate that none of the checks saw: a write that raced
    /// in after them.
    #[error("the unique index build failed on a duplicate key")]
    IndexBuild {
        /// The duplicate the server reported.
        duplicate: Box<DuplicateKey>,
        /// The `createIndexes` error.
        #[source]
        source: mongodb::error::Error,
    },

    /// Groups of documents whose every key field is null or missing stand in the way of the
    /// unique index; a rollout leaves them alone unless asked to resolve them. Nothing of
    /// them was changed; the index stays prepared (refusing new duplicates), not unique.
    #[error(
        "{groups} groups of documents without the key stand in the way: use a sparse or partial index, or resolve them with null_keys(true)"
    )]
    NullKeyGroups {
        /// How many such groups.
        groups: u64,
    },

    /// The server's violations report (`collMod ... unique: true, dryRun: true`) and the
    /// aggregation disagree on the duplicate groups: nothing was deleted, and the index was
    /// not converted.
    #[error("the server reports {server_groups} duplicate groups, the aggregation {found_groups}")]
    Disagreement {
        /// Groups in the server's report.
        server_groups: u64,
        /// Groups the aggregation found.
        found_groups: u64,
    },

    /// Another index stands where a rollout would create its index: one with the same name
    /// and another key or options, or one with the same key and options and another name.
    /// Nothing was written.
    #[error("another index is in the way of index {name:?} (same name, or same key and options)")]
    IndexInTheWay {
        /// The name the rollout would give its index.
        name: String,
    },

    /// The index a rollout prepared or converted, read back, is not the index asked for
    /// (another client dropped or replaced it meanwhile); the rollout stopped there.
    #[error("index {name:?} changed during the rollout: it is not the index asked for")]
    IndexChanged {
        /// The index's name.
        name: String,
    },

    /// A scratch collection was dropped (by another run's sweep, or by hand) or replaced
    /// while in use: what was judged against it cannot be trusted.
    #[error("scratch collection {name:?} was dropped while in use")]
    ScratchDropped {
        /// Its name.
        name: String,
    },

    /// The server answered something this module cannot read.
    #[error("unexpected reply from the server: {detail}")]
    Reply {
        /// What was wrong.
        detail: &'static str,
    },

    /// A driver operation failed.
    #[error("{operation} failed")]
    Driver {
        /// The command: `aggregate`, `delete`, `createIndexes`, ...
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: mongodb::error::Error,
    },
}

impl DedupeError {
    pub(crate) fn driver(operation: &'static str) -> impl FnOnce(mongodb::error::Error) -> Self {
        move |source| DedupeError::Driver { operation, source }
    }
}
