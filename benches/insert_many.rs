//! `insert_many_or_conflict` against raw unordered `insert_many` calls, on a real mongod
//! (tests/support).
//!
//! - The all-duplicate re-run: N rows already in (unique `email`), imported again. The
//!   baseline loops over calls of 10,000 rows, each `ordered(false)`, each answered with an
//!   error, and counts the write errors; the helper takes all N rows and reports each as a
//!   duplicate with its exact key.
//! - A clean import of N new rows: one raw `insert_many` of all of them (the driver's own
//!   batching) against the helper, which bounds each row's error and cuts its own batches.
//!
//! Each pair runs interleaved (`benches/support/pairs.rs`: A B, then B A), and prints time
//! ratios (helper / baseline) from the mean and from the median.
//!
//! `DUPKEY_BENCH_N=100000 DUPKEY_BENCH_ROUNDS=6 cargo bench --bench insert_many`

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "counting/mod.rs"]
mod counting;

#[path = "support/pairs.rs"]
mod pairs;

use std::cell::Cell;

use dupkey::prelude::*;
use mongodb::bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use pairs::Pair;
use support::rerun::rows;

/// Rows per raw call of the re-run's baseline.
const CHUNK: usize = 10_000;

async fn unique_email(coll: &Collection<Document>) {
    let options = IndexOptions::builder().unique(true).build();
    coll.create_index(
        IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(options)
            .build(),
    )
    .await
    .expect("create index");
}

/// The baseline of the re-run: unordered calls of `CHUNK` rows; answers the write errors.
async fn raw_rerun(coll: &Collection<Document>, rows: &[Document]) -> usize {
    let mut refused = 0;
    for chunk in rows.chunks(CHUNK) {
        let err = coll
            .insert_many(chunk)
            .ordered(false)
            .await
            .expect_err("every row is a duplicate");
        match &*err.kind {
            ErrorKind::InsertMany(e) => refused += e.write_errors.as_ref().map_or(0, Vec::len),
            _ => panic!("write errors expected: {err}"),
        }
    }
    refused
}

/// The helper's re-run; answers the duplicates reported.
async fn helper_rerun(coll: &Collection<Document>, rows: &[Document]) -> usize {
    match coll.insert_many_or_conflict(rows).await {
        Err(dupkey::Error::InsertMany(report)) => {
            assert!(report.unconfirmed().is_empty() && report.inserted_ids().is_empty());
            report.duplicates().len()
        }
        other => panic!("a report expected: {other:?}"),
    }
}

/// `n` new rows for one side's `round`.
fn fresh(n: usize, side: &str, round: u64) -> Vec<Document> {
    (0..n)
        .map(|i| doc! { "email": format!("{side}{round}-{i}@example.com"), "name": "Ann Example", "age": 42 })
        .collect()
}

fn main() {
    let n = counting::size("DUPKEY_BENCH_N", 100_000);
    let rounds = counting::size("DUPKEY_BENCH_ROUNDS", 6) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db_name = support::unique_db("bench_insert_many");
    let (client, users, clean) = rt.block_on(async {
        let client = support::client().await;
        let db = client.database(&db_name);
        let users = db.collection::<Document>("users");
        let clean = db.collection::<Document>("clean");
        unique_email(&users).await;
        unique_email(&clean).await;
        (client, users, clean)
    });
    let rows = rows(n);
    rt.block_on(async {
        for chunk in rows.chunks(CHUNK) {
            users.insert_many(chunk).await.expect("load");
        }
    });

    let rerun = Pair::new();
    rerun.run(
        &rt,
        rounds,
        async |_| assert_eq!(raw_rerun(&users, &rows).await, n),
        async |_| assert_eq!(helper_rerun(&users, &rows).await, n),
        true,
    );

    let import = Pair::new();
    let (round_raw, round_helper) = (Cell::new(0), Cell::new(0));
    import.run(
        &rt,
        rounds,
        async |_| {
            let round = round_raw.replace(round_raw.get() + 1);
            let batch = fresh(n, "raw", round);
            clean.insert_many(&batch).await.expect("clean import");
        },
        async |_| {
            let round = round_helper.replace(round_helper.get() + 1);
            let batch = fresh(n, "helper", round);
            clean
                .insert_many_or_conflict(&batch)
                .await
                .expect("clean import");
        },
        true,
    );

    rt.block_on(async { client.database(&db_name).drop().await.expect("drop") });
    for (name, pair) in [
        (
            format!(
                "all-duplicate re-run of {n} rows: insert_many_or_conflict / raw calls of {CHUNK}"
            ),
            &rerun,
        ),
        (
            format!("clean import of {n} rows: insert_many_or_conflict / one raw insert_many"),
            &import,
        ),
    ] {
        let time = |side: &pairs::Side| (side.mean().as_secs_f64(), side.median().as_secs_f64());
        let (helper, baseline) = (time(&pair.helper), time(&pair.baseline));
        println!(
            "{name}: time ratio {:.3} (means {:.3} s / {:.3} s), {:.3} (medians {:.3} s / {:.3} s); {} interleaved pairs",
            helper.0 / baseline.0,
            helper.0,
            baseline.0,
            helper.1 / baseline.1,
            helper.1,
            baseline.1,
            pair.helper.ops(),
        );
    }
}
