//! `DuplicateKey::from_message` on every message format in the reference (most of them old or
//! foreign: a 6.0 server cannot produce them), every value type, odd names, raw strings,
//! truncation, lossy text and collations; each case checks every getter.
//! Also: junk and pathological inputs never panic and stay fast (linear time).

use std::time::{Duration, Instant};

use dupkey::DuplicateKey;
use mongodb::bson::{
    doc, oid::ObjectId, spec::BinarySubtype, Binary, Bson, DateTime, Decimal128, Document, Regex,
    Timestamp,
};

/// What every getter should say.
#[derive(Default)]
struct Expected<'a> {
    database: Option<&'a str>,
    collection: Option<&'a str>,
    index: Option<&'a str>,
    fields: &'a [&'a str],
    key_pattern: Option<Document>,
    key_value: Option<Document>,
    collation: Option<Document>,
}

#[track_caller]
fn check(message: &str, expected: Expected<'_>) -> DuplicateKey {
    let dup = DuplicateKey::from_message(message)
        .unwrap_or_else(|| panic!("not read as a duplicate-key message: {message}"));
    assert_eq!(dup.database(), expected.database, "database of {message}");
    assert_eq!(
        dup.collection(),
        expected.collection,
        "collection of {message}"
    );
    assert_eq!(dup.index(), expected.index, "index of {message}");
    assert_eq!(
        dup.fields().collect::<Vec<_>>(),
        expected.fields,
        "fields of {message}"
    );
    assert_eq!(
        dup.key_pattern(),
        expected.key_pattern.as_ref(),
        "key pattern of {message}"
    );
    assert_eq!(
        dup.key_value(),
        expected.key_value.as_ref(),
        "key value of {message}"
    );
    assert_eq!(
        dup.collation(),
        expected.collation.as_ref(),
        "collation of {message}"
    );
    assert_eq!(dup.position(), None);
    assert_eq!(dup.message(), message);
    dup
}

fn oid() -> ObjectId {
    ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap()
}

// ---------------------------------------------------------------- 4.2 to 6.0 (and later)

#[test]
fn modern_single_field() {
    check(
        "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }",
        Expected {
            database: Some("shop"),
            collection: Some("users"),
            index: Some("email_1"),
            fields: &["email"],
            key_pattern: Some(doc! { "email": 1 }),
            key_value: Some(doc! { "email": "ann@example.com" }),
            ..Expected::default()
        },
    );
}

#[test]
fn modern_compound_default_name() {
    check(
        "E11000 duplicate key error collection: shop.users index: tenant_1_email_-1 dup key: { tenant: 3, email: \"a@b.c\" }",
        Expected {
            database: Some("shop"),
            collection: Some("users"),
            index: Some("tenant_1_email_-1"),
            fields: &["tenant", "email"],
            key_pattern: Some(doc! { "tenant": 1, "email": -1 }),
            key_value: Some(doc! { "tenant": 3, "email": "a@b.c" }),
            ..Expected::default()
        },
    );
}

#[test]
fn modern_id_index() {
    check(
        "E11000 duplicate key error collection: test.people index: _id_ dup key: { _id: ObjectId('65a1b2c3d4e5f60718293a4b') }",
        Expected {
            database: Some("test"),
            collection: Some("people"),
            index: Some("_id_"),
            fields: &["_id"],
            key_pattern: Some(doc! { "_id": 1 }),
            key_value: Some(doc! { "_id": oid() }),
            ..Expected::default()
        },
    );
}

#[test]
fn custom_index_name_gives_no_pattern() {
    check(
        "E11000 duplicate key error collection: shop.users index: uniq_tenant_email dup key: { tenant: 3, profile.email: \"a@b.c\" }",
        Expected {
            database: Some("shop"),
            collection: Some("users"),
            index: Some("uniq_tenant_email"),
            fields: &["tenant", "profile.email"],
            key_pattern: None,
            key_value: Some(doc! { "tenant": 3, "profile.email": "a@b.c" }),
            ..Expected::default()
        },
    );
}

#[test]
fn default_looking_name_that_disagrees_with_the_fields() {
    // `x_1_y_1` splits as x/y, but the document names one field `x_1_y`: it is its default name.
    check(
        "E11000 duplicate key error collection: t.c index: x_1_y_1 dup key: { x_1_y: 5 }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("x_1_y_1"),
            fields: &["x_1_y"],
            key_pattern: Some(doc! { "x_1_y": 1 }),
            key_value: Some(doc! { "x_1_y": 5 }),
            ..Expected::default()
        },
    );
    // A name built from other fields names no pattern.
    check(
        "E11000 duplicate key error collection: t.c index: a_1_b_1 dup key: { b: 1, a: 2 }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("a_1_b_1"),
            fields: &["b", "a"],
            key_value: Some(doc! { "b": 1, "a": 2 }),
            ..Expected::default()
        },
    );
}

