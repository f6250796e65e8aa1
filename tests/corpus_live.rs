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
use mongodb::bson::oid::ObjectId;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{
    doc, from_document, Binary, Bson, DateTime, Decimal128, Document, RawDocument, RawDocumentBuf,
    Regex, Timestamp,
};
use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{Client, IndexModel};
use support::corpus::{self as entry, to_json, Entry};
use support::{collation_en_2, default_name};

/// How the scenario makes the server report the duplicate.
enum Op {
    /// `insert_one` of this document, after the seed documents.
    Insert(Document),
    /// `find_one_and_update(filter, update)` (findAndModify), with or without upsert.
    FindAndModify {
        filter: Document,
        update: Document,
        upsert: bool,
    },
    /// The unique index is built only now, over seeded duplicates.
    BuildIndex,
    /// `aggregate(pipeline)` on a collection `src` holding `source` (`$merge`/`$out` into the
    /// scenario's collection).
    Aggregate {
        source: Vec<Document>,
        pipeline: Vec<Document>,
    },
}

/// What a correct parser must read from the message.
#[derive(Clone)]
struct Expect {
    index: Option<String>,
    fields: Vec<String>,
    key_pattern: Option<Document>,
    key_value: Option<Document>,
    collation: Option<Document>,
}

struct Scenario {
    name: &'static str,
    db: String,
    coll: String,
    /// Extra options of the `create` command (`clusteredIndex`, `collation`).
    create: Document,
    /// The unique index: keys and options (`unique: true` is added).
    index: Option<(Document, Document)>,
    seed: Vec<Document>,
    op: Op,
    expect: Expect,
    /// The server names a temporary collection (`$out`): the expected collection is the
    /// `tmp.agg_out.<uuid>` the message names, and UUIDs are masked when comparing.
    temp_collection: bool,
}

fn fields_of(keys: &Document) -> Vec<String> {
    keys.keys().cloned().collect()
}

impl Scenario {
    /// A scenario on `dk_<name>.users` that inserts `second` after `first`; no index yet.
    fn new(name: &'static str) -> Self {
        Scenario {
            name,
            db: format!("dk_{name}"),
            coll: "users".into(),
            create: Document::new(),
            index: None,
            seed: Vec::new(),
            op: Op::Insert(Document::new()),
            expect: Expect {
                index: None,
                fields: Vec::new(),
                key_pattern: None,
                key_value: None,
                collation: None,
            },
            temp_collection: false,
        }
    }

    /// A unique index with its default name: the name gives the key pattern.
    fn index(mut self, keys: Document) -> Self {
        self.expect.index = Some(default_name(&keys));
        self.expect.fields = fields_of(&keys);
        self.expect.key_pattern = Some(keys.clone());
        self.index = Some((keys, Document::new()));
        self
    }

    /// A unique index with a name that does not give the key pattern.
    fn named_index(mut self, keys: Document, name: &str) -> Self {
        self.expect.index = Some(name.into());
        self.expect.fields = fields_of(&keys);
        self.expect.key_pattern = None;
        self.index = Some((keys, doc! { "name": name }));
        self
    }

    /// More index options (`collation`, `sparse`, `partialFilterExpression`).
    fn index_options(mut self, options: Document) -> Self {
        let (_, opts) = self.index.as_mut().expect("index first");
        opts.extend(options);
        self
    }

    /// Inserts `first`, then `second`, which conflicts; the key value is `value`.
    fn dup(mut self, first: Document, second: Document, value: Option<Document>) -> Self {
        self.seed = vec![first];
        self.op = Op::Insert(second);
        self.expect.key_value = value;
        self
    }

    /// The same document twice; its key value is `value`.
    fn twice(self, document: Document, value: Option<Document>) -> Self {
        self.dup(document.clone(), document, value)
    }

    fn ns(mut self, db: &str, coll: &str) -> Self {
        self.db = db.into();
        self.coll = coll.into();
        self
    }

    fn create(mut self, options: Document) -> Self {
        self.create = options;
        self
    }

    fn op(mut self, op: Op) -> Self {
        self.op = op;
        self
    }

    fn seed(mut self, seed: Vec<Document>) -> Self {
        self.seed = seed;
        self
    }

