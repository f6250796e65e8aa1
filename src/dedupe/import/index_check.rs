//! One unique index of the target: the queries that find who holds a key on it.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Collation, FindOptions};
use mongodb::Collection;

use super::super::DedupeError;
use crate::index::Index;

/// One unique index (or one with `prepareUnique`) of the target, as the check queries it.
pub(super) struct IndexCheck {
    pub(super) name: String,
    pub(super) is_id: bool,
    /// The key's paths, when it is an ordinary key (not text, geo or hashed).
    pub(super) paths: Option<Vec<String>>,
    /// Which documents it holds, when not all: its partial filter, or for a sparse index
    /// those with at least one key field.
    pub(super) membership: Option<Document>,
    pub(super) collation: Collation,
}

impl IndexCheck {
    pub(super) fn new(index: &Index) -> Self {
        let paths: Vec<String> = index.key().keys().cloned().collect();
        let membership = match index.partial_filter() {
            Some(filter) => Some(filter.clone()),
            None if index.sparse() => Some(any_exists(&paths)),
            None => None,
        };
        IndexCheck {
            name: index.name().to_owned(),
            is_id: index.is_id(),
            paths: index.plain_key().then_some(paths),
            membership,
            collation: index
                .collation()
                .unwrap_or_else(|| Collation::builder().locale("simple").build()),
        }
    }

    /// The stored documents of `target` holding a key of `rows` on this index, found with
    /// one query under its collation (among its members, so that a partial or sparse index
    /// can serve it), projected to `projection`. Nothing on a key that is not ordinary.
    pub(super) async fn stored(
        &self,
        target: &Collection<Document>,
        rows: &[Document],
        projection: Option<&Document>,
    ) -> Result<Vec<Document>, DedupeError> {
        let Some(paths) = &self.paths else {
            return Ok(Vec::new());
        };
        let rows: Vec<&Document> = if self.is_id {
            // A row without `_id` gets a fresh one: it holds no stored key.
            rows.iter().filter(|r| r.contains_key("_id")).collect()
        } else {
            rows.iter().collect()
        };
        let Some(mut filter) = keys_filter(paths, &rows) else {
            return Ok(Vec::new());
        };
        if let Some(membership) = &self.membership {
            filter = doc! { "$and": [membership.clone(), filter] };
        }
        let options = FindOptions::builder()
            .collation(self.collation.clone())
            .projection(projection.cloned())
            .build();
        target
            .find(filter)
            .with_options(options)
            .await
            .map_err(DedupeError::driver("find"))?
            .try_collect()
            .await
            .map_err(DedupeError::driver("find"))
    }

    /// The filter finding the holder of `copy`'s key on this index (`copy` being a member):
    /// `None` when a query cannot name it (a key that is not ordinary, or that holds an
    /// array, which a multikey index compares element by element).
    pub(super) fn holder_filter(&self, copy: &Document) -> Option<Document> {
        if self.is_id {
            return Some(doc! { "_id": copy.get("_id")?.clone() });
        }
        let mut filter = Document::new();
        for path in self.paths.as_ref()? {
            let value = crate::index::paths::value_at(copy, path).cloned();
            if matches!(value, Some(Bson::Array(_))) {
                return None;
            }
            filter.insert(path.clone(), doc! { "$eq": value.unwrap_or(Bson::Null) });
        }
        if let Some(membership) = &self.membership {
            filter = doc! { "$and": [membership.clone(), filter] };
        }
        Some(filter)
    }
}

/// A sparse index's membership: at least one key field present (`null` included).
fn any_exists(paths: &[String]) -> Document {
    let clauses: Vec<Document> = paths
        .iter()
        .map(|p| doc! { p.clone(): { "$exists": true } })
        .collect();
    match <[Document; 1]>::try_from(clauses) {
        Ok([one]) => one,
        Err(clauses) => doc! { "$or": clauses },
    }
}

/// The filter finding the documents that hold one of the rows' keys: `$in` on a single
/// field (an array's elements and the array itself), `$or` of equalities on a compound key.
/// A missing field is looked for as `null`, which also finds missing fields.
fn keys_filter(paths: &[String], rows: &[&Document]) -> Option<Document> {
    let value = |row: &Document, path: &str| {
        crate::index::paths::value_at(row, path)
            .cloned()
            .unwrap_or(Bson::Null)
    };
    if rows.is_empty() {
        return None;
    }
    if let [path] = paths {
        let mut values = Vec::with_capacity(rows.len());
        for row in rows {
            let v = value(row, path);
            if let Bson::Array(items) = &v {
                values.extend(items.iter().cloned());
            }
            values.push(v);
        }
        return Some(doc! { path.clone(): { "$in": values } });
    }
    let clauses: Vec<Document> = rows
        .iter()
        .map(|row| {
            paths
                .iter()
                .map(|p| (p.clone(), Bson::from(doc! { "$eq": value(row, p) })))
                .collect()
        })
        .collect();
    Some(doc! { "$or": clauses })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_looked_for_by_in_or_by_or() {
        let rows = [
            doc! { "email": "a", "t": 1 },
            doc! { "t": 2 },
            doc! { "email": ["b", "c"] },
        ];
        let rows: Vec<&Document> = rows.iter().collect();
        assert_eq!(
            keys_filter(&["email".to_owned()], &rows),
            Some(doc! { "email": { "$in": ["a", Bson::Null, "b", "c", ["b", "c"]] } })
        );
        assert_eq!(
            keys_filter(&["email".to_owned(), "t".to_owned()], &rows[..2]),
            Some(doc! { "$or": [
                { "email": { "$eq": "a" }, "t": { "$eq": 1 } },
                { "email": { "$eq": Bson::Null }, "t": { "$eq": 2 } },
            ] })
        );
        assert_eq!(keys_filter(&["email".to_owned()], &[]), None);
    }

    #[test]
    fn a_sparse_index_holds_documents_with_any_key_field() {
        let sparse = Index::from_spec(
            doc! { "key": { "a": 1, "b": 1 }, "name": "a_1_b_1", "unique": true, "sparse": true },
        )
        .unwrap();
        assert_eq!(
            IndexCheck::new(&sparse).membership,
            Some(doc! { "$or": [{ "a": { "$exists": true } }, { "b": { "$exists": true } }] })
        );
        let one = Index::from_spec(
            doc! { "key": { "a": 1 }, "name": "a_1", "unique": true, "sparse": true },
        )
        .unwrap();
        assert_eq!(
            IndexCheck::new(&one).membership,
            Some(doc! { "a": { "$exists": true } })
        );
        let plain =
            Index::from_spec(doc! { "key": { "a": 1 }, "name": "a_1", "unique": true }).unwrap();
        assert_eq!(IndexCheck::new(&plain).membership, None);
    }
}
