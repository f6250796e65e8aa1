//! The key document after `dup key: `: `{ <name>: <value>, … }`, split into fields.
//!
//! Field names and strings are printed raw, so a text like `{ a: "x", b: "y" }` could also be
//! the single field `a` holding `x", b: "y`. The rules, all applied in one forward pass with
//! no backtracking (linear time):
//!
//! 1. **The document is anchored at its end.** The caller hands over exactly `{ … }` (the
//!    message ends with it), so the last field's value runs to the final ` }`: a last string
//!    may hold anything, `" }` and `", x: ` included.
//! 2. **Expected names win.** When a default index name gives the field names, field `i`
//!    must start with `<name i>: `, and a raw string (or regex) of a field that is not the
//!    last ends at the first closing quote followed by `, <name i+1>: `. If a later closing
//!    quote is also followed by `, <name i+1>: ` and the rest reads from there too
//!    (`{ a: "x", b: "y", b: "z" }`), the text reads two ways: the key is marked ambiguous
//!    (names known, no value). If the text does not fit the names in order, the names are
//!    dropped and rule 3 applies to the whole text. Names holding `"` are never expected
//!    (that keeps the look-ahead linear); the second reading costs at most one more pass
//!    per field, and a key has at most 32 fields.
//! 3. **Otherwise the first plausible split wins.** A name runs to the first `: `; a raw
//!    string ends at the first closing quote followed by `, <name>: <value…>` where the name
//!    holds no `, ` and a value can start there (`"`, a digit, `{`, `ObjectId(`, …); when there
//!    is none, the field is the last one (rule 1).
//! 4. **Inside embedded documents and arrays** a string ends at the first closing quote
//!    followed by ` }` / ` ]`, or by `, ` and a plausible member / value (see
//!    [`Follow`]).
//!
//! A text these rules split wrongly usually fails to parse; then the caller reports no typed
//! value. Only a string that itself looks like `…", <next field>: <value>` is misread, and a
//! generated test avoids exactly that case or gives the names (rule 2).

use mongodb::bson::{Bson, Document};

use super::value::{self, Error, Follow, Quality, Result};

/// A key document, read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key<'a> {
    /// The names as printed, in order; empty for 3.2-4.0's `{ : 1, : 2 }`.
    pub(crate) names: Vec<&'a str>,
    pub(crate) values: Values,
    pub(crate) quality: Quality,
}

impl Key<'_> {
    /// No fields yet.
    fn new() -> Self {
        Key {
            names: Vec::new(),
            values: Values::Named(Document::new()),
            quality: Quality::default(),
        }
    }
}

/// The values of a key document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// Named fields, as a document (fewer entries than names if a name repeats).
    Named(Document),
    /// Unnamed fields (`{ : 1, : 2 }`), in order.
    Positional(Vec<Bson>),
}

/// Parses `text`, which must be exactly one `{ … }`, expecting `names` in order when given
/// (rule 2; an error when they do not fit).
pub(crate) fn key_document<'a>(text: &'a str, names: Option<&[&str]>) -> Result<Key<'a>> {
    let mut key = Key::new();
    if text == "{}" {
        return match names {
            Some(names) if !names.is_empty() => Err(Error::Expected("fields")),
            _ => Ok(key),
        };
    }
    let body = text
        .strip_prefix("{ ")
        .and_then(|body| body.strip_suffix(" }"))
        .ok_or(Error::Expected("{ … }"))?;
    read_fields(body, names, &mut key, true)?;
    Ok(key)
}

/// Reads `<name>: <value>, …` up to the end of `rest` into `key`. With `names` and
/// `look_again`, a raw string that could also end at a later `", <next name>: ` is tried that
/// way too (once, without looking again): if the rest still reads, the key is ambiguous.
fn read_fields<'a>(
    mut rest: &'a str,
    names: Option<&[&str]>,
    key: &mut Key<'a>,
    look_again: bool,
) -> Result<()> {
    let mut count = 0;
    loop {
        let (name, after_name) = match names {
            Some(names) => expected_name(
                rest,
                names.get(count).ok_or(Error::Expected("no more fields"))?,
            )?,
            None => any_name(rest)?,
        };
        let follow = match names {
            Some(names) => match names.get(count + 1) {
                Some(next) => Follow::Field(Some(next)),
                None => Follow::End,
            },
            None => Follow::Field(None),
        };
        let (item, after) = value::value(after_name, follow, 1, &mut key.quality)?;
        if let (true, Follow::Field(Some(next)), Some(names)) = (look_again, follow, names) {
            if let Some(alternative) = value::end_again(after, &item, next) {
                let mut other = Key::new();
                let others = &names[count + 1..];
                if read_fields(&alternative[2..], Some(others), &mut other, false).is_ok() {
                    key.quality.ambiguous = true;
                }
            }
        }
        match (&mut key.values, name.is_empty()) {
            // The first name decides: names for all fields, or for none.
            (Values::Named(_), true) if count == 0 => key.values = Values::Positional(vec![item]),
            (Values::Named(doc), false) => {
                key.names.push(name);
                doc.insert(name, item);
            }
            (Values::Positional(items), true) => items.push(item),
            _ => return Err(Error::Expected("names for all fields or none")),
        }
        count += 1;
        if after.is_empty() {
            break;
        }
        rest = after.strip_prefix(", ").ok_or(Error::Expected(", or }"))?;
    }
    if names.is_some_and(|names| names.len() != count) {
        return Err(Error::Expected("more fields"));
    }
    Ok(())
}

