//! E11000 message parser: message text -> [`Parsed`].
//!
//! Split along concerns, each parser a small `fn(input) -> (value, rest)`:
//! - this module: the envelope — where the E11000 part starts inside any wrapper, then the
//!   namespace, index name, collation and where the key document is;
//! - [`value`] (with [`number`]): shell-syntax BSON values;
//! - [`key`]: the key document `{ f: v, … }` and its ambiguity rules;
//! - [`index_name`]: default index names (`a_1_b_-1`) -> fields and key pattern.
//!
//! Formats read (4.2+ first):
//! - `E11000 duplicate key error collection: <db>.<coll> index: <name> [collation: { … }] dup key: { <f>: <v>, … }`
//! - the same without `index: <name>` (clustered collections);
//! - 3.2-4.0 `… dup key: { : 1.0, : 2.0 }`: names from a default index name when its split
//!   into that many fields is unique;
//! - 2.x/3.0 `E11000 duplicate key error index: <db>.<coll>.$<name>  dup key: { : "x" }` and
//!   3.0.0 `E11000 duplicate key error dup key: { : "x" }`;
//! - Cosmos DB `… collection: <db>.<coll>. Failed _id or unique index constraint.`, FerretDB
//!   `… collection: <db>.<coll>`, DocumentDB `Duplicate key violation on the requested
//!   collection: Index '<name>'`;
//! - inside any wrapper: `Plan executor error during findAndModify :: caused by :: `,
//!   `Index build failed: …  :: caused by :: `, `MongoServerError: `, `Command failed: …: `,
//!   2.6's `insertDocument :: caused by :: 11000 `.
//!
//! Names are printed raw, so every boundary is a choice; each is the first match scanning
//! forward:
//! - the E11000 part starts at the first `E11000 duplicate key error`; text before it is a
//!   wrapper;
//! - the namespace after `collection: ` ends at the first ` index: `, ` collation: {`,
//!   ` dup key: {` or `. Failed _id or unique index constraint`; with none of them it is the
//!   rest of the text;
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

mod fast;
mod index_name;
mod key;
mod number;
mod value;

use mongodb::bson::{Bson, Document};

use index_name::Natural;
use key::{Key, Names, Values};
use value::Quality;

/// Everything the message text says about one duplicate-key error. Names are slices of the
/// message (no copies); the key pattern may be left for the caller to build on demand.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Parsed<'a> {
    pub(crate) database: Option<&'a str>,
    pub(crate) collection: Option<&'a str>,
    pub(crate) index: Option<&'a str>,
    /// Boxed, as most indexes have none: a small `Parsed` is cheap to move.
    pub(crate) collation: Option<Box<Document>>,
    /// The key's field names in index order; empty when the message does not name them.
    pub(crate) fields: Names<'a>,
    /// Only from a default index name (`a_1_b_-1`) that agrees with `fields`.
    pub(crate) key_pattern: Pattern,
    /// `None` when any part is truncated, a collation key, lossy, or unnamed.
    pub(crate) key_value: Option<Document>,
}

/// The key pattern a message gives, or how to build it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Pattern {
    /// Not known.
    #[default]
    None,
    /// Built already (boxed, as most patterns are built on demand).
    Known(Box<Document>),
    /// The index name's natural split ([`natural_pattern`]): built on demand, since most
    /// callers never read it.
    Natural,
}

#[cfg(test)]
impl Pattern {
    /// The pattern as a document; `index` is the parsed index name.
    pub(crate) fn build(&self, index: Option<&str>) -> Option<Document> {
        match self {
            Self::None => None,
            Self::Known(doc) => Some((**doc).clone()),
            Self::Natural => index.and_then(natural_pattern),
        }
    }
}

/// The key pattern of `index` split at every direction-looking part (what
/// [`Pattern::Natural`] stands for).
pub(crate) fn natural_pattern(index: &str) -> Option<Document> {
    index_name::natural(index).map(|split| split.pattern())
}

const E11000: &str = "E11000 duplicate key error";
const DOCUMENTDB: &str = "Duplicate key violation on the requested collection";
const COSMOS_END: &str = ". Failed _id or unique index constraint";
const COLLATION: &str = " collation: {";
const DUP_KEY: &str = " dup key: {";

