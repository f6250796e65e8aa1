//! [`Error`]: why a conflict-aware write did not do all it was asked, and [`Refusal`]: why
//! [`upsert_by_unique`](crate::UpsertByUnique::upsert_by_unique) did not write at all.

use crate::{DuplicateKey, InsertManyReport};

/// Why a write helper did not do all it was asked.
///
/// A conflict is an `Err`, so the natural `?` ends a transaction callback the duplicate has
/// already aborted on the server, and `.await.is_duplicate()`
/// ([`IsDuplicate`](crate::IsDuplicate)) answers `true` on one. Match the variants to handle
/// a conflict as a value:
///
/// ```no_run
/// use dupkey::prelude::*;
/// use mongodb::bson::{doc, Document};
///
/// # async fn signup(users: mongodb::Collection<Document>) -> Result<u16, dupkey::Error> {
/// match users.insert_or_conflict(doc! { "email": "ann@example.com" }).await {
///     Ok(_) => Ok(201),
///     Err(dupkey::Error::Duplicate(dup)) => {
///         println!("taken: {:?}", dup.key_value());
///         Ok(409)
///     }
///     Err(other) => Err(other),
/// }
/// # }
/// ```
///
/// `?` converts it into `Box<dyn Error + Send + Sync>`, `anyhow::Error`, a thiserror enum
/// with `#[from]`, and [`mongodb::error::Error`] (a driver error comes back unchanged, labels
/// and kind included; a conflict is wrapped with [`mongodb::error::Error::custom`], where
/// `is_duplicate()` and `duplicate_key()` still find it).
///
/// `Display` names no key value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The write collided with a unique key: the duplicate, with the exact key it collided
    /// on. Inside a transaction, the server has aborted the transaction.
    #[error("write refused by a unique index")]
    Duplicate(#[source] DuplicateKey),

    /// A bulk insert did not insert every document: the report lists what it inserted, each
    /// duplicate and each other failure, by position.
    #[error("bulk insert did not insert every document")]
    InsertMany(#[source] Box<InsertManyReport>),

    /// The upsert was refused before anything was written.
    #[error("upsert refused before writing")]
    Refused(#[source] Refusal),

    /// Any other error, from the driver or the server, untouched.
    #[error("mongodb write failed")]
    Driver(#[source] mongodb::error::Error),
}

impl Error {
    /// The duplicate, when this is a single write's conflict.
    pub fn duplicate(&self) -> Option<&DuplicateKey> {
        match self {
            Error::Duplicate(dup) => Some(dup),
            _ => None,
        }
    }

    /// The driver's error, when this is one.
    pub fn driver(&self) -> Option<&mongodb::error::Error> {
        match self {
            Error::Driver(err) => Some(err),
            _ => None,
        }
    }
}

impl From<mongodb::error::Error> for Error {
    fn from(err: mongodb::error::Error) -> Self {
        Error::Driver(err)
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        Error::Refused(refusal)
    }
}

/// A driver error comes back as it was; anything else becomes
/// [`Error::custom`](mongodb::error::Error::custom), as the driver's `and_run` docs ask of a
/// callback that ends a transaction with its own error. No label is added, so `and_run` does
/// not run the callback again.
impl From<Error> for mongodb::error::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Driver(err) => err,
            other => mongodb::error::Error::custom(other),
        }
    }
}

/// The driver error that carries `dup`: [`mongodb::error::Error::custom`], which
/// `is_duplicate()` and `duplicate_key()` see through. Return it from a transaction callback
/// to end the transaction with this conflict, or build one in a unit test of conflict
/// handling.
///
/// ```
/// use dupkey::{DuplicateKey, IsDuplicate};
///
/// let dup = DuplicateKey::from_message(
///     "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }",
/// )
/// .unwrap();
/// let err = mongodb::error::Error::from(dup.clone());
/// assert!(err.is_duplicate());
/// assert_eq!(err.duplicate_key(), Some(dup));
/// ```
impl From<DuplicateKey> for mongodb::error::Error {
    fn from(dup: DuplicateKey) -> Self {
        mongodb::error::Error::custom(dup)
    }
}

