//! Conflict-aware writes against their raw driver baselines, on a real mongod (started by
//! `tests/support`, stopped when the process exits).
//!
//! - `insert_one` vs `insert_or_conflict` (no conflict: fresh unique emails);
//! - `find_one_and_update(..).upsert(true)` vs `upsert_by_unique` (`$inc` on 1,000 keys,
//!   so mostly updates after the first round).
//!
//! Writes use `w: 1` (see `collection`). Each pair is measured interleaved by
//! `benches/support/pairs.rs` (shared with `benches/audit.rs`): every iteration runs one
//! baseline op and one helper op, in alternating order (A B, then B A), each timed on its own. Criterion gets two benchmarks
//! per pair (one reports the baseline's times, the other the helper's, both measured while
//! alternating), and the ratios printed at the end (throughput of the helper / throughput of
//! the baseline, from mean and from median op times) come from every op timed in both, so
//! drift (a growing collection, a checkpoint, a busy machine) weighs on both sides alike.
//!
//! A calibration pair (the upsert baseline against itself, on another collection) shows the
//! harness's noise floor on the machine at hand.
//!
//! `cargo bench --bench conflict -- --warm-up-time 1 --measurement-time 5`

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "support/pairs.rs"]
mod pairs;

use std::cell::Cell;

use criterion::Criterion;
use dupkey::prelude::*;
use mongodb::bson::{doc, Document};
use mongodb::options::{CollectionOptions, IndexOptions, WriteConcern};
use mongodb::{Collection, IndexModel};
use pairs::Pair;

/// A collection with a unique index on `key`, written with `w: 1`: the server's wait for the
/// journal (majority on a one-node replica set) would hide the client-side cost measured.
async fn collection(db: &mongodb::Database, name: &str, key: &str) -> Collection<Document> {
    let w1 = CollectionOptions::builder()
        .write_concern(WriteConcern::nodes(1))
        .build();
    let coll = db.collection_with_options::<Document>(name, w1);
    let unique = IndexOptions::builder().unique(true).build();
    coll.create_index(
        IndexModel::builder()
            .keys(doc! { key: 1 })
            .options(unique)
            .build(),
    )
    .await
    .expect("create index");
    coll
}

fn user(n: u64, side: &str) -> Document {
    doc! { "email": format!("user{n}-{side}@example.com"), "name": "Ann Example", "age": 42, "tags": ["a", "b"] }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db_name = support::unique_db("bench_conflict");
    let (client, raw_insert, ioc, raw_upsert, ubu, raw_upsert_2) = rt.block_on(async {
        let client = support::client().await;
        let db = client.database(&db_name);
        (
            client.clone(),
            collection(&db, "raw_insert", "email").await,
            collection(&db, "insert_or_conflict", "email").await,
            collection(&db, "raw_upsert", "key").await,
            collection(&db, "upsert_by_unique", "key").await,
            collection(&db, "raw_upsert_2", "key").await,
        )
    });

    let inserts = Pair::new();
    let (next_raw, next_helper) = (Cell::new(0_u64), Cell::new(0_u64));
    let fresh = |next: &Cell<u64>| {
        let n = next.get();
        next.set(n + 1);
        n
    };
    let insert_baseline = async |_| {
        let doc = user(fresh(&next_raw), "raw");
        raw_insert.insert_one(doc).await.expect("insert_one");
    };
    let insert_helper = async |_| {
        let doc = user(fresh(&next_helper), "helper");
        ioc.insert_or_conflict(doc).await.expect("no conflict");
    };
    let mut group = criterion.benchmark_group("insert");
    group.bench_function("insert_one", |b| {
        b.iter_custom(|iters| inserts.run(&rt, iters, insert_baseline, insert_helper, false))
    });
    group.bench_function("insert_or_conflict", |b| {
        b.iter_custom(|iters| inserts.run(&rt, iters, insert_baseline, insert_helper, true))
    });
    group.finish();

    let upserts = Pair::new();
    let key = |i: u64| format!("key-{}", i % 1000);
    let upsert_baseline = async |i| {
        raw_upsert
            .find_one_and_update(doc! { "key": key(i) }, doc! { "$inc": { "count": 1 } })
            .upsert(true)
            .await
            .expect("find_one_and_update");
    };
    let upsert_helper = async |i| {
        ubu.upsert_by_unique(doc! { "key": key(i) }, doc! { "$inc": { "count": 1 } })
            .await
            .expect("upsert_by_unique");
    };
    let mut group = criterion.benchmark_group("upsert");
    group.bench_function("find_one_and_update_upsert", |b| {
        b.iter_custom(|iters| upserts.run(&rt, iters, upsert_baseline, upsert_helper, false))
    });
    group.bench_function("upsert_by_unique", |b| {
        b.iter_custom(|iters| upserts.run(&rt, iters, upsert_baseline, upsert_helper, true))
    });
    group.finish();

    // The harness's own noise floor: the baseline against itself (another collection).
    let calibration = Pair::new();
    let upsert_baseline_2 = async |i| {
        raw_upsert_2
            .find_one_and_update(doc! { "key": key(i) }, doc! { "$inc": { "count": 1 } })
            .upsert(true)
            .await
            .expect("find_one_and_update");
    };
    let mut group = criterion.benchmark_group("calibration");
    group.bench_function("find_one_and_update_upsert", |b| {
        b.iter_custom(|iters| {
            calibration.run(&rt, iters, upsert_baseline, upsert_baseline_2, false)
        })
    });
    group.bench_function("find_one_and_update_upsert_again", |b| {
        b.iter_custom(|iters| calibration.run(&rt, iters, upsert_baseline, upsert_baseline_2, true))
    });
    group.finish();

    criterion.final_summary();
    rt.block_on(async {
        client
            .database(&db_name)
            .drop()
            .await
            .expect("drop the bench database");
    });
    for (name, pair) in [
        ("insert_or_conflict / insert_one", &inserts),
        ("upsert_by_unique / find_one_and_update(upsert)", &upserts),
        (
            "calibration, find_one_and_update(upsert) / itself",
            &calibration,
        ),
    ] {
        pair.print(name);
    }
}
