//! The message parser against the common hand-rolled baseline, measured in the same run:
//!
//! 1. `typed/*`: `DuplicateKey::from_message` — namespace, index, fields, key pattern and the
//!    typed key value — on a typical 4.2+ message, single-field and compound, then reading
//!    `database()`, `collection()`, `index()`, every name `fields()` yields and `key_value()`
//!    inside the timed loop (and dropping it);
//! 2. `regex/*`: one `regex::Regex` capture `index: (.*) dup key` (built once) taking the index
//!    name as a `String`, on the same messages. The budget: `typed/*` takes at most as long
//!    as `regex/*` (a ratio of 1.0), though it reads far more;
//! 3. `document/*`: no parsing at all, only what any owned typed answer costs: copying the
//!    message, one boxed value, and the same key `Document` built with bson's own API. It is
//!    the floor under `typed/*`, and shows how much of `typed/*` is the parser;
//! 4. `scaling/*`: messages whose key document is 1 KiB, 64 KiB and 1 MiB long (the largest
//!    size is `DUPKEY_BENCH_MAX_KIB`, 1024 by default); the time per byte stays flat when
//!    parsing is linear.
//!
//! `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::LazyLock;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dupkey::DuplicateKey;
use mongodb::bson::Document;
use regex::Regex;

const SINGLE: &str = "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }";
const COMPOUND: &str = "E11000 duplicate key error collection: shop.orders index: tenant_1_sku_-1_placed_1 dup key: { tenant: ObjectId('65a1b2c3d4e5f60718293a4b'), sku: \"A-100\", placed: new Date(1704164645678) }";

static INDEX: LazyLock<Regex> = LazyLock::new(|| Regex::new("index: (.*) dup key").unwrap());

fn regex_index(message: &str) -> Option<String> {
    INDEX
        .captures(message)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
}

/// A full typed parse, every eagerly needed part read.
fn typed(message: &str) -> Option<DuplicateKey> {
    let dup = DuplicateKey::from_message(message)?;
    black_box((
        dup.database(),
        dup.collection(),
        dup.index(),
        dup.fields().map(black_box).count(),
        dup.key_value(),
    ));
    Some(dup)
}

fn typed_vs_regex(c: &mut Criterion) {
    let mut group = c.benchmark_group("message");
    for (name, message) in [("single", SINGLE), ("compound", COMPOUND)] {
        // Both must read the message, or the comparison means nothing.
        assert!(DuplicateKey::from_message(message)
            .unwrap()
            .key_value()
            .is_some());
        assert!(regex_index(message).is_some());
        group.bench_function(BenchmarkId::new("typed", name), |b| {
            b.iter(|| typed(black_box(message)))
        });
        group.bench_function(BenchmarkId::new("regex", name), |b| {
            b.iter(|| regex_index(black_box(message)))
        });
        let key = DuplicateKey::from_message(message)
            .and_then(|dup| dup.key_value().cloned())
            .unwrap();
        group.bench_function(BenchmarkId::new("document", name), |b| {
            b.iter(|| floor(black_box(message), black_box(&key)))
        });
    }
    group.finish();
}

/// The owned parts of a typed answer, with no parsing: the message copied, a box, and the
/// key document rebuilt with `Document::insert` from values already typed.
fn floor(message: &str, key: &Document) -> (String, Box<[usize; 8]>, Document) {
    let mut doc = Document::new();
    for (name, value) in key {
        doc.insert(name.as_str(), value.clone());
    }
    (message.to_owned(), Box::new([0; 8]), doc)
}

/// A message whose key document is about `size` bytes: an array of short strings, numbers and
/// small documents, anchored at the end like a real one.
fn long_message(size: usize) -> String {
    let mut items = Vec::new();
    let mut len = 0;
    let mut i = 0u64;
    while len < size {
        let item = match i % 3 {
            0 => format!("\"item {i}, {{x: \\\"{i}\\\"}}\""),
            1 => format!("{}", i * 7919),
            _ => format!("{{ n: {i}, s: \"v{i}\" }}"),
        };
        len += item.len() + 2;
        items.push(item);
        i += 1;
    }
    format!(
        "E11000 duplicate key error collection: shop.events index: tags_1 dup key: {{ tags: [ {} ] }}",
        items.join(", ")
    )
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling");
    let max_kib: usize = std::env::var("DUPKEY_BENCH_MAX_KIB")
        .ok()
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(1024);
    for kib in [1, 64, max_kib] {
        let size = kib << 10;
        let label = format!("{kib}KiB");
        let message = long_message(size);
        assert!(DuplicateKey::from_message(&message)
            .unwrap()
            .key_value()
            .is_some());
        group.throughput(Throughput::Bytes(message.len() as u64));
        if size >= 1 << 20 {
            group.sample_size(10);
        }
        group.bench_function(BenchmarkId::new("typed", &label), |b| {
            b.iter(|| DuplicateKey::from_message(black_box(&message)))
        });
    }
    group.finish();
}

criterion_group!(benches, typed_vs_regex, scaling);
criterion_main!(benches);
