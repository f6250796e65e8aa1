//! Whether a document is provably inside an index's partial filter.
//!
//! The document may be known only in part ([`Known`]): an upsert knows the values its filter
//! and `$set`/`$setOnInsert` give, and that every other path is missing, except those other
//! operators (`$inc`, `$push`, ...) write, whose values it cannot tell. [`proves`] evaluates
//! a small, exact subset of the query language on it and answers "proven" only when the
//! server's own evaluation must agree; anything outside the subset, or that depends on a
//! value it cannot tell, is not proven.
//!
//! The subset: `$and`, `$or`; per field an equality value, `$eq`, `$in`, `$exists`, `$type`,
//! and `$gt`/`$gte`/`$lt`/`$lte` between numbers or between dates. Strings compare only for
//! equality, byte for byte (equal bytes are equal under any collation, so an index's
//! collation cannot make a proven equality false). An array in the document, on the path or
//! at its end, is never proven (queries match arrays by element).

use std::cmp::Ordering;

use mongodb::bson::{Bson, Document};

use super::same::{compare_numbers, same_value};

/// A document known in part: values at paths, and paths whose values cannot be told. Any
/// other path is missing.
#[derive(Debug, Default, Clone)]
pub(crate) struct Known {
    values: Vec<(String, Bson)>,
    unknown: Vec<String>,
    /// No path is known (a pipeline update can write any).
    nothing: bool,
}

/// What a path holds in a [`Known`] document.
#[derive(Debug, Clone, Copy, PartialEq)]
enum At<'a> {
    Value(&'a Bson),
    Missing,
    Unknown,
}

impl Known {
    /// Sets the value at `path` (a later value at the same path wins).
    pub(crate) fn set(&mut self, path: &str, value: Bson) {
        self.values.retain(|(p, _)| p != path);
        self.values.push((path.to_owned(), value));
    }

    /// Marks `path` (and everything above and below it) as not known.
    pub(crate) fn unknown(&mut self, path: &str) {
        self.unknown.push(path.to_owned());
    }

    /// Marks every path as not known.
    pub(crate) fn forget_all(&mut self) {
        self.nothing = true;
    }

    /// Whether `path` provably holds a value other than `null`.
    pub(crate) fn holds_non_null(&self, path: &str) -> bool {
        matches!(self.at(path), At::Value(value) if !matches!(value, Bson::Null | Bson::Undefined))
    }

    /// The value at a dotted `path`.
    fn at(&self, path: &str) -> At<'_> {
        if self.nothing || self.unknown.iter().any(|u| overlaps(u, path)) {
            return At::Unknown;
        }
        for (set, value) in self.values.iter().rev() {
            if set == path {
                return match value {
                    Bson::Array(_) => At::Unknown,
                    value => At::Value(value),
                };
            }
            if let Some(rest) = below(path, set) {
                return descend(value, rest);
            }
            if below(set, path).is_some() {
                // Only part of the document at `path` is known here.
                return At::Unknown;
            }
        }
        At::Missing
    }
}

/// `Some(rest)` when `path` is `above.rest`.
fn below<'a>(path: &'a str, above: &str) -> Option<&'a str> {
    path.strip_prefix(above)?.strip_prefix('.')
}

/// Whether one path is the other, or above or below it.
fn overlaps(a: &str, b: &str) -> bool {
    a == b || below(a, b).is_some() || below(b, a).is_some()
}

/// The value at `rest` inside `value`.
fn descend<'a>(value: &'a Bson, rest: &str) -> At<'a> {
    let mut value = value;
    for part in rest.split('.') {
        value = match value {
            Bson::Document(inner) => match inner.get(part) {
                Some(inner) => inner,
                None => return At::Missing,
            },
            Bson::Array(_) => return At::Unknown,
            _ => return At::Missing,
        };
    }
    match value {
        Bson::Array(_) => At::Unknown,
        value => At::Value(value),
    }
}

/// Whether `doc` provably matches `filter`; `Err(path)` names the first condition (its field
/// path, or the operator) that could not be proven.
pub(crate) fn proves(filter: &Document, doc: &Known) -> Result<(), String> {
    for (key, condition) in filter {
        let proven = match key.as_str() {
            "$and" => each(condition, |f| proves(f, doc).is_ok(), true),
            "$or" => each(condition, |f| proves(f, doc).is_ok(), false),
            op if op.starts_with('$') => false,
            path => holds(doc.at(path), condition),
        };
        if !proven {
            return Err(key.clone());
        }
    }
    Ok(())
}

