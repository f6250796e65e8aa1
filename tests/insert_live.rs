//! `insert_or_conflict`
//! against the real mongod from `tests/support` (a single-node replica set).

mod support;

use dupkey::prelude::*;
use dupkey::DuplicateKey;
use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::options::IndexOptions;
use serde::{Deserialize, Serialize};
use support::{
    case_insensitive, code, race, recording_client, setup, take, unique_index, unique_index_with,
    IntoDuplicate,
};

#[tokio::test]
async fn insert_or_conflict_gives_the_exact_typed_key() {
    let (_client, db) = setup("ioc_exact").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;

    let inserted = users
        .insert_or_conflict(doc! { "email": "ann@example.com" })
        .await
        .expect("no conflict on the first insert");
    let stored = support::documents(&users).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].get("_id"), Some(&inserted.inserted_id));

    let second = users
        .insert_or_conflict(doc! { "email": "ann@example.com", "n": 2 })
        .await;
    // The trap of a conflict nested in `Ok` cannot be set: a conflict is an `Err`.
    assert!(second.is_duplicate());
    let dup = second
        .expect_err("the second insert conflicts")
        .into_duplicate();
    assert_eq!(dup.database(), Some(db.name()));
    assert_eq!(dup.collection(), Some("users"));
    assert_eq!(dup.index(), Some("email_1"));
    assert_eq!(dup.key_pattern(), Some(&doc! { "email": 1 }));
    assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));
    assert_eq!(dup.fields().collect::<Vec<_>>(), ["email"]);
    assert_eq!(dup.position(), None);
    assert_eq!(support::documents(&users).await.len(), 1);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_or_conflict_reads_values_the_message_cuts_or_loses() {
    let (_client, db) = setup("ioc_values").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "profile.email": 1 }).await;
    unique_index(&users, doc! { "tenant": 1, "joined": -1, "ref": 1 }).await;

    // Longer than the 150 bytes the message keeps, with a multi-byte character at the cut.
    let long = format!("{}@example.com", "é".repeat(120));
    let id = ObjectId::new();
    let joined = DateTime::from_millis(1_704_164_645_678);
    let doc = doc! {
        "profile": { "email": &long, "name": "Ann" },
        "tenant": 9_007_199_254_740_993_i64, "joined": joined, "ref": id,
    };
    users.insert_or_conflict(&doc).await.unwrap();

    let again = doc! { "profile": { "email": &long } };
    let dup = users
        .insert_or_conflict(again)
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(dup.index(), Some("profile.email_1"));
    assert_eq!(dup.key_pattern(), Some(&doc! { "profile.email": 1 }));
    assert_eq!(dup.key_value(), Some(&doc! { "profile.email": &long }));

    let again = doc! { "tenant": 9_007_199_254_740_993_i64, "joined": joined, "ref": id };
    let dup = users
        .insert_or_conflict(again)
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(dup.index(), Some("tenant_1_joined_-1_ref_1"));
    assert_eq!(
        dup.key_pattern(),
        Some(&doc! { "tenant": 1, "joined": -1, "ref": 1 })
    );
    assert_eq!(
        dup.key_value(),
        Some(&doc! { "tenant": 9_007_199_254_740_993_i64, "joined": joined, "ref": id })
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_or_conflict_missing_field_is_null_as_indexed() {
    let (_client, db) = setup("ioc_null").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "nick": 1 }).await;
    users
        .insert_or_conflict(doc! { "name": "a" })
        .await
        .unwrap();
    let dup = users
        .insert_or_conflict(doc! { "name": "b" })
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(dup.index(), Some("nick_1"));
    assert_eq!(dup.key_value(), Some(&doc! { "nick": Bson::Null }));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_or_conflict_under_a_collation_gives_the_attempted_value() {
    let (_client, db) = setup("ioc_collation").await;
    let users = db.collection::<Document>("users");
    let options = IndexOptions::builder()
        .unique(true)
        .collation(case_insensitive())
        .build();
    unique_index_with(&users, doc! { "name": 1 }, options).await;
    users
        .insert_or_conflict(doc! { "name": "alice" })
        .await
        .unwrap();

    let dup = users
        .insert_or_conflict(doc! { "name": "ALICE" })
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(dup.index(), Some("name_1"));
    assert_eq!(dup.key_value(), Some(&doc! { "name": "ALICE" }));
    assert_eq!(
        dup.collation().and_then(|c| c.get_str("locale").ok()),
        Some("en")
    );
    db.drop().await.unwrap();
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Account {
    #[serde(rename = "_id")]
    id: String,
    email: String,
}

#[tokio::test]
async fn insert_or_conflict_on_id_with_a_typed_collection() {
    let (_client, db) = setup("ioc_id").await;
    let accounts = db.collection::<Account>("accounts");
    let ann = Account {
        id: "ann".into(),
        email: "ann@example.com".into(),
    };
    let inserted = accounts.insert_or_conflict(&ann).await.unwrap();
    assert_eq!(inserted.inserted_id, Bson::from("ann"));

    let dup = accounts
        .insert_or_conflict(ann)
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(dup.index(), Some("_id_"));
    assert_eq!(dup.key_pattern(), Some(&doc! { "_id": 1 }));
    assert_eq!(dup.key_value(), Some(&doc! { "_id": "ann" }));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_or_conflict_reports_the_id_it_gave() {
    let (_client, db) = setup("ioc_gen_id").await;
    let events = db.collection::<Document>("events");
    let inserted = events
        .insert_or_conflict(doc! { "kind": "x" })
        .await
        .unwrap();
    let stored = support::documents(&events).await;
    assert_eq!(
        stored,
        [doc! { "_id": inserted.inserted_id.clone(), "kind": "x" }]
    );
    assert!(matches!(inserted.inserted_id, Bson::ObjectId(_)));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_or_conflict_multikey_keeps_what_the_message_says() {
    let (_client, db) = setup("ioc_multikey").await;
    let items = db.collection::<Document>("items");
    unique_index(&items, doc! { "tags": 1 }).await;
    items
        .insert_or_conflict(doc! { "tags": ["red", "green"] })
        .await
        .unwrap();
    let dup = items
        .insert_or_conflict(doc! { "tags": ["blue", "green"] })
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(dup.index(), Some("tags_1"));
    // The element that collided, from the message; not a guess from the array sent.
    assert_eq!(dup.key_value(), Some(&doc! { "tags": "green" }));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_or_conflict_passes_other_errors_through() {
    let (_client, db) = setup("ioc_other").await;
    db.create_collection("strict")
        .validator(doc! { "age": { "$type": "int" } })
        .await
        .unwrap();
    let strict = db.collection::<Document>("strict");
    let err = strict
        .insert_or_conflict(doc! { "age": "old" })
        .await
        .unwrap_err();
    assert!(!err.is_duplicate());
    let dupkey::Error::Driver(err) = err else {
        panic!("the driver's error expected: {err:?}")
    };
    assert_eq!(code(&err), Some(121)); // DocumentValidationFailure
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn insert_or_conflict_32_tasks_one_winner() {
    let (_client, db) = setup("ioc_race").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;

    let tasks = (0..32)
        .map(|i| {
            let users = users.clone();
            async move {
                users
                    .insert_or_conflict(doc! { "email": "race@example.com", "task": i })
                    .await
            }
        })
        .collect();
    let results = race(&users, tasks).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    let dups: Vec<DuplicateKey> = results
        .into_iter()
        .filter_map(|r| r.err())
        .map(IntoDuplicate::into_duplicate)
        .collect();
    assert_eq!((winners, dups.len()), (1, 31));
    for dup in dups {
        assert_eq!(dup.index(), Some("email_1"));
        assert_eq!(dup.key_value(), Some(&doc! { "email": "race@example.com" }));
    }
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 1);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn round_trips_of_insert_or_conflict() {
    let name = support::unique_db("rt_insert");
    let (client, log) = recording_client(&name).await;
    let users = client.database(&name).collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    take(&log);

    users
        .insert_or_conflict(doc! { "email": "a@b.c" })
        .await
        .unwrap();
    assert_eq!(take(&log), ["insert"]);
    for _ in 0..3 {
        users
            .insert_or_conflict(doc! { "email": "a@b.c" })
            .await
            .unwrap_err()
            .into_duplicate();
    }
    assert_eq!(take(&log), ["insert", "listIndexes", "insert", "insert"]);

    // A conflict on an index created since: its name is unknown, the list is read again.
    unique_index(&users, doc! { "phone": 1 }).await;
    users
        .insert_or_conflict(doc! { "email": "b@b.c", "phone": "1" })
        .await
        .unwrap();
    take(&log);
    let dup = users
        .insert_or_conflict(doc! { "email": "c@b.c", "phone": "1" })
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(dup.key_value(), Some(&doc! { "phone": "1" }));
    users
        .insert_or_conflict(doc! { "email": "d@b.c", "phone": "1" })
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(take(&log), ["insert", "listIndexes", "insert"]);
    client.database(&name).drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trips_of_concurrent_conflicts_share_one_list() {
    let name = support::unique_db("rt_race");
    let (client, log) = recording_client(&name).await;
    let users = client.database(&name).collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    users.insert_one(doc! { "email": "a@b.c" }).await.unwrap();
    take(&log);

    let tasks = (0..32)
        .map(|_| {
            let users = users.clone();
            async move { users.insert_or_conflict(doc! { "email": "a@b.c" }).await }
        })
        .collect();
    for result in race(&users, tasks).await {
        assert!(result.is_duplicate());
    }
    let names = take(&log);
    // The pool's warm-up is in the log too, as `aggregate`s.
    assert_eq!(names.iter().filter(|n| *n == "listIndexes").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == "insert").count(), 32);
    client.database(&name).drop().await.unwrap();
}
