//! Where a bulk insert cuts its batches: each batch's reply stays well under the server's
//! reply limit, however many of its documents are refused.
//!
//! An unordered `insert` answers with one write error per refused document: one, however
//! many unique indexes would refuse it (the first refusal ends the document's insert). A
//! duplicate's error holds `errmsg` (namespace, index name, the key printed with each string
//! cut at 150 bytes), `keyPattern`, and `keyValue`, the whole key value. Under a collation
//! the string parts of `keyValue` are hex collation keys (measured on 6.0.5: about 6 hex
//! characters per byte of ASCII, up to 29 per byte of other UTF-8), and `hexEncoded` and the
//! `collation` document come along. The server builds the reply after the writes, whole: a
//! reply over its 16 MiB limit closes the connection and leaves every document of the batch
//! unconfirmed (measured: 100,000 duplicate integer `_id`s make 18.8 MB of errors).
//!
//! So each document's worst-case error is bounded before anything is sent, from the
//! document's own key values under each unique index of the collection, and a batch closes
//! before the sum of its documents' bounds passes [`ERRORS_BUDGET`], half the server's limit.
//! The bounds overstate (about twice the measured errors of small keys), so a batch of small
//! keys still holds tens of thousands of documents. Without the index list, each document is
//! bounded by [`UNKNOWN_INDEX`] plus a multiple of its whole size: enough to send a small
//! import without reading `listIndexes`, and what a larger one falls back to when the list
//! cannot be read.
//!
//! The server's own limits stay upper bounds: at most [`MAX_BATCH_DOCUMENTS`] documents and
//! [`MAX_BATCH_BYTES`] of them per batch.

use std::ops::Range;

use mongodb::bson::{RawBsonRef, RawDocument, RawDocumentBuf};
use mongodb::Namespace;

use crate::index::{Index, Indexes};
use crate::key_pattern::is_plain;

/// Most documents in one `insert` command (the server's `maxWriteBatchSize`).
pub(crate) const MAX_BATCH_DOCUMENTS: usize = 100_000;
/// Most document bytes in one `insert` command: under the server's 48 MB message limit with
/// room for the command around them, so the driver never splits a batch itself.
pub(crate) const MAX_BATCH_BYTES: usize = 40_000_000;
/// Most bytes the write errors of one batch may take, at their worst: half the server's
/// 16 MiB reply limit, the rest of the reply (`n`, `opTime`, a write concern error, ...)
/// included.
pub(crate) const ERRORS_BUDGET: usize = 8 * 1024 * 1024 - REPLY_REST;
/// What a reply holds besides its write errors, at most.
const REPLY_REST: usize = 64 * 1024;

/// One write error's own fields around the index's: the array key (up to six digits), the
/// document's header and end, `index`, `code`, and the headers of `errmsg`, `keyPattern`
/// and `keyValue`, plus room for a `codeName` or `errInfo` a server may add.
const ERROR_FRAME: usize = 8 + 5 + 11 + 10 + 13 + 12 + 10 + 64;
/// The fixed text of a duplicate's message, around the namespace, index name and key.
const MESSAGE_TEXT: &str = "E11000 duplicate key error collection:  index:  dup key: {  }";
/// A collated index's additions to each error: the `collation` document and its text in the
/// message (each well under 1 KiB: ten short options), and `hexEncoded`'s header.
const COLLATION: usize = 2 * 1024 + 32;
/// The index name, key pattern and collation of an index the list does not describe.
const UNKNOWN_INDEX: usize = 16 * 1024;
/// Hex characters of a collation key per byte of UTF-8, with margin over what was measured
/// (about 6 for ASCII, 29 for the longest expansions), and per string (level separators).
const HEX_PER_ASCII_BYTE: usize = 8;
const HEX_PER_UTF8_BYTE: usize = 64;
const HEX_PER_STRING: usize = 64;
/// Printed bytes per byte of a value the message prints whole (an embedded document's field
/// names, `null`, `MinKey`, numbers), and per value.
const PRINTED_PER_BYTE: usize = 8;
const PRINTED_PER_VALUE: usize = 64;
/// Bytes of a string the message prints before it cuts the rest (it cuts at 150 from 160 on).
const PRINTED_STRING: usize = 160;