/// Why an upsert by unique key was refused before anything was written.
///
/// `Display` names fields and indexes, never key values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The filter is empty: it would match any document.
    #[error("upsert filter is empty")]
    EmptyFilter,

    /// A filter field is not a plain equality value: an operator (`{ "$in": [..] }`), a
    /// top-level operator (`$and`, `$or`, ...), a regular expression, or an array (which
    /// matches by element).
    #[error("upsert filter field {field:?} is not a plain equality value")]
    #[non_exhaustive]
    NotEquality {
        /// The filter's field.
        field: String,
    },

    /// No unique index has exactly the filter's fields: an upsert by them could insert a
    /// second document with the same values.
    #[error("no unique index has exactly the upsert filter's fields {fields:?}")]
    #[non_exhaustive]
    NotUnique {
        /// The filter's fields.
        fields: Vec<String>,
    },

    /// The filter has fields beyond a unique index's key: the document found by the other
    /// fields may differ in these, and then the upsert inserts and collides.
    #[error("upsert filter fields {extra:?} are not part of unique index {index:?}")]
    #[non_exhaustive]
    ExtraFields {
        /// The unique index whose key the filter's other fields make up.
        index: String,
        /// The fields beyond its key.
        extra: Vec<String>,
    },

    /// The unique index that backs the filter is partial, and the document the upsert would
    /// insert cannot be proven to match its filter: outside it, two racing upserts would both
    /// insert. The filter's values and the update's `$set`/`$setOnInsert` values are what an
    /// insert is judged by; a condition the check cannot evaluate exactly is not proven.
    #[error("upsert may insert a document outside partial unique index {index:?} (condition {condition:?} not proven)")]
    #[non_exhaustive]
    OutsidePartialFilter {
        /// The partial unique index.
        index: String,
        /// The partial filter's field path (or operator) whose condition was not proven.
        condition: String,
    },

    /// The unique index that backs the filter is sparse, and a key field is null or not set
    /// (or is written by the update): a sparse index skips documents without the key, and
    /// `{ field: null }` also matches every document that lacks it.
    #[error("upsert key field {field:?} may be null or missing, which sparse unique index {index:?} does not guard")]
    #[non_exhaustive]
    SparseKeyMissing {
        /// The sparse unique index.
        index: String,
        /// The key field that is null, missing or written by the update.
        field: String,
    },

    /// The update has no update operators (`$set`, `$inc`, ...): it is a replacement, or
    /// empty.
    #[error("upsert update has no update operators")]
    NotAnUpdate,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::{Error, Refusal};
    use crate::{DuplicateKey, IsDuplicate};

    fn dup() -> DuplicateKey {
        DuplicateKey::from_message(
            "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }",
        )
        .unwrap()
    }

    #[test]
    fn display_is_one_clause_without_the_source() {
        let err = Error::Duplicate(dup());
        assert_eq!(err.to_string(), "write refused by a unique index");
        assert_eq!(err.source().map(|s| s.to_string()), Some(dup().to_string()));
        assert!(!format!("{err}").contains("ann@example.com"));

        let err = Error::Refused(Refusal::EmptyFilter);
        assert_eq!(err.to_string(), "upsert refused before writing");
        assert_eq!(
            err.source().map(|s| s.to_string()).as_deref(),
            Some("upsert filter is empty")
        );

        let driver = mongodb::error::Error::from(mongodb::error::ErrorKind::Shutdown);
        let err = Error::Driver(driver);
        assert_eq!(err.to_string(), "mongodb write failed");
        assert!(err.source().is_some());
    }

    #[test]
    fn refusals_name_fields_only() {
        let err = Refusal::ExtraFields {
            index: "email_1".into(),
            extra: vec!["name".into()],
        };
        assert_eq!(
            err.to_string(),
            r#"upsert filter fields ["name"] are not part of unique index "email_1""#
        );
        let err = Refusal::NotUnique {
            fields: vec!["name".into()],
        };
        assert_eq!(
            err.to_string(),
            r#"no unique index has exactly the upsert filter's fields ["name"]"#
        );
        let err = Refusal::NotEquality {
            field: "email".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"upsert filter field "email" is not a plain equality value"#
        );
        assert_eq!(
            Refusal::NotAnUpdate.to_string(),
            "upsert update has no update operators"
        );
        let err = Refusal::OutsidePartialFilter {
            index: "email_active".into(),
            condition: "active".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"upsert may insert a document outside partial unique index "email_active" (condition "active" not proven)"#
        );
        let err = Refusal::SparseKeyMissing {
            index: "email_sparse".into(),
            field: "email".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"upsert key field "email" may be null or missing, which sparse unique index "email_sparse" does not guard"#
        );
    }

    #[test]
    fn into_a_driver_error_and_back() {
        let driver: mongodb::error::Error = Error::Duplicate(dup()).into();
        assert!(driver.is_duplicate());
        assert_eq!(driver.duplicate_key(), Some(dup()));
        assert!(driver.labels().is_empty());

        let shutdown = mongodb::error::Error::from(mongodb::error::ErrorKind::Shutdown);
        let back: mongodb::error::Error = Error::Driver(shutdown).into();
        assert!(matches!(*back.kind, mongodb::error::ErrorKind::Shutdown));
        assert!(!back.is_duplicate());

        let refused: mongodb::error::Error = Error::Refused(Refusal::NotAnUpdate).into();
        assert!(!refused.is_duplicate());
        assert!(matches!(
            refused.get_custom::<Error>(),
            Some(Error::Refused(Refusal::NotAnUpdate))
        ));
    }
}
