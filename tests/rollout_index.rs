//! The index `dupkey::dedupe::rollout_unique_index` prepares and converts is the one asked
//! for, against a real mongod (6.0): sparse and partial indexes with a writer racing the
//! rollout, an index in the way refused before any write, an index replaced mid-run caught
//! when read back.

mod support;

use std::collections::BTreeSet;

use dupkey::dedupe::{
    restore, rollout_unique_index, verify, Archive, DedupeError, IndexState, Keep, RolloutStep,
    UniqueIndex,
};
use dupkey::IsDuplicate;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use support::writer::{Writer, Written};

/// Every `_id` of `docs`, as text (they mix integers and strings).
fn id_set<'d>(docs: impl IntoIterator<Item = &'d Document>) -> BTreeSet<String> {
    docs.into_iter()
        .map(|d| format!("{:?}", d.get("_id").expect("_id")))
        .collect()
}

/// Every refused write is a typed conflict on `index`; answers how many there are.
fn refused_on(written: &Written, index: &str) -> usize {
    for (doc, err) in &written.refused {
        assert!(err.is_duplicate(), "{doc:?}: {err:?}");
        let key = err.duplicate_key().expect("a DuplicateKey");
        assert_eq!(key.index(), Some(index), "{doc:?}: {key:?}");
    }
    written.refused.len()
}

/// How many of the writer's documents whose `_id` ends with `suffix` were acknowledged.
fn accepted(written: &Written, suffix: char) -> u64 {
    written
        .accepted
        .iter()
        .filter(|d| d.get_str("_id").is_ok_and(|id| id.ends_with(suffix)))
        .count() as u64
}

/// The fresh keys the writer wrote twice before the prepare step: each made a group.
fn fresh_pairs(written: &Written) -> u64 {
    let ids = id_set(&written.accepted);
    (1..)
        .take_while(|n| ids.contains(&format!("{:?}", Bson::from(format!("w{n}a")))))
        .filter(|n| ids.contains(&format!("{:?}", Bson::from(format!("w{n}b")))))
        .count() as u64
}

/// With the unique index dropped, the run's archive brings back every document it deleted:
/// the collection holds `before` and every write the writer had acknowledged.
async fn nothing_acknowledged_is_lost(
    coll: &Collection<Document>,
    index: &str,
    archive: &Archive,
    before: &[Document],
    written: &Written,
    removed: u64,
) {
    coll.drop_index(index).await.expect("drop the index");
    let back = restore(coll, archive).await.expect("restore");
    assert!(back.refused().is_empty(), "{:?}", back.refused());
    assert_eq!(back.restored(), removed);
    let mut expected = id_set(before);
    expected.extend(id_set(&written.accepted));
    assert_eq!(id_set(&support::documents(coll).await), expected);
}

