//! The JSON objects a [`Unique`](super::Unique) declaration holds (collation, partial filter),
//! read as BSON documents.

use mongodb::bson::{Bson, Document};
use serde_json::Value;

/// The document a JSON object text describes; `None` for anything else. Integers become
/// int32 when they fit, else int64; other numbers doubles.
pub(crate) fn document(text: &str) -> Option<Document> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Object(map) => Some(map.into_iter().map(|(k, v)| (k, bson(v))).collect()),
        _ => None,
    }
}

fn bson(value: Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
            (None, Some(f)) => Bson::Double(f),
            // Beyond i64 (a u64): as a double, as the shell would store it.
            (None, None) => Bson::Double(n.as_u64().map_or(f64::NAN, |u| u as f64)),
        },
        Value::String(s) => Bson::String(s),
        Value::Array(items) => Bson::Array(items.into_iter().map(bson).collect()),
        Value::Object(map) => Bson::Document(map.into_iter().map(|(k, v)| (k, bson(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::document;

    #[test]
    fn objects_become_documents_with_their_number_types() {
        assert_eq!(
            document(
                r#"{ "locale": "en", "strength": 2, "big": 5000000000, "x": 1.5, "n": null, "a": [true, { "b": "c" }] }"#
            ),
            Some(
                doc! { "locale": "en", "strength": 2, "big": 5_000_000_000_i64, "x": 1.5, "n": null, "a": [true, { "b": "c" }] }
            )
        );
        assert_eq!(document("[1]"), None);
        assert_eq!(document("{ locale: 'en' }"), None);
    }
}
