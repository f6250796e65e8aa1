//! Duplicate-key errors of index builds and of special indexes (2dsphere, text, collated),
//! client `bulk_write`, and batches over one MiB, produced by a real mongod (6.0.5,
//! tests/support), read through `IsDuplicate`.
//!
//! Client `bulk_write` needs MongoDB 8.0, which is not to be had here: its error is built from
//! the driver's public types instead.

mod support;

use std::collections::HashMap;

use dupkey::{DuplicateKey, IsDuplicate};
use mongodb::bson::{doc, from_document, Document};
use mongodb::error::{BulkWriteError, Error, ErrorKind, WriteError};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use support::shapes::*;

#[tokio::test]
async fn create_unique_index_over_duplicates() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("create_index"));
    let users = db.collection::<Document>("users");
    users
        .insert_many([
            doc! { "_id": 1, "tenant": 7, "email": ANN },
            doc! { "_id": 2, "tenant": 7, "email": ANN },
        ])
        .await
        .unwrap();
    let err = users
        .create_index(unique(doc! { "tenant": 1, "email": -1 }))
        .await
        .unwrap_err();
    match &*err.kind {
        ErrorKind::Command(e) => {
            assert_eq!((e.code, e.code_name.as_str()), (11000, "DuplicateKey"));
            assert!(
                e.message.starts_with("Index build failed: "),
                "{}",
                e.message
            );
            assert!(
                e.message
                    .contains(" :: caused by :: E11000 duplicate key error "),
                "{}",
                e.message
            );
        }
        other => panic!("expected a command error, got {other:?}"),
    }
    let want = Want {
        db: &db,
        coll: "users",
        index: "tenant_1_email_-1",
        fields: &["tenant", "email"],
        key_pattern: doc! { "tenant": 1, "email": -1 },
        key_value: doc! { "tenant": 7, "email": ANN },
        position: None,
        secret: ANN,
    };
    check_with_reply(&err, &want);
    db.drop().await.unwrap();
}

/// A fresh `users` collection with one unique index (keys, extra options) and seed documents.
async fn indexed(
    prefix: &str,
    keys: Document,
    options: Document,
    seed: Vec<Document>,
) -> (Database, Collection<Document>) {
    let client = support::client().await;
    let db = client.database(&support::unique_db(prefix));
    let users = db.collection::<Document>("users");
    let mut options = options;
    options.insert("unique", true);
    let options: IndexOptions = from_document(options).unwrap();
    users
        .create_index(IndexModel::builder().keys(keys).options(options).build())
        .await
        .unwrap();
    users.insert_many(seed).await.unwrap();
    (db, users)
}

/// A 2dsphere key is an S2 cell, not the point written: no key value, even from the reply.
#[tokio::test]
async fn update_one_on_a_2dsphere_index() {
    let point = |x: f64, y: f64| doc! { "type": "Point", "coordinates": [x, y] };
    let seed = vec![
        doc! { "_id": 1, "g": point(1.5, 2.5) },
        doc! { "_id": 2, "g": point(3.0, 4.0) },
    ];
    let (db, users) = indexed("sphere", doc! { "g": "2dsphere" }, doc! {}, seed).await;
    let err = users
        .update_one(doc! { "_id": 2 }, doc! { "$set": { "g": point(1.5, 2.5) } })
        .await
        .unwrap_err();
    let dup = the_one(&err);
    assert_eq!(dup.database(), Some(db.name()));
    assert_eq!(dup.collection(), Some("users"));
    assert_eq!(dup.index(), Some("g_2dsphere"));
    assert_eq!(dup.fields().collect::<Vec<_>>(), ["g"]);
    assert_eq!(dup.key_pattern(), Some(&doc! { "g": "2dsphere" }));
    assert_eq!(dup.key_value(), None);
    db.drop().await.unwrap();
}

