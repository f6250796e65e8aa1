//! `dupkey::dedupe::check_import` against a real mongod: rows against rows and stored
//! documents, on every unique index, compared as each index compares.

mod support;

use std::sync::{Arc, Mutex};

use dupkey::dedupe::{check_import, check_import_stream, Collider, DedupeError, RowConflict};
use futures_util::stream;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Collation, CollationStrength, IndexOptions};
use mongodb::{Collection, Database, IndexModel};

async fn database(prefix: &str) -> Database {
    support::client()
        .await
        .database(&support::unique_db(prefix))
}

async fn unique(coll: &Collection<Document>, keys: Document, options: IndexOptions) {
    let mut options = options;
    options.unique = Some(true);
    coll.create_index(IndexModel::builder().keys(keys).options(options).build())
        .await
        .expect("createIndexes");
}

fn en2() -> Collation {
    Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build()
}

/// (position, index, collider) of each conflict.
fn summary(conflicts: &[RowConflict]) -> Vec<(u64, String, Collider)> {
    conflicts
        .iter()
        .map(|c| (c.position(), c.index().to_owned(), c.with().clone()))
        .collect()
}

#[tokio::test]
async fn rows_collide_as_each_index_compares() {
    let db = database("import_compare").await;
    let users = db.collection::<Document>("users");
    // email: case-insensitive. (tenant, code): numbers by value, missing == null.
    // sku: only among active documents.
    unique(
        &users,
        doc! { "email": 1 },
        IndexOptions::builder().collation(en2()).build(),
    )
    .await;
    unique(
        &users,
        doc! { "tenant": 1, "code": 1 },
        IndexOptions::default(),
    )
    .await;
    unique(
        &users,
        doc! { "sku": 1 },
        IndexOptions::builder()
            .partial_filter_expression(doc! { "active": true })
            .build(),
    )
    .await;
    let stored = vec![
        doc! { "_id": 1, "email": "ann@example.com", "tenant": 1, "code": "a", "sku": "s1", "active": true },
        doc! { "_id": 2, "email": "bob@example.com", "code": "b", "sku": "s2", "active": false },
    ];
    users.insert_many(stored.clone()).await.expect("insert");

    let rows = vec![
        // 0: collides with stored 1 on email (case) and on (tenant, code) (1 == 1.0).
        doc! { "email": "ANN@example.com", "tenant": 1.0, "code": "a" },
        // 1: clean.
        doc! { "email": "cy@example.com", "tenant": 2, "code": "a" },
        // 2: collides with row 1 on email (case).
        doc! { "email": "CY@example.com", "tenant": 3, "code": "a" },
        // 3: (null, "b") collides with stored 2 (missing tenant).
        doc! { "email": "dee@example.com", "tenant": Bson::Null, "code": "b" },
        // 4: (2i64, "a") collides with row 1.
        doc! { "email": "eve@example.com", "tenant": 2i64, "code": "a" },
        // 5: sku s2 active collides with nothing (stored 2 is inactive); s1 inactive neither.
        doc! { "email": "fay@example.com", "tenant": 5, "code": "a", "sku": "s2", "active": true },
        doc! { "email": "gus@example.com", "tenant": 6, "code": "a", "sku": "s1", "active": false },
        // 7: sku s2 active collides with row 5.
        doc! { "email": "hal@example.com", "tenant": 7, "code": "a", "sku": "s2", "active": true },
        // 8: _id 2 collides with stored 2; 9: _id "x" with nothing; 10: _id "x" with row 9.
        doc! { "_id": 2, "email": "ida@example.com", "tenant": 8, "code": "a" },
        doc! { "_id": "x", "email": "jo@example.com", "tenant": 9, "code": "a" },
        doc! { "_id": "x", "email": "kim@example.com", "tenant": 10, "code": "a" },
    ];
    let streamed = Arc::new(Mutex::new(Vec::new()));
    let seen = streamed.clone();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let told = progress.clone();
    // Batches of 3: collisions across batches and within one.
    let check = check_import(&users, rows)
        .batch_size(3)
        .on_conflict(move |c| seen.lock().unwrap().push(c.clone()))
        .on_progress(move |p| told.lock().unwrap().push((p.rows(), p.finished())))
        .await
        .expect("check_import");

    let mut got = summary(check.first_conflicts());
    got.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let expected = vec![
        (0, "email_1".to_owned(), Collider::Stored(Bson::Int32(1))),
        (
            0,
            "tenant_1_code_1".to_owned(),
            Collider::Stored(Bson::Int32(1)),
        ),
        (2, "email_1".to_owned(), Collider::Row(1)),
        (
            3,
            "tenant_1_code_1".to_owned(),
            Collider::Stored(Bson::Int32(2)),
        ),
        (4, "tenant_1_code_1".to_owned(), Collider::Row(1)),
        (7, "sku_1".to_owned(), Collider::Row(5)),
        (8, "_id_".to_owned(), Collider::Stored(Bson::Int32(2))),
        (10, "_id_".to_owned(), Collider::Row(9)),
    ];
    assert_eq!(got, expected);
    assert_eq!(summary(&streamed.lock().unwrap()).len(), expected.len());
    assert_eq!(check.rows(), 11);
    assert_eq!(check.conflicts(), 8);
    assert_eq!(check.rows_refused(), 7);
    assert_eq!(check.with_stored(), 4);
    assert_eq!(check.with_rows(), 4);
    assert!(!check.is_clean());
    let mut indexes = check.indexes().to_vec();
    indexes.sort();
    assert_eq!(indexes, ["_id_", "email_1", "sku_1", "tenant_1_code_1"]);
    assert_eq!(
        *progress.lock().unwrap(),
        [(3, false), (6, false), (9, false), (11, false), (11, true)]
    );

    // Nothing was written to the target, and no scratch collection is left.
    assert_eq!(support::documents(&users).await, stored);
    assert_eq!(db.list_collection_names().await.unwrap(), ["users"]);

    // What the check says is what the import meets.
    let rows_again = check_rows_inserted(&users).await;
    assert_eq!(rows_again, vec![0, 2, 3, 4, 7, 8, 10]);
    db.drop().await.unwrap();
}

