//! Default index names (`a_1_b_-1`, `first_name_1`, `loc_2dsphere`, `_id_`): the fields and
//! key pattern they were built from.
//!
//! A default name joins `<field>_<direction>` pairs with `_`. Field names may hold `_` and
//! even whole direction-looking parts (`x_1_y`), so one name can often be split in several
//! ways (`a_1_b_1` is `{ a: 1, b: 1 }` or `{ "a_1_b": 1 }`). The functions here never guess:
//! - [`natural`] splits at every direction-looking part; the message parser only uses it as
//!   a hint that the key document must confirm name by name;
//! - [`unique_split`] answers only when exactly one split exists (with a given field count);
//! - [`pattern_for`] checks known field names against the name.
//!
//! Directions: `1`, `-1`, `2dsphere`, `2d`, `text`. Not `hashed`: a hashed index cannot be
//! unique, so an E11000 never comes from one, and a name like `v_hashed` was given by hand.

use mongodb::bson::{Bson, Document};

/// The most fields a MongoDB index key can have.
pub(crate) const MAX_FIELDS: usize = 32;

/// Longer names are not split (bounds the work and memory of [`unique_split`]).
const MAX_SPLIT_NAME: usize = 4096;

/// The value of one key-pattern field, as it appears in a default index name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// `1`
    Ascending,
    /// `-1`
    Descending,
    /// `2dsphere`
    Sphere,
    /// `2d`
    Flat,
    /// `text`
    Text,
}

impl Direction {
    /// The direction spelled by one `_`-separated part of a name.
    pub(crate) fn from_part(part: &str) -> Option<Self> {
        Some(match part {
            "1" => Self::Ascending,
            "-1" => Self::Descending,
            "2d" => Self::Flat,
            "text" => Self::Text,
            "2dsphere" => Self::Sphere,
            _ => return None,
        })
    }

    /// The key-pattern value: `1`/`-1` as Int32, the others as strings (the string ones
    /// store derived keys: an S2 cell, a geohash, a term).
    pub(crate) fn to_bson(self) -> Bson {
        match self {
            Self::Ascending => Bson::Int32(1),
            Self::Descending => Bson::Int32(-1),
            Self::Sphere => Bson::String("2dsphere".into()),
            Self::Flat => Bson::String("2d".into()),
            Self::Text => Bson::String("text".into()),
        }
    }

    /// How the direction is spelled in a name.
    fn as_str(self) -> &'static str {
        match self {
            Self::Ascending => "1",
            Self::Descending => "-1",
            Self::Sphere => "2dsphere",
            Self::Flat => "2d",
            Self::Text => "text",
        }
    }
}

/// A split of a default index name: `(field, direction)` in index order.
pub(crate) type Split<'a> = Vec<(&'a str, Direction)>;

/// The key pattern of a split.
pub(crate) fn pattern(split: &[(&str, Direction)]) -> Document {
    split
        .iter()
        .map(|(field, direction)| ((*field).to_owned(), direction.to_bson()))
        .collect()
}

/// Splits `name` at every direction-looking part that closes a non-empty field (`_id_` is
/// `_id: 1`). `None` when that does not consume the whole name, or gives more than
/// [`MAX_FIELDS`] fields. Only a hint: `x_1_y_1` gives `[x, y]` even if the field was `x_1_y`.
pub(crate) fn natural(name: &str) -> Option<Split<'_>> {
    if name == "_id_" {
        return Some(vec![(&name[..3], Direction::Ascending)]);
    }
    let mut split = Vec::new();
    // Byte offsets: where the current field starts, and where the current part starts.
    let mut field_start = 0;
    let mut part_start = 0;
    for part in name.split('_') {
        // The field is everything before this part's leading `_`: at least one byte.
        if part_start >= field_start + 2 {
            if let Some(direction) = Direction::from_part(part) {
                if split.len() == MAX_FIELDS {
                    return None;
                }
                split.push((&name[field_start..part_start - 1], direction));
                field_start = part_start + part.len() + 1;
            }
        }
        part_start += part.len() + 1;
    }
    // The last part must have closed a field (then field_start is just past the end).
    (field_start == name.len() + 1 && !split.is_empty()).then_some(split)
}

