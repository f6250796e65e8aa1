//! Round trip: random namespaces, index names and typed key documents, printed exactly the way
//! the server prints them (`BSONElement::toString`: shell syntax, raw strings, doubles with
//! `%.16g`), must come back from `DuplicateKey::from_message` exactly, types included.
//!
//! Strings avoid the one genuinely ambiguous shape (a closing quote followed by what could
//! follow a value: `", `, `" }`, `" ]`), except where the rules settle it: the last field of a
//! key runs to the final ` }`, and a default index name says which field comes next.

mod support;

use dupkey::DuplicateKey;
use mongodb::bson::{
    oid::ObjectId, spec::BinarySubtype, Binary, Bson, DateTime, Decimal128, Document, Regex,
    Timestamp,
};
use proptest::prelude::*;
use support::default_name;

// ---------------------------------------------------------------- printing, as the server does

/// C's `%.16g`, then `.0` when the text has no `.`, `E` or `N` (`StringBuilder::appendDoubleNice`).
fn print_double(x: f64) -> String {
    let mut text = if x.is_nan() {
        if x.is_sign_negative() { "-nan" } else { "nan" }.to_owned()
    } else if x.is_infinite() {
        if x < 0.0 { "-inf" } else { "inf" }.to_owned()
    } else if x == 0.0 {
        if x.is_sign_negative() { "-0" } else { "0" }.to_owned()
    } else {
        // 16 significant digits, correctly rounded; %g picks the notation from the exponent.
        let scientific = format!("{x:.15e}");
        let (mantissa, exponent) = scientific.split_once('e').unwrap();
        let exponent: i32 = exponent.parse().unwrap();
        if !(-4..16).contains(&exponent) {
            let mantissa = trim_fraction(mantissa);
            let sign = if exponent < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exponent.abs())
        } else {
            trim_fraction(&format!("{x:.*}", (15 - exponent) as usize)).to_owned()
        }
    };
    if !text.contains(['.', 'E', 'N']) {
        text.push_str(".0");
    }
    text
}

/// `%g` drops trailing zeros of a fraction, and the point when nothing is left.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

fn print_value(value: &Bson, out: &mut String) {
    match value {
        Bson::Double(x) => out.push_str(&print_double(*x)),
        Bson::String(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Bson::Document(doc) => print_document(doc, out),
        Bson::Array(items) if items.is_empty() => out.push_str("[]"),
        Bson::Array(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print_value(item, out);
            }
            out.push_str(" ]");
        }
        Bson::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Bson::Null => out.push_str("null"),
        Bson::Undefined => out.push_str("undefined"),
        Bson::MinKey => out.push_str("MinKey"),
        Bson::MaxKey => out.push_str("MaxKey"),
        Bson::RegularExpression(re) => {
            out.push('/');
            out.push_str(&re.pattern);
            out.push('/');
            out.push_str(&re.options);
        }
        Bson::Int32(i) => out.push_str(&i.to_string()),
        Bson::Int64(i) => out.push_str(&i.to_string()),
        Bson::Decimal128(d) => out.push_str(&d.to_string()),
        Bson::ObjectId(id) => out.push_str(&format!("ObjectId('{}')", id.to_hex())),
        Bson::DateTime(at) => out.push_str(&format!("new Date({})", at.timestamp_millis())),
        Bson::Timestamp(ts) => out.push_str(&format!("Timestamp({}, {})", ts.time, ts.increment)),
        Bson::Binary(bin) if bin.subtype == BinarySubtype::Uuid && bin.bytes.len() == 16 => {
            let h = hex(&bin.bytes, false);
            out.push_str(&format!(
                "UUID(\"{}-{}-{}-{}-{}\")",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            ));
        }
        Bson::Binary(bin) => {
            out.push_str(&format!(
                "BinData({}, {})",
                u8::from(bin.subtype),
                hex(&bin.bytes, true)
            ));
        }
        other => panic!("not generated: {other:?}"),
    }
}

fn print_document(doc: &Document, out: &mut String) {
    if doc.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, (name, value)) in doc.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push_str(": ");
        print_value(value, out);
    }
    out.push_str(" }");
}

/// Equality with types, where NaN equals NaN and -0.0 differs from 0.0.
fn same(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Bson::Document(x), Bson::Document(y)) => same_document(x, y),
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        _ => a == b,
    }
}

