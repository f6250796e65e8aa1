//! Every shape a duplicate-key error of a write takes in the Rust driver (inserts, updates,
//! replacements, find-and-modify upserts, transactions), produced by a real mongod (6.0.5,
//! tests/support), read through `IsDuplicate` and checked getter by getter. Index builds,
//! special indexes and client `bulk_write`: `live_shapes_indexes.rs`.

mod support;

use dupkey::IsDuplicate;
use mongodb::bson::{doc, Document};
use mongodb::error::{Error, ErrorKind, WriteFailure};
use support::shapes::*;

#[tokio::test]
async fn insert_one() {
    let (db, users) = users("insert_one", vec![doc! { "email": ANN }]).await;
    let err = users.insert_one(doc! { "email": ANN }).await.unwrap_err();
    assert!(matches!(
        *err.kind,
        ErrorKind::Write(WriteFailure::WriteError(_))
    ));
    // The driver drops the reply of insert_one: everything comes from the message.
    assert!(err.server_response().is_none());
    check(&the_one(&err), &email(&db, ANN, None));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_many_ordered_stops_at_the_first_duplicate() {
    let seed = vec![doc! { "email": ANN }, doc! { "email": BOB }];
    let (db, users) = users("insert_many_ordered", seed).await;
    let batch = vec![
        doc! { "email": "carl@example.com" },
        doc! { "email": ANN },
        doc! { "email": "dora@example.com" },
        doc! { "email": BOB },
    ];
    let err = users.insert_many(batch).await.unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::InsertMany(_)));
    check(&the_one(&err), &email(&db, ANN, Some(1)));
    // Nothing after the first duplicate was written.
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 3);
    assert_eq!(
        users
            .count_documents(doc! { "email": "dora@example.com" })
            .await
            .unwrap(),
        0
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn insert_many_unordered_reports_every_duplicate_in_batch_order() {
    let seed = vec![
        doc! { "email": ANN },
        doc! { "email": BOB },
        doc! { "email": EVE },
    ];
    let (db, users) = users("insert_many_unordered", seed).await;
    let batch = vec![
        doc! { "email": ANN },
        doc! { "email": "carl@example.com" },
        doc! { "email": BOB },
        doc! { "email": "dora@example.com" },
        doc! { "email": EVE },
    ];
    let err = users.insert_many(batch).ordered(false).await.unwrap_err();
    assert!(err.is_duplicate());
    let dups = err.duplicate_keys();
    assert_eq!(dups.len(), 3);
    check(&dups[0], &email(&db, ANN, Some(0)));
    check(&dups[1], &email(&db, BOB, Some(2)));
    check(&dups[2], &email(&db, EVE, Some(4)));
    assert_eq!(err.duplicate_key(), Some(dups[0].clone()));
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 5);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn update_one() {
    let (db, users) = ann_and_bob("update_one").await;
    let err = users
        .update_one(doc! { "_id": 2 }, doc! { "$set": { "email": ANN } })
        .await
        .unwrap_err();
    assert!(matches!(
        *err.kind,
        ErrorKind::Write(WriteFailure::WriteError(_))
    ));
    check_with_reply(&err, &email(&db, ANN, None));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn update_many() {
    let (db, users) = ann_and_bob("update_many").await;
    let err = users
        .update_many(doc! {}, doc! { "$set": { "email": EVE } })
        .await
        .unwrap_err();
    assert!(matches!(
        *err.kind,
        ErrorKind::Write(WriteFailure::WriteError(_))
    ));
    check_with_reply(&err, &email(&db, EVE, None));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn replace_one() {
    let (db, users) = ann_and_bob("replace_one").await;
    let err = users
        .replace_one(doc! { "_id": 2 }, doc! { "email": ANN, "name": "Bob" })
        .await
        .unwrap_err();
    assert!(matches!(
        *err.kind,
        ErrorKind::Write(WriteFailure::WriteError(_))
    ));
    check_with_reply(&err, &email(&db, ANN, None));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn update_one_upsert() {
    let (db, users) = ann_and_bob("update_one_upsert").await;
    let err = users
        .update_one(doc! { "_id": 3 }, doc! { "$set": { "email": ANN } })
        .upsert(true)
        .await
        .unwrap_err();
    assert!(matches!(
        *err.kind,
        ErrorKind::Write(WriteFailure::WriteError(_))
    ));
    check_with_reply(&err, &email(&db, ANN, None));
    db.drop().await.unwrap();
}

/// findAndModify answers with a command error whose reply holds keyPattern/keyValue.
fn check_find_and_modify(err: &Error, want: &Want<'_>) {
    match &*err.kind {
        ErrorKind::Command(e) => {
            assert_eq!(e.code, 11000);
            assert_eq!(e.code_name, "DuplicateKey");
            assert!(
                e.message.starts_with(
                    "Plan executor error during findAndModify :: caused by :: E11000 "
                ),
                "{}",
                e.message
            );
        }
        other => panic!("expected a command error, got {other:?}"),
    }
    check_with_reply(err, want);
}

#[tokio::test]
async fn find_one_and_update_upsert() {
    let (db, users) = ann_and_bob("find_one_and_update").await;
    let err = users
        .find_one_and_update(doc! { "_id": 3 }, doc! { "$set": { "email": BOB } })
        .upsert(true)
        .await
        .unwrap_err();
    check_find_and_modify(&err, &email(&db, BOB, None));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn find_one_and_replace_upsert() {
    let (db, users) = ann_and_bob("find_one_and_replace").await;
    let err = users
        .find_one_and_replace(doc! { "_id": 3 }, doc! { "email": ANN })
        .upsert(true)
        .await
        .unwrap_err();
    check_find_and_modify(&err, &email(&db, ANN, None));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn transaction_duplicate_then_commit_fails_with_251() {
    let (db, users) = ann_and_bob("transaction").await;
    let client = support::client().await;
    let users_here = client.database(db.name()).collection::<Document>("users");
    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    users_here
        .insert_one(doc! { "email": "carl@example.com" })
        .session(&mut session)
        .await
        .unwrap();
    let err = users_here
        .insert_one(doc! { "email": ANN })
        .session(&mut session)
        .await
        .unwrap_err();
    check(&the_one(&err), &email(&db, ANN, None));

    // The duplicate aborted the transaction: commit says NoSuchTransaction, not a duplicate.
    let commit = session.commit_transaction().await.unwrap_err();
    match &*commit.kind {
        ErrorKind::Command(e) => {
            assert_eq!((e.code, e.code_name.as_str()), (251, "NoSuchTransaction"))
        }
        other => panic!("expected a command error, got {other:?}"),
    }
    assert!(commit.contains_label("TransientTransactionError"));
    assert!(!commit.is_duplicate());
    assert_eq!(commit.duplicate_key(), None);
    assert_eq!(commit.duplicate_keys(), []);
    // Nothing of the transaction was written.
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 2);
    db.drop().await.unwrap();
}
