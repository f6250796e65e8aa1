//! `dupkey::dedupe::remove_duplicates` against a real mongod: keep strategies, dry runs,
//! large groups, and documents that change under a run.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use dupkey::dedupe::{
    find_duplicates, remove_duplicates, DedupeError, DuplicateGroup, Keep, Resolution, UniqueIndex,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use support::{database, insert, int_id as id, int_id_set as id_set, int_ids as ids};
#[tokio::test]
async fn a_keep_strategy_must_name_a_member() {
    let db = database("dedupe_chosen").await;
    let coll = db.collection::<Document>("c");
    let docs = (1..=6).map(|i| doc! { "_id": i, "k": i % 2 }).collect();
    insert(&coll, docs).await;
    let index = UniqueIndex::new(["k"]);

    let err = remove_duplicates(&coll, &index, Keep::chosen(|_| None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DedupeError::NoSurvivor { group } if group.count() == 3),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the keep strategy named no survivor for a duplicate group"
    );

    let err = remove_duplicates(&coll, &index, Keep::chosen(|_| Some(Bson::Int32(99))))
        .await
        .unwrap_err();
    match &err {
        DedupeError::SurvivorOutsideGroup { survivor, .. } => {
            assert_eq!(survivor, &Bson::Int32(99))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "the keep strategy named a survivor outside its duplicate group"
    );
    assert_eq!(ids(&coll).await, (1..=6).collect());

    // Too large for the caller to see whole: refused, nothing deleted.
    let err = remove_duplicates(&coll, &index, Keep::chosen(|g| g.ids().first().cloned()))
        .max_ids_per_group(2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DedupeError::GroupTooLarge { count: 3, limit: 2 }),
        "{err:?}"
    );
    assert_eq!(ids(&coll).await, (1..=6).collect());

    // A valid choice: the largest _id of each group.
    let largest = |g: &DuplicateGroup| g.ids().iter().max_by_key(|id| id.as_i32()).cloned();
    let done = remove_duplicates(&coll, &index, Keep::chosen(largest))
        .await
        .unwrap();
    assert_eq!(done.removed(), 4);
    assert_eq!(ids(&coll).await, [5, 6].into());
    db.drop().await.unwrap();
}

