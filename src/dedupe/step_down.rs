//! What a resolve run does when the primary steps down under one of its writes.
//!
//! Its multi-document deletes and its `update` commands are not retryable writes: across an
//! election they fail (or their write concern does) after the primary may have applied them.
//! Each batch names its documents by `_id` and is guarded by the key each was read with,
//! and its updates set values rather than change them by amounts, so sending a batch again
//! is safe. The survivor check before a batch is a read, retried the same way.

use std::time::Duration;

use mongodb::error::{Error, ErrorKind, WriteFailure};

/// Attempts of one batch while the replica set elects a new primary.
pub(crate) const ATTEMPTS: usize = 5;

/// The wait between them: a new primary is usually elected within a second.
pub(crate) const PAUSE: Duration = Duration::from_millis(500);

/// The codes of a primary that stepped down or shut down under the write: those the
/// driver's retryable writes retry on.
pub(crate) fn is_step_down_code(code: i32) -> bool {
    [91, 189, 262, 10107, 11600, 11602, 13435, 13436].contains(&code)
}

/// Whether `err` says the primary stepped down or shut down under the write.
pub(crate) fn is_step_down(err: &Error) -> bool {
    let code = match &*err.kind {
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        _ => None,
    };
    err.contains_label("RetryableWriteError")
        || matches!(&*err.kind, ErrorKind::Io(_))
        || code.is_some_and(is_step_down_code)
}
