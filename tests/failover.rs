//! The write helpers across a replica-set election: a local three-member set (from
//! `tests/support`), `w: majority` stated on every collection, and the primary stepped down
//! (`replSetStepDown`) while each helper runs.
//!
//! What holds in each: no acknowledged write is lost, every document is accounted for
//! (inserted or reported), each conflict is reported once at its position, and no retried
//! write comes back as its own duplicate. Each test prints what it saw (step-down timing,
//! commands retried): `cargo test --test failover -- --nocapture`.
//!
//! The tests take turns (one step-down at a time), so each sees only its own election.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dupkey::dedupe::{self, Keep, UniqueIndex};
use dupkey::{InsertManyOrConflict, UpsertByUnique, UpsertOutcome};
use futures_util::future::join_all;
use mongodb::bson::{doc, Bson, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::{
    CollectionOptions, IndexOptions, ReadConcern, ReadPreference, SelectionCriteria, WriteConcern,
};
use mongodb::{Client, Collection, IndexModel};

/// One step-down at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Commands started and failed, by name, as the test's client saw them, and why each failed.
#[derive(Clone, Default)]
struct Commands(Arc<Mutex<HashMap<String, Seen>>>);

/// (started, failed, failures in one line each) of one command name.
type Seen = (u32, u32, BTreeSet<String>);

impl Commands {
    fn handler(&self) -> EventHandler<CommandEvent> {
        let seen = self.clone();
        EventHandler::callback(move |event| {
            let mut seen = seen.0.lock().unwrap();
            match event {
                CommandEvent::Started(e) => seen.entry(e.command_name).or_default().0 += 1,
                CommandEvent::Failed(e) => {
                    let entry = seen.entry(e.command_name).or_default();
                    entry.1 += 1;
                    entry.2.insert(brief(&e.failure));
                }
                _ => {}
            }
        })
    }

    /// (started, failed) of `name`.
    fn of(&self, name: &str) -> (u32, u32) {
        let seen = self.0.lock().unwrap();
        seen.get(name).map_or((0, 0), |(s, f, _)| (*s, *f))
    }

    /// The failures of `name`, one line each.
    fn failures(&self, name: &str) -> Vec<String> {
        let seen = self.0.lock().unwrap();
        seen.get(name)
            .map_or_else(Vec::new, |(_, _, why)| why.iter().cloned().collect())
    }
}

/// A monitored client on the set, and a collection on it written with `w: majority` and read
/// from the primary with majority read concern.
async fn setup(name: &str) -> (Client, Collection<Document>, Commands) {
    let commands = Commands::default();
    let client = support::three_member_replica_set()
        .client_with(|o| o.command_event_handler = Some(commands.handler()))
        .await;
    let options = CollectionOptions::builder()
        .write_concern(WriteConcern::majority())
        .read_concern(ReadConcern::majority())
        .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
        .build();
    let coll = client
        .database(&support::unique_db("failover"))
        .collection_with_options::<Document>(name, options);
    let unique = IndexOptions::builder().unique(true).build();
    coll.create_index(
        IndexModel::builder()
            .keys(doc! { "key": 1 })
            .options(unique)
            .build(),
    )
    .await
    .expect("create index");
    (client, coll, commands)
}

/// Every `_id` in `coll`, read from the primary with majority read concern.
async fn ids(coll: &Collection<Document>) -> BTreeSet<i64> {
    support::documents(coll)
        .await
        .iter()
        .map(|d| d.get_i64("_id").expect("i64 _id"))
        .collect()
}

/// Waits until `ready` holds (polled), then steps the primary down; returns (wait, step-down).
async fn step_down_when(client: &Client, ready: impl AsyncFn() -> bool) -> (Duration, Duration) {
    let start = Instant::now();
    while !ready().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never ready to step down"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = start.elapsed();
    (waited, support::step_down(client).await)
}

/// A driver error in one line: its server code and labels.
fn brief(err: &mongodb::error::Error) -> String {
    use mongodb::error::{ErrorKind, WriteFailure};
    let code = match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => {
            format!("writeConcernError {} {}", e.code, e.code_name)
        }
        ErrorKind::Write(WriteFailure::WriteError(e)) => format!("writeError {}", e.code),
        ErrorKind::Command(e) => format!("command error {} {}", e.code, e.code_name),
        other => format!("{other:?}"),
    };
    format!("{code}, labels {:?}", err.labels())
}

