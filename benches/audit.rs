//! The upsert audit's cost: the same writes through a client with no command event handler,
//! and through one with `UpsertAudit`'s handler, on a real mongod (started by
//! `tests/support`, stopped when the process exits).
//!
//! - `upsert`: `update_one(..).upsert(true)` with `$inc` on 1,000 unique keys, no handler vs
//!   the audit (every command judged, index list cached);
//! - `upsert_vs_noop`: the same, a handler that does nothing vs the audit: the audit's own
//!   share, beyond the copy the driver makes for any handler;
//! - `insert_many`: batches of `AUDIT_BENCH_BATCH` documents (default 1,000), no handler vs
//!   the audit: an insert is not judged, but the driver copies the whole batch for it.
//!
//! Writes use `w: 1`, as in benches/conflict.rs. Each pair is measured interleaved (see
//! `support/pairs.rs`); the ratios printed at the end are audited throughput / baseline.
//!
//! `cargo bench --bench audit -- --warm-up-time 1 --measurement-time 5`

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "support/pairs.rs"]
mod pairs;

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::Criterion;
use dupkey::audit::UpsertAudit;
use mongodb::bson::{doc, Document};
use mongodb::event::EventHandler;
use mongodb::options::{CollectionOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Collection, IndexModel};
use pairs::Pair;

async fn collection(client: &Client, db: &str, name: &str) -> Collection<Document> {
    let w1 = CollectionOptions::builder()
        .write_concern(WriteConcern::nodes(1))
        .build();
    let coll = client
        .database(db)
        .collection_with_options::<Document>(name, w1);
    let unique = IndexOptions::builder().unique(true).build();
    coll.create_index(
        IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(unique)
            .build(),
    )
    .await
    .expect("create index");
    coll
}

fn batch_size() -> usize {
    std::env::var("AUDIT_BENCH_BATCH")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db = support::unique_db("bench_audit");
    let flagged = Arc::new(AtomicU64::new(0));
    let (plain, audit, plain_coll, noop_coll, audited_coll, plain_batch, audited_batch) = rt
        .block_on(async {
            let plain = support::client().await;
            let counter = Arc::clone(&flagged);
            let audit = UpsertAudit::new(plain.clone(), move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
            });
            let noop = support::client_with(|o| {
                o.command_event_handler = Some(EventHandler::callback(|_| {}));
            })
            .await;
            let audited = support::client_with(|o| {
                o.command_event_handler = Some(audit.handler());
            })
            .await;
            (
                plain.clone(),
                audit,
                collection(&plain, &db, "plain").await,
                collection(&noop, &db, "noop").await,
                collection(&audited, &db, "audited").await,
                collection(&plain, &db, "plain_batch").await,
                collection(&audited, &db, "audited_batch").await,
            )
        });

    let key = |i: u64| format!("user{}@example.com", i % 1000);
    let upsert = |coll: &Collection<Document>, i: u64| {
        let coll = coll.clone();
        async move {
            coll.update_one(doc! { "email": key(i) }, doc! { "$inc": { "n": 1 } })
                .upsert(true)
                .await
                .expect("update_one");
        }
    };
    let on_plain = async |i| upsert(&plain_coll, i).await;
    let on_noop = async |i| upsert(&noop_coll, i).await;
    let on_audited = async |i| upsert(&audited_coll, i).await;

    let upserts = Pair::new();
    let mut group = criterion.benchmark_group("upsert");
    group.bench_function("no_handler", |b| {
        b.iter_custom(|iters| upserts.run(&rt, iters, on_plain, on_audited, false))
    });
    group.bench_function("audit", |b| {
        b.iter_custom(|iters| upserts.run(&rt, iters, on_plain, on_audited, true))
    });
    group.finish();

    let against_noop = Pair::new();
    let mut group = criterion.benchmark_group("upsert_vs_noop");
    group.bench_function("noop_handler", |b| {
        b.iter_custom(|iters| against_noop.run(&rt, iters, on_noop, on_audited, false))
    });
    group.bench_function("audit", |b| {
        b.iter_custom(|iters| against_noop.run(&rt, iters, on_noop, on_audited, true))
    });
    group.finish();

    let size = batch_size();
    let next = Cell::new(0_u64);
    let batch = || {
        let first = next.get();
        next.set(first + size as u64);
        (first..first + size as u64)
            .map(|n| doc! { "email": format!("bulk{n}@example.com"), "name": "Ann Example", "age": 42, "tags": ["a", "b"] })
            .collect::<Vec<_>>()
    };
    let insert_plain = async |_| {
        plain_batch.insert_many(batch()).await.expect("insert_many");
    };
    let insert_audited = async |_| {
        audited_batch
            .insert_many(batch())
            .await
            .expect("insert_many");
    };
    let inserts = Pair::new();
    let mut group = criterion.benchmark_group(format!("insert_many_{size}"));
    group.sample_size(10);
    group.bench_function("no_handler", |b| {
        b.iter_custom(|iters| inserts.run(&rt, iters, insert_plain, insert_audited, false))
    });
    group.bench_function("audit", |b| {
        b.iter_custom(|iters| inserts.run(&rt, iters, insert_plain, insert_audited, true))
    });
    group.finish();

    criterion.final_summary();
    rt.block_on(async {
        plain
            .database(&db)
            .drop()
            .await
            .expect("drop the bench database");
    });
    assert_eq!(flagged.load(Ordering::Relaxed), 0, "no upsert here is bad");
    assert_eq!(audit.unchecked(), 0);
    upserts.print("audit / no handler, update_one(upsert)");
    against_noop.print("audit / no-op handler, update_one(upsert)");
    inserts.print(&format!("audit / no handler, insert_many({size})"));
}