fn same_document(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
}

// ---------------------------------------------------------------- what is generated

/// Field names: spaces, quotes, dots, unicode; never `: ` or `, ` (the printed text could not
/// tell where such a name ends).
fn field_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ .\"'{}ü中é-]{1,8}".prop_filter("no `: ` or `, `", |n| {
        !n.contains(": ") && !n.contains(", ")
    })
}

/// Does `content`, between delimiters, hold a delimiter (followed by `flags` letters) that is
/// followed by what may follow a value?
fn has_false_end(content: &str, delimiter: char, flags: bool) -> bool {
    content.match_indices(delimiter).any(|(at, _)| {
        let mut after = &content[at + 1..];
        if flags {
            after = after.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        }
        after.starts_with(", ") || after.starts_with(" }") || after.starts_with(" ]")
    })
}

/// Strings with quotes, braces, commas, colons, backslashes, newlines, unicode; not cut by
/// the server (< 150 bytes), no false end, and not a `0x…` hex dump.
fn plain_string() -> impl Strategy<Value = String> {
    "[a-z0-9 \"'{}\\[\\],:\\\\/\n\té中😀x]{0,24}".prop_filter("unambiguous", |s| {
        !has_false_end(s, '"', false) && !s.starts_with("0x")
    })
}

fn regex() -> impl Strategy<Value = Bson> {
    let options = proptest::sample::subsequence(vec!['i', 'l', 'm', 's', 'u', 'x'], 0..=3);
    ("[a-z0-9 ^$.*+?()\\[\\]{}|\\\\/\",:]{0,16}", options)
        .prop_filter("unambiguous", |(pattern, _)| {
            !has_false_end(pattern, '/', true)
        })
        .prop_map(|(pattern, options)| {
            Bson::RegularExpression(Regex {
                pattern,
                options: options.into_iter().collect(),
            })
        })
}

/// Doubles that survive 16 digits: the nearest double to a decimal of at most 16 digits
/// (anything a person types), plus zeros, infinities and NaN.
fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (any::<bool>(), 1u64..10_000_000_000_000_000, -330i32..300).prop_map(|(negative, digits, exponent)| {
            let x: f64 = format!("{digits}e{exponent}").parse().unwrap();
            if negative { -x } else { x }
        }).prop_filter("finite", |x| x.is_finite()),
        2 => (-1_000_000i64..1_000_000).prop_map(|i| i as f64 / 4.0),
        1 => prop_oneof![Just(0.0), Just(-0.0), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::NAN), Just(f64::MAX), Just(-f64::MAX)],
    ]
}

/// Decimal128 values whose text no double prints: an upper-case `E`, a fraction of two or
/// more digits ending in zero (a lone `.0` is what the server appends to a double), NaN or
/// Infinity.
fn decimal() -> impl Strategy<Value = Decimal128> {
    prop_oneof![
        (any::<bool>(), 0u64..1_000_000_000_000, -12i32..12).prop_map(
            |(negative, digits, exponent)| {
                let sign = if negative { "-" } else { "" };
                format!("{sign}{digits}E{exponent}")
                    .parse::<Decimal128>()
                    .unwrap()
            }
        ),
        Just("NaN".parse().unwrap()),
        Just("Infinity".parse().unwrap()),
        Just("-Infinity".parse().unwrap()),
    ]
    .prop_filter("not a double's text", |d| {
        let text = d.to_string();
        let fraction = text.split_once('.').map_or("", |(_, fraction)| fraction);
        text.contains('E')
            || (fraction.len() >= 2 && fraction.ends_with('0'))
            || text == "NaN"
            || text.ends_with("Infinity")
    })
}

fn binary() -> impl Strategy<Value = Bson> {
    prop_oneof![
        prop::array::uniform16(any::<u8>()).prop_map(|b| Binary {
            subtype: BinarySubtype::Uuid,
            bytes: b.to_vec()
        }),
        (
            prop_oneof![
                Just(0u8),
                Just(1),
                Just(3),
                Just(4),
                Just(5),
                Just(6),
                128u8..=255
            ],
            prop::collection::vec(any::<u8>(), 0..=80)
        )
            .prop_map(|(subtype, bytes)| Binary {
                subtype: BinarySubtype::from(subtype),
                bytes
            }),
    ]
    .prop_map(Bson::Binary)
}