#[test]
fn odd_namespaces_and_index_names() {
    check(
        "E11000 duplicate key error collection: my-db.a.b.c index: my idx.with dots & spaces \"q\" dup key: { a: 1 }",
        Expected {
            database: Some("my-db"),
            collection: Some("a.b.c"),
            index: Some("my idx.with dots & spaces \"q\""),
            fields: &["a"],
            key_value: Some(doc! { "a": 1 }),
            ..Expected::default()
        },
    );
    check(
        "E11000 duplicate key error collection: ünï-db.cöll ection index: ünï_1 dup key: { ünï: \"ö\" }",
        Expected {
            database: Some("ünï-db"),
            collection: Some("cöll ection"),
            index: Some("ünï_1"),
            fields: &["ünï"],
            key_pattern: Some(doc! { "ünï": 1 }),
            key_value: Some(doc! { "ünï": "ö" }),
            ..Expected::default()
        },
    );
}

#[test]
fn odd_field_names() {
    check(
        "E11000 duplicate key error collection: t.c index: names dup key: { first name: \"Ann\", ünï: 1, we\"ird: \"q\", profile.email: \"a@b\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("names"),
            fields: &["first name", "ünï", "we\"ird", "profile.email"],
            key_value: Some(doc! { "first name": "Ann", "ünï": 1, "we\"ird": "q", "profile.email": "a@b" }),
            ..Expected::default()
        },
    );
    // Names with spaces and dots in a default index name.
    check(
        "E11000 duplicate key error collection: t.c index: first name_1_profile.email_-1 dup key: { first name: \"Ann\", profile.email: \"a@b\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("first name_1_profile.email_-1"),
            fields: &["first name", "profile.email"],
            key_pattern: Some(doc! { "first name": 1, "profile.email": -1 }),
            key_value: Some(doc! { "first name": "Ann", "profile.email": "a@b" }),
            ..Expected::default()
        },
    );
}

#[test]
fn geo_and_text_index_keys_are_not_values() {
    // 2dsphere and 2d indexes store an S2 cell or a geohash, text indexes a term: the message
    // prints that index key, not the document's value.
    check(
        "E11000 duplicate key error collection: t.places index: g_2dsphere dup key: { g: 1160603103341383121 }",
        Expected {
            database: Some("t"),
            collection: Some("places"),
            index: Some("g_2dsphere"),
            fields: &["g"],
            key_pattern: Some(doc! { "g": "2dsphere" }),
            ..Expected::default()
        },
    );
    check(
        "E11000 duplicate key error collection: t.places index: d_2d dup key: { d: BinData(128, C003521703521000) }",
        Expected {
            database: Some("t"),
            collection: Some("places"),
            index: Some("d_2d"),
            fields: &["d"],
            key_pattern: Some(doc! { "d": "2d" }),
            ..Expected::default()
        },
    );
    check(
        "E11000 duplicate key error collection: t.posts index: t_text dup key: { _fts: \"hello\", _ftsx: 1.1 }",
        Expected {
            database: Some("t"),
            collection: Some("posts"),
            index: Some("t_text"),
            fields: &["_fts", "_ftsx"],
            ..Expected::default()
        },
    );
    check(
        "E11000 duplicate key error collection: t.posts index: a_1_body_text dup key: { a: 1, _fts: \"term\", _ftsx: 1.1 }",
        Expected {
            database: Some("t"),
            collection: Some("posts"),
            index: Some("a_1_body_text"),
            fields: &["a", "_fts", "_ftsx"],
            ..Expected::default()
        },
    );
}

#[test]
fn hashed_looking_name_is_a_custom_name() {
    // A hashed index cannot be unique: `v_hashed` was named by hand (here on `{ v: 1 }`).
    check(
        "E11000 duplicate key error collection: t.c index: v_hashed dup key: { v: 1 }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_hashed"),
            fields: &["v"],
            key_value: Some(doc! { "v": 1 }),
            ..Expected::default()
        },
    );
}

#[test]
fn two_readings_give_no_value() {
    // `a` = `x` and `b` = `y", b: "z`, or `a` = `x", b: "y` and `b` = `z`: both fit a_1_b_1.
    check(
        "E11000 duplicate key error collection: t.c index: a_1_b_1 dup key: { a: \"x\", b: \"y\", b: \"z\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("a_1_b_1"),
            fields: &["a", "b"],
            key_pattern: Some(doc! { "a": 1, "b": 1 }),
            ..Expected::default()
        },
    );
    // A later `", b: ` inside an embedded document gives no second reading.
    check(
        "E11000 duplicate key error collection: t.c index: a_1_b_1 dup key: { a: \"x\", b: { c: \"y\", b: 1 } }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("a_1_b_1"),
            fields: &["a", "b"],
            key_pattern: Some(doc! { "a": 1, "b": 1 }),
            key_value: Some(doc! { "a": "x", "b": { "c": "y", "b": 1 } }),
            ..Expected::default()
        },
    );
}

