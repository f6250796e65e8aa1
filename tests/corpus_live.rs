//! The message corpus, against a real mongod: every scenario below makes the server send one
//! duplicate-key message, which must equal the one stored in `tests/corpus/server-6.0.5.json`.
//!
//! `DUPKEY_WRITE_CORPUS=1 cargo test --test corpus_live` rewrites that file instead: that is
//! how it is captured. Each scenario states what a correct parser must read from its message,
//! built from what the scenario wrote (not from any parser); the test also checks those
//! expectations against the server's own `keyPattern`/`keyValue`/`collation` where the reply
//! carries them. `tests/corpus.rs` then checks the parser against the file without a server.

mod support;

use std::sync::LazyLock;

use futures_util::future::join_all;
use mongodb::bson::{doc, from_document, Document, RawDocument, RawDocumentBuf};
use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{Client, IndexModel};
use support::corpus::{self as entry, to_json, Entry};

#[path = "corpus_live/scenarios.rs"]
mod scenarios;

use scenarios::{scenarios, Op, Scenario};

/// What the server said for one scenario.
struct Outcome {
    message: String,
    /// The reply's part with `keyPattern`/`keyValue`/`collation`, when there is one.
    reply: Option<Document>,
}

fn code_and_message(err: &Error) -> (i32, String) {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => (e.code, e.message.clone()),
        ErrorKind::Command(e) => (e.code, e.message.clone()),
        other => panic!("unexpected error kind: {other:?}"),
    }
}

/// Keeps `keyPattern`, `keyValue` and `collation` of a reply (or of a `writeErrors` entry).
fn key_fields(raw: &RawDocument) -> Document {
    let mut out = Document::new();
    for key in ["keyPattern", "keyValue", "collation"] {
        if let Ok(doc) = raw.get_document(key) {
            out.insert(key, Document::try_from(doc).expect("valid key document"));
        }
    }
    out
}

async fn run(client: &Client, s: &Scenario) -> Outcome {
    let db = client.database(&s.db);
    db.drop().await.expect("drop");
    let mut create = doc! { "create": &s.coll };
    create.extend(s.create.clone());
    db.run_command(create).await.expect("create");
    let coll = db.collection::<Document>(&s.coll);
    let index_model = s.index.as_ref().map(|(keys, options)| {
        let mut options = options.clone();
        options.insert("unique", true);
        let options: IndexOptions = from_document(options).expect("index options");
        IndexModel::builder()
            .keys(keys.clone())
            .options(options)
            .build()
    });
    if let (Some(model), false) = (&index_model, matches!(s.op, Op::BuildIndex)) {
        coll.create_index(model.clone())
            .await
            .expect("create index");
    }
    if !s.seed.is_empty() {
        coll.insert_many(s.seed.clone()).await.expect("seed");
    }
    let (err, reply) = match &s.op {
        Op::Insert(document) => {
            let err = coll
                .insert_one(document.clone())
                .await
                .expect_err("a duplicate");
            // insert_one drops the reply: ask again with a raw command to see the server's
            // keyPattern/keyValue.
            // (A message cut inside a character is invalid UTF-8: the driver refuses the
            // reply as a document, but the error keeps it raw.)
            let reply = match db
                .run_command(doc! { "insert": &s.coll, "documents": [document.clone()] })
                .await
            {
                Ok(reply) => RawDocumentBuf::from_document(&reply).expect("raw reply"),
                Err(e) => e.server_response().cloned().expect("the raw reply"),
            };
            let entry = reply
                .get_array("writeErrors")
                .expect("writeErrors")
                .into_iter()
                .next()
                .and_then(Result::ok)
                .and_then(|entry| entry.as_document())
                .map(key_fields);
            (err, entry)
        }
        Op::FindAndModify {
            filter,
            update,
            upsert,
        } => {
            let err = coll
                .find_one_and_update(filter.clone(), update.clone())
                .upsert(*upsert)
                .await
                .expect_err("a duplicate");
            let reply = err.server_response().map(|r| key_fields(r));
            (err, reply)
        }
        Op::BuildIndex => {
            let model = index_model.expect("an index to build");
            let err = coll.create_index(model).await.expect_err("a duplicate");
            let reply = err.server_response().map(|r| key_fields(r));
            (err, reply)
        }
        Op::Aggregate { source, pipeline } => {
            let src = db.collection::<Document>("src");
            src.insert_many(source.clone()).await.expect("source");
            let err = src
                .aggregate(pipeline.clone())
                .await
                .expect_err("a duplicate");
            let reply = err.server_response().map(|r| key_fields(r));
            (err, reply)
        }
    };
    db.drop().await.expect("drop");
    let (code, message) = code_and_message(&err);
    assert_eq!(code, 11000, "{}: {message}", s.name);
    Outcome { message, reply }
}

