//! The scratch collections of `dupkey::dedupe::check_import` (they hold copies of key
//! fields) against a real mongod: dropped when the future is dropped mid-run or a callback
//! panics, swept by a later run once old, and a run whose scratch is swept fails.

mod support;

use std::future::IntoFuture;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dupkey::dedupe::{check_import, check_import_stream, DedupeError};
use futures_util::stream::{self, Stream};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use tokio::sync::{mpsc, oneshot};

async fn users(prefix: &str) -> (Database, Collection<Document>) {
    let db = support::client()
        .await
        .database(&support::unique_db(prefix));
    let users = db.collection::<Document>("users");
    let options = IndexOptions::builder().unique(true).build();
    users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "email": 1 })
                .options(options)
                .build(),
        )
        .await
        .expect("createIndexes");
    users
        .insert_one(doc! { "_id": 1, "email": "a" })
        .await
        .unwrap();
    (db, users)
}

async fn scratch_names(db: &Database) -> Vec<String> {
    let mut names: Vec<String> = db
        .list_collection_names()
        .filter(doc! { "name": { "$regex": "^dupkey_scratch_" } })
        .await
        .unwrap();
    names.sort();
    names
}

/// Waits (up to 10 s) until `db` holds no scratch collection.
async fn no_scratch_left(db: &Database) {
    let started = Instant::now();
    loop {
        let names = scratch_names(db).await;
        if names.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "scratch collections left: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rows sent through a channel: the stream waits for more until the sender is dropped.
fn channel_rows() -> (
    mpsc::UnboundedSender<Document>,
    impl Stream<Item = Document>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let rows = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
    (tx, rows)
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_future_dropped_mid_run_drops_its_scratch_collections() {
    let (db, users) = users("scratch_cancel").await;
    let (tx, rows) = channel_rows();
    for i in 0..3 {
        tx.send(doc! { "email": format!("u{i}") }).unwrap();
    }
    let (first_batch, checked) = oneshot::channel();
    let mut first_batch = Some(first_batch);
    let mut check = check_import_stream(&users, rows)
        .batch_size(3)
        .on_progress(move |_| {
            if let Some(tx) = first_batch.take() {
                let _ = tx.send(());
            }
        })
        .into_future();
    tokio::select! {
        result = &mut check => panic!("the check ended with its input open: {result:?}"),
        _ = checked => {}
    }
    // Mid-run: the first batch is judged, the check waits for more rows.
    assert_eq!(scratch_names(&db).await.len(), 1);
    drop(check);
    no_scratch_left(&db).await;
    drop(tx);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_panicking_callback_drops_the_scratch_collections() {
    let (db, users) = users("scratch_panic").await;
    let rows = vec![doc! { "email": "b" }, doc! { "email": "a" }];
    let task = tokio::spawn(
        check_import(&users, rows)
            .on_conflict(|_| panic!("a callback panics"))
            .into_future(),
    );
    let err = task.await.unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    no_scratch_left(&db).await;
    db.drop().await.unwrap();
}

#[tokio::test]
async fn leftovers_of_earlier_runs_are_swept_once_old() {
    let (db, users) = users("scratch_sweep").await;
    let now = unix_seconds();
    let two_days_ago = now - 2 * 24 * 60 * 60;
    let old = format!(
        "dupkey_scratch_{two_days_ago}_{}_0",
        ObjectId::new().to_hex()
    );
    // A name without the seconds field: its ObjectId tells when it was made.
    let mut bytes = ObjectId::new().bytes();
    bytes[..4].copy_from_slice(&(two_days_ago as u32).to_be_bytes());
    let old_oid = format!("dupkey_scratch_{}_1", ObjectId::from_bytes(bytes).to_hex());
    // Another run's, still in use.
    let recent = format!("dupkey_scratch_{now}_{}_0", ObjectId::new().to_hex());
    for name in [&old, &old_oid, &recent] {
        db.collection::<Document>(name)
            .insert_one(doc! { "email": "copied" })
            .await
            .unwrap();
    }
    let check = check_import(&users, vec![doc! { "email": "b" }])
        .await
        .expect("check_import");
    assert!(check.is_clean());
    assert_eq!(scratch_names(&db).await, [recent]);
    // A run told a shorter age sweeps the recent one too.
    check_import(&users, vec![doc! { "email": "b" }])
        .sweep_scratch_after(Duration::ZERO)
        .await
        .expect("check_import");
    assert_eq!(scratch_names(&db).await, Vec::<String>::new());
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_run_whose_scratch_is_swept_under_it_fails() {
    let (db, users) = users("scratch_swept").await;
    let others = db.collection::<Document>("others");
    others.insert_one(doc! { "x": 1 }).await.unwrap();
    let (tx, rows) = channel_rows();
    tx.send(doc! { "email": "b" }).unwrap();
    let (first_batch, checked) = oneshot::channel();
    let mut first_batch = Some(first_batch);
    let mut check = check_import_stream(&users, rows)
        .batch_size(1)
        .on_progress(move |_| {
            if let Some(tx) = first_batch.take() {
                let _ = tx.send(());
            }
        })
        .into_future();
    tokio::select! {
        result = &mut check => panic!("the check ended with its input open: {result:?}"),
        _ = checked => {}
    }
    // Another run, told to sweep everything, drops this run's scratch collection.
    check_import(&others, vec![doc! { "x": 2 }])
        .sweep_scratch_after(Duration::ZERO)
        .await
        .expect("check_import");
    // Its next rows would meet a plain collection that refuses nothing.
    tx.send(doc! { "email": "a" }).unwrap();
    drop(tx);
    let err = check.await.unwrap_err();
    assert!(
        matches!(&err, DedupeError::ScratchDropped { name } if name.starts_with("dupkey_scratch_")),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("scratch collection \"dupkey_scratch_")
            && err.to_string().ends_with("\" was dropped while in use"),
        "{err}"
    );
    no_scratch_left(&db).await;
    db.drop().await.unwrap();
}
