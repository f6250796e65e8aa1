//! The archive's and restore's invariants (`src/dedupe/archive.rs`, `src/dedupe/restore.rs`),
//! one test each, against a real mongod (and a three-member replica set for the step-down).

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dupkey::dedupe::{
    create_unique_index, merge_duplicates, rekey_duplicates, remove_duplicates, restore, Archive,
    DedupeError, Keep, Merge, Rekey, UniqueIndex,
};
use mongodb::bson::{doc, Bson, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::{
    CollectionOptions, ReadConcern, ReadPreference, SelectionCriteria, WriteConcern,
};
use mongodb::{Collection, Database};

/// The `insert` commands a client sent, whole.
#[derive(Clone, Default)]
struct Inserts(Arc<Mutex<Vec<Document>>>);

impl Inserts {
    fn handler(&self) -> EventHandler<CommandEvent> {
        let sink = Arc::clone(&self.0);
        EventHandler::callback(move |event| {
            if let CommandEvent::Started(started) = event {
                if started.command_name == "insert" {
                    sink.lock().unwrap().push(started.command);
                }
            }
        })
    }

    /// The write concerns of the inserts into collection `name` (`None`: none stated).
    fn write_concerns(&self, name: &str) -> Vec<Option<Document>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.get_str("insert") == Ok(name))
            .map(|c| c.get_document("writeConcern").ok().cloned())
            .collect()
    }
}

/// A collection handle with this write concern.
fn with_concern(db: &Database, name: &str, concern: WriteConcern) -> Collection<Document> {
    db.collection_with_options(
        name,
        CollectionOptions::builder().write_concern(concern).build(),
    )
}

/// 30 documents with integer `_id`s, 10 emails three times each.
fn tripled() -> Vec<Document> {
    (0..30)
        .map(|i| doc! { "_id": i, "email": format!("e{}@x", i % 10), "name": format!("n{i}") })
        .collect()
}

/// Every archived entry's `id`, in archive order.
async fn archived_ids(archive: &Collection<Document>) -> Vec<Bson> {
    let buckets = support::documents(archive).await;
    buckets
        .iter()
        .filter(|b| b.contains_key("entries"))
        .flat_map(|b| b.get_array("entries").unwrap().clone())
        .map(|e| e.as_document().unwrap().get("id").unwrap().clone())
        .collect()
}