/// Parses a duplicate-key message; `None` when `message` is not one.
pub(crate) fn parse(message: &str) -> Option<Parsed<'_>> {
    let mut parsed = Parsed::default();
    parse_into(message, &mut parsed).then_some(parsed)
}

/// [`parse`] into `parsed` (which starts as `Parsed::default()`), not moving the result
/// around: `false` when `message` is not a duplicate-key message.
pub(crate) fn parse_into<'a>(message: &'a str, parsed: &mut Parsed<'a>) -> bool {
    fast::parse_into(message, parsed) || general(message, parsed)
}

/// [`parse_into`] without the fast path: every format.
fn general<'a>(message: &'a str, parsed: &mut Parsed<'a>) -> bool {
    if let Some(rest) = message.strip_prefix(E11000) {
        e11000(rest, parsed);
    } else if let Some(at) = find(message, E11000) {
        e11000(&message[at + E11000.len()..], parsed);
    } else if let Some(at) = find(message, DOCUMENTDB) {
        documentdb(&message[at + DOCUMENTDB.len()..], parsed);
    } else {
        return false;
    }
    true
}

/// What follows `E11000 duplicate key error`.
fn e11000<'a>(input: &'a str, parsed: &mut Parsed<'a>) {
    if let Some(rest) = input.strip_prefix(" collection: ") {
        collection(rest, parsed);
    } else if let Some(rest) = input.strip_prefix(" index: ") {
        legacy_index(rest, parsed);
    } else if let Some(rest) = input.strip_prefix(" dup key: ") {
        dup_key(rest, None, false, parsed);
    }
}

/// `<db>.<coll>` then ` index: …`, ` collation: …`, ` dup key: …`, Cosmos DB's end, or nothing.
fn collection<'a>(input: &'a str, parsed: &mut Parsed<'a>) {
    const ENDS: [&str; 4] = [" index: ", COLLATION, DUP_KEY, COSMOS_END];
    let Some((at, end)) = first_of(input, &ENDS) else {
        // FerretDB says nothing more.
        namespace(input.trim_end(), parsed);
        return;
    };
    namespace(&input[..at], parsed);
    // Collation and key documents keep their `{`.
    match end {
        0 => index(&input[at + ENDS[0].len()..], parsed),
        1 => collation(&input[at + COLLATION.len() - 1..], None, parsed),
        2 => dup_key(&input[at + DUP_KEY.len() - 1..], None, false, parsed),
        _ => {}
    }
}

/// `<name>` then ` collation: {…` or ` dup key: {…`.
fn index<'a>(input: &'a str, parsed: &mut Parsed<'a>) {
    const ENDS: [&str; 2] = [COLLATION, DUP_KEY];
    let Some((at, end)) = first_of(input, &ENDS) else {
        return;
    };
    let name = &input[..at];
    if !name.is_empty() {
        parsed.index = Some(name);
    }
    let name = Some(name).filter(|name| !name.is_empty());
    let rest = &input[at + ENDS[end].len() - 1..];
    if end == 0 {
        collation(rest, name, parsed);
    } else {
        dup_key(rest, name, false, parsed);
    }
}

/// `{ … } dup key: {…`: the index's collation, then the key.
fn collation<'a>(input: &'a str, index: Option<&'a str>, parsed: &mut Parsed<'a>) {
    let mut quality = Quality::default();
    if let Ok((collation, rest)) = value::document(input, 1, &mut quality) {
        if let Some(rest) = rest.strip_prefix(&DUP_KEY[..DUP_KEY.len() - 1]) {
            parsed.collation = Some(Box::new(collation));
            dup_key(rest, index, true, parsed);
            return;
        }
    }
    // An unreadable collation: the key follows the first ` dup key: {`.
    if let Some(at) = find(input, DUP_KEY) {
        dup_key(&input[at + DUP_KEY.len() - 1..], index, true, parsed);
    }
}

