//! The upsert audit against the real mongod from `tests/support`: known good and known bad
//! upserts go through the driver, and exactly the bad ones are flagged.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dupkey::audit::{Reason, UpsertAudit, UpsertReport};
use dupkey::UpsertByUnique;
use mongodb::bson::{doc, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

/// Every report the audit made, in arrival order.
type Seen = Arc<Mutex<Vec<UpsertReport>>>;

fn recording(plain: mongodb::Client) -> (UpsertAudit, Seen) {
    let seen = Seen::default();
    let sink = Arc::clone(&seen);
    let audit = UpsertAudit::new(plain, move |report| {
        sink.lock().unwrap().push(report.clone())
    });
    (audit, seen)
}

/// The reports, once `expected` have arrived and nothing more came for a moment after.
async fn settled(seen: &Seen, expected: usize) -> Vec<UpsertReport> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The index list is read once per namespace: anything late would come from that read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    seen.lock().unwrap().clone()
}

/// "command [fields] reason" for each report, sorted: what the assertions compare.
fn shapes(reports: &[UpsertReport]) -> Vec<String> {
    let mut shapes: Vec<String> = reports
        .iter()
        .map(|r| {
            let reason = match r.reason() {
                Reason::EmptyFilter => "empty".to_owned(),
                Reason::NotEquality { field, .. } => format!("not equality {field}"),
                Reason::NotUnique => "not unique".to_owned(),
                Reason::ExtraFields { index, extra, .. } => format!("{extra:?} beyond {index}"),
                other => format!("{other:?}"),
            };
            format!("{} {:?} {reason}", r.command(), r.fields())
        })
        .collect();
    shapes.sort();
    shapes
}

fn sorted(shapes: &[&str]) -> Vec<String> {
    let mut shapes: Vec<String> = shapes.iter().map(|s| (*s).to_owned()).collect();
    shapes.sort();
    shapes
}

async fn users(coll: &Collection<Document>) {
    // Sparse: the documents below hold one of the unique keys each.
    let unique = || IndexOptions::builder().unique(true).sparse(true).build();
    let indexes = [
        IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(unique())
            .build(),
        IndexModel::builder()
            .keys(doc! { "tenant": 1, "sku": 1 })
            .options(unique())
            .build(),
        IndexModel::builder().keys(doc! { "name": 1 }).build(),
    ];
    coll.create_indexes(indexes).await.expect("create indexes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_the_bad_upserts_are_flagged() {
    // The auditor's own client: every `listIndexes` it sends is counted.
    let lists = Arc::new(AtomicUsize::new(0));
    let listed = Arc::clone(&lists);
    let plain = support::client_with(|o| {
        o.command_event_handler = Some(EventHandler::callback(move |event| {
            if matches!(&event, CommandEvent::Started(e) if e.command_name == "listIndexes") {
                listed.fetch_add(1, Ordering::Relaxed);
            }
        }))
    })
    .await;
    let (audit, seen) = recording(plain.clone());
    let own_events = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&own_events);
    let audited = support::client_with(|o| {
        o.command_event_handler = Some(audit.handler_with(move |event| {
            if matches!(event, CommandEvent::Started(_)) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }))
    })
    .await;
    let db_name = support::unique_db("audit");
    // Indexes made through the plain client: the audit sees only the application's writes.
    users(&plain.database(&db_name).collection("users")).await;
    let db = audited.database(&db_name);
    let coll = db.collection::<Document>("users");
    let set = doc! { "$set": { "seen": true } };

    // Good: plain equality on exactly a unique index's fields.
    coll.update_one(doc! { "email": "ann@example.com" }, set.clone())
        .upsert(true)
        .await
        .expect("update_one");
    coll.update_many(doc! { "sku": "A1", "tenant": 90817 }, set.clone())
        .upsert(true)
        .await
        .expect("update_many");
    coll.find_one_and_update(doc! { "_id": 42 }, set.clone())
        .upsert(true)
        .await
        .expect("find_one_and_update");
    coll.upsert_by_unique(doc! { "email": "bob@example.com" }, set.clone())
        .await
        .expect("upsert_by_unique");
    // Good: not upserts at all, whatever their filters.
    coll.update_one(doc! { "name": "Ann" }, set.clone())
        .await
        .expect("update_one");
    coll.find_one_and_update(doc! { "age": { "$gt": 3 } }, set.clone())
        .await
        .expect("find_one_and_update");

    // Bad, one of each kind.
    coll.update_one(doc! { "name": "Cy" }, set.clone())
        .upsert(true)
        .await
        .expect("update_one");
    coll.update_many(
        doc! { "email": "dee@example.com", "name": "Dee" },
        set.clone(),
    )
    .upsert(true)
    .await
    .expect("update_many");
    coll.find_one_and_update(
        doc! { "email": { "$in": ["eve@example.com"] } },
        set.clone(),
    )
    .upsert(true)
    .await
    .expect("find_one_and_update");
    coll.replace_one(doc! {}, doc! { "email": "fay@example.com" })
        .upsert(true)
        .await
        .expect("replace_one");

    // One `update` command with several statements: one good, two bad, one not an upsert.
    let statement = |q: Document, upsert: bool| doc! { "q": q, "u": { "$set": { "bulk": true } }, "upsert": upsert };
    let reply = db
        .run_command(doc! {
            "update": "users",
            "updates": [
                statement(doc! { "email": "gus@example.com" }, true),
                statement(doc! { "tenant": 90817 }, true),
                statement(doc! { "$or": [{ "email": "hal@example.com" }] }, true),
                statement(doc! { "tenant": 90818 }, false),
            ],
        })
        .await
        .expect("update command");
    assert_eq!(reply.get_i32("n").unwrap(), 3, "{reply}");

    let reports = settled(&seen, 6).await;
    assert_eq!(
        shapes(&reports),
        sorted(&[
            r#"update ["name"] not unique"#,
            r#"update ["email", "name"] ["name"] beyond email_1"#,
            r#"findAndModify ["email"] not equality email"#,
            r#"update [] empty"#,
            r#"update ["tenant"] not unique"#,
            r#"update ["$or"] not equality $or"#,
        ])
    );
    for report in &reports {
        assert_eq!(report.namespace().db, db_name);
        assert_eq!(report.namespace().coll, "users");
        let shown = report.to_string();
        for value in ["Cy", "Dee", "dee@", "eve@", "fay@", "hal@", "90817"] {
            assert!(!shown.contains(value), "{shown} shows a key value");
        }
    }
    assert_eq!(audit.unchecked(), 0);
    assert_eq!(
        lists.load(Ordering::Relaxed),
        1,
        "one index list read for the namespace, through the auditor's client"
    );
    assert!(
        own_events.load(Ordering::Relaxed) >= 11,
        "the application's own handler sees every command"
    );
    // The audit changes nothing: every upsert above wrote what it was asked to.
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 9);
}
