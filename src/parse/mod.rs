//! E11000 message parser: message text -> [`Parsed`].
//!
//! (stub: the parser helper replaces this file and adds siblings.)

use mongodb::bson::Document;

/// Everything the message text says about one duplicate-key error.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Parsed {
    pub(crate) database: Option<String>,
    pub(crate) collection: Option<String>,
    pub(crate) index: Option<String>,
    pub(crate) collation: Option<Document>,
    /// The key's field names in index order; empty when the message does not name them.
    pub(crate) fields: Vec<String>,
    /// Only from a default index name (`a_1_b_-1`) that agrees with `fields`.
    pub(crate) key_pattern: Option<Document>,
    /// `None` when any part is truncated, a collation key, lossy, or unnamed.
    pub(crate) key_value: Option<Document>,
}

/// Parses a duplicate-key message; `None` when `message` is not one.
pub(crate) fn parse(message: &str) -> Option<Parsed> {
    if message.contains("E11000") || message.contains("Duplicate key violation") {
        Some(Parsed::default())
    } else {
        None
    }
}
