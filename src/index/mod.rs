//! The one model of a collection's indexes: [`Index`], read from a raw `listIndexes` spec,
//! and [`Indexes`], a collection's list. Every part of the crate that asks about indexes
//! (the write helpers, the upsert audit, dedupe, rollout, [`Drift`](crate::Drift) and the
//! tool) asks here, so each rule exists once:
//!
//! - what an index is (`unique` however a server stored it, the `_id` index, a clustered
//!   collection's key, `sparse`, `partialFilterExpression`, `collation`, `hidden`,
//!   `prepareUnique`): [`Index::from_spec`];
//! - which unique index backs an upsert by a filter's fields: [`Indexes::unique_on`] (the
//!   scope of a partial or sparse one is checked in `scope`);
//! - whether a server's index is the one a [`UniqueIndex`](crate::dedupe::UniqueIndex)
//!   describes: `same` ([`Index::is_same_as`]);
//! - whether a document is provably inside a partial filter: `scope`;
//! - reading `listIndexes` (async and blocking): `read`.

pub(crate) mod paths;
mod read;
pub(crate) mod same;
pub(crate) mod scope;

#[cfg(test)]
mod tests;

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::Collation;

#[cfg(feature = "sync")]
pub(crate) use read::list_blocking;
pub(crate) use read::{collection_spec, command_code, default_collation, list, list_specs};

/// One index as `listIndexes` describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Index {
    spec: Document,
    name: String,
    key: Document,
    unique: bool,
    prepare_unique: bool,
    sparse: bool,
    hidden: bool,
    partial_filter: Option<Document>,
    /// The collation as the server lists it (every option filled in); `None` is simple.
    collation: Option<Document>,
}

impl Index {
    /// The index a spec describes; `None` for a spec without a name or a key.
    pub(crate) fn from_spec(spec: Document) -> Option<Self> {
        let name = spec.get_str("name").ok()?.to_owned();
        let key = spec.get_document("key").ok()?.clone();
        let is_id = is_id_key(&key);
        let collation = spec
            .get_document("collation")
            .ok()
            .filter(|c| !same::is_simple(c))
            .cloned();
        Some(Index {
            name,
            unique: truthy(spec.get("unique")) || truthy(spec.get("clustered")) || is_id,
            prepare_unique: truthy(spec.get("prepareUnique")),
            sparse: truthy(spec.get("sparse")),
            hidden: truthy(spec.get("hidden")),
            partial_filter: spec.get_document("partialFilterExpression").ok().cloned(),
            collation,
            key,
            spec,
        })
    }

    /// The `_id` index a collection gets when its first write creates it.
    fn implicit_id() -> Self {
        Self::from_spec(doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" })
            .expect("a spec with a name and a key")
    }

    /// The spec as the server listed it.
    pub(crate) fn spec(&self) -> &Document {
        &self.spec
    }

    /// The index's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The key pattern, such as `{ tenant: 1, email: -1 }`.
    pub(crate) fn key(&self) -> &Document {
        &self.key
    }

    /// Whether this is the `_id` index (or a clustered collection's key on `_id`).
    pub(crate) fn is_id(&self) -> bool {
        is_id_key(&self.key)
    }

    /// Unique: `unique` on (servers have stored `true`, `1` and `1.0`), the `_id` index, or
    /// a clustered collection's key.
    pub(crate) fn unique(&self) -> bool {
        self.unique
    }

    /// `prepareUnique`: new duplicates are refused, old ones stay.
    pub(crate) fn prepare_unique(&self) -> bool {
        self.prepare_unique
    }

    /// Refuses duplicates of new writes: unique, or prepared to become so.
    pub(crate) fn refuses_duplicates(&self) -> bool {
        self.unique || self.prepare_unique
    }

    /// Holds only documents that have one of the key's fields.
    pub(crate) fn sparse(&self) -> bool {
        self.sparse
    }

    /// Hidden from the query planner. No rule asks yet: a hidden unique index still refuses
    /// duplicates, so it backs upserts and counts for `Drift` like any other.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn hidden(&self) -> bool {
        self.hidden
    }

    /// Holds only the documents this filter matches.
    pub(crate) fn partial_filter(&self) -> Option<&Document> {
        self.partial_filter.as_ref()
    }

    /// Whether the index holds only some documents: partial or sparse.
    pub(crate) fn is_scoped(&self) -> bool {
        self.partial_filter.is_some() || self.sparse
    }

    /// The collation as the server lists it; `None` is simple (byte-wise).
    pub(crate) fn collation_spec(&self) -> Option<&Document> {
        self.collation.as_ref()
    }

    /// The collation the index compares under, as a query option; `None` is simple.
    pub(crate) fn collation(&self) -> Option<Collation> {
        crate::bson_compat::from_document(self.collation.clone()?).ok()
    }

    /// The collation a query must send to compare as this index does: its own, or
    /// `{ locale: "simple" }` (which overrides a collection's default collation).
    pub(crate) fn query_collation(&self) -> Collation {
        self.collation()
            .unwrap_or_else(|| Collation::builder().locale("simple").build())
    }

    /// Whether every key part is an ordinary ascending or descending field (not text, geo
    /// or hashed): then a key filter on the paths finds the documents holding a key.
    pub(crate) fn plain_key(&self) -> bool {
        crate::key_pattern::is_plain(&self.key)
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

fn is_id_key(key: &Document) -> bool {
    key.len() == 1 && key.contains_key("_id")
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
#[derive(Debug, Clone, Default)]
pub(crate) struct Indexes {
    list: Vec<Index>,
}

impl Indexes {
    /// The indexes `specs` describe (as `listIndexes` gives them), plus the `_id` index.
    pub(crate) fn from_specs(specs: impl IntoIterator<Item = Document>) -> Self {
        let mut list: Vec<Index> = specs.into_iter().filter_map(Index::from_spec).collect();
        if !list.iter().any(Index::is_id) {
            list.push(Index::implicit_id());
        }
        Indexes { list }
    }

    /// Every index, in the server's order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Index> {
        self.list.iter()
    }

    /// The collection's default collation, as the server lists it (`None`: simple). The `_id`
    /// index always has the collection's default collation, so the list tells it.
    pub(crate) fn default_collation(&self) -> Option<&Document> {
        self.list
            .iter()
            .find(|i| i.is_id())
            .and_then(Index::collation_spec)
    }

    /// The index called `name`.
    pub(crate) fn named(&self, name: &str) -> Option<&Index> {
        self.list.iter().find(|i| i.name == name)
    }

    /// The unique indexes whose key fields are exactly `fields`, the one that backs an upsert
    /// best first: full before partial or sparse, then simple before collated (the server
    /// retries an upsert race on a full simple index itself).
    pub(crate) fn unique_on(&self, fields: &[&str]) -> Vec<&Index> {
        let mut found: Vec<&Index> = self
            .list
            .iter()
            .filter(|i| i.unique && i.has_fields(fields))
            .collect();
        found.sort_by_key(|i| (i.is_scoped(), i.collation.is_some()));
        found
    }

    /// The unique index with the most key fields that are all among `fields` (and fewer).
    pub(crate) fn unique_within(&self, fields: &[&str]) -> Option<&Index> {
        self.list
            .iter()
            .filter(|i| i.unique && i.within(fields))
            .max_by_key(|i| i.key.len())
    }
}

impl<'a> IntoIterator for &'a Indexes {
    type Item = &'a Index;
    type IntoIter = std::slice::Iter<'a, Index>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}