/// `<name>: ` with this exact name.
fn expected_name<'a>(input: &'a str, name: &str) -> Result<(&'a str, &'a str)> {
    let after = input
        .strip_prefix(name)
        .and_then(|after| after.strip_prefix(": "))
        .ok_or(Error::Expected("the expected field name"))?;
    Ok((&input[..name.len()], after))
}

/// A name up to the first `: `.
fn any_name(input: &str) -> Result<(&str, &str)> {
    let colon = super::marker::COLON
        .find(input)
        .ok_or(Error::Expected(": "))?;
    Ok((&input[..colon], &input[colon + 2..]))
}

/// Whether `text` names exactly `names`, in order (`{ a: …, b: … }`), whatever the values:
/// for keys whose values cannot be read (a type with no shell syntax, text cut short).
pub(crate) fn names_present(text: &str, names: &[&str]) -> bool {
    let Some((first, others)) = names.split_first() else {
        return false;
    };
    let Some(mut rest) = text
        .strip_prefix("{ ")
        .and_then(|body| body.strip_suffix(" }"))
        .and_then(|body| body.strip_prefix(first))
        .and_then(|body| body.strip_prefix(": "))
    else {
        return false;
    };
    for name in others {
        let separator = format!(", {name}: ");
        match super::find(rest, &separator) {
            Some(at) => rest = &rest[at + separator.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::oid::ObjectId;

    /// The fields as (name, value) pairs; positional ones get empty names.
    fn fields(text: &str, names: Option<&[&str]>) -> Result<Vec<(String, Bson)>> {
        key_document(text, names).map(|key| match key.values {
            Values::Named(doc) => {
                assert_eq!(*key.names, doc.keys().cloned().collect::<Vec<_>>());
                doc.into_iter().collect()
            }
            Values::Positional(items) => {
                assert!(key.names.is_empty());
                items.into_iter().map(|v| (String::new(), v)).collect()
            }
        })
    }

    fn pairs(list: &[(&str, Bson)]) -> Vec<(String, Bson)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect()
    }

    fn s(text: &str) -> Bson {
        Bson::String(text.into())
    }

    #[test]
    fn one_field() {
        assert_eq!(
            fields("{ email: \"ann@example.com\" }", None),
            Ok(pairs(&[("email", s("ann@example.com"))]))
        );
        let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        assert_eq!(
            fields(
                "{ _id: ObjectId('65a1b2c3d4e5f60718293a4b') }",
                Some(&["_id"])
            ),
            Ok(pairs(&[("_id", Bson::ObjectId(oid))]))
        );
    }

    #[test]
    fn compound_and_positional() {
        assert_eq!(
            fields("{ tenant: 3, email: \"a@b.c\" }", None),
            Ok(pairs(&[("tenant", Bson::Int32(3)), ("email", s("a@b.c"))]))
        );
        assert_eq!(
            fields("{ : 1.0, : \"x\", : null }", None),
            Ok(pairs(&[
                ("", Bson::Double(1.0)),
                ("", s("x")),
                ("", Bson::Null)
            ]))
        );
    }

    #[test]
    fn last_string_is_anchored() {
        assert_eq!(
            fields("{ v: \"a\" } b\", c: \"d\" }", Some(&["v"])),
            Ok(pairs(&[("v", s("a\" } b\", c: \"d"))]))
        );
        // Without names `", c: "d` looks like a next field (rule 3).
        assert_eq!(
            fields("{ v: \"a\" } b\", c: \"d\" }", None),
            Ok(pairs(&[("v", s("a\" } b")), ("c", s("d"))]))
        );
        assert_eq!(
            fields("{ v: \"He said \"hi\" {x: 1}\nnext\" }", None),
            Ok(pairs(&[("v", s("He said \"hi\" {x: 1}\nnext"))]))
        );
    }

    #[test]
    fn expected_names_decide() {
        let text = "{ a: \"x\", c: 1\", b: \"y\" }";
        assert_eq!(
            fields(text, Some(&["a", "b"])),
            Ok(pairs(&[("a", s("x\", c: 1")), ("b", s("y"))]))
        );
        // Without them, `a` ends at the first `", c: ` and `1"` is no value.
        assert_eq!(fields(text, None), Err(Error::Expected(", or }")));
        // The first closing quote followed by the expected name wins, even when a later
        // one would have worked: then the text fails to parse.
        assert_eq!(
            fields("{ a: \"x\", b: 1\", b: \"y\" }", Some(&["a", "b"])),
            Err(Error::Expected(", or }"))
        );
        // Names that do not fit are an error (the caller retries without them).
        assert_eq!(
            fields("{ a: 1 }", Some(&["b"])),
            Err(Error::Expected("the expected field name"))
        );
        assert_eq!(
            fields("{ a: 1 }", Some(&["a", "b"])),
            Err(Error::Expected("more fields"))
        );
        assert_eq!(
            fields("{ a: 1, b: 2 }", Some(&["a"])),
            Err(Error::Expected("no more fields"))
        );
    }

    #[test]
    fn odd_names() {
        assert_eq!(
            fields(
                "{ first name: \"Ann\", ünï: 1, we\"ird: \"q\", profile.email: \"a@b\" }",
                None
            ),
            Ok(pairs(&[
                ("first name", s("Ann")),
                ("ünï", Bson::Int32(1)),
                ("we\"ird", s("q")),
                ("profile.email", s("a@b")),
            ]))
        );
    }

    #[test]
    fn two_readings_are_ambiguous() {
        let key = key_document("{ a: \"x\", b: \"y\", b: \"z\" }", Some(&["a", "b"])).unwrap();
        assert!(key.quality.ambiguous);
        assert_eq!(*key.names, ["a", "b"]);
        let key = key_document("{ a: \"x\", b: \"y\" }", Some(&["a", "b"])).unwrap();
        assert!(!key.quality.ambiguous);
        // A later `", b: ` inside an embedded document is no second reading: `1 }` is no value.
        let key = key_document("{ a: \"x\", b: { c: \"y\", b: 1 } }", Some(&["a", "b"])).unwrap();
        assert!(!key.quality.ambiguous);
        let key = key_document(
            "{ a: \"x\", b: \"y\", b: \"z\", c: 3 }",
            Some(&["a", "b", "c"]),
        )
        .unwrap();
        assert!(key.quality.ambiguous);
        // Only the later end reads (`a` is `x", b: "y`), but the first one is taken: no reading.
        assert_eq!(
            key_document("{ a: \"x\", b: \"y\", b: 2, c: 3 }", Some(&["a", "b", "c"])),
            Err(Error::Unterminated)
        );
        // Without expected names, rule 3 does not look further.
        let key = key_document("{ a: \"x\", b: \"y\", c: \"z\" }", None).unwrap();
        assert!(!key.quality.ambiguous);
    }

    #[test]
    fn quality_is_reported() {
        let key = key_document("{ a: \"x\", b: BinData(0, 00...) }", None).unwrap();
        assert_eq!(*key.names, ["a", "b"]);
        assert_eq!(
            key.quality,
            Quality {
                strings: true,
                inexact: true,
                ambiguous: false
            }
        );
        let key = key_document("{ a: 1 }", None).unwrap();
        assert_eq!(key.quality, Quality::default());
    }

    #[test]
    fn malformed() {
        assert_eq!(fields("{}", None), Ok(vec![]));
        assert_eq!(fields("{}", Some(&["a"])), Err(Error::Expected("fields")));
        assert!(fields("{ a: 1", None).is_err());
        assert!(fields("a: 1 }", None).is_err());
        assert!(fields("{ a 1 }", None).is_err());
        assert!(fields("{ a: 1,b: 2 }", None).is_err());
        assert!(fields("{ a: ?type=99 }", None).is_err());
        assert!(fields("{ a: \" }", None).is_err());
        assert_eq!(
            fields("{ a: 1, : 2 }", None),
            Err(Error::Expected("names for all fields or none"))
        );
        assert_eq!(
            fields("{ : 1, a: 2 }", None),
            Err(Error::Expected("names for all fields or none"))
        );
    }

    #[test]
    fn names_without_values() {
        assert!(names_present(
            "{ a: CodeWScope( x, {}), b: 1 }",
            &["a", "b"]
        ));
        assert!(names_present("{ a: 1 }", &["a"]));
        assert!(!names_present("{ a: 1 }", &["b"]));
        assert!(!names_present("{ a: 1, c: 2 }", &["a", "b"]));
        assert!(!names_present("{ a: 1", &["a"]));
        assert!(!names_present("{ a: 1 }", &[]));
    }
}
