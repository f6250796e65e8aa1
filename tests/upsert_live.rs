//! `upsert_by_unique`
//! against the real mongod from `tests/support` (a single-node replica set).

mod support;

use dupkey::prelude::*;
use dupkey::{Refusal, UpsertOutcome};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use support::{
    case_insensitive, race, recording_client, setup, take, unique_index, unique_index_with,
};

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
    assert!(
        matches!(err, dupkey::Error::Refused(Refusal::EmptyFilter)),
        "{err:?}"
    );

    let err = users
        .upsert_by_unique(doc! { "email": { "$in": ["a@b.c", "d@e.f"] } }, inc())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, dupkey::Error::Refused(Refusal::NotEquality { field, .. }) if field == "email"),
        "{err:?}"
    );

    let err = users
        .upsert_by_unique(doc! { "name": "Ann" }, inc())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, dupkey::Error::Refused(Refusal::NotUnique { fields, .. }) if fields == &["name"]),
        "{err:?}"
    );

    let err = users
        .upsert_by_unique(doc! { "email": "a@b.c", "name": "Ann" }, inc())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, dupkey::Error::Refused(Refusal::ExtraFields { index, extra, .. })
            if index == "email_1" && extra == &["name"]),
        "{err:?}"
    );

    let err = users
        .upsert_by_unique(doc! { "email": "a@b.c" }, doc! { "email": "a@b.c", "n": 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, dupkey::Error::Refused(Refusal::NotAnUpdate)),
        "{err:?}"
    );

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
    let dupkey::Error::Duplicate(dup) = &err else {
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
    let dupkey::Error::Duplicate(dup) = &err else {
        panic!("Duplicate expected: {err:?}")
    };
    assert_eq!(dup.index(), Some("email_1"));
    // The key that collided is the update's, as the server reports it.
    assert_eq!(dup.key_value(), Some(&doc! { "email": "b@example.com" }));
    db.drop().await.unwrap();
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
        let doc = coll
            .find_one(doc! { "_id": id })
            .await
            .unwrap()
            .expect("stored");
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
    assert!(
        matches!(err, dupkey::Error::Refused(Refusal::NotUnique { .. })),
        "{err:?}"
    );
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
