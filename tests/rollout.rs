//! `dupkey::dedupe::rollout_unique_index` against a real mongod (6.0): prepare, cross-check,
//! resolve, convert, with writers racing it, resumed after an interruption.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dupkey::dedupe::{
    restore, rollout_unique_index, verify, Archive, DedupeError, IndexState, Keep, Merge, Rekey,
    Resolve, RolloutStep, UniqueIndex,
};
use dupkey::IsDuplicate;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Collation, CollationStrength, IndexOptions};
use mongodb::{Collection, Database, IndexModel};

async fn database(prefix: &str) -> Database {
    support::client()
        .await
        .database(&support::unique_db(prefix))
}

/// `total` documents, `_id` 0.., whose first `groups * 3` share `groups` emails three by
/// three (`dup<g>@example.com`, in mixed case); the rest are unique.
async fn load(coll: &Collection<Document>, total: i32, groups: i32) {
    let docs: Vec<Document> = (0..total)
        .map(|i| {
            let email = if i < groups * 3 {
                let g = i % groups;
                if i < groups {
                    format!("dup{g}@example.com")
                } else {
                    format!("DUP{g}@example.com")
                }
            } else {
                format!("user{i}@example.com")
            };
            doc! { "_id": i, "email": email }
        })
        .collect();
    for chunk in docs.chunks(10_000) {
        coll.insert_many(chunk.to_vec()).await.expect("insert_many");
    }
}

fn en2() -> Collation {
    Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build()
}

