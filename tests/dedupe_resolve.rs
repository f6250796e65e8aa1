//! Merge, re-key, the archive and restore against a real mongod.

mod support;

use std::time::Duration;

use dupkey::dedupe::{
    create_unique_index, merge_duplicates, rekey_duplicates, remove_duplicates, restore, Archive,
    DedupeError, Keep, Merge, Rekey, UniqueIndex,
};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Collation, CollationStrength};
use mongodb::{Collection, Database};

async fn setup(prefix: &str, docs: Vec<Document>) -> (Database, Collection<Document>, Archive) {
    let db = support::client()
        .await
        .database(&support::unique_db(prefix));
    let coll = db.collection::<Document>("users");
    coll.insert_many(docs).await.unwrap();
    let archive = Archive::new(&db.collection::<()>("archive"), "run-1");
    (db, coll, archive)
}

async fn archived(db: &Database) -> Vec<Document> {
    let buckets = support::documents(&db.collection::<Document>("archive")).await;
    buckets
        .into_iter()
        // The run record has no entries.
        .filter(|b| b.contains_key("entries"))
        .flat_map(|mut b| {
            assert_eq!(b.get_str("run").unwrap(), "run-1");
            let entries = b.get_array_mut("entries").unwrap();
            std::mem::take(entries)
        })
        .map(|e| match e {
            Bson::Document(d) => d,
            other => panic!("{other}"),
        })
        .collect()
}

fn profiles() -> Vec<Document> {
    vec![
        doc! { "_id": 1, "email": "ann@x", "name": "Ann", "tags": ["a", "b"] },
        doc! { "_id": 2, "email": "ann@x", "phone": "555", "tags": ["b", "c"] },
        doc! { "_id": 3, "email": "ann@x", "name": "Anne", "city": "Oslo", "tags": ["d"] },
        doc! { "_id": 4, "email": "bob@x", "name": "Bob" },
    ]
}

