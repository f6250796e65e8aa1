//! An idempotent upsert keyed by a unique index: run it twice, get one document.
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example upsert`
//!
//! Uses the database `dupkey_example_upsert` and drops it at the end. Works against a
//! standalone server or a replica set.

use std::error::Error;

use dupkey::prelude::*;
use dupkey::{Refusal, Shell, UpsertOutcome};
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Client, IndexModel};

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected: {what}").into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let uri = std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let client = Client::with_uri_str(&uri).await?;
    let db = client.database("dupkey_example_upsert");
    db.drop().await?;
    let products = db.collection::<Document>("products");
    products
        .create_index(
            IndexModel::builder()
                .keys(doc! { "vendor": 1, "sku": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await?;
    println!("upsert: unique index on products {{ vendor: 1, sku: 1 }}");

    let result = async {
        // The same sync message, delivered twice: the second changes nothing.
        let key = doc! { "vendor": "acme", "sku": "A-100" };
        let sync = doc! {
            "$set": { "name": "Anvil", "price": 99.5 },
            "$setOnInsert": { "first_seen": "2024-01-02" },
        };
        let mut ids = Vec::new();
        for delivery in 1..=2 {
            let upserted = products.upsert_by_unique(key.clone(), sync.clone()).await?;
            let before = upserted.previous()?;
            println!(
                "delivery {delivery}: {:?} product {} (before: {})",
                upserted.outcome(),
                Shell(upserted.id()),
                before
                    .as_ref()
                    .map_or("none".to_owned(), |d| Shell(d).to_string()),
            );
            let expected = if delivery == 1 {
                UpsertOutcome::Inserted
            } else {
                UpsertOutcome::Updated
            };
            check(
                upserted.outcome() == expected,
                "inserted once, then updated",
            )?;
            ids.push(upserted.id().clone());
        }
        check(ids[0] == ids[1], "both deliveries name the same product")?;
        let stored: Vec<Document> = {
            use futures_util::TryStreamExt;
            products.find(doc! {}).await?.try_collect().await?
        };
        for doc in &stored {
            println!("stored: {}", Shell(doc));
        }
        check(stored.len() == 1, "one product is stored")?;

        // A filter no unique index covers would let duplicates in: refused, nothing written.
        match products
            .upsert_by_unique(doc! { "name": "Anvil" }, sync.clone())
            .await
        {
            Err(dupkey::Error::Refused(refusal @ Refusal::NotUnique { .. })) => {
                println!("upsert by name -> refused: {refusal}")
            }
            other => return Err(format!("unexpected: upsert by name gave {other:?}").into()),
        }
        let count = products.count_documents(doc! {}).await?;
        check(count == 1, "the refused upsert wrote nothing")?;
        Ok(())
    }
    .await;

    db.drop().await?;
    println!("upsert: dropped {}", db.name());
    result
}