#[tokio::test]
async fn keep_by_a_sort_field() {
    let db = database("dedupe_sorted").await;
    let coll = db.collection::<Document>("c");
    let at = DateTime::from_millis;
    insert(
        &coll,
        vec![
            doc! { "_id": 1, "k": "a", "at": at(300) },
            doc! { "_id": 2, "k": "a", "at": at(500) },
            doc! { "_id": 3, "k": "a", "at": at(100) },
            doc! { "_id": 4, "k": "b", "at": at(200) },
            doc! { "_id": 5, "k": "b", "at": at(200) },
            doc! { "_id": 6, "k": "c" },
            doc! { "_id": 7, "k": "c", "at": at(1) },
        ],
    )
    .await;
    let index = UniqueIndex::new(["k"]);
    let survivors = |keep: Keep<'static>| {
        let coll = coll.clone();
        let index = index.clone();
        async move {
            let mut kept = BTreeSet::new();
            remove_duplicates(&coll, &index, keep)
                .dry_run(true)
                .on_group(|r| {
                    kept.insert(id(r.survivor()));
                })
                .await
                .unwrap();
            kept
        }
    };
    // Ties go to the smaller _id for oldest, the larger for newest; missing sorts first.
    assert_eq!(survivors(Keep::newest_by("at")).await, [2, 5, 7].into());
    assert_eq!(survivors(Keep::oldest_by("at")).await, [3, 4, 6].into());
    assert_eq!(survivors(Keep::newest()).await, [3, 5, 7].into());
    assert_eq!(ids(&coll).await, (1..=7).collect());

    remove_duplicates(&coll, &index, Keep::newest_by("at"))
        .await
        .unwrap();
    assert_eq!(ids(&coll).await, [2, 5, 7].into());
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_dry_run_reports_exactly_what_a_run_deletes() {
    let db = database("dedupe_dry").await;
    let coll = db.collection::<Document>("c");
    let docs = (0..500)
        .map(|i| doc! { "_id": i, "k": (i * 37) % 180 })
        .collect();
    insert(&coll, docs).await;
    let index = UniqueIndex::new(["k"]);

    let mut planned = Vec::new();
    let plan = remove_duplicates(&coll, &index, Keep::oldest())
        .dry_run(true)
        .on_group(|r| planned.push(r.clone()))
        .await
        .unwrap();
    assert!(plan.is_dry_run());
    assert_eq!(ids(&coll).await, (0..500).collect());

    let mut done = Vec::new();
    let mut last = None;
    let report = remove_duplicates(&coll, &index, Keep::oldest())
        .batch_size(7)
        .on_group(|r| done.push(r.clone()))
        .on_progress(|p| last = Some(p.clone()))
        .await
        .unwrap();
    let by_key = |rs: &[Resolution]| -> BTreeMap<i64, (i64, BTreeSet<i64>)> {
        rs.iter()
            .map(|r| {
                (
                    id(r.key().get("k").unwrap()),
                    (id(r.survivor()), id_set(r.removed())),
                )
            })
            .collect()
    };
    assert_eq!(by_key(&planned), by_key(&done));
    let doomed: BTreeSet<i64> = planned.iter().flat_map(|r| id_set(r.removed())).collect();
    assert_eq!(doomed.len(), 500 - 180);
    assert_eq!(plan.removed(), 320);
    assert_eq!(plan.groups(), 180);
    assert_eq!(report.removed(), 320);
    assert_eq!(
        ids(&coll).await,
        &(0..500).collect::<BTreeSet<i64>>() - &doomed
    );
    let last = last.unwrap();
    assert_eq!(
        (
            last.groups(),
            last.documents(),
            last.removed(),
            last.finished()
        ),
        (180, 500, 320, true)
    );

    // Re-run: nothing left to do.
    let again = remove_duplicates(&coll, &index, Keep::oldest())
        .await
        .unwrap();
    assert_eq!((again.groups(), again.removed()), (0, 0));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn groups_larger_than_the_id_limit_finish_in_passes() {
    let db = database("dedupe_large").await;
    let coll = db.collection::<Document>("c");
    let mut docs: Vec<Document> = (0..25)
        .map(|i| doc! { "_id": 100 - i, "k": "big" })
        .collect();
    docs.push(doc! { "_id": 1, "k": "small" });
    docs.push(doc! { "_id": 2, "k": "small" });
    insert(&coll, docs).await;
    let index = UniqueIndex::new(["k"]);

    let mut found = find_duplicates(&coll, &index)
        .max_ids_per_group(10)
        .await
        .unwrap();
    let mut seen = BTreeMap::new();
    while let Some(g) = found.try_next().await.unwrap() {
        seen.insert(
            g.key().get_str("k").unwrap().to_owned(),
            (g.count(), g.ids().len(), g.is_complete()),
        );
    }
    assert_eq!(
        seen,
        BTreeMap::from([
            ("big".into(), (25, 10, false)),
            ("small".into(), (2, 2, true))
        ])
    );

    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .max_ids_per_group(10)
        .batch_size(4)
        .await
        .unwrap();
    assert_eq!((done.removed(), done.passes()), (25, 3));
    assert_eq!(ids(&coll).await, [1, 76].into());
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_whose_key_changed_since_it_was_read_is_not_deleted() {
    let db = database("dedupe_guard").await;
    let coll = db.collection::<Document>("c");
    let docs = (1..=4).map(|i| doc! { "_id": i, "k": "a" }).collect();
    insert(&coll, docs).await;
    let index = UniqueIndex::new(["k"]);
    let db_name = db.name().to_owned();

    // Between the read and the delete, document 3 gets a key of its own.
    let mut planned = Vec::new();
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .on_group(|r| {
            planned.extend(r.removed().iter().map(id));
            let db_name = db_name.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let client = mongodb::Client::with_uri_str(&support::server().uri)
                        .await
                        .unwrap();
                    let c = client.database(&db_name).collection::<Document>("c");
                    c.update_one(doc! { "_id": 3 }, doc! { "$set": { "k": "z" } })
                        .await
                        .unwrap();
                });
            })
            .join()
            .unwrap();
        })
        .await
        .unwrap();
    planned.sort();
    assert_eq!(planned, [2, 3, 4]);
    assert_eq!(done.removed(), 2);
    assert_eq!(ids(&coll).await, [1, 3].into());
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_key_held_by_200_000_documents_is_resolved_with_a_bounded_id_list() {
    let db = database("dedupe_200k").await;
    let coll = db.collection::<Document>("c");
    let mut docs: Vec<Document> = (0..200_000)
        .map(|i| doc! { "_id": i, "k": "one" })
        .collect();
    docs.push(doc! { "_id": 200_000, "k": "two" });
    docs.push(doc! { "_id": 200_001, "k": "two" });
    insert(&coll, docs).await;
    let index = UniqueIndex::new(["k"]);
    let limit = 25_000;
    let mut largest = 0;
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .max_ids_per_group(limit)
        .on_group(|r| largest = largest.max(r.removed().len()))
        .await
        .unwrap();
    // The server listed at most `limit` ids per group and pass, so the run took passes.
    assert!(largest <= limit, "{largest}");
    assert!(done.passes() >= 8, "{}", done.passes());
    assert_eq!(done.removed(), 200_000);
    assert_eq!(ids(&coll).await, [0, 200_000].into());
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_moved_to_another_groups_key_of_the_same_batch_is_not_deleted() {
    let db = database("dedupe_pairing").await;
    let coll = db.collection::<Document>("c");
    let docs = (1..=6)
        .map(|i| doc! { "_id": i, "k": if i <= 3 { "a" } else { "b" } })
        .collect();
    insert(&coll, docs).await;
    let index = UniqueIndex::new(["k"]);
    let db_name = db.name().to_owned();

    // Both groups are deleted in one command. Between the read and the delete, document 2
    // (read with key "a") takes key "b", the other group's: it is not the document the run
    // read, so it stays.
    let mut moved = false;
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .on_group(|_| {
            if !std::mem::replace(&mut moved, true) {
                support::writer::meanwhile(&db_name, |db| async move {
                    let c = db.collection::<Document>("c");
                    c.update_one(doc! { "_id": 2 }, doc! { "$set": { "k": "b" } })
                        .await
                        .unwrap();
                });
            }
        })
        .await
        .unwrap();
    assert_eq!(done.removed(), 3);
    assert_eq!(ids(&coll).await, [1, 2, 4].into());
    db.drop().await.unwrap();
}
