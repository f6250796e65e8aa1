//! The one aggregation behind every operation, and how its output is read.
//!
//! ```text
//! { $match: <partial filter> }                                   (when the index has one)
//! { $match: { $or: [ { <field 0>: { $exists: true } }, ... ] } }   (when it is sparse)
//! { $group: { _id: { k0: { $ifNull: ["$<field 0>", null] }, ... },
//!             count: { $sum: 1 }, ids: { $firstN: { input: "$_id", n: <max ids> } },
//!             keep: { $min: ... } } }                             (keep: only when removing)
//! { $match: { $or: [ { count: { $gt: 1 } }, { "_id.k0": { $type: "array" } }, ... ] } }
//! { $project: { count: 1, ids: 1, keep: 1 } }
//! ```
//!
//! `$firstN` holds at most `<max ids>` `_id`s per group, so a group of any size stays within
//! the server's 100 MB limit of a `$group` and the client's memory. It needs MongoDB 5.2;
//! older servers refuse it (code 15952), and the pipeline falls back to
//! `ids: { $push: "$_id" }` then `{ $slice: ["$ids", <max ids>] }`, which holds every `_id`
//! of a group while grouping: there a group must fit in 100 MB of `_id`s (about 4 million
//! ObjectIds), the documented floor of those servers.
//!
//! The group key uses fixed names (`k0`, `k1`, ...), never the caller's: those may hold dots.
//! `$ifNull` makes a missing field and `null` one key, as the index does. A group whose key is
//! an array comes out whatever its count, so that multikey data is refused, not misread.

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::AggregateOptions;
use mongodb::Collection;
use mongodb::Cursor;

use super::{DedupeError, DuplicateGroup, UniqueIndex};

/// Groups per cursor reply at most. Without a limit the server fills replies up to 16 MiB,
/// which the client holds whole while it works through them; a getMore per this many groups
/// costs little beside the writes they lead to.
const GROUPS_PER_REPLY: u32 = 1000;

/// Which survivor the server picks for each group while grouping: the document with the
/// smallest (oldest) or largest (newest) value of `field`, ties broken by `_id`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SortKey {
    pub(crate) field: String,
    pub(crate) newest: bool,
}

/// The group key's name for the `i`-th field.
fn slot(i: usize) -> String {
    format!("k{i}")
}

/// `{ $ifNull: ["$<field>", null] }`: the field's value, a missing field read as `null`.
fn value_of(field: &str) -> Document {
    doc! { "$ifNull": [format!("${field}"), Bson::Null] }
}

/// The server's code for an unknown `$group` accumulator: `$firstN` before MongoDB 5.2.
const UNKNOWN_ACCUMULATOR: i32 = 15952;

/// How a group lists its `_id`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ids {
    /// `$firstN`: at most the limit, held while grouping (MongoDB 5.2+).
    FirstN,
    /// `$push`, then `$slice`: every `_id` held while grouping (older servers).
    PushSlice,
}

/// The pipeline. `index` and `sort` must have been validated.
pub(crate) fn pipeline(
    index: &UniqueIndex,
    max_ids: usize,
    sort: Option<&SortKey>,
    ids: Ids,
) -> Vec<Document> {
    let fields: Vec<&str> = index.fields().collect();
    let mut stages = Vec::with_capacity(4);
    if let Some(filter) = index.partial_filter() {
        stages.push(doc! { "$match": filter.clone() });
    }
    if index.sparse() {
        let present: Vec<Bson> = fields
            .iter()
            .map(|field| doc! { *field: { "$exists": true } }.into())
            .collect();
        stages.push(doc! { "$match": { "$or": present } });
    }
    let mut key = Document::new();
    for (i, field) in fields.iter().enumerate() {
        key.insert(slot(i), value_of(field));
    }
    let limit = i64::try_from(max_ids).unwrap_or(i64::MAX);
    let (listed, projected) = match ids {
        Ids::FirstN => (
            Bson::from(doc! { "$firstN": { "input": "$_id", "n": limit } }),
            Bson::from(1),
        ),
        Ids::PushSlice => (
            Bson::from(doc! { "$push": "$_id" }),
            Bson::from(doc! { "$slice": ["$ids", limit] }),
        ),
    };
    let mut group = doc! {
        "_id": key,
        "count": { "$sum": 1 },
        "ids": listed,
    };
    let mut project = doc! {
        "count": 1,
        "ids": projected,
    };
    if let Some(sort) = sort {
        let accumulator = if sort.newest { "$max" } else { "$min" };
        let by = if sort.field == "_id" {
            Bson::from("$_id")
        } else {
            Bson::from(doc! { "s": value_of(&sort.field), "i": "$_id" })
        };
        group.insert("keep", doc! { accumulator: by });
        project.insert("keep", 1);
    }
    stages.push(doc! { "$group": group });
    let mut wanted = vec![Bson::from(doc! { "count": { "$gt": 1 } })];
    for i in 0..fields.len() {
        wanted.push(doc! { format!("_id.{}", slot(i)): { "$type": "array" } }.into());
    }
    stages.push(doc! { "$match": { "$or": wanted } });
    stages.push(doc! { "$project": project });
    stages
}

