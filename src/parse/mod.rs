//! E11000 message parser: message text -> [`Parsed`].
//!
//! Split along concerns, each parser a small `fn(input) -> (value, rest)`:
//! - this module: the envelope — where the duplicate-key part starts inside any wrapper,
//!   then the namespace, index name, collation and where the key document is;
//! - [`value`] (with [`number`]): shell-syntax BSON values;
//! - [`key`]: the key document `{ f: v, … }` and its ambiguity rules;
//! - [`index_name`]: default index names (`a_1_b_-1`) -> fields and key pattern.
//!
//! Formats read (4.2+ first):
//! - `E11000 duplicate key error collection: <db>.<coll> index: <name> [collation: { … }] dup key: { <f>: <v>, … }`
//! - the same without `index: <name>` (clustered collections);
//! - 3.2-4.0 `… dup key: { : 1.0, : 2.0 }`: names from a default index name when its split
//!   into that many fields is unique;
//! - 2.x/3.0 `E11000 duplicate key error index: <db>.<coll>.$<name>  dup key: { : "x" }`,
//!   3.0.0 `E11000 duplicate key error dup key: { : "x" }` and the 2.x update path's
//!   `E11001 duplicate key on update`;
//! - Cosmos DB `… collection: <db>.<coll>. Failed _id or unique index constraint.` (the
//!   punctuation and the sentence vary), FerretDB `… collection: <db>.<coll>`, DocumentDB
//!   `Duplicate key violation on the requested collection: Index '<name>'`;
//! - inside any wrapper: `Plan executor error during findAndModify :: caused by :: `,
//!   `Index build failed: …  :: caused by :: `, `MongoServerError: `, `Command failed: …: `,
//!   2.6's `insertDocument :: caused by :: 11000 `.
//!
//! Names are printed raw, so every boundary is a choice; each is the first match scanning
//! forward:
//! - the duplicate-key part starts at the first `E11000 duplicate key error`, else at the
//!   first `E11001 duplicate key on update`; text before it is a wrapper;
//! - the namespace after `collection: ` ends at the first ` index: `, ` collation: {` or
//!   ` dup key: {`;
//! - with none of them, the namespace is followed by nothing (FerretDB) or by free text
//!   (Cosmos DB): the free text starts at the first punctuation mark (`.`, `,`, `:`, `;`)
//!   followed by a space, or at the first ` Failed`, whichever comes first; the namespace is
//!   the text before it, spaces and punctuation at its end dropped. So `test.cöll ection`
//!   keeps its space, while a collection name holding `. ` or ` Failed`, or ending in
//!   punctuation, is cut there in these two formats only;
//! - the database is the namespace up to its first `.` (database names hold no dot), the
//!   collection is everything after it (dots and spaces included);
//! - the index name ends at the first ` collation: {` or ` dup key: {` after ` index: `, so it
//!   may hold spaces, dots and quotes; with neither, it is not reported;
//! - in `index: <db>.<coll>.$<name>`, the collection ends at the first `.$`, and one space
//!   before ` dup key: ` is dropped (2.x prints two);
//! - the collation document is read with the value parser and must be followed by
//!   ` dup key: `;
//! - the key document runs to the end of the message (trailing whitespace aside), after
//!   cutting off a known trailer (` found value: …`, `, full error: …`) when that gives a
//!   readable document.
//!
//! The key value is reported only when it is exactly the user's: not when a value was cut,
//! lossily decoded or hex-dumped, not under a collation when a string occurs (collation keys),
//! not for 2d, 2dsphere and text indexes (the key printed is an S2 cell, a geohash or a term
//! with `_fts`/`_ftsx`), and not when the text reads two ways (see [`key`]).
//!
//! Everything is linear in the message length: each step scans forward, and the key document
//! is parsed at most six times (three possible ends, with and without expected names), plus
//! at most one second reading per field (32 at most) to detect ambiguity.

mod index_name;
mod key;
mod marker;
mod number;
mod value;

use mongodb::bson::Document;

use index_name::Split;
use key::{Key, Values};
use marker::{marker_for, Marker};

/// Everything the message text says about one duplicate-key error.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Parsed {
    pub(crate) database: Option<String>,
    pub(crate) collection: Option<String>,
    pub(crate) index: Option<String>,
    pub(crate) collation: Option<Document>,
    /// The key's field names in index order; empty when the message does not name them.
    pub(crate) fields: Vec<String>,
    /// Only from a default index name (`a_1_b_-1`) that agrees with `fields`.
    pub(crate) key_pattern: Option<Document>,
    /// `None` when any part is cut, a collation key, lossy, derived or unnamed.
    pub(crate) key_value: Option<Document>,
}

