//! One unique index's check: its scratch copy, the rows' copies, and who holds a refused key.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Collation, FindOneOptions, FindOptions, InsertManyOptions};
use mongodb::Collection;

use super::super::DedupeError;
use super::{Collider, RowConflict, LOOKUPS_IN_FLIGHT};
use crate::extract;
use crate::index::paths::{filter_paths, value_at};
use crate::index::Index;

/// One unique index and its scratch copy.
pub(super) struct IndexCheck {
    pub(super) name: String,
    pub(super) is_id: bool,
    /// The key's paths, when it is an ordinary key (not text, geo or hashed).
    pub(super) paths: Option<Vec<String>>,
    /// The top-level fields a row's scratch copy keeps; `None`: all of them.
    pub(super) fields: Option<Vec<String>>,
    pub(super) partial: Option<Document>,
    pub(super) collation: Collation,
    pub(super) scratch: Collection<Document>,
}

impl IndexCheck {
    pub(super) fn new(index: &Index, scratch: Collection<Document>) -> Self {
        let paths: Vec<String> = index.key().keys().cloned().collect();
        let plain = index.plain_key();
        let mut named = paths.clone();
        if let Some(filter) = index.partial_filter() {
            filter_paths(filter, &mut named);
        }
        let mut fields: Vec<String> = named
            .iter()
            .filter_map(|p| p.split('.').next())
            .map(str::to_owned)
            .collect();
        fields.sort();
        fields.dedup();
        IndexCheck {
            name: index.name().to_owned(),
            is_id: index.is_id(),
            paths: plain.then_some(paths),
            fields: plain.then_some(fields),
            partial: index.partial_filter().cloned(),
            collation: index
                .collation()
                .unwrap_or_else(|| Collation::builder().locale("simple").build()),
            scratch,
        }
    }

    /// The conflicts of one batch of rows, whose first row is at `base`.
    pub(super) async fn batch(
        &self,
        target: &Collection<Document>,
        rows: &[Document],
        base: u64,
    ) -> Result<Vec<RowConflict>, DedupeError> {
        let (positions, copies) = self.copies(rows, base);
        if copies.is_empty() {
            return Ok(Vec::new());
        }
        self.copy_stored(target, rows).await?;
        let refused = insert(&self.scratch, &copies, false).await?;
        stream::iter(refused)
            .map(|i| self.conflict(positions[i], &copies[i]))
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Each row's scratch copy, and its position. On `_id_`: `{ _id, p: position }` (rows
    /// without `_id` are left out); otherwise the fields the index reads, under
    /// `_id: position`.
    pub(super) fn copies(&self, rows: &[Document], base: u64) -> (Vec<u64>, Vec<Document>) {
        let mut positions = Vec::with_capacity(rows.len());
        let mut copies = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let position = base + i as u64;
            let copy = if self.is_id {
                let Some(id) = row.get("_id") else { continue };
                doc! { "_id": id.clone(), "p": position as i64 }
            } else {
                let mut copy = doc! { "_id": position as i64 };
                match &self.fields {
                    Some(fields) => {
                        for field in fields {
                            if let Some(value) = row.get(field) {
                                copy.insert(field.clone(), value.clone());
                            }
                        }
                    }
                    None => {
                        for (field, value) in row.iter().filter(|(f, _)| *f != "_id") {
                            copy.insert(field.clone(), value.clone());
                        }
                    }
                }
                copy
            };
            positions.push(position);
            copies.push(copy);
        }
        (positions, copies)
    }

    /// Copies into the scratch collection the stored documents that hold a key of `rows`,
    /// found with one query under the index's collation (and its partial filter, so that a
    /// partial index can serve it). On `_id_` as `{ _id }`, otherwise under `_id: { s: <_id> }`.
    pub(super) async fn copy_stored(
        &self,
        target: &Collection<Document>,
        rows: &[Document],
    ) -> Result<(), DedupeError> {
        let Some(paths) = &self.paths else {
            return Ok(());
        };
        let Some(mut filter) = keys_filter(paths, rows) else {
            return Ok(());
        };
        if let Some(partial) = &self.partial {
            filter = doc! { "$and": [partial.clone(), filter] };
        }
        let mut projection = doc! { "_id": 1 };
        for field in self.fields.iter().flatten() {
            projection.insert(field.clone(), 1);
        }
        let options = FindOptions::builder()
            .collation(self.collation.clone())
            .projection(projection)
            .build();
        let stored: Vec<Document> = target
            .find(filter)
            .with_options(options)
            .await
            .map_err(DedupeError::driver("find"))?
            .try_collect()
            .await
            .map_err(DedupeError::driver("find"))?;
        if stored.is_empty() {
            return Ok(());
        }
        let copies: Vec<Document> = stored
            .into_iter()
            .map(|mut doc| {
                if !self.is_id {
                    let id = doc.remove("_id").unwrap_or(Bson::Null);
                    doc.insert("_id", doc! { "s": id });
                }
                doc
            })
            .collect();
        // A stored document copied for an earlier batch is refused again: nothing to report.
        insert(&self.scratch, &copies, true).await?;
        Ok(())
    }

