//! The common message in one pass: `E11000 duplicate key error collection: <db>.<coll>
//! index: <default name> dup key: { <f>: <v>, … }`, the fields those of the index name.
//!
//! An abridgement of the general path in [`super`], not a second grammar: the same leaf
//! parsers (`first_of`, `namespace`, `index_name::natural`, `value::value`,
//! `value::end_again`, `trailers`, `derived_keys`) applied in the same order, minus the
//! branches this shape never takes. When it answers, it answers what the general path
//! would; anything else — a wrapper, a collation, a trailer, a name that splits no default
//! way, a text that may read two ways or does not read with the expected names — answers
//! `false` having written nothing, and the general path reads the message from the start.
//! The tests check the two agree on every message the test suites know.

use super::index_name;
use super::key::Names;
use super::value::{self, Follow, Quality};
use super::{
    derived_keys, first_of, namespace, trailers, Parsed, Pattern, COLLATION, COSMOS_END, DUP_KEY,
    E11000,
};

/// Reads `message` into `parsed` (which starts as `Parsed::default()`) when it has the
/// common shape; `false`, `parsed` untouched, otherwise.
pub(super) fn parse_into<'a>(message: &'a str, parsed: &mut Parsed<'a>) -> bool {
    const INDEX: &str = " index: ";
    let Some(rest) = message
        .strip_prefix(E11000)
        .and_then(|rest| rest.strip_prefix(" collection: "))
    else {
        return false;
    };
    let Some((at, 0)) = first_of(rest, &[INDEX, COLLATION, DUP_KEY, COSMOS_END]) else {
        return false;
    };
    let ns = &rest[..at];
    let rest = &rest[at + INDEX.len()..];
    let Some((at, 1)) = first_of(rest, &[COLLATION, DUP_KEY]) else {
        return false;
    };
    let index = &rest[..at];
    // Names holding `"` are never expected (key.rs rule 2).
    if index.as_bytes().contains(&b'"') {
        return false;
    }
    let Some(hint) = index_name::natural(index) else {
        return false;
    };
    let key = &rest[at + DUP_KEY.len() - 1..];
    if trailers(key) != (None, None) {
        return false;
    }
    let Some(body) = key
        .trim_end()
        .strip_prefix("{ ")
        .and_then(|body| body.strip_suffix(" }"))
    else {
        return false;
    };
    let mut names = Names::default();
    let mut value = value::new_document();
    let mut quality = Quality::default();
    if !fields(body, hint.names(), &mut names, &mut value, &mut quality) {
        return false;
    }
    namespace(ns, parsed);
    parsed.index = Some(index);
    parsed.key_pattern = Pattern::Natural;
    parsed.fields = names;
    // As `resolve`: two equal names would have merged; no collation here.
    if !quality.inexact && value.len() == parsed.fields.len() && !derived_keys(parsed, Some(&hint))
    {
        parsed.key_value = Some(value);
    }
    true
}

/// `<name>: <value>, …` with exactly the `expected` names, each value read once: as
/// `key::read_fields` with names, but giving up where that one would look again.
fn fields<'a>(
    mut rest: &'a str,
    expected: &[&str],
    names: &mut Names<'a>,
    doc: &mut mongodb::bson::Document,
    quality: &mut Quality,
) -> bool {
    for (i, name) in expected.iter().enumerate() {
        let Some(after_name) = rest
            .strip_prefix(name)
            .and_then(|after| after.strip_prefix(": "))
        else {
            return false;
        };
        let read = &rest[..name.len()];
        let next = expected.get(i + 1).copied();
        let follow = next.map_or(Follow::End, |next| Follow::Field(Some(next)));
        let Ok((item, after)) = value::value(after_name, follow, 1, quality) else {
            return false;
        };
        // A raw string that could end later too may read two ways: the general path decides.
        if next.is_some_and(|next| value::end_again(after, &item, next).is_some()) {
            return false;
        }
        names.push(read);
        doc.insert(read, item);
        if next.is_none() {
            return after.is_empty();
        }
        match after.strip_prefix(", ") {
            Some(after) => rest = after,
            None => return false,
        }
    }
    false
}