// ---------------------------------------------------------------- raw strings

#[test]
fn raw_strings_with_quotes_braces_newlines() {
    let text = "He said \"hi\" {x: 1} 'q' \\ back\\slash \n\ttab";
    check(
        &format!(
            "E11000 duplicate key error collection: t.c index: v_1 dup key: {{ v: \"{text}\" }}"
        ),
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_1"),
            fields: &["v"],
            key_pattern: Some(doc! { "v": 1 }),
            key_value: Some(doc! { "v": text }),
            ..Expected::default()
        },
    );
}

#[test]
fn last_string_runs_to_the_final_brace() {
    // Anchored at the end, the one field holds what looks like more fields.
    let text = "a\", x: 1, y: \"b\" } z";
    check(
        &format!(
            "E11000 duplicate key error collection: t.c index: v_1 dup key: {{ v: \"{text}\" }}"
        ),
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_1"),
            fields: &["v"],
            key_pattern: Some(doc! { "v": 1 }),
            key_value: Some(doc! { "v": text }),
            ..Expected::default()
        },
    );
}

#[test]
fn expected_names_split_strings() {
    // The first string holds `", c: 1"`: the default name says the next field is `b`.
    check(
        "E11000 duplicate key error collection: t.c index: a_1_b_1 dup key: { a: \"x\", c: 1\", b: \"y\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("a_1_b_1"),
            fields: &["a", "b"],
            key_pattern: Some(doc! { "a": 1, "b": 1 }),
            key_value: Some(doc! { "a": "x\", c: 1", "b": "y" }),
            ..Expected::default()
        },
    );
    // With no names to expect, the first plausible `", <name>: <value>` ends a string: here
    // that reads three fields, and the text fits that reading exactly (it is ambiguous).
    check(
        "E11000 duplicate key error collection: t.c index: uniq dup key: { a: \"x\", c: 1, b: \"y\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("uniq"),
            fields: &["a", "c", "b"],
            key_value: Some(doc! { "a": "x", "c": 1, "b": "y" }),
            ..Expected::default()
        },
    );
}

// ---------------------------------------------------------------- every value type

#[test]
#[allow(clippy::approx_constant)] // 3.14159 is the reference's example
fn every_value_type() {
    let message = "E11000 duplicate key error collection: t.c index: all dup key: { \
        oid: ObjectId('65a1b2c3d4e5f60718293a4b'), at: new Date(1704164645678), before: new Date(-86400000), \
        i: 42, neg: -7, l: 9007199254740993, d: 3.14159, two: 2.0, big: 1e+20.0, small: 1.5e-07, \
        inf: inf.0, ninf: -inf.0, dec: 1234.5600, dec2: 1.5E+10, decnan: NaN, t: true, f: false, \
        n: null, u: undefined, s: \"green\", uuid: UUID(\"12345678-1234-5678-1234-567812345678\"), \
        bin: BinData(0, 0001FF), user: BinData(128, CAFE), re: /^ab.*c$/i, ts: Timestamp(1700000000, 5), \
        min: MinKey, max: MaxKey, doc: { b: 1, a: { c: [ 1, 2 ] }, s: \"t\" }, arr: [ 1, \"x\", [] ], \
        e: {}, ea: [] }";
    let uuid = Binary {
        subtype: BinarySubtype::Uuid,
        bytes: vec![
            0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34,
            0x56, 0x78,
        ],
    };
    let dec = |s: &str| Bson::Decimal128(s.parse::<Decimal128>().unwrap());
    let value = doc! {
        "oid": oid(),
        "at": DateTime::from_millis(1_704_164_645_678),
        "before": DateTime::from_millis(-86_400_000),
        "i": 42,
        "neg": -7,
        "l": 9_007_199_254_740_993_i64,
        "d": 3.14159,
        "two": 2.0,
        "big": 1e20,
        "small": 1.5e-7,
        "inf": f64::INFINITY,
        "ninf": f64::NEG_INFINITY,
        "dec": dec("1234.5600"),
        "dec2": dec("1.5E+10"),
        "decnan": dec("NaN"),
        "t": true,
        "f": false,
        "n": Bson::Null,
        "u": Bson::Undefined,
        "s": "green",
        "uuid": uuid,
        "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 0xff] },
        "user": Binary { subtype: BinarySubtype::UserDefined(128), bytes: vec![0xca, 0xfe] },
        "re": Regex { pattern: "^ab.*c$".into(), options: "i".into() },
        "ts": Timestamp { time: 1_700_000_000, increment: 5 },
        "min": Bson::MinKey,
        "max": Bson::MaxKey,
        "doc": { "b": 1, "a": { "c": [1, 2] }, "s": "t" },
        "arr": [1, "x", []],
        "e": {},
        "ea": [],
    };
    let fields: Vec<&str> = value.keys().map(String::as_str).collect();
    let dup = check(
        message,
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("all"),
            fields: &fields,
            key_value: Some(value.clone()),
            ..Expected::default()
        },
    );
    // The types, not only the values (Int32 2 == Double 2.0 would not pass `==` anyway).
    let got = dup.key_value().unwrap();
    assert!(matches!(got.get("i"), Some(Bson::Int32(42))));
    assert!(matches!(got.get("l"), Some(Bson::Int64(_))));
    assert!(matches!(got.get("two"), Some(Bson::Double(_))));
    assert!(matches!(got.get("dec"), Some(Bson::Decimal128(_))));
}

