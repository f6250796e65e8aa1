//! What a merge changes in its survivor: the fields the merge adds, changes or removes, as
//! an update (`$set`/`$unset` of those fields only), never a whole replacement, so writes
//! of other fields made since the survivor was read stay.

use mongodb::bson::{doc, Bson, Document};

use super::DedupeError;

/// The fields a merge sets (with their new values) and removes.
pub(super) struct Change {
    set: Document,
    unset: Vec<String>,
}

impl Change {
    /// What turns `original` into `target` (top-level fields; `_id` never changes).
    pub(super) fn between(original: &Document, target: &Document) -> Result<Self, DedupeError> {
        let mut change = Change {
            set: Document::new(),
            unset: Vec::new(),
        };
        for (field, value) in target {
            if field != "_id" && original.get(field) != Some(value) {
                check(field)?;
                change.set.insert(field.clone(), value.clone());
            }
        }
        for field in original.keys() {
            if field != "_id" && !target.contains_key(field) {
                check(field)?;
                change.unset.push(field.clone());
            }
        }
        Ok(change)
    }

    /// Whether the merge leaves the survivor as it was.
    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty() && self.unset.is_empty()
    }

    /// The update document: `{ $set: {...}, $unset: {...} }` (`{ $set: {} }` when empty).
    pub(super) fn update(&self) -> Document {
        let mut update = Document::new();
        if !self.set.is_empty() || self.unset.is_empty() {
            update.insert("$set", self.set.clone());
        }
        if !self.unset.is_empty() {
            let fields: Document = self
                .unset
                .iter()
                .map(|f| (f.clone(), Bson::from("")))
                .collect();
            update.insert("$unset", fields);
        }
        update
    }

    /// Conditions that hold while each changed field still has the value it was `read`
    /// with: the update is guarded by them, so a concurrent write to one of these fields
    /// makes it match nothing.
    pub(super) fn as_read(&self, read: &Document) -> Vec<Bson> {
        self.fields()
            .map(|field| holds(field, read.get(field)))
            .collect()
    }

    /// Conditions that hold once the survivor has the merged values.
    pub(super) fn as_merged(&self) -> Vec<Bson> {
        let set = self
            .set
            .iter()
            .map(|(field, value)| holds(field, Some(value)));
        let unset = self.unset.iter().map(|field| holds(field, None));
        set.chain(unset).collect()
    }

    fn fields(&self) -> impl Iterator<Item = &str> {
        self.set
            .keys()
            .map(String::as_str)
            .chain(self.unset.iter().map(String::as_str))
    }
}

/// The survivor as the archived `change` leaves `original`: an update document (`$set` and
/// `$unset`), or the whole replacement an older archive recorded.
pub(super) fn applied(original: &Document, change: &Document) -> Document {
    let is_update = change.is_empty() || change.keys().any(|k| k.starts_with('$'));
    if !is_update {
        return change.clone();
    }
    let mut target = original.clone();
    if let Ok(set) = change.get_document("$set") {
        for (field, value) in set {
            target.insert(field.clone(), value.clone());
        }
    }
    if let Ok(unset) = change.get_document("$unset") {
        for field in unset.keys() {
            target.remove(field);
        }
    }
    target
}

/// `field` holds exactly `value` (compared as `$eq` in an expression: arrays and embedded
/// documents whole, not element-wise), or is missing when `value` is `None`.
fn holds(field: &str, value: Option<&Bson>) -> Bson {
    match value {
        Some(value) => doc! {
            "$expr": { "$eq": [format!("${field}"), { "$literal": value.clone() }] }
        }
        .into(),
        None => doc! { field: { "$exists": false } }.into(),
    }
}

/// A field a merge changes must be a plain top-level name: `$set` reads a dot as a path.
fn check(field: &str) -> Result<(), DedupeError> {
    if field.contains('.') || field.starts_with('$') || field.is_empty() {
        return Err(DedupeError::MergeField {
            field: field.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_sets_and_unsets_only_what_differs() {
        let original = doc! { "_id": 1, "a": 1, "b": [1, 2], "c": "x" };
        let target = doc! { "_id": 1, "a": 1, "b": [1, 2, 3], "d": { "e": 1 } };
        let change = Change::between(&original, &target).unwrap();
        assert_eq!(
            change.update(),
            doc! { "$set": { "b": [1, 2, 3], "d": { "e": 1 } }, "$unset": { "c": "" } }
        );
        assert_eq!(applied(&original, &change.update()), target);
        assert_eq!(
            change.as_read(&original),
            vec![
                Bson::from(doc! { "$expr": { "$eq": ["$b", { "$literal": [1, 2] }] } }),
                Bson::from(doc! { "d": { "$exists": false } }),
                Bson::from(doc! { "$expr": { "$eq": ["$c", { "$literal": "x" }] } }),
            ]
        );
        assert_eq!(
            change.as_merged(),
            vec![
                Bson::from(doc! { "$expr": { "$eq": ["$b", { "$literal": [1, 2, 3] }] } }),
                Bson::from(doc! { "$expr": { "$eq": ["$d", { "$literal": { "e": 1 } }] } }),
                Bson::from(doc! { "c": { "$exists": false } }),
            ]
        );
        let same = Change::between(&original, &original).unwrap();
        assert!(same.is_empty());
        assert_eq!(same.update(), doc! { "$set": {} });
        assert_eq!(applied(&original, &same.update()), original);
    }

    #[test]
    fn an_older_archive_recorded_the_whole_replacement() {
        let original = doc! { "_id": 1, "a": 1 };
        let replacement = doc! { "_id": 1, "a": 2, "b": 3 };
        assert_eq!(applied(&original, &replacement), replacement);
    }

    #[test]
    fn a_dotted_or_operator_field_is_refused() {
        let original = doc! { "_id": 1 };
        for field in ["a.b", "$x"] {
            let mut target = original.clone();
            target.insert(field, 1);
            let err = Change::between(&original, &target).err().unwrap();
            assert_eq!(
                err.to_string(),
                format!(
                    "a merge cannot change the field {field:?}: its name is not a plain field name"
                )
            );
        }
    }
}
