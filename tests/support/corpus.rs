//! One entry of the message corpus (`tests/corpus/server-*.json`): a real server message and
//! what a correct parser must read from it. Shared by `tests/corpus.rs` (no server) and
//! `tests/corpus_live.rs` (captures and re-checks the messages against a real mongod).

use std::path::PathBuf;

use mongodb::bson::{Bson, Document};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The corpus file of the server the tests run (MongoDB 6.0.5).
pub fn path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/server-6.0.5.json"
    ))
}

/// One captured message and its expected reading. Documents are canonical extended JSON,
/// so a value's BSON type (Int32, Int64, Double, Decimal128, ...) is part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub message: String,
    pub database: Option<String>,
    pub collection: Option<String>,
    pub index: Option<String>,
    pub fields: Vec<String>,
    pub key_pattern: Option<Value>,
    pub key_value: Option<Value>,
    pub collation: Option<Value>,
}

/// A document as canonical extended JSON (field order kept).
pub fn to_json(doc: &Document) -> Value {
    Bson::Document(doc.clone()).into_canonical_extjson()
}

/// Canonical extended JSON back to a document.
pub fn from_json(value: &Value) -> Document {
    match Bson::try_from(value.clone()) {
        Ok(Bson::Document(doc)) => doc,
        other => panic!("not an extended JSON document: {value} ({other:?})"),
    }
}

/// Canonical extended JSON of an optional document: compares types and NaN exactly.
pub fn opt_json(doc: Option<&Document>) -> Option<Value> {
    doc.map(to_json)
}

/// Reads the corpus file.
pub fn load() -> Vec<Entry> {
    let path = path();
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Writes the corpus file (pretty, one entry per object, trailing newline).
pub fn store(entries: &[Entry]) {
    let mut text = serde_json::to_string_pretty(entries).expect("serialize the corpus");
    text.push('\n');
    std::fs::write(path(), text).expect("write the corpus");
}
