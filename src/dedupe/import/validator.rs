//! The target's validator, judged by the server: the rows go into a scratch collection
//! carrying the same validator (and default collation, under which it compares strings).

use mongodb::bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::InsertManyOptions;
use mongodb::Collection;

use super::super::scratch::Scratch;
use super::super::DedupeError;
use super::report::ValidatorCheck;

/// The server's code for a document its collection's validator refuses.
const DOCUMENT_VALIDATION_FAILURE: i32 = 121;

/// The target's validator (`listCollections`' `options.validator`) and what the check does
/// with it: inserts are validated unless `validationLevel` is `off`, and refused unless
/// `validationAction` is `warn` (`moderate` only spares updates of invalid documents).
pub(super) async fn read(
    target: &Collection<Document>,
) -> Result<(Option<Document>, ValidatorCheck), DedupeError> {
    let namespace = target.namespace();
    let database = target.client().database(&namespace.db);
    let options = crate::index::collection_spec(&database, &namespace.coll)
        .await
        .map_err(DedupeError::driver("listCollections"))?
        .and_then(|spec| spec.get_document("options").ok().cloned())
        .unwrap_or_default();
    let validator = match options.get_document("validator") {
        Ok(validator) if !validator.is_empty() => validator.clone(),
        _ => return Ok((None, ValidatorCheck::NoValidator)),
    };
    let level = options.get_str("validationLevel").unwrap_or("strict");
    let action = options.get_str("validationAction").unwrap_or("error");
    if level == "off" || action == "warn" {
        return Ok((None, ValidatorCheck::NotEnforced));
    }
    Ok((Some(validator), ValidatorCheck::Checked))
}

/// A scratch collection judging rows by the target's validator.
pub(super) struct Validator {
    scratch: Collection<Document>,
}

impl Validator {
    pub(super) async fn new(
        scratch: &mut Scratch,
        validator: Document,
        default_collation: Option<&Document>,
    ) -> Result<Self, DedupeError> {
        let mut options = doc! {
            "validator": validator,
            "validationLevel": "strict",
            "validationAction": "error",
        };
        if let Some(collation) = default_collation {
            options.insert("collation", collation.clone());
        }
        Ok(Validator {
            scratch: scratch.create(options).await?,
        })
    }

    /// The rows (by place in `rows`) the validator refuses, each with the server's
    /// `errInfo`. The rows go in unordered and are deleted again: validation comes before
    /// the `_id` index, so a row refused on `_id` (a repeated `_id`) has passed it.
    pub(super) async fn refused(
        &self,
        rows: &[Document],
    ) -> Result<Vec<(usize, Option<Document>)>, DedupeError> {
        let options = InsertManyOptions::builder().ordered(false).build();
        let inserted = self.scratch.insert_many(rows).with_options(options).await;
        self.scratch
            .delete_many(doc! {})
            .await
            .map_err(DedupeError::driver("delete"))?;
        let Err(err) = inserted else {
            return Ok(Vec::new());
        };
        let mut refused = Vec::new();
        if let ErrorKind::InsertMany(e) = &*err.kind {
            if e.write_concern_error.is_none() {
                for failure in e.write_errors.iter().flatten() {
                    match failure.code {
                        DOCUMENT_VALIDATION_FAILURE => {
                            let mut details = failure.details.clone();
                            // The `_id` the driver gave a row that has none names nothing.
                            if !rows
                                .get(failure.index)
                                .is_some_and(|r| r.contains_key("_id"))
                            {
                                if let Some(details) = &mut details {
                                    details.remove("failingDocumentId");
                                }
                            }
                            refused.push((failure.index, details))
                        }
                        code if crate::codes::is_duplicate(code, &failure.message) => {}
                        _ => return Err(insert_failed(err)),
                    }
                }
                refused.sort_by_key(|r| r.0);
                return Ok(refused);
            }
        }
        Err(insert_failed(err))
    }
}

fn insert_failed(source: mongodb::error::Error) -> DedupeError {
    DedupeError::Driver {
        operation: "insert",
        source,
    }
}
