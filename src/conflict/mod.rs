//! Conflict-aware writes on [`mongodb::Collection`]: the writes the E11000 guides tell people
//! to hand-roll, done once.
//!
//! - [`InsertOrConflict`]: an insert whose duplicate is a value, with the exact key it
//!   collided on.
//! - [`InsertManyOrConflict`]: a bulk insert that inserts what it can and reports one
//!   [`DuplicateKey`](crate::DuplicateKey) per rejected document.
//! - [`UpsertByUnique`]: one atomic find-or-insert keyed by a unique index, checked before it
//!   writes, retried where the server does not retry the race itself.
//!
//! Each helper has a `_with_session` variant that runs in the caller's session or
//! transaction. A duplicate key aborts a transaction on the server: a helper that reports a
//! conflict inside one has ended it (see the variants' docs).
//!
//! Layout: `insert`, `insert_many` and `upsert` hold the traits; `index_cache` reads and
//! caches `listIndexes`; `key_values` reads a key's values out of a document; `exact` gives a
//! [`DuplicateKey`](crate::DuplicateKey) the exact key out of the document that was sent;
//! `error` holds [`UpsertError`].

mod error;
mod exact;
mod index_cache;
mod insert;
mod insert_many;
mod key_values;
mod upsert;

pub use error::UpsertError;
pub use insert::InsertOrConflict;
pub use insert_many::{InsertManyOrConflict, InsertManyReport};
pub use upsert::{UpsertByUnique, UpsertOutcome, Upserted};

// The upsert filter rule, shared with the upsert audit.
pub(crate) use index_cache::{list_indexes, Indexes};
pub(crate) use upsert::{equality_fields, unique_index};

/// Seals the extension traits: only [`mongodb::Collection`] implements them.
mod private {
    pub trait Sealed {}

    impl<T: Send + Sync> Sealed for mongodb::Collection<T> {}
}