#[test]
fn doubles_nan_and_negative_zero() {
    let dup = DuplicateKey::from_message(
        "E11000 duplicate key error collection: t.c index: a_1_b_1_c_1 dup key: { a: nan.0, b: -0.0, c: 0.0 }",
    )
    .unwrap();
    assert_eq!(dup.fields().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(dup.key_pattern(), Some(&doc! { "a": 1, "b": 1, "c": 1 }));
    let value = dup.key_value().unwrap();
    assert!(value.get_f64("a").unwrap().is_nan());
    assert_eq!(value.get_f64("b").unwrap().to_bits(), (-0.0f64).to_bits());
    assert_eq!(value.get_f64("c").unwrap().to_bits(), 0.0f64.to_bits());
}

#[test]
fn decimal_or_double() {
    // `2.5` is what %.16g prints for the double 2.5: a double. Trailing zeros, an upper-case
    // E, 17+ digits or `-0` only come from a Decimal128.
    let read = |v: &str| {
        let m =
            format!("E11000 duplicate key error collection: t.c index: v_1 dup key: {{ v: {v} }}");
        DuplicateKey::from_message(&m)
            .unwrap()
            .key_value()
            .unwrap()
            .get("v")
            .cloned()
            .unwrap()
    };
    let dec = |s: &str| Bson::Decimal128(s.parse::<Decimal128>().unwrap());
    assert_eq!(read("2.5"), Bson::Double(2.5));
    assert_eq!(read("2.50"), dec("2.50"));
    assert_eq!(read("1E+3"), dec("1E+3"));
    assert_eq!(read("3.141592653589793238"), dec("3.141592653589793238"));
    assert_eq!(read("0.00001"), dec("0.00001"));
    assert_eq!(read("1e-05.0"), Bson::Double(1e-5));
    assert_eq!(read("-0"), dec("-0"));
    assert_eq!(read("99999999999999999999"), dec("99999999999999999999"));
    assert_eq!(read("2147483648"), Bson::Int64(2_147_483_648));
    assert_eq!(read("-Infinity"), dec("-Infinity"));
}

// ---------------------------------------------------------------- inexact values

#[test]
fn truncated_strings_give_no_value() {
    let cut = format!("{}...", "a".repeat(150));
    check(
        &format!(
            "E11000 duplicate key error collection: t.c index: v_1 dup key: {{ v: \"{cut}\" }}"
        ),
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_1"),
            fields: &["v"],
            key_pattern: Some(doc! { "v": 1 }),
            key_value: None,
            ..Expected::default()
        },
    );
    // Inside an embedded document, in one field of a compound key.
    check(
        &format!("E11000 duplicate key error collection: t.c index: n_1_v_1 dup key: {{ n: 1, v: {{ s: \"{cut}\" }} }}"),
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("n_1_v_1"),
            fields: &["n", "v"],
            key_pattern: Some(doc! { "n": 1, "v": 1 }),
            key_value: None,
            ..Expected::default()
        },
    );
    // The server prints strings of up to 159 bytes whole.
    let whole = "b".repeat(159);
    check(
        &format!(
            "E11000 duplicate key error collection: t.c index: v_1 dup key: {{ v: \"{whole}\" }}"
        ),
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_1"),
            fields: &["v"],
            key_pattern: Some(doc! { "v": 1 }),
            key_value: Some(doc! { "v": whole.as_str() }),
            ..Expected::default()
        },
    );
}

#[test]
fn cut_inside_a_character_gives_no_value() {
    // 150 bytes end inside an `é`; the driver turned the half character into U+FFFD.
    let text = format!("a{}\u{FFFD}...", "é".repeat(74));
    check(
        &format!(
            "E11000 duplicate key error collection: t.c index: v_1 dup key: {{ v: \"{text}\" }}"
        ),
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_1"),
            fields: &["v"],
            key_pattern: Some(doc! { "v": 1 }),
            ..Expected::default()
        },
    );
    check(
        "E11000 duplicate key error collection: t.c index: v_1 dup key: { v: \"x\u{FFFD}y\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_1"),
            fields: &["v"],
            key_pattern: Some(doc! { "v": 1 }),
            ..Expected::default()
        },
    );
}

