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
//! For writes, extension traits on `mongodb::Collection` return conflicts as values, with
//! the exact key: [`InsertOrConflict`], [`InsertManyOrConflict`] (a bulk import's report) and
//! [`UpsertByUnique`] (an upsert checked against the collection's unique indexes).
//!
//! Before a unique index is built, [`dedupe`] finds and cleans the duplicates; after, a
//! [`ConflictBody`] answers web clients with a 409 body that leaks no key value.

#![warn(missing_docs)]

mod bson_compat;
mod codes;
mod conflict;
mod conflict_body;
pub mod dedupe;
mod duplicate_key;
mod extract;
mod fields;
mod is_duplicate;
mod key_pattern;
mod parse;

pub use conflict::{
    InsertManyOrConflict, InsertManyReport, InsertOrConflict, UpsertByUnique, UpsertError,
    UpsertOutcome, Upserted,
};
pub use conflict_body::ConflictBody;
pub use duplicate_key::DuplicateKey;
pub use fields::Fields;
pub use is_duplicate::IsDuplicate;