#[tokio::test]
async fn merge_fills_missing_fields_and_archives_every_original() {
    let (db, coll, archive) = setup("resolve_fill", profiles()).await;
    let index = UniqueIndex::new(["email"]);
    let done = merge_duplicates(
        &coll,
        &index,
        Keep::oldest(),
        Merge::fill_missing(),
        archive.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            done.groups(),
            done.removed(),
            done.changed(),
            done.archived()
        ),
        (1, 2, 1, 3)
    );
    assert_eq!(
        support::documents(&coll).await,
        vec![
            doc! { "_id": 1, "email": "ann@x", "name": "Ann", "tags": ["a", "b"], "phone": "555", "city": "Oslo" },
            doc! { "_id": 4, "email": "bob@x", "name": "Bob" },
        ]
    );
    let entries = archived(&db).await;
    let originals: Vec<&Document> = entries
        .iter()
        .map(|e| e.get_document("doc").unwrap())
        .collect();
    assert_eq!(originals, profiles().iter().take(3).collect::<Vec<_>>());
    let reasons: Vec<&str> = entries
        .iter()
        .map(|e| e.get_str("reason").unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "changed: the survivor of a merge",
            "deleted: merged into the survivor",
            "deleted: merged into the survivor"
        ]
    );
    assert!(entries.iter().all(|e| e.get_i32("survivor") == Ok(1)));

    let back = restore(&coll, &archive).await.unwrap();
    assert_eq!((back.restored(), back.unchanged()), (3, 0));
    assert_eq!(support::documents(&coll).await, profiles());
    let again = restore(&coll, &archive).await.unwrap();
    assert_eq!((again.restored(), again.unchanged()), (0, 3));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn merge_unions_arrays_into_a_survivor_chosen_by_an_async_lookup() {
    let (db, coll, archive) = setup("resolve_union", profiles()).await;
    let index = UniqueIndex::new(["email"]);
    // The survivor is the one a slow "CRM" says is verified: _id 2.
    let keep = Keep::prefer(|candidate, _best| {
        let verified = candidate.get_i32("_id") == Ok(2);
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            verified
        }
    });
    merge_duplicates(&coll, &index, keep, Merge::union_arrays(), archive)
        .await
        .unwrap();
    assert_eq!(
        support::documents(&coll).await[0],
        doc! { "_id": 2, "email": "ann@x", "phone": "555", "tags": ["b", "c", "a", "d"], "name": "Ann", "city": "Oslo" }
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_merge_that_changes_nothing_archives_the_survivor_but_does_not_rewrite_it() {
    let db_name = support::unique_db("resolve_same");
    let (client, log) = support::recording_client(&db_name).await;
    let db = client.database(&db_name);
    let coll = db.collection::<Document>("users");
    let docs = vec![
        doc! { "_id": 1, "email": "ann@x", "name": "Ann", "phone": "555" },
        doc! { "_id": 2, "email": "ann@x", "name": "Anne" },
        doc! { "_id": 3, "email": "ann@x", "phone": "556" },
    ];
    coll.insert_many(docs.clone()).await.unwrap();
    let archive = Archive::new(&db.collection::<()>("archive"), "run-1");
    let index = UniqueIndex::new(["email"]);
    support::take(&log);
    let done = merge_duplicates(
        &coll,
        &index,
        Keep::oldest(),
        Merge::fill_missing(),
        archive.clone(),
    )
    .await
    .unwrap();
    assert_eq!((done.removed(), done.changed(), done.archived()), (2, 0, 3));
    assert!(!support::take(&log).contains(&"update".to_owned()));
    assert_eq!(support::documents(&coll).await, docs[..1]);
    let reasons: Vec<String> = archived(&db)
        .await
        .iter()
        .map(|e| e.get_str("reason").unwrap().to_owned())
        .collect();
    assert_eq!(reasons[0], "changed: the survivor of a merge");

    let back = restore(&coll, &archive).await.unwrap();
    assert_eq!((back.restored(), back.unchanged()), (2, 1));
    assert_eq!(support::documents(&coll).await, docs);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_dry_run_writes_nothing_not_even_the_archive() {
    let (db, coll, archive) = setup("resolve_dry", profiles()).await;
    let index = UniqueIndex::new(["email"]);
    let mut seen = Vec::new();
    let plan = merge_duplicates(
        &coll,
        &index,
        Keep::oldest(),
        Merge::fill_missing(),
        archive,
    )
    .dry_run(true)
    .on_group(|r| {
        seen.push((
            r.survivor().clone(),
            r.removed().to_vec(),
            r.changed().to_vec(),
        ))
    })
    .await
    .unwrap();
    assert_eq!((plan.removed(), plan.changed(), plan.archived()), (2, 1, 0));
    assert_eq!(
        seen,
        [(
            Bson::Int32(1),
            vec![Bson::Int32(2), Bson::Int32(3)],
            vec![Bson::Int32(1)]
        )]
    );
    assert_eq!(support::documents(&coll).await, profiles());
    let names = db.list_collection_names().await.unwrap();
    assert_eq!(names, ["users"]);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn rekey_by_a_function_leaves_the_survivor_alone() {
    let (db, coll, archive) = setup("resolve_rekey", profiles()).await;
    let index = UniqueIndex::new(["email"]);
    let rekey = Rekey::with(
        |d| doc! { "email": format!("{}+{}", d.get_str("email").unwrap(), d.get_i32("_id").unwrap()) },
    );
    let done = rekey_duplicates(&coll, &index, Keep::newest(), rekey, archive.clone())
        .await
        .unwrap();
    assert_eq!((done.removed(), done.changed(), done.archived()), (0, 2, 2));
    let emails: Vec<String> = support::documents(&coll)
        .await
        .iter()
        .map(|d| d.get_str("email").unwrap().to_owned())
        .collect();
    assert_eq!(emails, ["ann@x+1", "ann@x+2", "ann@x", "bob@x"]);
    assert_eq!(create_unique_index(&coll, &index).await.unwrap(), "email_1");

    // The unique index now refuses the originals of 1 and 2: they stay re-keyed, and come
    // back as duplicate keys.
    let back = restore(&coll, &archive).await.unwrap();
    assert_eq!(back.restored(), 0);
    assert_eq!(back.refused().len(), 2);
    assert!(back
        .refused()
        .iter()
        .all(|r| r.duplicate().and_then(|d| d.index()) == Some("email_1")));
    assert_eq!(support::documents(&coll).await.len(), 4);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn unset_is_refused_before_any_write_unless_the_index_leaves_it_out() {
    let (db, coll, archive) = setup("resolve_unset", profiles()).await;
    let index = UniqueIndex::new(["email"]);
    let err = rekey_duplicates(
        &coll,
        &index,
        Keep::oldest(),
        Rekey::unset(),
        archive.clone(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DedupeError::UnsetNotExcluded), "{err:?}");
    assert_eq!(support::documents(&coll).await, profiles());
    assert_eq!(db.list_collection_names().await.unwrap(), ["users"]);

    let partial = index.with_partial_filter(doc! { "email": { "$exists": true } });
    rekey_duplicates(
        &coll,
        &partial,
        Keep::oldest(),
        Rekey::unset(),
        archive.clone(),
    )
    .await
    .unwrap();
    let docs = support::documents(&coll).await;
    assert_eq!(
        docs[1],
        doc! { "_id": 2, "phone": "555", "tags": ["b", "c"] }
    );
    assert_eq!(
        create_unique_index(&coll, &partial).await.unwrap(),
        "email_1"
    );

    let sparse = UniqueIndex::new(["name"]).with_sparse(true);
    let archive = Archive::new(&db.collection::<()>("archive"), "run-2");
    coll.insert_one(doc! { "_id": 5, "email": "eve@x", "name": "Bob" })
        .await
        .unwrap();
    rekey_duplicates(&coll, &sparse, Keep::oldest(), Rekey::unset(), archive)
        .await
        .unwrap();
    assert_eq!(
        coll.find_one(doc! { "_id": 5 }).await.unwrap(),
        Some(doc! { "_id": 5, "email": "eve@x" })
    );
    assert_eq!(create_unique_index(&coll, &sparse).await.unwrap(), "name_1");
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_delete_restored_after_the_index_reports_each_refused_document() {
    let (db, coll, archive) = setup("resolve_refused", profiles()).await;
    let index = UniqueIndex::new(["email"]).with_collation(
        Collation::builder()
            .locale("en")
            .strength(CollationStrength::Secondary)
            .build(),
    );
    coll.insert_one(doc! { "_id": 9, "email": "BOB@X" })
        .await
        .unwrap();
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .archive(archive.clone())
        .await
        .unwrap();
    assert_eq!((done.removed(), done.archived()), (3, 3));
    create_unique_index(&coll, &index).await.unwrap();
    // Someone changes a survivor's name: restore must not undo that.
    coll.update_one(doc! { "_id": 4 }, doc! { "$set": { "name": "Robert" } })
        .await
        .unwrap();
    let back = restore(&coll, &archive).await.unwrap();
    assert_eq!(back.restored(), 0);
    // Under a collation the server reports collation keys, not values: the index tells.
    assert_eq!(back.refused().len(), 3);
    assert!(back
        .refused()
        .iter()
        .all(|r| r.duplicate().and_then(|d| d.index()) == Some("email_1")));
    let docs = support::documents(&coll).await;
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].get_str("name"), Ok("Robert"));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn restore_puts_back_the_oldest_version_a_run_archived_and_an_unknown_run_is_an_error() {
    // A document the run never touched, to stay as it is.
    let (db, coll, archive) = setup("resolve_versions", vec![doc! { "_id": 0, "v": "now" }]).await;
    // A run stopped and run again by two processes can archive one document twice: the
    // oldest version is the original, whichever batch the restore meets first.
    let namespace = coll.namespace().to_string();
    let tie = doc! {
        "namespace": &namespace, "index": { "key": { "v": 1 }, "name": "v_1" }, "action": "delete",
    };
    let mut record = doc! { "_id": { "run": "run-1" } };
    record.extend(tie.clone());
    let bucket = |v: &str, n: i32| {
        let mut bucket = doc! {
            "_id": mongodb::bson::oid::ObjectId::new(),
            "run": "run-1",
            "entries": (0..n).map(|i| Bson::from(doc! {
                "id": 1 + i, "reason": "deleted", "survivor": 0, "doc": { "_id": 1 + i, "v": v },
            })).collect::<Vec<_>>(),
        };
        bucket.extend(tie.clone());
        bucket
    };
    let (older, newer) = (bucket("original", 3), bucket("second", 1));
    let buckets = db.collection::<Document>("archive");
    buckets.insert_many([record, older, newer]).await.unwrap();
    let back = restore(&coll, &archive).batch_size(2).await.unwrap();
    assert_eq!((back.restored(), back.unchanged()), (3, 0));
    assert_eq!(
        support::documents(&coll).await,
        [
            doc! { "_id": 0, "v": "now" },
            doc! { "_id": 1, "v": "original" },
            doc! { "_id": 2, "v": "original" },
            doc! { "_id": 3, "v": "original" },
        ]
    );

    let other = Archive::new(&db.collection::<()>("other_archive"), "run-1");
    let err = restore(&coll, &other).await.unwrap_err();
    assert!(
        matches!(&err, DedupeError::UnknownRun { run } if run == "run-1"),
        "{err:?}"
    );
    let names = db.list_collection_names().await.unwrap();
    assert!(!names.contains(&"other_archive".to_owned()), "{names:?}");
    db.drop().await.unwrap();
}
