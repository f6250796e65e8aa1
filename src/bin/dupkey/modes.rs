//! The modes that are one library call each: the pre-import check and the online rollout.

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dupkey::dedupe::{check_import as check, rollout_unique_index, Collider, UniqueIndex};
use mongodb::bson::Document;
use mongodb::Collection;

use crate::args::{json, Args};
use crate::resolution::{self, Run};
use crate::Failure;

/// Checks the rows of `file` (JSON lines, `-` for stdin) against every unique index of
/// `coll`, writing nothing to it. Exit status 0 when the import is clean, 1 when a row would
/// be refused; conflicts name rows, indexes and colliders, never key values.
pub(crate) async fn check_import(
    coll: &Collection<Document>,
    file: &str,
    batch_size: usize,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<u8, Failure> {
    let input: Box<dyn BufRead + Send> = if file == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(std::fs::File::open(file)?))
    };
    // Rows are read as the check asks for them; the first unreadable line ends the input and
    // is reported after the check.
    let problem = Arc::new(Mutex::new(None::<String>));
    let seen = Arc::clone(&problem);
    let rows = input.lines().enumerate().map_while(move |(line, text)| {
        let row = text
            .map_err(|e| e.to_string())
            .and_then(|text| json(&format!("line {}", line + 1), &text));
        row.map_err(|e| *seen.lock().unwrap() = Some(e)).ok()
    });
    let report = check(coll, rows)
        .batch_size(batch_size)
        .on_conflict(|c| {
            let with = match c.with() {
                Collider::Row(row) => format!("row {row}"),
                Collider::Stored(id) => format!("stored document {id}"),
                _ => "a document it cannot name".to_owned(),
            };
            let _ = writeln!(
                out,
                "row {}: refused by index {} (collides with {with})",
                c.position(),
                c.index()
            );
        })
        .await?;
    if let Some(problem) = problem.lock().unwrap().take() {
        writeln!(err, "error: {problem}")?;
        return Ok(2);
    }
    writeln!(
        out,
        "{} rows checked against {} unique indexes: {} would be refused ({} with other rows, {} with stored documents)",
        report.rows(),
        report.indexes().len(),
        report.rows_refused(),
        report.with_rows(),
        report.with_stored()
    )?;
    Ok(if report.is_clean() { 0 } else { 1 })
}

/// Rolls the unique index out: prepared first (6.0+), so that no new duplicate slips in,
/// then the existing groups resolved as `--fix` says (a delete unless told), every document
/// archived in `run` first, then converted; the checked build on older servers or with
/// `--offline`.
pub(crate) async fn rollout(
    args: &Args,
    coll: &Collection<Document>,
    index: &UniqueIndex,
    run: &Run,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<u8, Failure> {
    let (resolve, archive) = resolution::rollout(args, index, run);
    let mut rollout = rollout_unique_index(coll, index, resolve)
        .online(!args.offline)
        .batch_size(args.batch_size)
        .throttle(Duration::from_millis(args.throttle_ms))
        .null_keys(args.null_keys);
    if let Some(archive) = archive {
        rollout = rollout.archive(archive);
    }
    let done = rollout
        .on_progress(|p| {
            let _ = writeln!(
                err,
                "{:?}: {} groups, {} removed, {} changed",
                p.step(),
                p.groups(),
                p.removed(),
                p.changed()
            );
        })
        .await?;
    let removal = done.removal();
    writeln!(
        out,
        "unique index {} rolled out ({}, started from {:?}): {} duplicate groups resolved, {} documents removed, {} changed",
        done.index(),
        if done.is_online() { "online" } else { "checked build" },
        done.started_from(),
        removal.groups(),
        removal.removed(),
        removal.changed()
    )?;
    if removal.removed() + removal.changed() > 0 {
        writeln!(
            out,
            "{}",
            run.told(removal.archived(), "drop the unique index, then ")
        )?;
    }
    Ok(0)
}
