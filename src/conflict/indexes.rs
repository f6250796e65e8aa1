//! A collection's indexes, read from `listIndexes` specs: what the write helpers and the
//! dedupe steps need to know of each index. No I/O here.

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::Collation;

/// One index, reduced to what the helpers use.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub(crate) name: String,
    pub(crate) key: Document,
    /// `unique: true`, the `_id` index, or a clustered collection's key.
    pub(crate) unique: bool,
    /// Unique only among the documents its `partialFilterExpression` covers.
    pub(crate) partial: bool,
    /// The index's collation, as a query option (`None` also when it could not be read).
    pub(crate) collation: Option<Collation>,
}

impl Index {
    fn implicit_id() -> Self {
        Index {
            name: "_id_".to_owned(),
            key: doc! { "_id": 1 },
            unique: true,
            partial: false,
            collation: None,
        }
    }

    pub(crate) fn from_spec(spec: &Document) -> Option<Self> {
        let name = spec.get_str("name").ok()?.to_owned();
        let key = spec.get_document("key").ok()?.clone();
        let is_id = key.len() == 1 && key.contains_key("_id");
        let unique = truthy(spec.get("unique")) || truthy(spec.get("clustered")) || is_id;
        let collation = spec
            .get_document("collation")
            .ok()
            .and_then(|c| crate::bson_compat::from_document::<Collation>(c.clone()).ok());
        Some(Index {
            name,
            key,
            unique,
            partial: spec.contains_key("partialFilterExpression"),
            collation,
        })
    }

    /// Whether the key's fields are exactly `fields`, in any order.
    fn has_fields(&self, fields: &[&str]) -> bool {
        self.key.len() == fields.len() && fields.iter().all(|f| self.key.contains_key(f))
    }

    /// Whether the key's fields are a strict subset of `fields`.
    fn within(&self, fields: &[&str]) -> bool {
        self.key.len() < fields.len() && self.key.keys().all(|k| fields.contains(&k.as_str()))
    }
}

/// Whether an index option is on: servers have stored `true`, `1` and `1.0`.
pub(crate) fn truthy(value: Option<&Bson>) -> bool {
    match value {
        Some(Bson::Boolean(b)) => *b,
        Some(Bson::Int32(n)) => *n != 0,
        Some(Bson::Int64(n)) => *n != 0,
        Some(Bson::Double(n)) => *n != 0.0,
        _ => false,
    }
}

/// A collection's indexes. The `_id` index is always there: a collection that does not exist
/// yet gets it when the first write creates it.
#[derive(Debug, Clone)]
pub(crate) struct Indexes {
    list: Vec<Index>,
}

impl Indexes {
    pub(crate) fn from_specs(specs: &[Document]) -> Self {
        let mut list: Vec<Index> = specs.iter().filter_map(Index::from_spec).collect();
        if !list.iter().any(|i| i.has_fields(&["_id"])) {
            list.push(Index::implicit_id());
        }
        Indexes { list }
    }

    /// The unique indexes (the `_id` index among them).
    pub(crate) fn unique(&self) -> impl Iterator<Item = &Index> {
        self.list.iter().filter(|i| i.unique)
    }

    /// The index called `name`.
    pub(crate) fn named(&self, name: &str) -> Option<&Index> {
        self.list.iter().find(|i| i.name == name)
    }

    /// A unique index whose key fields are exactly `fields`; a full one without collation
    /// first (the server retries an upsert race on those itself).
    pub(crate) fn unique_on(&self, fields: &[&str]) -> Option<&Index> {
        self.list
            .iter()
            .filter(|i| i.unique && i.has_fields(fields))
            .min_by_key(|i| (i.partial, i.collation.is_some()))
    }

    /// The unique index with the most key fields that are all among `fields` (and fewer).
    pub(crate) fn unique_within(&self, fields: &[&str]) -> Option<&Index> {
        self.list
            .iter()
            .filter(|i| i.unique && i.within(fields))
            .max_by_key(|i| i.key.len())
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::Indexes;

    fn sample() -> Indexes {
        Indexes::from_specs(&[
            doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" },
            doc! { "v": 2, "key": { "email": 1 }, "name": "email_1", "unique": true },
            doc! { "v": 2, "key": { "name": 1 }, "name": "name_1" },
            doc! { "v": 2, "key": { "tenant": 1, "profile.email": -1 }, "name": "t_pe", "unique": true },
            doc! { "v": 2, "key": { "nick": 1 }, "name": "nick_ci", "unique": true,
            "collation": { "locale": "en", "strength": 2, "version": "57.1" } },
        ])
    }

    #[test]
    fn unique_on_exact_fields_in_any_order() {
        let indexes = sample();
        assert_eq!(
            indexes.unique_on(&["email"]).map(|i| i.name.as_str()),
            Some("email_1")
        );
        assert_eq!(
            indexes
                .unique_on(&["profile.email", "tenant"])
                .map(|i| i.name.as_str()),
            Some("t_pe")
        );
        assert_eq!(
            indexes.unique_on(&["_id"]).map(|i| i.name.as_str()),
            Some("_id_")
        );
        assert!(indexes.unique_on(&["name"]).is_none());
        assert!(indexes.unique_on(&["tenant"]).is_none());
        assert!(indexes.unique_on(&["email", "name"]).is_none());
    }

    #[test]
    fn within_names_the_largest_unique_subset() {
        let indexes = sample();
        let found = indexes.unique_within(&["tenant", "profile.email", "email", "x"]);
        assert_eq!(found.map(|i| i.name.as_str()), Some("t_pe"));
        assert!(indexes.unique_within(&["email"]).is_none());
    }

    #[test]
    fn collation_is_read_as_a_query_option() {
        let indexes = sample();
        let nick = indexes.unique_on(&["nick"]).unwrap();
        let collation = nick.collation.as_ref().unwrap();
        assert_eq!(collation.locale, "en");
        assert_eq!(
            crate::bson_compat::to_document(collation).unwrap(),
            doc! { "locale": "en", "strength": 2 }
        );
    }

    #[test]
    fn id_is_unique_even_before_the_collection_exists() {
        let indexes = Indexes::from_specs(&[]);
        let id = indexes.unique_on(&["_id"]).unwrap();
        assert_eq!((id.name.as_str(), &id.key), ("_id_", &doc! { "_id": 1 }));
        assert_eq!(
            indexes.named("_id_").map(|i| i.key.clone()),
            Some(doc! { "_id": 1 })
        );
    }

    #[test]
    fn partial_indexes_come_after_full_ones() {
        let indexes = Indexes::from_specs(&[
            doc! { "key": { "sku": 1 }, "name": "sku_partial", "unique": true,
            "partialFilterExpression": { "sku": { "$type": "string" } } },
            doc! { "key": { "sku": 1 }, "name": "sku_full", "unique": 1 },
        ]);
        assert_eq!(
            indexes.unique_on(&["sku"]).map(|i| i.name.as_str()),
            Some("sku_full")
        );
    }
}
