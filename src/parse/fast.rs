//! The common message in one pass: `E11000 duplicate key error collection: <db>.<coll>
//! index: <default name> dup key: { <f>: <v>, … }`, the fields those of the index name.
//!
//! An abridgement of the general path in [`super`], not a second grammar: the same leaf
//! parsers (`first_of`, `namespace`, `index_name::natural`, `value::value`,
//! `value::end_again`, `trailers`, `derived_keys`) applied in the same order, minus the
//! branches this shape never takes. When it answers, it answers what the general path
//! would; anything else — a wrapper, a collation, a trailer, a name that splits no default
//! way, a text that may read two ways or does not read with the expected names — answers
//! `false` with `parsed` as it was, and the general path reads the message from the start.
//! The tests check the two agree on every message the test suites know.

use mongodb::bson::Document;

use super::index_name;
use super::key::Names;
use super::value::{self, Follow, Quality};
use super::{
    derived_keys, first_of, namespace, trailers, Parsed, Pattern, COLLATION, COSMOS_END, DUP_KEY,
    E11000,
};

/// Reads `message` into `parsed` (which starts as `Parsed::default()`) when it has the
/// common shape; `false`, `parsed` left as it was, otherwise.
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
    // Looked at in place: the split is too big to move cheaply.
    let split = index_name::natural(index);
    let Some(hint) = split.as_ref() else {
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
    // Names and values go straight where they end up (both too big to move cheaply), and
    // are taken back if the text does not read.
    let mut quality = Quality::default();
    let value = parsed.key_value.insert(value::new_document());
    if !fields(body, hint.names(), &mut parsed.fields, value, &mut quality) {
        parsed.fields = Names::default();
        parsed.key_value = None;
        return false;
    }
    namespace(ns, parsed);
    parsed.index = Some(index);
    parsed.key_pattern = Pattern::Natural;
    // As `resolve`: two equal names would have merged; no collation here.
    let exact = !quality.inexact
        && parsed.key_value.as_ref().map(Document::len) == Some(parsed.fields.len())
        && !derived_keys(parsed, Some(hint));
    if !exact {
        parsed.key_value = None;
    }
    true
}

/// `<name>: <value>, …` with exactly the `expected` names, each value read once: as
/// `key::read_fields` with names, but giving up where that one would look again.
fn fields<'a>(
    mut rest: &'a str,
    expected: &[&str],
    names: &mut Names<'a>,
    doc: &mut Document,
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
        // The key's copy is made before a short value is read, so that it has settled in
        // memory when it is hashed (hashing bytes just copied stalls on the copy). Not before
        // a long one: that small allocation would sit where the value's growing buffers could
        // otherwise grow in place.
        const SHORT: usize = 4096;
        let early = (after_name.len() <= SHORT).then(|| read.to_owned());
        let next = expected.get(i + 1).copied();
        let follow = next.map_or(Follow::End, |next| Follow::Field(Some(next)));
        // Looked at in place and moved once, into the document: a value is too big to move
        // around cheaply.
        let read_value = value::value(after_name, follow, 1, quality);
        let after = match &read_value {
            Ok((item, after)) => {
                // A raw string that could end later too may read two ways: the general path
                // decides.
                if next.is_some_and(|next| value::end_again(after, item, next).is_some()) {
                    return false;
                }
                *after
            }
            Err(_) => return false,
        };
        names.push(read);
        if let Ok((item, _)) = read_value {
            match early {
                Some(key) => doc.insert(key, item),
                None => doc.insert(read, item),
            };
        }
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

#[cfg(test)]
mod tests {
    use super::super::general;
    use super::*;

    /// The fast path, where it answers, against the general path.
    fn agrees(message: &str) -> bool {
        let mut fast = Parsed::default();
        if !parse_into(message, &mut fast) {
            assert_eq!(fast, Parsed::default(), "written and given up: {message:?}");
            return false;
        }
        let mut general_answer = Parsed::default();
        assert!(general(message, &mut general_answer), "{message:?}");
        // Compared as text: a NaN in the key is not equal to itself.
        assert_eq!(
            format!("{fast:?}"),
            format!("{general_answer:?}"),
            "{message:?}"
        );
        true
    }

    /// Real messages: the 6.0.5 corpus and the shapes the fast path must leave alone.
    fn messages() -> Vec<String> {
        let corpus: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/corpus/server-6.0.5.json")).unwrap();
        let mut messages: Vec<String> = corpus
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["message"].as_str().unwrap().to_owned())
            .collect();
        let head = "E11000 duplicate key error collection: t.c index: ";
        for tail in [
            "a_1_b_1 dup key: { a: \"x\", b: \"y\", b: \"z\" }",
            "a_1_b_1 dup key: { a: \"x\", b: \"y\" } found value: RecordId(1)",
            "a_1 dup key: { a: \"x\" }, full error: {}",
            "a_1 dup key: { a: \"x\" } found value: { a: \"x\" }",
            "a_1 dup key: { a: \"x\" }, full error: { a: \"x\" }",
            "a_1 collation: { locale: \"fr\" } dup key: { a: \"k\" }",
            "a_1_a_1 dup key: { a: 1, a: 2 }",
            "_fts_text__ftsx_1 dup key: { _fts: \"w\", _ftsx: 1.0 }",
            "loc_2dsphere dup key: { loc: 1 }",
            "a_1_b_1 dup key: { : 1, : 2 }",
            "a_1 dup key: { a: \"x\", b: 1 }",
            "a_1 dup key: { a: \"long...\" }",
            "a_1_b_-1 dup key: { a: [ 1, \"x\" ], b: { c: null } }",
            "a\"_1 dup key: { a\": 1 }",
            "custom dup key: { a: 1 }",
            "_id_ dup key: { _id: 7 }",
            " dup key: { a: 1 }",
            "a_1 dup key: {}",
            "a_1 dup key: { a: 1 }   ",
        ] {
            messages.push(format!("{head}{tail}"));
        }
        messages.push("Plan executor error :: caused by :: E11000 duplicate key error collection: t.c index: a_1 dup key: { a: 1 }".into());
        messages.push(
            "E11000 duplicate key error collection: t.c. Failed _id or unique index constraint"
                .into(),
        );
        messages
    }

    #[test]
    fn agrees_with_the_general_path() {
        let messages = messages();
        let answered = messages.iter().filter(|m| agrees(m)).count();
        // Most real messages take the fast path; the odd shapes above do not.
        assert!(
            answered * 2 > messages.len(),
            "{answered} of {}",
            messages.len()
        );
        assert!(!agrees(&messages[messages.len() - 2]));
    }

    #[test]
    fn agrees_on_mangled_messages() {
        // Cut, spliced and doubled versions of the real messages, from a fixed seed.
        const PIECES: [&str; 16] = [
            "\"",
            "\", ",
            " }",
            ": ",
            ", ",
            "{ ",
            "_1",
            "_-1",
            " dup key: {",
            "...",
            ")",
            "1",
            ".0",
            " found value: ",
            "é",
            " ",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound.max(1) as u64) as usize
        };
        let mut answered = 0;
        for message in messages() {
            for _ in 0..200 {
                let mut text = message.clone();
                for _ in 0..1 + random(2) {
                    let mut at = random(text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    match random(3) {
                        0 => text.insert_str(at, PIECES[random(PIECES.len())]),
                        1 => text.truncate(at),
                        _ => {
                            let copy = text[at..].chars().take(random(24)).collect::<String>();
                            text.insert_str(at, &copy);
                        }
                    }
                }
                answered += usize::from(agrees(&text));
            }
        }
        assert!(answered > 1000, "{answered}");
    }
}
