//! `insert_many_or_conflict` against the real mongod from `tests/support` (a single-node
//! replica set).

mod support;

use std::collections::BTreeMap;

use dupkey::prelude::*;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::ErrorKind;
use support::rerun::{assert_all_duplicates, large_key_rows, report, rows};
use support::{recording_client, setup, take, unique_index};

#[tokio::test]
async fn inserts_what_it_can_and_reports_each_duplicate() {
    let (_client, db) = setup("imoc_report").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    users
        .insert_one(doc! { "_id": 100, "email": "taken@example.com" })
        .await
        .unwrap();

    let rows = vec![
        doc! { "_id": 1, "email": "a@example.com" },
        doc! { "_id": 2, "email": "taken@example.com" },
        doc! { "email": "b@example.com" },
        doc! { "_id": 1, "email": "c@example.com" },
        doc! { "_id": 5, "email": "b@example.com" },
    ];
    let result = users.insert_many_or_conflict(&rows).await;
    assert!(result.is_duplicate());
    assert_eq!(result.duplicate_keys().len(), 3);
    let report = report(result);

    let positions: Vec<usize> = report.inserted_ids().keys().copied().collect();
    assert_eq!(positions, [0, 2]);
    assert_eq!(report.inserted_ids()[&0], Bson::Int32(1));
    let generated = report.inserted_ids()[&2].clone();
    assert!(matches!(generated, Bson::ObjectId(_)));

    let seen: Vec<(Option<usize>, Option<&str>, Option<&Document>)> = report
        .duplicates()
        .iter()
        .map(|d| (d.position(), d.index(), d.key_value()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                Some(1),
                Some("email_1"),
                Some(&doc! { "email": "taken@example.com" })
            ),
            (Some(3), Some("_id_"), Some(&doc! { "_id": 1 })),
            (
                Some(4),
                Some("email_1"),
                Some(&doc! { "email": "b@example.com" })
            ),
        ]
    );
    assert!(report.failures().is_empty());
    assert!(report.unconfirmed().is_empty());
    assert_eq!(
        support::documents(&users).await,
        [
            doc! { "_id": 1, "email": "a@example.com" },
            doc! { "_id": 100, "email": "taken@example.com" },
            doc! { "_id": generated, "email": "b@example.com" },
        ]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn other_write_failures_are_reported_beside_the_duplicates() {
    let (_client, db) = setup("imoc_other").await;
    db.create_collection("strict")
        .validator(doc! { "age": { "$type": "int" } })
        .await
        .unwrap();
    let strict = db.collection::<Document>("strict");
    let rows = [
        doc! { "_id": 1, "age": 1 },
        doc! { "_id": 1, "age": 2 },
        doc! { "_id": 3, "age": "old" },
        doc! { "_id": 4, "age": 4 },
    ];
    let report = report(strict.insert_many_or_conflict(rows).await);
    assert_eq!(
        report.inserted_ids().keys().copied().collect::<Vec<_>>(),
        [0, 3]
    );
    let dups: Vec<_> = report.duplicates().iter().map(|d| d.position()).collect();
    assert_eq!(dups, [Some(1)]);
    let failures: Vec<(usize, i32)> = report
        .failures()
        .iter()
        .map(|e| (e.index, e.code))
        .collect();
    assert_eq!(failures, [(2, 121)]); // DocumentValidationFailure
    db.drop().await.unwrap();
}

#[tokio::test]
async fn batches_past_the_server_limit_keep_every_position() {
    let (_client, db) = setup("imoc_batches").await;
    let items = db.collection::<Document>("items");
    // More documents than one command takes (100,000): the duplicates sit past the first.
    let mut rows: Vec<Document> = (0..100_010).map(|n| doc! { "_id": n }).collect();
    rows.push(doc! { "_id": 3 });
    rows.push(doc! { "_id": 100_005 });
    let report = report(items.insert_many_or_conflict(&rows).await);
    assert_eq!(report.inserted_ids().len(), 100_010);
    let dups: Vec<_> = report
        .duplicates()
        .iter()
        .map(|d| (d.position(), d.key_value().cloned()))
        .collect();
    assert_eq!(
        dups,
        [
            (Some(100_010), Some(doc! { "_id": 3 })),
            (Some(100_011), Some(doc! { "_id": 100_005 }))
        ]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_clean_batch_is_ok_in_one_command_and_an_empty_one_sends_none() {
    let name = support::unique_db("imoc_ok");
    let (client, log) = recording_client(&name).await;
    let users = client.database(&name).collection::<Document>("users");
    let done = users
        .insert_many_or_conflict([doc! { "_id": 1 }, doc! { "_id": 2 }])
        .comment("import 7")
        .await
        .unwrap();
    assert_eq!(done.inserted_ids().len(), 2);
    assert!(done.duplicates().is_empty());
    let empty = users
        .insert_many_or_conflict(Vec::<Document>::new())
        .await
        .unwrap();
    assert!(empty.inserted_ids().is_empty());
    assert_eq!(take(&log), ["insert"]);
    client.database(&name).drop().await.unwrap();
}

/// Whether `err` is the server closing the connection on a reply over its limit, as the raw
/// driver call meets it.
fn reply_too_large(err: &mongodb::error::Error) -> bool {
    matches!(&*err.kind, ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
}

#[tokio::test]
async fn an_all_duplicate_rerun_of_100_000_rows_reports_every_row() {
    let name = support::unique_db("imoc_rerun");
    let (client, log) = recording_client(&name).await;
    let db = client.database(&name);
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    let rows = rows(100_000);
    users.insert_many(&rows).await.unwrap();
    // One unordered call: its write errors make a reply the server cannot send.
    let raw = users.insert_many(&rows).ordered(false).await.unwrap_err();
    assert!(reply_too_large(&raw), "{raw:?}");
    take(&log);

    let report = report(users.insert_many_or_conflict(&rows).await);
    assert_all_duplicates(&report, &rows, "email_1", "email");
    // The list once, then batches as large as ten calls of 10,000 rows or larger.
    let sent = take(&log);
    assert_eq!(sent[0], "listIndexes");
    assert!(sent[1..].iter().all(|c| c == "insert"), "{sent:?}");
    assert!((2..=10).contains(&(sent.len() - 1)), "{sent:?}");
    assert_eq!(users.count_documents(doc! {}).await.unwrap(), 100_000);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_rerun_of_large_keys_reports_every_row() {
    let (_client, db) = setup("imoc_large").await;
    let items = db.collection::<Document>("items");
    unique_index(&items, doc! { "key": 1 }).await;
    // 300 keys of 100 KB: 30 MB of `keyValue` in one reply.
    let rows = large_key_rows(300, 100_000);
    items.insert_many(&rows).await.unwrap();
    let raw = items.insert_many(&rows).ordered(false).await.unwrap_err();
    assert!(reply_too_large(&raw), "{raw:?}");

    let report = report(items.insert_many_or_conflict(&rows).await);
    assert_all_duplicates(&report, &rows, "key_1", "key");
    assert_eq!(items.count_documents(doc! {}).await.unwrap(), 300);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_rerun_of_collated_keys_reports_every_row() {
    let (_client, db) = setup("imoc_collated").await;
    let names = db.collection::<Document>("names");
    let options = mongodb::options::IndexOptions::builder()
        .unique(true)
        .collation(support::case_insensitive())
        .build();
    support::unique_index_with(&names, doc! { "name": 1 }, options).await;
    // U+FDFA expands to a long collation key: 305 bytes of it make about 5.7 KB of hex
    // `keyValue`, 23 MB for 4,000 rows.
    let ligatures = "\u{FDFA}".repeat(100);
    let rows: Vec<Document> = (0..4_000)
        .map(|i| doc! { "name": format!("{i:05}{ligatures}") })
        .collect();
    names.insert_many(&rows).await.unwrap();
    let raw = names.insert_many(&rows).ordered(false).await.unwrap_err();
    assert!(reply_too_large(&raw), "{raw:?}");

    let report = report(names.insert_many_or_conflict(&rows).await);
    assert_all_duplicates(&report, &rows, "name_1", "name");
    db.drop().await.unwrap();
}

/// What a mixed re-run should do with one row.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    Inserted(Bson),
    Duplicate(&'static str, Document),
}

#[tokio::test]
async fn a_mixed_rerun_accounts_for_every_row_once() {
    let (_client, db) = setup("imoc_mixed").await;
    let users = db.collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    let email = |i: usize| format!("user{i:06}@example.com");
    let big = |i: usize| format!("{i:06}{}", "b".repeat(100_000));
    let existing: Vec<Document> = (0..10_000)
        .map(|i| doc! { "_id": i as i64, "email": email(i) })
        .chain((0..150).map(|i| doc! { "_id": 1_000_000 + i as i64, "email": big(i) }))
        .collect();
    users.insert_many(&existing).await.unwrap();

    // Every third row new; every third both `_id` and email taken (one refusal each, by the
    // `_id` index, the first the server checks); every third only the email taken, 150 of
    // them with a key of 100 KB.
    let mut rows = Vec::new();
    let mut expected = BTreeMap::new();
    for p in 0..30_000_usize {
        let i = p / 3;
        let (row, fate) = match p % 3 {
            0 => {
                let id = Bson::Int64(2_000_000 + p as i64);
                let row = doc! { "_id": id.clone(), "email": email(100_000 + p) };
                (row, Fate::Inserted(id))
            }
            1 => {
                let row = doc! { "_id": i as i64, "email": email(i) };
                (row, Fate::Duplicate("_id_", doc! { "_id": i as i64 }))
            }
            _ if i % 66 == 0 && i / 66 < 150 => {
                let row = doc! { "_id": 3_000_000 + p as i64, "email": big(i / 66) };
                (
                    row,
                    Fate::Duplicate("email_1", doc! { "email": big(i / 66) }),
                )
            }
            _ => {
                let row = doc! { "_id": 3_000_000 + p as i64, "email": email(i) };
                (row, Fate::Duplicate("email_1", doc! { "email": email(i) }))
            }
        };
        rows.push(row);
        expected.insert(p, fate);
    }
    assert_eq!(
        expected
            .values()
            .filter(|f| matches!(f, Fate::Duplicate(_, key) if key.get_str("email").is_ok_and(|e| e.len() > 100)))
            .count(),
        150
    );

    let report = report(users.insert_many_or_conflict(&rows).await);
    let mut seen = BTreeMap::new();
    for (p, id) in report.inserted_ids() {
        assert!(seen.insert(*p, Fate::Inserted(id.clone())).is_none());
    }
    for dup in report.duplicates() {
        let p = dup.position().expect("a position");
        let index = match dup.index() {
            Some("_id_") => "_id_",
            Some("email_1") => "email_1",
            other => panic!("row {p} refused by {other:?}"),
        };
        let key = dup.key_value().expect("the exact key").clone();
        assert!(
            seen.insert(p, Fate::Duplicate(index, key)).is_none(),
            "row {p} twice"
        );
    }
    assert!(report.failures().is_empty());
    assert!(report.unconfirmed().is_empty());
    assert_eq!(seen, expected);
    assert_eq!(
        users.count_documents(doc! {}).await.unwrap(),
        10_150 + 10_000
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_large_import_reads_the_list_once_per_max_age_and_a_small_one_never() {
    let name = support::unique_db("imoc_list");
    let (client, log) = recording_client(&name).await;
    let users = client.database(&name).collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    let rows = rows(3_000);
    let (small, first, second) = (&rows[..2], &rows[1_000..2_000], &rows[2_000..]);
    take(&log);

    let cache = dupkey::IndexCache::new();
    users
        .insert_many_or_conflict(small)
        .index_cache(&cache)
        .await
        .unwrap();
    assert_eq!(take(&log), ["insert"]);
    users
        .insert_many_or_conflict(first)
        .index_cache(&cache)
        .await
        .unwrap();
    assert_eq!(take(&log), ["listIndexes", "insert"]);
    users
        .insert_many_or_conflict(second)
        .index_cache(&cache)
        .await
        .unwrap();
    assert_eq!(take(&log), ["insert"]);

    // A list older than the maximum age is read again, by each import.
    let always = dupkey::IndexCache::with_max_age(std::time::Duration::ZERO);
    for rows in [first, second] {
        let result = users
            .insert_many_or_conflict(rows)
            .index_cache(&always)
            .await;
        assert_eq!(report(result).duplicates().len(), 1_000);
        assert_eq!(take(&log), ["listIndexes", "insert"]);
    }
    client.database(&name).drop().await.unwrap();
}