/// Checks that the collection exists, then opens the aggregation's cursor.
pub(crate) async fn open(
    collection: &Collection<Document>,
    index: &UniqueIndex,
    max_ids: usize,
    sort: Option<&SortKey>,
) -> Result<Cursor<Document>, DedupeError> {
    let namespace = collection.namespace();
    let names = collection
        .client()
        .database(&namespace.db)
        .list_collection_names()
        .filter(doc! { "name": &namespace.coll })
        .await
        .map_err(DedupeError::driver("listCollections"))?;
    if names.is_empty() {
        return Err(DedupeError::CollectionNotFound {
            namespace: namespace.to_string(),
        });
    }
    let options = AggregateOptions::builder()
        .allow_disk_use(true)
        .collation(index.collation().cloned())
        .batch_size(GROUPS_PER_REPLY)
        .build();
    let first = collection
        .aggregate(pipeline(index, max_ids, sort, Ids::FirstN))
        .with_options(options.clone())
        .await;
    match first {
        Err(err) if code(&err) == Some(UNKNOWN_ACCUMULATOR) => collection
            .aggregate(pipeline(index, max_ids, sort, Ids::PushSlice))
            .with_options(options)
            .await
            .map_err(DedupeError::driver("aggregate")),
        other => other.map_err(DedupeError::driver("aggregate")),
    }
}

