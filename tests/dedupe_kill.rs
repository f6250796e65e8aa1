//! `remove_duplicates` and `merge_duplicates` killed with SIGKILL mid-run: only duplicates
//! are lost, every survivor stays, a re-run converges, and a merge's archive restores the
//! originals exactly.
//!
//! The run to kill is this same test binary, started again as a child process on the
//! ignored helper test `child_removes_slowly`, pointed at the parent's mongod through
//! environment variables.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dupkey::dedupe::{
    create_unique_index, merge_duplicates, remove_duplicates, restore, verify, Archive, Keep,
    Merge, UniqueIndex,
};
use mongodb::bson::{self, doc, Document};
use mongodb::Collection;

const URI: &str = "DUPKEY_KILL_URI";
const DB: &str = "DUPKEY_KILL_DB";

fn index() -> UniqueIndex {
    UniqueIndex::new(["email"])
}

async fn ids(coll: &Collection<Document>) -> BTreeSet<i32> {
    let docs = support::documents(coll).await;
    docs.iter().map(|d| d.get_i32("_id").unwrap()).collect()
}

/// The helper the parent runs as a child: dedupes slowly, in batches of 5 with a pause.
#[tokio::test]
#[ignore = "a helper: a_killed_run_loses_only_duplicates_and_a_rerun_converges runs it as a child process"]
async fn child_removes_slowly() {
    let uri = std::env::var(URI)
        .expect("run by a_killed_run_loses_only_duplicates_and_a_rerun_converges");
    let db =
        std::env::var(DB).expect("run by a_killed_run_loses_only_duplicates_and_a_rerun_converges");
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let coll = client.database(&db).collection::<Document>("users");
    remove_duplicates(&coll, &index(), Keep::oldest())
        .batch_size(5)
        .throttle(Duration::from_millis(40))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_killed_run_loses_only_duplicates_and_a_rerun_converges() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("dedupe_kill"));
    let coll = db.collection::<Document>("users");
    // 200 groups of 2 to 5 documents, and 1,000 documents without duplicates.
    let mut docs = Vec::new();
    let mut groups: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    let mut next = 0i32;
    for g in 0..200 {
        for _ in 0..2 + g % 4 {
            let id = (next * 613) % 1700; // 613 is prime: the _ids are a permutation
            next += 1;
            let email = format!("dup{g}@example.com");
            docs.push(doc! { "_id": id, "email": &email });
            groups.entry(email).or_default().insert(id);
        }
    }
    while next < 1700 {
        let id = (next * 613) % 1700;
        docs.push(doc! { "_id": id, "email": format!("user{next}@example.com") });
        next += 1;
    }
    coll.insert_many(docs).await.unwrap();
    let all: BTreeSet<i32> = (0..1700).collect();
    let doomed: BTreeSet<i32> = groups
        .values()
        .flat_map(|ids| ids.iter().skip(1).copied())
        .collect();
    let survivors: BTreeSet<i32> = groups.values().map(|ids| *ids.first().unwrap()).collect();
    assert_eq!(doomed.len(), 500);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_removes_slowly",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(URI, &support::server().uri)
        .env(DB, db.name())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has deleted something, well before it is done (500 deletes take
    // about 100 batches of 40 ms).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = coll.count_documents(doc! {}).await.unwrap();
        if left <= 1700 - 30 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child deleted nothing in 60 s"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before it was killed: {status}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9));

    let left = ids(&coll).await;
    let lost = &all - &left;
    assert!(
        lost.len() >= 30 && lost.len() < 500,
        "lost {} documents",
        lost.len()
    );
    assert!(
        lost.is_subset(&doomed),
        "lost a document that was no duplicate"
    );
    assert!(survivors.is_subset(&left), "lost a survivor");

    let done = remove_duplicates(&coll, &index(), Keep::oldest())
        .await
        .unwrap();
    assert_eq!(done.removed(), 500 - lost.len() as u64);
    assert_eq!(ids(&coll).await, &all - &doomed);
    let again = remove_duplicates(&coll, &index(), Keep::oldest())
        .await
        .unwrap();
    assert_eq!((again.groups(), again.removed()), (0, 0));
    assert_eq!(
        create_unique_index(&coll, &index()).await.unwrap(),
        "email_1"
    );
    assert!(verify(&coll, &index()).await.unwrap().is_verified());
    db.drop().await.unwrap();
}