/// How large one document's write error can be, from what is known of the collection's
/// unique indexes.
pub(crate) struct ErrorBound {
    /// Each unique index's fixed cost and key fields; `None` until the list is known.
    indexes: Option<Vec<IndexCost>>,
    namespace: usize,
}

/// What one unique index adds to an error regardless of the document, and how to read the
/// rest from the document.
struct IndexCost {
    fixed: usize,
    fields: Vec<String>,
    collated: bool,
    /// The index holds values computed from the document's (cells, terms): bound them by
    /// the whole document.
    computed: bool,
}

impl ErrorBound {
    /// A bound that knows no index of the collection `namespace`.
    pub(crate) fn unknown(namespace: &Namespace) -> Self {
        ErrorBound {
            indexes: None,
            namespace: namespace.db.len() + 1 + namespace.coll.len(),
        }
    }

    /// Whether `docs` could make a reply too large for all that this bound knows: then the
    /// index list is worth reading.
    pub(crate) fn needs_list(&self, docs: &[RawDocumentBuf]) -> bool {
        self.indexes.is_none()
            && docs
                .iter()
                .fold(0_usize, |sum, doc| sum.saturating_add(self.document(doc)))
                > ERRORS_BUDGET
    }

    /// Bounds each document by the indexes of `indexes` that refuse duplicates (unique or
    /// prepared to become so).
    pub(crate) fn know(&mut self, indexes: &Indexes) {
        let costs = indexes
            .iter()
            .filter(|index| index.refuses_duplicates())
            .map(|index| IndexCost::new(index, self.namespace))
            .collect();
        self.indexes = Some(costs);
    }

    /// The most bytes `doc`'s write error can take in a reply.
    fn document(&self, doc: &RawDocument) -> usize {
        let size = doc.as_bytes().len();
        let Some(indexes) = &self.indexes else {
            return ERROR_FRAME + UNKNOWN_INDEX + self.namespace + composite(size, true);
        };
        let worst = indexes
            .iter()
            .map(|index| index.fixed + index.variable(doc, size))
            .max()
            .unwrap_or(0);
        ERROR_FRAME + worst
    }

    /// The position ranges of the batches `docs` is sent in, in order, each at least one
    /// document.
    pub(crate) fn batches(&self, docs: &[RawDocumentBuf]) -> Vec<Range<usize>> {
        cut(docs, |doc| self.document(doc))
    }
}

/// Cuts `docs` into batches within the server's limits whose `error` bounds sum to at most
/// [`ERRORS_BUDGET`] (a document over it alone goes alone).
fn cut(docs: &[RawDocumentBuf], error: impl Fn(&RawDocument) -> usize) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    let (mut bytes, mut errors) = (0, 0_usize);
    for (position, doc) in docs.iter().enumerate() {
        let size = doc.as_bytes().len();
        let bound = error(doc);
        if position > start
            && (position - start == MAX_BATCH_DOCUMENTS
                || bytes + size > MAX_BATCH_BYTES
                || errors.saturating_add(bound) > ERRORS_BUDGET)
        {
            batches.push(start..position);
            start = position;
            (bytes, errors) = (0, 0);
        }
        bytes += size;
        errors = errors.saturating_add(bound);
    }
    if start < docs.len() {
        batches.push(start..docs.len());
    }
    batches
}

