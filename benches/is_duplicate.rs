//! "Not a duplicate" must be cheap: `is_duplicate()` on driver errors that are not
//! duplicates, against the common hand-rolled check (`err.to_string().contains("E11000")`)
//! measured in the same run, and the duplicate path (`duplicate_key()`) for scale.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use dupkey::IsDuplicate;
use mongodb::bson::{doc, from_document};
use mongodb::error::{CommandError, Error, ErrorKind, InsertManyError, WriteError, WriteFailure};

fn write_error(code: i32, errmsg: &str) -> Error {
    let e: WriteError = from_document(doc! { "code": code, "errmsg": errmsg }).unwrap();
    Error::from(ErrorKind::Write(WriteFailure::WriteError(e)))
}

fn errors() -> Vec<(&'static str, Error)> {
    let command: CommandError = from_document(doc! {
        "code": 11600, "codeName": "InterruptedAtShutdown", "errmsg": "interrupted at shutdown",
    })
    .unwrap();
    let batch: InsertManyError = from_document(doc! { "writeErrors": [
        { "index": 0, "code": 121, "errmsg": "Document failed validation" },
        { "index": 1, "code": 121, "errmsg": "Document failed validation" },
    ]})
    .unwrap();
    vec![
        ("write", write_error(121, "Document failed validation")),
        ("command", Error::from(ErrorKind::Command(command))),
        ("insert_many", Error::from(ErrorKind::InsertMany(batch))),
        ("shutdown", Error::from(ErrorKind::Shutdown)),
    ]
}

fn not_a_duplicate(c: &mut Criterion) {
    let mut group = c.benchmark_group("not_a_duplicate");
    for (name, err) in errors() {
        group.bench_function(format!("is_duplicate/{name}"), |b| {
            b.iter(|| black_box(&err).is_duplicate())
        });
        group.bench_function(format!("baseline_to_string_contains/{name}"), |b| {
            b.iter(|| black_box(&err).to_string().contains("E11000"))
        });
    }
    group.finish();
}

fn duplicate(c: &mut Criterion) {
    let err = write_error(
        11000,
        "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }",
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err.clone());
    let mut group = c.benchmark_group("duplicate");
    group.bench_function("is_duplicate", |b| {
        b.iter(|| black_box(&err).is_duplicate())
    });
    group.bench_function("is_duplicate/boxed_dyn_error", |b| {
        b.iter(|| black_box(&boxed).is_duplicate())
    });
    group.bench_function("duplicate_key", |b| {
        b.iter(|| {
            black_box(&err)
                .duplicate_key()
                .map(|d| d.index().map(str::len))
        })
    });
    group.finish();
}

criterion_group!(benches, not_a_duplicate, duplicate);
criterion_main!(benches);
