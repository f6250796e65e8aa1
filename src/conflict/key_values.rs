//! A unique index's key values, read out of a document the way the server indexes it.

use mongodb::bson::{Bson, Document, RawBsonRef, RawDocument};

/// The values of `doc` under each field of the key `pattern`, keyed by the pattern's field
/// names (dotted paths stay dotted, as in the server's `keyValue`): `{ "profile.email": .. }`.
///
/// A missing field, or a path through a value that is not a document, is `null`: that is
/// what the server puts in the index. `None` when a path meets an array (a multikey index
/// holds one entry per element, and the document does not say which one collided) or when
/// the document cannot be read.
pub(crate) fn key_value(doc: &RawDocument, pattern: &Document) -> Option<Document> {
    let mut value = Document::new();
    for field in pattern.keys() {
        let found = match lookup(doc, field)? {
            Some(raw) => Bson::try_from(raw).ok()?,
            None => Bson::Null,
        };
        value.insert(field.clone(), found);
    }
    Some(value)
}

/// The value at a dotted `path`: `Some(None)` when it is missing, `None` when it cannot be
/// told (an array on the way or at the end, an unreadable document).
fn lookup<'a>(doc: &'a RawDocument, path: &str) -> Option<Option<RawBsonRef<'a>>> {
    let mut current = doc;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        match current.get(segment).ok()? {
            None => return Some(None),
            Some(RawBsonRef::Array(_)) => return None,
            Some(RawBsonRef::Document(inner)) if segments.peek().is_some() => current = inner,
            // A scalar in the middle of the path: the indexed value is null.
            Some(_) if segments.peek().is_some() => return Some(None),
            Some(value) => return Some(Some(value)),
        }
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, oid::ObjectId, rawdoc, Bson, Document};

    use super::key_value;

    #[test]
    fn top_level_and_compound() {
        let id = ObjectId::new();
        let sent = rawdoc! { "_id": id, "tenant": 3_i64, "email": "ann@example.com" };
        assert_eq!(
            key_value(&sent, &doc! { "tenant": 1, "email": -1 }),
            Some(doc! { "tenant": 3_i64, "email": "ann@example.com" })
        );
        assert_eq!(
            key_value(&sent, &doc! { "_id": 1 }),
            Some(doc! { "_id": id })
        );
    }

    #[test]
    fn nested_paths_stay_dotted() {
        let sent = rawdoc! { "profile": { "email": "a@b.c", "name": { "first": "Ann" } } };
        assert_eq!(
            key_value(&sent, &doc! { "profile.email": 1, "profile.name.first": 1 }),
            Some(doc! { "profile.email": "a@b.c", "profile.name.first": "Ann" })
        );
    }

    #[test]
    fn missing_is_null_as_indexed() {
        let sent = rawdoc! { "profile": "not a document", "other": 1 };
        assert_eq!(
            key_value(&sent, &doc! { "email": 1, "profile.email": 1 }),
            Some(doc! { "email": Bson::Null, "profile.email": Bson::Null })
        );
    }

    #[test]
    fn embedded_document_value() {
        let sent = rawdoc! { "address": { "city": "Oslo", "zip": "0150" } };
        assert_eq!(
            key_value(&sent, &doc! { "address": 1 }),
            Some(doc! { "address": { "city": "Oslo", "zip": "0150" } })
        );
    }

    #[test]
    fn arrays_are_not_guessed() {
        let sent = rawdoc! { "tags": ["a", "b"], "items": [{ "sku": 1 }] };
        assert_eq!(key_value(&sent, &doc! { "tags": 1 }), None);
        assert_eq!(key_value(&sent, &doc! { "items.sku": 1 }), None);
    }

    #[test]
    fn empty_pattern_is_empty_value() {
        assert_eq!(
            key_value(&rawdoc! { "a": 1 }, &Document::new()),
            Some(Document::new())
        );
    }
}