impl IndexCost {
    fn new(index: &Index, namespace: usize) -> Self {
        let fields: Vec<String> = index.key().keys().cloned().collect();
        let names: usize = fields.iter().map(String::len).sum();
        let pattern = crate::bson_compat::to_raw(index.key())
            .map_or(UNKNOWN_INDEX, |raw| raw.as_bytes().len());
        // `keyValue`: its header and end, and each field's type byte, name and NUL.
        let value_names = 5 + 2 * fields.len() + names;
        // `errmsg`: the text, the namespace, the name, and each field's name with ": " and ", ".
        let message =
            MESSAGE_TEXT.len() + namespace + index.name().len() + names + 4 * fields.len();
        let collated = index.collation_spec().is_some();
        let collation = if collated {
            COLLATION + 8 * fields.len()
        } else {
            0
        };
        IndexCost {
            fixed: pattern + value_names + message + collation,
            fields,
            collated,
            computed: !is_plain(index.key()),
        }
    }

    /// What `doc`'s key values add: each in `keyValue` and printed in `errmsg`.
    fn variable(&self, doc: &RawDocument, size: usize) -> usize {
        if self.computed {
            return self.fields.len() * composite(size, self.collated);
        }
        self.fields
            .iter()
            .map(|path| match lookup(doc, path) {
                Found::Missing => PRINTED_PER_VALUE,
                Found::Value(value) => value_cost(value, self.collated, size),
                Found::Within(bytes) => composite(bytes, self.collated),
            })
            .sum()
    }
}

/// What a key path leads to in a document, for a bound.
enum Found<'a> {
    /// Indexed as `null`.
    Missing,
    Value(RawBsonRef<'a>),
    /// An array on the path: the key is one of its elements (or a value inside one), at most
    /// this many bytes.
    Within(usize),
}

fn lookup<'a>(doc: &'a RawDocument, path: &str) -> Found<'a> {
    let mut current = doc;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        match current.get(segment) {
            Ok(None) => return Found::Missing,
            Err(_) => return Found::Within(current.as_bytes().len()),
            Ok(Some(RawBsonRef::Array(array))) => return Found::Within(array.as_bytes().len()),
            Ok(Some(RawBsonRef::Document(inner))) if segments.peek().is_some() => current = inner,
            Ok(Some(_)) if segments.peek().is_some() => return Found::Missing,
            Ok(Some(value)) => return Found::Value(value),
        }
    }
    Found::Missing
}

/// What one key value adds to an error: its bytes in `keyValue` and its printed text.
/// `size` (the whole document's) bounds the values whose bytes are not read here.
fn value_cost(value: RawBsonRef<'_>, collated: bool, size: usize) -> usize {
    match value {
        RawBsonRef::String(s) if collated => {
            let per_byte = if s.is_ascii() {
                HEX_PER_ASCII_BYTE
            } else {
                HEX_PER_UTF8_BYTE
            };
            let hex = 2 + per_byte * s.len() + HEX_PER_STRING;
            5 + hex + hex.min(PRINTED_STRING) + PRINTED_PER_VALUE
        }
        RawBsonRef::String(s) => 5 + s.len() + s.len().min(PRINTED_STRING) + PRINTED_PER_VALUE,
        RawBsonRef::Document(d) => composite(d.as_bytes().len(), collated),
        RawBsonRef::Array(a) => composite(a.as_bytes().len(), collated),
        RawBsonRef::Binary(b) => {
            5 + b.bytes.len() + 2 * b.bytes.len().min(PRINTED_STRING) + PRINTED_PER_VALUE
        }
        RawBsonRef::Double(_)
        | RawBsonRef::Boolean(_)
        | RawBsonRef::Null
        | RawBsonRef::Int32(_)
        | RawBsonRef::Int64(_)
        | RawBsonRef::Timestamp(_)
        | RawBsonRef::ObjectId(_)
        | RawBsonRef::DateTime(_)
        | RawBsonRef::Decimal128(_)
        | RawBsonRef::MinKey
        | RawBsonRef::MaxKey
        | RawBsonRef::Undefined => 16 + PRINTED_PER_VALUE,
        // Regexes, code, symbols, pointers: no larger than the document.
        _ => composite(size, collated),
    }
}

