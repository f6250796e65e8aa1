//! `dupkey::dedupe` against a real mongod: find, remove, build, verify.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use support::{database, insert, int_id as id, int_id_set as id_set, int_ids as ids};

use dupkey::dedupe::{
    create_unique_index, find_duplicates, remove_duplicates, verify, DedupeError, DuplicateGroup,
    Keep, UniqueIndex,
};
use dupkey::IsDuplicate;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Decimal128, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::{Collation, CollationStrength};
use mongodb::Collection;

async fn groups(coll: &Collection<Document>, index: &UniqueIndex) -> Vec<DuplicateGroup> {
    find_duplicates(coll, index)
        .await
        .expect("find_duplicates")
        .try_collect()
        .await
        .expect("stream")
}

/// `NumberDecimal(n)`: coefficient `n`, exponent 0 (BID encoding).
fn decimal(n: u64) -> Decimal128 {
    let bits = u128::from(n) | (0x3040_0000_0000_0000u128 << 64);
    Decimal128::from_bytes(bits.to_le_bytes())
}

/// A number or null, compared by value: the group key keeps the first document's type.
fn number(value: &Bson) -> Option<i64> {
    match value {
        Bson::Null => None,
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(n) if n.fract() == 0.0 => Some(*n as i64),
        other => panic!("not a tenant: {other}"),
    }
}

/// Expected groups: (email, tenant) -> `_id`s.
type Groups = BTreeMap<(String, Option<i64>), BTreeSet<i64>>;

/// 100,000 documents keyed by (email, tenant), with 1,000 duplicate groups of 2 to 10
/// documents. Group members are spread over the `_id`s; some groups collide through a
/// missing tenant and a null one, others through 5, 5i64 and 5.0.
/// Returns the documents and the expected groups: key -> ids.
fn planted() -> (Vec<Document>, Groups) {
    const TOTAL: i64 = 100_000;
    let scatter = |slot: i64| (slot * 7919) % TOTAL; // 7919 is prime: a permutation
    let mut docs = Vec::with_capacity(TOTAL as usize);
    let mut expected = BTreeMap::new();
    let mut slot = 0;
    for g in 0..1000i64 {
        let size = 2 + (g * 7) % 9;
        let email = format!("dup{g}@example.com");
        let mut members = BTreeSet::new();
        for m in 0..size {
            let id = scatter(slot);
            slot += 1;
            members.insert(id);
            let mut doc = doc! { "_id": id as i32, "email": &email };
            let tenant = match g % 10 {
                0 if m % 2 == 0 => None, // missing
                0 => Some(Bson::Null),
                1 => Some(match m % 3 {
                    0 => Bson::Int32(5),
                    1 => Bson::Int64(5),
                    _ => Bson::Double(5.0),
                }),
                _ => Some(Bson::Int32((g % 7) as i32)),
            };
            if let Some(tenant) = tenant {
                doc.insert("tenant", tenant);
            }
            docs.push(doc);
        }
        let tenant = match g % 10 {
            0 => None,
            1 => Some(5),
            _ => Some(g % 7),
        };
        expected.insert((email, tenant), members);
    }
    while slot < TOTAL {
        let id = scatter(slot);
        docs.push(doc! { "_id": id as i32, "email": format!("user{slot}@example.com"), "tenant": (slot % 7) as i32 });
        slot += 1;
    }
    (docs, expected)
}

#[tokio::test]
async fn hundred_thousand_documents_found_removed_indexed_verified() {
    let db = database("dedupe_100k").await;
    let coll = db.collection::<Document>("users");
    let (docs, expected) = planted();
    insert(&coll, docs).await;
    let index = UniqueIndex::new(["email", "tenant"]);

    let found = groups(&coll, &index).await;
    let found: Groups = found
        .iter()
        .map(|g| {
            assert!(g.is_complete());
            assert_eq!(g.count(), g.ids().len() as u64);
            let email = g.key().get_str("email").unwrap().to_owned();
            (
                (email, number(g.key().get("tenant").unwrap())),
                id_set(g.ids()),
            )
        })
        .collect();
    assert_eq!(found.len(), 1000);
    assert_eq!(found, expected);

    let before = ids(&coll).await;
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .await
        .unwrap();
    let doomed: BTreeSet<i64> = expected
        .values()
        .flat_map(|members| members.iter().skip(1).copied()) // all but the smallest _id
        .collect();
    assert_eq!(done.groups(), 1000);
    assert_eq!(done.removed(), doomed.len() as u64);
    assert_eq!(done.passes(), 1);
    assert_eq!(ids(&coll).await, &before - &doomed);

    assert_eq!(
        create_unique_index(&coll, &index).await.unwrap(),
        "email_1_tenant_1"
    );
    let check = verify(&coll, &index).await.unwrap();
    assert_eq!(check.duplicate_groups(), 0);
    assert_eq!(check.index(), Some("email_1_tenant_1"));
    assert!(check.is_verified());
    db.drop().await.unwrap();
}

