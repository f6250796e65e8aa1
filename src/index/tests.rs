//! The model's rules, each from `listIndexes` specs as servers write them.

use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::{Collation, CollationStrength};

use super::same::{compare_numbers, same_collation, same_value};
use super::scope::{proves, Known};
use super::{Index, Indexes};
use crate::dedupe::UniqueIndex;

fn sample() -> Indexes {
    Indexes::from_specs([
        doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" },
        doc! { "v": 2, "key": { "email": 1 }, "name": "email_1", "unique": true },
        doc! { "v": 2, "key": { "name": 1 }, "name": "name_1" },
        doc! { "v": 2, "key": { "tenant": 1, "profile.email": -1 }, "name": "t_pe", "unique": true },
        doc! { "v": 2, "key": { "nick": 1 }, "name": "nick_ci", "unique": true,
        "collation": { "locale": "en", "strength": 2, "version": "57.1" } },
    ])
}

fn names(found: Vec<&Index>) -> Vec<&str> {
    found.into_iter().map(Index::name).collect()
}

fn index(spec: Document) -> Index {
    Index::from_spec(spec).unwrap()
}

#[test]
fn unique_on_exact_fields_in_any_order() {
    let indexes = sample();
    assert_eq!(names(indexes.unique_on(&["email"])), ["email_1"]);
    assert_eq!(
        names(indexes.unique_on(&["profile.email", "tenant"])),
        ["t_pe"]
    );
    assert_eq!(names(indexes.unique_on(&["_id"])), ["_id_"]);
    assert!(indexes.unique_on(&["name"]).is_empty());
    assert!(indexes.unique_on(&["tenant"]).is_empty());
    assert!(indexes.unique_on(&["email", "name"]).is_empty());
}

#[test]
fn within_names_the_largest_unique_subset() {
    let indexes = sample();
    let found = indexes.unique_within(&["tenant", "profile.email", "email", "x"]);
    assert_eq!(found.map(Index::name), Some("t_pe"));
    assert!(indexes.unique_within(&["email"]).is_none());
}

#[test]
fn collation_is_read_as_a_query_option() {
    let indexes = sample();
    let nick = indexes.unique_on(&["nick"])[0];
    let collation = nick.collation().unwrap();
    assert_eq!(collation.locale, "en");
    assert_eq!(
        crate::bson_compat::to_document(&collation).unwrap(),
        doc! { "locale": "en", "strength": 2 }
    );
    assert_eq!(nick.query_collation().locale, "en");
    let email = indexes.named("email_1").unwrap();
    assert!(email.collation().is_none());
    assert_eq!(
        crate::bson_compat::to_document(&email.query_collation()).unwrap(),
        doc! { "locale": "simple" }
    );
}

#[test]
fn a_simple_collation_is_no_collation() {
    let simple =
        index(doc! { "key": { "a": 1 }, "name": "a_1", "collation": { "locale": "simple" } });
    assert!(simple.collation_spec().is_none());
    assert!(simple.collation().is_none());
}

#[test]
fn id_is_unique_even_before_the_collection_exists() {
    let indexes = Indexes::from_specs([]);
    let id = indexes.unique_on(&["_id"])[0];
    assert_eq!((id.name(), id.key()), ("_id_", &doc! { "_id": 1 }));
    assert!(id.is_id() && id.unique());
    assert_eq!(
        indexes.named("_id_").map(Index::key),
        Some(&doc! { "_id": 1 })
    );
}

#[test]
fn full_indexes_back_an_upsert_before_partial_sparse_and_collated_ones() {
    let indexes = Indexes::from_specs([
        doc! { "key": { "sku": 1 }, "name": "sku_partial", "unique": true,
        "partialFilterExpression": { "sku": { "$type": "string" } } },
        doc! { "key": { "sku": 1 }, "name": "sku_sparse", "unique": true, "sparse": true },
        doc! { "key": { "sku": 1 }, "name": "sku_ci", "unique": true,
        "collation": { "locale": "en", "strength": 2 } },
        doc! { "key": { "sku": 1 }, "name": "sku_full", "unique": 1 },
    ]);
    assert_eq!(
        names(indexes.unique_on(&["sku"])),
        ["sku_full", "sku_ci", "sku_partial", "sku_sparse"]
    );
}