/// What a value of `bytes` holding anything (strings at any depth) adds to an error: its
/// bytes in `keyValue` (each string a collation key under a collation) and its printed
/// text (the rest printed whole, each collation key at most whole).
fn composite(bytes: usize, collated: bool) -> usize {
    let stored = if collated {
        HEX_PER_UTF8_BYTE * bytes + HEX_PER_STRING
    } else {
        bytes
    };
    let printed_keys = if collated { stored } else { 0 };
    stored + PRINTED_PER_BYTE * bytes + printed_keys + PRINTED_PER_VALUE
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, Document, RawDocumentBuf};
    use mongodb::Namespace;

    use super::{cut, ErrorBound, ERRORS_BUDGET, MAX_BATCH_BYTES, MAX_BATCH_DOCUMENTS};
    use crate::index::Indexes;

    fn raw(doc: Document) -> RawDocumentBuf {
        crate::bson_compat::to_raw(&doc).unwrap()
    }

    fn ns() -> Namespace {
        Namespace::new("app", "users")
    }

    fn known(specs: &[Document]) -> ErrorBound {
        let mut bound = ErrorBound::unknown(&ns());
        bound.know(&Indexes::from_specs(specs.iter().cloned()));
        bound
    }

    /// The measured error of a duplicate integer `_id` in `app.users`: 114 bytes of
    /// `errmsg`, about 180 bytes in all.
    const MEASURED_INT_ID: usize = 180;

    #[test]
    fn batches_cut_at_the_count_and_the_bytes() {
        let docs: Vec<_> = (0..(MAX_BATCH_DOCUMENTS as i32 * 2 + 5))
            .map(|n| raw(doc! { "_id": n }))
            .collect();
        assert_eq!(
            cut(&docs, |_| 0),
            [
                0..MAX_BATCH_DOCUMENTS,
                MAX_BATCH_DOCUMENTS..2 * MAX_BATCH_DOCUMENTS,
                2 * MAX_BATCH_DOCUMENTS..docs.len()
            ]
        );
        let big = "x".repeat(MAX_BATCH_BYTES / 3);
        let docs: Vec<_> = (0..4).map(|n| raw(doc! { "_id": n, "s": &big })).collect();
        assert_eq!(known(&[]).batches(&docs), [0..2, 2..4]);
        assert!(known(&[]).batches(&[]).is_empty());
    }

    #[test]
    fn batches_cut_at_the_errors_budget_and_a_large_one_goes_alone() {
        let docs: Vec<_> = (0..10).map(|n| raw(doc! { "_id": n })).collect();
        let third = ERRORS_BUDGET / 3;
        assert_eq!(cut(&docs[..7], |_| third), [0..3, 3..6, 6..7]);
        assert_eq!(cut(&docs[..3], |_| ERRORS_BUDGET + 1), [0..1, 1..2, 2..3]);
    }

    #[test]
    fn small_keys_keep_batches_large_and_bound_what_was_measured() {
        let bound = known(&[]);
        let doc = raw(doc! { "_id": 99_999, "name": "Ann Example", "age": 42 });
        let one = bound.document(&doc);
        assert!(one >= MEASURED_INT_ID, "{one}");
        assert!(one <= 2 * MEASURED_INT_ID, "{one}");
        let docs: Vec<_> = (0..100_000)
            .map(|n| raw(doc! { "_id": n, "name": "Ann Example", "age": 42 }))
            .collect();
        let batches = bound.batches(&docs);
        assert!(batches.len() <= 5, "{}", batches.len());
    }

    #[test]
    fn a_key_is_bounded_by_its_own_value_not_the_document() {
        let bound = known(&[doc! { "key": { "email": 1 }, "name": "email_1", "unique": true }]);
        let padding = "p".repeat(10_000);
        let small = raw(doc! { "_id": 1, "email": "a@b.c", "notes": &padding });
        let large = raw(doc! { "_id": 1, "email": &padding, "notes": "n" });
        assert!(bound.document(&small) < 1_000, "{}", bound.document(&small));
        // The whole key in `keyValue`, and 160 bytes of it printed.
        assert!(bound.document(&large) > 10_000 + 160);
        assert!(bound.document(&large) < 11_000);
        // A plain index the list holds adds nothing.
        let plain = known(&[doc! { "key": { "notes": 1 }, "name": "notes_1" }]);
        assert!(plain.document(&large) < 1_000);
    }

    #[test]
    fn the_worst_unique_index_bounds_the_document() {
        let bound = known(&[
            doc! { "key": { "email": 1 }, "name": "email_1", "unique": true },
            doc! { "key": { "nick": 1 }, "name": "nick_1", "unique": true },
        ]);
        let doc = raw(doc! { "_id": 1, "email": "e".repeat(5_000), "nick": "n".repeat(20_000) });
        let only_email =
            known(&[doc! { "key": { "email": 1 }, "name": "email_1", "unique": true }]);
        assert!(bound.document(&doc) > 20_000);
        assert!(only_email.document(&doc) < 6_000);
    }

    #[test]
    fn collation_keys_are_bounded_per_byte_of_the_string() {
        let collated = known(&[
            doc! { "key": { "name": 1 }, "name": "name_1", "unique": true,
            "collation": { "locale": "en", "strength": 2 } },
        ]);
        // Measured on 6.0.5: 300 bytes of U+FDFA made 8,724 hex characters, and the whole
        // error 9,485 bytes (strength 5); 300 bytes of ASCII 1,836 characters.
        let fdfa = raw(doc! { "_id": 1, "name": "\u{FDFA}".repeat(100) });
        assert!(
            collated.document(&fdfa) > 9_485,
            "{}",
            collated.document(&fdfa)
        );
        let ascii = raw(doc! { "_id": 1, "name": "Zz".repeat(150) });
        assert!(
            collated.document(&ascii) > 2_597,
            "{}",
            collated.document(&ascii)
        );
        // Nested strings are collation keys too.
        let nested = raw(doc! { "_id": 1, "name": { "first": "\u{FDFA}".repeat(100) } });
        assert!(collated.document(&nested) > 9_485);
    }

    #[test]
    fn arrays_dotted_paths_and_missing_fields() {
        let bound = known(&[
            doc! { "key": { "tags": 1, "profile.email": 1 }, "name": "t_pe", "unique": true },
        ]);
        let tags = "t".repeat(3_000);
        let in_array = raw(doc! { "_id": 1, "tags": [&tags, "b"] });
        assert!(bound.document(&in_array) > 3_000);
        let nested = raw(doc! { "_id": 1, "profile": { "email": &tags } });
        assert!(bound.document(&nested) > 3_000);
        let through_array = raw(doc! { "_id": 1, "profile": [{ "email": &tags }] });
        assert!(bound.document(&through_array) > 3_000);
        let missing = raw(doc! { "_id": 1, "other": &tags });
        assert!(bound.document(&missing) < 1_000);
    }

    #[test]
    fn computed_keys_are_bounded_by_the_document() {
        let bound = known(&[
            doc! { "key": { "_fts": "text", "_ftsx": 1 }, "name": "body_text", "unique": true },
        ]);
        let doc = raw(doc! { "_id": 1, "body": "w".repeat(5_000) });
        assert!(bound.document(&doc) > 5_000);
    }

    #[test]
    fn without_the_list_a_small_import_needs_none_and_a_large_one_does() {
        let bound = ErrorBound::unknown(&ns());
        let two: Vec<_> = (0..2).map(|n| raw(doc! { "_id": n })).collect();
        assert!(!bound.needs_list(&two));
        let many: Vec<_> = (0..10_000).map(|n| raw(doc! { "_id": n })).collect();
        assert!(bound.needs_list(&many));
        assert!(!known(&[]).needs_list(&many));
        // Unknown, a document's error is bounded by more than its whole size.
        let doc = raw(doc! { "_id": 1, "k": "x".repeat(50_000) });
        assert!(bound.document(&doc) > 50_000 * 64);
    }
}
