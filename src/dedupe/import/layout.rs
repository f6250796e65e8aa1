//! What the judging scratch collection holds: a copy of every unique index of the target,
//! and per row or stored document a copy of the fields those indexes read.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, Document};

use super::super::DedupeError;
use super::Collider;
use crate::index::Index;

/// The marker field's name when no index reads a field by that name.
const MARKER: &str = "dupkey_row";

/// The marker of a stored document's copy (a row's is its position, from 0).
const STORED: i64 = -1;

/// The copies' shape, for one set of indexes.
pub(super) struct Layout {
    /// The top-level fields a copy keeps besides `_id`; `None`: all of them.
    fields: Option<Vec<String>>,
    /// The field telling a row's copy (its position) from a stored document's (`-1`); a
    /// stored document that an index with `prepareUnique` still holds a duplicate of is
    /// copied without it, and that index leaves such copies out.
    pub(super) marker: String,
}

impl Layout {
    pub(super) fn new(indexes: &[&Index]) -> Self {
        let mut named = Vec::new();
        let mut plain = true;
        for index in indexes {
            plain &= index.plain_key();
            named.extend(index.key().keys().cloned());
            if let Some(filter) = index.partial_filter() {
                crate::index::paths::filter_paths(filter, &mut named);
            }
        }
        let mut fields: Vec<String> = named
            .iter()
            .filter_map(|p| p.split('.').next())
            .filter(|f| *f != "_id")
            .map(str::to_owned)
            .collect();
        fields.sort();
        fields.dedup();
        let mut marker = MARKER.to_owned();
        while fields.contains(&marker) {
            marker.push('_');
        }
        Layout {
            fields: plain.then_some(fields),
            marker,
        }
    }

    /// The copy of `row` at `position`: its `_id` (a fresh one when it has none, as the
    /// driver gives it), the fields the indexes read, and the marker.
    pub(super) fn row_copy(&self, row: &Document, position: u64) -> Result<Document, DedupeError> {
        let id = row
            .get("_id")
            .cloned()
            .unwrap_or_else(|| Bson::ObjectId(ObjectId::new()));
        let mut copy = doc! { "_id": id };
        self.keep_fields(row, &mut copy);
        if self.fields.is_none() && row.contains_key(&self.marker) {
            return Err(DedupeError::InvalidField {
                field: self.marker.clone(),
                reason:
                    "the import check's own field, in a row checked against a text or geo index",
            });
        }
        copy.insert(self.marker.clone(), position as i64);
        Ok(copy)
    }

    /// The copy of a stored document (read with [`projection`](Self::projection)).
    pub(super) fn stored_copy(&self, mut stored: Document) -> Document {
        stored.insert(self.marker.clone(), STORED);
        stored
    }

    /// A stored document's copy that an index with `prepareUnique` leaves out.
    pub(super) fn twin(&self, mut copy: Document) -> Document {
        copy.remove(&self.marker);
        copy
    }

    /// The projection reading a stored document's copy; `None`: the whole document.
    pub(super) fn projection(&self) -> Option<Document> {
        let fields = self.fields.as_ref()?;
        let mut projection = doc! { "_id": 1 };
        for field in fields {
            projection.insert(field.clone(), 1);
        }
        Some(projection)
    }

    /// Who a copy found in the scratch collection is.
    pub(super) fn collider(&self, mut copy: Document) -> Collider {
        match copy.get(&self.marker) {
            Some(Bson::Int64(p)) if *p >= 0 => Collider::Row(*p as u64),
            _ => Collider::Stored(copy.remove("_id").unwrap_or(Bson::Null)),
        }
    }

    /// The `createIndexes` specs of the scratch copies of `indexes` (all but `_id`, which
    /// the scratch collection has, under the target's default collation): each made unique
    /// (a `prepareUnique` index refuses new duplicates just the same), with its collation
    /// written out (`simple` included, or the scratch collection's default would apply).
    pub(super) fn index_specs(&self, indexes: &[&Index]) -> Vec<Document> {
        let mut specs = Vec::new();
        for index in indexes.iter().filter(|i| !i.is_id()) {
            let mut spec = index.spec().clone();
            for option in [
                "v",
                "ns",
                "prepareUnique",
                "hidden",
                "expireAfterSeconds",
                "clustered",
            ] {
                spec.remove(option);
            }
            if !spec.contains_key("collation") {
                spec.insert("collation", doc! { "locale": "simple" });
            }
            if !index.unique() {
                self.leave_twins_out(&mut spec, index);
            }
            spec.insert("unique", true);
            specs.push(spec);
        }
        specs
    }

