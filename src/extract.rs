//! Driver error -> the failed writes it reports, borrowed, without allocating.
//!
//! This is the first step of the data path: it knows the shapes of `mongodb::error::Error`
//! and nothing about message texts. Each [`Failure`] is one failed write (or one failed
//! command) with its code, its message, its place in a batch and, where the driver kept
//! the server's reply, the part of that reply that belongs to it.

use std::collections::hash_map;
use std::slice;

use mongodb::bson::RawDocument;
use mongodb::error::{
    Error, ErrorKind, IndexedWriteError, WriteConcernError, WriteError, WriteFailure,
};

use crate::codes;

/// One failed write as the driver reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure<'a> {
    pub(crate) code: i32,
    pub(crate) message: &'a str,
    /// The write's place in its batch (`insert_many`, client `bulk_write`).
    pub(crate) position: Option<usize>,
    /// The server's reply, when the driver kept it (update, replace, findAndModify).
    pub(crate) reply: Option<&'a RawDocument>,
}

impl<'a> Failure<'a> {
    /// A write concern error, which has no place in a batch and no reply of its own.
    pub(crate) fn concern(error: &'a WriteConcernError) -> Self {
        Failure {
            code: error.code,
            message: &error.message,
            position: None,
            reply: None,
        }
    }

    pub(crate) fn is_duplicate(&self) -> bool {
        codes::is_duplicate(self.code, self.message)
    }
}

/// The failures one driver error reports, in the order the driver keeps them: its write
/// errors (or its command error), then its write concern errors.
pub(crate) struct Failures<'a> {
    writes: Writes<'a>,
    concerns: slice::Iter<'a, WriteConcernError>,
}

enum Writes<'a> {
    One(Option<Failure<'a>>),
    InsertMany(slice::Iter<'a, IndexedWriteError>),
    BulkWrite(hash_map::Iter<'a, usize, WriteError>),
}

impl<'a> Iterator for Failures<'a> {
    type Item = Failure<'a>;

    fn next(&mut self) -> Option<Failure<'a>> {
        let write = match &mut self.writes {
            Writes::One(one) => one.take(),
            Writes::InsertMany(errors) => errors.next().map(|e| Failure {
                code: e.code,
                message: &e.message,
                position: Some(e.index),
                reply: None,
            }),
            Writes::BulkWrite(errors) => errors.next().map(|(&position, e)| Failure {
                code: e.code,
                message: &e.message,
                position: Some(position),
                reply: None,
            }),
        };
        write.or_else(|| self.concerns.next().map(Failure::concern))
    }
}

/// The failed writes (or the failed command) of `err` itself, not of its sources.
pub(crate) fn failures(err: &Error) -> Failures<'_> {
    let reply = err.server_response().map(|r| &**r);
    let one = |code, message| {
        Writes::One(Some(Failure {
            code,
            message,
            position: None,
            reply,
        }))
    };
    let (writes, concerns): (Writes<'_>, &[WriteConcernError]) = match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => (one(e.code, &e.message), &[]),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => {
            (Writes::One(None), slice::from_ref(e))
        }
        ErrorKind::Command(e) => (one(e.code, &e.message), &[]),
        ErrorKind::InsertMany(e) => (
            match &e.write_errors {
                Some(errors) => Writes::InsertMany(errors.iter()),
                None => Writes::One(None),
            },
            e.write_concern_error.as_slice(),
        ),
        ErrorKind::BulkWrite(e) => (
            Writes::BulkWrite(e.write_errors.iter()),
            &e.write_concern_errors,
        ),
        _ => (Writes::One(None), &[]),
    };
    Failures {
        writes,
        concerns: concerns.iter(),
    }
}

/// The part of the server's reply that describes `failure`: the matching entry of
/// `writeErrors`, or the reply itself when it carries `keyValue` at the top level
/// (findAndModify and other commands).
pub(crate) fn reply_entry<'a>(failure: &Failure<'a>) -> Option<&'a RawDocument> {
    let reply = failure.reply?;
    if let Ok(Some(_)) = reply.get("keyPattern") {
        return Some(reply);
    }
    let write_errors = reply.get_array("writeErrors").ok()?;
    let mut first_duplicate = None;
    for entry in write_errors.into_iter().flatten() {
        let Some(entry) = entry.as_document() else {
            continue;
        };
        let code = entry.get_i32("code").unwrap_or(0);
        let message = entry.get_str("errmsg").unwrap_or("");
        let index = entry
            .get_i32("index")
            .ok()
            .and_then(|i| usize::try_from(i).ok());
        if !codes::is_duplicate(code, message) {
            continue;
        }
        let same_place = failure.position.is_none() || index == failure.position;
        if same_place && message == failure.message {
            return Some(entry);
        }
        if same_place && first_duplicate.is_none() {
            first_duplicate = Some(entry);
        }
    }
    first_duplicate
}
