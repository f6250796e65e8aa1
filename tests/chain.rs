//! `IsDuplicate` through the wrappers applications put driver errors in: `Result`, boxed
//! trait objects, anyhow with context, custom errors whose `source()` is the driver error.
//!
//! The driver errors are built from the server's fields with the driver's own `Deserialize`
//! impls (the shapes `tests/live_shapes.rs` gets from a real server): nothing here talks to
//! MongoDB.

use std::error::Error as StdError;
use std::fmt;

use anyhow::Context;
use dupkey::{DuplicateKey, IsDuplicate};
use mongodb::bson::{doc, from_document};
use mongodb::error::{CommandError, Error, ErrorKind, InsertManyError, WriteError, WriteFailure};

const MESSAGE: &str = "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }";

/// What `insert_one` returns on a conflict.
fn duplicate() -> Error {
    let e: WriteError = from_document(doc! { "code": 11000, "errmsg": MESSAGE }).unwrap();
    Error::from(ErrorKind::Write(WriteFailure::WriteError(e)))
}

/// A write error that is not a duplicate (document validation).
fn not_duplicate() -> Error {
    let e: WriteError =
        from_document(doc! { "code": 121, "errmsg": "Document failed validation" }).unwrap();
    Error::from(ErrorKind::Write(WriteFailure::WriteError(e)))
}

/// What commitTransaction returns after a duplicate aborted the transaction.
fn aborted_transaction() -> Error {
    let e: CommandError = from_document(doc! {
        "code": 251,
        "codeName": "NoSuchTransaction",
        "errmsg": "Transaction with { txnNumber: 1 } has been aborted.",
    })
    .unwrap();
    Error::from(ErrorKind::Command(e))
}

/// An unordered `insert_many` with duplicates at 1 and 3 and a validation failure at 2.
fn batch() -> Error {
    let second = MESSAGE.replace("ann@", "bob@");
    let e: InsertManyError = from_document(doc! { "writeErrors": [
        { "index": 1, "code": 11000, "errmsg": MESSAGE },
        { "index": 2, "code": 121, "errmsg": "Document failed validation" },
        { "index": 3, "code": 11000, "errmsg": second },
    ]})
    .unwrap();
    Error::from(ErrorKind::InsertMany(e))
}

/// The reading every wrapper must give back for [`duplicate`].
fn expected() -> DuplicateKey {
    DuplicateKey::from_error(&duplicate()).expect("a duplicate")
}

/// Asserts the three answers for something that reports exactly `want`.
fn assert_reports(err: &impl IsDuplicate, want: &[DuplicateKey]) {
    assert_eq!(err.is_duplicate(), !want.is_empty());
    assert_eq!(err.duplicate_key(), want.first().cloned());
    assert_eq!(err.duplicate_keys(), want);
}

/// Same, for a trait object (`IsDuplicate` is implemented on the unsized type).
fn assert_reports_dyn(err: &(dyn StdError + 'static), want: &[DuplicateKey]) {
    assert_eq!(err.is_duplicate(), !want.is_empty());
    assert_eq!(err.duplicate_key(), want.first().cloned());
    assert_eq!(err.duplicate_keys(), want);
}

#[test]
fn the_expected_reading_is_a_real_one() {
    let dup = expected();
    assert_eq!(dup.index(), Some("email_1"));
    assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));
    assert_eq!(dup.message(), MESSAGE);
}

#[test]
fn driver_error_itself() {
    assert_reports(&duplicate(), &[expected()]);
    assert_reports(&not_duplicate(), &[]);
    assert_reports(&aborted_transaction(), &[]);
}

#[test]
fn result_of_driver_error() {
    let err: Result<u32, Error> = Err(duplicate());
    assert_reports(&err, &[expected()]);
    let other: Result<u32, Error> = Err(not_duplicate());
    assert_reports(&other, &[]);
    let ok: Result<u32, Error> = Ok(7);
    assert_reports(&ok, &[]);
}

#[test]
fn boxed_send_sync() {
    let err: Box<dyn StdError + Send + Sync> = Box::new(duplicate());
    assert_reports(&err, &[expected()]);
    let other: Box<dyn StdError + Send + Sync> = Box::new(not_duplicate());
    assert_reports(&other, &[]);
    let result: Result<(), Box<dyn StdError + Send + Sync>> = Err(Box::new(duplicate()));
    assert_reports(&result, &[expected()]);
}

#[test]
fn boxed_dyn_error() {
    let err: Box<dyn StdError> = Box::new(duplicate());
    assert_reports(&err, &[expected()]);
    let other: Box<dyn StdError> = Box::new(aborted_transaction());
    assert_reports(&other, &[]);
    let result: Result<(), Box<dyn StdError>> = Err(Box::new(duplicate()));
    assert_reports(&result, &[expected()]);
    let ok: Result<(), Box<dyn StdError>> = Ok(());
    assert_reports(&ok, &[]);
}

