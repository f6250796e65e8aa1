//! The blocking helpers (`dupkey::sync`, feature `sync`) against the real mongod from
//! `tests/support`, races with threads in place of tasks.
#![cfg(feature = "sync")]

mod support;

use std::sync::Barrier;

use dupkey::sync::prelude::*;
use dupkey::{DuplicateKey, Refusal, UpsertOutcome};
use mongodb::bson::{doc, Document};
use mongodb::options::{Collation, IndexOptions};
use mongodb::sync::{Client, Collection, Database};
use mongodb::IndexModel;
use support::rerun;

fn setup(prefix: &str) -> (Client, Database) {
    let client = Client::with_uri_str(&support::server().uri).expect("client");
    let db = client.database(&support::unique_db(prefix));
    (client, db)
}

fn unique_index(coll: &Collection<Document>, keys: Document) {
    let model = IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().unique(true).build())
        .build();
    coll.create_index(model).run().expect("create index");
}

/// Runs `work` on `n` threads at once.
fn race<R: Send>(n: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let gate = Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (gate, work) = (&gate, &work);
                scope.spawn(move || {
                    gate.wait();
                    work(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn insert_conflict_has_the_exact_key_and_the_session_setter_works() {
    let (client, db) = setup("sync_insert");
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 });
    users
        .insert_or_conflict(doc! { "email": "ann@example.com" })
        .run()
        .unwrap();
    let result = users
        .insert_or_conflict(doc! { "email": "ann@example.com" })
        .comment("second")
        .run();
    assert!(result.is_duplicate());
    let Err(dupkey::Error::Duplicate(dup)) = result else {
        panic!("a duplicate expected: {result:?}")
    };
    assert_eq!(dup.index(), Some("email_1"));
    assert_eq!(dup.key_pattern(), Some(&doc! { "email": 1 }));
    assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));

    let mut session = client.start_session().run().unwrap();
    users
        .insert_or_conflict(doc! { "email": "bob@example.com" })
        .session(&mut session)
        .run()
        .unwrap();
    assert_eq!(users.count_documents(doc! {}).run().unwrap(), 2);
    db.drop().run().unwrap();
}

#[test]
fn insert_many_reports_every_position() {
    let (_client, db) = setup("sync_many");
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 });
    let rows = [
        doc! { "_id": 1, "email": "a@b.c" },
        doc! { "_id": 2, "email": "a@b.c" },
        doc! { "_id": 3, "email": "c@b.c" },
    ];
    let Err(dupkey::Error::InsertMany(report)) = users.insert_many_or_conflict(&rows).run() else {
        panic!("a report expected")
    };
    assert_eq!(
        report.inserted_ids().keys().copied().collect::<Vec<_>>(),
        [0, 2]
    );
    let dups: Vec<_> = report
        .duplicates()
        .iter()
        .map(|d| (d.position(), d.key_value().cloned()))
        .collect();
    assert_eq!(dups, [(Some(1), Some(doc! { "email": "a@b.c" }))]);
    db.drop().run().unwrap();
}

#[test]
fn insert_many_reports_every_row_of_an_all_duplicate_rerun_of_100_000() {
    let (_client, db) = setup("sync_rerun");
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 });
    let rows = rerun::rows(100_000);
    users.insert_many(&rows).run().unwrap();
    let report = rerun::report(users.insert_many_or_conflict(&rows).run());
    rerun::assert_all_duplicates(&report, &rows, "email_1", "email");
    assert_eq!(users.count_documents(doc! {}).run().unwrap(), 100_000);
    db.drop().run().unwrap();
}

#[test]
fn insert_many_reports_every_row_of_a_rerun_of_large_keys() {
    let (_client, db) = setup("sync_large");
    let items = db.collection::<Document>("items");
    unique_index(&items, doc! { "key": 1 });
    let rows = rerun::large_key_rows(300, 100_000);
    items.insert_many(&rows).run().unwrap();
    let report = rerun::report(items.insert_many_or_conflict(&rows).run());
    rerun::assert_all_duplicates(&report, &rows, "key_1", "key");
    db.drop().run().unwrap();
}

