//! [`Merge`] and [`Rekey`]: what happens to the other documents of a group, when they are
//! not simply deleted.

use std::fmt;

use mongodb::bson::{doc, Bson, Document};

use super::{DedupeError, UniqueIndex};

/// A caller's merge: fold `other` into `survivor`.
type Fold<'a> = Box<dyn FnMut(&mut Document, &Document) + Send + 'a>;
/// A caller's new key values for one document.
type NewKey<'a> = Box<dyn FnMut(&Document) -> Document + Send + 'a>;

/// How [`merge_duplicates`](super::merge_duplicates) folds the other documents of a group
/// into the survivor, one at a time, in `_id` order.
///
/// Whatever the rule does, the survivor keeps its `_id`. Rules work on top-level fields.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::Merge;
/// use mongodb::bson::Bson;
///
/// let fill = Merge::fill_missing();
/// let union = Merge::union_arrays();
/// // The caller's own: add up the others' logins.
/// let mine = Merge::with(|survivor, other| {
///     let n = survivor.get_i64("logins").unwrap_or(0) + other.get_i64("logins").unwrap_or(0);
///     survivor.insert("logins", n);
/// });
/// ```
pub struct Merge<'a> {
    rule: MergeRule<'a>,
}

enum MergeRule<'a> {
    FillMissing,
    UnionArrays,
    With(Fold<'a>),
}

impl<'a> Merge<'a> {
    /// Keeps the survivor's values; a field the survivor lacks is taken from the first other
    /// document that has it.
    ///
    /// # Examples
    ///
    /// ```
    /// let merge = dupkey::dedupe::Merge::fill_missing();
    /// ```
    pub fn fill_missing() -> Self {
        Merge {
            rule: MergeRule::FillMissing,
        }
    }

    /// As [`fill_missing`](Self::fill_missing), and where both hold an array, appends the
    /// other's elements the survivor's array lacks (survivor's order first).
    ///
    /// # Examples
    ///
    /// ```
    /// let merge = dupkey::dedupe::Merge::union_arrays();
    /// ```
    pub fn union_arrays() -> Self {
        Merge {
            rule: MergeRule::UnionArrays,
        }
    }

    /// Lets `fold(survivor, other)` change the survivor, once per other document.
    ///
    /// To converge when re-run after an interruption, `fold` should depend only on the
    /// documents it is given: the merged document is computed from the archived originals.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::dedupe::Merge;
    ///
    /// let newest_name = Merge::with(|survivor, other| {
    ///     if let Ok(name) = other.get_str("name") {
    ///         survivor.insert("name", name);
    ///     }
    /// });
    /// ```
    pub fn with(fold: impl FnMut(&mut Document, &Document) + Send + 'a) -> Self {
        Merge {
            rule: MergeRule::With(Box::new(fold)),
        }
    }

    /// Folds `other` into `survivor`; the survivor's `_id` stays.
    pub(crate) fn fold(&mut self, survivor: &mut Document, other: &Document) {
        let id = survivor.get("_id").cloned();
        match &mut self.rule {
            MergeRule::FillMissing => fill_missing(survivor, other),
            MergeRule::UnionArrays => {
                for (field, value) in other {
                    match (survivor.get_mut(field), value) {
                        (Some(Bson::Array(mine)), Bson::Array(theirs)) => {
                            for element in theirs {
                                if !mine.contains(element) {
                                    mine.push(element.clone());
                                }
                            }
                        }
                        (Some(_), _) => {}
                        (None, _) => {
                            survivor.insert(field.clone(), value.clone());
                        }
                    }
                }
            }
            MergeRule::With(fold) => fold(survivor, other),
        }
        if let Some(id) = id {
            survivor.insert("_id", id);
        }
    }
}

fn fill_missing(survivor: &mut Document, other: &Document) {
    for (field, value) in other {
        if !survivor.contains_key(field) {
            survivor.insert(field.clone(), value.clone());
        }
    }
}

impl fmt::Debug for Merge<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.rule {
            MergeRule::FillMissing => "Merge::fill_missing()",
            MergeRule::UnionArrays => "Merge::union_arrays()",
            MergeRule::With(_) => "Merge::with(..)",
        })
    }
}

/// How [`rekey_duplicates`](super::rekey_duplicates) gives the other documents of a group
/// keys of their own.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::Rekey;
/// use mongodb::bson::doc;
///
/// // `ann@example.com` becomes `ann@example.com#<_id>`.
/// let suffix = Rekey::with(|doc| {
///     let email = doc.get_str("email").unwrap_or_default();
///     doc! { "email": format!("{email}#{}", doc.get("_id").unwrap()) }
/// });
/// let unset = Rekey::unset();
/// ```
pub struct Rekey<'a> {
    rule: RekeyRule<'a>,
}