#[test]
fn cut_bin_data_gives_no_value() {
    let hex = "0A".repeat(70);
    check(
        &format!("E11000 duplicate key error collection: t.c index: b_1 dup key: {{ b: BinData(0, {hex}...) }}"),
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("b_1"),
            fields: &["b"],
            key_pattern: Some(doc! { "b": 1 }),
            ..Expected::default()
        },
    );
}

#[test]
fn hex_dump_of_invalid_utf8() {
    // Newer servers print a string that is not UTF-8 as `0x` + hex.
    check(
        "E11000 duplicate key error collection: t.c index: v_1 dup key: { v: \"0xff00\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_1"),
            fields: &["v"],
            key_pattern: Some(doc! { "v": 1 }),
            ..Expected::default()
        },
    );
    // Hex of valid UTF-8 is never such a dump: it is the user's string.
    check(
        "E11000 duplicate key error collection: t.c index: v_1 dup key: { v: \"0x68656c6c6f\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("v_1"),
            fields: &["v"],
            key_pattern: Some(doc! { "v": 1 }),
            key_value: Some(doc! { "v": "0x68656c6c6f" }),
            ..Expected::default()
        },
    );
}

// ---------------------------------------------------------------- collations

fn collation_text() -> &'static str {
    "{ locale: \"en\", caseLevel: false, caseFirst: \"off\", strength: 2, numericOrdering: false, alternate: \"non-ignorable\", maxVariable: \"punct\", normalization: false, backwards: false, version: \"57.1\" }"
}

fn collation_doc() -> Document {
    doc! {
        "locale": "en", "caseLevel": false, "caseFirst": "off", "strength": 2,
        "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
        "normalization": false, "backwards": false, "version": "57.1",
    }
}

#[test]
fn collation_keys_are_not_values() {
    check(
        &format!("E11000 duplicate key error collection: t.people index: name_1 collation: {} dup key: {{ name: \"0x293f392d310109\" }}", collation_text()),
        Expected {
            database: Some("t"),
            collection: Some("people"),
            index: Some("name_1"),
            fields: &["name"],
            key_pattern: Some(doc! { "name": 1 }),
            key_value: None,
            collation: Some(collation_doc()),
        },
    );
    // No string in the key: the numbers are the user's.
    check(
        &format!("E11000 duplicate key error collection: t.people index: age_1 collation: {} dup key: {{ age: 30 }}", collation_text()),
        Expected {
            database: Some("t"),
            collection: Some("people"),
            index: Some("age_1"),
            fields: &["age"],
            key_pattern: Some(doc! { "age": 1 }),
            key_value: Some(doc! { "age": 30 }),
            collation: Some(collation_doc()),
        },
    );
    // A clustered collection with a collation.
    check(
        &format!("E11000 duplicate key error collection: t.people collation: {} dup key: {{ _id: \"0x2b\" }}", collation_text()),
        Expected {
            database: Some("t"),
            collection: Some("people"),
            fields: &["_id"],
            collation: Some(collation_doc()),
            ..Expected::default()
        },
    );
}

#[test]
fn raw_collation_keys_of_4_2() {
    // 4.2 prints no collation and the raw sort-key bytes: invalid UTF-8 becomes U+FFFD, and
    // ASCII-range keys still hold the level separator 0x01.
    for key in ["\u{FFFD}\u{FFFD}\u{1}\u{FFFD}", ")?9-1\u{1}\t"] {
        check(
            &format!("E11000 duplicate key error collection: t.c index: name_1 dup key: {{ name: \"{key}\" }}"),
            Expected {
                database: Some("t"),
                collection: Some("c"),
                index: Some("name_1"),
                fields: &["name"],
                key_pattern: Some(doc! { "name": 1 }),
                ..Expected::default()
            },
        );
    }
}

// ---------------------------------------------------------------- clustered and wrappers

#[test]
fn clustered_collection() {
    check(
        "E11000 duplicate key error collection: t.events dup key: { _id: 1 }",
        Expected {
            database: Some("t"),
            collection: Some("events"),
            fields: &["_id"],
            key_value: Some(doc! { "_id": 1 }),
            ..Expected::default()
        },
    );
}

fn users_email() -> Expected<'static> {
    Expected {
        database: Some("shop"),
        collection: Some("users"),
        index: Some("email_1"),
        fields: &["email"],
        key_pattern: Some(doc! { "email": 1 }),
        key_value: Some(doc! { "email": "ann@example.com" }),
        ..Expected::default()
    }
}

#[test]
fn wrappers() {
    let inner = "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }";
    for prefix in [
        "Plan executor error during findAndModify :: caused by :: ",
        "Index build failed: 4b3a0a8e-7f5c-4e4e-9d1b-2f0c0e5d9a11: Collection shop.users ( 0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5 ) :: caused by :: ",
        "MongoServerError: ",
        "Command failed: Error code 11000 (DuplicateKey): ",
    ] {
        check(&format!("{prefix}{inner}"), users_email());
    }
}