    /// Makes a `prepareUnique` index's copy hold only marked copies (a partial filter
    /// cannot say "missing"); a sparse one turns into the partial filter it stands for, as
    /// an index cannot be both.
    fn leave_twins_out(&self, spec: &mut Document, index: &Index) {
        let mut partial = match spec.remove("partialFilterExpression") {
            Some(Bson::Document(filter)) => filter,
            _ => Document::new(),
        };
        // The copy carries no `sparse`; whether the index is sparse is the model's answer.
        spec.remove("sparse");
        if index.sparse() {
            let clauses: Vec<Document> = index
                .key()
                .keys()
                .map(|p| doc! { p.clone(): { "$exists": true } })
                .collect();
            partial.insert("$or", clauses);
        }
        partial.insert(self.marker.clone(), doc! { "$exists": true });
        spec.insert("partialFilterExpression", partial);
    }

    fn keep_fields(&self, row: &Document, copy: &mut Document) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(spec: Document) -> Index {
        Index::from_spec(spec).unwrap()
    }

    #[test]
    fn copies_keep_the_fields_the_indexes_read_and_the_marker() {
        let id = index(doc! { "key": { "_id": 1 }, "name": "_id_" });
        let email = index(doc! { "key": { "email": 1 }, "name": "email_1", "unique": true });
        let sku = index(doc! {
            "key": { "sku": 1, "dupkey_row": 1 }, "name": "sku", "unique": true,
            "partialFilterExpression": { "profile.active": true },
        });
        let layout = Layout::new(&[&id, &email, &sku]);
        assert_eq!(layout.marker, "dupkey_row_");
        let copy = layout
            .row_copy(
                &doc! { "_id": 7, "email": "a", "profile": { "active": true }, "x": 1 },
                3,
            )
            .unwrap();
        assert_eq!(
            copy,
            doc! { "_id": 7, "email": "a", "profile": { "active": true }, "dupkey_row_": 3_i64 }
        );
        assert_eq!(layout.collider(copy), Collider::Row(3));
        let stored = layout.stored_copy(doc! { "_id": 9, "email": "b" });
        assert_eq!(
            layout.collider(stored.clone()),
            Collider::Stored(Bson::Int32(9))
        );
        assert_eq!(
            layout.collider(layout.twin(stored)),
            Collider::Stored(Bson::Int32(9))
        );
        // A row without `_id` gets a fresh ObjectId.
        let fresh = layout.row_copy(&doc! { "email": "c" }, 0).unwrap();
        assert!(matches!(fresh.get("_id"), Some(Bson::ObjectId(_))));
    }

    #[test]
    fn scratch_indexes_are_unique_with_their_collation_written_out() {
        let id = index(doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" });
        let email = index(
            doc! { "v": 2, "key": { "email": 1 }, "name": "email_1", "unique": true, "hidden": false },
        );
        let prepared = index(doc! {
            "v": 2, "key": { "a": 1, "b": 1 }, "name": "a_1_b_1", "prepareUnique": true, "sparse": true,
            "collation": { "locale": "en", "strength": 2 },
        });
        let layout = Layout::new(&[&id, &email, &prepared]);
        assert_eq!(
            layout.index_specs(&[&id, &email, &prepared]),
            [
                doc! { "key": { "email": 1 }, "name": "email_1", "unique": true, "collation": { "locale": "simple" } },
                doc! {
                    "key": { "a": 1, "b": 1 }, "name": "a_1_b_1",
                    "collation": { "locale": "en", "strength": 2 },
                    "partialFilterExpression": {
                        "$or": [{ "a": { "$exists": true } }, { "b": { "$exists": true } }],
                        "dupkey_row": { "$exists": true },
                    },
                    "unique": true,
                },
            ]
        );
    }
}