static UUID: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap()
});

/// UUIDs the server makes up (index builds, `$out`'s temporary collection) vary per run.
fn mask(text: &str) -> String {
    UUID.replace_all(text, "<uuid>").into_owned()
}

fn entry_of(s: &Scenario, outcome: &Outcome) -> Entry {
    let collection = if s.temp_collection {
        let found = regex::Regex::new(r"tmp\.agg_out\.[0-9a-f-]{36}")
            .unwrap()
            .find(&outcome.message)
            .map(|m| m.as_str().to_owned());
        Some(found.expect("a temporary collection in the message"))
    } else {
        Some(s.coll.clone())
    };
    Entry {
        name: s.name.into(),
        message: outcome.message.clone(),
        database: Some(s.db.clone()),
        collection,
        index: s.expect.index.clone(),
        fields: s.expect.fields.clone(),
        key_pattern: s.expect.key_pattern.as_ref().map(to_json),
        key_value: s.expect.key_value.as_ref().map(to_json),
        collation: s.expect.collation.as_ref().map(to_json),
    }
}

/// The expectations, checked against the server's own structured reply.
fn check_against_reply(s: &Scenario, reply: &Option<Document>, problems: &mut Vec<String>) {
    let Some(reply) = reply else {
        problems.push(format!(
            "{}: no reply to check the expectations against",
            s.name
        ));
        return;
    };
    let pattern = reply.get_document("keyPattern").expect("keyPattern");
    let fields: Vec<String> = pattern.keys().cloned().collect();
    if fields != s.expect.fields {
        problems.push(format!(
            "{}: fields {:?}, server {fields:?}",
            s.name, s.expect.fields
        ));
    }
    if let Some(expected) = &s.expect.key_pattern {
        if to_json(expected) != to_json(pattern) {
            problems.push(format!(
                "{}: key pattern {expected:?}, server {pattern:?}",
                s.name
            ));
        }
    }
    if let Some(expected) = &s.expect.key_value {
        let value = reply.get_document("keyValue").expect("keyValue");
        if to_json(expected) != to_json(value) {
            problems.push(format!(
                "{}: key value {expected:?}, server {value:?}",
                s.name
            ));
        }
    }
    let collation = reply.get_document("collation").ok();
    if s.expect.collation.as_ref().map(to_json) != collation.map(to_json) {
        problems.push(format!(
            "{}: collation {:?}, server {collation:?}",
            s.name, s.expect.collation
        ));
    }
}

#[tokio::test]
async fn corpus_matches_the_live_server() {
    let client = support::client().await;
    let scenarios = scenarios();
    let mut names: Vec<&str> = scenarios.iter().map(|s| s.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        scenarios.len(),
        "scenario names must be unique"
    );

    let outcomes = join_all(scenarios.iter().map(|s| run(&client, s))).await;
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    for (s, outcome) in scenarios.iter().zip(&outcomes) {
        check_against_reply(s, &outcome.reply, &mut problems);
        entries.push(entry_of(s, outcome));
    }

    if std::env::var("DUPKEY_WRITE_CORPUS").as_deref() == Ok("1") {
        assert!(
            problems.is_empty(),
            "expectations disagree with the server:\n{}",
            problems.join("\n")
        );
        entry::store(&entries);
        return;
    }

    let stored = entry::load();
    let stored_names: Vec<&str> = stored.iter().map(|e| e.name.as_str()).collect();
    let live_names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        stored_names, live_names,
        "the corpus file lists other scenarios: rewrite it"
    );
    for (live, stored) in entries.iter().zip(&stored) {
        let volatile =
            live.message.starts_with("Index build failed") || live.name == "aggregate_out";
        let (mut live, mut stored) = (live.clone(), stored.clone());
        if volatile {
            for e in [&mut live, &mut stored] {
                e.message = mask(&e.message);
                e.collection = e.collection.as_deref().map(mask);
            }
        }
        if live != stored {
            problems.push(format!(
                "{}:\n  live   {live:?}\n  stored {stored:?}",
                live.name
            ));
        }
    }
    client.shutdown().await;
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