/// 2.x/3.0: `<db>.<coll>.$<name>  dup key: {…`.
fn legacy_index<'a>(input: &'a str, parsed: &mut Parsed<'a>) {
    let (qualified, key) = match find(input, DUP_KEY) {
        Some(at) => (&input[..at], Some(&input[at + DUP_KEY.len() - 1..])),
        None => (input.trim_end(), None),
    };
    // 2.x prints two spaces before `dup key`.
    let qualified = qualified.strip_suffix(' ').unwrap_or(qualified);
    let mut index = None;
    if let Some((ns, name)) = qualified.split_once(".$") {
        namespace(ns, parsed);
        if !name.is_empty() {
            parsed.index = Some(name);
            index = Some(name);
        }
    }
    if let Some(key) = key {
        dup_key(key, index, false, parsed);
    }
}

/// `<db>.<coll>`: the database has no dot, the collection may.
fn namespace<'a>(ns: &'a str, parsed: &mut Parsed<'a>) {
    if let Some(dot) = ns.bytes().position(|b| b == b'.') {
        let (db, coll) = (&ns[..dot], &ns[dot + 1..]);
        if !db.is_empty() {
            parsed.database = Some(db);
        }
        if !coll.is_empty() {
            parsed.collection = Some(coll);
        }
    }
}

/// DocumentDB: `: Index '<name>'`; fields and pattern when the name splits one way only.
fn documentdb<'a>(input: &'a str, parsed: &mut Parsed<'a>) {
    let Some(quoted) = input.strip_prefix(": Index '") else {
        return;
    };
    let Some(name) = quoted.rfind('\'').map(|end| &quoted[..end]) else {
        return;
    };
    if name.is_empty() {
        return;
    }
    parsed.index = Some(name);
    if let Some(split) = index_name::unique_split(name, None) {
        parsed.fields = split.iter().map(|(field, _)| *field).collect();
        parsed.key_pattern = Pattern::Known(Box::new(index_name::pattern(&split)));
    }
}

/// The key document (`input` starts at its `{`) and what it says with the index name.
fn dup_key<'a>(
    input: &'a str,
    index: Option<&'a str>,
    has_collation: bool,
    parsed: &mut Parsed<'a>,
) {
    // Expected names from a default index name (key.rs rule 2), never holding `"`.
    let hint = match index {
        Some(index) if !index.as_bytes().contains(&b'"') => index_name::natural(index),
        _ => None,
    };
    let hint = hint.as_ref();
    let names = hint.map(Natural::names);
    for text in documents(input) {
        if let Some(names) = names {
            let mut key = Key::new();
            if key::key_document_into(text, Some(names), &mut key).is_ok() {
                resolve(&mut key, hint, index, has_collation, parsed);
                return;
            }
        }
        let mut key = Key::new();
        if key::key_document_into(text, None, &mut key).is_ok() {
            resolve(&mut key, None, index, has_collation, parsed);
            return;
        }
    }
    // No readable values; the expected names may still be there.
    if let Some(hint) = hint {
        if key::names_present(input.trim_end(), hint.names()) {
            parsed.fields = hint.names().iter().copied().collect();
            parsed.key_pattern = Pattern::Natural;
        }
    }
}

/// Where the key document may end: before a known trailer, else at the end of the text.
fn documents(input: &str) -> impl Iterator<Item = &str> {
    let (found_value, full_error) = trailers(input);
    [found_value, full_error, Some(input.trim_end())]
        .into_iter()
        .flatten()
}

/// The key text cut before ` found value: …` and before `, full error: …`, where they occur.
fn trailers(input: &str) -> (Option<&str>, Option<&str>) {
    const FOUND_VALUE: &[u8] = b" found value: ";
    const FULL_ERROR: &[u8] = b"}, full error: ";
    // One scan for both trailers: each has an `f` at a fixed offset (1 and 3).
    let bytes = input.as_bytes();
    let (mut found_value, mut full_error) = (None, None);
    for at in memchr::memchr_iter(b'f', bytes) {
        if found_value.is_none() && at >= 1 && bytes[at - 1..].starts_with(FOUND_VALUE) {
            found_value = Some(&input[..at - 1]);
        }
        if full_error.is_none() && at >= 3 && bytes[at - 3..].starts_with(FULL_ERROR) {
            full_error = Some(&input[..at - 2]);
        }
        if found_value.is_some() && full_error.is_some() {
            break;
        }
    }
    (found_value, full_error)
}

