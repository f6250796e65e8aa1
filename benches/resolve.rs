//! Resolving duplicates with an archive against the guides' approach by hand, on a real
//! mongod (tests/support).
//!
//! The collection: `DUPKEY_BENCH_DOCS` documents (default 1,000,000) in groups of 10 that
//! share an email (so 100,000 groups by default). Each round copies it afresh (`$out`) and
//! times, in rotating order:
//! - **by hand**: one aggregation (`$group` by email, `$push` of `_id`s), then
//!   `deleteMany({ _id: { $in: [...] } })` per 1,000 ids; no archive;
//! - **by hand, durable archive**: the same, and per 1,000 ids, before the delete, the
//!   documents read (`find` by `_id`) and archived with `insert_many` at `w: "majority",
//!   j: true`: a careful hand-written equivalent of the next row;
//! - **remove + archive**: `remove_duplicates(..).archive(..)`, the originals archived
//!   durably (`w: "majority", j: true`) before the deletes;
//! - **merge**: `merge_duplicates(.., Merge::fill_missing(), ..)`, archive included;
//! - **remove, no archive**: `remove_duplicates` as before, to show what the archive costs.
//!
//! Prints the medians and minimums of `DUPKEY_BENCH_ROUNDS` rounds (default 3), each ratio
//! against by hand, and the client's peak heap during each (a counting global allocator).
//! Target: remove + archive at most 1.0 of by hand with a durable archive.
//!
//! `DUPKEY_BENCH_DOCS=100000 cargo bench --bench resolve`

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "counting/mod.rs"]
mod counting;

use std::time::{Duration, Instant};

use dupkey::dedupe::{merge_duplicates, remove_duplicates, Archive, Keep, Merge, UniqueIndex};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Acknowledgment, AggregateOptions, WriteConcern};
use mongodb::{Collection, Database};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

const GROUP: i64 = 10;

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `docs` documents, ten per email, some fields present only in some of them.
async fn load(source: &Collection<Document>, docs: i64) {
    source.drop().await.unwrap();
    for start in (0..docs).step_by(10_000) {
        let batch: Vec<Document> = (start..(start + 10_000).min(docs))
            .map(|i| {
                let mut d = doc! {
                    "_id": i,
                    "email": format!("user{}@example.com", i / GROUP),
                    "name": format!("User {i}"),
                    "n": i % 97,
                };
                if i % 3 == 0 {
                    d.insert("phone", format!("+47 {i:08}"));
                }
                d
            })
            .collect();
        source.insert_many(batch).await.unwrap();
    }
}

/// A fresh copy of the source, and no archive.
async fn reset(db: &Database) {
    db.collection::<Document>("users").drop().await.unwrap();
    db.collection::<Document>("archive").drop().await.unwrap();
    db.collection::<Document>("source")
        .aggregate([doc! { "$out": "users" }])
        .await
        .unwrap();
}

/// The guides' approach, by hand with the driver.
async fn by_hand(coll: &Collection<Document>) -> u64 {
    let pipeline = vec![
        doc! { "$group": { "_id": "$email", "ids": { "$push": "$_id" }, "count": { "$sum": 1 } } },
        doc! { "$match": { "count": { "$gt": 1 } } },
    ];
    let options = AggregateOptions::builder().allow_disk_use(true).build();
    let mut groups = coll
        .aggregate(pipeline)
        .with_options(options)
        .await
        .unwrap();
    let (mut doomed, mut deleted) = (Vec::new(), 0);
    while let Some(group) = groups.try_next().await.unwrap() {
        let ids = group.get_array("ids").unwrap();
        doomed.extend(ids.iter().skip(1).cloned());
        if doomed.len() >= 1000 {
            let ids: Vec<Bson> = std::mem::take(&mut doomed);
            deleted += coll
                .delete_many(doc! { "_id": { "$in": ids } })
                .await
                .unwrap()
                .deleted_count;
        }
    }
    if !doomed.is_empty() {
        deleted += coll
            .delete_many(doc! { "_id": { "$in": doomed } })
            .await
            .unwrap()
            .deleted_count;
    }
    deleted
}

/// By hand, and each batch archived durably before it is deleted: read the documents,
/// `insert_many` them (with the run id) at `w: "majority", j: true`, then `deleteMany`.
async fn by_hand_archived(db: &Database) -> u64 {
    let coll = db.collection::<Document>("users");
    let archive = db.collection::<Document>("archive");
    let durable = WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build();
    let pipeline = vec![
        doc! { "$group": { "_id": "$email", "ids": { "$push": "$_id" }, "count": { "$sum": 1 } } },
        doc! { "$match": { "count": { "$gt": 1 } } },
    ];
    let options = AggregateOptions::builder().allow_disk_use(true).build();
    let mut groups = coll
        .aggregate(pipeline)
        .with_options(options)
        .await
        .unwrap();
    let (mut doomed, mut deleted) = (Vec::new(), 0);
    let mut group = groups.try_next().await.unwrap();
    while group.is_some() || !doomed.is_empty() {
        if let Some(g) = &group {
            doomed.extend(g.get_array("ids").unwrap().iter().skip(1).cloned());
            group = groups.try_next().await.unwrap();
            if doomed.len() < 1000 && group.is_some() {
                continue;
            }
        }
        let ids: Vec<Bson> = std::mem::take(&mut doomed);
        let originals: Vec<Document> = coll
            .find(doc! { "_id": { "$in": &ids } })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let entries = originals
            .into_iter()
            .map(|original| doc! { "run": "bench", "doc": original });
        archive
            .insert_many(entries)
            .write_concern(durable.clone())
            .await
            .unwrap();
        deleted += coll
            .delete_many(doc! { "_id": { "$in": ids } })
            .await
            .unwrap()
            .deleted_count;
    }
    deleted
}

