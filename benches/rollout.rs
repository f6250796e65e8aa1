//! The online rollout (`rollout_unique_index`: prepare, cross-check, resolve, convert) on N
//! documents with N/10 duplicate groups, against today's check-then-build path
//! (`remove_duplicates` then `create_unique_index`), on a real mongod (tests/support).
//!
//! Each run starts from the same freshly loaded collection (load time not counted). Prints,
//! from one run: both times and their ratio (alternating rounds), and the client's peak heap
//! during each (a counting global allocator).
//!
//! `DUPKEY_BENCH_N=1000000 DUPKEY_BENCH_ROUNDS=1 cargo bench --bench rollout`
//! (N default 1,000,000; rounds default 1).

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "counting/mod.rs"]
mod counting;

use std::time::{Duration, Instant};

use dupkey::dedupe::{
    create_unique_index, remove_duplicates, rollout_unique_index, verify, Keep, UniqueIndex,
};
use mongodb::bson::{doc, Document};
use mongodb::Collection;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

const CHUNK: usize = 10_000;

/// N documents; the first N/5 share N/10 emails two by two.
async fn load(coll: &Collection<Document>, n: usize) {
    coll.drop().await.unwrap();
    let groups = n / 10;
    for start in (0..n).step_by(CHUNK) {
        let batch: Vec<Document> = (start..(start + CHUNK).min(n))
            .map(|i| {
                let key = if i < 2 * groups { i % groups } else { i };
                doc! { "_id": i as i64, "email": format!("user{key}@example.com"), "n": (i % 97) as i32 }
            })
            .collect();
        coll.insert_many(batch).await.unwrap();
    }
}

async fn online(coll: &Collection<Document>, index: &UniqueIndex) -> u64 {
    let done = rollout_unique_index(coll, index, Keep::oldest())
        .await
        .unwrap();
    done.removal().removed()
}

async fn checked_build(coll: &Collection<Document>, index: &UniqueIndex) -> u64 {
    let removal = remove_duplicates(coll, index, Keep::oldest())
        .await
        .unwrap();
    create_unique_index(coll, index).await.unwrap();
    removal.removed()
}

fn main() {
    let n = counting::size("DUPKEY_BENCH_N", 1_000_000);
    let rounds = counting::size("DUPKEY_BENCH_ROUNDS", 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(support::client());
    let db = client.database("bench_rollout");
    let coll = db.collection::<Document>("users");
    let index = UniqueIndex::new(["email"]);

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut heap_ours, mut heap_theirs) = (0, 0);
    for round in 0..rounds {
        for first in [round % 2 == 0, round % 2 != 0] {
            let started = Instant::now();
            rt.block_on(load(&coll, n));
            eprintln!("loaded {n} documents in {:.1?}", started.elapsed());
            let t = Instant::now();
            let (removed, heap) = if first {
                counting::peak_heap(|| rt.block_on(online(&coll, &index)))
            } else {
                counting::peak_heap(|| rt.block_on(checked_build(&coll, &index)))
            };
            let elapsed = t.elapsed();
            assert_eq!(removed as usize, n / 10);
            assert!(rt.block_on(verify(&coll, &index)).unwrap().is_verified());
            if first {
                ours.push(elapsed);
                heap_ours = heap_ours.max(heap);
            } else {
                theirs.push(elapsed);
                heap_theirs = heap_theirs.max(heap);
            }
        }
    }
    let min = |v: &[Duration]| *v.iter().min().unwrap();
    println!(
        "online rollout / check-then-build: min {:.2?} / {:.2?} = ratio {:.3} ({rounds} \
         alternating rounds each; all: {ours:.2?} / {theirs:.2?}); {n} documents, {} groups",
        min(&ours),
        min(&theirs),
        min(&ours).as_secs_f64() / min(&theirs).as_secs_f64(),
        n / 10,
    );
    println!(
        "peak client heap: online rollout {:.1} MiB, check-then-build {:.1} MiB",
        counting::mib(heap_ours),
        counting::mib(heap_theirs),
    );
    rt.block_on(async { db.drop().await }).unwrap();
}
