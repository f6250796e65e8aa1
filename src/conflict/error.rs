//! [`UpsertError`]: why [`UpsertByUnique`](crate::UpsertByUnique) did not upsert.

use crate::DuplicateKey;

/// Why an upsert by unique key did not happen.
///
/// The input variants ([`EmptyFilter`](Self::EmptyFilter),
/// [`NotEquality`](Self::NotEquality), [`NotUnique`](Self::NotUnique),
/// [`ExtraFields`](Self::ExtraFields), [`NotAnUpdate`](Self::NotAnUpdate)) are found before
/// anything is written. `Display` names fields and indexes, never key values.
///
/// # Examples
///
/// ```no_run
/// use dupkey::{UpsertByUnique, UpsertError};
/// use mongodb::bson::{doc, Document};
///
/// # async fn run(users: mongodb::Collection<Document>) {
/// match users.upsert_by_unique(doc! { "name": "Ann" }, doc! { "$inc": { "visits": 1 } }).await {
///     Ok(upserted) => println!("{:?} {}", upserted.outcome(), upserted.id()),
///     Err(UpsertError::NotUnique { fields, .. }) => println!("no unique index on {fields:?}"),
///     Err(UpsertError::Duplicate(dup)) => println!("collided: {dup}"),
///     Err(other) => println!("{other}"),
/// }
/// # }
/// ```
// `Duplicate` is large (a `DuplicateKey`), but boxed it would hide the `DuplicateKey` from
// `source()` downcasts (`IsDuplicate` on an `anyhow::Error`, say); an upsert returns one error
// per call, after a network round trip.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpsertError {
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
    /// second document with the same values (and races on them end in E11000 on another
    /// index, or in duplicates).
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

    /// The update has no update operators (`$set`, `$inc`, ...): it is a replacement, or
    /// empty.
    #[error("upsert update has no update operators")]
    NotAnUpdate,

    /// The write collided on a unique key: on another unique index than the filter's, or on
    /// the filter's own after the retries. Inside a transaction, this ended it.
    #[error("upsert collided with a unique key")]
    Duplicate(#[source] DuplicateKey),

    /// Any other error, from the driver or the server, untouched.
    #[error("mongodb upsert failed")]
    Driver(#[source] mongodb::error::Error),
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::UpsertError;
    use crate::DuplicateKey;

    #[test]
    fn display_is_one_clause_without_the_source() {
        let text = "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }";
        let dup = DuplicateKey::from_message(text).unwrap();
        let err = UpsertError::Duplicate(dup.clone());
        assert_eq!(err.to_string(), "upsert collided with a unique key");
        assert_eq!(err.source().map(|s| s.to_string()), Some(dup.to_string()));
        assert!(!err.to_string().contains("ann@example.com"));

        let driver = mongodb::error::Error::from(mongodb::error::ErrorKind::Shutdown);
        let err = UpsertError::Driver(driver);
        assert_eq!(err.to_string(), "mongodb upsert failed");
        assert!(err.source().is_some());
    }

    #[test]
    fn input_errors_name_fields_only() {
        let err = UpsertError::ExtraFields {
            index: "email_1".into(),
            extra: vec!["name".into()],
        };
        assert_eq!(
            err.to_string(),
            r#"upsert filter fields ["name"] are not part of unique index "email_1""#
        );
        let err = UpsertError::NotUnique {
            fields: vec!["name".into()],
        };
        assert_eq!(
            err.to_string(),
            r#"no unique index has exactly the upsert filter's fields ["name"]"#
        );
        let err = UpsertError::NotEquality {
            field: "email".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"upsert filter field "email" is not a plain equality value"#
        );
        assert_eq!(
            UpsertError::EmptyFilter.to_string(),
            "upsert filter is empty"
        );
        assert_eq!(
            UpsertError::NotAnUpdate.to_string(),
            "upsert update has no update operators"
        );
    }
}
