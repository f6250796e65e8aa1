//! Resolve runs while another writer changes the collection: the writes land between the
//! run's read of a group and its writes (from the run's `on_group` callback), and the run
//! must neither lose a key nor overwrite the other writer's change.

mod support;

use dupkey::dedupe::{
    merge_duplicates, rekey_duplicates, remove_duplicates, Archive, Keep, Merge, Rekey, Report,
    ResolveDuplicates, SkipReason, UniqueIndex,
};
use mongodb::bson::{doc, Bson, Document};
use mongodb::{Collection, Database};
use support::writer::meanwhile;

fn contacts() -> Vec<Document> {
    vec![
        doc! { "_id": 1, "email": "ann@x", "name": "Ann" },
        doc! { "_id": 2, "email": "ann@x", "phone": "555" },
        doc! { "_id": 3, "email": "ann@x", "city": "Oslo" },
        doc! { "_id": 4, "email": "bob@x", "name": "Bob" },
        doc! { "_id": 5, "email": "bob@x", "phone": "556" },
    ]
}

async fn setup(prefix: &str) -> (Database, Collection<Document>) {
    let db = support::database(prefix).await;
    let coll = db.collection::<Document>("users");
    support::insert(&coll, contacts()).await;
    (db, coll)
}

/// The ways a run resolves the contacts' two groups, each keeping the oldest.
const MODES: [&str; 4] = ["remove", "remove+archive", "merge", "rekey"];

fn run<'a>(
    mode: &str,
    coll: &Collection<Document>,
    index: &'a UniqueIndex,
    db: &Database,
) -> ResolveDuplicates<'a> {
    let archive = Archive::new(&db.collection::<()>("archive"), "run-1");
    match mode {
        "remove" => remove_duplicates(coll, index, Keep::oldest()),
        "remove+archive" => remove_duplicates(coll, index, Keep::oldest()).archive(archive),
        "merge" => merge_duplicates(coll, index, Keep::oldest(), Merge::fill_missing(), archive),
        "rekey" => {
            let rekey = Rekey::with(|d| {
                let email = d.get_str("email").unwrap();
                doc! { "email": format!("{email}#{}", d.get_i32("_id").unwrap()) }
            });
            rekey_duplicates(coll, index, Keep::oldest(), rekey, archive)
        }
        other => unreachable!("{other}"),
    }
}

/// Runs `mode` with `change` made to the `ann@x` group's survivor (`_id` 1) once that group
/// is planned; checks that only the `bob@x` group was resolved and the `ann@x` group is
/// reported skipped; returns the documents of the `ann@x` group after the run.
async fn with_survivor_changed(mode: &str, change: Document) -> Vec<Document> {
    let (db, coll) = setup(&format!("writers_{}", mode.replace('+', "_"))).await;
    let index = UniqueIndex::new(["email"]);
    let db_name = db.name().to_owned();
    let done: Report = run(mode, &coll, &index, &db)
        .on_group(|r| {
            if r.survivor() == &Bson::Int32(1) {
                let change = change.clone();
                meanwhile(&db_name, move |db| async move {
                    let users = db.collection::<Document>("users");
                    if change.is_empty() {
                        users.delete_one(doc! { "_id": 1 }).await.unwrap();
                    } else {
                        users.update_one(doc! { "_id": 1 }, change).await.unwrap();
                    }
                });
            }
        })
        .await
        .unwrap();
    let skipped = done.skipped();
    assert_eq!(skipped.len(), 1, "{mode}: {skipped:?}");
    assert_eq!(skipped[0].key(), &doc! { "email": "ann@x" }, "{mode}");
    assert_eq!(skipped[0].count(), 3, "{mode}");
    assert_eq!(skipped[0].survivor(), Some(&Bson::Int32(1)), "{mode}");
    assert_eq!(skipped[0].reason(), SkipReason::SurvivorChanged, "{mode}");
    assert_eq!(
        skipped[0].reason().to_string(),
        "the survivor was deleted or changed by another writer since it was read"
    );
    assert_eq!(done.groups(), 1, "{mode}");
    // The bob@x group was resolved all the same.
    let bob = coll.find(doc! { "_id": { "$in": [4, 5] } }).await.unwrap();
    let bob: Vec<Document> = futures_util::TryStreamExt::try_collect(bob).await.unwrap();
    match mode {
        "rekey" => {
            assert_eq!((done.removed(), done.changed()), (0, 1), "{mode}");
            assert_eq!(bob[1].get_str("email"), Ok("bob@x#5"), "{mode}");
        }
        "merge" => {
            assert_eq!((done.removed(), done.changed()), (1, 1), "{mode}");
            assert_eq!(
                bob,
                [doc! { "_id": 4, "email": "bob@x", "name": "Bob", "phone": "556" }]
            );
        }
        _ => {
            assert_eq!((done.removed(), done.changed()), (1, 0), "{mode}");
            assert_eq!(bob, [contacts()[3].clone()], "{mode}");
        }
    }
    let ann = coll
        .find(doc! { "_id": { "$in": [1, 2, 3] } })
        .await
        .unwrap();
    let ann = futures_util::TryStreamExt::try_collect(ann).await.unwrap();
    db.drop().await.unwrap();
    ann
}

