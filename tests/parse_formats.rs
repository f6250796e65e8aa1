//! `DuplicateKey::from_message` on the messages of MongoDB 4.2 and later: names, default and
//! custom index names, geo and text indexes, raw strings, collations, clustered collections,
//! wrappers and trailers; each case checks every getter. Values: `tests/parse_values.rs`;
//! older and foreign formats: `tests/parse_old_and_foreign.rs`; limits: `tests/parse_limits.rs`.

mod support;

use mongodb::bson::doc;
use support::collation_en_2;
use support::parse::{check, oid, Expected};

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

// ---------------------------------------------------------------- collations

fn collation_text() -> &'static str {
    "{ locale: \"en\", caseLevel: false, caseFirst: \"off\", strength: 2, numericOrdering: false, alternate: \"non-ignorable\", maxVariable: \"punct\", normalization: false, backwards: false, version: \"57.1\" }"
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
            collation: Some(collation_en_2()),
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
            collation: Some(collation_en_2()),
        },
    );
    // A clustered collection with a collation.
    check(
        &format!("E11000 duplicate key error collection: t.people collation: {} dup key: {{ _id: \"0x2b\" }}", collation_text()),
        Expected {
            database: Some("t"),
            collection: Some("people"),
            fields: &["_id"],
            collation: Some(collation_en_2()),
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