#[test]
fn upsert_checks_and_updates() {
    let (_client, db) = setup("sync_upsert");
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 });
    let inc = doc! { "$inc": { "n": 1 } };
    let first = users
        .upsert_by_unique(doc! { "email": "a@b.c" }, inc.clone())
        .run()
        .unwrap();
    let second = users
        .upsert_by_unique(doc! { "email": "a@b.c" }, inc.clone())
        .run()
        .unwrap();
    assert_eq!(
        (first.outcome(), second.outcome()),
        (UpsertOutcome::Inserted, UpsertOutcome::Updated)
    );
    let err = users
        .upsert_by_unique(doc! { "name": "Ann" }, inc)
        .run()
        .unwrap_err();
    assert!(matches!(
        err,
        dupkey::Error::Refused(Refusal::NotUnique { .. })
    ));
    db.drop().run().unwrap();
}

#[test]
fn thirty_two_threads_insert_one_key_one_wins() {
    let (_client, db) = setup("sync_race_insert");
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 });
    let results = race(32, |i| {
        users
            .insert_or_conflict(doc! { "email": "race@example.com", "thread": i as i32 })
            .run()
    });
    let winners = results.iter().filter(|r| r.is_ok()).count();
    let dups: Vec<DuplicateKey> = results
        .into_iter()
        .filter_map(|r| match r {
            Err(dupkey::Error::Duplicate(dup)) => Some(dup),
            Err(other) => panic!("a duplicate expected: {other:?}"),
            Ok(_) => None,
        })
        .collect();
    assert_eq!((winners, dups.len()), (1, 31));
    for dup in &dups {
        assert_eq!(dup.index(), Some("email_1"));
        assert_eq!(dup.key_value(), Some(&doc! { "email": "race@example.com" }));
    }
    assert_eq!(users.count_documents(doc! {}).run().unwrap(), 1);
    db.drop().run().unwrap();
}

#[test]
fn thirty_two_threads_upsert_one_new_key_one_document() {
    let (_client, db) = setup("sync_race_upsert");
    let counters = db.collection::<Document>("counters");
    let options = IndexOptions::builder()
        .unique(true)
        .collation(support::case_insensitive())
        .build();
    let model = IndexModel::builder()
        .keys(doc! { "name": 1 })
        .options(options)
        .build();
    counters.create_index(model).run().unwrap();
    let spellings = ["alice", "ALICE", "Alice", "aLiCe"];
    let results = race(32, |i| {
        counters
            .upsert_by_unique(
                doc! { "name": spellings[i % 4] },
                doc! { "$inc": { "count": 1 } },
            )
            .run()
    });
    let inserted = results
        .iter()
        .map(|r| r.as_ref().expect("every upsert succeeds"))
        .filter(|u| u.outcome() == UpsertOutcome::Inserted)
        .count();
    assert_eq!(inserted, 1);
    let stored: Vec<Document> = counters
        .find(doc! {})
        .run()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].get_i32("count").ok(), Some(32));
    db.drop().run().unwrap();
}

/// 32 threads upsert `filter` with `update` at once.
fn race_upserts(
    coll: &Collection<Document>,
    filter: Document,
    update: Document,
) -> Vec<Result<dupkey::Upserted<Document>, dupkey::Error>> {
    race(32, |_| {
        coll.upsert_by_unique(filter.clone(), update.clone()).run()
    })
}

/// Every upsert succeeded, one inserted; exactly one document has `key` (byte-wise), and it
/// counts 32.
fn assert_one_document(
    coll: &Collection<Document>,
    results: Vec<Result<dupkey::Upserted<Document>, dupkey::Error>>,
    key: Document,
) {
    let inserted = results
        .iter()
        .map(|r| r.as_ref().expect("every upsert succeeds"))
        .filter(|u| u.outcome() == UpsertOutcome::Inserted)
        .count();
    assert_eq!(inserted, 1);
    let simple = Collation::builder().locale("simple").build();
    let stored: Vec<Document> = coll
        .find(key)
        .collation(simple)
        .run()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].get_i32("count").ok(), Some(32));
}