#[tokio::test]
async fn keys_compare_as_the_index_compares_them() {
    let db = database("dedupe_equal").await;
    let coll = db.collection::<Document>("c");
    insert(
        &coll,
        vec![
            doc! { "_id": 1, "v": "a" },
            doc! { "_id": 2, "v": Bson::Null },
            doc! { "_id": 3 },
            doc! { "_id": 4, "v": 7 },
            doc! { "_id": 5, "v": 7.0 },
            doc! { "_id": 6, "v": 7i64 },
            doc! { "_id": 7, "v": "7" },
            doc! { "_id": 8, "v": { "a": 1, "b": 2 } },
            doc! { "_id": 9, "v": { "a": 1, "b": 2 } },
            doc! { "_id": 10, "v": { "b": 2, "a": 1 } },
            doc! { "_id": 11, "w": { "x": 1 } },
            doc! { "_id": 12, "v": decimal(7) },
        ],
    )
    .await;
    let index = UniqueIndex::new(["v"]);
    let mut found: Vec<BTreeSet<i64>> = groups(&coll, &index)
        .await
        .iter()
        .map(|g| id_set(g.ids()))
        .collect();
    found.sort();
    let expected: Vec<BTreeSet<i64>> = vec![[2, 3, 11].into(), [4, 5, 6, 12].into(), [8, 9].into()];
    assert_eq!(found, expected);

    // The server agrees: after removing those, the unique index builds. The null group is
    // left alone unless asked for.
    let done = remove_duplicates(&coll, &index, Keep::oldest())
        .null_keys(true)
        .await
        .unwrap();
    assert_eq!(done.removed(), 6);
    assert_eq!(ids(&coll).await, [1, 2, 4, 7, 8, 10].into());
    assert_eq!(create_unique_index(&coll, &index).await.unwrap(), "v_1");
    assert!(verify(&coll, &index).await.unwrap().is_verified());

    // Dotted paths: a missing parent is a missing field.
    let nested = db.collection::<Document>("nested");
    insert(
        &nested,
        vec![
            doc! { "_id": 1, "p": { "email": "a" } },
            doc! { "_id": 2, "p": { "email": "a" } },
            doc! { "_id": 3, "p": 5 },
            doc! { "_id": 4 },
        ],
    )
    .await;
    let dotted = UniqueIndex::new(["p.email"]);
    let mut found: Vec<(Document, BTreeSet<i64>)> = groups(&nested, &dotted)
        .await
        .iter()
        .map(|g| (g.key().clone(), id_set(g.ids())))
        .collect();
    found.sort_by_key(|(_, ids)| ids.clone());
    assert_eq!(
        found,
        vec![
            (doc! { "p.email": "a" }, [1, 2].into()),
            (doc! { "p.email": Bson::Null }, [3, 4].into()),
        ]
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn collation_and_partial_filter_follow_the_index() {
    let db = database("dedupe_collation").await;
    let coll = db.collection::<Document>("people");
    insert(
        &coll,
        vec![
            doc! { "_id": 1, "name": "Ann", "active": true },
            doc! { "_id": 2, "name": "ann", "active": true },
            doc! { "_id": 3, "name": "ANN", "active": true },
            doc! { "_id": 4, "name": "Bob", "active": true },
            doc! { "_id": 5, "name": "bob", "active": false },
            doc! { "_id": 6, "name": "Bob", "active": false },
        ],
    )
    .await;
    let en2 = Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build();
    let index = UniqueIndex::new(["name"])
        .with_collation(en2.clone())
        .with_partial_filter(doc! { "active": true });
    let found = groups(&coll, &index).await;
    assert_eq!(found.len(), 1);
    assert_eq!(id_set(found[0].ids()), [1, 2, 3].into());

    let whole = UniqueIndex::new(["name"]).with_collation(en2);
    let mut found: Vec<BTreeSet<i64>> = groups(&coll, &whole)
        .await
        .iter()
        .map(|g| id_set(g.ids()))
        .collect();
    found.sort();
    assert_eq!(found, vec![[1, 2, 3].into(), [4, 5, 6].into()]);
    let exact = UniqueIndex::new(["name"]);
    let found: Vec<BTreeSet<i64>> = groups(&coll, &exact)
        .await
        .iter()
        .map(|g| id_set(g.ids()))
        .collect();
    assert_eq!(found, vec![BTreeSet::from([4, 6])]);

    let done = remove_duplicates(&coll, &index, Keep::newest())
        .await
        .unwrap();
    assert_eq!(done.removed(), 2);
    assert_eq!(ids(&coll).await, [3, 4, 5, 6].into());
    assert_eq!(create_unique_index(&coll, &index).await.unwrap(), "name_1");
    assert!(verify(&coll, &index).await.unwrap().is_verified());
    // The same keys without the collation and filter: not the index that was built.
    let check = verify(&coll, &exact).await.unwrap();
    assert_eq!((check.duplicate_groups(), check.index()), (1, None));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn array_keys_are_refused() {
    let db = database("dedupe_arrays").await;
    let coll = db.collection::<Document>("c");
    insert(
        &coll,
        vec![
            doc! { "_id": 1, "tags": ["a", "b"], "a": [{ "b": 1 }, { "b": 2 }] },
            doc! { "_id": 2, "tags": "b", "a": { "b": 1 } },
        ],
    )
    .await;
    for field in ["tags", "a.b"] {
        let index = UniqueIndex::new([field]);
        let err = find_duplicates(&coll, &index)
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        match &err {
            DedupeError::ArrayKey {
                field: named,
                group,
            } => {
                assert_eq!(named, field);
                assert_eq!(id_set(group.ids()), [1].into());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!("key field {field:?} holds an array; multikey keys are not supported")
        );
        let err = remove_duplicates(&coll, &index, Keep::oldest())
            .await
            .unwrap_err();
        assert!(matches!(err, DedupeError::ArrayKey { .. }), "{err:?}");
    }
    assert_eq!(ids(&coll).await, [1, 2].into());
    db.drop().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_read() {
    let commands = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = commands.clone();
    let client = support::client_with(move |options| {
        options.command_event_handler = Some(EventHandler::callback(move |event| {
            if let CommandEvent::Started(started) = event {
                seen.lock().unwrap().push(started.command_name);
            }
        }));
    })
    .await;
    let db = client.database(&support::unique_db("dedupe_bad"));
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": 1, "a": 1 }).await.unwrap();
    coll.insert_one(doc! { "_id": 2, "a": 1 }).await.unwrap();
    commands.lock().unwrap().clear();

    let no_fields = UniqueIndex::new(Vec::<String>::new());
    let cases: Vec<(UniqueIndex, &str)> = vec![
        (no_fields, "no key fields given"),
        (
            UniqueIndex::new(["$where"]),
            r#"invalid key field "$where": a path segment starts with '$'"#,
        ),
        (
            UniqueIndex::new(["a.$b"]),
            r#"invalid key field "a.$b": a path segment starts with '$'"#,
        ),
        (
            UniqueIndex::new(["a", ""]),
            r#"invalid key field "": it is empty"#,
        ),
        (
            UniqueIndex::new(["a", "a"]),
            r#"key field "a" is listed twice"#,
        ),
        (
            UniqueIndex::from_keys(doc! { "a": "hashed" }),
            r#"key field "a" must have direction 1 or -1"#,
        ),
    ];
    for (index, message) in &cases {
        let err = find_duplicates(&coll, index).await.unwrap_err();
        assert_eq!(err.to_string(), *message);
        let err = remove_duplicates(&coll, index, Keep::oldest())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), *message);
        let err = create_unique_index(&coll, index).await.unwrap_err();
        assert_eq!(err.to_string(), *message);
        let err = verify(&coll, index).await.unwrap_err();
        assert_eq!(err.to_string(), *message);
    }
    let index = UniqueIndex::new(["a"]);
    let err = remove_duplicates(&coll, &index, Keep::newest_by("x.$y"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid key field "x.$y": a path segment starts with '$'"#
    );
    let err = remove_duplicates(&coll, &index, Keep::oldest())
        .batch_size(0)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "batch_size must be at least 1");
    let err = find_duplicates(&coll, &index)
        .max_ids_per_group(0)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "max_ids_per_group must be at least 1");
    assert_eq!(*commands.lock().unwrap(), Vec::<String>::new());

    // A missing collection: one listCollections, nothing else.
    let missing = db.collection::<Document>("nope");
    let err = remove_duplicates(&missing, &index, Keep::oldest())
        .await
        .unwrap_err();
    let namespace = format!("{}.nope", db.name());
    assert!(matches!(&err, DedupeError::CollectionNotFound { namespace: n } if *n == namespace));
    assert_eq!(
        err.to_string(),
        format!("collection {namespace:?} does not exist")
    );
    assert_eq!(*commands.lock().unwrap(), ["listCollections"]);
    assert_eq!(ids(&coll).await, [1, 2].into());
    db.drop().await.unwrap();
}

#[tokio::test]
async fn the_checked_build_reports_duplicates_and_builds_nothing() {
    let db = database("dedupe_build").await;
    let coll = db.collection::<Document>("c");
    let docs = (0..40).map(|i| doc! { "_id": i, "k": i % 28 }).collect();
    insert(&coll, docs).await;
    let index = UniqueIndex::new(["k"]).with_name("uniq_k");

    let err = create_unique_index(&coll, &index)
        .max_reported_groups(5)
        .await
        .unwrap_err();
    match &err {
        DedupeError::Duplicates { groups, total } => {
            assert_eq!(*total, 12);
            assert_eq!(groups.len(), 5);
            for g in groups {
                let k = id(g.key().get("k").unwrap());
                assert_eq!(id_set(g.ids()), [k, k + 28].into());
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "12 duplicate groups block the unique index"
    );
    assert_eq!(coll.list_index_names().await.unwrap(), ["_id_"]);
    let check = verify(&coll, &index).await.unwrap();
    assert_eq!((check.duplicate_groups(), check.index()), (12, None));

    remove_duplicates(&coll, &index, Keep::oldest())
        .await
        .unwrap();
    assert_eq!(create_unique_index(&coll, &index).await.unwrap(), "uniq_k");
    assert_eq!(verify(&coll, &index).await.unwrap().index(), Some("uniq_k"));
    // A non-unique index on the same key does not count.
    let plain = db.collection::<Document>("plain");
    insert(&plain, vec![doc! { "k": 1 }]).await;
    plain
        .create_index(mongodb::IndexModel::builder().keys(doc! { "k": 1 }).build())
        .await
        .unwrap();
    let check = verify(&plain, &UniqueIndex::new(["k"])).await.unwrap();
    assert_eq!(
        (check.duplicate_groups(), check.index(), check.is_verified()),
        (0, None, false)
    );
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_written_after_the_check_comes_back_from_the_build() {
    let db = database("dedupe_race").await;
    let coll = db.collection::<Document>("users");
    insert(
        &coll,
        vec![
            doc! { "_id": 1, "email": "a@x" },
            doc! { "_id": 2, "email": "b@x" },
        ],
    )
    .await;
    let index = UniqueIndex::new(["email"]);
    let db_name = db.name().to_owned();

    // The check passes; then, before the build, a duplicate comes in.
    let err = create_unique_index(&coll, &index)
        .on_progress(move |p| {
            if p.finished() {
                let db_name = db_name.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let client = mongodb::Client::with_uri_str(&support::server().uri)
                            .await
                            .unwrap();
                        let users = client.database(&db_name).collection::<Document>("users");
                        users
                            .insert_one(doc! { "_id": 3, "email": "a@x" })
                            .await
                            .unwrap();
                    });
                })
                .join()
                .unwrap();
            }
        })
        .await
        .unwrap_err();
    let DedupeError::IndexBuild { duplicate, source } = &err else {
        panic!("{err:?}")
    };
    assert!(source.is_duplicate());
    assert!(
        duplicate.message().starts_with("Index build failed: "),
        "{}",
        duplicate.message()
    );
    assert_eq!(
        dupkey::DuplicateKey::from_error(source).as_ref(),
        Some(&**duplicate)
    );
    assert_eq!(duplicate.fields().collect::<Vec<_>>(), ["email"]);
    assert_eq!(duplicate.index(), Some("email_1"));
    assert_eq!(duplicate.collection(), Some("users"));
    assert_eq!(
        err.to_string(),
        "the unique index build failed on a duplicate key"
    );
    let as_dyn: &(dyn std::error::Error + 'static) = &err;
    assert!(as_dyn.is_duplicate());
    assert_eq!(coll.list_index_names().await.unwrap(), ["_id_"]);
    db.drop().await.unwrap();
}