async fn remove_archived(db: &Database, index: &UniqueIndex) -> u64 {
    let coll = db.collection::<Document>("users");
    let archive = Archive::new(&db.collection::<()>("archive"), "bench");
    let done = remove_duplicates(&coll, index, Keep::oldest())
        .archive(archive)
        .await
        .unwrap();
    assert_eq!(done.archived(), done.removed());
    done.removed()
}

async fn remove_plain(db: &Database, index: &UniqueIndex) -> u64 {
    let coll = db.collection::<Document>("users");
    let done = remove_duplicates(&coll, index, Keep::oldest())
        .await
        .unwrap();
    done.removed()
}

async fn merge(db: &Database, index: &UniqueIndex) -> u64 {
    let coll = db.collection::<Document>("users");
    let archive = Archive::new(&db.collection::<()>("archive"), "bench");
    let done = merge_duplicates(&coll, index, Keep::oldest(), Merge::fill_missing(), archive)
        .await
        .unwrap();
    done.removed()
}

/// `f`'s output, how long it took, and the peak live heap bytes above the level at its start.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, usize) {
    let started = Instant::now();
    let (out, peak) = counting::peak_heap(f);
    (out, started.elapsed(), peak)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2
    }
}

fn main() {
    let docs = env("DUPKEY_BENCH_DOCS", 1_000_000);
    let rounds = env("DUPKEY_BENCH_ROUNDS", 3).max(1) as usize;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(support::client());
    let db = client.database("bench_resolve");
    let index = UniqueIndex::new(["email"]);
    let expected = (docs / GROUP * (GROUP - 1)) as u64;

    let started = Instant::now();
    rt.block_on(load(&db.collection("source"), docs));
    eprintln!("loaded {docs} documents in {:.1?}", started.elapsed());

    let names = [
        "by hand",
        "by hand + archive",
        "remove + archive",
        "merge",
        "remove, no archive",
    ];
    let mut times = vec![Vec::new(); names.len()];
    let mut heaps = [0usize; 5];
    for round in 0..rounds {
        for k in 0..names.len() {
            let which = (k + round) % names.len();
            rt.block_on(reset(&db));
            let (deleted, took, heap) = timed(|| {
                rt.block_on(async {
                    match which {
                        0 => by_hand(&db.collection("users")).await,
                        1 => by_hand_archived(&db).await,
                        2 => remove_archived(&db, &index).await,
                        3 => merge(&db, &index).await,
                        _ => remove_plain(&db, &index).await,
                    }
                })
            });
            assert_eq!(deleted, expected, "{}", names[which]);
            eprintln!("round {round}: {} {took:.2?}", names[which]);
            times[which].push(took);
            heaps[which] = heaps[which].max(heap);
        }
    }
    // Other load on the machine only adds time: the minimums are reported beside the medians.
    let minimums: Vec<Duration> = times.iter().map(|t| *t.iter().min().unwrap()).collect();
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    let ratio = |i: usize| medians[i].as_secs_f64() / medians[0].as_secs_f64();
    let min_ratio = |i: usize| minimums[i].as_secs_f64() / minimums[0].as_secs_f64();
    println!(
        "{docs} documents, {} groups of {GROUP}, {rounds} rounds (medians):",
        docs / GROUP
    );
    for i in 0..names.len() {
        println!(
            "  {:<18} median {:>9.2?} (ratio {:.2}), min {:>9.2?} (ratio {:.2}), peak client heap {:.1} MiB",
            names[i],
            medians[i],
            ratio(i),
            minimums[i],
            min_ratio(i),
            heaps[i] as f64 / 1048576.0
        );
    }
    let durable = |i: usize| medians[i].as_secs_f64() / medians[1].as_secs_f64();
    let durable_min = |i: usize| minimums[i].as_secs_f64() / minimums[1].as_secs_f64();
    println!(
        "remove + archive / by hand + durable archive = {:.2} median, {:.2} min (target at most 1.0); \
         remove + archive / plain by hand = {:.2} median, {:.2} min; \
         merge / by hand = {:.2} median, {:.2} min",
        durable(2),
        durable_min(2),
        ratio(2),
        min_ratio(2),
        ratio(3),
        min_ratio(3)
    );
    rt.block_on(async { db.drop().await }).unwrap();
}