#[tokio::test]
async fn archive_writes_are_majority_and_journaled_whatever_the_collection_says() {
    let inserts = Inserts::default();
    let client = support::client_with(|o| o.command_event_handler = Some(inserts.handler())).await;
    let db = client.database(&support::unique_db("archive_wc"));
    let coll = with_concern(&db, "users", WriteConcern::nodes(1));
    coll.insert_many(tripled()).await.unwrap();
    // The archive's own handle says w: 1 too: the archive writes do not take it.
    let archive_coll = db.collection_with_options::<()>(
        "archive",
        CollectionOptions::builder()
            .write_concern(WriteConcern::nodes(1))
            .build(),
    );
    let index = UniqueIndex::new(["email"]);
    let archive = Archive::new(&archive_coll, "wc-run");
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .archive(archive.clone())
        .batch_size(2)
        .await
        .unwrap();
    assert_eq!((done.removed(), done.archived()), (20, 20));
    let concerns = inserts.write_concerns("archive");
    // The run record, and one archive document per 20 planned `_id`s (ten batches of 2):
    // 7 groups of 3, then 3.
    assert_eq!(concerns.len(), 3, "{concerns:?}");
    let durable = doc! { "w": "majority", "j": true };
    assert!(
        concerns.iter().all(|c| c.as_ref() == Some(&durable)),
        "{concerns:?}"
    );
    assert_eq!(archived_ids(&db.collection("archive")).await.len(), 20);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_w0_collection_is_refused_before_anything_is_written() {
    let db = support::database("archive_w0").await;
    let acknowledged = db.collection::<Document>("users");
    acknowledged.insert_many(tripled()).await.unwrap();
    let unacknowledged = with_concern(&db, "users", WriteConcern::nodes(0));
    let index = UniqueIndex::new(["email"]);
    let archive = Archive::new(&db.collection::<()>("archive"), "w0-run");
    for dry_run in [false, true] {
        let err = remove_duplicates(&unacknowledged, &index, Keep::oldest())
            .archive(archive.clone())
            .dry_run(dry_run)
            .await
            .unwrap_err();
        assert!(matches!(err, DedupeError::Unacknowledged), "{err:?}");
        assert_eq!(
            err.to_string(),
            "archived runs and restores need acknowledged writes, not w: 0"
        );
    }
    let err = rekey_duplicates(
        &unacknowledged,
        &index,
        Keep::oldest(),
        Rekey::with(|d| doc! { "email": format!("{}", d.get("_id").unwrap()) }),
        archive.clone(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DedupeError::Unacknowledged), "{err:?}");
    assert_eq!(support::documents(&acknowledged).await, tripled());
    assert_eq!(db.list_collection_names().await.unwrap(), ["users"]);

    // A restore through a w: 0 handle is refused too, with the run there to restore.
    remove_duplicates(&acknowledged, &index, Keep::oldest())
        .archive(archive.clone())
        .await
        .unwrap();
    let after_run = support::documents(&acknowledged).await;
    let err = restore(&unacknowledged, &archive).await.unwrap_err();
    assert!(matches!(err, DedupeError::Unacknowledged), "{err:?}");
    assert_eq!(support::documents(&acknowledged).await, after_run);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_run_id_is_refused_on_another_collection_or_index() {
    let db = support::database("archive_reuse").await;
    let (first, second) = (db.collection("first"), db.collection("second"));
    // Integer `_id`s in both: the same `_id`s name different documents.
    first.insert_many(tripled()).await.unwrap();
    let others: Vec<Document> = (0..30)
        .map(|i| doc! { "_id": i, "email": format!("o{}@x", i % 5), "name": "second" })
        .collect();
    second.insert_many(others.clone()).await.unwrap();
    let archive_coll = db.collection::<Document>("archive");
    let archive = Archive::new(&archive_coll, "run-1");
    let email = UniqueIndex::new(["email"]);
    remove_duplicates(&first, &email, Keep::oldest())
        .archive(archive.clone())
        .await
        .unwrap();
    let archived = support::documents(&archive_coll).await;
    let first_left = support::documents(&first).await;

    let refused = |err: DedupeError, what: &str| {
        assert!(
            matches!(&err, DedupeError::RunElsewhere { run, what: w } if run == "run-1" && *w == what),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("run \"run-1\" belongs to another {what}")
        );
    };
    // Another collection, for real and as a dry run.
    for dry_run in [false, true] {
        let err = remove_duplicates(&second, &email, Keep::oldest())
            .archive(archive.clone())
            .dry_run(dry_run)
            .await
            .unwrap_err();
        refused(err, "collection");
    }
    // Another index (key pattern, or name) on the same collection, and another action.
    let err = remove_duplicates(&first, &UniqueIndex::new(["name"]), Keep::oldest())
        .archive(archive.clone())
        .await
        .unwrap_err();
    refused(err, "index");
    let renamed = UniqueIndex::new(["email"]).with_name("uniq_email");
    let err = remove_duplicates(&first, &renamed, Keep::oldest())
        .archive(archive.clone())
        .await
        .unwrap_err();
    refused(err, "index");
    let err = merge_duplicates(
        &first,
        &email,
        Keep::oldest(),
        Merge::fill_missing(),
        archive.clone(),
    )
    .await
    .unwrap_err();
    refused(err, "action");
    // Nothing written by any of them.
    assert_eq!(support::documents(&second).await, others);
    assert_eq!(support::documents(&first).await, first_left);
    assert_eq!(support::documents(&archive_coll).await, archived);

    // The run cannot be restored into the other collection either.
    let err = restore(&second, &archive).await.unwrap_err();
    refused(err, "collection");
    assert_eq!(support::documents(&second).await, others);
    // The same run again on its own collection and index is a re-run: allowed.
    let again = remove_duplicates(&first, &email, Keep::oldest())
        .archive(archive.clone())
        .await
        .unwrap();
    assert_eq!(again.removed(), 0);
    let back = restore(&first, &archive).await.unwrap();
    assert_eq!(back.restored(), 20);
    assert_eq!(support::documents(&first).await, tripled());
    db.drop().await.unwrap();
}

#[tokio::test]
async fn restore_keeps_what_the_application_wrote_after_the_run_unless_told_to_overwrite() {
    let db = support::database("archive_newer").await;
    let coll = db.collection::<Document>("users");
    let docs = vec![
        doc! { "_id": 1, "email": "ann@x", "name": "Ann", "tags": ["a"] },
        doc! { "_id": 2, "email": "ann@x", "phone": "555", "tags": ["b"] },
        doc! { "_id": 3, "email": "ann@x", "city": "Oslo" },
        doc! { "_id": 4, "email": "bob@x", "name": "Bob" },
        doc! { "_id": 5, "email": "bob@x", "name": "Rob" },
        doc! { "_id": 6, "email": "cid@x" },
        doc! { "_id": 7, "email": "cid@x" },
        doc! { "_id": 8, "email": "cid@x" },
    ];
    coll.insert_many(docs.clone()).await.unwrap();
    let index = UniqueIndex::new(["email"]);
    let archive = Archive::new(&db.collection::<()>("archive"), "merge-run");
    let merged = merge_duplicates(
        &coll,
        &index,
        Keep::oldest(),
        Merge::union_arrays(),
        archive.clone(),
    )
    .await
    .unwrap();
    assert_eq!((merged.removed(), merged.changed()), (5, 1));
    let rekeys = Archive::new(&db.collection::<()>("archive"), "rekey-run");
    coll.insert_many([
        doc! { "_id": 10, "email": "dan@x" },
        doc! { "_id": 11, "email": "dan@x" },
        doc! { "_id": 12, "email": "dan@x" },
    ])
    .await
    .unwrap();
    let rekey = Rekey::with(|d| doc! { "email": format!("dan+{}@x", d.get_i32("_id").unwrap()) });
    rekey_duplicates(&coll, &index, Keep::oldest(), rekey, rekeys.clone())
        .await
        .unwrap();

    // The application writes after the run: to the merged survivor 1, the survivor 4
    // deleted, the deleted 2 re-created with other content, the re-keyed 11 changed again.
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "name": "Ann B." } })
        .await
        .unwrap();
    coll.delete_one(doc! { "_id": 4 }).await.unwrap();
    coll.insert_one(doc! { "_id": 2, "email": "ann2@x" })
        .await
        .unwrap();
    coll.update_one(doc! { "_id": 11 }, doc! { "$set": { "email": "dan.c@x" } })
        .await
        .unwrap();
    let written = support::documents(&coll).await;

    let back = restore(&coll, &archive).await.unwrap();
    // 3, 5, 7, 8 were deleted and are still absent: back. 6 (kept, unchanged) is as archived.
    assert_eq!(
        (back.restored(), back.unchanged(), back.refused().len()),
        (4, 1, 0)
    );
    assert_eq!(
        support::int_id_set(back.conflicts()),
        BTreeSet::from([1, 2, 4])
    );
    let now = support::documents(&coll).await;
    for id in [1, 2] {
        let want = written.iter().find(|d| d.get_i32("_id") == Ok(id));
        assert_eq!(
            now.iter().find(|d| d.get_i32("_id") == Ok(id)),
            want,
            "{id}"
        );
    }
    assert!(!now.iter().any(|d| d.get_i32("_id") == Ok(4)));
    for id in [3, 5, 7, 8] {
        let original = docs.iter().find(|d| d.get_i32("_id") == Ok(id));
        assert_eq!(
            now.iter().find(|d| d.get_i32("_id") == Ok(id)),
            original,
            "{id}"
        );
    }
    let back = restore(&coll, &rekeys).await.unwrap();
    assert_eq!((back.restored(), back.unchanged()), (1, 0));
    assert_eq!(support::int_id_set(back.conflicts()), BTreeSet::from([11]));
    assert_eq!(
        coll.find_one(doc! { "_id": 11 }).await.unwrap(),
        Some(doc! { "_id": 11, "email": "dan.c@x" })
    );

    // Told to overwrite, the originals win.
    let back = restore(&coll, &archive).overwrite(true).await.unwrap();
    assert_eq!((back.restored(), back.conflicts().len()), (3, 0));
    let back = restore(&coll, &rekeys).overwrite(true).await.unwrap();
    assert_eq!((back.restored(), back.conflicts().len()), (1, 0));
    let mut all = docs.clone();
    all.extend([
        doc! { "_id": 10, "email": "dan@x" },
        doc! { "_id": 11, "email": "dan@x" },
        doc! { "_id": 12, "email": "dan@x" },
    ]);
    assert_eq!(support::documents(&coll).await, all);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn restoring_an_unknown_run_is_an_error() {
    let db = support::database("archive_unknown").await;
    let coll = db.collection::<Document>("users");
    coll.insert_many(tripled()).await.unwrap();
    let archive_coll = db.collection::<()>("archive");
    let known = Archive::new(&archive_coll, "known");
    remove_duplicates(&coll, &UniqueIndex::new(["email"]), Keep::oldest())
        .archive(known)
        .await
        .unwrap();
    let after_run = support::documents(&coll).await;
    for archive in [
        Archive::new(&archive_coll, "typo"),
        Archive::new(&db.collection::<()>("no_such_archive"), "known"),
    ] {
        let err = restore(&coll, &archive).await.unwrap_err();
        let run = archive.run_id();
        assert!(
            matches!(&err, DedupeError::UnknownRun { run: r } if r == run),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("the archive holds no run \"{run}\"")
        );
    }
    assert_eq!(support::documents(&coll).await, after_run);
    let names = db.list_collection_names().await.unwrap();
    assert!(!names.contains(&"no_such_archive".to_owned()), "{names:?}");
    db.drop().await.unwrap();
}