#[tokio::test]
async fn a_survivor_deleted_mid_run_leaves_its_group_alone_and_is_reported() {
    for mode in MODES {
        let ann = with_survivor_changed(mode, doc! {}).await;
        // The others keep the key: it is not gone from the collection.
        assert_eq!(ann, contacts()[1..3], "{mode}");
    }
}

#[tokio::test]
async fn a_survivor_re_keyed_mid_run_leaves_its_group_alone_and_is_reported() {
    for mode in MODES {
        let ann = with_survivor_changed(mode, doc! { "$set": { "email": "ann@y" } }).await;
        let mut expected = contacts()[..3].to_vec();
        expected[0].insert("email", "ann@y");
        assert_eq!(ann, expected, "{mode}");
    }
}

/// A merge of the `ann@x` group with `change` made to its survivor once the group is planned.
async fn merge_with(prefix: &str, change: Document) -> (Database, Collection<Document>, Report) {
    let (db, coll) = setup(prefix).await;
    let index = UniqueIndex::new(["email"]);
    let archive = Archive::new(&db.collection::<()>("archive"), "run-1");
    let db_name = db.name().to_owned();
    let done = merge_duplicates(
        &coll,
        &index,
        Keep::oldest(),
        Merge::fill_missing(),
        archive,
    )
    .on_group(|r| {
        if r.survivor() == &Bson::Int32(1) {
            let change = change.clone();
            meanwhile(&db_name, move |db| async move {
                let users = db.collection::<Document>("users");
                users.update_one(doc! { "_id": 1 }, change).await.unwrap();
            });
        }
    })
    .await
    .unwrap();
    (db, coll, done)
}

#[tokio::test]
async fn a_merge_keeps_a_concurrent_write_to_another_field_of_the_survivor() {
    let change = doc! { "$set": { "name": "Annie", "visits": 2 } };
    let (db, coll, done) = merge_with("writers_merge_other", change).await;
    assert!(done.skipped().is_empty(), "{:?}", done.skipped());
    assert_eq!((done.groups(), done.removed(), done.changed()), (2, 3, 2));
    let docs = support::documents(&coll).await;
    assert_eq!(docs.len(), 2);
    // The merge set only the fields it adds: the other writer's values stay.
    let ann = &docs[0];
    assert_eq!(ann.get_str("name"), Ok("Annie"));
    assert_eq!(ann.get_i32("visits"), Ok(2));
    assert_eq!(ann.get_str("phone"), Ok("555"));
    assert_eq!(ann.get_str("city"), Ok("Oslo"));
    assert_eq!(ann.len(), 6);
    // The archive records the change as the update sent, not a replacement.
    let archive = db.collection::<Document>("archive");
    let bucket = archive
        .find_one(doc! { "entries.id": 1 })
        .await
        .unwrap()
        .unwrap();
    let entries = bucket.get_array("entries").unwrap();
    let survivor = entries
        .iter()
        .filter_map(Bson::as_document)
        .find(|e| e.get("id") == Some(&Bson::Int32(1)))
        .unwrap();
    assert_eq!(
        survivor.get_document("change").unwrap(),
        &doc! { "$set": { "phone": "555", "city": "Oslo" } }
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_merge_whose_fields_another_writer_changed_skips_the_group() {
    let change = doc! { "$set": { "phone": "999" } };
    let (db, coll, done) = merge_with("writers_merge_same", change).await;
    let skipped = done.skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].survivor(), Some(&Bson::Int32(1)));
    assert_eq!(skipped[0].reason(), SkipReason::SurvivorChanged);
    // Only bob@x was merged; the ann@x update matched nothing, so nothing of that group
    // was deleted, and the other writer's phone stays.
    assert_eq!((done.groups(), done.removed(), done.changed()), (1, 1, 1));
    let docs = support::documents(&coll).await;
    assert_eq!(
        docs[..3],
        [
            doc! { "_id": 1, "email": "ann@x", "name": "Ann", "phone": "999" },
            contacts()[1].clone(),
            contacts()[2].clone(),
        ]
    );
    assert_eq!(docs.len(), 4);
    db.drop().await.unwrap();
}