    fn fields(mut self, fields: &[&str]) -> Self {
        self.expect.fields = fields.iter().map(|f| f.to_string()).collect();
        self
    }

    fn key_pattern(mut self, pattern: Option<Document>) -> Self {
        self.expect.key_pattern = pattern;
        self
    }

    fn key_value(mut self, value: Option<Document>) -> Self {
        self.expect.key_value = value;
        self
    }

    fn expect_index(mut self, index: Option<&str>) -> Self {
        self.expect.index = index.map(Into::into);
        self
    }

    fn collation(mut self, collation: Document) -> Self {
        self.expect.collation = Some(collation);
        self
    }
}

/// `{ v: 1 }` unique, the same `{ v: value }` twice: the message prints `value`.
fn value(name: &'static str, value: impl Into<Bson>) -> Scenario {
    let value = value.into();
    Scenario::new(name)
        .index(doc! { "v": 1 })
        .twice(doc! { "v": value.clone() }, Some(doc! { "v": value }))
}

/// Like [`value`], but the message cannot give the value back (cut, or not the value).
fn lossy(name: &'static str, value: impl Into<Bson>) -> Scenario {
    let value = value.into();
    Scenario::new(name)
        .index(doc! { "v": 1 })
        .twice(doc! { "v": value }, None)
}

fn dec(text: &str) -> Decimal128 {
    text.parse().expect("decimal128")
}

fn bin(subtype: BinarySubtype, bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary { subtype, bytes })
}

fn oid(hex: &str) -> ObjectId {
    ObjectId::parse_str(hex).expect("object id")
}

/// The full collation MongoDB 6.0.5 reports for `{ locale: "fr" }`.
fn collation_fr() -> Document {
    doc! {
        "locale": "fr", "caseLevel": false, "caseFirst": "off", "strength": 3,
        "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
        "normalization": false, "backwards": false, "version": "57.1",
    }
}