static E11000: Marker = marker_for!("E11000 duplicate key error");
static E11001: Marker = marker_for!("E11001 duplicate key on update");
static DOCUMENTDB: Marker = marker_for!("Duplicate key violation on the requested collection");
static INDEX: Marker = marker_for!(" index: ");
static COLLATION: Marker = marker_for!(" collation: {");
static DUP_KEY: Marker = marker_for!(" dup key: {");
static FAILED: Marker = marker_for!(" Failed");
static FOUND_VALUE: Marker = marker_for!(" found value: ");
static FULL_ERROR: Marker = marker_for!("}, full error: ");

/// Parses a duplicate-key message; `None` when `message` is not one.
pub(crate) fn parse(message: &str) -> Option<Parsed> {
    let mut parsed = Parsed::default();
    if let Some(rest) = E11000.after(message).or_else(|| E11001.after(message)) {
        duplicate_key_error(rest, &mut parsed);
    } else {
        documentdb(DOCUMENTDB.after(message)?, &mut parsed);
    }
    Some(parsed)
}

/// What follows `E11000 duplicate key error` (or 2.x's `E11001 duplicate key on update`).
fn duplicate_key_error(input: &str, parsed: &mut Parsed) {
    if let Some(rest) = input.strip_prefix(" collection: ") {
        collection(rest, parsed);
    } else if let Some(rest) = input.strip_prefix(INDEX.text()) {
        legacy_index(rest, parsed);
    } else if let Some(rest) = input.strip_prefix(" dup key: ") {
        dup_key(rest, None, false, parsed);
    }
}

/// `<db>.<coll>` then ` index: …`, ` collation: …`, ` dup key: …`, or free text or nothing.
fn collection(input: &str, parsed: &mut Parsed) {
    let Some((at, end)) = first_of(input, &[&INDEX, &COLLATION, &DUP_KEY]) else {
        namespace(bare_namespace(input), parsed);
        return;
    };
    namespace(&input[..at], parsed);
    // Collation and key documents keep their `{`.
    match end {
        0 => index(&input[at + INDEX.len()..], parsed),
        1 => collation(&input[at + COLLATION.len() - 1..], None, parsed),
        _ => dup_key(&input[at + DUP_KEY.len() - 1..], None, false, parsed),
    }
}

/// A namespace followed by no marker: it ends where free text starts (see the module docs).
fn bare_namespace(input: &str) -> &str {
    let punctuated = input
        .as_bytes()
        .windows(2)
        .position(|pair| matches!(pair, [b'.' | b',' | b':' | b';', b' ']));
    let sentence = FAILED.find(input);
    let end = match (punctuated, sentence) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(input.len()),
    };
    input[..end].trim_end_matches(|c: char| c.is_whitespace() || ".,:;-".contains(c))
}

/// `<name>` then ` collation: {…` or ` dup key: {…`.
fn index(input: &str, parsed: &mut Parsed) {
    let Some((at, end)) = first_of(input, &[&COLLATION, &DUP_KEY]) else {
        return;
    };
    let name = Some(&input[..at]).filter(|name| !name.is_empty());
    parsed.index = name.map(str::to_owned);
    if end == 0 {
        collation(&input[at + COLLATION.len() - 1..], name, parsed);
    } else {
        dup_key(&input[at + DUP_KEY.len() - 1..], name, false, parsed);
    }
}

/// `{ … } dup key: {…`: the index's collation, then the key.
fn collation(input: &str, index: Option<&str>, parsed: &mut Parsed) {
    let mut quality = value::Quality::default();
    if let Ok((collation, rest)) = value::document(input, 1, &mut quality) {
        if let Some(rest) = rest.strip_prefix(&DUP_KEY.text()[..DUP_KEY.len() - 1]) {
            parsed.collation = Some(collation);
            dup_key(rest, index, true, parsed);
            return;
        }
    }
    // An unreadable collation: the key follows the first ` dup key: {`.
    if let Some(at) = DUP_KEY.find(input) {
        dup_key(&input[at + DUP_KEY.len() - 1..], index, true, parsed);
    }
}

/// 2.x/3.0: `<db>.<coll>.$<name>  dup key: {…`.
fn legacy_index(input: &str, parsed: &mut Parsed) {
    let (qualified, key) = match DUP_KEY.find(input) {
        Some(at) => (&input[..at], Some(&input[at + DUP_KEY.len() - 1..])),
        None => (input.trim_end(), None),
    };
    // 2.x prints two spaces before `dup key`.
    let qualified = qualified.strip_suffix(' ').unwrap_or(qualified);
    let mut index = None;
    if let Some((ns, name)) = qualified.split_once(".$") {
        namespace(ns, parsed);
        index = Some(name).filter(|name| !name.is_empty());
        parsed.index = index.map(str::to_owned);
    }
    if let Some(key) = key {
        dup_key(key, index, false, parsed);
    }
}

/// `<db>.<coll>`: the database has no dot, the collection may.
fn namespace(ns: &str, parsed: &mut Parsed) {
    if let Some((db, coll)) = ns.split_once('.') {
        parsed.database = Some(db).filter(|db| !db.is_empty()).map(str::to_owned);
        parsed.collection = Some(coll)
            .filter(|coll| !coll.is_empty())
            .map(str::to_owned);
    }
}

