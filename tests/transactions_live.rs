//! The write helpers in sessions and transactions
//! against the real mongod from `tests/support` (a single-node replica set).

mod support;

use dupkey::prelude::*;
use dupkey::{DuplicateKey, UpsertOutcome};
use mongodb::bson::{doc, Bson, Document};
use support::{code, setup, unique_index, IntoDuplicate};

/// A fresh `users` collection with a unique index on `email` and one document holding `email`.
async fn users_holding(
    prefix: &str,
    email: &str,
) -> (
    mongodb::Client,
    mongodb::Database,
    mongodb::Collection<Document>,
) {
    let (client, db) = setup(prefix).await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    users.insert_one(doc! { "email": email }).await.unwrap();
    (client, db, users)
}

#[tokio::test]
async fn transaction_insert_conflict_ends_the_transaction() {
    let (client, db, users) = users_holding("txn_insert", "taken@example.com").await;

    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let ok = users
        .insert_or_conflict(doc! { "email": "new@example.com" })
        .session(&mut session)
        .await
        .unwrap();
    assert!(matches!(ok.inserted_id, Bson::ObjectId(_)));
    let dup = users
        .insert_or_conflict(doc! { "email": "taken@example.com" })
        .session(&mut session)
        .await
        .unwrap_err()
        .into_duplicate();
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
        .insert_or_conflict(doc! { "_id": 1, "email": "a@b.c" })
        .session(&mut session)
        .await
        .unwrap();
    let report = users
        .insert_many_or_conflict([
            doc! { "_id": 2, "email": "b@b.c" },
            doc! { "_id": 3, "email": "c@b.c" },
        ])
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(report.inserted_ids().len(), 2);
    assert!(report.duplicates().is_empty());
    let up = users
        .upsert_by_unique(doc! { "email": "a@b.c" }, doc! { "$set": { "v": 1 } })
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(
        (up.outcome(), up.id()),
        (UpsertOutcome::Updated, &Bson::Int32(1))
    );
    let up = users
        .upsert_by_unique(doc! { "email": "d@b.c" }, doc! { "$set": { "v": 4 } })
        .session(&mut session)
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
        .upsert_by_unique(
            doc! { "email": "ann@b.c" },
            doc! { "$setOnInsert": { "username": "bob" } },
        )
        .session(&mut session)
        .await
        .unwrap_err();
    let dupkey::Error::Duplicate(dup) = &err else {
        panic!("Duplicate expected: {err:?}")
    };
    assert_eq!(dup.index(), Some("username_1"));
    assert_eq!(
        code(&session.commit_transaction().await.unwrap_err()),
        Some(251)
    );

    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let err = users
        .insert_many_or_conflict([
            doc! { "_id": 1, "email": "x@b.c" },
            doc! { "_id": 2, "email": "bob@b.c" },
        ])
        .session(&mut session)
        .await
        .unwrap_err();
    let dupkey::Error::InsertMany(report) = &err else {
        panic!("a report expected: {err:?}")
    };
    let conflicts: Vec<_> = report
        .duplicates()
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
async fn and_run_callback_ends_at_the_conflict_and_runs_once() {
    let (client, db, users) = users_holding("txn_and_run", "taken@b.c").await;

    let runs = std::sync::atomic::AtomicUsize::new(0);
    let mut session = client.start_session().await.unwrap();
    let result: mongodb::error::Result<()> = session
        .start_transaction()
        .and_run2(async |session| {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            users
                .insert_one(doc! { "email": "first@b.c" })
                .session(&mut *session)
                .await?;
            // The natural `?`: the conflict ends the callback.
            users
                .insert_or_conflict(doc! { "email": "taken@b.c" })
                .session(session)
                .await?;
            Ok(())
        })
        .await;
    let err = result.unwrap_err();
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(err.is_duplicate());
    let dup = err.duplicate_key().unwrap();
    assert_eq!(dup.index(), Some("email_1"));
    assert_eq!(dup.key_value(), Some(&doc! { "email": "taken@b.c" }));
    assert_eq!(err.duplicate_keys(), [dup]);
    assert_eq!(
        support::documents(&users).await.len(),
        1,
        "the transaction's first insert is not kept"
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn and_run_callback_returns_a_duplicate_key_made_into_a_driver_error() {
    let (client, db, users) = users_holding("txn_custom", "taken@b.c").await;

    let mut session = client.start_session().await.unwrap();
    let result: mongodb::error::Result<()> = session
        .start_transaction()
        .and_run2(async |session| {
            match users
                .insert_or_conflict(doc! { "email": "taken@b.c" })
                .session(session)
                .await
            {
                Err(dupkey::Error::Duplicate(dup)) => Err(mongodb::error::Error::from(dup)),
                other => other.map(drop).map_err(Into::into),
            }
        })
        .await;
    let err = result.unwrap_err();
    let dup: DuplicateKey = err.duplicate_key().unwrap();
    assert_eq!(dup.key_value(), Some(&doc! { "email": "taken@b.c" }));
    db.drop().await.unwrap();
}
