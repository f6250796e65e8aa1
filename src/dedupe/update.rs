//! Many updates or replacements in one `update` command: one round trip for a batch.

use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;

use super::{step_down, DedupeError};

/// Commands stay well under the server's 16 MiB limit.
const MAX_COMMAND_BYTES: usize = 8 * 1024 * 1024;

/// What one `update` command did.
#[derive(Debug, Default)]
pub(crate) struct Updated {
    /// Documents matched (`n`), upserts included.
    pub(crate) matched: u64,
    /// The refused statements: their index in the list given, code and message.
    pub(crate) refused: Vec<(usize, i32, String)>,
}

/// Splits `statements` (`{ q, u, ... }`) into commands that fit, runs them at the
/// collection's write concern (`ordered: false`), and adds up what they did. `before_write`
/// runs before each command (the fault-injection hook).
pub(crate) async fn update(
    collection: &Collection<Document>,
    statements: Vec<Document>,
    batch_size: usize,
    mut before_write: impl FnMut() -> Result<(), DedupeError>,
) -> Result<Updated, DedupeError> {
    let namespace = collection.namespace();
    let database = collection.client().database(&namespace.db);
    let write_concern = match collection.write_concern() {
        Some(wc) => Some(
            crate::bson_compat::to_document(wc).ok_or(DedupeError::Reply {
                detail: "a write concern that cannot be encoded",
            })?,
        ),
        None => None,
    };
    let mut total = Updated::default();
    let mut start = 0;
    while start < statements.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < statements.len() && end - start < batch_size {
            let size = crate::bson_compat::to_raw(&statements[end])
                .map(|r| r.as_bytes().len())
                .unwrap_or(0);
            if end > start && bytes + size > MAX_COMMAND_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        before_write()?;
        let mut command = doc! {
            "update": &namespace.coll,
            "updates": statements[start..end].to_vec(),
            "ordered": false,
        };
        if let Some(wc) = &write_concern {
            command.insert("writeConcern", wc.clone());
        }
        // Sent again after a step-down: see `step_down`.
        let mut attempts = 0;
        let reply = loop {
            attempts += 1;
            let again = attempts < step_down::ATTEMPTS;
            match database.run_command(command.clone()).await {
                Err(err) if again && step_down::is_step_down(&err) => {}
                Ok(reply)
                    if again
                        && reply
                            .get_document("writeConcernError")
                            .and_then(|e| e.get_i32("code"))
                            .is_ok_and(step_down::is_step_down_code) => {}
                other => break other.map_err(DedupeError::driver("update"))?,
            }
            tokio::time::sleep(step_down::PAUSE).await;
        };
        total.matched += match reply.get("n") {
            Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
            Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        if let Ok(errors) = reply.get_array("writeErrors") {
            for error in errors {
                let Bson::Document(error) = error else {
                    continue;
                };
                let index = error.get_i32("index").unwrap_or(0);
                total.refused.push((
                    start + usize::try_from(index).unwrap_or(0),
                    error.get_i32("code").unwrap_or(0),
                    error.get_str("errmsg").unwrap_or_default().to_owned(),
                ));
            }
        }
        if let Ok(error) = reply.get_document("writeConcernError") {
            return Err(DedupeError::Refused {
                operation: "update",
                code: error.get_i32("code").unwrap_or(0),
                message: error.get_str("errmsg").unwrap_or_default().to_owned(),
            });
        }
        start = end;
    }
    Ok(total)
}