enum RekeyRule<'a> {
    Unset,
    With(NewKey<'a>),
}

impl<'a> Rekey<'a> {
    /// Removes the key fields from the other documents, which then leave the index: only
    /// allowed when the index is sparse, or its partial filter leaves out documents without
    /// a key field (such as `{ email: { $exists: true } }`); otherwise they would all collide
    /// on `null`, and the run stops with [`DedupeError::UnsetNotExcluded`] before it writes.
    ///
    /// # Examples
    ///
    /// ```
    /// let rekey = dupkey::dedupe::Rekey::unset();
    /// ```
    pub fn unset() -> Self {
        Rekey {
            rule: RekeyRule::Unset,
        }
    }

    /// Sets the fields `new_key(document)` returns (`{ email: "..." }`), once per other
    /// document, computed from its original. The new values should be unique: a value that
    /// collides again makes a new group, for a later run.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::dedupe::Rekey;
    /// use mongodb::bson::doc;
    ///
    /// let rekey = Rekey::with(|doc| doc! { "username": format!("user-{}", doc.get("_id").unwrap()) });
    /// ```
    pub fn with(new_key: impl FnMut(&Document) -> Document + Send + 'a) -> Self {
        Rekey {
            rule: RekeyRule::With(Box::new(new_key)),
        }
    }

    /// Refuses an unset the index would not leave out.
    pub(crate) fn check(&self, index: &UniqueIndex) -> Result<(), DedupeError> {
        match self.rule {
            RekeyRule::Unset if !unset_leaves_index(index) => Err(DedupeError::UnsetNotExcluded),
            _ => Ok(()),
        }
    }

    /// The update for one document (`$set` or `$unset`), from its original.
    pub(crate) fn update(
        &mut self,
        index: &UniqueIndex,
        original: &Document,
    ) -> Result<Document, DedupeError> {
        match &mut self.rule {
            RekeyRule::Unset => {
                let fields: Document = index
                    .fields()
                    .map(|f| (f.to_owned(), Bson::from("")))
                    .collect();
                Ok(doc! { "$unset": fields })
            }
            RekeyRule::With(new_key) => {
                let set = new_key(original);
                if set.is_empty() {
                    return Err(DedupeError::InvalidRekey {
                        reason: "it set no field",
                    });
                }
                for field in set.keys() {
                    super::spec::check_field(field)?;
                    if field == "_id" || field.starts_with("_id.") {
                        return Err(DedupeError::InvalidRekey {
                            reason: "it set the _id",
                        });
                    }
                }
                Ok(doc! { "$set": set })
            }
        }
    }
}

impl fmt::Debug for Rekey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.rule {
            RekeyRule::Unset => "Rekey::unset()",
            RekeyRule::With(_) => "Rekey::with(..)",
        })
    }
}

/// Whether a document without the key fields is outside `index`: the index is sparse, or a
/// top-level condition of its partial filter on a key field fails on a missing field.
fn unset_leaves_index(index: &UniqueIndex) -> bool {
    if index.sparse() {
        return true;
    }
    let Some(filter) = index.partial_filter() else {
        return false;
    };
    let fields: Vec<&str> = index.fields().collect();
    conditions(filter)
        .into_iter()
        .any(|(field, condition)| fields.contains(&field.as_str()) && fails_on_missing(condition))
}

/// The filter's top-level `field: condition` pairs, `$and` flattened.
fn conditions(filter: &Document) -> Vec<(&String, &Bson)> {
    let mut out = Vec::new();
    for (field, condition) in filter {
        if field == "$and" {
            if let Bson::Array(parts) = condition {
                for part in parts {
                    if let Bson::Document(part) = part {
                        out.extend(conditions(part));
                    }
                }
            }
        } else if !field.starts_with('$') {
            out.push((field, condition));
        }
    }
    out
}

/// Whether `condition` (a partial filter's condition on one field) is false on a missing
/// field: `$exists: true`, `$type`, a comparison or equality with a value other than
/// `null`, MinKey or MaxKey.
fn fails_on_missing(condition: &Bson) -> bool {
    let concrete = |value: &Bson| {
        !matches!(
            value,
            Bson::Null | Bson::MinKey | Bson::MaxKey | Bson::Undefined
        )
    };
    match condition {
        Bson::Document(ops) if ops.keys().next().is_some_and(|k| k.starts_with('$')) => {
            ops.iter().any(|(op, value)| match op.as_str() {
                "$exists" => {
                    matches!(value, Bson::Boolean(true))
                        || matches!(value, Bson::Int32(n) if *n != 0)
                        || matches!(value, Bson::Int64(n) if *n != 0)
                        || matches!(value, Bson::Double(n) if *n != 0.0)
                }
                "$type" => match value {
                    Bson::Array(types) => types.iter().all(not_null_type),
                    other => not_null_type(other),
                },
                "$eq" | "$gt" | "$gte" | "$lt" | "$lte" => concrete(value),
                _ => false,
            })
        }
        other => concrete(other),
    }
}

