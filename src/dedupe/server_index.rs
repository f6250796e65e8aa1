//! The indexes a collection has, read raw from `listIndexes` (the driver's `IndexOptions`
//! has no `prepareUnique`), and the paths a key or a partial filter names.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::Collation;
use mongodb::Collection;

use super::DedupeError;
use crate::conflict::indexes::truthy;

/// One index as `listIndexes` describes it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ServerIndex {
    pub(crate) spec: Document,
}

impl ServerIndex {
    pub(crate) fn name(&self) -> &str {
        self.spec.get_str("name").unwrap_or("")
    }

    pub(crate) fn key(&self) -> Document {
        self.spec.get_document("key").cloned().unwrap_or_default()
    }

    pub(crate) fn is_id(&self) -> bool {
        let key = self.key();
        key.len() == 1 && key.contains_key("_id")
    }

    pub(crate) fn unique(&self) -> bool {
        truthy(self.spec.get("unique")) || self.is_id()
    }

    pub(crate) fn prepare_unique(&self) -> bool {
        truthy(self.spec.get("prepareUnique"))
    }

    /// Refuses duplicates of new writes: unique, or prepared to become so.
    pub(crate) fn refuses_duplicates(&self) -> bool {
        self.unique() || self.prepare_unique()
    }

    pub(crate) fn partial_filter(&self) -> Option<&Document> {
        self.spec.get_document("partialFilterExpression").ok()
    }

    /// The collation the index compares under; `None` is simple (byte-wise).
    pub(crate) fn collation(&self) -> Option<Collation> {
        let collation = self.spec.get_document("collation").ok()?;
        crate::bson_compat::from_document(collation.clone()).ok()
    }

    /// Whether every key part is an ordinary ascending or descending field (not text, geo
    /// or hashed): then a key filter on the paths finds the documents holding a key.
    pub(crate) fn plain_key(&self) -> bool {
        crate::key_pattern::is_plain(&self.key())
    }
}

/// Every index of `collection`, as `listIndexes` lists it.
pub(crate) async fn list(
    collection: &Collection<Document>,
) -> Result<Vec<ServerIndex>, DedupeError> {
    let specs = crate::conflict::list_specs(collection)
        .await
        .map_err(DedupeError::driver("listIndexes"))?
        .ok_or_else(|| DedupeError::CollectionNotFound {
            namespace: collection.namespace().to_string(),
        })?;
    Ok(specs.into_iter().map(|spec| ServerIndex { spec }).collect())
}

/// The collection's default collation (`listCollections`' `options.collation`).
pub(crate) async fn default_collation(
    collection: &Collection<Document>,
) -> Result<Option<Document>, DedupeError> {
    let namespace = collection.namespace();
    let mut specs = collection
        .client()
        .database(&namespace.db)
        .list_collections()
        .filter(doc! { "name": &namespace.coll })
        .await
        .map_err(DedupeError::driver("listCollections"))?;
    let spec = specs
        .try_next()
        .await
        .map_err(DedupeError::driver("listCollections"))?
        .ok_or_else(|| DedupeError::CollectionNotFound {
            namespace: namespace.to_string(),
        })?;
    Ok(spec
        .options
        .collation
        .and_then(|c| crate::bson_compat::to_document(&c)))
}

/// The server's error code, for a command error.
pub(crate) fn code(err: &mongodb::error::Error) -> Option<i32> {
    match &*err.kind {
        mongodb::error::ErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

/// The field paths a partial filter names: keys not starting with `$`, looked for through
/// `$and`, `$or` and the like.
pub(crate) fn filter_paths(filter: &Document, paths: &mut Vec<String>) {
    for (key, value) in filter {
        if !key.starts_with('$') {
            paths.push(key.clone());
            continue;
        }
        match value {
            Bson::Document(inner) => filter_paths(inner, paths),
            Bson::Array(items) => {
                for item in items {
                    if let Bson::Document(inner) = item {
                        filter_paths(inner, paths);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The value at a dotted `path` of `document`, as a query on the path compares it:
/// `None` when missing. A path through an array of documents reads no further.
pub(crate) fn value_at<'a>(document: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut value = document.get(parts.next()?)?;
    for part in parts {
        value = match value {
            Bson::Document(inner) => inner.get(part)?,
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_paths_look_through_operators() {
        let mut paths = Vec::new();
        filter_paths(
            &doc! { "a": { "$exists": true }, "$and": [{ "b.c": 1 }, { "$or": [{ "d": 2 }] }] },
            &mut paths,
        );
        assert_eq!(paths, ["a", "b.c", "d"]);
    }

    #[test]
    fn values_are_read_at_dotted_paths() {
        let d = doc! { "a": { "b": 1 }, "c": [1, 2], "n": Bson::Null };
        assert_eq!(value_at(&d, "a.b"), Some(&Bson::Int32(1)));
        assert_eq!(value_at(&d, "a.x"), None);
        assert_eq!(
            value_at(&d, "c"),
            Some(&Bson::Array(vec![1.into(), 2.into()]))
        );
        assert_eq!(value_at(&d, "c.0"), None);
        assert_eq!(value_at(&d, "n"), Some(&Bson::Null));
    }

    #[test]
    fn index_flags_are_read_from_the_spec() {
        let plain = ServerIndex {
            spec: doc! { "v": 2, "key": { "email": 1 }, "name": "email_1" },
        };
        assert!(!plain.refuses_duplicates());
        let prepared = ServerIndex {
            spec: doc! { "v": 2, "key": { "email": 1 }, "name": "email_1", "prepareUnique": true },
        };
        assert!(prepared.refuses_duplicates() && !prepared.unique());
        let id = ServerIndex {
            spec: doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" },
        };
        assert!(id.unique() && id.is_id());
        let text = ServerIndex {
            spec: doc! { "key": { "_fts": "text", "_ftsx": 1 }, "name": "t", "unique": true },
        };
        assert!(!text.plain_key());
    }
}
