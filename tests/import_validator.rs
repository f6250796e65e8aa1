//! `dupkey::dedupe::check_import` and the collection's validator, against a real mongod:
//! rows the validator refuses are reported and accepted by no index.

mod support;

use std::sync::{Arc, Mutex};

use dupkey::dedupe::{check_import, Collider, ValidatorCheck};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{
    Collation, CollationStrength, IndexOptions, ValidationAction, ValidationLevel,
};
use mongodb::{Collection, Database, IndexModel};

async fn database(prefix: &str) -> Database {
    support::client()
        .await
        .database(&support::unique_db(prefix))
}

async fn unique_email(coll: &Collection<Document>) {
    let options = IndexOptions::builder().unique(true).build();
    coll.create_index(
        IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(options)
            .build(),
    )
    .await
    .expect("createIndexes");
}

/// Requires an email and a non-negative int age; status is "active" or "blocked", compared
/// under the collection's collation (case-insensitive).
fn validator() -> Document {
    doc! {
        "$jsonSchema": {
            "required": ["email"],
            "properties": { "age": { "bsonType": "int", "minimum": 0 } },
        },
        "status": { "$in": ["active", "blocked"] },
    }
}

/// Inserts `rows` one by one, in order, answering each refused position with its code.
async fn refused_by_server(coll: &Collection<Document>, rows: Vec<Document>) -> Vec<(u64, i32)> {
    let mut refused = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        if let Err(err) = coll.insert_one(row).await {
            let code = match &*err.kind {
                mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(e)) => {
                    e.code
                }
                other => panic!("{other:?}"),
            };
            refused.push((i as u64, code));
        }
    }
    refused
}

#[tokio::test]
async fn rows_the_validator_refuses_are_reported_and_take_no_key() {
    let db = database("import_validator").await;
    db.create_collection("users")
        .validator(validator())
        .validation_level(ValidationLevel::Moderate)
        .collation(
            Collation::builder()
                .locale("en")
                .strength(CollationStrength::Secondary)
                .build(),
        )
        .await
        .unwrap();
    let users = db.collection::<Document>("users");
    unique_email(&users).await;
    users
        .insert_one(doc! { "_id": 1, "email": "a", "status": "active" })
        .await
        .unwrap();
    let rows = vec![
        // 0: valid ("ACTIVE" under the collation).
        doc! { "email": "b", "status": "ACTIVE" },
        // 1: no email.
        doc! { "status": "active" },
        // 2: negative age; 3 then takes its email.
        doc! { "email": "c", "status": "active", "age": -1 },
        doc! { "email": "c", "status": "active", "age": 3 },
        // 4: a status the validator does not know.
        doc! { "email": "d", "status": "gone" },
        // 5: invalid, and its email and _id are stored 1's: reported on both counts.
        doc! { "_id": 1, "email": "a", "status": "gone" },
        // 6: collides with row 0.
        doc! { "email": "b", "status": "blocked" },
        // 7 and 8, in one batch: 8 repeats 7's _id, and fails the validator, which the
        // server checks first.
        doc! { "_id": 7, "email": "h", "status": "active" },
        doc! { "_id": 7, "email": "i", "status": "gone" },
    ];
    let told = Arc::new(Mutex::new(Vec::new()));
    let seen = told.clone();
    let check = check_import(&users, rows.clone())
        .batch_size(3)
        .on_invalid(move |r| seen.lock().unwrap().push(r.position()))
        .await
        .expect("check_import");
    assert_eq!(check.validator(), ValidatorCheck::Checked);
    let invalid: Vec<u64> = check.first_invalid().iter().map(|r| r.position()).collect();
    assert_eq!(invalid, [1, 2, 4, 5, 8]);
    assert_eq!(*told.lock().unwrap(), [1, 2, 4, 5, 8]);
    assert_eq!(check.rows_invalid(), 5);
    // The server's errInfo, without the `_id` the check gave a row that has none.
    let details = check.first_invalid()[0].details().expect("errInfo");
    assert!(!details.contains_key("failingDocumentId"), "{details:?}");
    assert!(
        format!("{details:?}").contains("missingProperties"),
        "{details:?}"
    );
    let details = check.first_invalid()[3].details().expect("errInfo");
    assert_eq!(details.get("failingDocumentId"), Some(&Bson::Int32(1)));
    let conflicts: Vec<(u64, String, Collider)> = check
        .first_conflicts()
        .iter()
        .map(|c| (c.position(), c.index().to_owned(), c.with().clone()))
        .collect();
    assert_eq!(
        conflicts,
        [
            (5, "_id_".to_owned(), Collider::Stored(Bson::Int32(1))),
            (5, "email_1".to_owned(), Collider::Stored(Bson::Int32(1))),
            (6, "email_1".to_owned(), Collider::Row(0)),
            (8, "_id_".to_owned(), Collider::Row(7)),
        ]
    );
    assert_eq!(check.rows_refused(), 6);
    assert!(!check.is_clean());
    assert_eq!(
        refused_by_server(&users, rows).await,
        [(1, 121), (2, 121), (4, 121), (5, 121), (6, 11000), (8, 121)]
    );
    assert_eq!(db.list_collection_names().await.unwrap(), ["users"]);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_validator_that_refuses_nothing_is_said_so() {
    let db = database("import_validator_off").await;
    db.create_collection("warns")
        .validator(validator())
        .validation_action(ValidationAction::Warn)
        .await
        .unwrap();
    db.create_collection("off")
        .validator(validator())
        .validation_level(ValidationLevel::Off)
        .await
        .unwrap();
    db.create_collection("none").await.unwrap();
    let rows = vec![
        doc! { "status": "gone" },
        doc! { "email": "a", "status": "active" },
    ];
    for (name, expected) in [
        ("warns", ValidatorCheck::NotEnforced),
        ("off", ValidatorCheck::NotEnforced),
        ("none", ValidatorCheck::NoValidator),
    ] {
        let coll = db.collection::<Document>(name);
        let check = check_import(&coll, rows.clone())
            .await
            .expect("check_import");
        assert_eq!(check.validator(), expected, "{name}");
        assert!(check.is_clean(), "{name}");
        assert_eq!(check.rows_invalid(), 0, "{name}");
        // The server takes both rows.
        coll.insert_many(rows.clone()).await.expect(name);
    }
    db.drop().await.unwrap();
}
