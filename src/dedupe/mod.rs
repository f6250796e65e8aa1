//! Find and clean duplicates before building a unique index, build it, and verify.
//!
//! The steps, each usable on its own:
//! 1. [`find_duplicates`]: stream the groups of documents that share a key;
//! 2. resolve them the three ways, keeping one document per group ([`Keep`]), in batches,
//!    with a dry run that reports exactly what would be written:
//!    - [`remove_duplicates`]: delete the others by `_id`;
//!    - [`merge_duplicates`]: fold the others into the survivor ([`Merge`]), then delete them;
//!    - [`rekey_duplicates`]: give the others keys of their own ([`Rekey`]);
//!
//!    each archives every document it deletes or changes first ([`Archive`]; optional for
//!    a delete), and [`restore`] puts a run back. Each deletes or changes only by exact
//!    `_id` and key as read, and leaves alone (reporting it in [`Report::skipped`]) a group
//!    whose survivor another writer changed meanwhile, and the group without a key (every
//!    key field null or missing) unless asked for;
//! 3. [`create_unique_index`]: check again, then build; duplicates come back as
//!    [`DedupeError::Duplicates`] instead of a late server failure;
//! 4. [`verify`]: no duplicates left, and the unique index is there.
//!
//! Around them:
//! - [`check_import`]: which rows of an import would collide (with each other, with stored
//!   documents) on the collection's unique indexes, before anything is written;
//! - [`rollout_unique_index`]: on MongoDB 6.0+, the index is made to refuse new duplicates
//!   first (`prepareUnique`), then cleaned and converted, so no duplicate slips in between;
//!   older servers take steps 2 and 3, which leave that window.
//!
//! Every step takes the [`UniqueIndex`] to be built, so it compares keys as that index
//! will: under its collation, among the documents its partial filter selects.
//!
//! # What counts as a duplicate
//!
//! What the unique index treats as equal:
//! - a missing field and `null` are the same key (`{}` and `{ email: null }` collide);
//! - numbers compare by value (`1`, `1.0`, `NumberLong(1)` and `NumberDecimal("1")` collide);
//! - strings compare under the index's collation, and byte for byte without one;
//! - embedded documents compare whole, field order included;
//! - only documents matching the partial filter take part.
//!
//! **Not supported: array values in key fields.** A unique index on a field that holds
//! arrays is multikey: it indexes each element, so `{ tags: ["a", "b"] }` collides with
//! `{ tags: "b" }` and an empty array is indexed as `undefined`. This module does not compute
//! element-wise collisions: when any document holds an array in a key field (a dotted path
//! through an array of documents included), the operation stops with
//! [`DedupeError::ArrayKey`] instead of answering wrongly. A sparse index
//! ([`UniqueIndex::with_sparse`]) leaves out documents that lack every key field.
//!
//! # Examples
//!
//! ```no_run
//! use dupkey::dedupe::{self, Keep, UniqueIndex};
//!
//! # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dedupe::DedupeError> {
//! let index = UniqueIndex::new(["tenant", "email"]);
//! let removed = dedupe::remove_duplicates(&users, &index, Keep::oldest()).await?;
//! let name = dedupe::create_unique_index(&users, &index).await?;
//! assert!(dedupe::verify(&users, &index).await?.is_verified());
//! println!("deleted {} duplicates, built {name}", removed.removed());
//! # Ok(())
//! # }
//! ```

mod archive;
mod build;
mod check;
mod engine;
mod error;
mod find;
mod import;
mod indexes;
mod keep;
mod merged;
mod pipeline;
mod plan;
mod report;
mod resolve;
mod restore;
mod rollout;
mod rules;
mod scratch;
mod spec;
mod step_down;
mod update;

pub use archive::Archive;
pub use build::{create_unique_index, verify, CreateUniqueIndex, Verification};
pub use error::DedupeError;
pub use find::{find_duplicates, DuplicateGroup, DuplicateGroups, FindDuplicates, Progress};
pub use import::{
    check_import, check_import_stream, CheckImport, Collider, ImportCheck, ImportProgress,
    InvalidRow, RowConflict, ValidatorCheck,
};
pub use keep::Keep;
pub use report::{Removal, Report, Resolution, SkipReason, Skipped};
pub use resolve::{
    merge_duplicates, rekey_duplicates, remove_duplicates, RemoveDuplicates, ResolveDuplicates,
};
pub use restore::{restore, Restore, RestoreRefusal, Restored};
pub use rollout::{
    rollout_unique_index, IndexState, Resolve, Rollout, RolloutProgress, RolloutStep,
    RolloutUniqueIndex,
};
pub use rules::{Merge, Rekey};
pub use spec::UniqueIndex;
