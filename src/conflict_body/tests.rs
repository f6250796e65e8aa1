use super::*;
use mongodb::bson::{doc, DateTime};
use serde_json::json;

fn key(pattern: Document, value: Document) -> DuplicateKey {
    DuplicateKey::from_message("E11000 duplicate key error collection: shop.users")
        .unwrap()
        .with_key(pattern, value)
}

crate::constraints! {
    enum Users {
        Email = Unique::new("email_taken")
            .on_key(&["profile.email"])
            .rename(&[("profile.email", "email")])
            .with_problem_type("https://example.com/problems/email-taken"),
        Handle = Unique::new("handle_taken").on_key(&["tenant", "handle"]),
    }
}

#[test]
fn the_sentence_names_the_fields() {
    let fields = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(sentence(&[]), "a duplicate already exists");
    assert_eq!(sentence(&fields(&["email"])), "email already exists");
    assert_eq!(
        sentence(&fields(&["tenant", "email"])),
        "this combination of tenant and email already exists"
    );
    assert_eq!(
        sentence(&fields(&["a", "b.c", "d"])),
        "this combination of a, b.c and d already exists"
    );
}

#[test]
fn only_code_message_and_fields_by_default() {
    let dup = key(doc! { "email": 1 }, doc! { "email": "ann@example.com" });
    let json = serde_json::to_value(ConflictBody::new(&dup)).unwrap();
    assert_eq!(
        json,
        json!({ "code": "duplicate_key", "error": "email already exists", "fields": ["email"] })
    );
}

#[test]
fn a_declared_constraint_names_fields_as_the_api_does() {
    let dup = key(
        doc! { "profile.email": 1 },
        doc! { "profile.email": "ann@example.com" },
    );
    let body = ConflictBody::typed::<Users>(&dup);
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({ "code": "email_taken", "error": "email already exists", "fields": ["email"] })
    );
    let json = serde_json::to_value(body.with_value().problem()).unwrap();
    assert_eq!(
        json,
        json!({
            "type": "https://example.com/problems/email-taken",
            "title": "Conflict",
            "status": 409,
            "detail": "email already exists",
            "code": "email_taken",
            "fields": ["email"],
            "value": { "email": "ann@example.com" },
        })
    );
}

#[test]
fn opted_in_parts_appear_only_when_known() {
    let when = DateTime::from_millis(1_704_164_645_678);
    let dup = key(
        doc! { "tenant": 1, "handle": 1 },
        doc! { "tenant": 3_i64, "handle": when },
    );
    let body = ConflictBody::typed::<Users>(&dup)
        .with_index()
        .with_namespace()
        .with_value();
    let json = serde_json::to_value(&body).unwrap();
    assert_eq!(
        json,
        json!({
            "code": "handle_taken",
            "error": "this combination of tenant and handle already exists",
            "fields": ["tenant", "handle"],
            "namespace": "shop.users",
            "value": { "tenant": 3, "handle": { "$date": "2024-01-02T03:04:05.678Z" } },
        })
    );

    let bare = DuplicateKey::from_message("E11000 duplicate key error").unwrap();
    let json = serde_json::to_value(
        ConflictBody::new(&bare)
            .with_index()
            .with_namespace()
            .with_value(),
    )
    .unwrap();
    assert_eq!(
        json,
        json!({ "code": "duplicate_key", "error": "a duplicate already exists", "fields": [] })
    );
}

#[test]
fn collation_keys_are_never_sent() {
    let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: name_1 collation: { locale: \"en\", strength: 2 } dup key: { name: \"0x293f392d310109\" }").unwrap();
    let json = serde_json::to_value(ConflictBody::new(&dup).with_value()).unwrap();
    assert_eq!(json.get("value"), None);
}

#[test]
fn deserialises_both_forms() {
    let dup = key(
        doc! { "tenant": 1, "handle": 1 },
        doc! { "tenant": 3, "handle": "x" },
    );
    for body in [
        ConflictBody::typed::<Users>(&dup)
            .with_value()
            .with_namespace(),
        ConflictBody::typed::<Users>(&dup).problem().with_index(),
    ] {
        let text = serde_json::to_string(&body).unwrap();
        let read: ConflictBody = serde_json::from_str(&text).unwrap();
        assert_eq!(read, body, "{text}");
        assert_eq!(serde_json::to_string(&read).unwrap(), text);
    }
    let old: ConflictBody =
        serde_json::from_str(r#"{"error":"email already exists","fields":["email"]}"#).unwrap();
    assert_eq!(
        (old.code(), old.error(), old.is_problem()),
        ("duplicate_key", "email already exists", false)
    );
}
