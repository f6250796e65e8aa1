use super::*;
use mongodb::bson::{doc, oid::ObjectId, Bson};

fn p(message: &str) -> Parsed {
    parse(message).unwrap_or_else(|| panic!("not read: {message}"))
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
    let parsed =
        p("E11000 duplicate key error collection: my-db.a.b.c index: _id_ dup key: { _id: 1 }");
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
    let parsed =
        p("E11000 duplicate key error collection: t.c index: x_1_y_1_z_1 dup key: { : 1, : 2 }");
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
fn bare_namespace_ends_before_free_text() {
    for (input, ns) in [
        ("test.users", "test.users"),
        ("ünï-db.cöll ection", "ünï-db.cöll ection"),
        ("ünï-db.cöll ection\n", "ünï-db.cöll ection"),
        ("test.users.", "test.users"),
        (
            "test.users. Failed _id or unique index constraint.",
            "test.users",
        ),
        (
            "test.users: Failed _id or unique key constraint",
            "test.users",
        ),
        ("test.users, Failed unique index constraint.", "test.users"),
        (
            "test.users; Failed _id or unique index constraint",
            "test.users",
        ),
        (
            "test.users Failed _id or unique index constraint",
            "test.users",
        ),
        (
            "test.users - Failed _id or unique index constraint",
            "test.users",
        ),
        ("test.a.b. Failed", "test.a.b"),
        (
            "test.cöll ection. Failed _id constraint",
            "test.cöll ection",
        ),
        ("test.a. b", "test.a"),
        ("", ""),
    ] {
        assert_eq!(bare_namespace(input), ns, "{input:?}");
    }
}

#[test]
fn update_path_of_2x() {
    assert_eq!(p("E11001 duplicate key on update"), Parsed::default());
    let parsed =
        p("E11001 duplicate key on update index: test.users.$email_1  dup key: { : \"x\" }");
    assert_eq!(parsed.collection, some("users"));
    assert_eq!(parsed.key_value, Some(doc! { "email": "x" }));
}

#[test]
fn not_duplicate_key_messages() {
    assert_eq!(parse(""), None);
    assert_eq!(parse("E11001 duplicate key"), None);
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
    let lossy =
        p("E11000 duplicate key error collection: t.c index: v_1 dup key: { v: \"a\u{FFFD}\" }");
    assert_eq!((lossy.fields.len(), lossy.key_value), (1, None));
}

#[test]
fn trailers() {
    let parsed = p("E11000 duplicate key error collection: t.c index: a_1 dup key: { a: \"x\" } found value: RecordId(1)");
    assert_eq!(parsed.key_value, Some(doc! { "a": "x" }));
    let parsed = p("E11000 duplicate key error collection: t.c index: a_1 dup key: { a: \"x\" }, full error: {'index': 0, 'code': 11000}");
    assert_eq!(parsed.key_value, Some(doc! { "a": "x" }));
    let parsed = p("E11000 duplicate key error collection: t.c index: a_1 dup key: { a: \"x\" }\n");
    assert_eq!(parsed.key_value, Some(doc! { "a": "x" }));
}

#[test]
fn first_of_finds_the_earliest() {
    static DOT: Marker = marker_for!(". ");
    static B: Marker = marker_for!(" b");
    static E: Marker = marker_for!(" é");
    assert_eq!(first_of("a b. c", &[&DOT, &B]), Some((1, 1)));
    assert_eq!(first_of("ab.", &[&DOT]), None);
    assert_eq!(first_of("é é", &[&E]), Some((2, 0)));
}

#[test]
fn all_value_types() {
    let parsed = p("E11000 duplicate key error collection: t.c index: k dup key: { a: MinKey, b: [ 1, \"x\" ], c: { d: null } }");
    assert_eq!(
        parsed.key_value,
        Some(doc! { "a": Bson::MinKey, "b": [1, "x"], "c": { "d": Bson::Null } })
    );
}
