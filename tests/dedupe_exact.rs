//! What a resolve run deletes, exactly: `_id`s and keys compared byte for byte whatever
//! the index's or the collection's collation, and groups whose key is null or missing left
//! alone unless asked for.

mod support;

use dupkey::dedupe::{
    merge_duplicates, remove_duplicates, Archive, Keep, Merge, SkipReason, UniqueIndex,
};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Collation, CollationStrength};
use support::writer::meanwhile;

fn en2() -> Collation {
    Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build()
}

fn case_ids() -> Vec<Document> {
    vec![
        doc! { "_id": "bob", "email": "bob@x", "n": 1 },
        doc! { "_id": "Bob", "email": "BOB@X", "n": 2 },
        doc! { "_id": "BOB", "email": "Bob@x", "n": 3 },
    ]
}

#[tokio::test]
async fn string_ids_that_differ_only_in_case_keep_the_survivor() {
    let db = support::database("exact_case_ids").await;
    let index = UniqueIndex::new(["email"]).with_collation(en2());
    // With an archive (the documents read whole) and without.
    for (name, archived) in [("archived", true), ("unarchived", false)] {
        let coll = db.collection::<Document>(name);
        support::insert(&coll, case_ids()).await;
        let mut survivors = Vec::new();
        let mut run = remove_duplicates(&coll, &index, Keep::oldest())
            .on_group(|r| survivors.push((r.survivor().clone(), r.removed().len())));
        if archived {
            run = run.archive(Archive::new(&db.collection::<()>("archive"), name));
        }
        let done = run.await.unwrap();
        assert_eq!(survivors.len(), 1, "{name}");
        assert_eq!(survivors[0].1, 2, "{name}");
        assert_eq!((done.removed(), done.groups()), (2, 1), "{name}");
        assert!(done.skipped().is_empty(), "{name}");
        let left = support::documents(&coll).await;
        assert_eq!(left.len(), 1, "{name}: {left:?}");
        assert_eq!(left[0].get("_id"), Some(&survivors[0].0), "{name}");
        if archived {
            assert_eq!(done.archived(), 2, "{name}");
        }
    }
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_whose_key_changed_only_in_case_since_it_was_read_is_not_deleted() {
    let db = support::database("exact_case_guard").await;
    let coll = db.collection::<Document>("users");
    let docs: Vec<Document> = (1..=4)
        .map(|i| doc! { "_id": i, "email": if i % 2 == 0 { "ann@x" } else { "ANN@X" } })
        .collect();
    support::insert(&coll, docs).await;
    let index = UniqueIndex::new(["email"]).with_collation(en2());
    let db_name = db.name().to_owned();
    // Between the read and the delete, document 3's key changes spelling: the same key
    // under the index's collation, not the value the run read.
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .on_group(|r| {
            assert_eq!(r.removed().len(), 3);
            meanwhile(&db_name, |db| async move {
                let users = db.collection::<Document>("users");
                users
                    .update_one(doc! { "_id": 3 }, doc! { "$set": { "email": "Ann@x" } })
                    .await
                    .unwrap();
            });
        })
        .await
        .unwrap();
    assert_eq!(done.removed(), 2);
    assert_eq!(
        support::documents(&coll).await,
        [
            doc! { "_id": 1, "email": "ANN@X" },
            doc! { "_id": 3, "email": "Ann@x" },
        ]
    );
    db.drop().await.unwrap();
}

fn keyless() -> Vec<Document> {
    vec![
        doc! { "_id": 1, "name": "Ann" },
        doc! { "_id": 2, "name": "Bob" },
        doc! { "_id": 3, "name": "Cid", "email": Bson::Null },
        doc! { "_id": 4, "name": "Dee" },
        doc! { "_id": 5, "name": "Eve" },
        doc! { "_id": 6, "name": "Fay", "email": "fay@x" },
        doc! { "_id": 7, "name": "Fay", "email": "fay@x", "phone": "555" },
    ]
}

#[tokio::test]
async fn null_key_groups_are_left_alone_and_reported_unless_asked_for() {
    let db = support::database("exact_null_keys").await;
    let coll = db.collection::<Document>("contacts");
    support::insert(&coll, keyless()).await;
    let index = UniqueIndex::new(["email"]);
    let archive = Archive::new(&db.collection::<()>("archive"), "run-1");

    let merged = merge_duplicates(
        &coll,
        &index,
        Keep::oldest(),
        Merge::fill_missing(),
        archive,
    )
    .await
    .unwrap();
    assert_eq!((merged.groups(), merged.removed()), (1, 1));
    assert_eq!(merged.null_key_groups(), 1);
    let skipped = merged.skipped();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].key(), &doc! { "email": Bson::Null });
    assert_eq!((skipped[0].count(), skipped[0].survivor()), (5, None));
    assert_eq!(skipped[0].reason(), SkipReason::NullKey);
    assert_eq!(
        skipped[0].reason().to_string(),
        "every key field is null or missing, which a sparse or partial unique index leaves out"
    );
    let mut expected = keyless();
    expected[5].insert("phone", "555");
    expected.pop();
    assert_eq!(support::documents(&coll).await, expected);

    // A dry run reports them the same way.
    let plan = remove_duplicates(&coll, &index, Keep::oldest())
        .dry_run(true)
        .await
        .unwrap();
    assert_eq!(
        (plan.groups(), plan.removed(), plan.null_key_groups()),
        (0, 0, 1)
    );

    // Asked for, they are resolved like any other group.
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .null_keys(true)
        .await
        .unwrap();
    assert_eq!(
        (done.groups(), done.removed(), done.null_key_groups()),
        (1, 4, 0)
    );
    assert!(done.skipped().is_empty());
    assert_eq!(
        support::documents(&coll).await,
        [expected[0].clone(), expected[5].clone()]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_compound_key_is_null_only_when_every_field_is() {
    let db = support::database("exact_null_compound").await;
    let coll = db.collection::<Document>("contacts");
    support::insert(
        &coll,
        vec![
            doc! { "_id": 1, "tenant": 1 },
            doc! { "_id": 2, "tenant": 1, "email": Bson::Null },
            doc! { "_id": 3 },
            doc! { "_id": 4, "tenant": Bson::Null },
        ],
    )
    .await;
    let index = UniqueIndex::new(["tenant", "email"]);
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .await
        .unwrap();
    // { tenant: 1, email: null } is a key; { tenant: null, email: null } is none.
    assert_eq!(
        (done.groups(), done.removed(), done.null_key_groups()),
        (1, 1, 1)
    );
    assert_eq!(support::int_ids(&coll).await, [1, 3, 4].into());
    db.drop().await.unwrap();
}
