//! `IsDuplicate` on what this crate and the driver wrap duplicates in: `Error::custom`
//! payloads, this crate's `Error`, write concern errors, `anyhow::Result`, and `?` into an
//! application's own error types. Nothing here talks to MongoDB.

use std::error::Error as StdError;

use dupkey::{DuplicateKey, IsDuplicate};
use mongodb::bson::{doc, from_document};
use mongodb::error::{Error, ErrorKind, InsertManyError, WriteConcernError, WriteFailure};

const MESSAGE: &str = "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }";

fn dup() -> DuplicateKey {
    DuplicateKey::from_message(MESSAGE).unwrap()
}

fn concern(code: i32, message: &str) -> WriteConcernError {
    from_document(doc! { "code": code, "codeName": "x", "errmsg": message }).unwrap()
}

#[test]
fn custom_payloads_anywhere_in_a_chain() {
    let driver = Error::custom(dup());
    assert!(driver.is_duplicate());
    assert_eq!(driver.duplicate_key(), Some(dup()));

    let ours = Error::custom(dupkey::Error::Duplicate(dup()));
    assert!(ours.is_duplicate());
    assert_eq!(ours.duplicate_keys(), [dup()]);

    // Behind context and a box, as an application holds it.
    let wrapped = anyhow::Error::new(Error::custom(dup())).context("signing up");
    assert!(wrapped.is_duplicate());
    let boxed: Box<dyn StdError + Send + Sync> = Box::new(Error::custom(dup()));
    assert_eq!(boxed.duplicate_key(), Some(dup()));

    // Other payloads are not duplicates.
    assert!(!Error::custom("no").is_duplicate());
    assert!(!Error::custom(dupkey::Error::Refused(dupkey::Refusal::EmptyFilter)).is_duplicate());
}

#[test]
fn this_crates_error_answers_itself() {
    let conflict: Result<(), dupkey::Error> = Err(dupkey::Error::Duplicate(dup()));
    assert!(conflict.is_duplicate());
    assert_eq!(conflict.duplicate_key(), Some(dup()));
    let refused = dupkey::Error::Refused(dupkey::Refusal::NotAnUpdate);
    assert!(!refused.is_duplicate());
    let driver = dupkey::Error::Driver(Error::from(ErrorKind::Shutdown));
    assert!(!driver.is_duplicate());
}

#[test]
fn write_concern_errors_with_a_duplicate_code() {
    let alone = Error::from(ErrorKind::Write(WriteFailure::WriteConcernError(concern(
        11000, MESSAGE,
    ))));
    assert!(alone.is_duplicate());
    assert_eq!(alone.duplicate_key().unwrap().index(), Some("email_1"));

    let beside: InsertManyError = from_document(doc! {
        "writeErrors": [{ "index": 0, "code": 121, "errmsg": "Document failed validation" }],
        "writeConcernError": { "code": 11000, "codeName": "DuplicateKey", "errmsg": MESSAGE },
    })
    .unwrap();
    let beside = Error::from(ErrorKind::InsertMany(beside));
    assert!(beside.is_duplicate());
    assert_eq!(beside.duplicate_keys().len(), 1);

    let timeout = Error::from(ErrorKind::Write(WriteFailure::WriteConcernError(concern(
        64,
        "waiting for replication timed out",
    ))));
    assert!(!timeout.is_duplicate());
}

#[cfg(feature = "anyhow")]
#[test]
fn anyhow_result_answers() {
    fn signup() -> anyhow::Result<()> {
        Err(dupkey::Error::Duplicate(dup()))?
    }
    let result = signup();
    assert!(result.is_duplicate());
    assert_eq!(result.duplicate_key(), Some(dup()));
}

/// An application's own error type, with thiserror's `#[from]`.
#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("storage failed")]
    Storage(#[from] dupkey::Error),
}

#[test]
fn question_mark_into_application_errors() {
    fn boxed() -> Result<(), Box<dyn StdError + Send + Sync>> {
        Err(dupkey::Error::Duplicate(dup()))?
    }
    fn anyhow() -> anyhow::Result<()> {
        Err(dupkey::Error::Duplicate(dup()))?
    }
    fn app() -> Result<(), AppError> {
        Err(dupkey::Error::Duplicate(dup()))?
    }
    fn driver() -> mongodb::error::Result<()> {
        Err(dupkey::Error::Duplicate(dup()))?
    }
    assert_eq!(boxed().duplicate_key(), Some(dup()));
    assert_eq!(anyhow().unwrap_err().duplicate_key(), Some(dup()));
    let app = app().unwrap_err();
    assert_eq!(
        (app as AppError).source().and_then(|s| s.duplicate_key()),
        Some(dup())
    );
    assert_eq!(driver().duplicate_key(), Some(dup()));
}

#[test]
fn a_driver_error_keeps_its_labels_and_kind() {
    let concern: WriteConcernError = from_document(doc! {
        "code": 91, "codeName": "ShutdownInProgress", "errmsg": "shutting down",
        "errorLabels": ["RetryableWriteError"],
    })
    .unwrap();
    let original = Error::from(ErrorKind::Write(WriteFailure::WriteConcernError(concern)));
    assert!(original.contains_label("RetryableWriteError"));
    let through: mongodb::error::Error = dupkey::Error::Driver(original).into();
    assert!(through.contains_label("RetryableWriteError"));
    assert!(matches!(
        &*through.kind,
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) if e.code == 91
    ));
}
