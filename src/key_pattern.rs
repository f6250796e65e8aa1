//! What a unique index's key pattern says about its keys.

use mongodb::bson::{Bson, Document};

/// Whether every field of `pattern` is a plain ascending or descending key: the index holds
/// the field's value itself. A `"2dsphere"`, `"2d"`, `"text"` or `"hashed"` field holds
/// something computed from it (cells, terms, a hash), not what the document says.
pub(crate) fn is_plain(pattern: &Document) -> bool {
    pattern.values().all(|direction| {
        matches!(
            direction,
            Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
        )
    })
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::is_plain;

    #[test]
    fn only_ascending_and_descending_keys_are_plain() {
        assert!(is_plain(&doc! { "a": 1, "b": -1, "c": 1.0, "d": 1_i64 }));
        assert!(!is_plain(&doc! { "loc": "2dsphere" }));
        assert!(!is_plain(&doc! { "_fts": "text", "_ftsx": 1 }));
        assert!(!is_plain(&doc! { "a": 1, "h": "hashed" }));
    }
}
