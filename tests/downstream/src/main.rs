//! One live conflict through dupkey, from an application that chose its own driver features.
//!
//! Usage: `DUPKEY_URI=mongodb://127.0.0.1:PORT dupkey-downstream` (scripts/with-mongod.sh
//! starts a server and sets it).

use dupkey::prelude::*;
use dupkey::UpsertOutcome;
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Client, IndexModel};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let uri = std::env::var("DUPKEY_URI").map_err(|_| "DUPKEY_URI is not set")?;
    let client = Client::with_uri_str(&uri).await?;
    let db = client.database(&format!("downstream_{}", std::process::id()));
    let users = db.collection::<Document>("users");
    let unique = IndexOptions::builder().unique(true).build();
    let index = IndexModel::builder()
        .keys(doc! { "email": 1 })
        .options(unique)
        .build();
    users.create_index(index).await?;

    users
        .insert_one(doc! { "email": "ann@example.com" })
        .await?;
    let err = users
        .insert_one(doc! { "email": "ann@example.com" })
        .await
        .expect_err("the second insert collides");
    assert!(err.is_duplicate());

    let result = users
        .insert_or_conflict(doc! { "email": "ann@example.com" })
        .await;
    assert!(result.is_duplicate());
    let Err(dupkey::Error::Duplicate(dup)) = result else {
        panic!("the email is taken: {result:?}")
    };
    assert_eq!(dup.index(), Some("email_1"));
    assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));

    let filter = doc! { "email": "bob@example.com" };
    let first = users
        .upsert_by_unique(filter.clone(), doc! { "$set": { "n": 1 } })
        .await?;
    assert_eq!(first.outcome(), UpsertOutcome::Inserted);
    let second = users
        .upsert_by_unique(filter, doc! { "$set": { "n": 2 } })
        .await?;
    assert_eq!(second.outcome(), UpsertOutcome::Updated);
    assert!(second.previous()?.is_some());

    db.drop().await?;
    println!(
        "downstream ({}): one conflict, as a value: ok",
        bson_major()
    );
    Ok(())
}

/// Which bson `mongodb::bson` is; with `bson-3` on, only bson 3's names compile.
#[cfg(feature = "bson-3")]
fn bson_major() -> &'static str {
    let _ = mongodb::bson::serialize_to_document(&doc! {});
    "bson 3"
}

#[cfg(not(feature = "bson-3"))]
fn bson_major() -> &'static str {
    let _ = mongodb::bson::to_document(&doc! {});
    "bson 2"
}