/// Inserts the same rows one by one, answering the positions refused: the check's promise.
async fn check_rows_inserted(users: &Collection<Document>) -> Vec<u64> {
    use dupkey::IsDuplicate;
    let rows = [
        doc! { "email": "ANN@example.com", "tenant": 1.0, "code": "a" },
        doc! { "email": "cy@example.com", "tenant": 2, "code": "a" },
        doc! { "email": "CY@example.com", "tenant": 3, "code": "a" },
        doc! { "email": "dee@example.com", "tenant": Bson::Null, "code": "b" },
        doc! { "email": "eve@example.com", "tenant": 2i64, "code": "a" },
        doc! { "email": "fay@example.com", "tenant": 5, "code": "a", "sku": "s2", "active": true },
        doc! { "email": "gus@example.com", "tenant": 6, "code": "a", "sku": "s1", "active": false },
        doc! { "email": "hal@example.com", "tenant": 7, "code": "a", "sku": "s2", "active": true },
        doc! { "_id": 2, "email": "ida@example.com", "tenant": 8, "code": "a" },
        doc! { "_id": "x", "email": "jo@example.com", "tenant": 9, "code": "a" },
        doc! { "_id": "x", "email": "kim@example.com", "tenant": 10, "code": "a" },
    ];
    let mut refused = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let result = users.insert_one(row).await;
        if result.is_duplicate() {
            refused.push(i as u64);
        } else {
            result.expect("insert");
        }
    }
    refused
}

