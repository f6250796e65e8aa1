//! The blocking helpers (`dupkey::sync`) against their raw `mongodb::sync` baselines, on a
//! real mongod (started by `tests/support`, stopped when the process exits).
//!
//! - `insert_one(..).run()` vs `insert_or_conflict(..).run()` (fresh unique emails);
//! - `find_one_and_update(..).upsert(true).run()` vs `upsert_by_unique(..).run()` (`$inc` on
//!   1,000 keys).
//!
//! Each pair runs interleaved, alternating which side goes first, each op timed on its own;
//! the ratios (helper throughput / baseline throughput) come from the mean and the median op
//! times of one run. `w: 1`, as in `benches/conflict.rs`.
//!
//! `cargo bench --features sync --bench sync_conflict` (`DUPKEY_BENCH_OPS`, default 3,000 per
//! side).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use dupkey::sync::prelude::*;
use mongodb::bson::{doc, Document};
use mongodb::options::{CollectionOptions, IndexOptions, WriteConcern};
use mongodb::sync::{Collection, Database};
use mongodb::IndexModel;

fn collection(db: &Database, name: &str, key: &str) -> Collection<Document> {
    let w1 = CollectionOptions::builder()
        .write_concern(WriteConcern::nodes(1))
        .build();
    let coll = db.collection_with_options::<Document>(name, w1);
    let model = IndexModel::builder()
        .keys(doc! { key: 1 })
        .options(IndexOptions::builder().unique(true).build())
        .build();
    coll.create_index(model).run().expect("create index");
    coll
}

fn timed(op: impl FnOnce()) -> Duration {
    let start = Instant::now();
    op();
    start.elapsed()
}

/// Runs `ops` pairs, alternating the order; prints helper/baseline throughput ratios.
fn pair(name: &str, ops: u64, mut baseline: impl FnMut(u64), mut helper: impl FnMut(u64)) {
    let (mut base, mut help) = (Vec::new(), Vec::new());
    for i in 0..ops {
        if i % 2 == 0 {
            base.push(timed(|| baseline(i)));
            help.push(timed(|| helper(i)));
        } else {
            help.push(timed(|| helper(i)));
            base.push(timed(|| baseline(i)));
        }
    }
    let mean = |t: &[Duration]| t.iter().sum::<Duration>().as_secs_f64() / t.len() as f64;
    let median = |t: &mut Vec<Duration>| {
        t.sort_unstable();
        t[t.len() / 2].as_secs_f64()
    };
    println!(
        "{name}: ratio of means {:.3}, ratio of medians {:.3} (baseline median {:.0} µs, {ops} ops a side)",
        mean(&base) / mean(&help),
        median(&mut base) / median(&mut help),
        median(&mut base) * 1e6,
    );
}

fn main() {
    let ops: u64 = std::env::var("DUPKEY_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let client = mongodb::sync::Client::with_uri_str(&support::server().uri).expect("client");
    let db = client.database(&support::unique_db("bench_sync"));

    let raw = collection(&db, "raw_insert", "email");
    let ioc = collection(&db, "insert_or_conflict", "email");
    // Warm the pool and the index cache.
    ioc.insert_or_conflict(doc! { "email": "warm" })
        .run()
        .unwrap();
    let user = |n: u64, side: &str| doc! { "email": format!("user{n}-{side}@example.com"), "name": "Ann Example", "age": 42 };
    pair(
        "insert_or_conflict / insert_one",
        ops,
        |i| {
            raw.insert_one(user(i, "raw")).run().expect("insert_one");
        },
        |i| {
            ioc.insert_or_conflict(user(i, "helper"))
                .run()
                .expect("no conflict");
        },
    );

    let raw = collection(&db, "raw_upsert", "key");
    let ubu = collection(&db, "upsert_by_unique", "key");
    let inc = doc! { "$inc": { "count": 1 } };
    ubu.upsert_by_unique(doc! { "key": "warm" }, inc.clone())
        .run()
        .unwrap();
    pair(
        "upsert_by_unique / find_one_and_update(upsert)",
        ops,
        |i| {
            raw.find_one_and_update(doc! { "key": format!("k{}", i % 1000) }, inc.clone())
                .upsert(true)
                .run()
                .expect("find_one_and_update");
        },
        |i| {
            ubu.upsert_by_unique(doc! { "key": format!("k{}", i % 1000) }, inc.clone())
                .run()
                .expect("upsert_by_unique");
        },
    );
    db.drop().run().expect("drop");
}
