//! The state a run left a document in, and whether a stored document is in it.
//!
//! A changed document's archive entry holds its original and the change the run sent: a
//! whole replacement, or an update document of `$set`/`$unset` only. The state it left is
//! the original with that change applied, as the server applies it. Anything else (another
//! operator, a path the server would refuse) has no known state: such a document is a
//! conflict, never overwritten unasked.
//!
//! Documents compare by value with field order ignored (the server may order fields an
//! update adds differently from the update document); types are compared exactly.

use mongodb::bson::{Bson, Document};

/// The document `original` becomes under `change`; `None` when that cannot be known.
pub(super) fn after(original: &Document, change: &Document) -> Option<Document> {
    let is_update = change.keys().next().is_some_and(|k| k.starts_with('$'));
    if !is_update {
        // A replacement keeps the `_id`.
        let mut replaced = Document::new();
        replaced.insert("_id", original.get("_id")?.clone());
        for (field, value) in change {
            if field != "_id" {
                replaced.insert(field.clone(), value.clone());
            }
        }
        return Some(replaced);
    }
    let mut updated = original.clone();
    for (operator, fields) in change {
        let Bson::Document(fields) = fields else {
            return None;
        };
        for (path, value) in fields {
            let segments: Vec<&str> = path.split('.').collect();
            match operator.as_str() {
                "$set" => set(&mut updated, &segments, value.clone())?,
                "$unset" => unset(&mut updated, &segments),
                _ => return None,
            }
        }
    }
    Some(updated)
}

/// `$set` of one path: embedded documents are created on the way, array elements are
/// reached by index (the array padded with `null`s).
fn set(document: &mut Document, path: &[&str], value: Bson) -> Option<()> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        document.insert(*first, value);
        return Some(());
    }
    if !document.contains_key(*first) {
        document.insert(*first, Document::new());
    }
    set_in(document.get_mut(*first)?, rest, value)
}

fn set_in(target: &mut Bson, path: &[&str], value: Bson) -> Option<()> {
    match target {
        Bson::Document(document) => set(document, path, value),
        Bson::Array(array) => {
            let (first, rest) = path.split_first()?;
            let at: usize = first.parse().ok()?;
            while array.len() <= at {
                array.push(Bson::Null);
            }
            if rest.is_empty() {
                array[at] = value;
                return Some(());
            }
            if array[at] == Bson::Null {
                array[at] = Bson::Document(Document::new());
            }
            set_in(&mut array[at], rest, value)
        }
        // The server refuses to create a field inside a scalar.
        _ => None,
    }
}

/// `$unset` of one path: a missing path is left as it is; an array element becomes `null`.
fn unset(document: &mut Document, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        document.remove(*first);
    } else if let Some(inner) = document.get_mut(*first) {
        unset_in(inner, rest);
    }
}

fn unset_in(target: &mut Bson, path: &[&str]) {
    match target {
        Bson::Document(document) => unset(document, path),
        Bson::Array(array) => {
            let Some((first, rest)) = path.split_first() else {
                return;
            };
            let Some(element) = first.parse::<usize>().ok().and_then(|i| array.get_mut(i)) else {
                return;
            };
            match rest.is_empty() {
                true => *element = Bson::Null,
                false => unset_in(element, rest),
            }
        }
        _ => {}
    }
}

/// Whether two documents hold the same fields with the same values (exact types), in any
/// field order.
pub(super) fn same(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(field, value)| b.get(field).is_some_and(|other| same_value(value, other)))
}

fn same_value(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Document(a), Bson::Document(b)) => same(a, b),
        (Bson::Array(a), Bson::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        // NaN is stored as it was written: the same bits are the same value.
        (Bson::Double(a), Bson::Double(b)) => a == b || a.to_bits() == b.to_bits(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn a_replacement_keeps_the_id_and_nothing_else_of_the_original() {
        let original = doc! { "_id": 1, "a": 1, "b": 2 };
        assert_eq!(
            after(&original, &doc! { "_id": 1, "b": 3, "c": 4 }),
            Some(doc! { "_id": 1, "b": 3, "c": 4 })
        );
        assert_eq!(
            after(&original, &doc! { "c": 4 }),
            Some(doc! { "_id": 1, "c": 4 })
        );
    }

    #[test]
    fn set_and_unset_follow_paths_through_documents_and_arrays() {
        let original = doc! { "_id": 1, "a": { "b": 1 }, "tags": ["x", "y"], "gone": true };
        let change = doc! {
            "$set": { "a.c": 2, "new.deep": "v", "tags.3": "z", "email": "e" },
            "$unset": { "gone": "", "tags.0": "", "missing.path": "" },
        };
        let want = doc! {
            "_id": 1, "a": { "b": 1, "c": 2 }, "tags": [null, "y", null, "z"],
            "new": { "deep": "v" }, "email": "e",
        };
        assert_eq!(after(&original, &change), Some(want));
    }

    #[test]
    fn a_change_whose_result_is_unknown_has_no_state() {
        let original = doc! { "_id": 1, "n": 1, "s": "text" };
        assert_eq!(after(&original, &doc! { "$inc": { "n": 1 } }), None);
        assert_eq!(after(&original, &doc! { "$set": 1 }), None);
        assert_eq!(after(&original, &doc! { "$set": { "s.inner": 1 } }), None);
    }

    #[test]
    fn documents_compare_by_value_in_any_field_order_with_exact_types() {
        let a = doc! { "_id": 1, "x": { "p": 1, "q": [1, { "r": 2, "s": 3 }] } };
        let b = doc! { "x": { "q": [1, { "s": 3, "r": 2 }], "p": 1 }, "_id": 1 };
        assert!(same(&a, &b));
        assert!(!same(&a, &doc! { "_id": 1 }));
        assert!(!same(&doc! { "n": 1 }, &doc! { "n": 1_i64 }));
        assert!(!same(&doc! { "n": 1 }, &doc! { "n": 1.0 }));
        assert!(!same(&doc! { "l": [1, 2] }, &doc! { "l": [2, 1] }));
        assert!(same(&doc! { "f": f64::NAN }, &doc! { "f": f64::NAN }));
    }
}