fn merge<'a>(
    coll: &Collection<Document>,
    index: &'a UniqueIndex,
) -> dupkey::dedupe::ResolveDuplicates<'a> {
    let db = coll.client().database(&coll.namespace().db);
    let archive = Archive::new(&db.collection::<()>("archive"), "kill-run");
    let sum = Merge::with(|survivor, other| {
        let n = survivor.get_i32("n").unwrap_or(0) + other.get_i32("n").unwrap_or(0);
        survivor.insert("n", n);
    });
    merge_duplicates(coll, index, Keep::oldest(), sum, archive)
}

/// The helper the merge test runs as a child: merges slowly, in batches of 5 with a pause.
#[tokio::test]
#[ignore = "a helper: a_killed_merge_converges_and_restores_exactly runs it as a child process"]
async fn child_merges_slowly() {
    let uri = std::env::var(URI).expect("run by a_killed_merge_converges_and_restores_exactly");
    let db = std::env::var(DB).expect("run by a_killed_merge_converges_and_restores_exactly");
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let coll = client.database(&db).collection::<Document>("users");
    let email = index();
    merge(&coll, &email)
        .batch_size(5)
        .throttle(Duration::from_millis(40))
        .await
        .unwrap();
}

/// 150 groups of 2 to 4 documents (each with a count to add up), 300 unique documents.
fn counted() -> Vec<Document> {
    let mut docs = Vec::new();
    let mut id = 0;
    for g in 0..150 {
        for m in 0..2 + g % 3 {
            docs.push(doc! { "_id": id, "email": format!("dup{g}@x"), "n": m + 1 });
            id += 1;
        }
    }
    for u in 0..300 {
        docs.push(doc! { "_id": id, "email": format!("user{u}@x"), "n": 1 });
        id += 1;
    }
    docs
}

async fn state(coll: &Collection<Document>) -> Vec<Vec<u8>> {
    let docs = support::documents(coll).await;
    docs.iter().map(|d| bson::to_vec(d).unwrap()).collect()
}

#[tokio::test]
async fn a_killed_merge_converges_and_restores_exactly() {
    let client = support::client().await;
    let email = index();
    // The end state of a run never stopped.
    let reference = client.database(&support::unique_db("dedupe_kill_ref"));
    let coll = reference.collection::<Document>("users");
    coll.insert_many(counted()).await.unwrap();
    merge(&coll, &email).await.unwrap();
    let end = state(&coll).await;
    reference.drop().await.unwrap();

    let db = client.database(&support::unique_db("dedupe_kill_merge"));
    let coll = db.collection::<Document>("users");
    coll.insert_many(counted()).await.unwrap();
    let total = counted().len() as u64;
    let originals = state(&coll).await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_merges_slowly",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(URI, &support::server().uri)
        .env(DB, db.name())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while coll.count_documents(doc! {}).await.unwrap() > total - 20 {
        assert!(
            Instant::now() < deadline,
            "the child merged nothing in 60 s"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before it was killed: {status}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    let left = coll.count_documents(doc! {}).await.unwrap();
    assert!(
        left > total - 150 * 2,
        "the child finished before it was killed"
    );

    merge(&coll, &email).await.unwrap();
    assert_eq!(state(&coll).await, end);
    let archive = Archive::new(&db.collection::<()>("archive"), "kill-run");
    let back = restore(&coll, &archive).await.unwrap();
    assert!(back.refused().is_empty());
    assert_eq!(state(&coll).await, originals);
    db.drop().await.unwrap();
}