fn scalar() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>()
            .prop_filter("outside Int32", |i| i32::try_from(*i).is_err())
            .prop_map(Bson::Int64),
        double().prop_map(Bson::Double),
        decimal().prop_map(Bson::Decimal128),
        plain_string().prop_map(Bson::String),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
        Just(Bson::Undefined),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        any::<i64>().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
        any::<(u32, u32)>()
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        binary(),
        regex(),
    ]
}

/// Any value: scalars, and documents and arrays nested up to three levels.
fn value() -> impl Strategy<Value = Bson> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec((field_name(), inner), 0..4)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

/// A key document: 1 to 4 fields with distinct names.
fn key() -> impl Strategy<Value = Document> {
    prop::collection::vec((field_name(), value()), 1..=4)
        .prop_map(|fields| fields.into_iter().collect::<Document>())
}

fn direction() -> impl Strategy<Value = i32> {
    prop_oneof![Just(1), Just(-1)]
}

/// A database name: no dot, space, quote or `$`.
fn database() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ünï-]{1,10}"
}

/// A collection name: dots, spaces, unicode.
fn collection() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ü中][a-zA-Z0-9_. ü中-]{0,14}"
}

/// A custom index name: spaces, dots, quotes, `&`; never a default name (it ends in `idx`).
fn custom_index() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ .\"&'-]{0,12}idx"
}

fn wrapper() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(""),
        Just("MongoServerError: "),
        Just("Plan executor error during findAndModify :: caused by :: "),
        Just("Command failed: Error code 11000 (DuplicateKey): "),
    ]
}

// ---------------------------------------------------------------- the properties

