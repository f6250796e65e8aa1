//! The core in one run: real duplicate-key errors from a real server, read into
//! `DuplicateKey` values.
//!
//! ```sh
//! bash scripts/demo.sh demo                       # starts a local mongod, runs this
//! MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example demo
//! ```

use dupkey::{IsDuplicate, Shell};
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Client, IndexModel};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let uri = std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let client = Client::with_uri_str(&uri).await?;
    let db = client.database("dupkey_demo");
    db.drop().await?;
    let users = db.collection::<Document>("users");
    users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "tenant": 1, "email": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await?;
    users
        .insert_one(doc! { "_id": 1, "tenant": 7, "email": "ann@example.com" })
        .await?;

    // insert_one: the driver drops the server's reply, so the message is the source.
    let err = users
        .insert_one(doc! { "_id": 2, "tenant": 7, "email": "ann@example.com" })
        .await
        .expect_err("a duplicate");
    show("insert_one", &err);

    // insert_many (unordered): one DuplicateKey per rejected document, with its position.
    let err = users
        .insert_many([
            doc! { "_id": 3, "tenant": 7, "email": "bob@example.com" },
            doc! { "_id": 1, "tenant": 8, "email": "cy@example.com" },
            doc! { "_id": 4, "tenant": 7, "email": "ann@example.com" },
        ])
        .ordered(false)
        .await
        .expect_err("duplicates");
    show("insert_many", &err);

    // update_one: here the server's keyPattern/keyValue come through.
    let err = users
        .update_one(
            doc! { "_id": 3 },
            doc! { "$set": { "email": "ann@example.com" } },
        )
        .await
        .expect_err("a duplicate");
    show("update_one", &err);

    // Anything that is not a duplicate says so, without allocating.
    let err = db
        .run_command(doc! { "noSuchCommand": 1 })
        .await
        .expect_err("an error");
    println!("\nnoSuchCommand: is_duplicate() = {}", err.is_duplicate());
    assert!(!err.is_duplicate());

    db.drop().await?;
    Ok(())
}

fn show(what: &str, err: &mongodb::error::Error) {
    assert!(err.is_duplicate(), "{what}: {err}");
    println!("\n{what}: is_duplicate() = true");
    for dup in err.duplicate_keys() {
        println!("  {dup}");
        let fields: Vec<&str> = dup.fields().collect();
        println!(
            "    index {}, fields {}, position {}",
            dup.index().unwrap_or("-"),
            fields.join(", "),
            dup.position().map_or("-".to_owned(), |p| p.to_string()),
        );
        let shell = |doc: Option<&mongodb::bson::Document>| {
            doc.map_or("-".to_owned(), |d| Shell(d).to_string())
        };
        println!("    key_pattern {}", shell(dup.key_pattern()));
        println!("    key_value   {}", shell(dup.key_value()));
    }
}