#[tokio::test]
async fn a_sparse_rollout_with_a_writer_keeps_every_keyless_document() {
    let db = support::database("rollout_sparse").await;
    let users = db.collection::<Document>("users");
    // 1,000 emails three times each, 2,000 once, 3,000 documents without one, one null.
    let mut before: Vec<Document> = (0..5_000)
        .map(|i| doc! { "_id": i, "email": format!("dup{}@x", i % 1_000), "n": i })
        .collect();
    for doc in &mut before[3_000..] {
        doc.insert("email", format!("user{}@x", doc.get_i32("n").unwrap()));
    }
    before.extend((5_000..8_000).map(|i| doc! { "_id": i, "name": format!("guest {i}") }));
    before.push(doc! { "_id": 8_000, "email": Bson::Null });
    support::insert(&users, before.clone()).await;
    let index = UniqueIndex::new(["email"]).with_sparse(true);
    let archive = Archive::new(&db.collection::<()>("archive"), "sparse-rollout");

    // Keyless documents are never refused; a copy of an old key and a fresh key twice are,
    // from the prepare step on.
    let writer = Writer::start(&users, 20, |n| {
        vec![
            doc! { "_id": format!("w{n}k"), "name": "guest" },
            doc! { "_id": format!("w{n}d"), "email": format!("dup{}@x", n % 1_000) },
            doc! { "_id": format!("w{n}a"), "email": format!("fresh{n}@x") },
            doc! { "_id": format!("w{n}b"), "email": format!("fresh{n}@x") },
        ]
    });
    writer.wait_rounds(5).await;
    let done = rollout_unique_index(&users, &index, Keep::oldest())
        .archive(archive.clone())
        .batch_size(100)
        .await
        .expect("rollout");
    let written = writer.stop().await;

    assert_eq!(done.index(), "email_1");
    assert_eq!(done.started_from(), IndexState::Missing);
    assert!(done.is_online());
    // The writer's copies of old keys joined their groups; its fresh keys written twice
    // before the prepare step made groups of their own.
    let pairs = fresh_pairs(&written);
    assert!(pairs >= 5, "{pairs}");
    assert_eq!(done.server_groups(), 1_000 + pairs);
    assert_eq!(
        done.removal().removed(),
        2_000 + accepted(&written, 'd') + pairs
    );
    assert_eq!(done.removal().archived(), done.removal().removed());
    let spec = support::index_spec(&users, "email_1").await.expect("index");
    assert_eq!(
        (spec.get_bool("sparse").ok(), spec.get_bool("unique").ok()),
        (Some(true), Some(true)),
        "{spec:?}"
    );
    assert!(refused_on(&written, "email_1") >= 40);
    assert!(
        written
            .refused
            .iter()
            .all(|(doc, _)| doc.contains_key("email")),
        "a keyless document was refused"
    );
    let keyless_written = written
        .accepted
        .iter()
        .filter(|d| !d.contains_key("email"))
        .count() as u64;
    assert_eq!(
        users
            .count_documents(doc! { "email": { "$exists": false } })
            .await
            .unwrap(),
        3_000 + keyless_written
    );
    assert_eq!(
        users
            .count_documents(doc! { "email": Bson::Null })
            .await
            .unwrap(),
        1 + 3_000 + keyless_written,
        "the one null key stays, beside the keyless documents"
    );
    assert!(verify(&users, &index).await.unwrap().is_verified());
    let removed = done.removal().removed();
    nothing_acknowledged_is_lost(&users, "email_1", &archive, &before, &written, removed).await;
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_partial_rollout_with_a_writer_leaves_documents_outside_the_filter_alone() {
    let db = support::database("rollout_partial_writer").await;
    let users = db.collection::<Document>("users");
    // 1,000 groups: "dup<g>@x" out of the filter, then "dup<g>@x" and "DUP<g>@x" in it.
    let before: Vec<Document> = (0..3_000)
        .map(|i| {
            let g = i % 1_000;
            let email = if i < 2_000 {
                format!("dup{g}@x")
            } else {
                format!("DUP{g}@x")
            };
            doc! { "_id": i, "email": email, "live": i >= 1_000 }
        })
        .collect();
    support::insert(&users, before.clone()).await;
    let index = UniqueIndex::new(["email"])
        .with_collation(support::case_insensitive())
        .with_partial_filter(doc! { "live": true })
        .with_name("live_email");
    let archive = Archive::new(&db.collection::<()>("archive"), "partial-rollout");

    // Out of the filter, a copy of an old key is never refused; in it, it is, and so is a
    // fresh key in another case, from the prepare step on.
    let writer = Writer::start(&users, 20, |n| {
        let g = n % 1_000;
        vec![
            doc! { "_id": format!("w{n}o"), "email": format!("Dup{g}@X"), "live": false },
            doc! { "_id": format!("w{n}d"), "email": format!("dUP{g}@x"), "live": true },
            doc! { "_id": format!("w{n}a"), "email": format!("fresh{n}@x"), "live": true },
            doc! { "_id": format!("w{n}b"), "email": format!("FRESH{n}@x"), "live": true },
        ]
    });
    writer.wait_rounds(5).await;
    let done = rollout_unique_index(&users, &index, Keep::oldest())
        .archive(archive.clone())
        .batch_size(100)
        .await
        .expect("rollout");
    let written = writer.stop().await;

    assert_eq!(done.index(), "live_email");
    let pairs = fresh_pairs(&written);
    assert!(pairs >= 5, "{pairs}");
    assert_eq!(done.server_groups(), 1_000 + pairs);
    assert_eq!(
        done.removal().removed(),
        1_000 + accepted(&written, 'd') + pairs
    );
    let spec = support::index_spec(&users, "live_email")
        .await
        .expect("index");
    assert_eq!(
        spec.get_document("partialFilterExpression").ok(),
        Some(&doc! { "live": true })
    );
    assert_eq!(spec.get_bool("unique").ok(), Some(true));
    assert_eq!(
        spec.get_document("collation")
            .and_then(|c| c.get_i32("strength"))
            .ok(),
        Some(2)
    );
    assert!(refused_on(&written, "live_email") >= 40);
    assert!(
        written
            .refused
            .iter()
            .all(|(doc, _)| doc.get_bool("live").ok() == Some(true)),
        "a document out of the filter was refused"
    );
    let outside_written = written
        .accepted
        .iter()
        .filter(|d| d.get_bool("live").ok() == Some(false))
        .count() as u64;
    assert_eq!(
        users.count_documents(doc! { "live": false }).await.unwrap(),
        1_000 + outside_written,
        "no document out of the filter is deleted"
    );
    assert!(verify(&users, &index).await.unwrap().is_verified());
    let removed = done.removal().removed();
    nothing_acknowledged_is_lost(&users, "live_email", &archive, &before, &written, removed).await;
    db.drop().await.unwrap();
}

#[tokio::test]
async fn an_index_in_the_way_is_refused_before_anything_is_written() {
    let db = support::database("rollout_in_the_way").await;
    let users = db.collection::<Document>("users");
    let before = vec![
        doc! { "_id": 1, "email": "a@x" },
        doc! { "_id": 2, "email": "a@x" },
        doc! { "_id": 3, "name": "no email" },
    ];
    support::insert(&users, before.clone()).await;
    // A plain index on the key, not sparse: converting it would refuse documents the
    // sparse index asked for leaves out.
    users
        .create_index(IndexModel::builder().keys(doc! { "email": 1 }).build())
        .await
        .unwrap();
    let index = UniqueIndex::new(["email"]).with_sparse(true);
    let err = rollout_unique_index(&users, &index, Keep::oldest())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DedupeError::IndexInTheWay { name } if name == "email_1"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"another index is in the way of index "email_1" (same name, or same key and options)"#
    );
    assert_eq!(support::documents(&users).await, before);
    assert_eq!(
        support::index_spec(&users, "email_1").await,
        Some(doc! { "v": 2, "key": { "email": 1 }, "name": "email_1" }),
        "the index is left as it was"
    );

    // A plain sparse index is the one asked for: the rollout takes it from there.
    users.drop_index("email_1").await.unwrap();
    let sparse = IndexOptions::builder().sparse(true).build();
    users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "email": 1 })
                .options(sparse)
                .build(),
        )
        .await
        .unwrap();
    let done = rollout_unique_index(&users, &index, Keep::oldest())
        .await
        .expect("rollout");
    assert_eq!(done.started_from(), IndexState::Plain);
    assert_eq!(done.removal().removed(), 1);
    assert_eq!(
        support::documents(&users).await,
        [before[0].clone(), before[2].clone()]
    );
    assert!(verify(&users, &index).await.unwrap().is_verified());
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_replaced_during_the_rollout_is_caught_when_read_back() {
    let db = support::database("rollout_read_back").await;
    let users = db.collection::<Document>("users");
    support::insert(
        &users,
        vec![
            doc! { "_id": 1, "email": "a@x" },
            doc! { "_id": 2, "email": "a@x" },
            doc! { "_id": 3, "email": "b@x" },
        ],
    )
    .await;
    let index = UniqueIndex::new(["email"]);
    // Just before the conversion, another client replaces the prepared index with one of
    // the same name and key under a collation, prepared as well: `collMod` converts it.
    let intruder = users.clone();
    let err = rollout_unique_index(&users, &index, Keep::oldest())
        .on_progress(move |p| {
            if p.step() != RolloutStep::Convert {
                return;
            }
            let users = intruder.clone();
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async move {
                    users.drop_index("email_1").await.unwrap();
                    let collated = IndexOptions::builder()
                        .name("email_1".to_owned())
                        .collation(support::case_insensitive())
                        .build();
                    users
                        .create_index(
                            IndexModel::builder()
                                .keys(doc! { "email": 1 })
                                .options(collated)
                                .build(),
                        )
                        .await
                        .unwrap();
                    let ns = users.namespace();
                    users
                        .client()
                        .database(&ns.db)
                        .run_command(doc! {
                            "collMod": &ns.coll,
                            "index": { "name": "email_1", "prepareUnique": true },
                        })
                        .await
                        .unwrap();
                })
            });
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DedupeError::IndexChanged { name } if name == "email_1"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"index "email_1" changed during the rollout: it is not the index asked for"#
    );
    let spec = support::index_spec(&users, "email_1").await.expect("index");
    assert!(spec.contains_key("collation"), "{spec:?}");
    assert!(!verify(&users, &index).await.unwrap().is_verified());
    db.drop().await.unwrap();
}