#[test]
fn flags_are_read_however_a_server_stored_them() {
    for unique in [
        Bson::Boolean(true),
        Bson::Int32(1),
        Bson::Int64(1),
        Bson::Double(1.0),
    ] {
        let i = index(
            doc! { "key": { "a": 1 }, "name": "a_1", "unique": unique.clone(), "sparse": unique.clone(), "hidden": unique },
        );
        assert!(
            i.unique() && i.sparse() && i.hidden() && i.is_scoped(),
            "{i:?}"
        );
    }
    for off in [
        Bson::Boolean(false),
        Bson::Int32(0),
        Bson::Double(0.0),
        Bson::String("true".into()),
    ] {
        let i = index(doc! { "key": { "a": 1 }, "name": "a_1", "unique": off });
        assert!(!i.unique(), "{i:?}");
    }
    let plain = index(doc! { "v": 2, "key": { "email": 1 }, "name": "email_1" });
    assert!(!plain.refuses_duplicates() && !plain.is_scoped());
    let prepared = index(doc! { "key": { "email": 1 }, "name": "email_1", "prepareUnique": true });
    assert!(prepared.refuses_duplicates() && !prepared.unique() && prepared.prepare_unique());
    let clustered =
        index(doc! { "key": { "_id": 1 }, "name": "_id_", "unique": true, "clustered": true });
    assert!(clustered.unique() && clustered.is_id());
    let clustered_other = index(doc! { "key": { "k": 1 }, "name": "k", "clustered": true });
    assert!(clustered_other.unique());
    let text = index(doc! { "key": { "_fts": "text", "_ftsx": 1 }, "name": "t", "unique": true });
    assert!(!text.plain_key());
    let partial =
        index(doc! { "key": { "a": 1 }, "name": "a", "partialFilterExpression": { "x": 1 } });
    assert_eq!(partial.partial_filter(), Some(&doc! { "x": 1 }));
    assert!(partial.is_scoped());
    assert!(Index::from_spec(doc! { "key": { "a": 1 } }).is_none());
    assert!(Index::from_spec(doc! { "name": "a" }).is_none());
}

