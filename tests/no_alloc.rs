//! `is_duplicate()` never allocates: a counting global allocator watches the calls.
//!
//! Counting is per thread (a const thread-local flag and counter, which themselves never
//! allocate), so the test harness's other threads cannot disturb it. The errors are built
//! before counting starts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::hint::black_box;
use std::sync::Arc;

use dupkey::IsDuplicate;
use mongodb::bson::{doc, from_document};
use mongodb::error::{
    BulkWriteError, CommandError, Error, ErrorKind, InsertManyError, WriteConcernError, WriteError,
    WriteFailure,
};

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    let _ = ON.try_with(|on| {
        if on.get() {
            COUNT.with(|count| count.set(count.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and counts this thread's allocations during it.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|count| count.set(0));
    ON.with(|on| on.set(true));
    let result = black_box(f());
    ON.with(|on| on.set(false));
    (result, COUNT.with(Cell::get))
}

const DUP: &str = "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }";

fn write_error(code: i32, message: &str) -> WriteError {
    from_document(doc! { "code": code, "errmsg": message }).unwrap()
}

fn write(code: i32, message: &str) -> Error {
    Error::from(ErrorKind::Write(WriteFailure::WriteError(write_error(
        code, message,
    ))))
}

fn command(code: i32, name: &str, message: &str) -> Error {
    let e: CommandError =
        from_document(doc! { "code": code, "codeName": name, "errmsg": message }).unwrap();
    Error::from(ErrorKind::Command(e))
}

fn insert_many(codes: &[(i32, &str)]) -> Error {
    let errors: Vec<_> = codes
        .iter()
        .enumerate()
        .map(|(i, (code, message))| doc! { "index": i as i32, "code": code, "errmsg": *message })
        .collect();
    let e: InsertManyError = from_document(doc! { "writeErrors": errors }).unwrap();
    Error::from(ErrorKind::InsertMany(e))
}

fn bulk_write(codes: &[(usize, i32, &str)]) -> Error {
    let mut e = BulkWriteError::default();
    e.write_errors = codes
        .iter()
        .map(|&(position, code, message)| (position, write_error(code, message)))
        .collect::<HashMap<_, _>>();
    Error::from(ErrorKind::BulkWrite(e))
}

#[derive(Debug)]
struct AppError(Error);

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the repository failed")
    }
}

impl StdError for AppError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// A question asked of a wrapped error.
type Ask = Box<dyn Fn() -> bool>;

#[test]
fn is_duplicate_never_allocates() {
    let concern: WriteConcernError =
        from_document(doc! { "code": 64, "errmsg": "waiting for replication timed out" }).unwrap();
    let only_concern: InsertManyError =
        from_document(doc! { "writeConcernError": { "code": 64, "errmsg": "timed out" } }).unwrap();
    let not_duplicates: Vec<(&str, Error)> = vec![
        ("write 121", write(121, "Document failed validation")),
        (
            "write concern",
            Error::from(ErrorKind::Write(WriteFailure::WriteConcernError(concern))),
        ),
        (
            "command 251",
            command(
                251,
                "NoSuchTransaction",
                "Transaction with { txnNumber: 1 } has been aborted.",
            ),
        ),
        (
            "command 16460",
            command(
                16460,
                "Location16460",
                "error inserting 1 documents to shard s0",
            ),
        ),
        (
            "insert_many",
            insert_many(&[
                (121, "Document failed validation"),
                (2, "bad value"),
                (11600, "interrupted"),
            ]),
        ),
        (
            "insert_many no write errors",
            Error::from(ErrorKind::InsertMany(only_concern)),
        ),
        (
            "bulk_write",
            bulk_write(&[(0, 121, "Document failed validation"), (4, 2, "bad value")]),
        ),
        (
            "io",
            Error::from(ErrorKind::Io(Arc::new(std::io::Error::other(
                "connection reset",
            )))),
        ),
        ("shutdown", Error::from(ErrorKind::Shutdown)),
        ("custom", Error::custom(42_u32)),
    ];
    let duplicates: Vec<(&str, Error)> = vec![
        ("write 11000", write(11000, DUP)),
        ("write 11000 no message", write(11000, "")),
        (
            "command 16460 E11000",
            command(
                16460,
                "Location16460",
                &format!("error inserting 1 documents to shard s0 :: caused by :: {DUP}"),
            ),
        ),
        (
            "insert_many last",
            insert_many(&[(121, "Document failed validation"), (11000, DUP)]),
        ),
        (
            "bulk_write",
            bulk_write(&[(3, 121, "Document failed validation"), (7, 11000, DUP)]),
        ),
    ];

    for (name, err) in &not_duplicates {
        let (answer, count) = allocations(|| err.is_duplicate());
        assert!(!answer, "{name}");
        assert_eq!(count, 0, "{name}: {count} allocation(s)");
    }
    for (name, err) in &duplicates {
        let (answer, count) = allocations(|| err.is_duplicate());
        assert!(answer, "{name}");
        assert_eq!(count, 0, "{name}: {count} allocation(s)");
    }

    // Wrapped: anyhow with context, boxed trait objects, custom sources, Results.
    let wrapped_not: Vec<(&str, Ask)> = {
        let anyhow = anyhow::Error::new(write(121, "Document failed validation"))
            .context("signing up")
            .context("POST /users");
        let boxed: Box<dyn StdError + Send + Sync> =
            Box::new(AppError(command(251, "NoSuchTransaction", "aborted")));
        let result: Result<(), Error> = Err(Error::from(ErrorKind::Shutdown));
        let ok: Result<(), Error> = Ok(());
        vec![
            ("anyhow", Box::new(move || anyhow.is_duplicate())),
            ("boxed app error", Box::new(move || boxed.is_duplicate())),
            ("result", Box::new(move || result.is_duplicate())),
            ("ok", Box::new(move || ok.is_duplicate())),
        ]
    };
    let wrapped_dup: Vec<(&str, Ask)> = {
        let anyhow = anyhow::Error::new(write(11000, DUP)).context("signing up");
        let boxed: Box<dyn StdError> = Box::new(AppError(insert_many(&[(11000, DUP)])));
        let result: Result<(), Error> = Err(write(11000, DUP));
        vec![
            ("anyhow", Box::new(move || anyhow.is_duplicate())),
            ("boxed app error", Box::new(move || boxed.is_duplicate())),
            ("result", Box::new(move || result.is_duplicate())),
        ]
    };
    for (name, ask) in &wrapped_not {
        let (answer, count) = allocations(ask);
        assert!(!answer, "{name}");
        assert_eq!(count, 0, "{name}: {count} allocation(s)");
    }
    for (name, ask) in &wrapped_dup {
        let (answer, count) = allocations(ask);
        assert!(answer, "{name}");
        assert_eq!(count, 0, "{name}: {count} allocation(s)");
    }

    // The counter does count: reading the duplicate allocates (it builds strings).
    let (dup, count) = allocations(|| duplicates[0].1.duplicate_key());
    assert!(dup.is_some());
    assert!(count > 0, "the counting allocator saw nothing");
}
