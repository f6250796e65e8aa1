//! The parser against the corpus of real messages (`tests/corpus/server-*.json`, captured by
//! `tests/corpus_live.rs`): for every entry, `DuplicateKey::from_message` must give exactly
//! the expected reading. No server needed.

mod support;

use dupkey::DuplicateKey;
use mongodb::bson::Bson;
use support::corpus::{self as entry, from_json, opt_json, Entry};

/// What `from_message` read, in the corpus' own terms.
fn reading(entry: &Entry, dup: &DuplicateKey) -> Entry {
    Entry {
        name: entry.name.clone(),
        message: dup.message().to_owned(),
        database: dup.database().map(Into::into),
        collection: dup.collection().map(Into::into),
        index: dup.index().map(Into::into),
        fields: dup.fields().map(Into::into).collect(),
        key_pattern: opt_json(dup.key_pattern()),
        key_value: opt_json(dup.key_value()),
        collation: opt_json(dup.collation()),
    }
}

/// The strings of a key value (3 bytes or more: shorter ones may well occur in names).
fn strings(value: &Bson, out: &mut Vec<String>) {
    match value {
        Bson::String(s) if s.len() >= 3 => out.push(s.clone()),
        Bson::Document(doc) => doc.values().for_each(|v| strings(v, out)),
        Bson::Array(items) => items.iter().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[test]
fn corpus_is_well_formed() {
    let entries = entry::load();
    assert!(entries.len() >= 80, "only {} entries", entries.len());
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), entries.len(), "entry names must be unique");
    for e in &entries {
        // Every expected document is canonical extended JSON of a document.
        for doc in [&e.key_pattern, &e.key_value, &e.collation]
            .into_iter()
            .flatten()
        {
            from_json(doc);
        }
        assert!(
            e.message.contains("E11000 duplicate key error"),
            "{}",
            e.name
        );
    }
}

#[test]
fn parser_reads_every_corpus_entry_exactly() {
    let entries = entry::load();
    let mut failures = Vec::new();
    for expected in &entries {
        let Some(dup) = DuplicateKey::from_message(&expected.message) else {
            failures.push(format!(
                "{}: not read as a duplicate-key message",
                expected.name
            ));
            continue;
        };
        let got = reading(expected, &dup);
        if &got != expected {
            let mut diff = Vec::new();
            let mut field = |name: &str, want: String, got: String| {
                if want != got {
                    diff.push(format!(
                        "    {name}: expected {want}\n    {:width$}       got {got}",
                        "",
                        width = name.len()
                    ));
                }
            };
            field(
                "message",
                format!("{:?}", expected.message),
                format!("{:?}", got.message),
            );
            field(
                "database",
                format!("{:?}", expected.database),
                format!("{:?}", got.database),
            );
            field(
                "collection",
                format!("{:?}", expected.collection),
                format!("{:?}", got.collection),
            );
            field(
                "index",
                format!("{:?}", expected.index),
                format!("{:?}", got.index),
            );
            field(
                "fields",
                format!("{:?}", expected.fields),
                format!("{:?}", got.fields),
            );
            let json = |v: &Option<serde_json::Value>| match v {
                Some(v) => v.to_string(),
                None => "null".into(),
            };
            field(
                "key_pattern",
                json(&expected.key_pattern),
                json(&got.key_pattern),
            );
            field("key_value", json(&expected.key_value), json(&got.key_value));
            field("collation", json(&expected.collation), json(&got.collation));
            failures.push(format!("{}:\n{}", expected.name, diff.join("\n")));
        }
        if dup.position().is_some() {
            failures.push(format!(
                "{}: a message alone has no batch position",
                expected.name
            ));
        }
        // Display never shows the key value.
        let shown = dup.to_string();
        let mut secrets = Vec::new();
        if let Some(value) = &expected.key_value {
            strings(&Bson::Document(from_json(value)), &mut secrets);
        }
        if shown.contains("dup key") || secrets.iter().any(|s| shown.contains(s.as_str())) {
            failures.push(format!(
                "{}: Display shows the key value: {shown}",
                expected.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus entries read wrongly:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
}

#[test]
fn display_of_corpus_entries_names_index_and_namespace_only() {
    for expected in entry::load() {
        let Some(dup) = DuplicateKey::from_message(&expected.message) else {
            continue;
        };
        let mut want = String::from("duplicate key");
        if let Some(index) = &expected.index {
            want.push_str(&format!(" for index {index:?}"));
        }
        if let (Some(db), Some(coll)) = (&expected.database, &expected.collection) {
            want.push_str(&format!(
                " in \"{}.{}\"",
                db.escape_debug(),
                coll.escape_debug()
            ));
        }
        assert_eq!(dup.to_string(), want, "{}", expected.name);
    }
}
