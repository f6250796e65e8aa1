//! Conflict-aware writes on [`mongodb::Collection`]: the writes the E11000 guides tell people
//! to hand-roll, done once, as actions shaped like the driver's own.
//!
//! - [`InsertOrConflict`]: an insert whose duplicate comes back with the exact key it
//!   collided on.
//! - [`InsertManyOrConflict`]: a bulk insert that inserts what it can and reports every
//!   inserted id, every duplicate and every other failure, by position.
//! - [`UpsertByUnique`]: one atomic find-or-insert keyed by a unique index, checked before it
//!   writes, retried where the server does not retry the race itself.
//!
//! Every helper returns an action: set options on it (`.session(&mut s)`,
//! `.write_concern(..)`, ...), then await it. A conflict is an `Err` ([`Error`]), one shape
//! for all three.
//!
//! Layout: `insert`, `insert_many` and `upsert` hold the traits and their actions; `error`
//! holds [`Error`] and [`Refusal`]; `batches` cuts a bulk insert's batches so each reply
//! fits; `index_cache` reads and caches `listIndexes` per [`IndexCache`] (the index model
//! itself is `crate::index`); `prepare` serializes the documents sent;
//! `key_values` reads a key's values out of a document; `exact` gives a
//! [`DuplicateKey`](crate::DuplicateKey) the exact key out of the document that was sent;
//! `upsert_rules` holds the upsert's checks and retry decisions, which do no I/O, and
//! `upsert_scope` whether an upsert stays inside a partial or sparse index.

pub(crate) mod batches;
mod error;
pub(crate) mod exact;
pub(crate) mod index_cache;
mod insert;
pub(crate) mod insert_many;
mod key_values;
pub(crate) mod prepare;
mod upsert;
pub(crate) mod upsert_rules;
mod upsert_scope;

pub use error::{Error, Refusal};
pub use index_cache::IndexCache;
pub use insert::{Insert, InsertOrConflict};
pub use insert_many::{InsertMany, InsertManyOrConflict, InsertManyReport};
pub use upsert::{Upsert, UpsertByUnique, UpsertOutcome, Upserted};

// The upsert filter rule, shared with the upsert audit.
pub(crate) use upsert_rules::{backing_index, equality_fields};

/// Seals the extension traits: only [`mongodb::Collection`] (and, with the `sync` feature,
/// `mongodb::sync::Collection`) implements them.
pub(crate) mod private {
    pub trait Sealed {}

    impl<T: Send + Sync> Sealed for mongodb::Collection<T> {}

    #[cfg(feature = "sync")]
    impl<T: Send + Sync> Sealed for mongodb::sync::Collection<T> {}
}

/// The setters every action has (`session`, `index_cache`, and the options of the driver
/// action it wraps that leave the helper's own rules alone), and those of one option type.
macro_rules! setters {
    (common) => {
        $crate::conflict::setters!(common, ::mongodb::ClientSession);
    };
    (common, $session:ty) => {
        /// Runs the write in `session` (and its transaction, if one is started).
        pub fn session(mut self, session: &'a mut $session) -> Self {
            self.session = Some(session);
            self
        }

        /// Reads and caches index lists in `cache` instead of
        /// [`IndexCache::global`](crate::IndexCache::global): one cache per deployment.
        pub fn index_cache(mut self, cache: &'a $crate::IndexCache) -> Self {
            self.cache = cache;
            self
        }

        /// The write concern of the write.
        pub fn write_concern(mut self, write_concern: ::mongodb::options::WriteConcern) -> Self {
            self.options.write_concern = Some(write_concern);
            self
        }

        /// A comment the server logs and profiles with the write.
        pub fn comment(mut self, comment: impl Into<::mongodb::bson::Bson>) -> Self {
            self.options.comment = Some(comment.into());
            self
        }

        /// Skips the collection's document validation.
        pub fn bypass_document_validation(mut self, bypass: bool) -> Self {
            self.options.bypass_document_validation = Some(bypass);
            self
        }
    };
    (upsert) => {
        /// The most time the server may spend on the write.
        pub fn max_time(mut self, max_time: ::std::time::Duration) -> Self {
            self.options.max_time = Some(max_time);
            self
        }

        /// Variables the update can read as `$$name`.
        pub fn let_vars(mut self, let_vars: ::mongodb::bson::Document) -> Self {
            self.options.let_vars = Some(let_vars);
            self
        }

        /// Which array elements the update's `$[identifier]` paths change.
        pub fn array_filters(
            mut self,
            array_filters: impl IntoIterator<Item = ::mongodb::bson::Document>,
        ) -> Self {
            self.options.array_filters = Some(array_filters.into_iter().collect());
            self
        }

        /// The index the server uses to find the document.
        pub fn hint(mut self, hint: ::mongodb::options::Hint) -> Self {
            self.options.hint = Some(hint);
            self
        }
    };
}
pub(crate) use setters;