    /// The conflict of the refused row at `position`, whose scratch copy is `copy`: the
    /// holder of its key is looked up in the scratch collection.
    pub(super) async fn conflict(
        &self,
        position: u64,
        copy: &Document,
    ) -> Result<RowConflict, DedupeError> {
        let filter = match (&self.paths, self.is_id) {
            (_, true) => Some(doc! { "_id": copy.get("_id").cloned().unwrap_or(Bson::Null) }),
            (Some(paths), false) => {
                let mut filter = Document::new();
                for path in paths {
                    let value = value_at(copy, path).cloned();
                    if matches!(value, Some(Bson::Array(_))) {
                        return Ok(self.unknown(position));
                    }
                    filter.insert(path.clone(), doc! { "$eq": value.unwrap_or(Bson::Null) });
                }
                if let Some(partial) = &self.partial {
                    filter = doc! { "$and": [partial.clone(), filter] };
                }
                Some(filter)
            }
            (None, false) => None,
        };
        let Some(filter) = filter else {
            return Ok(self.unknown(position));
        };
        let options = FindOneOptions::builder()
            .collation(self.collation.clone())
            .projection(doc! { "_id": 1, "p": 1 })
            .build();
        let holder = self
            .scratch
            .find_one(filter)
            .with_options(options)
            .await
            .map_err(DedupeError::driver("find"))?;
        let with = match holder {
            None => Collider::Unknown,
            Some(holder) if self.is_id => match holder.get("p") {
                Some(Bson::Int64(p)) => Collider::Row(*p as u64),
                _ => Collider::Stored(holder.get("_id").cloned().unwrap_or(Bson::Null)),
            },
            Some(mut holder) => match holder.remove("_id") {
                Some(Bson::Int64(p)) => Collider::Row(p as u64),
                Some(Bson::Document(mut stored)) => {
                    Collider::Stored(stored.remove("s").unwrap_or(Bson::Null))
                }
                _ => Collider::Unknown,
            },
        };
        Ok(RowConflict {
            position,
            index: self.name.clone(),
            with,
        })
    }

    pub(super) fn unknown(&self, position: u64) -> RowConflict {
        RowConflict {
            position,
            index: self.name.clone(),
            with: Collider::Unknown,
        }
    }
}

/// The filter finding the documents that hold one of the rows' keys: `$in` on a single
/// field (an array's elements and the array itself), `$or` of equalities on a compound key.
/// A missing field is looked for as `null`, which also finds missing fields.
fn keys_filter(paths: &[String], rows: &[Document]) -> Option<Document> {
    let value = |row: &Document, path: &str| value_at(row, path).cloned().unwrap_or(Bson::Null);
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
    (!clauses.is_empty()).then(|| doc! { "$or": clauses })
}

/// Inserts `docs` unordered; answers the batch positions refused as duplicates. Any other
/// failure is an error; with `only_count` the positions are not collected.
async fn insert(
    scratch: &Collection<Document>,
    docs: &[Document],
    only_count: bool,
) -> Result<Vec<usize>, DedupeError> {
    let options = InsertManyOptions::builder().ordered(false).build();
    let Err(err) = scratch.insert_many(docs).with_options(options).await else {
        return Ok(Vec::new());
    };
    let mut refused = Vec::new();
    let only_duplicates = matches!(&*err.kind, mongodb::error::ErrorKind::InsertMany(e)
        if e.write_concern_error.is_none());
    for failure in extract::failures(&err) {
        match failure.position {
            Some(position) if only_duplicates && failure.is_duplicate() => {
                if !only_count {
                    refused.push(position);
                }
            }
            _ => {
                return Err(DedupeError::Driver {
                    operation: "insert",
                    source: err,
                })
            }
        }
    }
    if !only_duplicates {
        return Err(DedupeError::Driver {
            operation: "insert",
            source: err,
        });
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn keys_are_looked_for_by_in_or_by_or() {
        let rows = vec![
            doc! { "email": "a", "t": 1 },
            doc! { "t": 2 },
            doc! { "email": ["b", "c"] },
        ];
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
    }
}