/// A text index keys terms (`_fts`) and scores (`_ftsx`): no key value.
#[tokio::test]
async fn replace_one_on_a_text_index() {
    let seed = vec![
        doc! { "_id": 1, "t": "hello" },
        doc! { "_id": 2, "t": "world" },
    ];
    let (db, users) = indexed("text", doc! { "t": "text" }, doc! {}, seed).await;
    let err = users
        .replace_one(doc! { "_id": 2 }, doc! { "t": "hello" })
        .await
        .unwrap_err();
    let dup = the_one(&err);
    assert_eq!(dup.index(), Some("t_text"));
    assert_eq!(dup.fields().collect::<Vec<_>>(), ["_fts", "_ftsx"]);
    assert_eq!(
        dup.key_pattern(),
        Some(&doc! { "_fts": "text", "_ftsx": 1 })
    );
    assert_eq!(dup.key_value(), None);
    db.drop().await.unwrap();
}

fn collation_en_2() -> Document {
    doc! {
        "locale": "en", "caseLevel": false, "caseFirst": "off", "strength": 2,
        "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
        "normalization": false, "backwards": false, "version": "57.1",
    }
}

/// Under a collation the reply's string keys are collation keys: no value; numbers stay.
#[tokio::test]
async fn update_one_on_a_collated_index() {
    let options = doc! { "collation": { "locale": "en", "strength": 2 } };
    let seed = vec![
        doc! { "_id": 1, "name": "Ann", "n": 5 },
        doc! { "_id": 2, "name": "Bob", "n": 6 },
    ];
    let (db, users) = indexed(
        "collated",
        doc! { "name": 1 },
        options.clone(),
        seed.clone(),
    )
    .await;
    let err = users
        .update_one(doc! { "_id": 2 }, doc! { "$set": { "name": "ANN" } })
        .await
        .unwrap_err();
    let dup = the_one(&err);
    assert_eq!(dup.index(), Some("name_1"));
    assert_eq!(dup.fields().collect::<Vec<_>>(), ["name"]);
    assert_eq!(dup.key_pattern(), Some(&doc! { "name": 1 }));
    assert_eq!(dup.collation(), Some(&collation_en_2()));
    assert_eq!(dup.key_value(), None);
    assert!(!dup.to_string().contains("ANN"));
    db.drop().await.unwrap();

    let (db, users) = indexed("collated_n", doc! { "n": 1 }, options, seed).await;
    let err = users
        .update_one(doc! { "_id": 2 }, doc! { "$set": { "n": 5 } })
        .await
        .unwrap_err();
    let dup = the_one(&err);
    assert_eq!(dup.index(), Some("n_1"));
    assert_eq!(dup.collation(), Some(&collation_en_2()));
    assert_eq!(dup.key_value(), Some(&doc! { "n": 5 }));
    db.drop().await.unwrap();
}

fn write_error(code: i32, message: &str) -> WriteError {
    from_document(doc! { "code": code, "errmsg": message }).expect("a write error")
}

fn dup_message(db: &str, value: &str) -> String {
    format!("E11000 duplicate key error collection: {db}.users index: email_1 dup key: {{ email: \"{value}\" }}")
}