#[test]
fn the_same_index_compares_keys_name_filter_sparse_and_given_collation_options() {
    let en2 = Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build();
    let listed = doc! {
        "v": 2, "key": { "email": 1, "at": -1 }, "name": "email_at",
        "collation": { "locale": "en", "caseLevel": false, "caseFirst": "off", "strength": 2,
        "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
        "normalization": false, "backwards": false, "version": "57.1" },
    };
    let wanted = UniqueIndex::from_keys(doc! { "email": 1, "at": -1 }).with_collation(en2.clone());
    assert!(index(listed.clone()).is_same_as(&wanted));
    assert!(index(listed.clone()).is_same_as(&wanted.clone().with_name("email_at")));
    assert!(!index(listed.clone()).is_same_as(&wanted.clone().with_name("other")));
    // Uncollated wanted, collated found; and the other way round.
    assert!(
        !index(listed.clone()).is_same_as(&UniqueIndex::from_keys(doc! { "email": 1, "at": -1 }))
    );
    let mut simple = listed.clone();
    simple.remove("collation");
    assert!(!index(simple.clone()).is_same_as(&wanted));
    // "simple" is no collation, on either side.
    let simple_wanted = UniqueIndex::from_keys(doc! { "email": 1, "at": -1 })
        .with_collation(Collation::builder().locale("simple").build());
    assert!(index(simple.clone()).is_same_as(&simple_wanted));
    assert!(!index(listed.clone()).is_same_as(&simple_wanted));
    // An option given that the server has otherwise.
    let strength3 = UniqueIndex::from_keys(doc! { "email": 1, "at": -1 }).with_collation(
        Collation::builder()
            .locale("en")
            .strength(CollationStrength::Tertiary)
            .build(),
    );
    assert!(!index(listed.clone()).is_same_as(&strength3));
    // Directions by sign; order matters.
    assert!(
        index(doc! { "key": { "email": 1.0, "at": -1_i64 }, "name": "x" })
            .is_same_as(&UniqueIndex::from_keys(doc! { "email": 1, "at": -1 }))
    );
    assert!(
        !index(doc! { "key": { "at": -1, "email": 1 }, "name": "x" })
            .is_same_as(&UniqueIndex::from_keys(doc! { "email": 1, "at": -1 }))
    );
    assert!(!index(doc! { "key": { "email": "hashed" }, "name": "x" })
        .is_same_as(&UniqueIndex::from_keys(doc! { "email": 1 })));
    // Sparse must agree.
    let sparse = index(doc! { "key": { "email": 1 }, "name": "e", "sparse": true });
    assert!(!sparse.is_same_as(&UniqueIndex::new(["email"])));
    assert!(sparse.is_same_as(&UniqueIndex::new(["email"]).with_sparse(true)));
    // Partial filters compare with numbers by value.
    let partial = index(
        doc! { "key": { "email": 1 }, "name": "e", "partialFilterExpression": { "n": { "$gt": 1.0 } } },
    );
    assert!(partial
        .is_same_as(&UniqueIndex::new(["email"]).with_partial_filter(doc! { "n": { "$gt": 1 } })));
    assert!(!partial
        .is_same_as(&UniqueIndex::new(["email"]).with_partial_filter(doc! { "n": { "$gt": 2 } })));
    assert!(!partial.is_same_as(&UniqueIndex::new(["email"])));
    // Uniqueness is not part of it (a rollout converts a plain index).
    assert!(
        index(doc! { "key": { "email": 1 }, "name": "e" }).is_same_as(&UniqueIndex::new(["email"]))
    );
    assert!(same_collation(None, None));
}

#[test]
fn numbers_compare_exactly_across_types() {
    use std::cmp::Ordering::*;
    assert!(same_value(&Bson::Int32(1), &Bson::Double(1.0)));
    assert!(same_value(&Bson::Int64(1), &Bson::Int32(1)));
    assert!(!same_value(&Bson::Int32(1), &Bson::String("1".into())));
    let big = 9_007_199_254_740_993_i64;
    assert_eq!(
        compare_numbers(&Bson::Int64(big), &Bson::Double(9_007_199_254_740_992.0)),
        Some(Greater)
    );
    assert_eq!(
        compare_numbers(&Bson::Double(9_007_199_254_740_992.0), &Bson::Int64(big)),
        Some(Less)
    );
    assert_eq!(
        compare_numbers(&Bson::Int32(2), &Bson::Double(2.5)),
        Some(Less)
    );
    assert_eq!(
        compare_numbers(&Bson::Int32(-2), &Bson::Double(-2.5)),
        Some(Greater)
    );
    assert_eq!(
        compare_numbers(&Bson::Int64(i64::MAX), &Bson::Double(9.3e18)),
        Some(Less)
    );
    assert_eq!(
        compare_numbers(&Bson::Int32(1), &Bson::Double(f64::NAN)),
        None
    );
    assert_eq!(
        compare_numbers(&Bson::Int32(1), &Bson::String("1".into())),
        None
    );
}

fn known(values: Document) -> Known {
    let mut known = Known::default();
    for (path, value) in values {
        known.set(&path, value);
    }
    known
}