/// Fills fields, key pattern and key value from a parsed key document.
fn resolve<'a>(
    key: &mut Key<'a>,
    hint: Option<&Natural<'_>>,
    index: Option<&'a str>,
    has_collation: bool,
    parsed: &mut Parsed<'a>,
) {
    // Under a collation, strings are collation keys, not the user's value.
    let exact =
        !(key.quality.inexact || key.quality.ambiguous || (has_collation && key.quality.strings));
    let values = std::mem::replace(&mut key.values, Values::Positional(Vec::new()));
    let value = match values {
        Values::Named(value) => {
            if key.names.is_empty() {
                return;
            }
            parsed.key_pattern = match hint {
                Some(_) => Pattern::Natural,
                None => index
                    .and_then(|index| index_name::pattern_for(index, &key.names[..]))
                    .map_or(Pattern::None, |pattern| Pattern::Known(Box::new(pattern))),
            };
            parsed.fields = std::mem::take(&mut key.names);
            value
        }
        Values::Positional(items) => {
            // 3.2-4.0: the names come from the index name, when it splits one way only.
            let Some(split) =
                index.and_then(|index| index_name::unique_split(index, Some(items.len())))
            else {
                return;
            };
            parsed.fields = split.iter().map(|(field, _)| *field).collect();
            parsed.key_pattern = Pattern::Known(Box::new(index_name::pattern(&split)));
            parsed
                .fields
                .iter()
                .map(|f| (*f).to_owned())
                .zip(items)
                .collect()
        }
    };
    // Two equal names would have merged.
    if exact && value.len() == parsed.fields.len() && !derived_keys(parsed, hint) {
        parsed.key_value = Some(value);
    }
}

/// Whether the key is what a 2d, 2dsphere or text index stores (an S2 cell, a geohash, a term
/// with `_fts`/`_ftsx`) rather than the document's value.
fn derived_keys(parsed: &Parsed<'_>, hint: Option<&Natural<'_>>) -> bool {
    let geo = match &parsed.key_pattern {
        Pattern::None => false,
        Pattern::Known(pattern) => pattern
            .values()
            .any(|direction| matches!(direction, Bson::String(_))),
        Pattern::Natural => hint.is_some_and(Natural::has_string_direction),
    };
    let text = parsed.fields.contains(&"_fts") && parsed.fields.contains(&"_ftsx");
    geo || text
}

/// The first place in `hay` where one of `needles` (each at least two bytes long, starting
/// with ` ` or `.`) begins: `(byte offset, which needle)`.
#[inline(always)]
fn first_of<const N: usize>(hay: &str, needles: &[&str; N]) -> Option<(usize, usize)> {
    let bytes = hay.as_bytes();
    let mut from = 0;
    while let Some(at) = space_or_dot(bytes, from) {
        let rest = &bytes[at..];
        // The needles' second bytes tell them apart before any full comparison.
        for (which, needle) in needles.iter().enumerate() {
            let needle = needle.as_bytes();
            if rest.len() >= needle.len() && rest[1] == needle[1] && rest.starts_with(needle) {
                return Some((at, which));
            }
        }
        from = at + 1;
    }
    None
}

/// The first ` ` or `.` in `bytes` at or after `from`, eight bytes at a time: the names
/// scanned here are short, too short for `memchr`'s set-up to pay off.
fn space_or_dot(bytes: &[u8], mut from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // High bits where a byte of `x` is zero; exact up to the first zero byte.
    let zeros = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(chunk) = bytes.get(from..from + 8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let found = zeros(word ^ (ONES * u64::from(b' '))) | zeros(word ^ (ONES * u64::from(b'.')));
        if found != 0 {
            return Some(from + found.trailing_zeros() as usize / 8);
        }
        from += 8;
    }
    let tail = bytes.get(from..)?;
    tail.iter()
        .position(|&b| b == b' ' || b == b'.')
        .map(|offset| from + offset)
}

