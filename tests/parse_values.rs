//! `DuplicateKey::from_message` on every value type the server prints after `dup key:`, and on
//! the values it cannot give back exactly (cut, lossily decoded, hex-dumped).

mod support;

use dupkey::DuplicateKey;
use mongodb::bson::{
    doc, spec::BinarySubtype, Binary, Bson, DateTime, Decimal128, Regex, Timestamp,
};
use support::parse::{check, oid, Expected};

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
