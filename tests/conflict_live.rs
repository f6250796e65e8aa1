//! Conflict-aware writes (`InsertOrConflict`, `InsertManyOrConflict`, `UpsertByUnique`)
//! against the real mongod from `tests/support` (a single-node replica set).

// `DuplicateKey` is large (about 400 bytes), so closures returning `Result<_, DuplicateKey>`
// trip this lint; the helpers' signatures return it by value on purpose.
#![allow(clippy::result_large_err)]

mod support;

use std::sync::{Arc, Mutex};

use dupkey::{
    DuplicateKey, InsertManyOrConflict, InsertOrConflict, IsDuplicate, UpsertByUnique, UpsertError,
    UpsertOutcome,
};
use futures_util::future::join_all;
use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::{Collation, CollationStrength, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

async fn unique_index(coll: &Collection<Document>, keys: Document) {
    unique_index_with(coll, keys, IndexOptions::builder().unique(true).build()).await;
}

async fn unique_index_with(coll: &Collection<Document>, keys: Document, options: IndexOptions) {
    coll.create_index(IndexModel::builder().keys(keys).options(options).build())
        .await
        .expect("create index");
}

fn case_insensitive() -> Collation {
    Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build()
}

async fn setup(prefix: &str) -> (Client, Database) {
    let client = support::client().await;
    let db = client.database(&support::unique_db(prefix));
    (client, db)
}

fn code(err: &Error) -> Option<i32> {
    match &*err.kind {
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// insert_or_conflict
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn insert_or_conflict_gives_the_exact_typed_key() {
    let (_client, db) = setup("ioc_exact").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;

    let first = users
        .insert_or_conflict(doc! { "email": "ann@example.com" })
        .await
        .unwrap();
    let inserted = first.expect("no conflict on the first insert");
    let stored = support::documents(&users).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].get("_id"), Some(&inserted.inserted_id));

    let second = users
        .insert_or_conflict(doc! { "email": "ann@example.com", "n": 2 })
        .await;
    let dup = second.unwrap().expect_err("the second insert conflicts");
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
    users.insert_or_conflict(&doc).await.unwrap().unwrap();

    let again = doc! { "profile": { "email": &long } };
    let dup = users.insert_or_conflict(again).await.unwrap().unwrap_err();
    assert_eq!(dup.index(), Some("profile.email_1"));
    assert_eq!(dup.key_pattern(), Some(&doc! { "profile.email": 1 }));
    assert_eq!(dup.key_value(), Some(&doc! { "profile.email": &long }));

    let again = doc! { "tenant": 9_007_199_254_740_993_i64, "joined": joined, "ref": id };
    let dup = users.insert_or_conflict(again).await.unwrap().unwrap_err();
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
        .unwrap()
        .unwrap();
    let dup = users
        .insert_or_conflict(doc! { "name": "b" })
        .await
        .unwrap()
        .unwrap_err();
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
        .unwrap()
        .unwrap();

    let dup = users
        .insert_or_conflict(doc! { "name": "ALICE" })
        .await
        .unwrap()
        .unwrap_err();
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
    let inserted = accounts.insert_or_conflict(&ann).await.unwrap().unwrap();
    assert_eq!(inserted.inserted_id, Bson::from("ann"));

    let dup = accounts.insert_or_conflict(ann).await.unwrap().unwrap_err();
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
        .unwrap()
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
        .unwrap()
        .unwrap();
    let dup = items
        .insert_or_conflict(doc! { "tags": ["blue", "green"] })
        .await
        .unwrap()
        .unwrap_err();
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
    assert_eq!(code(&err), Some(121)); // DocumentValidationFailure
    assert!(!err.is_duplicate());
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
    let results: Vec<_> = race(&users, tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners = results.iter().filter(|r| r.is_ok()).count();
    let dups: Vec<&DuplicateKey> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!((winners, dups.len()), (1, 31));
    for dup in dups {
        assert_eq!(dup.index(), Some("email_1"));
        assert_eq!(dup.key_value(), Some(&doc! { "email": "race@example.com" }));
    }
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 1);
    db.drop().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// insert_many_or_conflict
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn insert_many_or_conflict_inserts_what_it_can() {
    let (_client, db) = setup("imoc_report").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    users
        .insert_one(doc! { "_id": 100, "email": "taken@example.com" })
        .await
        .unwrap();

    let rows = vec![
        doc! { "_id": 1, "email": "a@example.com" },
        doc! { "_id": 2, "email": "taken@example.com" },
        doc! { "email": "b@example.com" },
        doc! { "_id": 1, "email": "c@example.com" },
        doc! { "_id": 5, "email": "b@example.com" },
    ];
    let report = users.insert_many_or_conflict(&rows).await.unwrap();

    let positions: Vec<usize> = report.inserted_ids().keys().copied().collect();
    assert_eq!(positions, [0, 2]);
    assert_eq!(report.inserted_ids()[&0], Bson::Int32(1));
    let generated = report.inserted_ids()[&2].clone();
    assert!(matches!(generated, Bson::ObjectId(_)));

    let seen: Vec<(Option<usize>, Option<&str>, Option<&Document>)> = report
        .conflicts()
        .iter()
        .map(|d| (d.position(), d.index(), d.key_value()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                Some(1),
                Some("email_1"),
                Some(&doc! { "email": "taken@example.com" })
            ),
            (Some(3), Some("_id_"), Some(&doc! { "_id": 1 })),
            (
                Some(4),
                Some("email_1"),
                Some(&doc! { "email": "b@example.com" })
            ),
        ]
    );
    assert_eq!(
        support::documents(&users).await,
        [
            doc! { "_id": 1, "email": "a@example.com" },
            doc! { "_id": 100, "email": "taken@example.com" },
            doc! { "_id": generated, "email": "b@example.com" },
        ]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_many_or_conflict_passes_other_write_errors_through() {
    let (_client, db) = setup("imoc_other").await;
    db.create_collection("strict")
        .validator(doc! { "age": { "$type": "int" } })
        .await
        .unwrap();
    let strict = db.collection::<Document>("strict");
    let rows = [
        doc! { "_id": 1, "age": 1 },
        doc! { "_id": 1, "age": 2 },
        doc! { "_id": 3, "age": "old" },
    ];
    let err = strict.insert_many_or_conflict(rows).await.unwrap_err();
    let ErrorKind::InsertMany(batch) = &*err.kind else {
        panic!("InsertMany expected: {err:?}")
    };
    let codes: Vec<(usize, i32)> = batch
        .write_errors
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| (e.index, e.code))
        .collect();
    assert_eq!(codes, [(1, 11000), (2, 121)]);
    // The duplicates are still there to be read.
    assert_eq!(
        err.duplicate_keys()
            .iter()
            .map(|d| d.position())
            .collect::<Vec<_>>(),
        [Some(1)]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_many_or_conflict_empty_batch_is_an_empty_report() {
    let (_client, db) = setup("imoc_empty").await;
    let users = db.collection::<Document>("users");
    let report = users
        .insert_many_or_conflict(Vec::<Document>::new())
        .await
        .unwrap();
    assert!(report.inserted_ids().is_empty());
    assert!(report.conflicts().is_empty());
    db.drop().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// upsert_by_unique
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn upsert_by_unique_inserts_then_updates() {
    let (_client, db) = setup("ubu_basic").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;

    let filter = doc! { "email": "ann@example.com" };
    let first = users
        .upsert_by_unique(filter.clone(), doc! { "$inc": { "logins": 1 } })
        .await
        .unwrap();
    assert_eq!(first.outcome(), UpsertOutcome::Inserted);
    assert_eq!(first.previous().unwrap(), None);
    let stored = support::documents(&users).await;
    assert_eq!(
        stored,
        [doc! { "_id": first.id().clone(), "email": "ann@example.com", "logins": 1 }]
    );

    let second = users
        .upsert_by_unique(filter.clone(), doc! { "$inc": { "logins": 1 } })
        .await
        .unwrap();
    assert_eq!(second.outcome(), UpsertOutcome::Updated);
    assert_eq!(second.id(), first.id());
    assert_eq!(second.previous().unwrap(), Some(stored[0].clone()));
    assert_eq!(support::documents(&users).await[0].get_i32("logins"), Ok(2));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn upsert_by_unique_nested_compound_and_id_keys() {
    let (_client, db) = setup("ubu_keys").await;
    let stock = db.collection::<Document>("stock");
    unique_index(&stock, doc! { "site.code": 1, "sku": -1 }).await;

    let up = stock
        .upsert_by_unique(
            doc! { "sku": "A1", "site.code": 7 },
            doc! { "$set": { "qty": 3 } },
        )
        .await
        .unwrap();
    assert_eq!(up.outcome(), UpsertOutcome::Inserted);
    assert_eq!(
        support::documents(&stock).await,
        [doc! { "_id": up.id().clone(), "sku": "A1", "site": { "code": 7 }, "qty": 3 }]
    );

    // `_id` is unique, even in a collection that does not exist yet.
    let config = db.collection::<Document>("config");
    let up = config
        .upsert_by_unique(doc! { "_id": "main" }, doc! { "$set": { "on": true } })
        .await
        .unwrap();
    assert_eq!(
        (up.outcome(), up.id()),
        (UpsertOutcome::Inserted, &Bson::from("main"))
    );
    let up = config
        .upsert_by_unique(doc! { "_id": "main" }, doc! { "$set": { "on": false } })
        .await
        .unwrap();
    assert_eq!(
        (up.outcome(), up.id()),
        (UpsertOutcome::Updated, &Bson::from("main"))
    );
    assert_eq!(
        support::documents(&config).await,
        [doc! { "_id": "main", "on": false }]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn upsert_by_unique_with_a_pipeline_reports_the_inserted_id() {
    let (_client, db) = setup("ubu_pipeline").await;
    let pages = db.collection::<Document>("pages");
    unique_index(&pages, doc! { "path": 1 }).await;
    let bump = vec![doc! { "$set": { "hits": { "$add": [{ "$ifNull": ["$hits", 0] }, 1] } } }];

    let first = pages
        .upsert_by_unique(doc! { "path": "/" }, bump.clone())
        .await
        .unwrap();
    assert_eq!(first.outcome(), UpsertOutcome::Inserted);
    let second = pages
        .upsert_by_unique(doc! { "path": "/" }, bump)
        .await
        .unwrap();
    assert_eq!(
        (second.outcome(), second.id()),
        (UpsertOutcome::Updated, first.id())
    );
    assert_eq!(
        support::documents(&pages).await,
        [doc! { "_id": first.id().clone(), "path": "/", "hits": 2 }]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn upsert_by_unique_refuses_bad_input_and_writes_nothing() {
    let (_client, db) = setup("ubu_refuse").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    // An index on `name`, but not a unique one.
    users
        .create_index(IndexModel::builder().keys(doc! { "name": 1 }).build())
        .await
        .unwrap();
    let inc = || doc! { "$inc": { "n": 1 } };

    let err = users.upsert_by_unique(doc! {}, inc()).await.unwrap_err();
    assert!(matches!(err, UpsertError::EmptyFilter), "{err:?}");

    let err = users
        .upsert_by_unique(doc! { "email": { "$in": ["a@b.c", "d@e.f"] } }, inc())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpsertError::NotEquality { field, .. } if field == "email"),
        "{err:?}"
    );

    let err = users
        .upsert_by_unique(doc! { "name": "Ann" }, inc())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpsertError::NotUnique { fields, .. } if fields == &["name"]),
        "{err:?}"
    );

    let err = users
        .upsert_by_unique(doc! { "email": "a@b.c", "name": "Ann" }, inc())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpsertError::ExtraFields { index, extra, .. }
            if index == "email_1" && extra == &["name"]),
        "{err:?}"
    );

    let err = users
        .upsert_by_unique(doc! { "email": "a@b.c" }, doc! { "email": "a@b.c", "n": 1 })
        .await
        .unwrap_err();
    assert!(matches!(err, UpsertError::NotAnUpdate), "{err:?}");

    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 0);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn upsert_by_unique_collision_on_another_index_is_a_duplicate() {
    let (_client, db) = setup("ubu_other").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    unique_index(&users, doc! { "username": 1 }).await;
    users
        .insert_one(doc! { "email": "bob@example.com", "username": "bob" })
        .await
        .unwrap();

    let err = users
        .upsert_by_unique(
            doc! { "email": "ann@example.com" },
            doc! { "$setOnInsert": { "username": "bob" } },
        )
        .await
        .unwrap_err();
    let UpsertError::Duplicate(dup) = &err else {
        panic!("Duplicate expected: {err:?}")
    };
    assert_eq!(dup.index(), Some("username_1"));
    assert_eq!(dup.key_value(), Some(&doc! { "username": "bob" }));
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 1);
    // The crate's chain walk finds it behind the error.
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert_eq!(
        boxed.duplicate_key().as_ref().and_then(|d| d.index()),
        Some("username_1")
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn upsert_by_unique_update_that_rewrites_the_key_is_not_retried() {
    let (_client, db) = setup("ubu_rewrite").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    users
        .insert_one(doc! { "email": "b@example.com" })
        .await
        .unwrap();

    let err = users
        .upsert_by_unique(
            doc! { "email": "a@example.com" },
            doc! { "$set": { "email": "b@example.com" } },
        )
        .await
        .unwrap_err();
    let UpsertError::Duplicate(dup) = &err else {
        panic!("Duplicate expected: {err:?}")
    };
    assert_eq!(dup.index(), Some("email_1"));
    // The key that collided is the update's, as the server reports it.
    assert_eq!(dup.key_value(), Some(&doc! { "email": "b@example.com" }));
    db.drop().await.unwrap();
}

/// Runs `tasks` at once: each waits at a gate that opens when all are spawned, on a
/// connection pool already warm, so the writes really race.
async fn race<F, R>(coll: &Collection<Document>, tasks: Vec<F>) -> Vec<R>
where
    F: std::future::Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let warm = (0..tasks.len()).map(|_| async { coll.estimated_document_count().await });
    for count in join_all(warm).await {
        count.unwrap();
    }
    let gate = Arc::new(futures_util::lock::Mutex::new(()));
    let closed = gate.lock().await;
    let handles: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                drop(gate.lock().await);
                task.await
            })
        })
        .collect();
    drop(closed);
    join_all(handles)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

/// 32 upserts of one key (spelled by `filters`) at once, `$inc` a counter: all succeed, one
/// inserts, one document holds 32. Several rounds, each on a fresh key.
async fn upsert_race(coll: &Collection<Document>, filters: impl Fn(usize, usize) -> Document) {
    for round in 0..5 {
        let tasks = (0..32)
            .map(|task| {
                let (coll, filter) = (coll.clone(), filters(round, task));
                async move {
                    coll.upsert_by_unique(filter, doc! { "$inc": { "count": 1 } })
                        .await
                }
            })
            .collect();
        let results = race(coll, tasks).await;
        let upserts: Vec<_> = results
            .into_iter()
            .map(|r| r.expect("every upsert succeeds"))
            .collect();
        let inserted = upserts
            .iter()
            .filter(|u| u.outcome() == UpsertOutcome::Inserted)
            .count();
        assert_eq!(inserted, 1);
        let stored = support::documents(coll).await;
        assert_eq!(stored.len(), round + 1);
        let id = upserts[0].id();
        assert!(upserts.iter().all(|u| u.id() == id));
        let doc = coll.find_one(doc! { "_id": id }).await.unwrap().unwrap();
        assert_eq!(doc.get_i32("count"), Ok(32));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upsert_by_unique_32_tasks_one_document() {
    let (_client, db) = setup("ubu_race").await;
    let counters = db.collection::<Document>("counters");
    unique_index(&counters, doc! { "key": 1 }).await;
    upsert_race(&counters, |round, _| doc! { "key": format!("k{round}") }).await;
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upsert_by_unique_32_tasks_under_a_collation() {
    // The server does not retry this race itself (a collation): the helper does.
    let (_client, db) = setup("ubu_race_coll").await;
    let counters = db.collection::<Document>("counters");
    let options = IndexOptions::builder()
        .unique(true)
        .collation(case_insensitive())
        .build();
    unique_index_with(&counters, doc! { "name": 1 }, options).await;
    let spellings = ["alice", "ALICE", "Alice", "aLiCe"];
    upsert_race(
        &counters,
        |round, task| doc! { "name": format!("{}{round}", spellings[task % 4]) },
    )
    .await;
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upsert_by_unique_32_tasks_with_an_id_key() {
    let (_client, db) = setup("ubu_race_id").await;
    let counters = db.collection::<Document>("counters");
    upsert_race(
        &counters,
        |round, _| doc! { "_id": format!("page:/{round}") },
    )
    .await;
    db.drop().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Sessions and transactions (the test server is a replica set)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn transaction_insert_conflict_ends_the_transaction() {
    let (client, db) = setup("txn_insert").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    users
        .insert_one(doc! { "email": "taken@example.com" })
        .await
        .unwrap();

    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let ok = users
        .insert_or_conflict_with_session(doc! { "email": "new@example.com" }, &mut session)
        .await
        .unwrap();
    assert!(ok.is_ok());
    let dup = users
        .insert_or_conflict_with_session(doc! { "email": "taken@example.com" }, &mut session)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(dup.index(), Some("email_1"));
    assert_eq!(
        dup.key_value(),
        Some(&doc! { "email": "taken@example.com" })
    );
    // As documented: the transaction is over.
    let err = session.commit_transaction().await.unwrap_err();
    assert_eq!(code(&err), Some(251));
    assert!(err.contains_label("TransientTransactionError"));
    assert_eq!(support::documents(&users).await.len(), 1);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn transaction_helpers_commit_when_nothing_conflicts() {
    let (client, db) = setup("txn_commit").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();

    users
        .insert_or_conflict_with_session(doc! { "_id": 1, "email": "a@b.c" }, &mut session)
        .await
        .unwrap()
        .unwrap();
    let report = users
        .insert_many_or_conflict_with_session(
            [
                doc! { "_id": 2, "email": "b@b.c" },
                doc! { "_id": 3, "email": "c@b.c" },
            ],
            &mut session,
        )
        .await
        .unwrap();
    assert_eq!(report.inserted_ids().len(), 2);
    assert!(report.conflicts().is_empty());
    let up = users
        .upsert_by_unique_with_session(
            doc! { "email": "a@b.c" },
            doc! { "$set": { "v": 1 } },
            &mut session,
        )
        .await
        .unwrap();
    assert_eq!(
        (up.outcome(), up.id()),
        (UpsertOutcome::Updated, &Bson::Int32(1))
    );
    let up = users
        .upsert_by_unique_with_session(
            doc! { "email": "d@b.c" },
            doc! { "$set": { "v": 4 } },
            &mut session,
        )
        .await
        .unwrap();
    assert_eq!(up.outcome(), UpsertOutcome::Inserted);

    // Nothing is visible outside before the commit.
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 0);
    session.commit_transaction().await.unwrap();
    assert_eq!(
        support::documents(&users).await,
        [
            doc! { "_id": 1, "email": "a@b.c", "v": 1 },
            doc! { "_id": 2, "email": "b@b.c" },
            doc! { "_id": 3, "email": "c@b.c" },
            doc! { "_id": up.id().clone(), "email": "d@b.c", "v": 4 },
        ]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn transaction_upsert_and_batch_conflicts_end_the_transaction() {
    let (client, db) = setup("txn_upsert").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    unique_index(&users, doc! { "username": 1 }).await;
    users
        .insert_one(doc! { "_id": 0, "email": "bob@b.c", "username": "bob" })
        .await
        .unwrap();

    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let err = users
        .upsert_by_unique_with_session(
            doc! { "email": "ann@b.c" },
            doc! { "$setOnInsert": { "username": "bob" } },
            &mut session,
        )
        .await
        .unwrap_err();
    let UpsertError::Duplicate(dup) = &err else {
        panic!("Duplicate expected: {err:?}")
    };
    assert_eq!(dup.index(), Some("username_1"));
    assert_eq!(
        code(&session.commit_transaction().await.unwrap_err()),
        Some(251)
    );

    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let report = users
        .insert_many_or_conflict_with_session(
            [
                doc! { "_id": 1, "email": "x@b.c" },
                doc! { "_id": 2, "email": "bob@b.c" },
            ],
            &mut session,
        )
        .await
        .unwrap();
    let conflicts: Vec<_> = report
        .conflicts()
        .iter()
        .map(|d| (d.position(), d.key_value().cloned()))
        .collect();
    assert_eq!(conflicts, [(Some(1), Some(doc! { "email": "bob@b.c" }))]);
    session.abort_transaction().await.unwrap();

    assert_eq!(
        support::documents(&users).await,
        [doc! { "_id": 0, "email": "bob@b.c", "username": "bob" }]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn and_run_callback_that_returns_the_conflict_as_an_error_stops() {
    let (client, db) = setup("txn_and_run").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    users
        .insert_one(doc! { "email": "taken@b.c" })
        .await
        .unwrap();

    let mut session = client.start_session().await.unwrap();
    let result: mongodb::error::Result<()> = session
        .start_transaction()
        .and_run(users.clone(), |session, users| {
            Box::pin(async move {
                match users
                    .insert_or_conflict_with_session(doc! { "email": "taken@b.c" }, session)
                    .await?
                {
                    Ok(_) => Ok(()),
                    Err(dup) => Err(Error::custom(dup)),
                }
            })
        })
        .await;
    let err = result.unwrap_err();
    let ErrorKind::Custom(inner) = &*err.kind else {
        panic!("custom error expected: {err:?}")
    };
    let dup = inner.downcast_ref::<DuplicateKey>().unwrap();
    assert_eq!(dup.key_value(), Some(&doc! { "email": "taken@b.c" }));
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 1);
    db.drop().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Round trips, counted with command monitoring
// ---------------------------------------------------------------------------------------

/// A client whose commands on database `db` are recorded by name.
async fn recording_client(db: &str) -> (Client, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (sink, db) = (Arc::clone(&log), db.to_owned());
    let client = support::client_with(move |options| {
        options.command_event_handler = Some(EventHandler::callback(move |event| {
            if let CommandEvent::Started(started) = event {
                if started.db == db {
                    sink.lock().unwrap().push(started.command_name);
                }
            }
        }));
    })
    .await;
    (client, log)
}

fn take(log: &Mutex<Vec<String>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
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
        .unwrap()
        .unwrap();
    assert_eq!(take(&log), ["insert"]);
    for _ in 0..3 {
        users
            .insert_or_conflict(doc! { "email": "a@b.c" })
            .await
            .unwrap()
            .unwrap_err();
    }
    assert_eq!(take(&log), ["insert", "listIndexes", "insert", "insert"]);

    // A conflict on an index created since: its name is unknown, the list is read again.
    unique_index(&users, doc! { "phone": 1 }).await;
    users
        .insert_or_conflict(doc! { "email": "b@b.c", "phone": "1" })
        .await
        .unwrap()
        .unwrap();
    take(&log);
    let dup = users
        .insert_or_conflict(doc! { "email": "c@b.c", "phone": "1" })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(dup.key_value(), Some(&doc! { "phone": "1" }));
    users
        .insert_or_conflict(doc! { "email": "d@b.c", "phone": "1" })
        .await
        .unwrap()
        .unwrap_err();
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
        assert!(result.unwrap().is_err());
    }
    let names = take(&log);
    // The pool's warm-up is in the log too, as `aggregate`s.
    assert_eq!(names.iter().filter(|n| *n == "listIndexes").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == "insert").count(), 32);
    client.database(&name).drop().await.unwrap();
}

#[tokio::test]
async fn round_trips_of_upsert_by_unique() {
    let name = support::unique_db("rt_upsert");
    let (client, log) = recording_client(&name).await;
    let users = client.database(&name).collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    take(&log);

    let inc = || doc! { "$inc": { "n": 1 } };
    users
        .upsert_by_unique(doc! { "email": "a@b.c" }, inc())
        .await
        .unwrap();
    assert_eq!(take(&log), ["listIndexes", "findAndModify"]);
    for _ in 0..3 {
        users
            .upsert_by_unique(doc! { "email": "a@b.c" }, inc())
            .await
            .unwrap();
    }
    assert_eq!(
        take(&log),
        ["findAndModify", "findAndModify", "findAndModify"]
    );

    // Refused: the list is read again once first, nothing is written.
    let err = users
        .upsert_by_unique(doc! { "phone": "1" }, inc())
        .await
        .unwrap_err();
    assert!(matches!(err, UpsertError::NotUnique { .. }), "{err:?}");
    assert_eq!(take(&log), ["listIndexes"]);

    // The index created since is seen.
    unique_index(&users, doc! { "phone": 1 }).await;
    take(&log);
    users
        .upsert_by_unique(doc! { "phone": "1" }, inc())
        .await
        .unwrap();
    assert_eq!(take(&log), ["listIndexes", "findAndModify"]);
    users
        .upsert_by_unique(doc! { "phone": "1" }, inc())
        .await
        .unwrap();
    users
        .upsert_by_unique(doc! { "email": "a@b.c" }, inc())
        .await
        .unwrap();
    assert_eq!(take(&log), ["findAndModify", "findAndModify"]);
    client.database(&name).drop().await.unwrap();
}
