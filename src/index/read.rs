//! The one reader of `listIndexes` (async, and the blocking twin for `dupkey::sync`), and of
//! a collection's default collation.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{ReadPreference, SelectionCriteria};
use mongodb::Collection;

use super::Indexes;

/// `NamespaceNotFound`: `listIndexes` on a collection that does not exist yet.
const NAMESPACE_NOT_FOUND: i32 = 26;

/// The server's error code, for a command error.
pub(crate) fn command_code(err: &mongodb::error::Error) -> Option<i32> {
    match &*err.kind {
        ErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

/// The collection's index specifications as `listIndexes` gives them, read on the primary
/// (where the writes they describe go); `None` when the collection does not exist.
pub(crate) async fn list_specs<T: Send + Sync>(
    coll: &Collection<T>,
) -> mongodb::error::Result<Option<Vec<Document>>> {
    let db = coll.client().database(&coll.namespace().db);
    let listed = db
        .run_cursor_command(doc! { "listIndexes": coll.name() })
        .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
        .await;
    match listed {
        Ok(cursor) => Ok(Some(cursor.try_collect().await?)),
        Err(err) if command_code(&err) == Some(NAMESPACE_NOT_FOUND) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The collection's indexes; a collection that does not exist yet has its `_id` index.
pub(crate) async fn list<T: Send + Sync>(coll: &Collection<T>) -> mongodb::error::Result<Indexes> {
    let specs = list_specs(coll).await?.unwrap_or_default();
    Ok(Indexes::from_specs(specs))
}

/// [`list`] for the blocking API, which offers no command on a collection: the driver's own
/// index models, read back into specs (`{ key, <options> }`, the options at the top level as
/// `listIndexes` lists them), so one model makes sense of both. The driver's model
/// has no `prepareUnique`, which the write helpers do not ask about.
#[cfg(feature = "sync")]
pub(crate) fn list_blocking<T: Send + Sync>(
    coll: &mongodb::sync::Collection<T>,
) -> mongodb::error::Result<Indexes> {
    let specs: Vec<Document> = match coll.list_indexes().run() {
        Ok(cursor) => cursor
            .map(|model| {
                crate::bson_compat::to_document(&model?).ok_or_else(|| {
                    crate::bson_compat::ser_error("an index model that is not a document")
                })
            })
            .collect::<mongodb::error::Result<_>>()?,
        Err(err) if command_code(&err) == Some(NAMESPACE_NOT_FOUND) => Vec::new(),
        Err(err) => return Err(err),
    };
    Ok(Indexes::from_specs(specs))
}

/// The collection's default collation (`listCollections`' `options.collation`): `None` when
/// the collection does not exist, `Some(None)` when it has none.
pub(crate) async fn default_collation<T: Send + Sync>(
    coll: &Collection<T>,
) -> mongodb::error::Result<Option<Option<Document>>> {
    let namespace = coll.namespace();
    let database = coll.client().database(&namespace.db);
    let spec = collection_spec(&database, &namespace.coll).await?;
    Ok(spec.map(|spec| {
        spec.get_document("options")
            .and_then(|options| options.get_document("collation"))
            .ok()
            .cloned()
    }))
}

/// Collection `name`'s raw `listCollections` entry (`options`, `info.uuid`, ...): `None` when
/// it does not exist. Raw, because the driver's typed entry has no room for what a newer
/// server adds.
pub(crate) async fn collection_spec(
    database: &mongodb::Database,
    name: &str,
) -> mongodb::error::Result<Option<Document>> {
    let mut specs = database
        .run_cursor_command(doc! { "listCollections": 1, "filter": { "name": name } })
        .await?;
    specs.try_next().await
}