/// Client `bulk_write` (8.0+): its errors sit in a map, the duplicates come out sorted.
#[test]
fn client_bulk_write_duplicates_in_batch_order() {
    let mut bulk = BulkWriteError::default();
    bulk.write_errors = HashMap::from([
        (9, write_error(11000, &dup_message("shop", EVE))),
        (5, write_error(11000, &dup_message("shop", BOB))),
        (3, write_error(121, "Document failed validation")),
        (2, write_error(11000, &dup_message("shop", ANN))),
        (7, write_error(11000, "")),
    ]);
    let err = Error::from(ErrorKind::BulkWrite(bulk));
    assert!(err.is_duplicate());
    let dups = err.duplicate_keys();
    let positions: Vec<_> = dups.iter().map(DuplicateKey::position).collect();
    assert_eq!(positions, [Some(2), Some(5), Some(7), Some(9)]);
    let values: Vec<_> = dups.iter().map(|d| d.key_value().cloned()).collect();
    assert_eq!(
        values,
        [
            Some(doc! { "email": ANN }),
            Some(doc! { "email": BOB }),
            None, // the server left the message out: nothing but the code and the place
            Some(doc! { "email": EVE }),
        ]
    );
    for dup in [&dups[0], &dups[1], &dups[3]] {
        assert_eq!(dup.database(), Some("shop"));
        assert_eq!(dup.collection(), Some("users"));
        assert_eq!(dup.index(), Some("email_1"));
        assert_eq!(dup.fields().collect::<Vec<_>>(), ["email"]);
        assert_eq!(dup.key_pattern(), Some(&doc! { "email": 1 }));
        assert_eq!(
            dup.to_string(),
            r#"duplicate key for index "email_1" in "shop.users""#
        );
    }
    assert_eq!(dups[2].message(), "");
    assert_eq!(dups[2].database(), None);
    assert_eq!(dups[2].fields().collect::<Vec<_>>(), Vec::<&str>::new());
    // The first duplicate is the first in batch order, whatever the map's order.
    assert_eq!(err.duplicate_key(), Some(dups[0].clone()));
    assert_eq!(DuplicateKey::from_error(&err), Some(dups[0].clone()));

    let mut other = BulkWriteError::default();
    other.write_errors = HashMap::from([(0, write_error(121, "Document failed validation"))]);
    let other = Error::from(ErrorKind::BulkWrite(other));
    assert!(!other.is_duplicate());
    assert_eq!(other.duplicate_key(), None);
    assert_eq!(other.duplicate_keys(), []);
}

/// A large unordered batch: from the third write error of a reply on, the server (6.0.5) sends
/// an empty `errmsg` in place of any message over 1 MiB. Each such write is still a duplicate,
/// known by its code and its place. (A dup-key message passes 1 MiB through a long index name:
/// values are cut, names are not.)
#[tokio::test]
async fn unordered_batch_with_messages_over_one_mib() {
    const N: i32 = 5;
    let client = support::client().await;
    let db = client.database(&support::unique_db("big_messages"));
    let users = db.collection::<Document>("users");
    let name = format!("big {}", "n".repeat(1 << 20));
    let options = IndexOptions::builder()
        .unique(true)
        .name(name.clone())
        .build();
    let index = IndexModel::builder()
        .keys(doc! { "k": 1 })
        .options(options)
        .build();
    users.create_index(index).await.unwrap();
    let batch: Vec<Document> = (0..N).map(|i| doc! { "k": i }).collect();
    users.insert_many(batch.clone()).await.unwrap();
    let err = users.insert_many(batch).ordered(false).await.unwrap_err();
    assert!(err.is_duplicate());

    let dups = err.duplicate_keys();
    let positions: Vec<_> = dups.iter().map(DuplicateKey::position).collect();
    assert_eq!(positions, [Some(0), Some(1), Some(2), Some(3), Some(4)]);
    let sizes: Vec<_> = dups.iter().map(|d| d.message().len() > 1 << 20).collect();
    assert_eq!(sizes, [true, true, false, false, false]);
    for (i, dup) in dups.iter().enumerate() {
        assert!(dup.is_duplicate());
        if i < 2 {
            assert_eq!(dup.database(), Some(db.name()));
            assert_eq!(dup.collection(), Some("users"));
            assert_eq!(dup.index(), Some(name.as_str()));
            assert_eq!(dup.fields().collect::<Vec<_>>(), ["k"]);
            assert_eq!(dup.key_pattern(), None); // not a default name
            assert_eq!(dup.key_value(), Some(&doc! { "k": i as i32 }));
            assert_eq!(
                dup.to_string(),
                format!(
                    "duplicate key for index {name:?} in \"{}.users\"",
                    db.name()
                )
            );
        } else {
            assert_eq!(dup.message(), "");
            assert_eq!(
                (dup.database(), dup.collection(), dup.index()),
                (None, None, None)
            );
            assert_eq!(dup.fields().collect::<Vec<_>>(), Vec::<&str>::new());
            assert_eq!(
                (dup.key_pattern(), dup.key_value(), dup.collation()),
                (None, None, None)
            );
            assert_eq!(dup.to_string(), "duplicate key");
        }
    }
    assert_eq!(err.duplicate_key(), Some(dups[0].clone()));
    db.drop().await.unwrap();
}