// ---------------------------------------------------------------- 3.2 to 4.0: no names

#[test]
fn positional_keys_named_by_the_index() {
    check(
        "E11000 duplicate key error collection: test.testing index: a_1_b_1 dup key: { : 1.0, : 2.0 }",
        Expected {
            database: Some("test"),
            collection: Some("testing"),
            index: Some("a_1_b_1"),
            fields: &["a", "b"],
            key_pattern: Some(doc! { "a": 1, "b": 1 }),
            key_value: Some(doc! { "a": 1.0, "b": 2.0 }),
            ..Expected::default()
        },
    );
    check(
        "E11000 duplicate key error collection: test.people index: first_name_1 dup key: { : \"Ann\" }",
        Expected {
            database: Some("test"),
            collection: Some("people"),
            index: Some("first_name_1"),
            fields: &["first_name"],
            key_pattern: Some(doc! { "first_name": 1 }),
            key_value: Some(doc! { "first_name": "Ann" }),
            ..Expected::default()
        },
    );
    check(
        "E11000 duplicate key error collection: test.people index: _id_ dup key: { : ObjectId('65a1b2c3d4e5f60718293a4b') }",
        Expected {
            database: Some("test"),
            collection: Some("people"),
            index: Some("_id_"),
            fields: &["_id"],
            key_pattern: Some(doc! { "_id": 1 }),
            key_value: Some(doc! { "_id": oid() }),
            ..Expected::default()
        },
    );
}

#[test]
fn positional_keys_with_ambiguous_or_custom_names() {
    // x_1_y_1_z_1 in two fields: x | y_1_z or x_1_y | z.
    check(
        "E11000 duplicate key error collection: t.c index: x_1_y_1_z_1 dup key: { : 1, : 2 }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("x_1_y_1_z_1"),
            ..Expected::default()
        },
    );
    check(
        "E11000 duplicate key error collection: t.c index: uniq dup key: { : \"x\" }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("uniq"),
            ..Expected::default()
        },
    );
}

// ---------------------------------------------------------------- 2.x and 3.0

#[test]
fn index_namespace_format() {
    let expected = || Expected {
        database: Some("test"),
        collection: Some("users"),
        index: Some("email_1"),
        fields: &["email"],
        key_pattern: Some(doc! { "email": 1 }),
        key_value: Some(doc! { "email": "x" }),
        ..Expected::default()
    };
    // 2.x: two spaces before `dup key`; 3.0: one.
    check(
        "E11000 duplicate key error index: test.users.$email_1  dup key: { : \"x\" }",
        expected(),
    );
    check(
        "E11000 duplicate key error index: test.users.$email_1 dup key: { : \"x\" }",
        expected(),
    );
    // 2.6's wrapper.
    check(
        "insertDocument :: caused by :: 11000 E11000 duplicate key error index: test.users.$email_1  dup key: { : \"x\" }",
        expected(),
    );
    // Dots in the collection.
    check(
        "E11000 duplicate key error index: test.a.b.$_id_  dup key: { : 5 }",
        Expected {
            database: Some("test"),
            collection: Some("a.b"),
            index: Some("_id_"),
            fields: &["_id"],
            key_pattern: Some(doc! { "_id": 1 }),
            key_value: Some(doc! { "_id": 5 }),
            ..Expected::default()
        },
    );
}

#[test]
fn wired_tiger_3_0_0_names_nothing() {
    check(
        "E11000 duplicate key error dup key: { : \"x\" }",
        Expected::default(),
    );
}

// ---------------------------------------------------------------- MongoDB-compatible services

#[test]
fn cosmos_db() {
    check(
        "E11000 duplicate key error collection: test.users. Failed _id or unique index constraint.",
        Expected {
            database: Some("test"),
            collection: Some("users"),
            ..Expected::default()
        },
    );
}

#[test]
fn ferret_db() {
    check(
        "E11000 duplicate key error collection: db.coll",
        Expected {
            database: Some("db"),
            collection: Some("coll"),
            ..Expected::default()
        },
    );
}

#[test]
fn document_db() {
    check(
        "Duplicate key violation on the requested collection: Index 'email_1'",
        Expected {
            index: Some("email_1"),
            fields: &["email"],
            key_pattern: Some(doc! { "email": 1 }),
            ..Expected::default()
        },
    );
    // `{a: 1, b: -1}` or `{"a_1_b": -1}`: no field count to decide.
    check(
        "Duplicate key violation on the requested collection: Index 'a_1_b_-1'",
        Expected {
            index: Some("a_1_b_-1"),
            ..Expected::default()
        },
    );
    check(
        "Duplicate key violation on the requested collection: Index 'my 'quoted' idx'",
        Expected {
            index: Some("my 'quoted' idx"),
            ..Expected::default()
        },
    );
}