fn create(coll: &Collection<Document>, keys: Document, options: IndexOptions) {
    let model = IndexModel::builder().keys(keys).options(options).build();
    coll.create_index(model).run().expect("create index");
}

#[test]
fn thirty_two_threads_upsert_on_a_partial_index_inside_and_outside_its_filter() {
    let (_client, db) = setup("sync_race_partial");
    let coll = db.collection::<Document>("counters");
    let partial = IndexOptions::builder()
        .unique(true)
        .name("key_active".to_owned())
        .partial_filter_expression(doc! { "active": true })
        .build();
    create(&coll, doc! { "key": 1 }, partial);

    let results = race_upserts(
        &coll,
        doc! { "key": "in" },
        doc! { "$inc": { "count": 1 }, "$setOnInsert": { "active": true } },
    );
    assert_one_document(&coll, results, doc! { "key": "in" });

    let results = race_upserts(
        &coll,
        doc! { "key": "out" },
        doc! { "$inc": { "count": 1 } },
    );
    for result in results {
        let err = result.expect_err("refused");
        assert!(
            matches!(
                &err,
                dupkey::Error::Refused(Refusal::OutsidePartialFilter { index, condition, .. })
                    if index == "key_active" && condition == "active"
            ),
            "{err:?}"
        );
    }
    assert_eq!(
        coll.count_documents(doc! { "key": "out" }).run().unwrap(),
        0
    );
    db.drop().run().unwrap();
}

#[test]
fn thirty_two_threads_upsert_a_null_key_on_a_sparse_index_refused() {
    let (_client, db) = setup("sync_race_sparse");
    let coll = db.collection::<Document>("users");
    let sparse = IndexOptions::builder()
        .unique(true)
        .sparse(true)
        .name("email_sparse".to_owned())
        .build();
    create(&coll, doc! { "email": 1 }, sparse);
    coll.insert_one(doc! { "name": "keyless" }).run().unwrap();
    let results = race_upserts(
        &coll,
        doc! { "email": null },
        doc! { "$inc": { "count": 1 } },
    );
    for result in results {
        let err = result.expect_err("refused");
        assert!(
            matches!(
                &err,
                dupkey::Error::Refused(Refusal::SparseKeyMissing { index, field, .. })
                    if index == "email_sparse" && field == "email"
            ),
            "{err:?}"
        );
    }
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 1);
    assert_eq!(
        coll.count_documents(doc! { "count": { "$exists": true } })
            .run()
            .unwrap(),
        0
    );
    db.drop().run().unwrap();
}

#[test]
fn thirty_two_threads_upsert_under_an_index_collation_other_than_the_collections() {
    let (_client, db) = setup("sync_race_coll_default");
    db.create_collection("users")
        .collation(support::case_insensitive())
        .run()
        .unwrap();
    let coll = db.collection::<Document>("users");
    let simple = IndexOptions::builder()
        .unique(true)
        .collation(Collation::builder().locale("simple").build())
        .build();
    create(&coll, doc! { "name": 1 }, simple);
    coll.insert_one(doc! { "name": "bob" }).run().unwrap();
    let results = race_upserts(
        &coll,
        doc! { "name": "Bob" },
        doc! { "$inc": { "count": 1 } },
    );
    assert_one_document(&coll, results, doc! { "name": "Bob" });
    let simple = Collation::builder().locale("simple").build();
    let bob = coll
        .find_one(doc! { "name": "bob" })
        .collation(simple)
        .run()
        .unwrap()
        .expect("bob is still there");
    assert!(!bob.contains_key("count"), "{bob:?}");
    db.drop().run().unwrap();
}