/// DocumentDB: `: Index '<name>'`; fields and pattern when the name splits one way only.
fn documentdb(input: &str, parsed: &mut Parsed) {
    let Some(quoted) = input.strip_prefix(": Index '") else {
        return;
    };
    let Some(name) = quoted.rfind('\'').map(|end| &quoted[..end]) else {
        return;
    };
    if name.is_empty() {
        return;
    }
    parsed.index = Some(name.to_owned());
    if let Some(split) = index_name::unique_split(name, None) {
        set_split(&split, parsed);
    }
}

/// The key document (`input` starts at its `{`) and what it says with the index name.
fn dup_key(input: &str, index: Option<&str>, has_collation: bool, parsed: &mut Parsed) {
    // Expected names from a default index name (key.rs rule 2), never holding `"`.
    let hint = index
        .filter(|index| !index.contains('"'))
        .and_then(index_name::natural);
    let names: Option<Vec<&str>> = hint
        .as_ref()
        .map(|split| split.iter().map(|(field, _)| *field).collect());
    for text in documents(input) {
        if let Some(names) = &names {
            if let Ok(key) = key::key_document(text, Some(names)) {
                resolve(key, hint.as_deref(), index, has_collation, parsed);
                return;
            }
        }
        if let Ok(key) = key::key_document(text, None) {
            resolve(key, None, index, has_collation, parsed);
            return;
        }
    }
    // No readable values; the expected names may still be there.
    if let (Some(hint), Some(names)) = (&hint, &names) {
        if key::names_present(input.trim_end(), names) {
            set_split(hint, parsed);
        }
    }
}

/// Where the key document may end: before a known trailer, else at the end of the text.
fn documents(input: &str) -> impl Iterator<Item = &str> {
    let found_value = FOUND_VALUE.find(input).map(|at| &input[..at]);
    // The trailer starts after the document's `}`.
    let full_error = FULL_ERROR.find(input).map(|at| &input[..=at]);
    [found_value, full_error, Some(input.trim_end())]
        .into_iter()
        .flatten()
}

/// Fills fields, key pattern and key value from a parsed key document; `hint` is the split
/// of the index name whose names the document was read with.
fn resolve(
    key: Key<'_>,
    hint: Option<&[(&str, index_name::Direction)]>,
    index: Option<&str>,
    has_collation: bool,
    parsed: &mut Parsed,
) {
    let value = match key.values {
        Values::Named(value) => {
            if key.names.is_empty() {
                return;
            }
            parsed.key_pattern = match hint {
                Some(split) => Some(index_name::pattern(split)),
                None => index.and_then(|index| index_name::pattern_for(index, &key.names)),
            };
            parsed.fields = key.names.iter().map(|name| (*name).to_owned()).collect();
            value
        }
        Values::Positional(items) => {
            // 3.2-4.0: the names come from the index name, when it splits one way only.
            let Some(split) =
                index.and_then(|index| index_name::unique_split(index, Some(items.len())))
            else {
                return;
            };
            set_split(&split, parsed);
            parsed.fields.iter().cloned().zip(items).collect()
        }
    };
    // Under a collation, strings are collation keys, not the user's value.
    let quality = key.quality;
    let exact = !(quality.inexact || quality.ambiguous || (has_collation && quality.strings));
    // Two equal names would have merged.
    if exact && value.len() == parsed.fields.len() && !derived_keys(parsed) {
        parsed.key_value = Some(value);
    }
}

/// Fields and key pattern from a split of the index name.
fn set_split(split: &Split<'_>, parsed: &mut Parsed) {
    parsed.fields = split.iter().map(|(field, _)| (*field).to_owned()).collect();
    parsed.key_pattern = Some(index_name::pattern(split));
}

/// Whether the key is what a 2d, 2dsphere or text index stores (an S2 cell, a geohash, a term
/// with `_fts`/`_ftsx`) rather than the document's value.
fn derived_keys(parsed: &Parsed) -> bool {
    let geo = parsed
        .key_pattern
        .as_ref()
        .is_some_and(|pattern| !crate::key_pattern::is_plain(pattern));
    let has = |name: &str| parsed.fields.iter().any(|field| field == name);
    geo || (has("_fts") && has("_ftsx"))
}

/// The first of `markers` in `hay`: `(byte offset, which marker)`.
fn first_of(hay: &str, markers: &[&Marker]) -> Option<(usize, usize)> {
    markers
        .iter()
        .enumerate()
        .filter_map(|(which, marker)| marker.find(hay).map(|at| (at, which)))
        .min()
}

/// The byte offset of the first `needle` in `hay`, for texts known only at run time.
pub(crate) fn find(hay: &str, needle: &str) -> Option<usize> {
    memchr::memmem::find(hay.as_bytes(), needle.as_bytes())
}

#[cfg(test)]
mod tests;