// ---------------------------------------------------------------- not or barely duplicates

#[test]
fn other_messages_are_not_duplicates() {
    for message in [
        "",
        "E11000",
        "E11001 duplicate key on update",
        "Document failed validation",
        "e11000 duplicate key error collection: t.c",
        "Duplicate key violation",
    ] {
        assert_eq!(DuplicateKey::from_message(message), None, "{message:?}");
    }
}

#[test]
fn unreadable_rest_gives_what_is_safe() {
    check("E11000 duplicate key error", Expected::default());
    check(
        "E11000 duplicate key error: something else entirely",
        Expected::default(),
    );
    // No key: the index name's end is unknown.
    check(
        "E11000 duplicate key error collection: t.c index: a_1 (key not shown)",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            ..Expected::default()
        },
    );
    // A value with no shell syntax: the default name's fields are still named in the text.
    check(
        "E11000 duplicate key error collection: t.c index: a_1_b_1 dup key: { a: CodeWScope( x, {}), b: 1 }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("a_1_b_1"),
            fields: &["a", "b"],
            key_pattern: Some(doc! { "a": 1, "b": 1 }),
            ..Expected::default()
        },
    );
    // The same for the `_id_` index (its field once came back as `""`).
    check(
        "E11000 duplicate key error collection: t.c index: _id_ dup key: { _id: CodeWScope( x, {}) }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("_id_"),
            fields: &["_id"],
            key_pattern: Some(doc! { "_id": 1 }),
            ..Expected::default()
        },
    );
    // Nested past the server's depth limit: it printed `...`.
    check(
        "E11000 duplicate key error collection: t.c index: a_1 dup key: { a: [ [ ... ] ] }",
        Expected {
            database: Some("t"),
            collection: Some("c"),
            index: Some("a_1"),
            fields: &["a"],
            key_pattern: Some(doc! { "a": 1 }),
            ..Expected::default()
        },
    );
}

#[test]
fn trailers_after_the_key() {
    check(
        "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" } found value: RecordId(12)",
        users_email(),
    );
    check(
        "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }, full error: {'index': 0, 'code': 11000}",
        users_email(),
    );
    check(
        "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }\n",
        users_email(),
    );
}

// ---------------------------------------------------------------- junk and pathological input

/// Parses `message` with a generous time bound (a quadratic parser would take minutes on
/// these inputs, even in release mode).
fn parse_quickly(message: &str) -> Option<DuplicateKey> {
    let start = Instant::now();
    let dup = DuplicateKey::from_message(message);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "{took:?} for {} bytes",
        message.len()
    );
    dup
}

const MIB: usize = 1 << 20;

#[test]
fn junk_never_panics() {
    // 1 MiB of pseudo-random bytes, decoded lossily, with and without the phrase.
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let bytes: Vec<u8> = (0..MIB)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Mostly the characters the grammar cares about.
            const ALPHABET: &[u8] = b"{}[]\":, ._$'/\\()E1x0a\n\xc3\xa9\xff";
            ALPHABET[(state % ALPHABET.len() as u64) as usize]
        })
        .collect();
    let junk = String::from_utf8_lossy(&bytes).into_owned();
    assert_eq!(
        parse_quickly(&junk).is_some(),
        junk.contains("E11000 duplicate key error")
    );
    let framed =
        format!("E11000 duplicate key error collection: a.b index: x_1 dup key: {{ x: {junk} }}");
    let dup = parse_quickly(&framed).unwrap();
    assert_eq!(
        (dup.database(), dup.collection(), dup.index()),
        (Some("a"), Some("b"), Some("x_1"))
    );
    assert_eq!(dup.key_value(), None);
}

