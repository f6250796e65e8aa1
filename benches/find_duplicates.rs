//! `find_duplicates` on 1,000,000 documents against the same pipeline run by hand through
//! the driver, on a real mongod (tests/support).
//!
//! Prints, from one run: the time ratio find_duplicates / by hand (medians and minimums of
//! alternating rounds), the client's peak heap during each (a counting global allocator) and
//! its peak RSS (VmHWM); then criterion's own measurements of both (sample_size 10).
//!
//! `cargo bench --bench find_duplicates`

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "counting/mod.rs"]
mod counting;

use counting::peak_heap;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use dupkey::dedupe::{find_duplicates, UniqueIndex};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::AggregateOptions;
use mongodb::Collection;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

const DOCS: i32 = 1_000_000;
const GROUPS: usize = 10_000;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// 1,000,000 documents; the first 30,000 share 10,000 emails three by three.
async fn load(coll: &Collection<Document>) {
    coll.drop().await.unwrap();
    for start in (0..DOCS).step_by(10_000) {
        let batch: Vec<Document> = (start..start + 10_000)
            .map(|i| {
                let key = if i < 30_000 { i % 10_000 } else { i };
                doc! { "_id": i, "email": format!("user{key}@example.com"), "n": i % 97 }
            })
            .collect();
        coll.insert_many(batch).await.unwrap();
    }
}

async fn with_dupkey(coll: &Collection<Document>, index: &UniqueIndex) -> usize {
    let mut groups = find_duplicates(coll, index).await.unwrap();
    let mut n = 0;
    while let Some(group) = groups.try_next().await.unwrap() {
        black_box(&group);
        n += 1;
    }
    n
}

/// The same aggregation, written by hand.
async fn by_hand(coll: &Collection<Document>) -> usize {
    let pipeline = vec![
        doc! { "$group": {
            "_id": { "k0": { "$ifNull": ["$email", Bson::Null] } },
            "count": { "$sum": 1 },
            "ids": { "$push": "$_id" },
        } },
        doc! { "$match": { "$or": [
            { "count": { "$gt": 1 } },
            { "_id.k0": { "$type": "array" } },
        ] } },
        doc! { "$project": { "count": 1, "ids": { "$slice": ["$ids", 10_000i64] } } },
    ];
    let options = AggregateOptions::builder().allow_disk_use(true).build();
    let mut cursor = coll
        .aggregate(pipeline)
        .with_options(options)
        .await
        .unwrap();
    let mut n = 0;
    while let Some(group) = cursor.try_next().await.unwrap() {
        black_box(&group);
        n += 1;
    }
    n
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(support::client());
    let coll = client
        .database("bench_find_duplicates")
        .collection::<Document>("users");
    let index = UniqueIndex::new(["email"]);

    let started = Instant::now();
    rt.block_on(load(&coll));
    eprintln!("loaded {DOCS} documents in {:.1?}", started.elapsed());
    assert_eq!(rt.block_on(with_dupkey(&coll, &index)), GROUPS);
    assert_eq!(rt.block_on(by_hand(&coll)), GROUPS);

    // Interleaved rounds, the order alternating (ABBA...): the ratio from one run. Other
    // load on the machine only adds time, so the minimum is reported beside the median.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..6 {
        for first in [round % 2 == 0, round % 2 != 0] {
            let t = Instant::now();
            if first {
                rt.block_on(with_dupkey(&coll, &index));
                ours.push(t.elapsed());
            } else {
                rt.block_on(by_hand(&coll));
                theirs.push(t.elapsed());
            }
        }
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let (min_ours, min_theirs) = (*ours.iter().min().unwrap(), *theirs.iter().min().unwrap());
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "find_duplicates / by hand: median {ours:.2?} / {theirs:.2?} = ratio {:.3}; \
         min {min_ours:.2?} / {min_theirs:.2?} = ratio {:.3} \
         (6 alternating rounds each, {DOCS} documents, {GROUPS} groups)",
        ratio(ours, theirs),
        ratio(min_ours, min_theirs)
    );

    let hwm_before = vm_hwm_kib();
    let (_, heap_ours) = peak_heap(|| rt.block_on(with_dupkey(&coll, &index)));
    let (_, heap_theirs) = peak_heap(|| rt.block_on(by_hand(&coll)));
    println!(
        "peak client heap: find_duplicates {:.1} MiB, by hand {:.1} MiB (ratio {:.2}); VmHWM {} KiB before, {} KiB after",
        heap_ours as f64 / 1048576.0,
        heap_theirs as f64 / 1048576.0,
        heap_ours as f64 / heap_theirs as f64,
        hwm_before,
        vm_hwm_kib()
    );

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();
    let mut group = c.benchmark_group("find_duplicates_1m");
    group.bench_function("by_hand", |b| b.iter(|| rt.block_on(by_hand(&coll))));
    group.bench_function("find_duplicates", |b| {
        b.iter(|| rt.block_on(with_dupkey(&coll, &index)))
    });
    group.finish();
    c.final_summary();

    rt.block_on(async { coll.drop().await }).unwrap();
}