/// The only split of `name` into `fields` fields (any count when `None`), or `None` when
/// there is no such split or more than one.
///
/// Counts splits with a dynamic program over the `_`-separated parts, `O(parts × fields)`,
/// counts capped at 2 ("many"), then rebuilds the unique one.
pub(crate) fn unique_split(name: &str, fields: Option<usize>) -> Option<Split<'_>> {
    if name == "_id_" {
        return fields
            .is_none_or(|k| k == 1)
            .then(|| vec![(&name[..3], Direction::Ascending)]);
    }
    if name.len() > MAX_SPLIT_NAME || fields.is_some_and(|k| k == 0 || k > MAX_FIELDS) {
        return None;
    }
    let kmax = fields.unwrap_or(MAX_FIELDS);
    let parts = parts(name);
    let m = parts.len();
    let width = kmax + 1;
    // ways[p * width + c]: splits of parts[..p] into c whole fields (capped at 2).
    // below[p * width + c]: the sum of ways[q][c] for q <= p (capped at 2).
    let mut ways = vec![0u8; (m + 1) * width];
    let mut below = vec![0u8; (m + 1) * width];
    ways[0] = 1;
    below[..width].copy_from_slice(&ways[..width]);
    for end in 1..=m {
        // A field ending at `end` is parts[p..end - 1] followed by the direction
        // parts[end - 1]: one or more parts, and a lone empty part is no field name.
        if end >= 2 && Direction::from_part(part(name, parts[end - 1])).is_some() {
            let single_ok = !part(name, parts[end - 2]).is_empty();
            for c in 0..kmax {
                let several = if end >= 3 {
                    below[(end - 3) * width + c]
                } else {
                    0
                };
                let single = if single_ok {
                    ways[(end - 2) * width + c]
                } else {
                    0
                };
                ways[end * width + c + 1] = cap(several + single);
            }
        }
        for c in 0..width {
            below[end * width + c] = cap(below[(end - 1) * width + c] + ways[end * width + c]);
        }
    }
    let count = match fields {
        Some(k) => ways[m * width + k],
        None => (1..width).fold(0, |sum, c| cap(sum + ways[m * width + c])),
    };
    if count != 1 {
        return None;
    }
    let mut c =
        fields.unwrap_or_else(|| (1..width).find(|&c| ways[m * width + c] == 1).unwrap_or(0));
    // Rebuild backwards: exactly one predecessor carries the single split.
    let mut end = m;
    let mut split = Vec::with_capacity(c);
    while c > 0 {
        let direction = Direction::from_part(part(name, parts[end - 1]))?;
        let start = (0..=end.checked_sub(2)?).rev().find(|&p| {
            ways[p * width + c - 1] > 0 && (p + 2 < end || !part(name, parts[p]).is_empty())
        })?;
        let field = &name[parts[start].0..parts[end - 2].1];
        split.push((field, direction));
        end = start;
        c -= 1;
    }
    if end != 0 {
        return None;
    }
    split.reverse();
    Some(split)
}

/// The key pattern when `name` is exactly the default name of `fields`
/// (`<f1>_<d1>_<f2>_<d2>...`, or `_id_` for `[_id]`).
pub(crate) fn pattern_for(name: &str, fields: &[&str]) -> Option<Document> {
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        return None;
    }
    if name == "_id_" {
        return (fields == ["_id"]).then(|| pattern(&[("_id", Direction::Ascending)]));
    }
    let mut rest = name;
    let mut split = Vec::with_capacity(fields.len());
    for (i, &field) in fields.iter().enumerate() {
        if field.is_empty() {
            return None;
        }
        rest = rest.strip_prefix(field)?.strip_prefix('_')?;
        let last = i + 1 == fields.len();
        let direction = [
            Direction::Sphere,
            Direction::Text,
            Direction::Descending,
            Direction::Flat,
            Direction::Ascending,
        ]
        .into_iter()
        .find(|d| match rest.strip_prefix(d.as_str()) {
            Some(after) if last => after.is_empty(),
            Some(after) => after.starts_with('_'),
            None => false,
        })?;
        rest = &rest[direction.as_str().len()..];
        if !last {
            rest = &rest[1..];
        }
        split.push((field, direction));
    }
    let doc = pattern(&split);
    // Two equal field names would have merged into one pattern entry.
    (rest.is_empty() && doc.len() == fields.len()).then_some(doc)
}

