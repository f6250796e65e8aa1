//! "Is it the same index": whether a server's index is the one a
//! [`UniqueIndex`](crate::dedupe::UniqueIndex) describes, and the comparisons it is made of.
//!
//! The server fills in what a caller leaves out (every collation option, a version), stores
//! numbers as it got them (`1`, `1.0`, `NumberLong(1)`), and lists a simple collation as no
//! collation at all. So: key fields compare in order with their directions' signs; options a
//! caller gives compare against the server's filled-in ones; numbers compare by value; and
//! `{ locale: "simple" }` is no collation.

use std::cmp::Ordering;

use mongodb::bson::{Bson, Document};
use mongodb::options::Collation;

use super::Index;
use crate::dedupe::UniqueIndex;

impl Index {
    /// Whether this index is the one `wanted` describes: the same key fields in the same
    /// order and directions, the name when `wanted` gives one, the same partial filter, the
    /// same `sparse`, and the same collation (every option `wanted` gives, simple being
    /// none). Uniqueness is not compared: a plain index can be the one a rollout converts.
    pub(crate) fn is_same_as(&self, wanted: &UniqueIndex) -> bool {
        same_key(self.key(), wanted.keys())
            && wanted.name().is_none_or(|name| name == self.name())
            && same_filter(wanted.partial_filter(), self.partial_filter())
            && self.sparse() == wanted.sparse()
            && same_collation(wanted.collation(), self.collation_spec())
    }

    /// Whether this index stands in the way of building the unique index `wanted` while it
    /// is not that index: it has `wanted`'s name (or, when `wanted` names none, the name the
    /// server would give it) or the same key pattern. Building `wanted` would then fail, or
    /// succeed and leave this one doing the job.
    pub(crate) fn is_in_the_way_of(&self, wanted: &UniqueIndex) -> bool {
        let name = wanted
            .name()
            .map_or_else(|| default_name(wanted.keys()), str::to_owned);
        !(self.unique() && self.is_same_as(wanted))
            && (self.name() == name || same_key(self.key(), wanted.keys()))
    }
}

/// The name the server gives an index on `key` when none is given: `email_1_created_-1`.
pub(crate) fn default_name(key: &Document) -> String {
    let parts: Vec<String> = key
        .iter()
        .map(|(field, direction)| match (direction, sign(direction)) {
            (Bson::String(kind), _) => format!("{field}_{kind}"),
            (_, Some(false)) => format!("{field}_-1"),
            _ => format!("{field}_1"),
        })
        .collect();
    parts.join("_")
}

/// Whether two key patterns have the same fields in the same order, each in the same
/// direction (`1`, `1.0` and `NumberLong(1)` agree; a text, geo or hashed part agrees only
/// with itself).
pub(crate) fn same_key(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((f1, d1), (f2, d2))| {
            f1 == f2
                && match (sign(d1), sign(d2)) {
                    (Some(s1), Some(s2)) => s1 == s2,
                    _ => d1 == d2,
                }
        })
}

/// `true` for an ascending key part, `false` for a descending one, `None` for any other.
pub(crate) fn sign(direction: &Bson) -> Option<bool> {
    match direction {
        Bson::Int32(d) if *d != 0 => Some(*d > 0),
        Bson::Int64(d) if *d != 0 => Some(*d > 0),
        Bson::Double(d) if *d != 0.0 => Some(*d > 0.0),
        _ => None,
    }
}

/// Whether two partial filters are the same (numbers by value).
pub(crate) fn same_filter(a: Option<&Document>, b: Option<&Document>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_document(a, b),
        _ => false,
    }
}

/// Whether a collation a caller gave (`wanted`) is the one the server lists (`found`, every
/// option filled in): each option given has the server's value; simple is none.
pub(crate) fn same_collation(wanted: Option<&Collation>, found: Option<&Document>) -> bool {
    let wanted = wanted.and_then(crate::bson_compat::to_document);
    same_collation_spec(wanted.as_ref(), found)
}

/// [`same_collation`] with the wanted collation as a document.
pub(crate) fn same_collation_spec(wanted: Option<&Document>, found: Option<&Document>) -> bool {
    match (
        wanted.filter(|c| !is_simple(c)),
        found.filter(|c| !is_simple(c)),
    ) {
        (None, None) => true,
        (Some(wanted), Some(found)) => given_options_agree(wanted, found),
        _ => false,
    }
}

/// Whether every option in `given` has the same value in `found`.
pub(crate) fn given_options_agree(given: &Document, found: &Document) -> bool {
    given
        .iter()
        .all(|(k, v)| found.get(k).is_some_and(|f| same_value(v, f)))
}

/// `{ locale: "simple" }` (with nothing else that matters): byte-wise comparison.
pub(crate) fn is_simple(collation: &Document) -> bool {
    collation
        .get_str("locale")
        .is_ok_and(|locale| locale == "simple")
}

fn same_document(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && same_value(v1, v2))
}

/// BSON equality, numbers by value (`1 == 1.0 == NumberLong(1)`, as the server compares).
pub(crate) fn same_value(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Document(a), Bson::Document(b)) => same_document(a, b),
        (Bson::Array(a), Bson::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        _ => match compare_numbers(a, b) {
            Some(order) => order == Ordering::Equal,
            None => !is_number(a) && !is_number(b) && a == b,
        },
    }
}

fn is_number(value: &Bson) -> bool {
    matches!(value, Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_))
}

/// How two numbers (int32, int64, double) compare by value, exactly (no rounding through
/// `f64`); `None` when either is not one of them, or is NaN.
pub(crate) fn compare_numbers(a: &Bson, b: &Bson) -> Option<Ordering> {
    let int = |v: &Bson| match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        _ => None,
    };
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => x.partial_cmp(y),
        (Bson::Double(x), other) => int(other)
            .and_then(|n| int_vs_double(n, *x))
            .map(Ordering::reverse),
        (other, Bson::Double(y)) => int(other).and_then(|n| int_vs_double(n, *y)),
        _ => Some(int(a)?.cmp(&int(b)?)),
    }
}

/// How the integer `n` compares with the double `x`, exactly.
fn int_vs_double(n: i64, x: f64) -> Option<Ordering> {
    // 2^63 as a double: every i64 is below it, and -2^63 is the least i64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() {
        return None;
    }
    if x >= TWO_63 {
        return Some(Ordering::Less);
    }
    if x < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let whole = x.trunc();
    // In range: the cast is exact for a whole double within the i64 range.
    let order = n.cmp(&(whole as i64));
    Some(order.then_with(|| 0.0_f64.partial_cmp(&(x - whole)).unwrap_or(Ordering::Equal)))
}
