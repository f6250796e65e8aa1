//! What `DuplicateKey::from_message` must read: every getter checked at once.

use dupkey::DuplicateKey;
use mongodb::bson::{oid::ObjectId, Document};

/// What every getter should say.
#[derive(Default)]
pub struct Expected<'a> {
    pub database: Option<&'a str>,
    pub collection: Option<&'a str>,
    pub index: Option<&'a str>,
    pub fields: &'a [&'a str],
    pub key_pattern: Option<Document>,
    pub key_value: Option<Document>,
    pub collation: Option<Document>,
}

/// Reads `message` and checks every getter against `expected`.
#[track_caller]
pub fn check(message: &str, expected: Expected<'_>) -> DuplicateKey {
    let dup = DuplicateKey::from_message(message)
        .unwrap_or_else(|| panic!("not read as a duplicate-key message: {message}"));
    assert_eq!(dup.database(), expected.database, "database of {message}");
    assert_eq!(
        dup.collection(),
        expected.collection,
        "collection of {message}"
    );
    assert_eq!(dup.index(), expected.index, "index of {message}");
    assert_eq!(
        dup.fields().collect::<Vec<_>>(),
        expected.fields,
        "fields of {message}"
    );
    assert_eq!(
        dup.key_pattern(),
        expected.key_pattern.as_ref(),
        "key pattern of {message}"
    );
    assert_eq!(
        dup.key_value(),
        expected.key_value.as_ref(),
        "key value of {message}"
    );
    assert_eq!(
        dup.collation(),
        expected.collation.as_ref(),
        "collation of {message}"
    );
    assert_eq!(dup.position(), None);
    assert_eq!(dup.message(), message);
    dup
}

/// The ObjectId the examples use.
pub fn oid() -> ObjectId {
    ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap()
}