#[tokio::test]
async fn a_streamed_import_is_checked_in_bounded_batches() {
    let db = database("import_stream").await;
    let users = db.collection::<Document>("users");
    unique(&users, doc! { "email": 1 }, IndexOptions::default()).await;
    // Stored: even numbers below 20,000.
    let stored: Vec<Document> = (0..10_000)
        .map(|i| doc! { "email": format!("u{}", i * 2) })
        .collect();
    users.insert_many(stored).await.expect("insert");
    // 30,000 rows: u0..u29999, then u0..u9 again (colliding with the first rows or stored).
    let rows = stream::iter(
        (0..30_000)
            .chain(0..10)
            .map(|i| doc! { "email": format!("u{i}") }),
    );
    let batches = Arc::new(Mutex::new(0u32));
    let count = batches.clone();
    let check = check_import_stream(&users, rows)
        .batch_size(1000)
        .max_reported(5)
        .on_progress(move |p| {
            if !p.finished() {
                *count.lock().unwrap() += 1;
            }
        })
        .await
        .expect("check_import");
    assert_eq!(check.rows(), 30_010);
    assert_eq!(*batches.lock().unwrap(), 31);
    // 10,000 rows collide with stored documents; of the last ten, the even ones too, the odd
    // ones with rows 1, 3, ...
    assert_eq!(check.with_stored(), 10_005);
    assert_eq!(check.with_rows(), 5);
    assert_eq!(check.conflicts(), 10_010);
    assert_eq!(check.first_conflicts().len(), 5);
    assert_eq!(check.first_conflicts()[0].position(), 0);
    assert_eq!(users.estimated_document_count().await.unwrap(), 10_000);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_clean_import_and_bad_input() {
    let db = database("import_edges").await;
    let users = db.collection::<Document>("users");
    unique(&users, doc! { "email": 1 }, IndexOptions::default()).await;
    let check = check_import(&users, (0..100).map(|i| doc! { "email": i }))
        .await
        .expect("check_import");
    assert!(check.is_clean());
    assert_eq!(check.rows(), 100);
    // Rows without _id are not checked on _id_, but the index is listed.
    assert!(check.indexes().contains(&"_id_".to_owned()));

    let missing = db.collection::<Document>("missing");
    let err = check_import(&missing, vec![doc! {}]).await.unwrap_err();
    assert!(
        matches!(err, DedupeError::CollectionNotFound { .. }),
        "{err:?}"
    );
    let err = check_import(&users, vec![doc! {}])
        .batch_size(0)
        .await
        .unwrap_err();
    assert!(matches!(err, DedupeError::ZeroLimit { .. }), "{err:?}");
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_failed_check_drops_its_scratch_collections() {
    let db = database("import_fail").await;
    let places = db.collection::<Document>("places");
    unique(&places, doc! { "at": "2dsphere" }, IndexOptions::default()).await;
    let rows = vec![
        doc! { "at": { "type": "Point", "coordinates": [1.0, 2.0] } },
        doc! { "at": { "type": "Point", "coordinates": "not a point" } },
    ];
    let err = check_import(&places, rows).await.unwrap_err();
    assert!(
        matches!(
            err,
            DedupeError::Driver {
                operation: "insert",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(db.list_collection_names().await.unwrap(), ["places"]);
    db.drop().await.unwrap();
}

/// Inserts `rows` one by one, in order, answering the positions the server refuses (and
/// undoing nothing): what the check promises to predict.
async fn refused_by_server(coll: &Collection<Document>, rows: Vec<Document>) -> Vec<u64> {
    let mut refused = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        if coll.insert_one(row).await.is_err() {
            refused.push(i as u64);
        }
    }
    refused
}

#[tokio::test]
async fn a_row_refused_by_one_index_makes_no_later_row_collide_on_another() {
    let db = database("import_cross").await;
    let users = db.collection::<Document>("users");
    unique(&users, doc! { "email": 1 }, IndexOptions::default()).await;
    unique(&users, doc! { "name": 1 }, IndexOptions::default()).await;
    users
        .insert_one(doc! { "_id": 1, "email": "a", "name": "ann" })
        .await
        .unwrap();
    let rows = vec![
        // 0: refused on email (stored 1): its name "bob" is not taken.
        doc! { "email": "a", "name": "bob" },
        // 1: accepted, so it takes "bob" and "b".
        doc! { "email": "b", "name": "bob" },
        // 2 and 3: collide with row 1, on name and on email.
        doc! { "email": "c", "name": "bob" },
        doc! { "email": "b", "name": "cy" },
        // 4: refused on name (stored 1): its _id 5 is not taken.
        doc! { "_id": 5, "email": "d", "name": "ann" },
        // 5: accepted with _id 5 and "e"; 6 collides with it on email.
        doc! { "_id": 5, "email": "e", "name": "dee" },
        doc! { "email": "e", "name": "eve" },
        // 7: refused on email (stored 1); 8 then takes "gus": 7 does not collide with 8,
        // which comes after it.
        doc! { "email": "a", "name": "gus" },
        doc! { "email": "g", "name": "gus" },
    ];
    // Batches of 2: refusals that free a key for a row of the same batch and of a later one.
    let check = check_import(&users, rows.clone())
        .batch_size(2)
        .await
        .expect("check_import");
    assert_eq!(
        summary(check.first_conflicts()),
        [
            (0, "email_1".to_owned(), Collider::Stored(Bson::Int32(1))),
            (2, "name_1".to_owned(), Collider::Row(1)),
            (3, "email_1".to_owned(), Collider::Row(1)),
            (4, "name_1".to_owned(), Collider::Stored(Bson::Int32(1))),
            (6, "email_1".to_owned(), Collider::Row(5)),
            (7, "email_1".to_owned(), Collider::Stored(Bson::Int32(1))),
        ]
    );
    assert_eq!(check.rows_refused(), 6);
    assert_eq!(check.conflicts(), 6);
    assert_eq!((check.with_rows(), check.with_stored()), (3, 3));
    assert_eq!(
        refused_by_server(&users, rows).await,
        [0, 2, 3, 4, 6, 7],
        "the check names the rows the server refuses"
    );
    assert_eq!(db.list_collection_names().await.unwrap(), ["users"]);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_refused_row_collides_only_on_the_indexes_that_hold_it() {
    let db = database("import_members").await;
    let users = db.collection::<Document>("users");
    unique(&users, doc! { "email": 1 }, IndexOptions::default()).await;
    // sku: among active documents; code: sparse (a missing code is not indexed, null is).
    unique(
        &users,
        doc! { "sku": 1 },
        IndexOptions::builder()
            .partial_filter_expression(doc! { "active": true })
            .build(),
    )
    .await;
    unique(
        &users,
        doc! { "code": 1 },
        IndexOptions::builder().sparse(true).build(),
    )
    .await;
    users
        .insert_many(vec![
            doc! { "_id": 1, "email": "a", "sku": "s", "active": true },
            doc! { "_id": 2, "email": "z" },
            doc! { "_id": 3, "email": "y", "code": Bson::Null },
        ])
        .await
        .unwrap();
    let rows = vec![
        // 0: email only; it is not active, so not held by sku_1.
        doc! { "email": "a", "sku": "s", "active": false },
        // 1: email and sku.
        doc! { "email": "a", "sku": "s", "active": true },
        // 2: email only; without code it is not held by code_1.
        doc! { "email": "z" },
        // 3: email and code (null is held by a sparse index).
        doc! { "email": "y", "code": Bson::Null },
    ];
    let check = check_import(&users, rows.clone())
        .await
        .expect("check_import");
    assert_eq!(
        summary(check.first_conflicts()),
        [
            (0, "email_1".to_owned(), Collider::Stored(Bson::Int32(1))),
            (1, "email_1".to_owned(), Collider::Stored(Bson::Int32(1))),
            (1, "sku_1".to_owned(), Collider::Stored(Bson::Int32(1))),
            (2, "email_1".to_owned(), Collider::Stored(Bson::Int32(2))),
            (3, "email_1".to_owned(), Collider::Stored(Bson::Int32(3))),
            (3, "code_1".to_owned(), Collider::Stored(Bson::Int32(3))),
        ]
    );
    assert_eq!(check.rows_refused(), 4);
    assert_eq!(refused_by_server(&users, rows).await, [0, 1, 2, 3]);
    assert_eq!(db.list_collection_names().await.unwrap(), ["users"]);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn stored_duplicates_under_prepare_unique_keep_their_other_keys() {
    let db = database("import_prepared").await;
    let users = db.collection::<Document>("users");
    unique(&users, doc! { "name": 1 }, IndexOptions::default()).await;
    users
        .create_index(IndexModel::builder().keys(doc! { "email": 1 }).build())
        .await
        .unwrap();
    // Two stored documents share an email before the index is prepared to become unique.
    users
        .insert_many(vec![
            doc! { "_id": 1, "email": "a", "name": "ann" },
            doc! { "_id": 2, "email": "a", "name": "bob" },
        ])
        .await
        .unwrap();
    db.run_command(doc! { "collMod": "users", "index": { "keyPattern": { "email": 1 }, "prepareUnique": true } })
        .await
        .unwrap();
    let rows = vec![
        // 0: the shared email; 1: bob's name; 2: clean.
        doc! { "email": "a", "name": "cy" },
        doc! { "email": "b", "name": "bob" },
        doc! { "email": "c", "name": "dee" },
    ];
    let check = check_import(&users, rows.clone())
        .await
        .expect("check_import");
    let got = summary(check.first_conflicts());
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, got[0].1.as_str()), (0, "email_1"));
    assert!(
        matches!(&got[0].2, Collider::Stored(id) if [Bson::Int32(1), Bson::Int32(2)].contains(id)),
        "{got:?}"
    );
    assert_eq!(
        got[1],
        (1, "name_1".to_owned(), Collider::Stored(Bson::Int32(2)))
    );
    assert_eq!(refused_by_server(&users, rows).await, [0, 1]);
    assert_eq!(db.list_collection_names().await.unwrap(), ["users"]);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn an_index_keeps_its_own_collation_on_a_collated_collection() {
    let db = database("import_collated").await;
    db.create_collection("users")
        .collation(en2())
        .await
        .unwrap();
    let users = db.collection::<Document>("users");
    // email: byte-wise although the collection is case-insensitive; name inherits en/2.
    unique(
        &users,
        doc! { "email": 1 },
        IndexOptions::builder()
            .collation(Collation::builder().locale("simple").build())
            .build(),
    )
    .await;
    unique(&users, doc! { "name": 1 }, IndexOptions::default()).await;
    users
        .insert_one(doc! { "_id": "x", "email": "a", "name": "ann" })
        .await
        .unwrap();
    let rows = vec![
        // 0: "A" is not "a" byte-wise: clean.
        doc! { "_id": "y", "email": "A", "name": "bob" },
        // 1: _id "X" is stored "x" under the collection's collation.
        doc! { "_id": "X", "email": "c", "name": "cy" },
        // 2: "ANN" is "ann" under the name index's inherited collation.
        doc! { "_id": "z", "email": "d", "name": "ANN" },
    ];
    let check = check_import(&users, rows.clone())
        .await
        .expect("check_import");
    assert_eq!(
        summary(check.first_conflicts()),
        [
            (1, "_id_".to_owned(), Collider::Stored(Bson::from("x"))),
            (2, "name_1".to_owned(), Collider::Stored(Bson::from("x"))),
        ]
    );
    assert_eq!(refused_by_server(&users, rows).await, [1, 2]);
    db.drop().await.unwrap();
}