fn check_round_trip(
    message: &str,
    database: &str,
    collection: &str,
    index: &str,
    key: &Document,
    pattern: Option<&Document>,
) -> Result<(), TestCaseError> {
    let dup = DuplicateKey::from_message(message).ok_or_else(|| TestCaseError::fail("not read"))?;
    prop_assert_eq!(dup.database(), Some(database));
    prop_assert_eq!(dup.collection(), Some(collection));
    prop_assert_eq!(dup.index(), Some(index));
    prop_assert_eq!(
        dup.fields().collect::<Vec<_>>(),
        key.keys().map(String::as_str).collect::<Vec<_>>()
    );
    prop_assert_eq!(dup.key_pattern(), pattern);
    let value = dup
        .key_value()
        .ok_or_else(|| TestCaseError::fail(format!("no value in {message}")))?;
    prop_assert!(
        same_document(value, key),
        "read {:?}\nfrom {}",
        value,
        message
    );
    prop_assert_eq!(dup.collation(), None);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// 4.2+ messages with a custom index name: the names come from the document alone.
    #[test]
    fn custom_index_round_trip(
        wrapper in wrapper(),
        database in database(),
        collection in collection(),
        index in custom_index(),
        key in key(),
    ) {
        let mut printed = String::new();
        print_document(&key, &mut printed);
        let message = format!(
            "{wrapper}E11000 duplicate key error collection: {database}.{collection} index: {index} dup key: {printed}"
        );
        check_round_trip(&message, &database, &collection, &index, &key, None)?;
    }

    /// 4.2+ messages with the default index name: the key pattern comes back too.
    #[test]
    fn default_index_round_trip(
        database in database(),
        collection in collection(),
        key in key(),
        directions in prop::collection::vec(direction(), 4),
    ) {
        let fields: Vec<(String, i32)> = key.keys().cloned().zip(directions).collect();
        let pattern: Document = fields.iter().map(|(f, d)| (f.clone(), Bson::Int32(*d))).collect();
        let index = default_name(&pattern);
        let mut printed = String::new();
        print_document(&key, &mut printed);
        let message = format!(
            "E11000 duplicate key error collection: {database}.{collection} index: {index} dup key: {printed}"
        );
        check_round_trip(&message, &database, &collection, &index, &key, Some(&pattern))?;
    }

    /// The last field's string may hold anything at all: `", x: 1`, `" }`, newlines.
    #[test]
    fn last_string_holds_anything(
        name in field_name().prop_filter("no quote", |n| !n.contains('"') && n != "first"),
        first in prop::option::of(scalar()),
        text in "[a-z \"'{}\\[\\],:xy1\n]{0,40}",
    ) {
        // (A name holding `"` cannot be expected, key.rs rule 2, and then `", x: 1` in the
        // text would look like a next field: the genuinely ambiguous case, not generated.)
        let mut key = Document::new();
        let mut fields = Vec::new();
        if let Some(first) = first {
            key.insert("first", first);
            fields.push(("first".to_owned(), 1));
        }
        key.insert(name.clone(), text.clone());
        fields.push((name.clone(), -1));
        let pattern: Document = fields.iter().map(|(f, d)| (f.clone(), Bson::Int32(*d))).collect();
        let index = default_name(&pattern);
        let mut printed = String::new();
        print_document(&key, &mut printed);
        let message = format!("E11000 duplicate key error collection: db.c index: {index} dup key: {printed}");
        check_round_trip(&message, "db", "c", &index, &key, Some(&pattern))?;
    }

    /// 3.2-4.0 print no names: they come from a default index name that splits one way.
    #[test]
    fn positional_round_trip(
        names in prop::collection::btree_set("[a-z]{1,6}", 1..=4),
        directions in prop::collection::vec(direction(), 4),
        values in prop::collection::vec(value(), 4),
    ) {
        // Names without `_` and no direction words: the split is unique.
        let names: Vec<String> = names.into_iter().filter(|n| !["text", "hashed"].contains(&n.as_str())).collect();
        prop_assume!(!names.is_empty());
        let fields: Vec<(String, i32)> = names.iter().cloned().zip(directions).collect();
        let pattern: Document = fields.iter().map(|(f, d)| (f.clone(), Bson::Int32(*d))).collect();
        let index = default_name(&pattern);
        let key: Document = names.iter().cloned().zip(values).collect();
        let mut printed = String::from("{ ");
        for (i, value) in key.values().enumerate() {
            if i > 0 {
                printed.push_str(", ");
            }
            printed.push_str(": ");
            print_value(value, &mut printed);
        }
        printed.push_str(" }");
        let message = format!("E11000 duplicate key error collection: test.c index: {index} dup key: {printed}");
        check_round_trip(&message, "test", "c", &index, &key, Some(&pattern))?;
    }

    /// Fragments of the grammar in any order never panic, and the answer says whether the
    /// text is a duplicate-key message.
    #[test]
    fn fragments_never_panic(parts in prop::collection::vec(prop_oneof![
        Just("E11000 duplicate key error"), Just(" collection: "), Just(" index: "), Just(" dup key: "),
        Just(" collation: "), Just("{ "), Just(" }"), Just("{}"), Just("[ "), Just(" ]"), Just("\""),
        Just(", "), Just(": "), Just("ObjectId('"), Just("')"), Just("new Date("), Just(")"), Just("/"),
        Just("BinData(0, "), Just("..."), Just("."), Just(".$"), Just("_1"), Just("_-1"), Just("a"),
        Just("1.0"), Just("-"), Just("e+"), Just("é"), Just("\u{FFFD}"), Just("Duplicate key violation on the requested collection: Index '"),
        Just("'"), Just(" found value: "), Just("UUID(\""), Just("Timestamp("),
    ], 0..40)) {
        let message: String = parts.concat();
        let dup = DuplicateKey::from_message(&message);
        let expected = message.contains("E11000 duplicate key error")
            || message.contains("Duplicate key violation on the requested collection");
        prop_assert_eq!(dup.is_some(), expected);
    }
}

#[test]
#[allow(clippy::approx_constant)] // 3.14159 is the reference's example
fn print_double_matches_the_server_examples() {
    // The reference's examples and %g's notation switches.
    assert_eq!(print_double(3.14159), "3.14159");
    assert_eq!(print_double(2.0), "2.0");
    assert_eq!(print_double(-0.0), "-0.0");
    assert_eq!(print_double(f64::NAN), "nan.0");
    assert_eq!(print_double(f64::NEG_INFINITY), "-inf.0");
    assert_eq!(print_double(1e20), "1e+20.0");
    assert_eq!(print_double(1.5e-7), "1.5e-07");
    assert_eq!(print_double(0.0001), "0.0001");
    assert_eq!(print_double(1e15), "1000000000000000.0");
    assert_eq!(print_double(1e16), "1e+16.0");
    assert_eq!(print_double(0.1 + 0.2), "0.3");
    assert_eq!(print_double(f64::MAX), "1.797693134862316e+308");
}