#[tokio::test]
async fn every_refusal_is_reported_with_its_id() {
    let db = support::database("archive_blank").await;
    let coll = db.collection::<Document>("users");
    // 1,000 keys held twice, in a field with a long name (the server prints it whole, in the
    // index name too): the refusals of one reply hold 2 MiB of messages.
    let groups = 1_000_i64;
    let field = "k".repeat(1_000);
    let docs: Vec<Document> = (0..groups * 2)
        .map(|i| doc! { "_id": i, field.as_str(): format!("v{}", i % groups) })
        .collect();
    support::insert(&coll, docs).await;
    let index = UniqueIndex::new([field.as_str()]);
    let archive = Archive::new(&db.collection::<()>("archive"), "blank-run");
    remove_duplicates(&coll, &index, Keep::oldest())
        .archive(archive.clone())
        .batch_size(5_000)
        .await
        .unwrap();
    create_unique_index(&coll, &index).await.unwrap();

    let back = restore(&coll, &archive).batch_size(10_000).await.unwrap();
    assert_eq!((back.restored(), back.conflicts().len()), (0, 0));
    let refused = back.refused();
    let ids: Vec<Bson> = refused.iter().map(|r| r.id().clone()).collect();
    assert_eq!(
        support::int_id_set(&ids),
        (groups..groups * 2).collect::<BTreeSet<i64>>()
    );
    assert!(refused
        .iter()
        .all(|r| r.code() == 11000 && r.is_duplicate()));
    // Each is reported by its code and `_id`; what the message gives is extra.
    let blank = refused.iter().filter(|r| r.message().is_empty()).count();
    assert!(refused
        .iter()
        .filter(|r| r.message().is_empty())
        .all(|r| r.duplicate().is_none() && r.to_string() == "duplicate key"));
    let index_name = format!("{field}_1");
    assert!(refused
        .iter()
        .filter(|r| !r.message().is_empty())
        .all(|r| r.duplicate().and_then(|d| d.index()) == Some(index_name.as_str())));
    println!("{} refusals, {blank} without a message", refused.len());
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_the_primary_steps_down_during_an_archived_remove() {
    let set = support::three_member_replica_set();
    let inserts = Inserts::default();
    let client = set
        .client_with(|o| o.command_event_handler = Some(inserts.handler()))
        .await;
    let db = client.database(&support::unique_db("archive_step_down"));
    // The collection's writes are acknowledged by the primary alone: only the archive's
    // are majority.
    let coll = with_concern(&db, "users", WriteConcern::nodes(1));
    let groups = 5_000_i64;
    let docs: Vec<Document> = (0..groups * 4)
        .map(|i| doc! { "_id": i, "key": format!("k{}", i % groups) })
        .collect();
    support::insert(&coll, docs).await;
    let all: BTreeSet<i64> = (0..groups * 4).collect();
    let index = UniqueIndex::new(["key"]);
    let archive_coll = db.collection::<Document>("archive");
    let archive = Archive::new(&archive_coll, "step-down-run");

    let resolved = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let run = {
        let (coll, index, archive) = (coll.clone(), index.clone(), archive.clone());
        let resolved = Arc::clone(&resolved);
        tokio::spawn(async move {
            remove_duplicates(&coll, &index, Keep::oldest())
                .archive(archive)
                .batch_size(100)
                .on_group(|_| {
                    resolved.fetch_add(1, Ordering::Relaxed);
                })
                .await
        })
    };
    while resolved.load(Ordering::Relaxed) < 1_000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run is stuck"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stepping = support::step_down(&client).await;
    let first = run.await.expect("join");
    // Stopped or not, a re-run with the same run id finishes the job.
    let again = remove_duplicates(&coll, &index, Keep::oldest())
        .archive(archive.clone())
        .await
        .unwrap();
    println!(
        "step-down after {} groups, new primary in {stepping:?}; first run: {:?}; re-run removed {}",
        1_000,
        first.as_ref().map(|r| r.removed()),
        again.removed()
    );

    let majority = CollectionOptions::builder()
        .read_concern(ReadConcern::majority())
        .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
        .build();
    let left = support::int_ids(&db.collection_with_options("users", majority.clone())).await;
    let archived = archived_ids(&db.collection_with_options("archive", majority)).await;
    let archived = support::int_id_set(&archived);
    assert_eq!(left.len() as i64, groups, "one document per key is left");
    // Nothing lost: every document is in the collection or in the archive.
    let missing: Vec<&i64> = all
        .difference(&left)
        .filter(|id| !archived.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "deleted without an archive: {missing:?}"
    );
    let concerns = inserts.write_concerns("archive");
    let durable = doc! { "w": "majority", "j": true };
    assert!(!concerns.is_empty());
    assert!(
        concerns.iter().all(|c| c.as_ref() == Some(&durable)),
        "{concerns:?}"
    );
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_checks_and_writes_in_one_step_against_a_writer_in_between() {
    const APP: &str = "restore-held";
    let set = support::three_member_replica_set();
    let updates = Arc::new(AtomicU64::new(0));
    let held = {
        let updates = Arc::clone(&updates);
        set.client_with(move |o| {
            o.app_name = Some(APP.to_owned());
            o.command_event_handler = Some(EventHandler::callback(move |event| {
                if let CommandEvent::Started(started) = event {
                    if started.command_name == "update" {
                        updates.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }));
        })
        .await
    };
    let app = set.client().await;
    let name = support::unique_db("archive_race");
    let coll = app.database(&name).collection::<Document>("users");
    let docs = vec![
        doc! { "_id": 1, "email": "ann@x", "tags": ["a"] },
        doc! { "_id": 2, "email": "ann@x", "tags": ["b"] },
        doc! { "_id": 3, "email": "ann@x", "tags": ["c"] },
    ];
    coll.insert_many(docs.clone()).await.unwrap();
    let archive = Archive::new(&app.database(&name).collection::<()>("archive"), "race");
    merge_duplicates(
        &coll,
        &UniqueIndex::new(["email"]),
        Keep::oldest(),
        Merge::union_arrays(),
        archive.clone(),
    )
    .await
    .unwrap();
    // The restore's one update command is held a second and a half on the server, after the
    // restore read the documents and found them as the run left them.
    app.database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": {
                "failCommands": ["update"],
                "appName": APP,
                "blockConnection": true,
                "blockTimeMS": 1500,
            },
        })
        .await
        .expect("configureFailPoint");
    let restoring = {
        let coll = held.database(&name).collection::<Document>("users");
        let archive = Archive::new(&held.database(&name).collection::<()>("archive"), "race");
        tokio::spawn(async move { restore(&coll, &archive).await })
    };
    let started = Instant::now();
    while updates.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no update sent"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Meanwhile the application writes the merged survivor and re-creates a deleted one.
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "name": "Ann" } })
        .await
        .unwrap();
    coll.insert_one(doc! { "_id": 2, "email": "ann2@x" })
        .await
        .unwrap();
    let back = restoring.await.expect("join").unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "the update was held"
    );
    assert_eq!((back.restored(), back.refused().len()), (1, 0));
    assert_eq!(
        support::int_id_set(back.conflicts()),
        BTreeSet::from([1, 2])
    );
    assert_eq!(
        support::documents(&coll).await,
        [
            doc! { "_id": 1, "email": "ann@x", "tags": ["a", "b", "c"], "name": "Ann" },
            doc! { "_id": 2, "email": "ann2@x" },
            docs[2].clone(),
        ]
    );
    app.database(&name).drop().await.unwrap();
}