const IMPORT: i64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_survives_a_step_down() {
    let _turn = TURN.lock().await;
    let (client, coll, commands) = setup("import").await;
    // Already there: 50 documents whose keys the import repeats.
    let existing: Vec<Document> = (0..50_i64)
        .map(|i| doc! { "_id": -1 - i, "key": format!("k{}", i * 1000 + 7) })
        .collect();
    coll.insert_many(existing).await.expect("seed");
    // Planted in the import: every 1,000th document repeats the key 500 positions before it,
    // and 50 repeat the seeded keys (with their own `_id`s). The rest are unique.
    let mut planted = BTreeMap::new();
    let docs: Vec<Document> = (0..IMPORT)
        .map(|i| {
            let key = if i % 1000 == 999 {
                planted.insert(i as usize, format!("k{}", i - 500));
                format!("k{}", i - 500)
            } else if i % 1000 == 7 && i < 50_000 {
                planted.insert(i as usize, format!("k{i}"));
                format!("k{i}")
            } else {
                format!("k{i}")
            };
            doc! { "_id": i, "key": key }
        })
        .collect();
    assert_eq!(planted.len(), 150);

    let started = Instant::now();
    let import = {
        let coll = coll.clone();
        tokio::spawn(async move { coll.insert_many_or_conflict(&docs).await })
    };
    let counter = coll.clone_with_type::<Document>();
    let (waited, stepping) = step_down_when(&client, async || {
        counter.estimated_document_count().await.unwrap_or(0) >= 20_000
    })
    .await;
    // Planted duplicates make the import an `Error::InsertMany` with its report.
    let report = match import.await.expect("join") {
        Err(dupkey::Error::InsertMany(report)) => *report,
        other => panic!("a report of the planted duplicates expected: {other:?}"),
    };
    assert!(
        report.stopped_by().is_none(),
        "the import survives the step-down"
    );
    assert!(report.failures().is_empty());
    let took = started.elapsed();

    let conflicts: BTreeMap<usize, String> = report
        .duplicates()
        .iter()
        .map(|dup| {
            let position = dup.position().expect("a position");
            let key = dup.key_value().expect("the exact key");
            assert_eq!(
                dup.index(),
                Some("key_1"),
                "{dup:?}: only planted keys collide"
            );
            (position, key.get_str("key").expect("key").to_owned())
        })
        .collect();
    assert_eq!(
        report.duplicates().len(),
        conflicts.len(),
        "each conflict once"
    );
    assert_eq!(
        conflicts, planted,
        "exactly the planted duplicates, at their positions"
    );
    let inserted: BTreeSet<i64> = report
        .inserted_ids()
        .iter()
        .map(|(position, id)| {
            assert_eq!(
                id,
                &Bson::Int64(*position as i64),
                "the id sent at that position"
            );
            *position as i64
        })
        .collect();
    let expected: BTreeSet<i64> = (0..IMPORT)
        .filter(|i| !planted.contains_key(&(*i as usize)))
        .collect();
    assert_eq!(inserted, expected, "every document inserted or reported");
    let stored = ids(&coll).await;
    let seeded: BTreeSet<i64> = (0..50).map(|i| -1 - i).collect();
    assert_eq!(
        stored,
        expected.union(&seeded).copied().collect(),
        "no acknowledged write lost"
    );

    let (sent, failed) = commands.of("insert");
    println!(
        "import of {IMPORT} ({} planted): {took:?} in all; step-down asked after {waited:?}, new primary {stepping:?} later; insert commands started {sent} (1 seed), failed {failed} {:?}",
        planted.len(),
        commands.failures("insert"),
    );
    assert!(failed >= 1, "the step-down interrupted the import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remove_run_survives_a_step_down() {
    let _turn = TURN.lock().await;
    let (client, coll, commands) = setup("remove").await;
    coll.drop_indexes().await.expect("no unique index yet");
    // 5,000 keys held by four documents each, and 1,000 unique documents that must stay.
    let groups = 5_000_i64;
    let docs: Vec<Document> = (0..groups * 4)
        .map(|i| doc! { "_id": i, "key": format!("g{}", i % groups) })
        .chain((0..1_000_i64).map(|i| doc! { "_id": 100_000 + i, "key": format!("u{i}") }))
        .collect();
    coll.insert_many(docs).await.expect("seed");
    let survivors: BTreeSet<i64> = (0..groups).chain(100_000..101_000).collect();

    let index = UniqueIndex::new(["key"]);
    let resolved = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let run = {
        let (coll, index, resolved) = (coll.clone(), index.clone(), Arc::clone(&resolved));
        tokio::spawn(async move {
            dedupe::remove_duplicates(&coll, &index, Keep::oldest())
                .batch_size(250)
                .on_group(|_| {
                    resolved.fetch_add(1, Ordering::Relaxed);
                })
                .await
        })
    };
    let (waited, stepping) =
        step_down_when(&client, async || resolved.load(Ordering::Relaxed) >= 1_000).await;
    let first = run.await.expect("join");
    // A delete batch that meets the step-down is sent again: the run finishes by itself.
    let (first_removed, reran) = match &first {
        Ok(removal) => (Some(removal.removed()), None::<(String, u64)>),
        Err(err) => {
            let cause = std::error::Error::source(err)
                .and_then(|s| s.downcast_ref::<mongodb::error::Error>())
                .map_or(String::new(), brief);
            panic!("the remove run stopped at the step-down: {err}: {cause}")
        }
    };
    let took = started.elapsed();

    assert_eq!(
        ids(&coll).await,
        survivors,
        "exactly the oldest of each group left, and every unique document"
    );
    if let Some(removed) = first_removed {
        assert_eq!(
            removed,
            (groups * 3) as u64,
            "every duplicate reported removed"
        );
    }
    let (sent, failed) = commands.of("delete");
    println!(
        "remove run over {} documents: {took:?} in all; step-down asked after {waited:?} (1,000 groups resolved), new primary {stepping:?} later; delete commands started {sent}, failed {failed}; first run {}",
        groups * 4 + 1000,
        match (&first_removed, &reran) {
            (Some(n), _) => format!("finished, {n} removed"),
            (None, Some((err, n))) => format!("stopped ({err}); the re-run removed {n}"),
            _ => unreachable!(),
        }
    );
    assert!(
        took > waited,
        "the step-down came while the run was going on"
    );
}

/// The client name the upsert test's failpoint matches: no other client is held.
const HELD_APP: &str = "failover-held-upserts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_on_a_new_key_survive_a_step_down() {
    let _turn = TURN.lock().await;
    let (client, coll, commands) = setup("upsert").await;
    let calls = 32;
    let held = support::three_member_replica_set()
        .client_with(|o| {
            o.app_name = Some(HELD_APP.to_owned());
            // A connection per call: all 32 are held at once.
            o.max_pool_size = Some(64);
            o.command_event_handler = Some(commands.handler());
        })
        .await;
    let held_coll = held
        .database(coll.namespace().db.as_str())
        .collection_with_options::<Document>(
            coll.name(),
            CollectionOptions::builder()
                .write_concern(WriteConcern::majority())
                .build(),
        );
    // The index list is read before: the 32 calls go straight to their findAndModify.
    held_coll
        .upsert_by_unique(doc! { "key": "warm" }, doc! { "$inc": { "n": 1 } })
        .await
        .expect("warm-up upsert");
    // The primary holds each of the next 32 findAndModify for a second before running it, so
    // all of them are in flight on the old primary when it steps down.
    client
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": calls },
            "data": {
                "failCommands": ["findAndModify"],
                "appName": HELD_APP,
                "blockConnection": true,
                "blockTimeMS": 1000,
            },
        })
        .await
        .expect("configureFailPoint");

    let started = Instant::now();
    let upserts = tokio::spawn(join_all((0..calls).map(|_| {
        let coll = held_coll.clone();
        tokio::spawn(async move {
            coll.upsert_by_unique(doc! { "key": "new" }, doc! { "$inc": { "n": 1 } })
                .await
        })
    })));
    let (waited, stepping) = step_down_when(&client, async || {
        // The warm-up and all 32 sent.
        commands.of("findAndModify").0 > calls as u32
    })
    .await;
    let upserts = upserts.await.expect("join");
    let took = started.elapsed();

    let mut outcomes = Vec::new();
    let mut seen_before = BTreeSet::new();
    for upserted in upserts {
        let upserted = upserted
            .expect("join")
            .expect("no false conflict, no lost upsert");
        outcomes.push(upserted.outcome());
        if let Some(before) = upserted.previous().expect("pre-image") {
            seen_before.insert(before.get_i32("n").expect("n"));
        }
    }
    let inserted = outcomes
        .iter()
        .filter(|o| **o == UpsertOutcome::Inserted)
        .count();
    assert_eq!(inserted, 1, "one call inserted, the others updated");
    assert_eq!(
        seen_before,
        (1..calls).collect::<BTreeSet<i32>>(),
        "each update applied once, on its own pre-image"
    );
    let stored = coll.find(doc! { "key": "new" }).await.expect("find");
    let stored: Vec<Document> = futures_util::TryStreamExt::try_collect(stored)
        .await
        .expect("documents");
    assert_eq!(stored.len(), 1, "one document for the key");
    assert_eq!(
        stored[0].get_i32("n"),
        Ok(calls),
        "no acknowledged upsert lost"
    );

    let (sent, failed) = commands.of("findAndModify");
    println!(
        "{calls} concurrent upserts held in flight: {took:?} in all; step-down asked after {waited:?}, new primary {stepping:?} later; findAndModify started {sent} (1 warm-up), failed {failed} {:?}",
        commands.failures("findAndModify"),
    );
    assert!(failed >= 1, "the step-down caught upserts in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_run_survives_a_step_down() {
    let _turn = TURN.lock().await;
    let (client, coll, _commands) = setup("merge").await;
    coll.drop_indexes().await.expect("no unique index yet");
    // 3,000 keys held by three documents each, each holding one tag; 500 unique documents.
    let groups = 3_000_i64;
    let docs: Vec<Document> = (0..groups * 3)
        .map(|i| doc! { "_id": i, "key": format!("g{}", i % groups), "tags": [format!("t{i}")] })
        .chain((0..500_i64).map(|i| doc! { "_id": 100_000 + i, "key": format!("u{i}") }))
        .collect();
    coll.insert_many(docs).await.expect("seed");
    let survivors: BTreeSet<i64> = (0..groups).chain(100_000..100_500).collect();

    let index = UniqueIndex::new(["key"]);
    let archive_coll = client
        .database(&coll.namespace().db)
        .collection::<()>("merge_archive");
    let resolved = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let run = {
        let (coll, index, resolved) = (coll.clone(), index.clone(), Arc::clone(&resolved));
        let archive = dedupe::Archive::new(&archive_coll, "failover-merge");
        tokio::spawn(async move {
            dedupe::merge_duplicates(
                &coll,
                &index,
                Keep::oldest(),
                dedupe::Merge::union_arrays(),
                archive,
            )
            .batch_size(250)
            .on_group(|_| {
                resolved.fetch_add(1, Ordering::Relaxed);
            })
            .await
        })
    };
    let (waited, stepping) =
        step_down_when(&client, async || resolved.load(Ordering::Relaxed) >= 600).await;
    let merged = run
        .await
        .expect("join")
        .unwrap_or_else(|err| panic!("the merge run stopped at the step-down: {err}"));
    let took = started.elapsed();

    assert_eq!(ids(&coll).await, survivors, "one document per key is left");
    assert_eq!(merged.removed(), (groups * 2) as u64);
    // Each survivor holds its group's three tags: no update was lost or applied twice.
    for g in [0, groups / 2, groups - 1] {
        let survivor = coll
            .find_one(doc! { "_id": g })
            .await
            .unwrap()
            .expect("survivor");
        let tags = survivor.get_array("tags").expect("tags");
        let want: Vec<Bson> = [g, g + groups, g + 2 * groups]
            .iter()
            .map(|i| Bson::from(format!("t{i}")))
            .collect();
        assert_eq!(tags, &want, "group {g}");
    }
    println!(
        "merge run over {} documents: {took:?} in all; step-down asked after {waited:?} (600 groups resolved), new primary {stepping:?} later",
        groups * 3 + 500
    );
    assert!(
        took > waited,
        "the step-down came while the run was going on"
    );
}
