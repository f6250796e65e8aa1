//! The collection's indexes and default collation as dedupe reads them: through the one
//! reader (`crate::index`), a collection that does not exist being an error here.

use mongodb::bson::Document;
use mongodb::Collection;

use super::DedupeError;
use crate::index::{self, Index};

/// Every index of `collection`, as `listIndexes` lists them.
pub(crate) async fn list(collection: &Collection<Document>) -> Result<Vec<Index>, DedupeError> {
    let specs = index::list_specs(collection)
        .await
        .map_err(DedupeError::driver("listIndexes"))?
        .ok_or_else(|| not_found(collection))?;
    Ok(specs.into_iter().filter_map(Index::from_spec).collect())
}

/// The collection's default collation (`listCollections`' `options.collation`).
pub(crate) async fn default_collation(
    collection: &Collection<Document>,
) -> Result<Option<Document>, DedupeError> {
    index::default_collation(collection)
        .await
        .map_err(DedupeError::driver("listCollections"))?
        .ok_or_else(|| not_found(collection))
}

fn not_found(collection: &Collection<Document>) -> DedupeError {
    DedupeError::CollectionNotFound {
        namespace: collection.namespace().to_string(),
    }
}
