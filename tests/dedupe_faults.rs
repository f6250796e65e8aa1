//! Interrupted at every write boundary (deterministic fault injection), a run run again with
//! the same archive ends as an uninterrupted run does, and restoring it brings back exactly
//! the original documents; so does a restore interrupted and run again.

mod support;

use dupkey::dedupe::{
    merge_duplicates, rekey_duplicates, remove_duplicates, restore, Archive, DedupeError, Keep,
    Merge, Rekey, ResolveDuplicates, UniqueIndex,
};
use mongodb::bson::{self, doc, Document};
use mongodb::{Collection, Database};

/// Six groups (one of them differing only by case, under a case-insensitive collation in
/// the collated cases) and a few unique documents; fields vary so merges have work to do.
fn originals() -> Vec<Document> {
    let mut docs = Vec::new();
    let mut id = 0;
    for g in 0..6 {
        for m in 0..(2 + g % 3) {
            id += 1;
            let mut d = doc! { "_id": id, "email": format!("user{g}@x"), "n": m + 1 };
            if m % 2 == 1 {
                d.insert("phone", format!("{g}{m}"));
            }
            d.insert("tags", vec![format!("t{m}"), format!("g{g}")]);
            docs.push(d);
        }
    }
    for u in 0..4 {
        id += 1;
        docs.push(doc! { "_id": id, "email": format!("single{u}@x"), "n": 0 });
    }
    docs
}

/// Documents as bytes, so field order and types count.
async fn state(coll: &Collection<Document>) -> Vec<Vec<u8>> {
    let docs = support::documents(coll).await;
    docs.iter().map(|d| bson::to_vec(d).unwrap()).collect()
}

fn bytes(docs: &[Document]) -> Vec<Vec<u8>> {
    docs.iter().map(|d| bson::to_vec(d).unwrap()).collect()
}

async fn fresh(db: &Database) -> (Collection<Document>, Archive) {
    db.drop().await.unwrap();
    let coll = db.collection::<Document>("users");
    coll.insert_many(originals()).await.unwrap();
    (coll, Archive::new(&db.collection::<()>("archive"), "run-1"))
}

type Build = for<'a> fn(&Collection<Document>, &'a UniqueIndex, Archive) -> ResolveDuplicates<'a>;

fn delete<'a>(
    coll: &Collection<Document>,
    index: &'a UniqueIndex,
    archive: Archive,
) -> ResolveDuplicates<'a> {
    remove_duplicates(coll, index, Keep::newest()).archive(archive)
}

fn merge_fill<'a>(
    coll: &Collection<Document>,
    index: &'a UniqueIndex,
    archive: Archive,
) -> ResolveDuplicates<'a> {
    merge_duplicates(coll, index, Keep::oldest(), Merge::fill_missing(), archive)
}

/// Not idempotent: a merge repeated on its own result would add the counts again.
fn merge_sum<'a>(
    coll: &Collection<Document>,
    index: &'a UniqueIndex,
    archive: Archive,
) -> ResolveDuplicates<'a> {
    let sum = Merge::with(|survivor, other| {
        let n = survivor.get_i32("n").unwrap() + other.get_i32("n").unwrap();
        survivor.insert("n", n);
    });
    merge_duplicates(
        coll,
        index,
        Keep::prefer(|a, b| std::future::ready(a.len() > b.len())),
        sum,
        archive,
    )
}

fn rekey<'a>(
    coll: &Collection<Document>,
    index: &'a UniqueIndex,
    archive: Archive,
) -> ResolveDuplicates<'a> {
    let rekey = Rekey::with(|d| {
        doc! { "email": format!("{}#{}", d.get_str("email").unwrap(), d.get_i32("_id").unwrap()) }
    });
    rekey_duplicates(coll, index, Keep::oldest(), rekey, archive)
}

async fn every_boundary(name: &str, build: Build) {
    let client = support::client().await;
    let db = client.database(&support::unique_db(name));
    let index = UniqueIndex::new(["email"]);

    // The uninterrupted run: its end state, and its write count.
    let (coll, archive) = fresh(&db).await;
    build(&coll, &index, archive.clone())
        .batch_size(1)
        .await
        .unwrap();
    let end = state(&coll).await;
    assert_ne!(end, bytes(&originals()), "{name}: the run changed nothing");

    let mut stopped = 0;
    for k in 0.. {
        let (coll, archive) = fresh(&db).await;
        match build(&coll, &index, archive.clone())
            .batch_size(1)
            .fail_before_write(k)
            .await
        {
            Err(DedupeError::FaultInjected(at)) => assert_eq!(at, k),
            Ok(_) => break,
            Err(other) => panic!("{name}: {other:?}"),
        }
        stopped += 1;
        build(&coll, &index, archive.clone())
            .batch_size(1)
            .await
            .unwrap();
        assert_eq!(
            state(&coll).await,
            end,
            "{name}: stopped before write {k}, then re-run"
        );
        let back = restore(&coll, &archive).await.unwrap();
        assert!(back.refused().is_empty());
        assert_eq!(
            state(&coll).await,
            bytes(&originals()),
            "{name}: restored after a stop at {k}"
        );
    }
    assert!(stopped >= 8, "{name}: only {stopped} write boundaries");

    // A restore stopped at each of its writes, then run again.
    for k in 0.. {
        let (coll, archive) = fresh(&db).await;
        build(&coll, &index, archive.clone())
            .batch_size(1)
            .await
            .unwrap();
        match restore(&coll, &archive)
            .batch_size(2)
            .fail_before_write(k)
            .await
        {
            Err(DedupeError::FaultInjected(_)) => {}
            Ok(_) => break,
            Err(other) => panic!("{name}: {other:?}"),
        }
        restore(&coll, &archive).batch_size(2).await.unwrap();
        assert_eq!(
            state(&coll).await,
            bytes(&originals()),
            "{name}: restore stopped at {k}"
        );
    }
    db.drop().await.unwrap();
}

#[tokio::test]
async fn delete_with_archive() {
    every_boundary("faults_delete", delete).await;
}

#[tokio::test]
async fn merge_filling_missing_fields() {
    every_boundary("faults_merge_fill", merge_fill).await;
}

#[tokio::test]
async fn merge_by_a_function_that_is_not_idempotent() {
    every_boundary("faults_merge_sum", merge_sum).await;
}

#[tokio::test]
async fn rekey_by_a_function() {
    every_boundary("faults_rekey", rekey).await;
}
