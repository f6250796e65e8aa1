//! A bulk import that inserts what it can and reports its duplicates, row by row.
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example bulk_import`
//!
//! Uses the database `dupkey_example_bulk_import` and drops it at the end. Works against a
//! standalone server or a replica set.

use std::error::Error;

use dupkey::prelude::*;
use dupkey::{InsertManyReport, Shell};
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
    let db = client.database("dupkey_example_bulk_import");
    db.drop().await?;
    let contacts = db.collection::<Document>("contacts");
    contacts
        .create_index(
            IndexModel::builder()
                .keys(doc! { "email": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await?;
    contacts
        .insert_one(doc! { "email": "old@example.com", "name": "Already There" })
        .await?;
    println!("bulk_import: unique index on contacts.email, one contact already stored");

    let result = async {
        // A CSV export, say: one row repeats another, one is already in the database.
        let rows = [
            ("ann@example.com", "Ann"),
            ("bob@example.com", "Bob"),
            ("ann@example.com", "Ann (again)"),
            ("old@example.com", "Old"),
            ("cid@example.com", "Cid"),
        ];
        let docs: Vec<Document> = rows
            .iter()
            .map(|(email, name)| doc! { "email": email, "name": name })
            .collect();
        println!("importing {} rows", docs.len());

        // Everything in is `Ok`; a report of what is not in is `Error::InsertMany`.
        let report: InsertManyReport = match contacts.insert_many_or_conflict(&docs).await {
            Ok(report) => report,
            Err(dupkey::Error::InsertMany(report)) if report.failures().is_empty() => *report,
            Err(other) => return Err(other.into()),
        };
        for (row, id) in report.inserted_ids() {
            println!("row {row}: inserted as {}", Shell(id));
        }
        for dup in report.duplicates() {
            let row = dup.position().ok_or("a batch duplicate has a position")?;
            let key = dup
                .key_value()
                .map_or("?".to_owned(), |k| Shell(k).to_string());
            println!(
                "row {row}: skipped, duplicate on index {} with {key}",
                dup.index().unwrap_or("?"),
            );
        }

        let inserted: Vec<usize> = report.inserted_ids().keys().copied().collect();
        check(inserted == [0, 1, 4], "rows 0, 1 and 4 are inserted")?;
        let skipped: Vec<(Option<usize>, Option<&Document>)> = report
            .duplicates()
            .iter()
            .map(|d| (d.position(), d.key_value()))
            .collect();
        check(
            skipped
                == [
                    (Some(2), Some(&doc! { "email": "ann@example.com" })),
                    (Some(3), Some(&doc! { "email": "old@example.com" })),
                ],
            "rows 2 and 3 are reported with their emails",
        )?;
        let count = contacts.count_documents(doc! {}).await?;
        println!("{count} contacts stored");
        check(count == 4, "four contacts are stored")
    }
    .await;

    db.drop().await?;
    println!("bulk_import: dropped {}", db.name());
    result
}