fn scenarios() -> Vec<Scenario> {
    let uuid = bin(
        BinarySubtype::Uuid,
        (0..16).map(|i| [0x12, 0x34, 0x56, 0x78][i % 4]).collect(),
    );
    let long = |n: usize| "a".repeat(n);
    vec![
        // Every BSON type as the key value.
        value("objectid", oid("65a1b2c3d4e5f60718293a4b")),
        value("date", DateTime::from_millis(1_704_164_645_678)),
        value("date_negative", DateTime::from_millis(-1)),
        value("int32", 42),
        value("int32_min", i32::MIN),
        value("int64_2_31", 2_147_483_648_i64),
        value("int64_above_2_53", 9_007_199_254_740_993_i64),
        value("int64_min", i64::MIN),
        value("double_fraction", 1234.5678),
        value("double_negative", -2.5),
        value("double_2_0", 2.0),
        value("double_nan", f64::NAN),
        value("double_negative_zero", -0.0),
        value("double_infinity", f64::INFINITY),
        value("double_negative_infinity", f64::NEG_INFINITY),
        value("double_exponent", 1e20),
        value("double_negative_exponent", 1e-7),
        value("double_exponent_fraction", 1.5e300),
        // Decimal128 prints without a type; these forms are ones a double never prints.
        value("decimal128_trailing_zeros", dec("1234.5600")),
        value("decimal128_exponent", dec("1E+20")),
        value("decimal128_nan", dec("NaN")),
        value("decimal128_negative_zero", dec("-0")),
        value("decimal128_infinity", dec("Infinity")),
        value(
            "decimal128_big_integer",
            dec("123456789012345678901234567890"),
        ),
        value("bool_true", true),
        value("bool_false", false),
        value("null", Bson::Null),
        Scenario::new("missing_field")
            .index(doc! { "v": 1 })
            .twice(doc! { "other": 1 }, Some(doc! { "v": Bson::Null })),
        // An empty array is indexed, and printed, as `undefined` (the server's keyValue too).
        Scenario::new("empty_array")
            .index(doc! { "v": 1 })
            .twice(doc! { "v": [] }, Some(doc! { "v": Bson::Undefined })),
        Scenario::new("multikey_element")
            .index(doc! { "v": 1 })
            .dup(
                doc! { "v": ["red", "green"] },
                doc! { "v": ["green", "blue"] },
                Some(doc! { "v": "green" }),
            ),
        value("uuid", uuid),
        value(
            "bindata_generic",
            bin(BinarySubtype::Generic, vec![0, 1, 255]),
        ),
        value(
            "bindata_uuid_old",
            bin(BinarySubtype::UuidOld, vec![0x12; 16]),
        ),
        value("bindata_md5", bin(BinarySubtype::Md5, vec![0xd4; 16])),
        value(
            "bindata_user_defined",
            bin(BinarySubtype::UserDefined(0x80), vec![1, 2, 3]),
        ),
        value(
            "regex",
            Regex {
                pattern: "^ab.*c$".into(),
                options: "i".into(),
            },
        ),
        value(
            "timestamp",
            Timestamp {
                time: 1_700_000_000,
                increment: 5,
            },
        ),
        value("minkey", Bson::MinKey),
        value("maxkey", Bson::MaxKey),
        value(
            "embedded_document",
            doc! { "b": 1, "a": { "c": [1, 2] }, "s": "t" },
        ),
        value("embedded_empty", Document::new()),
        // One element of `v` is the array [1, 2]: that element is the key.
        Scenario::new("array")
            .index(doc! { "v": 1 })
            .twice(doc! { "v": [[1, 2]] }, Some(doc! { "v": [1, 2] })),
        Scenario::new("array_empty_nested")
            .index(doc! { "v": 1 })
            .twice(doc! { "v": [[]] }, Some(doc! { "v": [] })),
        value("string_empty", ""),
        value("string_unicode", "日本語 ünï ☃"),
        // Strings are printed raw.
        value(
            "string_raw_quotes",
            "He said \"hi\" {x: 1} 'q' \\ back\\slash \n tab\t, x: 3 }",
        ),
        value("string_looks_like_fields", "x\", w: 1 }"),
        value("string_ends_with_dots", "wait..."),
        // Long values: strings over 159 bytes are cut to 150 and `...`, BinData over 80 bytes
        // to 70.
        value("string_159_bytes", long(159)),
        lossy("string_160_bytes", long(160)),
        // Printed whole, but reads exactly like a cut value.
        lossy(
            "string_153_bytes_ending_in_dots",
            format!("{}...", long(150)),
        ),
        // The cut splits `é`: the driver hands over U+FFFD.
        lossy("string_cut_multibyte", format!("a{}", "é".repeat(100))),
        lossy("string_cut_3_byte_char", format!("a{}", "日".repeat(60))),
        lossy("string_cut_4_byte_char", format!("a{}", "😀".repeat(50))),
        lossy("string_cut_embedded", doc! { "s": "b".repeat(200), "n": 1 }),
        Scenario::new("string_cut_compound")
            .index(doc! { "a": 1, "b": 1 })
            .twice(doc! { "a": "x".repeat(200), "b": 1 }, None),
        value(
            "bindata_80_bytes",
            bin(BinarySubtype::Generic, vec![0xab; 80]),
        ),
        lossy(
            "bindata_81_bytes",
            bin(BinarySubtype::Generic, vec![0xab; 81]),
        ),
        // Compound and nested keys.
        Scenario::new("compound")
            .index(doc! { "tenant": 1, "email": 1 })
            .twice(
                doc! { "tenant": 3, "email": "a@b.c" },
                Some(doc! { "tenant": 3, "email": "a@b.c" }),
            ),
        Scenario::new("compound_descending")
            .index(doc! { "a": 1, "b": -1 })
            .twice(doc! { "a": 1, "b": 2.0 }, Some(doc! { "a": 1, "b": 2.0 })),
        Scenario::new("nested_path")
            .index(doc! { "profile.email": 1 })
            .twice(
                doc! { "profile": { "email": "ann@example.com", "age": 3 } },
                Some(doc! { "profile.email": "ann@example.com" }),
            ),
        Scenario::new("compound_nested")
            .index(doc! { "tenant": 1, "profile.email": -1 })
            .twice(
                doc! { "tenant": "t1", "profile": { "email": "ann@example.com" } },
                Some(doc! { "tenant": "t1", "profile.email": "ann@example.com" }),
            ),
        // `{ a: "He said "hi"", b: 2 }`: only one `, b: ` to end `a` at.
        Scenario::new("compound_quotes_unambiguous")
            .index(doc! { "a": 1, "b": 1 })
            .twice(
                doc! { "a": "He said \"hi\"", "b": 2 },
                Some(doc! { "a": "He said \"hi\"", "b": 2 }),
            ),
        // `{ a: "x", b: "y", b: "z" }`: `a` is `x` or `x", b: "y`; nothing tells which.
        Scenario::new("compound_quotes_ambiguous")
            .index(doc! { "a": 1, "b": 1 })
            .twice(doc! { "a": "x\", b: \"y", "b": "z" }, None),
        // Odd field names, printed raw.
        Scenario::new("field_with_space")
            .index(doc! { "first name": 1 })
            .twice(
                doc! { "first name": "Ann" },
                Some(doc! { "first name": "Ann" }),
            ),
        Scenario::new("field_unicode")
            .index(doc! { "ünï": 1 })
            .twice(doc! { "ünï": 1 }, Some(doc! { "ünï": 1 })),
        Scenario::new("field_quote")
            .index(doc! { "we\"ird": 1 })
            .twice(doc! { "we\"ird": "q" }, Some(doc! { "we\"ird": "q" })),
        Scenario::new("field_underscore_digit")
            .index(doc! { "a_1": 1, "b": -1 })
            .twice(doc! { "a_1": 5, "b": 6 }, Some(doc! { "a_1": 5, "b": 6 })),
        Scenario::new("field_odd_compound")
            .index(doc! { "first name": 1, "ünï": 1, "we\"ird": 1 })
            .twice(
                doc! { "first name": "Ann", "ünï": 1, "we\"ird": "q" },
                Some(doc! { "first name": "Ann", "ünï": 1, "we\"ird": "q" }),
            ),
        // Odd namespaces: the database never holds a dot, the collection may.
        value("namespace_dots", "x").ns("my-db", "a.b.c"),
        value("namespace_unicode", "x").ns("ünï-db", "cöll ection"),
        // Index names that do not give the key pattern.
        Scenario::new("index_custom_name")
            .named_index(doc! { "email": 1 }, "my idx.with dots & spaces \"q\"")
            .twice(doc! { "email": "a@b.c" }, Some(doc! { "email": "a@b.c" })),
        // Looks like another field's default name.
        Scenario::new("index_name_other_field")
            .named_index(doc! { "v": 1 }, "w_1")
            .twice(doc! { "v": 1 }, Some(doc! { "v": 1 })),
        // A unique index is never hashed, so this cannot be a default name.
        Scenario::new("index_name_looks_hashed")
            .named_index(doc! { "v": 1 }, "v_hashed")
            .twice(doc! { "v": 1 }, Some(doc! { "v": 1 })),
        // Index types whose keys are not the written value: an S2 cell, a geohash, a term.
        Scenario::new("index_2dsphere")
            .index(doc! { "g": "2dsphere" })
            .twice(
                doc! { "g": { "type": "Point", "coordinates": [1.5, 2.5] } },
                None,
            ),
        Scenario::new("index_2d")
            .index(doc! { "d": "2d" })
            .twice(doc! { "d": [1.5, 2.5] }, None),
        Scenario::new("index_text")
            .index(doc! { "t": "text" })
            .twice(doc! { "t": "hello" }, None)
            .fields(&["_fts", "_ftsx"])
            .key_pattern(None),
        // Collations: string parts of the key are printed as collation keys.
        Scenario::new("collation_strength_2")
            .index(doc! { "name": 1 })
            .index_options(doc! { "collation": { "locale": "en", "strength": 2 } })
            .dup(doc! { "name": "Ann" }, doc! { "name": "ann" }, None)
            .collation(collation_en_2()),
        Scenario::new("collation_numeric")
            .index(doc! { "n": 1 })
            .index_options(doc! { "collation": { "locale": "en", "strength": 2 } })
            .twice(doc! { "n": 5 }, Some(doc! { "n": 5 }))
            .collation(collation_en_2()),
        Scenario::new("collation_compound")
            .index(doc! { "name": 1, "n": 1 })
            .index_options(doc! { "collation": { "locale": "en", "strength": 2 } })
            .dup(
                doc! { "name": "Zoë", "n": 5 },
                doc! { "name": "ZOË", "n": 5 },
                None,
            )
            .collation(collation_en_2()),
        Scenario::new("collation_collection_default")
            .create(doc! { "collation": { "locale": "fr" } })
            .index(doc! { "name": 1 })
            .twice(doc! { "name": "Ann" }, None)
            .collation(collation_fr()),
        // Clustered collections: no index name.
        Scenario::new("clustered")
            .create(doc! { "clusteredIndex": { "key": { "_id": 1 }, "unique": true } })
            .twice(doc! { "_id": 1 }, Some(doc! { "_id": 1 }))
            .fields(&["_id"]),
        Scenario::new("clustered_named")
            .create(doc! {
                "clusteredIndex": { "key": { "_id": 1 }, "unique": true, "name": "by id" },
            })
            .twice(doc! { "_id": "k" }, Some(doc! { "_id": "k" }))
            .fields(&["_id"]),
        Scenario::new("partial_index")
            .index(doc! { "email": 1 })
            .index_options(doc! { "partialFilterExpression": { "email": { "$exists": true } } })
            .twice(doc! { "email": "a@b.c" }, Some(doc! { "email": "a@b.c" })),
        Scenario::new("sparse_index")
            .index(doc! { "email": 1 })
            .index_options(doc! { "sparse": true })
            .twice(doc! { "email": "a@b.c" }, Some(doc! { "email": "a@b.c" })),
        // `_id` duplicates: `_id_` is reserved for `{ _id: 1 }`.
        id("id_int", 1),
        id("id_objectid", oid("65a1b2c3d4e5f60718293a4c")),
        id("id_string", "ann"),
        id("id_embedded", doc! { "a": 1, "b": "x" }),
        // Wrappers.
        Scenario::new("find_and_modify")
            .index(doc! { "email": 1 })
            .seed(vec![
                doc! { "_id": 1, "email": "a@b.c" },
                doc! { "_id": 2, "email": "d@e.f" },
            ])
            .op(Op::FindAndModify {
                filter: doc! { "_id": 2 },
                update: doc! { "$set": { "email": "a@b.c" } },
                upsert: false,
            })
            .key_value(Some(doc! { "email": "a@b.c" })),
        Scenario::new("find_and_modify_upsert")
            .index(doc! { "email": 1 })
            .seed(vec![doc! { "_id": 1, "email": "a@b.c" }])
            .op(Op::FindAndModify {
                filter: doc! { "_id": 2 },
                update: doc! { "$set": { "email": "a@b.c" } },
                upsert: true,
            })
            .key_value(Some(doc! { "email": "a@b.c" })),
        Scenario::new("index_build_failure")
            .index(doc! { "email": 1 })
            .seed(vec![
                doc! { "_id": 1, "email": "a@b.c" },
                doc! { "_id": 2, "email": "a@b.c" },
            ])
            .op(Op::BuildIndex)
            .key_value(Some(doc! { "email": "a@b.c" })),
        Scenario::new("aggregate_merge")
            .index(doc! { "email": 1 })
            .seed(vec![doc! { "_id": 1, "email": "a@b.c" }])
            .op(Op::Aggregate {
                source: vec![doc! { "_id": 2, "email": "a@b.c" }],
                pipeline: vec![doc! { "$merge": { "into": "users", "on": "_id" } }],
            })
            .key_value(Some(doc! { "email": "a@b.c" })),
        Scenario {
            temp_collection: true,
            ..Scenario::new("aggregate_out")
                .index(doc! { "email": 1 })
                .op(Op::Aggregate {
                    source: vec![
                        doc! { "_id": 1, "email": "a@b.c" },
                        doc! { "_id": 2, "email": "a@b.c" },
                    ],
                    pipeline: vec![doc! { "$out": "users" }],
                })
                .key_value(Some(doc! { "email": "a@b.c" }))
        },
    ]
}

/// A duplicate `_id` (no other index).
fn id(name: &'static str, id: impl Into<Bson>) -> Scenario {
    let id = id.into();
    Scenario::new(name)
        .twice(doc! { "_id": id.clone() }, Some(doc! { "_id": id }))
        .fields(&["_id"])
        .key_pattern(Some(doc! { "_id": 1 }))
        .expect_index(Some("_id_"))
}

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