/// `str::find` for a short ASCII `needle`, without the two-way searcher's set-up cost (this
/// runs several times per message): look for the needle's first non-space byte, then
/// compare. At most `needle.len()` bytes are compared per position, so it is linear for
/// these short constant needles.
pub(crate) fn find(hay: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    let pivot = needle.iter().position(|&b| b != b' ')?;
    let bytes = hay.as_bytes();
    let mut from = pivot;
    loop {
        let offset = memchr::memchr(needle[pivot], bytes.get(from..)?)?;
        let at = from + offset - pivot;
        if bytes[at..].starts_with(needle) {
            return Some(at);
        }
        from += offset + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{doc, oid::ObjectId};

    /// What [`super::Parsed`] says, owned and with the key pattern built.
    #[derive(Debug, Default, PartialEq)]
    struct Parsed {
        database: Option<String>,
        collection: Option<String>,
        index: Option<String>,
        collation: Option<Document>,
        fields: Vec<String>,
        key_pattern: Option<Document>,
        key_value: Option<Document>,
    }

    fn p(message: &str) -> Parsed {
        let parsed = parse(message).unwrap_or_else(|| panic!("not read: {message}"));
        Parsed {
            database: parsed.database.map(str::to_owned),
            collection: parsed.collection.map(str::to_owned),
            index: parsed.index.map(str::to_owned),
            collation: parsed.collation.map(|c| *c),
            fields: parsed.fields.iter().map(|f| (*f).to_owned()).collect(),
            key_pattern: parsed.key_pattern.build(parsed.index),
            key_value: parsed.key_value,
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn modern_single_field() {
        assert_eq!(
            p("E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }"),
            Parsed {
                database: some("shop"),
                collection: some("users"),
                index: some("email_1"),
                collation: None,
                fields: strings(&["email"]),
                key_pattern: Some(doc! { "email": 1 }),
                key_value: Some(doc! { "email": "ann@example.com" }),
            }
        );
    }

    #[test]
    fn modern_compound_with_odd_names() {
        assert_eq!(
            p("E11000 duplicate key error collection: ünï-db.cöll ection index: my idx.with dots & spaces \"q\" dup key: { tenant: 3, profile.email: \"a@b.c\" }"),
            Parsed {
                database: some("ünï-db"),
                collection: some("cöll ection"),
                index: some("my idx.with dots & spaces \"q\""),
                collation: None,
                fields: strings(&["tenant", "profile.email"]),
                key_pattern: None,
                key_value: Some(doc! { "tenant": 3, "profile.email": "a@b.c" }),
            }
        );
        let parsed = p(
            "E11000 duplicate key error collection: my-db.a.b.c index: _id_ dup key: { _id: 1 }",
        );
        assert_eq!(parsed.database, some("my-db"));
        assert_eq!(parsed.collection, some("a.b.c"));
        assert_eq!(parsed.key_pattern, Some(doc! { "_id": 1 }));
        assert_eq!(parsed.key_value, Some(doc! { "_id": 1 }));
    }

    #[test]
    fn default_name_hints_resolve_strings() {
        // The first string holds a `", c: ` sequence; the index name says what follows.
        let parsed = p("E11000 duplicate key error collection: t.c index: a_1_b_-1 dup key: { a: \"x\", c: 1\", b: \"y\" }");
        assert_eq!(parsed.fields, strings(&["a", "b"]));
        assert_eq!(parsed.key_pattern, Some(doc! { "a": 1, "b": -1 }));
        assert_eq!(parsed.key_value, Some(doc! { "a": "x\", c: 1", "b": "y" }));
        // A default-looking name whose natural split is wrong: the document decides.
        let parsed =
            p("E11000 duplicate key error collection: t.c index: x_1_y_1 dup key: { x_1_y: 5 }");
        assert_eq!(parsed.fields, strings(&["x_1_y"]));
        assert_eq!(parsed.key_pattern, Some(doc! { "x_1_y": 1 }));
        assert_eq!(parsed.key_value, Some(doc! { "x_1_y": 5 }));
    }

    #[test]
    fn collation_keys_are_not_values() {
        assert_eq!(
            p("E11000 duplicate key error collection: t.c index: name_1 collation: { locale: \"en\", strength: 2, version: \"57.1\" } dup key: { name: \"0x293f392d310109\" }"),
            Parsed {
                database: some("t"),
                collection: some("c"),
                index: some("name_1"),
                collation: Some(doc! { "locale": "en", "strength": 2, "version": "57.1" }),
                fields: strings(&["name"]),
                key_pattern: Some(doc! { "name": 1 }),
                key_value: None,
            }
        );
        // No string in the key: the value stands.
        let parsed = p("E11000 duplicate key error collection: t.c index: n_1 collation: { locale: \"fr\" } dup key: { n: 5 }");
        assert_eq!(parsed.key_value, Some(doc! { "n": 5 }));
        // An unreadable collation still leaves the key's names.
        let parsed = p("E11000 duplicate key error collection: t.c index: n_1 collation: { locale: ?? } dup key: { n: \"k\" }");
        assert_eq!(parsed.collation, None);
        assert_eq!(parsed.fields, strings(&["n"]));
        assert_eq!(parsed.key_value, None);
    }

    #[test]
    fn clustered_and_wrappers() {
        let parsed = p("Plan executor error during findAndModify :: caused by :: E11000 duplicate key error collection: t.c dup key: { _id: 1 }");
        assert_eq!(
            parsed,
            Parsed {
                database: some("t"),
                collection: some("c"),
                fields: strings(&["_id"]),
                key_value: Some(doc! { "_id": 1 }),
                ..Parsed::default()
            }
        );
        let parsed = p("Index build failed: 4b3a0a8e-7f5c-4e4e-9d1b-2f0c0e5d9a11: Collection t.c ( 0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5 ) :: caused by :: E11000 duplicate key error collection: t.c index: sku_1 dup key: { sku: \"A1\" }");
        assert_eq!(parsed.index, some("sku_1"));
        assert_eq!(parsed.key_value, Some(doc! { "sku": "A1" }));
    }

    #[test]
    fn positional() {
        assert_eq!(
            p("E11000 duplicate key error collection: test.testing index: a_1_b_-1 dup key: { : 1.0, : 2.0 }"),
            Parsed {
                database: some("test"),
                collection: some("testing"),
                index: some("a_1_b_-1"),
                collation: None,
                fields: strings(&["a", "b"]),
                key_pattern: Some(doc! { "a": 1, "b": -1 }),
                key_value: Some(doc! { "a": 1.0, "b": 2.0 }),
            }
        );
        // x_1_y_1_z_1 in two fields is ambiguous.
        let parsed = p(
            "E11000 duplicate key error collection: t.c index: x_1_y_1_z_1 dup key: { : 1, : 2 }",
        );
        assert_eq!(parsed.fields, Vec::<String>::new());
        assert_eq!(parsed.key_pattern, None);
        assert_eq!(parsed.key_value, None);
        // A custom name names nothing.
        let parsed = p("E11000 duplicate key error collection: t.c index: uniq dup key: { : 1 }");
        assert_eq!((parsed.fields.len(), parsed.key_value), (0, None));
    }

    #[test]
    fn legacy_formats() {
        assert_eq!(
            p("E11000 duplicate key error index: test.users.$email_1  dup key: { : \"x\" }"),
            Parsed {
                database: some("test"),
                collection: some("users"),
                index: some("email_1"),
                collation: None,
                fields: strings(&["email"]),
                key_pattern: Some(doc! { "email": 1 }),
                key_value: Some(doc! { "email": "x" }),
            }
        );
        let parsed = p("insertDocument :: caused by :: 11000 E11000 duplicate key error index: test.a.b.$_id_ dup key: { : ObjectId('65a1b2c3d4e5f60718293a4b') }");
        assert_eq!(parsed.collection, some("a.b"));
        assert_eq!(parsed.index, some("_id_"));
        let id = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        assert_eq!(parsed.key_value, Some(doc! { "_id": id }));
        assert_eq!(
            p("E11000 duplicate key error dup key: { : \"x\" }"),
            Parsed::default()
        );
    }

    #[test]
    fn foreign_formats() {
        assert_eq!(
            p("E11000 duplicate key error collection: test.users. Failed _id or unique index constraint."),
            Parsed { database: some("test"), collection: some("users"), ..Parsed::default() }
        );
        assert_eq!(
            p("E11000 duplicate key error collection: db.coll"),
            Parsed {
                database: some("db"),
                collection: some("coll"),
                ..Parsed::default()
            }
        );
        assert_eq!(
            p("Duplicate key violation on the requested collection: Index 'email_1'"),
            Parsed {
                index: some("email_1"),
                fields: strings(&["email"]),
                key_pattern: Some(doc! { "email": 1 }),
                ..Parsed::default()
            }
        );
        assert_eq!(
            p("Duplicate key violation on the requested collection: Index 'a_1_b_1'"),
            Parsed {
                index: some("a_1_b_1"),
                ..Parsed::default()
            }
        );
        assert_eq!(
            p("Duplicate key violation on the requested collection"),
            Parsed::default()
        );
    }

    #[test]
    fn not_duplicate_key_messages() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("E11001 duplicate key on update"), None);
        assert_eq!(parse("E11000"), None);
        assert_eq!(parse("connection refused"), None);
    }

    #[test]
    fn unreadable_parts_give_what_is_safe() {
        assert_eq!(p("E11000 duplicate key error"), Parsed::default());
        assert_eq!(
            p("E11000 duplicate key error something else"),
            Parsed::default()
        );
        let parsed = p("E11000 duplicate key error collection: t.c index: a_1 and no key");
        assert_eq!((parsed.database, parsed.index), (some("t"), None));
        // A value with no shell syntax: the expected names are still there.
        let parsed = p("E11000 duplicate key error collection: t.c index: a_1_b_1 dup key: { a: CodeWScope( x, {}), b: 1 }");
        assert_eq!(parsed.fields, strings(&["a", "b"]));
        assert_eq!(parsed.key_pattern, Some(doc! { "a": 1, "b": 1 }));
        assert_eq!(parsed.key_value, None);
    }

    #[test]
    fn inexact_values() {
        let cut = format!(
            "E11000 duplicate key error collection: t.c index: v_1 dup key: {{ v: \"{}...\" }}",
            "a".repeat(150)
        );
        let parsed = p(&cut);
        assert_eq!(parsed.fields, strings(&["v"]));
        assert_eq!(parsed.key_pattern, Some(doc! { "v": 1 }));
        assert_eq!(parsed.key_value, None);
        let lossy = p(
            "E11000 duplicate key error collection: t.c index: v_1 dup key: { v: \"a\u{FFFD}\" }",
        );
        assert_eq!((lossy.fields.len(), lossy.key_value), (1, None));
    }

    #[test]
    fn trailers() {
        let parsed = p("E11000 duplicate key error collection: t.c index: a_1 dup key: { a: \"x\" } found value: RecordId(1)");
        assert_eq!(parsed.key_value, Some(doc! { "a": "x" }));
        let parsed = p("E11000 duplicate key error collection: t.c index: a_1 dup key: { a: \"x\" }, full error: {'index': 0, 'code': 11000}");
        assert_eq!(parsed.key_value, Some(doc! { "a": "x" }));
        let parsed =
            p("E11000 duplicate key error collection: t.c index: a_1 dup key: { a: \"x\" }\n");
        assert_eq!(parsed.key_value, Some(doc! { "a": "x" }));
    }

    #[test]
    fn find_ascii() {
        assert_eq!(find("a dup key: {", " dup key: {"), Some(1));
        assert_eq!(find("EE11000", "E11000"), Some(1));
        assert_eq!(find("ééE1", "E1"), Some(4));
        assert_eq!(find("abc", "abcd"), None);
        assert_eq!(find("abc", ""), None);
        assert_eq!(find("é found value: x", " found value: "), Some(2));
        assert_eq!(find("found value: ", " found value: "), None);
        assert_eq!(find("a  dup", " dup"), Some(2));
        assert_eq!(find("", "a"), None);
    }

    #[test]
    fn first_of_finds_the_earliest() {
        assert_eq!(first_of("a b. c", &[". ", " b"]), Some((1, 1)));
        assert_eq!(first_of("ab.", &[". "]), None);
        assert_eq!(first_of("é é", &[" é"]), Some((2, 0)));
    }

    #[test]
    fn all_value_types() {
        let parsed = p("E11000 duplicate key error collection: t.c index: k dup key: { a: MinKey, b: [ 1, \"x\" ], c: { d: null } }");
        assert_eq!(
            parsed.key_value,
            Some(doc! { "a": Bson::MinKey, "b": [1, "x"], "c": { "d": Bson::Null } })
        );
    }
}