/// The byte ranges of the `_`-separated parts of `name`.
fn parts(name: &str) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, b) in name.bytes().enumerate() {
        if b == b'_' {
            parts.push((start, i));
            start = i + 1;
        }
    }
    parts.push((start, name.len()));
    parts
}

fn part(name: &str, (start, end): (usize, usize)) -> &str {
    &name[start..end]
}

fn cap(n: u8) -> u8 {
    n.min(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;
    use Direction::*;

    #[test]
    fn direction_parts() {
        assert_eq!(Direction::from_part("1"), Some(Ascending));
        assert_eq!(Direction::from_part("-1"), Some(Descending));
        assert_eq!(Direction::from_part("hashed"), None);
        assert_eq!(Direction::from_part("2dsphere"), Some(Sphere));
        assert_eq!(Direction::from_part("2d"), Some(Flat));
        assert_eq!(Direction::from_part("text"), Some(Text));
        assert_eq!(Direction::from_part("2"), None);
        assert_eq!(Direction::from_part("1.0"), None);
        assert_eq!(Direction::from_part(""), None);
        assert_eq!(Text.to_bson(), Bson::String("text".into()));
        assert_eq!(Descending.to_bson(), Bson::Int32(-1));
    }

    #[test]
    fn natural_splits() {
        assert_eq!(natural("email_1"), Some(vec![("email", Ascending)]));
        assert_eq!(
            natural("a_1_b_-1"),
            Some(vec![("a", Ascending), ("b", Descending)])
        );
        assert_eq!(
            natural("first_name_1"),
            Some(vec![("first_name", Ascending)])
        );
        assert_eq!(natural("_id_"), Some(vec![("_id", Ascending)]));
        assert_eq!(natural("_id_1"), Some(vec![("_id", Ascending)]));
        assert_eq!(
            natural("loc_2dsphere_tags_text_p_2d"),
            Some(vec![("loc", Sphere), ("tags", Text), ("p", Flat)])
        );
        assert_eq!(
            natural("profile.email_1"),
            Some(vec![("profile.email", Ascending)])
        );
        assert_eq!(natural("my idx_1"), Some(vec![("my idx", Ascending)]));
        assert_eq!(natural("ünï_-1"), Some(vec![("ünï", Descending)]));
        // A direction-looking part directly after a direction starts the next field.
        assert_eq!(
            natural("a_1_1_1"),
            Some(vec![("a", Ascending), ("1", Ascending)])
        );
        assert_eq!(natural("uniq"), None);
        assert_eq!(natural("email_1_"), None);
        assert_eq!(natural("a_1_b"), None);
        assert_eq!(natural("1"), None);
        assert_eq!(natural("_1"), None);
        assert_eq!(natural(""), None);
        let many = (0..33)
            .map(|i| format!("f{i}_1"))
            .collect::<Vec<_>>()
            .join("_");
        assert_eq!(natural(&many), None);
    }

    #[test]
    fn unique_split_with_count() {
        assert_eq!(
            unique_split("a_1_b_-1", Some(2)),
            Some(vec![("a", Ascending), ("b", Descending)])
        );
        assert_eq!(
            unique_split("a_1_b_-1", Some(1)),
            Some(vec![("a_1_b", Descending)])
        );
        assert_eq!(unique_split("a_1_b_-1", Some(3)), None);
        assert_eq!(
            unique_split("first_name_1", Some(1)),
            Some(vec![("first_name", Ascending)])
        );
        assert_eq!(unique_split("first_name_1", Some(2)), None);
        // x_1_y_1_z_1 into two fields: x | y_1_z or x_1_y | z: ambiguous.
        assert_eq!(unique_split("x_1_y_1_z_1", Some(2)), None);
        assert_eq!(
            unique_split("x_1_y_1_z_1", Some(3)),
            Some(vec![("x", Ascending), ("y", Ascending), ("z", Ascending)])
        );
        assert_eq!(
            unique_split("_id_", Some(1)),
            Some(vec![("_id", Ascending)])
        );
        assert_eq!(unique_split("_id_", Some(2)), None);
        // `__1` is the field `_`; `_1` alone has an empty field.
        assert_eq!(unique_split("__1", Some(1)), Some(vec![("_", Ascending)]));
        assert_eq!(unique_split("_1", Some(1)), None);
        assert_eq!(unique_split("a_1", Some(0)), None);
        assert_eq!(unique_split("a_1", Some(33)), None);
        assert_eq!(unique_split("", Some(1)), None);
        assert_eq!(unique_split("uniq", Some(1)), None);
    }

    #[test]
    fn unique_split_any_count() {
        assert_eq!(
            unique_split("email_1", None),
            Some(vec![("email", Ascending)])
        );
        assert_eq!(
            unique_split("first_name_1", None),
            Some(vec![("first_name", Ascending)])
        );
        // `{a: 1, b: -1}` or `{"a_1_b": -1}`.
        assert_eq!(unique_split("a_1_b_-1", None), None);
        assert_eq!(
            unique_split("loc_2dsphere", None),
            Some(vec![("loc", Sphere)])
        );
        assert_eq!(unique_split("uniq", None), None);
    }

    #[test]
    fn unique_split_is_bounded() {
        // 2,000 parts: splits into 32 fields are astronomically many, counted in a capped way.
        let name = vec!["1"; 2000].join("_");
        assert_eq!(unique_split(&name, Some(32)), None);
        assert_eq!(unique_split(&name, None), None);
        let long = "a".repeat(MAX_SPLIT_NAME) + "_1";
        assert_eq!(unique_split(&long, Some(1)), None);
    }

    #[test]
    fn pattern_for_fields() {
        assert_eq!(
            pattern_for("a_1_b_-1", &["a", "b"]),
            Some(doc! { "a": 1, "b": -1 })
        );
        assert_eq!(
            pattern_for("a_1_b_-1", &["a_1_b"]),
            Some(doc! { "a_1_b": -1 })
        );
        assert_eq!(pattern_for("a_1_b_-1", &["a"]), None);
        assert_eq!(pattern_for("a_1_b_-1", &["b", "a"]), None);
        assert_eq!(pattern_for("_id_", &["_id"]), Some(doc! { "_id": 1 }));
        assert_eq!(pattern_for("_id_1", &["_id"]), Some(doc! { "_id": 1 }));
        assert_eq!(pattern_for("_id_", &["id"]), None);
        assert_eq!(
            pattern_for("loc_2dsphere_t_text_p_2d", &["loc", "t", "p"]),
            Some(doc! { "loc": "2dsphere", "t": "text", "p": "2d" })
        );
        assert_eq!(
            pattern_for("p_2d_x_1", &["p", "x"]),
            Some(doc! { "p": "2d", "x": 1 })
        );
        assert_eq!(
            pattern_for("ünï db_1", &["ünï db"]),
            Some(doc! { "ünï db": 1 })
        );
        assert_eq!(pattern_for("uniq", &["uniq"]), None);
        assert_eq!(pattern_for("v_hashed", &["v"]), None);
        assert_eq!(pattern_for("a_1_a_1", &["a", "a"]), None);
        assert_eq!(pattern_for("a_1", &[]), None);
        assert_eq!(pattern_for("_1", &[""]), None);
        assert_eq!(pattern_for("a_1x", &["a"]), None);
    }

    #[test]
    fn pattern_of_split() {
        assert_eq!(
            pattern(&[("a", Ascending), ("b", Sphere)]),
            doc! { "a": 1, "b": "2dsphere" }
        );
    }
}
