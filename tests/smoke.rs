//! A live smoke test for every feature combination CI checks (`.ci/run`, scripts/matrix.sh):
//! one conflict through each of `IsDuplicate`, `insert_or_conflict` and `upsert_by_unique`,
//! against a real mongod. The full suite runs on the default features only.

mod support;

use dupkey::{InsertOrConflict, IsDuplicate, UpsertByUnique, UpsertOutcome};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

#[tokio::test]
async fn one_conflict_through_each_entry_point() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("smoke"));
    let users = db.collection::<Document>("users");
    let unique = IndexOptions::builder().unique(true).build();
    let index = IndexModel::builder()
        .keys(doc! { "email": 1 })
        .options(unique)
        .build();
    users.create_index(index).await.unwrap();

    // IsDuplicate on the driver's own error.
    users
        .insert_one(doc! { "email": "ann@example.com" })
        .await
        .unwrap();
    let err = users
        .insert_one(doc! { "email": "ann@example.com" })
        .await
        .unwrap_err();
    assert!(err.is_duplicate());
    let dup = err.duplicate_key().unwrap();
    assert_eq!(dup.index(), Some("email_1"));
    assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));

    // insert_or_conflict: the conflict is a value, with the exact key.
    let result = users
        .insert_or_conflict(doc! { "email": "ann@example.com", "n": 2 })
        .await;
    assert!(result.is_duplicate());
    let Err(dupkey::Error::Duplicate(dup)) = result else {
        panic!("the email is taken: {result:?}")
    };
    assert_eq!(dup.index(), Some("email_1"));
    assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));

    // upsert_by_unique: inserts once, then updates the same document.
    let filter = doc! { "email": "bob@example.com" };
    let first = users
        .upsert_by_unique(filter.clone(), doc! { "$set": { "n": 1 } })
        .await
        .unwrap();
    assert_eq!(first.outcome(), UpsertOutcome::Inserted);
    let second = users
        .upsert_by_unique(filter.clone(), doc! { "$set": { "n": 2 } })
        .await
        .unwrap();
    assert_eq!(second.outcome(), UpsertOutcome::Updated);
    assert_eq!(second.id(), first.id());
    let before = second.previous().unwrap().expect("an update has a before");
    assert_eq!(before.get("n"), Some(&Bson::Int32(1)));
    assert_eq!(users.count_documents(filter).await.unwrap(), 1);

    db.drop().await.unwrap();
}