#[tokio::test]
async fn a_writer_racing_the_rollout_is_refused_with_typed_conflicts() {
    let db = database("rollout_live").await;
    let users = db.collection::<Document>("users");
    load(&users, 20_000, 2_000).await;
    let index = UniqueIndex::new(["email"]).with_collation(en2());

    // The writer: inserts a copy of a duplicated key, then a fresh key twice, over and over,
    // until the rollout is over and a few rounds more.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let users = users.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut accepted, mut refused, mut after_stop) = (0u32, Vec::new(), 0);
            let mut n = 0;
            while after_stop < 20 {
                if stop.load(Ordering::Relaxed) {
                    after_stop += 1;
                }
                n += 1;
                let docs = [
                    doc! { "_id": format!("w{n}a"), "email": format!("Dup{}@Example.com", n % 2_000) },
                    doc! { "_id": format!("w{n}b"), "email": format!("fresh{n}@example.com") },
                    doc! { "_id": format!("w{n}c"), "email": format!("FRESH{n}@example.com") },
                ];
                for doc in docs {
                    match users.insert_one(doc).await {
                        Ok(_) => accepted += 1,
                        Err(err) => refused.push(err),
                    }
                }
            }
            (accepted, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    let steps = Arc::new(Mutex::new(Vec::new()));
    let seen = steps.clone();
    let done = rollout_unique_index(&users, &index, Keep::oldest())
        .batch_size(100)
        .on_progress(move |p| {
            let mut steps = seen.lock().unwrap();
            if steps.last() != Some(&p.step()) {
                steps.push(p.step());
            }
        })
        .await
        .expect("rollout");
    stop.store(true, Ordering::Relaxed);
    let (accepted, refused) = writer.await.unwrap();

    assert_eq!(done.index(), "email_1");
    assert_eq!(done.started_from(), IndexState::Missing);
    assert!(done.is_online());
    assert!(done.server_groups() >= 2_000, "{}", done.server_groups());
    assert_eq!(
        *steps.lock().unwrap(),
        [
            RolloutStep::CrossCheck,
            RolloutStep::Resolve,
            RolloutStep::Convert,
            RolloutStep::Done
        ]
    );
    // Every refused insert came back as a typed conflict on the index being rolled out.
    assert!(refused.len() >= 40, "{} refused", refused.len());
    for err in &refused {
        assert!(err.is_duplicate(), "{err:?}");
        let key = err.duplicate_key().expect("a DuplicateKey");
        assert_eq!(key.index(), Some("email_1"), "{key:?}");
    }
    assert!(accepted > 0);
    let check = verify(&users, &index).await.expect("verify");
    assert!(check.is_verified(), "{check:?}");
    assert_eq!(
        support::index_spec(&users, "email_1")
            .await
            .expect("index")
            .get_bool("unique"),
        Ok(true)
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn prepared_new_duplicates_are_refused_while_old_ones_stay() {
    let db = database("rollout_prepare").await;
    let users = db.collection::<Document>("users");
    load(&users, 100, 10).await;
    users
        .create_index(IndexModel::builder().keys(doc! { "email": 1 }).build())
        .await
        .unwrap();
    db.run_command(
        doc! { "collMod": "users", "index": { "name": "email_1", "prepareUnique": true } },
    )
    .await
    .unwrap();
    let err = users
        .insert_one(doc! { "email": "dup3@example.com" })
        .await
        .unwrap_err();
    assert!(err.is_duplicate());
    assert_eq!(err.duplicate_key().unwrap().index(), Some("email_1"));

    // Resumes from the prepared index: byte-wise, 20 groups of "dup" and "DUP".
    let index = UniqueIndex::new(["email"]);
    let done = rollout_unique_index(&users, &index, Keep::newest())
        .await
        .expect("rollout");
    assert_eq!(done.started_from(), IndexState::Prepared);
    assert_eq!(done.server_groups(), 10);
    assert_eq!(done.removal().removed(), 10);
    let left: Vec<Bson> = support::documents(&users)
        .await
        .into_iter()
        .filter(|d| d.get_str("email").unwrap().starts_with("DUP"))
        .map(|d| d.get("_id").unwrap().clone())
        .collect();
    assert_eq!(left, (20..30).map(Bson::Int32).collect::<Vec<_>>());
    assert!(verify(&users, &index).await.unwrap().is_verified());

    // On a unique index, a re-run changes nothing.
    let again = rollout_unique_index(&users, &index, Keep::newest())
        .await
        .expect("rollout");
    assert_eq!(again.started_from(), IndexState::Unique);
    assert_eq!(again.removal().removed(), 0);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn an_interrupted_rollout_converges_when_run_again() {
    let db = database("rollout_resume").await;
    let users = db.collection::<Document>("users");
    load(&users, 30_000, 3_000).await;
    let plain = IndexModel::builder()
        .keys(doc! { "email": 1 })
        .options(IndexOptions::builder().collation(en2()).build())
        .build();
    users.create_index(plain).await.unwrap();
    let index = UniqueIndex::new(["email"]).with_collation(en2());
    // Interrupted (its task aborted) once it has deleted 100 documents.
    let deleting = Arc::new(AtomicBool::new(false));
    let task = {
        let users = users.clone();
        let index = index.clone();
        let deleting = deleting.clone();
        tokio::spawn(async move {
            rollout_unique_index(&users, &index, Keep::oldest())
                .batch_size(10)
                .on_progress(move |p| {
                    if p.removed() >= 100 {
                        deleting.store(true, Ordering::Relaxed);
                    }
                })
                .await
        })
    };
    while !deleting.load(Ordering::Relaxed) {
        assert!(
            !task.is_finished(),
            "the rollout ended before it was interrupted"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let spec = index_spec_by_collation(&users).await;
    assert_eq!(spec.get_bool("prepareUnique"), Ok(true));
    assert!(spec.get("unique").is_none());

    let done = rollout_unique_index(&users, &index, Keep::oldest())
        .await
        .expect("rollout");
    assert_eq!(done.started_from(), IndexState::Prepared);
    assert!(done.server_groups() > 0 && done.server_groups() < 3_000);
    assert!(verify(&users, &index).await.unwrap().is_verified());
    // Oldest kept: the lower-case first third.
    assert_eq!(
        users.count_documents(doc! {}).await.unwrap(),
        30_000 - 6_000
    );
    db.drop().await.unwrap();
}

/// The spec of the index with a collation.
async fn index_spec_by_collation(coll: &Collection<Document>) -> Document {
    use futures_util::TryStreamExt;
    let ns = coll.namespace();
    let specs: Vec<Document> = coll
        .client()
        .database(&ns.db)
        .run_cursor_command(doc! { "listIndexes": &ns.coll })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    specs
        .into_iter()
        .find(|s| s.contains_key("collation"))
        .expect("index with a collation")
}

#[tokio::test]
async fn partial_indexes_and_the_checked_build_fallback() {
    let db = database("rollout_partial").await;
    let users = db.collection::<Document>("users");
    load(&users, 1_000, 100).await;
    users
        .update_many(
            doc! { "_id": { "$gte": 50 } },
            doc! { "$set": { "live": true } },
        )
        .await
        .unwrap();
    // Groups 0..49 have their lower-case member out of the filter: two left, still a group.
    let index = UniqueIndex::new(["email"])
        .with_collation(en2())
        .with_partial_filter(doc! { "live": true })
        .with_name("live_email");
    let done = rollout_unique_index(&users, &index, Keep::oldest())
        .await
        .expect("rollout");
    assert_eq!(done.index(), "live_email");
    assert_eq!(done.server_groups(), 100);
    assert_eq!(done.removal().removed(), 150);
    assert!(verify(&users, &index).await.unwrap().is_verified());

    // The checked build: no prepare step, with its window.
    let other = db.collection::<Document>("other");
    load(&other, 1_000, 100).await;
    let index = UniqueIndex::new(["email"]).with_collation(en2());
    let done = rollout_unique_index(&other, &index, Keep::oldest())
        .online(false)
        .await
        .expect("rollout");
    assert!(!done.is_online());
    assert_eq!(done.started_from(), IndexState::Missing);
    assert_eq!(done.removal().removed(), 200);
    assert!(verify(&other, &index).await.unwrap().is_verified());

    let missing = db.collection::<Document>("missing");
    let err = rollout_unique_index(&missing, &index, Keep::oldest())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DedupeError::CollectionNotFound { .. }),
        "{err:?}"
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_rollout_can_merge_the_groups_it_finds() {
    let db = database("rollout_merge").await;
    let coll = db.collection::<Document>("users");
    coll.insert_many(vec![
        doc! { "_id": 1, "email": "a@x", "tags": ["red"] },
        doc! { "_id": 2, "email": "a@x", "tags": ["blue"], "phone": "1" },
        doc! { "_id": 3, "email": "b@x" },
    ])
    .await
    .unwrap();
    let index = UniqueIndex::new(["email"]);
    let archive = Archive::new(&db.collection::<()>("archive"), "merge-run");
    // A merge needs each group whole: the id limit is the resolve run's.
    let resolve = Resolve::Merge(Keep::oldest(), Merge::union_arrays(), archive.clone());
    let err = rollout_unique_index(&coll, &index, resolve)
        .max_ids_per_group(1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DedupeError::GroupTooLarge { count: 2, limit: 1 }),
        "{err:?}"
    );
    assert_eq!(support::documents(&coll).await.len(), 3);
    let resolve = Resolve::Merge(Keep::oldest(), Merge::union_arrays(), archive);
    let done = rollout_unique_index(&coll, &index, resolve).await.unwrap();
    assert_eq!(done.started_from(), IndexState::Prepared);
    assert!(done.is_online());
    assert_eq!(done.removal().removed(), 1);
    assert_eq!(
        support::documents(&coll).await,
        [
            doc! { "_id": 1, "email": "a@x", "tags": ["red", "blue"], "phone": "1" },
            doc! { "_id": 3, "email": "b@x" },
        ]
    );
    assert!(verify(&coll, &index).await.unwrap().is_verified());
    let archived = db
        .collection::<Document>("archive")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert!(
        archived > 0,
        "the merged and deleted documents are archived first"
    );
    assert_eq!(
        (done.removal().archived(), done.removal().changed()),
        (2, 1)
    );

    // Once the unique index is gone, the run's archive puts every document back as it was.
    coll.drop_index("email_1").await.unwrap();
    let archive = Archive::new(&db.collection::<()>("archive"), "merge-run");
    let back = restore(&coll, &archive).await.expect("restore");
    assert_eq!(back.restored(), 2);
    assert!(back.refused().is_empty());
    assert_eq!(
        support::documents(&coll).await,
        [
            doc! { "_id": 1, "email": "a@x", "tags": ["red"] },
            doc! { "_id": 2, "email": "a@x", "tags": ["blue"], "phone": "1" },
            doc! { "_id": 3, "email": "b@x" },
        ]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_rollout_archives_what_it_deletes_and_restore_puts_it_back() {
    let db = database("rollout_delete_archive").await;
    let users = db.collection::<Document>("users");
    load(&users, 1_000, 100).await;
    let before = support::documents(&users).await;
    let index = UniqueIndex::new(["email"]).with_collation(en2());
    let archive = Archive::new(&db.collection::<()>("archive"), "delete-run");
    let done = rollout_unique_index(&users, &index, Keep::oldest())
        .archive(archive.clone())
        .batch_size(30)
        .await
        .expect("rollout");
    assert!(done.is_online());
    assert_eq!(done.server_groups(), 100);
    assert_eq!(
        (done.removal().removed(), done.removal().archived()),
        (200, 200)
    );
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 800);
    assert!(verify(&users, &index).await.unwrap().is_verified());

    // The unique index refuses each deleted duplicate back; without it, all come back.
    let refused = restore(&users, &archive).await.expect("restore");
    assert_eq!((refused.restored(), refused.refused().len()), (0, 200));
    users.drop_index("email_1").await.unwrap();
    let back = restore(&users, &archive).await.expect("restore");
    assert_eq!(back.restored(), 200);
    assert_eq!(support::documents(&users).await, before);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_before_the_index_is_created() {
    let db = database("rollout_input").await;
    let users = db.collection::<Document>("users");
    load(&users, 10, 2).await;
    let before = support::documents(&users).await;
    let index = UniqueIndex::new(["email"]);
    let archive = Archive::new(&db.collection::<()>("archive"), "input-run");
    // Unsetting the key on an index that is neither sparse nor partial.
    let unset = Resolve::Rekey(Keep::oldest(), Rekey::unset(), archive);
    let err = rollout_unique_index(&users, &index, unset)
        .await
        .unwrap_err();
    assert!(matches!(err, DedupeError::UnsetNotExcluded), "{err:?}");
    // An id limit of zero.
    let err = rollout_unique_index(&users, &index, Keep::oldest())
        .max_ids_per_group(0)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DedupeError::ZeroLimit {
                option: "max_ids_per_group"
            }
        ),
        "{err:?}"
    );
    // A keep field that is not a field path.
    let err = rollout_unique_index(&users, &index, Keep::oldest_by("$where"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DedupeError::InvalidField { field, .. } if field == "$where"),
        "{err:?}"
    );
    let names: Vec<String> = users
        .list_index_names()
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(names, ["_id_"], "no index is created");
    assert_eq!(support::documents(&users).await, before);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_disagreement_stops_the_rollout_before_anything_is_resolved() {
    let db = database("rollout_disagree").await;
    let users = db.collection::<Document>("users");
    // 5,000 pairs: `_id` i and i + 5,000 share an email.
    let docs: Vec<Document> = (0..10_000)
        .map(|i| doc! { "_id": i, "email": format!("e{}@x", i % 5_000) })
        .collect();
    support::insert(&users, docs).await;
    let index = UniqueIndex::new(["email"]);

    // From the cross-check on, another client deletes one document of a pair after another:
    // each of its deletes that lands between the server's report and the aggregation makes
    // them list different groups.
    let checking = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let deleter = {
        let (users, checking, stop) = (users.clone(), checking.clone(), stop.clone());
        tokio::spawn(async move {
            let mut deleted = Vec::new();
            while !checking.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            for id in 5_000..10_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                users.delete_one(doc! { "_id": id }).await.unwrap();
                deleted.push(id);
            }
            deleted
        })
    };
    let seen = checking.clone();
    let err = rollout_unique_index(&users, &index, Keep::oldest())
        .on_progress(move |p| {
            if p.step() == RolloutStep::CrossCheck {
                seen.store(true, Ordering::Relaxed);
            }
        })
        .await
        .unwrap_err();
    stop.store(true, Ordering::Relaxed);
    let deleted = deleter.await.unwrap();
    assert!(
        matches!(err, DedupeError::Disagreement { .. }),
        "{err:?} ({} deleted meanwhile)",
        deleted.len()
    );
    assert!(deleted.len() < 5_000, "the deleter ran out of pairs");
    // Only the other client's deletes: the rollout resolved nothing, and left the index
    // prepared, not unique.
    let left = support::int_ids(&users).await;
    let expected: std::collections::BTreeSet<i64> = (0..10_000)
        .filter(|id| !deleted.contains(id))
        .map(i64::from)
        .collect();
    assert_eq!(left, expected);
    let spec = support::index_spec(&users, "email_1").await.expect("index");
    assert_eq!(spec.get_bool("prepareUnique"), Ok(true));
    assert!(spec.get("unique").is_none(), "{spec:?}");
    db.drop().await.unwrap();
}

#[tokio::test]
async fn null_key_groups_stop_the_rollout_unless_asked_for() {
    let db = database("rollout_null").await;
    let users = db.collection::<Document>("users");
    users
        .insert_many(vec![
            doc! { "_id": 1, "email": "ann@example.com" },
            doc! { "_id": 2, "email": "ann@example.com" },
            doc! { "_id": 3 },
            doc! { "_id": 4 },
            doc! { "_id": 5, "email": Bson::Null },
        ])
        .await
        .unwrap();
    let index = UniqueIndex::new(["email"]);

    // Left alone by default: the keyed group is resolved, the keyless ones are not, and the
    // index stays prepared (refusing new duplicates), not unique.
    let err = rollout_unique_index(&users, &index, Keep::oldest())
        .await
        .unwrap_err();
    assert!(matches!(err, DedupeError::NullKeyGroups { groups: 1 }));
    assert_eq!(
        err.to_string(),
        "1 groups of documents without the key stand in the way: use a sparse or partial index, or resolve them with null_keys(true)"
    );
    let ids: Vec<Bson> = support::documents(&users)
        .await
        .iter()
        .map(|d| d.get("_id").cloned().unwrap())
        .collect();
    assert_eq!(ids, [Bson::Int32(1), 3.into(), 4.into(), 5.into()]);
    let spec = support::index_spec(&users, "email_1")
        .await
        .expect("email_1");
    assert_eq!(spec.get_bool("prepareUnique").ok(), Some(true));
    assert!(spec.get("unique").is_none());

    // Asked for: resolved and converted.
    let done = rollout_unique_index(&users, &index, Keep::oldest())
        .null_keys(true)
        .await
        .unwrap();
    assert_eq!(done.index(), "email_1");
    assert_eq!(support::documents(&users).await.len(), 2);
    assert!(verify(&users, &index).await.unwrap().is_verified());
}
