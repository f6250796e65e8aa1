//! `upsert_by_unique` on partial, sparse and collated unique indexes, against the real mongod
//! from `tests/support`: 32 racing upserts per case. Outside a partial or sparse index two
//! racers would both insert, so such upserts are refused; inside, one document results.

mod support;

use dupkey::prelude::*;
use dupkey::{Refusal, UpsertOutcome};
use mongodb::bson::{doc, Document};
use mongodb::options::{Collation, IndexOptions};
use mongodb::Collection;
use support::{case_insensitive, race, setup, unique_index_with};

/// 32 upserts of `filter` with `update` at once.
async fn race_upserts(
    coll: &Collection<Document>,
    filter: Document,
    update: Document,
) -> Vec<Result<dupkey::Upserted<Document>, dupkey::Error>> {
    let tasks = (0..32)
        .map(|_| {
            let (coll, filter, update) = (coll.clone(), filter.clone(), update.clone());
            async move { coll.upsert_by_unique(filter, update).await }
        })
        .collect();
    race(coll, tasks).await
}

/// Every upsert succeeded, one inserted, all on one document that counts 32.
async fn assert_one_document(
    coll: &Collection<Document>,
    results: Vec<Result<dupkey::Upserted<Document>, dupkey::Error>>,
    key: Document,
) {
    let upserts: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every upsert succeeds"))
        .collect();
    let inserted = upserts
        .iter()
        .filter(|u| u.outcome() == UpsertOutcome::Inserted)
        .count();
    assert_eq!(inserted, 1);
    assert!(upserts.iter().all(|u| u.id() == upserts[0].id()));
    let simple = Collation::builder().locale("simple").build();
    let stored: Vec<Document> = support::documents(coll)
        .await
        .into_iter()
        .filter(|d| key.iter().all(|(k, v)| d.get(k) == Some(v)))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].get_i32("count"), Ok(32));
    assert_eq!(
        coll.count_documents(key).collation(simple).await.unwrap(),
        1
    );
}

fn partial_index() -> IndexOptions {
    IndexOptions::builder()
        .unique(true)
        .name("key_active".to_owned())
        .partial_filter_expression(doc! { "active": true })
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partial_index_32_upserts_inside_its_filter_one_document() {
    let (_client, db) = setup("ubu_partial_in").await;
    let coll = db.collection::<Document>("counters");
    unique_index_with(&coll, doc! { "key": 1 }, partial_index()).await;
    for round in 0..3 {
        let key = format!("k{round}");
        let results = race_upserts(
            &coll,
            doc! { "key": &key },
            doc! { "$inc": { "count": 1 }, "$setOnInsert": { "active": true } },
        )
        .await;
        assert_one_document(&coll, results, doc! { "key": &key }).await;
    }
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partial_index_32_upserts_outside_its_filter_refused_nothing_written() {
    let (_client, db) = setup("ubu_partial_out").await;
    let coll = db.collection::<Document>("counters");
    unique_index_with(&coll, doc! { "key": 1 }, partial_index()).await;
    for update in [
        doc! { "$inc": { "count": 1 } },
        doc! { "$inc": { "count": 1 }, "$setOnInsert": { "active": false } },
    ] {
        let results = race_upserts(&coll, doc! { "key": "k" }, update).await;
        for result in results {
            let err = result.expect_err("refused");
            assert!(
                matches!(
                    &err,
                    dupkey::Error::Refused(Refusal::OutsidePartialFilter { index, condition, .. })
                        if index == "key_active" && condition == "active"
                ),
                "{err:?}"
            );
        }
        assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 0);
    }
    // A refusal reads the list again first: a full unique index created since backs it.
    let full = IndexOptions::builder()
        .unique(true)
        .name("key_all".to_owned())
        .build();
    unique_index_with(&coll, doc! { "key": 1 }, full).await;
    let results = race_upserts(&coll, doc! { "key": "k" }, doc! { "$inc": { "count": 1 } }).await;
    assert_one_document(&coll, results, doc! { "key": "k" }).await;
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sparse_index_32_upserts_with_a_null_key_refused_nothing_written() {
    let (_client, db) = setup("ubu_sparse").await;
    let coll = db.collection::<Document>("users");
    let sparse = IndexOptions::builder()
        .unique(true)
        .sparse(true)
        .name("email_sparse".to_owned())
        .build();
    unique_index_with(&coll, doc! { "email": 1 }, sparse).await;
    // Keyless documents the null filter would also match.
    coll.insert_many([doc! { "name": "a" }, doc! { "name": "b" }])
        .await
        .unwrap();
    let results = race_upserts(
        &coll,
        doc! { "email": null },
        doc! { "$inc": { "count": 1 } },
    )
    .await;
    for result in results {
        let err = result.expect_err("refused");
        assert_eq!(err.to_string(), "upsert refused before writing", "{err:?}");
        assert!(
            matches!(
                &err,
                dupkey::Error::Refused(Refusal::SparseKeyMissing { index, field, .. })
                    if index == "email_sparse" && field == "email"
            ),
            "{err:?}"
        );
    }
    let stored = support::documents(&coll).await;
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|d| !d.contains_key("count")));

    // A key the sparse index holds: one document.
    let results = race_upserts(
        &coll,
        doc! { "email": "a@b.c" },
        doc! { "$inc": { "count": 1 } },
    )
    .await;
    assert_one_document(&coll, results, doc! { "email": "a@b.c" }).await;
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn index_collation_other_than_the_collections_32_upserts_one_document() {
    // The collection compares case-insensitively by default; the unique index byte-wise.
    // A query without the index's collation would take "bob" for "Bob".
    let (_client, db) = setup("ubu_coll_default").await;
    db.create_collection("users")
        .collation(case_insensitive())
        .await
        .unwrap();
    let coll = db.collection::<Document>("users");
    let simple = IndexOptions::builder()
        .unique(true)
        .collation(Collation::builder().locale("simple").build())
        .build();
    unique_index_with(&coll, doc! { "name": 1 }, simple).await;
    coll.insert_one(doc! { "name": "bob" }).await.unwrap();
    let results = race_upserts(
        &coll,
        doc! { "name": "Bob" },
        doc! { "$inc": { "count": 1 } },
    )
    .await;
    assert_one_document(&coll, results, doc! { "name": "Bob" }).await;
    let bob = support::documents(&coll)
        .await
        .into_iter()
        .find(|d| d.get_str("name") == Ok("bob"))
        .expect("bob is still there");
    assert!(!bob.contains_key("count"), "{bob:?}");
    db.drop().await.unwrap();
}