#[test]
fn partial_filters_are_proven_on_a_known_document() {
    let doc = known(
        doc! { "active": true, "n": 5, "profile.kind": "user", "at": DateTime::from_millis(10), "s": "x" },
    );
    for filter in [
        doc! { "active": true },
        doc! { "active": { "$eq": true } },
        doc! { "n": { "$gt": 4.5, "$lte": 5_i64 } },
        doc! { "n": { "$in": [1, 5] } },
        doc! { "n": { "$type": "number" }, "s": { "$type": ["int", "string"] } },
        doc! { "n": { "$type": 16 } },
        doc! { "profile.kind": "user" },
        doc! { "missing": { "$exists": false } },
        doc! { "missing": null },
        doc! { "at": { "$gte": DateTime::from_millis(10) } },
        doc! { "$and": [{ "active": true }, { "n": 5 }] },
        doc! { "$or": [{ "active": false }, { "n": 5 }] },
    ] {
        assert_eq!(proves(&filter, &doc), Ok(()), "{filter:?}");
    }
    for (filter, why) in [
        (doc! { "active": false }, "active"),
        (doc! { "n": { "$gt": 5 } }, "n"),
        (doc! { "s": { "$gt": "a" } }, "s"),
        (doc! { "missing": { "$exists": true } }, "missing"),
        (doc! { "n": { "$exists": false } }, "n"),
        (doc! { "n": { "$ne": 4 } }, "n"),
        (doc! { "n": { "$type": "string" } }, "n"),
        (doc! { "$or": [{ "active": false }] }, "$or"),
        (doc! { "$and": [] }, "$and"),
        (doc! { "$nor": [{ "active": false }] }, "$nor"),
        // Known only in part: what else `profile` holds is not.
        (doc! { "profile": { "kind": "user" } }, "profile"),
        (doc! { "profile": { "$exists": true } }, "profile"),
    ] {
        assert_eq!(proves(&filter, &doc), Err(why.to_owned()), "{filter:?}");
    }
}

#[test]
fn unknown_paths_and_arrays_prove_nothing() {
    let mut doc = known(doc! { "tags": ["a"], "meta": { "list": [1], "k": 1 } });
    doc.unknown("count");
    doc.unknown("deep.x");
    for filter in [
        doc! { "tags": "a" },
        doc! { "tags": { "$exists": true } },
        doc! { "meta.list": 1 },
        doc! { "count": { "$exists": false } },
        doc! { "count": null },
        doc! { "deep": { "$exists": false } },
        doc! { "deep.x.y": 1 },
    ] {
        assert!(proves(&filter, &doc).is_err(), "{filter:?}");
    }
    assert_eq!(proves(&doc! { "meta.k": 1 }, &doc), Ok(()));
    assert!(doc.holds_non_null("meta.k"));
    let mut all = known(doc! { "a": 1 });
    all.forget_all();
    assert!(proves(&doc! { "a": 1 }, &all).is_err());
    assert!(!all.holds_non_null("a"));
    let nulls = known(doc! { "a": null });
    assert!(!nulls.holds_non_null("a") && !nulls.holds_non_null("b"));
}

#[test]
fn the_collections_default_collation_is_the_id_indexs() {
    assert_eq!(Indexes::from_specs([]).default_collation(), None);
    assert_eq!(sample().default_collation(), None);
    let en2 = doc! { "locale": "en", "strength": 2, "version": "57.1" };
    let collated = Indexes::from_specs([
        doc! { "key": { "_id": 1 }, "name": "_id_", "collation": en2.clone() },
        doc! { "key": { "name": 1 }, "name": "name_1", "unique": true, "collation": en2.clone() },
        doc! { "key": { "code": 1 }, "name": "code_1", "unique": true },
    ]);
    assert_eq!(collated.default_collation(), Some(&en2));
    assert_eq!(
        collated.named("name_1").unwrap().collation_spec(),
        Some(&en2)
    );
    assert_eq!(collated.named("code_1").unwrap().collation_spec(), None);
}
