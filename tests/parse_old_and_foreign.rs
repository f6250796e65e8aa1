//! `DuplicateKey::from_message` on formats a 6.0 server cannot produce: 3.2-4.0 keys without
//! names, 2.x and 3.0 (`index: <db>.<coll>.$<name>`, the update path's `E11001`), and
//! MongoDB-compatible services (Cosmos DB, FerretDB, DocumentDB); and on messages that are
//! not duplicate-key messages at all.

mod support;

use dupkey::DuplicateKey;
use mongodb::bson::doc;
use support::parse::{check, oid, Expected};

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
fn update_path_of_2x() {
    // 2.x's update path: a duplicate, naming nothing.
    check("E11001 duplicate key on update", Expected::default());
    check(
        "E11001 duplicate key on update index: test.users.$email_1  dup key: { : \"x\" }",
        Expected {
            database: Some("test"),
            collection: Some("users"),
            index: Some("email_1"),
            fields: &["email"],
            key_pattern: Some(doc! { "email": 1 }),
            key_value: Some(doc! { "email": "x" }),
            ..Expected::default()
        },
    );
}

#[test]
fn cosmos_db() {
    // The punctuation after the namespace and the sentence's words have varied.
    for text in [
        ". Failed _id or unique index constraint.",
        ". Failed _id or unique index constraint",
        ". Failed _id or unique key constraint.",
        ": Failed _id or unique index constraint.",
        ", Failed _id or unique index constraint.",
        "; Failed _id or unique index constraint.",
        " - Failed _id or unique index constraint.",
        " Failed _id or unique index constraint.",
        ". Failed unique index constraint.",
        ". Failed _id or unique constraint",
    ] {
        for (db, coll) in [
            ("test", "users"),
            ("shop", "a.b"),
            ("ünï-db", "cöll ection"),
        ] {
            check(
                &format!("E11000 duplicate key error collection: {db}.{coll}{text}"),
                Expected {
                    database: Some(db),
                    collection: Some(coll),
                    ..Expected::default()
                },
            );
        }
    }
}

#[test]
fn a_bare_namespace_ends_before_free_text() {
    // With no ` index: `, ` collation: {` or ` dup key: {` after it, the namespace ends at the
    // first punctuation mark followed by a space, or at the first ` Failed`; punctuation and
    // spaces at its end are dropped. Spaces inside a collection name stay.
    for (message, coll) in [
        ("collection: db.cöll ection", "cöll ection"),
        ("collection: db.cöll ection\n", "cöll ection"),
        ("collection: db.coll.", "coll"),
        ("collection: db.a.b.c", "a.b.c"),
        ("collection: db.order items. Failed", "order items"),
        ("collection: db.a. b", "a"),
        ("collection: db.x Failed y", "x"),
    ] {
        check(
            &format!("E11000 duplicate key error {message}"),
            Expected {
                database: Some("db"),
                collection: Some(coll),
                ..Expected::default()
            },
        );
    }
    // A marker decides first: the name keeps what the rule above would cut.
    check(
        "E11000 duplicate key error collection: db.a. b, c index: _id_ dup key: { _id: 1 }",
        Expected {
            database: Some("db"),
            collection: Some("a. b, c"),
            index: Some("_id_"),
            fields: &["_id"],
            key_pattern: Some(doc! { "_id": 1 }),
            key_value: Some(doc! { "_id": 1 }),
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
        "E11001 duplicate key",
        "Document failed validation",
        "e11000 duplicate key error collection: t.c",
        "Duplicate key violation",
    ] {
        assert_eq!(DuplicateKey::from_message(message), None, "{message:?}");
    }
}