fn not_null_type(t: &Bson) -> bool {
    !matches!(t, Bson::String(s) if s == "null" || s == "undefined")
        && !matches!(t, Bson::Int32(10) | Bson::Int32(6))
        && !matches!(t, Bson::Double(n) if *n == 10.0 || *n == 6.0)
        && !matches!(t, Bson::Int64(10) | Bson::Int64(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_missing_keeps_the_survivors_values() {
        let mut survivor = doc! { "_id": 1, "name": "Ann", "tags": ["a"] };
        let mut merge = Merge::fill_missing();
        merge.fold(
            &mut survivor,
            &doc! { "_id": 2, "name": "Bob", "phone": "1", "tags": ["b"] },
        );
        merge.fold(
            &mut survivor,
            &doc! { "_id": 3, "phone": "2", "city": "Oslo" },
        );
        assert_eq!(
            survivor,
            doc! { "_id": 1, "name": "Ann", "tags": ["a"], "phone": "1", "city": "Oslo" }
        );
    }

    #[test]
    fn union_arrays_appends_what_is_missing() {
        let mut survivor = doc! { "_id": 1, "tags": ["a", "b"], "n": 1 };
        let mut merge = Merge::union_arrays();
        merge.fold(
            &mut survivor,
            &doc! { "_id": 2, "tags": ["b", "c", "a", "d"], "n": 2, "x": [1] },
        );
        assert_eq!(
            survivor,
            doc! { "_id": 1, "tags": ["a", "b", "c", "d"], "n": 1, "x": [1] }
        );
    }

    #[test]
    fn a_callers_merge_cannot_change_the_id() {
        let mut survivor = doc! { "_id": 1, "n": 1 };
        let mut merge = Merge::with(|s, o| {
            s.insert("_id", 99);
            s.insert("n", s.get_i32("n").unwrap() + o.get_i32("n").unwrap());
        });
        merge.fold(&mut survivor, &doc! { "_id": 2, "n": 5 });
        assert_eq!(survivor, doc! { "_id": 1, "n": 6 });
    }

    #[test]
    fn unset_is_allowed_only_where_the_index_leaves_missing_keys_out() {
        let allowed = |index: UniqueIndex| Rekey::unset().check(&index).is_ok();
        assert!(!allowed(UniqueIndex::new(["email"])));
        assert!(allowed(UniqueIndex::new(["email"]).with_sparse(true)));
        for filter in [
            doc! { "email": { "$exists": true } },
            doc! { "email": { "$type": "string" } },
            doc! { "active": true, "email": { "$gt": "" } },
            doc! { "$and": [{ "active": true }, { "email": { "$exists": 1 } }] },
            doc! { "email": "fixed" },
        ] {
            let index = UniqueIndex::new(["tenant", "email"]).with_partial_filter(filter.clone());
            assert!(allowed(index), "{filter}");
        }
        for filter in [
            doc! { "active": true },
            doc! { "email": { "$exists": false } },
            doc! { "email": { "$type": ["string", "null"] } },
            doc! { "email": { "$gte": Bson::Null } },
            doc! { "email": Bson::Null },
            doc! { "other": { "$exists": true } },
            doc! { "$or": [{ "email": { "$exists": true } }, { "active": true }] },
        ] {
            let index = UniqueIndex::new(["email"]).with_partial_filter(filter.clone());
            assert!(!allowed(index), "{filter}");
        }
    }

    #[test]
    fn a_new_key_is_checked() {
        let index = UniqueIndex::new(["email"]);
        let original = doc! { "_id": 7, "email": "a" };
        let mut rekey =
            Rekey::with(|d| doc! { "email": format!("a#{}", d.get_i32("_id").unwrap()) });
        assert_eq!(
            rekey.update(&index, &original).unwrap(),
            doc! { "$set": { "email": "a#7" } }
        );
        assert_eq!(
            Rekey::unset().update(&index, &original).unwrap(),
            doc! { "$unset": { "email": "" } }
        );
        let err = Rekey::with(|_| doc! {})
            .update(&index, &original)
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid new key: it set no field");
        let err = Rekey::with(|_| doc! { "_id": 1 })
            .update(&index, &original)
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid new key: it set the _id");
        let err = Rekey::with(|_| doc! { "$set": 1 })
            .update(&index, &original)
            .unwrap_err();
        assert!(matches!(err, DedupeError::InvalidField { .. }));
    }
}