#[test]
fn pathological_inputs_are_linear() {
    let head = "E11000 duplicate key error collection: a.b index: x_1 dup key: ";
    let read = |message: String| parse_quickly(&message).expect("a duplicate-key message");
    let value_of = |dup: &DuplicateKey| dup.key_value().and_then(|v| v.get("x")).cloned();

    // An unterminated string, over and over.
    assert_eq!(
        read(format!("{head}{}", "{ a: \"".repeat(MIB / 6))).key_value(),
        None
    );
    // Deep nesting: past the depth limit, or not a value at all.
    assert_eq!(
        read(format!("{head}{{ x: {} }}", "[ ".repeat(MIB / 2))).key_value(),
        None
    );
    assert_eq!(
        read(format!("{head}{{ x: {} }}", "[".repeat(MIB))).key_value(),
        None
    );
    assert_eq!(
        read(format!("{head}{{ x: {} }}", "{ a: ".repeat(MIB / 5))).key_value(),
        None
    );
    // Many candidate ends in the last string: it runs to the final ` }`.
    let text = "\", x: ".repeat(MIB / 6);
    let dup = read(format!("{head}{{ x: \"{text}\" }}"));
    assert_eq!(value_of(&dup), Some(Bson::String(text)));
    let text = "\", x".repeat(MIB / 4);
    let dup = read(format!("{head}{{ x: \"{text}\" }}"));
    assert_eq!(value_of(&dup), Some(Bson::String(text)));
    // Many candidate ends inside arrays, documents and regexes: whatever they read as, fast.
    read(format!("{head}{{ x: [ \"{}\" ] }}", "\", ".repeat(MIB / 3)));
    read(format!(
        "{head}{{ x: {{ y: \"{}\" }} }}",
        "\", y".repeat(MIB / 4)
    ));
    read(format!(
        "{head}{{ x: {{ y: \"{}\" }} }}",
        "\", y: ".repeat(MIB / 5)
    ));
    read(format!("{head}{{ x: /{}/ }}", "/i, ".repeat(MIB / 4)));
    read(format!("{head}{{ a: \"{}\" }}", "\", b".repeat(MIB / 4)));
    // Many fields, many names: `x: 1, ` ends with a comma, so no value; the name is there.
    let dup = read(format!("{head}{{ {} }}", "x: 1, ".repeat(MIB / 6)));
    assert_eq!(
        (dup.fields().collect::<Vec<_>>(), dup.key_value()),
        (vec!["x"], None)
    );
    assert_eq!(
        read(format!("{head}{{ {}x: 1 }}", ": ".repeat(MIB / 2))).key_value(),
        None
    );
    // Long names everywhere.
    let dup = read(format!(
        "E11000 duplicate key error collection: {}",
        "a.".repeat(MIB / 2)
    ));
    assert_eq!(dup.database(), Some("a"));
    let index = "x_1_".repeat(MIB / 4);
    let dup = read(format!(
        "E11000 duplicate key error collection: a.b index: {index} dup key: {{ x: 1 }}"
    ));
    assert_eq!(
        (dup.index(), dup.key_pattern()),
        (Some(index.as_str()), None)
    );
    assert_eq!(dup.key_value(), Some(&doc! { "x": 1 }));
    let dup = read(format!(
        "E11000 duplicate key error collection: a.b index: {index}1 dup key: {{ : 1 }}"
    ));
    assert_eq!((dup.fields().len(), dup.key_value()), (0, None));
    let dup = read(format!(
        "E11000 duplicate key error index: {}",
        ".$".repeat(MIB / 2)
    ));
    assert_eq!(dup.key_value(), None);
    let dup = read(format!(
        "Duplicate key violation on the requested collection: Index '{}'",
        "1_".repeat(MIB / 2)
    ));
    assert_eq!(dup.fields().len(), 0);
    // 32 expected names, every string with many ends before the next name: each field may
    // be read a second time, never more.
    let names: Vec<String> = (0..32).map(|i| format!("f{i}")).collect();
    let index = names
        .iter()
        .map(|n| format!("{n}_1"))
        .collect::<Vec<_>>()
        .join("_");
    let fields: Vec<String> = (0..32)
        .map(|i| {
            let next = format!("\", f{}: \"", i + 1);
            format!("f{i}: \"{}\"", next.repeat(MIB / 32 / next.len()))
        })
        .collect();
    let message = format!(
        "E11000 duplicate key error collection: a.b index: {index} dup key: {{ {} }}",
        fields.join(", ")
    );
    let dup = read(message);
    assert_eq!(dup.fields().collect::<Vec<_>>(), names);
    assert_eq!(dup.key_value(), None);
    // Phrases over and over.
    assert_eq!(parse_quickly(&" dup key: {".repeat(MIB / 11)), None);
    assert_eq!(
        read("E11000 duplicate key error".repeat(MIB / 26)).key_value(),
        None
    );
    assert_eq!(
        read(format!("{head}{}", " found value: ".repeat(MIB / 14))).key_value(),
        None
    );
    let dup = read(format!(
        "{head}{{ x: 1 }}{}",
        " found value: {".repeat(MIB / 15)
    ));
    assert_eq!(dup.key_value(), Some(&doc! { "x": 1 }));
}

#[test]
fn long_valid_key_is_read() {
    // A 1 MiB key document (an array) that is valid: read whole.
    let items: Vec<String> = (0..MIB / 16).map(|i| format!("\"v{i:08}\"")).collect();
    let message = format!(
        "E11000 duplicate key error collection: a.b index: tags_1 dup key: {{ tags: [ {} ] }}",
        items.join(", ")
    );
    let dup = parse_quickly(&message).unwrap();
    let tags = dup.key_value().unwrap().get_array("tags").unwrap();
    assert_eq!(tags.len(), MIB / 16);
    assert_eq!(tags[12345], Bson::String("v00012345".into()));
}
