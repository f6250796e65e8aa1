//! MongoDB's duplicate-key error (code 11000, `E11000 duplicate key error ...`) as a typed,
//! first-class value.
//!
//! ```
//! use dupkey::{DuplicateKey, IsDuplicate};
//! use mongodb::bson::doc;
//!
//! let dup = DuplicateKey::from_message(
//!     "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }",
//! )
//! .unwrap();
//! assert_eq!(dup.index(), Some("email_1"));
//! assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));
//! assert!(dup.is_duplicate());
//! ```
//!
//! With a driver error, `use dupkey::IsDuplicate` and ask it: `err.is_duplicate()`,
//! `err.duplicate_key()`, `err.duplicate_keys()`.
//!
//! For writes, extension traits on `mongodb::Collection` return actions shaped like the
//! driver's own (awaited directly, `.session(..)` and option setters) whose conflicts come
//! back as [`Error`] values with the exact key: [`InsertOrConflict`], [`InsertManyOrConflict`]
//! (a bulk import that accounts for every document) and [`UpsertByUnique`] (an upsert checked
//! against the collection's unique indexes). `use dupkey::prelude::*` brings them and
//! [`IsDuplicate`] in.
//!
//! # Features
//!
//! - `anyhow`: [`IsDuplicate`] for `anyhow::Error`, so `anyhow::Result<T>` answers too.
//! - `sync`: the write helpers on the driver's blocking API, in `dupkey::sync`.
//!
//! Across a whole application, [`audit::UpsertAudit`] is a command event handler that flags
//! every upsert whose filter is not plain equality on a unique index's fields.
//!
//! Before a unique index is built, [`dedupe`] finds and cleans the duplicates; after, a
//! [`ConflictBody`] answers web clients with a 409 body that leaks no key value.
//!
//! An application declares its unique constraints once with [`constraints!`], then matches
//! on them (`err.constraint::<UserConstraint>()`, [`WhichConstraint`]), checks them against
//! the live indexes at startup ([`Drift`]), and, with the `axum` or `actix-web` feature,
//! answers a duplicate with a typed 409 from nothing but `?` in a handler (`http::HttpError`).
//! [`redacted`] shows any error in a log line without a duplicated value.

#![warn(missing_docs)]

pub mod audit;
mod bson_compat;
mod codes;
mod conflict;
mod conflict_body;
mod constraint;
pub mod dedupe;
mod duplicate_key;
mod extract;
mod fields;
#[cfg(any(feature = "axum", feature = "actix-web"))]
pub mod http;
mod index;
mod is_duplicate;
mod key_pattern;
mod parse;
mod redact;
mod relaxed;
mod shell;
#[cfg(feature = "sync")]
pub mod sync;

pub use conflict::{
    Error, IndexCache, InsertManyOrConflict, InsertManyReport, InsertOrConflict, Refusal,
    UpsertByUnique, UpsertOutcome, Upserted,
};
pub use conflict_body::ConflictBody;
pub use constraint::{Constraint, Drift, UndeclaredIndex, Unique, WhichConstraint};
pub use duplicate_key::DuplicateKey;
pub use fields::Fields;
pub use is_duplicate::IsDuplicate;
pub use redact::{redacted, Redacted};
pub use shell::Shell;

/// The actions the write helpers return, as `mongodb::action` holds the driver's.
pub mod action {
    pub use crate::conflict::{Insert, InsertMany, Upsert};
}

/// The extension traits, in one `use dupkey::prelude::*`.
pub mod prelude {
    pub use crate::{
        InsertManyOrConflict, InsertOrConflict, IsDuplicate, UpsertByUnique, WhichConstraint,
    };
}
