//! Re-runs of bulk imports: the rows, and what a report of an all-duplicate re-run must say.

use dupkey::InsertManyReport;
use mongodb::bson::{doc, Document};

/// `n` import rows without `_id` (each insert gives them new ones), unique by `email`.
pub fn rows(n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| doc! { "email": format!("user{i:06}@example.com"), "name": "Ann Example", "age": 42 })
        .collect()
}

/// `n` rows without `_id` whose unique `key` is `size` bytes.
pub fn large_key_rows(n: usize, size: usize) -> Vec<Document> {
    let padding = "x".repeat(size);
    (0..n)
        .map(|i| doc! { "key": format!("{i:06}{padding}") })
        .collect()
}

/// The report of a helper's run that did not insert everything.
pub fn report(result: Result<InsertManyReport, dupkey::Error>) -> InsertManyReport {
    match result {
        Err(dupkey::Error::InsertMany(report)) => *report,
        other => panic!("a report of what was not inserted expected: {other:?}"),
    }
}

/// Checks that every position of `rows` is reported a duplicate on `index`, in order, with
/// the exact value of `field` the row held, and nothing else.
#[track_caller]
pub fn assert_all_duplicates(
    report: &InsertManyReport,
    rows: &[Document],
    index: &str,
    field: &str,
) {
    assert!(report.inserted_ids().is_empty());
    assert!(report.failures().is_empty());
    assert!(report.write_concern_errors().is_empty());
    assert!(report.stopped_by().is_none(), "{:?}", report.stopped_by());
    assert_eq!(report.unconfirmed(), rows.len()..rows.len());
    assert_eq!(report.duplicates().len(), rows.len());
    for (position, (dup, row)) in report.duplicates().iter().zip(rows).enumerate() {
        assert_eq!(dup.position(), Some(position));
        assert_eq!(dup.index(), Some(index), "index of row {position}");
        let key = doc! { field: row.get(field).expect("the key field").clone() };
        assert_eq!(dup.key_value(), Some(&key), "key of row {position}");
    }
    assert_eq!(
        report.to_string(),
        format!(
            "0 of {n} documents inserted, {n} duplicate keys, 0 other failures",
            n = rows.len()
        )
    );
}
