//! `insert_many_or_conflict` against the real mongod from `tests/support` (a single-node
//! replica set).

mod support;

use dupkey::prelude::*;
use dupkey::InsertManyReport;
use mongodb::bson::{doc, Bson, Document};
use support::{recording_client, setup, take, unique_index};

fn report(result: Result<InsertManyReport, dupkey::Error>) -> InsertManyReport {
    match result {
        Err(dupkey::Error::InsertMany(report)) => *report,
        other => panic!("a report of what was not inserted expected: {other:?}"),
    }
}

#[tokio::test]
async fn inserts_what_it_can_and_reports_each_duplicate() {
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
    let result = users.insert_many_or_conflict(&rows).await;
    assert!(result.is_duplicate());
    assert_eq!(result.duplicate_keys().len(), 3);
    let report = report(result);

    let positions: Vec<usize> = report.inserted_ids().keys().copied().collect();
    assert_eq!(positions, [0, 2]);
    assert_eq!(report.inserted_ids()[&0], Bson::Int32(1));
    let generated = report.inserted_ids()[&2].clone();
    assert!(matches!(generated, Bson::ObjectId(_)));

    let seen: Vec<(Option<usize>, Option<&str>, Option<&Document>)> = report
        .duplicates()
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
    assert!(report.failures().is_empty());
    assert!(report.unconfirmed().is_empty());
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
async fn other_write_failures_are_reported_beside_the_duplicates() {
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
        doc! { "_id": 4, "age": 4 },
    ];
    let report = report(strict.insert_many_or_conflict(rows).await);
    assert_eq!(
        report.inserted_ids().keys().copied().collect::<Vec<_>>(),
        [0, 3]
    );
    let dups: Vec<_> = report.duplicates().iter().map(|d| d.position()).collect();
    assert_eq!(dups, [Some(1)]);
    let failures: Vec<(usize, i32)> = report
        .failures()
        .iter()
        .map(|e| (e.index, e.code))
        .collect();
    assert_eq!(failures, [(2, 121)]); // DocumentValidationFailure
    db.drop().await.unwrap();
}

#[tokio::test]
async fn batches_past_the_server_limit_keep_every_position() {
    let (_client, db) = setup("imoc_batches").await;
    let items = db.collection::<Document>("items");
    // More documents than one command takes (100,000): the duplicates sit past the first.
    let mut rows: Vec<Document> = (0..100_010).map(|n| doc! { "_id": n }).collect();
    rows.push(doc! { "_id": 3 });
    rows.push(doc! { "_id": 100_005 });
    let report = report(items.insert_many_or_conflict(&rows).await);
    assert_eq!(report.inserted_ids().len(), 100_010);
    let dups: Vec<_> = report
        .duplicates()
        .iter()
        .map(|d| (d.position(), d.key_value().cloned()))
        .collect();
    assert_eq!(
        dups,
        [
            (Some(100_010), Some(doc! { "_id": 3 })),
            (Some(100_011), Some(doc! { "_id": 100_005 }))
        ]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_clean_batch_is_ok_in_one_command_and_an_empty_one_sends_none() {
    let name = support::unique_db("imoc_ok");
    let (client, log) = recording_client(&name).await;
    let users = client.database(&name).collection::<Document>("users");
    let done = users
        .insert_many_or_conflict([doc! { "_id": 1 }, doc! { "_id": 2 }])
        .comment("import 7")
        .await
        .unwrap();
    assert_eq!(done.inserted_ids().len(), 2);
    assert!(done.duplicates().is_empty());
    let empty = users
        .insert_many_or_conflict(Vec::<Document>::new())
        .await
        .unwrap();
    assert!(empty.inserted_ids().is_empty());
    assert_eq!(take(&log), ["insert"]);
    client.database(&name).drop().await.unwrap();
}
