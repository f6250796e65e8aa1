//! The corpus scenarios: what each one writes, and what a correct parser must read from the
//! message the server answers with.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Bson, DateTime, Decimal128, Document, Regex, Timestamp};

use crate::support::{collation_en_2, default_name};

/// How the scenario makes the server report the duplicate.
pub(crate) enum Op {
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
pub(crate) struct Expect {
    pub(crate) index: Option<String>,
    pub(crate) fields: Vec<String>,
    pub(crate) key_pattern: Option<Document>,
    pub(crate) key_value: Option<Document>,
    pub(crate) collation: Option<Document>,
}

pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) db: String,
    pub(crate) coll: String,
    /// Extra options of the `create` command (`clusteredIndex`, `collation`).
    pub(crate) create: Document,
    /// The unique index: keys and options (`unique: true` is added).
    pub(crate) index: Option<(Document, Document)>,
    pub(crate) seed: Vec<Document>,
    pub(crate) op: Op,
    pub(crate) expect: Expect,
    /// The server names a temporary collection (`$out`): the expected collection is the
    /// `tmp.agg_out.<uuid>` the message names, and UUIDs are masked when comparing.
    pub(crate) temp_collection: bool,
}

pub(crate) fn fields_of(keys: &Document) -> Vec<String> {
    keys.keys().cloned().collect()
}

impl Scenario {
    /// A scenario on `dk_<name>.users` that inserts `second` after `first`; no index yet.
    pub(crate) fn new(name: &'static str) -> Self {
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
    pub(crate) fn index(mut self, keys: Document) -> Self {
        self.expect.index = Some(default_name(&keys));
        self.expect.fields = fields_of(&keys);
        self.expect.key_pattern = Some(keys.clone());
        self.index = Some((keys, Document::new()));
        self
    }

    /// A unique index with a name that does not give the key pattern.
    pub(crate) fn named_index(mut self, keys: Document, name: &str) -> Self {
        self.expect.index = Some(name.into());
        self.expect.fields = fields_of(&keys);
        self.expect.key_pattern = None;
        self.index = Some((keys, doc! { "name": name }));
        self
    }

    /// More index options (`collation`, `sparse`, `partialFilterExpression`).
    pub(crate) fn index_options(mut self, options: Document) -> Self {
        let (_, opts) = self.index.as_mut().expect("index first");
        opts.extend(options);
        self
    }

    /// Inserts `first`, then `second`, which conflicts; the key value is `value`.
    pub(crate) fn dup(
        mut self,
        first: Document,
        second: Document,
        value: Option<Document>,
    ) -> Self {
        self.seed = vec![first];
        self.op = Op::Insert(second);
        self.expect.key_value = value;
        self
    }

    /// The same document twice; its key value is `value`.
    pub(crate) fn twice(self, document: Document, value: Option<Document>) -> Self {
        self.dup(document.clone(), document, value)
    }

    pub(crate) fn ns(mut self, db: &str, coll: &str) -> Self {
        self.db = db.into();
        self.coll = coll.into();
        self
    }

    pub(crate) fn create(mut self, options: Document) -> Self {
        self.create = options;
        self
    }

    pub(crate) fn op(mut self, op: Op) -> Self {
        self.op = op;
        self
    }

    pub(crate) fn seed(mut self, seed: Vec<Document>) -> Self {
        self.seed = seed;
        self
    }

    pub(crate) fn fields(mut self, fields: &[&str]) -> Self {
        self.expect.fields = fields.iter().map(|f| f.to_string()).collect();
        self
    }

    pub(crate) fn key_pattern(mut self, pattern: Option<Document>) -> Self {
        self.expect.key_pattern = pattern;
        self
    }

    pub(crate) fn key_value(mut self, value: Option<Document>) -> Self {
        self.expect.key_value = value;
        self
    }

    pub(crate) fn expect_index(mut self, index: Option<&str>) -> Self {
        self.expect.index = index.map(Into::into);
        self
    }

    pub(crate) fn collation(mut self, collation: Document) -> Self {
        self.expect.collation = Some(collation);
        self
    }
}

/// `{ v: 1 }` unique, the same `{ v: value }` twice: the message prints `value`.
pub(crate) fn value(name: &'static str, value: impl Into<Bson>) -> Scenario {
    let value = value.into();
    Scenario::new(name)
        .index(doc! { "v": 1 })
        .twice(doc! { "v": value.clone() }, Some(doc! { "v": value }))
}

/// Like [`value`], but the message cannot give the value back (cut, or not the value).
pub(crate) fn lossy(name: &'static str, value: impl Into<Bson>) -> Scenario {
    let value = value.into();
    Scenario::new(name)
        .index(doc! { "v": 1 })
        .twice(doc! { "v": value }, None)
}

pub(crate) fn dec(text: &str) -> Decimal128 {
    text.parse().expect("decimal128")
}

pub(crate) fn bin(subtype: BinarySubtype, bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary { subtype, bytes })
}

pub(crate) fn oid(hex: &str) -> ObjectId {
    ObjectId::parse_str(hex).expect("object id")
}

/// The full collation MongoDB 6.0.5 reports for `{ locale: "fr" }`.
pub(crate) fn collation_fr() -> Document {
    doc! {
        "locale": "fr", "caseLevel": false, "caseFirst": "off", "strength": 3,
        "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
        "normalization": false, "backwards": false, "version": "57.1",
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
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
pub(crate) fn id(name: &'static str, id: impl Into<Bson>) -> Scenario {
    let id = id.into();
    Scenario::new(name)
        .twice(doc! { "_id": id.clone() }, Some(doc! { "_id": id }))
        .fields(&["_id"])
        .key_pattern(Some(doc! { "_id": 1 }))
        .expect_index(Some("_id_"))
}