/// `$and` (`all`) or `$or` over an array of filter documents.
fn each(list: &Bson, proven: impl Fn(&Document) -> bool, all: bool) -> bool {
    let Bson::Array(items) = list else {
        return false;
    };
    let mut filters = items.iter().map(|item| match item {
        Bson::Document(filter) => proven(filter),
        _ => false,
    });
    if all {
        !items.is_empty() && filters.all(|p| p)
    } else {
        filters.any(|p| p)
    }
}

/// Whether the value `at` a path satisfies one field condition.
fn holds(at: At<'_>, condition: &Bson) -> bool {
    match condition {
        Bson::Document(ops) if ops.keys().next().is_some_and(|k| k.starts_with('$')) => {
            ops.iter().all(|(op, arg)| operator(at, op, arg))
        }
        value => equals(at, value),
    }
}

fn operator(at: At<'_>, op: &str, arg: &Bson) -> bool {
    match op {
        "$eq" => equals(at, arg),
        "$in" => match arg {
            Bson::Array(values) => values.iter().any(|v| equals(at, v)),
            _ => false,
        },
        "$exists" => {
            let wanted = match arg {
                Bson::Boolean(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) => {
                    crate::index::truthy(Some(arg))
                }
                _ => return false,
            };
            match at {
                At::Unknown => false,
                At::Missing => !wanted,
                At::Value(_) => wanted,
            }
        }
        "$type" => match at {
            At::Value(value) => type_matches(value, arg),
            _ => false,
        },
        "$gt" => compares(at, arg, |o| o == Ordering::Greater),
        "$gte" => compares(at, arg, |o| o != Ordering::Less),
        "$lt" => compares(at, arg, |o| o == Ordering::Less),
        "$lte" => compares(at, arg, |o| o != Ordering::Greater),
        _ => false,
    }
}

/// Equality as a query tests it: `null` also matches a missing field; a regex, an array or
/// a nested operator as the value is outside the subset.
fn equals(at: At<'_>, value: &Bson) -> bool {
    match (at, value) {
        (_, Bson::RegularExpression(_) | Bson::Array(_)) => false,
        (At::Unknown, _) => false,
        (At::Missing, Bson::Null) => true,
        (At::Missing, _) => false,
        (At::Value(found), Bson::Null) => matches!(found, Bson::Null | Bson::Undefined),
        (At::Value(found), value) => same_value(found, value),
    }
}

fn compares(at: At<'_>, bound: &Bson, wanted: impl Fn(Ordering) -> bool) -> bool {
    let At::Value(value) = at else {
        return false;
    };
    let order = match (value, bound) {
        (Bson::DateTime(a), Bson::DateTime(b)) => Some(a.cmp(b)),
        _ => compare_numbers(value, bound),
    };
    order.is_some_and(wanted)
}

/// `$type` by alias or number (an array of them: any), as the query language names types.
fn type_matches(value: &Bson, wanted: &Bson) -> bool {
    let code = match value {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Binary(_) => 5,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        // Arrays were never handed here; anything rarer is outside the subset.
        _ => return false,
    };
    let one = |wanted: &Bson| match wanted {
        Bson::String(alias) => match alias.as_str() {
            "number" => matches!(code, 1 | 16 | 18 | 19),
            alias => alias_code(alias) == Some(code),
        },
        other => compare_numbers(other, &Bson::Int32(code)) == Some(Ordering::Equal),
    };
    match wanted {
        Bson::Array(list) => list.iter().any(one),
        single => one(single),
    }
}

fn alias_code(alias: &str) -> Option<i32> {
    Some(match alias {
        "double" => 1,
        "string" => 2,
        "object" => 3,
        "binData" => 5,
        "objectId" => 7,
        "bool" => 8,
        "date" => 9,
        "null" => 10,
        "regex" => 11,
        "int" => 16,
        "timestamp" => 17,
        "long" => 18,
        "decimal" => 19,
        _ => return None,
    })
}