/// The server's error code, when the error is a command's.
fn code(err: &mongodb::error::Error) -> Option<i32> {
    match &*err.kind {
        mongodb::error::ErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

/// Reads one output document of [`pipeline`] into a group keyed by the caller's field names.
pub(crate) fn read_group(
    fields: &[String],
    sort: Option<&SortKey>,
    mut raw: Document,
) -> Result<DuplicateGroup, DedupeError> {
    let reply = |detail| DedupeError::Reply { detail };
    let Some(Bson::Document(mut slots)) = raw.remove("_id") else {
        return Err(reply("a group without its key"));
    };
    let count = match raw.get("count") {
        Some(Bson::Int32(n)) => u64::try_from(*n).ok(),
        Some(Bson::Int64(n)) => u64::try_from(*n).ok(),
        _ => None,
    }
    .ok_or_else(|| reply("a group without its count"))?;
    let Some(Bson::Array(ids)) = raw.remove("ids") else {
        return Err(reply("a group without its ids"));
    };
    let keep = match (sort, raw.remove("keep")) {
        (None, _) => None,
        (Some(sort), Some(keep)) if sort.field == "_id" => Some(keep),
        (Some(_), Some(Bson::Document(mut keep))) => keep.remove("i"),
        (Some(_), _) => None,
    };
    if sort.is_some() && keep.is_none() {
        return Err(reply("a group without its survivor"));
    }
    let mut key = Document::new();
    let mut array_field = None;
    for (i, field) in fields.iter().enumerate() {
        let value = slots.remove(slot(i)).unwrap_or(Bson::Null);
        if array_field.is_none() && matches!(value, Bson::Array(_)) {
            array_field = Some(field.clone());
        }
        key.insert(field.clone(), value);
    }
    let group = DuplicateGroup {
        key,
        count,
        ids,
        keep,
    };
    match array_field {
        Some(field) => Err(DedupeError::ArrayKey {
            field,
            group: Box::new(group),
        }),
        None => Ok(group),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_names_fields_only_as_paths() {
        let index = UniqueIndex::new(["tenant", "profile.email"])
            .with_partial_filter(doc! { "active": true });
        assert_eq!(
            pipeline(&index, 50, None, Ids::PushSlice),
            vec![
                doc! { "$match": { "active": true } },
                doc! { "$group": {
                    "_id": {
                        "k0": { "$ifNull": ["$tenant", Bson::Null] },
                        "k1": { "$ifNull": ["$profile.email", Bson::Null] },
                    },
                    "count": { "$sum": 1 },
                    "ids": { "$push": "$_id" },
                } },
                doc! { "$match": { "$or": [
                    { "count": { "$gt": 1 } },
                    { "_id.k0": { "$type": "array" } },
                    { "_id.k1": { "$type": "array" } },
                ] } },
                doc! { "$project": { "count": 1, "ids": { "$slice": ["$ids", 50i64] } } },
            ]
        );
    }

    #[test]
    fn a_survivor_is_picked_while_grouping() {
        let index = UniqueIndex::new(["email"]);
        let newest = SortKey {
            field: "created".into(),
            newest: true,
        };
        let stages = pipeline(&index, 10, Some(&newest), Ids::FirstN);
        assert_eq!(
            stages[0].get_document("$group").unwrap().get("keep"),
            Some(&Bson::from(doc! { "$max": {
                "s": { "$ifNull": ["$created", Bson::Null] },
                "i": "$_id",
            } }))
        );
        let oldest = SortKey {
            field: "_id".into(),
            newest: false,
        };
        let stages = pipeline(&index, 10, Some(&oldest), Ids::FirstN);
        assert_eq!(
            stages[0].get_document("$group").unwrap().get("keep"),
            Some(&Bson::from(doc! { "$min": "$_id" }))
        );
        assert_eq!(
            stages[2].get_document("$project").unwrap(),
            &doc! { "count": 1, "ids": 1, "keep": 1 }
        );
        assert_eq!(
            stages[0].get_document("$group").unwrap().get("ids"),
            Some(&Bson::from(
                doc! { "$firstN": { "input": "$_id", "n": 10i64 } }
            ))
        );
    }

    #[test]
    fn groups_are_read_back_under_the_callers_names() {
        let fields = vec!["tenant".to_owned(), "profile.email".to_owned()];
        let raw = doc! { "_id": { "k0": 3, "k1": Bson::Null }, "count": 2, "ids": [1, 2] };
        let group = read_group(&fields, None, raw).unwrap();
        assert_eq!(
            group.key(),
            &doc! { "tenant": 3, "profile.email": Bson::Null }
        );
        assert_eq!(group.count(), 2);
        assert_eq!(group.ids(), [Bson::Int32(1), Bson::Int32(2)]);

        let sort = SortKey {
            field: "created".into(),
            newest: false,
        };
        let raw = doc! {
            "_id": { "k0": 3, "k1": "a" }, "count": 3i64, "ids": [1, 2],
            "keep": { "s": 5, "i": 2 },
        };
        let group = read_group(&fields, Some(&sort), raw).unwrap();
        assert_eq!(group.count(), 3);
        assert!(!group.is_complete());
        assert_eq!(group.keep, Some(Bson::Int32(2)));

        let raw = doc! { "_id": { "k0": 3, "k1": ["a", "b"] }, "count": 1, "ids": [1] };
        match read_group(&fields, None, raw) {
            Err(DedupeError::ArrayKey { field, group }) => {
                assert_eq!(field, "profile.email");
                assert_eq!(group.count(), 1);
            }
            other => panic!("{other:?}"),
        }

        let raw = doc! { "_id": { "k0": 3, "k1": 4 }, "ids": [1] };
        assert_eq!(
            read_group(&fields, None, raw).unwrap_err().to_string(),
            "unexpected reply from the server: a group without its count"
        );
    }
}