#[test]
fn anyhow_with_context() {
    let err = anyhow::Error::new(duplicate())
        .context("signing up")
        .context("POST /users");
    // Through `Deref<Target = dyn Error + Send + Sync>`.
    assert!(err.is_duplicate());
    assert_eq!(err.duplicate_key(), Some(expected()));
    assert_eq!(err.duplicate_keys(), [expected()]);

    // `.context()` on a Result, as applications write it.
    let result: Result<(), Error> = Err(duplicate());
    let err = result.context("signing up").unwrap_err();
    assert!(err.is_duplicate());
    assert_eq!(err.duplicate_key(), Some(expected()));

    let other = anyhow::Error::new(not_duplicate()).context("signing up");
    assert!(!other.is_duplicate());
    assert_eq!(other.duplicate_key(), None);
    assert_eq!(other.duplicate_keys(), []);

    // An anyhow error that never held a driver error.
    let plain = anyhow::Error::msg(
        "E11000 duplicate key error collection: a.b index: x_1 dup key: { x: 1 }",
    );
    assert!(!plain.is_duplicate());
    assert_eq!(plain.duplicate_key(), None);
}

#[test]
fn anyhow_batch_keeps_every_duplicate_in_order() {
    let err = anyhow::Error::new(batch()).context("import");
    let positions: Vec<_> = err
        .duplicate_keys()
        .iter()
        .map(DuplicateKey::position)
        .collect();
    assert_eq!(positions, [Some(1), Some(3)]);
    assert_eq!(err.duplicate_key().and_then(|d| d.position()), Some(1));
}

/// An application error written by hand, the way thiserror writes one: its `source()` is the
/// driver error and its Display does not repeat it.
#[derive(Debug)]
enum SignupError {
    Storage(Error),
    Layered(Layer),
}

#[derive(Debug)]
struct Layer(Box<dyn StdError + Send + Sync>);

impl fmt::Display for SignupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("could not sign up")
    }
}

impl StdError for SignupError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SignupError::Storage(e) => Some(e),
            SignupError::Layered(e) => Some(e),
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("repository failed")
    }
}

impl StdError for Layer {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

#[test]
fn custom_error_whose_source_is_the_driver_error() {
    let err = SignupError::Storage(duplicate());
    assert_reports_dyn(&err, &[expected()]);
    let boxed: Box<dyn StdError + Send + Sync> = Box::new(SignupError::Storage(duplicate()));
    assert_reports(&boxed, &[expected()]);
    let anyhow = anyhow::Error::new(SignupError::Storage(duplicate())).context("request");
    assert!(anyhow.is_duplicate());
    assert_eq!(anyhow.duplicate_key(), Some(expected()));

    // Two layers down, through a boxed source.
    let deep = SignupError::Layered(Layer(Box::new(duplicate())));
    assert_reports_dyn(&deep, &[expected()]);
    let deep_batch = SignupError::Layered(Layer(Box::new(batch())));
    let as_dyn: &(dyn StdError + 'static) = &deep_batch;
    let positions: Vec<_> = as_dyn
        .duplicate_keys()
        .iter()
        .map(DuplicateKey::position)
        .collect();
    assert_eq!(positions, [Some(1), Some(3)]);

    for other in [
        SignupError::Storage(not_duplicate()),
        SignupError::Layered(Layer(Box::new(aborted_transaction()))),
    ] {
        assert_reports_dyn(&other, &[]);
    }
}

#[test]
fn duplicate_key_value_in_a_chain() {
    // An application that already turned the driver error into a DuplicateKey and wrapped it.
    let dup = expected();
    let err = SignupError::Layered(Layer(Box::new(dup.clone())));
    assert_reports_dyn(&err, std::slice::from_ref(&dup));
    assert_reports(&dup, std::slice::from_ref(&dup));
    let boxed: Box<dyn StdError> = Box::new(dup.clone());
    assert_reports(&boxed, &[dup]);
}

#[test]
fn non_duplicate_errors_of_every_kind() {
    let kinds = [
        not_duplicate(),
        aborted_transaction(),
        Error::from(ErrorKind::Shutdown),
        Error::from(ErrorKind::Io(std::sync::Arc::new(std::io::Error::other(
            "reset",
        )))),
        Error::custom("E11000 duplicate key error in a custom payload"),
    ];
    for err in kinds {
        assert_reports(&err, &[]);
        let boxed: Box<dyn StdError + Send + Sync> = Box::new(err);
        assert_reports(&boxed, &[]);
    }
    let io: Box<dyn StdError> = Box::new(std::io::Error::other("E11000 duplicate key error"));
    assert_reports(&io, &[]);
}
