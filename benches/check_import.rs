//! `check_import` of N rows against a collection of N documents, against a raw unordered
//! `insert_many` of the same rows into a collection with the same unique index, on a real
//! mongod (tests/support).
//!
//! Prints, from one run: both times and their ratio (alternating rounds, ABBA), and the
//! client's peak heap during each (a counting global allocator). The rows come from a lazy
//! stream for the check and in chunks for the insert, as an import reading a file would.
//!
//! `DUPKEY_BENCH_N=1000000 DUPKEY_BENCH_ROUNDS=2 cargo bench --bench check_import`
//! (N default 1,000,000; rounds default 2; `DUPKEY_BENCH_BATCH`: the check's batch size,
//! default its own).

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "counting/mod.rs"]
mod counting;

use std::time::{Duration, Instant};

use dupkey::dedupe::{check_import_stream, ImportCheck};
use futures_util::stream;
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// Rows per `insert_many` of the baseline, and of the load.
const CHUNK: usize = 10_000;

fn stored(i: usize) -> Document {
    doc! { "_id": i as i64, "email": format!("user{i}@example.com"), "name": format!("User {i}"), "n": (i % 97) as i32 }
}

/// Row `i` of the import: 1% collide with a stored document, 1% with an earlier row, the
/// rest are new.
fn row(i: usize) -> Document {
    let email = match i % 100 {
        0 => format!("user{}@example.com", i / 2),
        1 if i > 100 => format!("new{}@example.com", i - 50),
        _ => format!("new{i}@example.com"),
    };
    doc! { "email": email, "name": format!("Imported {i}"), "n": (i % 89) as i32 }
}

async fn unique_email(coll: &Collection<Document>) {
    let options = IndexOptions::builder().unique(true).build();
    coll.create_index(
        IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(options)
            .build(),
    )
    .await
    .unwrap();
}

async fn load(coll: &Collection<Document>, n: usize) {
    coll.drop().await.unwrap();
    unique_email(coll).await;
    for start in (0..n).step_by(CHUNK) {
        let batch: Vec<Document> = (start..(start + CHUNK).min(n)).map(stored).collect();
        coll.insert_many(batch).await.unwrap();
    }
}

async fn check(coll: &Collection<Document>, n: usize, batch: Option<usize>) -> ImportCheck {
    let rows = stream::iter((0..n).map(row));
    let mut check = check_import_stream(coll, rows);
    if let Some(batch) = batch {
        check = check.batch_size(batch);
    }
    check.await.unwrap()
}

/// The baseline: the same rows, inserted unordered in chunks into a fresh collection with
/// the same unique index; answers the rows refused.
async fn raw_insert(coll: &Collection<Document>, n: usize) -> usize {
    coll.drop().await.unwrap();
    unique_email(coll).await;
    let mut refused = 0;
    for start in (0..n).step_by(CHUNK) {
        let batch: Vec<Document> = (start..(start + CHUNK).min(n)).map(row).collect();
        if let Err(err) = coll.insert_many(batch).ordered(false).await {
            use dupkey::IsDuplicate;
            refused += err.duplicate_keys().len();
        }
    }
    refused
}

fn main() {
    let n = counting::size("DUPKEY_BENCH_N", 1_000_000);
    let rounds = counting::size("DUPKEY_BENCH_ROUNDS", 2);
    let batch = std::env::var("DUPKEY_BENCH_BATCH")
        .ok()
        .map(|_| counting::size("DUPKEY_BENCH_BATCH", 1000));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(support::client());
    let db = client.database("bench_check_import");
    let target = db.collection::<Document>("users");
    let baseline = db.collection::<Document>("baseline");

    let started = Instant::now();
    rt.block_on(load(&target, n));
    eprintln!("loaded {n} documents in {:.1?}", started.elapsed());

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut heap_ours, mut heap_theirs) = (0, 0);
    let mut report = None;
    for round in 0..rounds {
        for first in [round % 2 == 0, round % 2 != 0] {
            let t = Instant::now();
            if first {
                let (found, heap) = counting::peak_heap(|| rt.block_on(check(&target, n, batch)));
                ours.push(t.elapsed());
                heap_ours = heap_ours.max(heap);
                report = Some(found);
            } else {
                let (refused, heap) = counting::peak_heap(|| rt.block_on(raw_insert(&baseline, n)));
                theirs.push(t.elapsed());
                heap_theirs = heap_theirs.max(heap);
                eprintln!("raw insert refused {refused} rows");
            }
        }
    }
    let report = report.unwrap();
    let min = |v: &[Duration]| *v.iter().min().unwrap();
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "check_import / raw insert_many: min {:.2?} / {:.2?} = ratio {:.3} ({rounds} alternating \
         rounds each; all: {ours:.2?} / {theirs:.2?}); {n} rows against {n} documents, batch {}",
        min(&ours),
        min(&theirs),
        ratio(min(&ours), min(&theirs)),
        batch.map_or("default".to_owned(), |b| b.to_string()),
    );
    println!(
        "check found {} conflicts ({} with stored documents, {} with rows) in {} rows",
        report.conflicts(),
        report.with_stored(),
        report.with_rows(),
        report.rows()
    );
    println!(
        "peak client heap: check_import {:.1} MiB, raw insert_many {:.1} MiB",
        counting::mib(heap_ours),
        counting::mib(heap_theirs),
    );
    rt.block_on(async { db.drop().await }).unwrap();
}
