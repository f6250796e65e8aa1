//! `--restore`: puts a run's documents back, then says what it left out and what to do about
//! it, in a few lines however many documents are left out (the smallest `_id`s and a count).
//!
//! Left out are the documents written since the run (conflicts: the application's newer
//! write wins unless `--overwrite`) and those the server refused (a unique index built
//! since, a validator). Either makes the exit status 3; a run id the archive does not hold
//! is an error (1), in one line.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io::Write;

use dupkey::dedupe::{restore as put_back, Archive, DedupeError, RestoreRefusal};
use mongodb::bson::{Bson, Document};
use mongodb::{Collection, Database};

use crate::args::Args;
use crate::{resolution, short_list, Failure};

/// Restores run `run` into `coll` and reports it. Exit status 0 when nothing was left out,
/// 3 when something was, 1 for an unknown run id.
pub(crate) async fn restore(
    args: &Args,
    db: &Database,
    coll: &Collection<Document>,
    run: &str,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<u8, Failure> {
    let archive_name = resolution::archive_collection(args);
    let archive = Archive::new(&db.collection::<()>(&archive_name), run);
    let back = match put_back(coll, &archive)
        .batch_size(args.batch_size)
        .overwrite(args.overwrite)
        .await
    {
        Ok(back) => back,
        Err(DedupeError::UnknownRun { .. }) => {
            writeln!(
                err,
                "error: {}.{archive_name} holds no run {run:?}: check the run id, and --archive \
                 if the run archived elsewhere",
                args.db
            )?;
            return Ok(1);
        }
        Err(other) => return Err(other.into()),
    };
    writeln!(
        out,
        "restored {} documents of run {run} from {}.{archive_name} ({} already as archived)",
        back.restored(),
        args.db,
        back.unchanged()
    )?;
    // The command that runs this restore again, as the user gave it.
    let again = match &args.archive {
        Some(name) => format!("--restore {run} --archive {name}"),
        None => format!("--restore {run}"),
    };
    let conflicts = back.conflicts();
    if !conflicts.is_empty() {
        writeln!(
            out,
            "{} documents changed since the run, left as they are: {}",
            conflicts.len(),
            short_list(&first_ids(conflicts.iter()), conflicts.len() as u64)
        )?;
        writeln!(
            out,
            "to put the archived versions back over those newer writes: {again} --overwrite"
        )?;
    }
    for (cause, ids) in by_cause(back.refused()) {
        let listed = short_list(&first_ids(ids.iter().copied()), ids.len() as u64);
        let line = match &cause {
            Cause::Index(name) => format!(
                "{} refused as duplicates on unique index {name}: {listed}; drop index {name}, \
                 then {again}",
                ids.len()
            ),
            Cause::Duplicate => format!(
                "{} refused as duplicates on a unique index: {listed}; drop that index, then \
                 {again}",
                ids.len()
            ),
            Cause::Code(code) => format!("{} refused with code {code}: {listed}", ids.len()),
        };
        writeln!(out, "{line}")?;
    }
    Ok(if conflicts.is_empty() && back.refused().is_empty() {
        0
    } else {
        3
    })
}

/// Why the server refused a document, as the report groups refusals.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    /// A duplicate on the named unique index.
    Index(String),
    /// A duplicate whose index the server's message did not name (or had no message).
    Duplicate,
    /// Any other refusal, by its code.
    Code(i32),
}

/// The refusals' `_id`s by cause.
fn by_cause(refused: &[RestoreRefusal]) -> BTreeMap<Cause, Vec<&Bson>> {
    let mut causes: BTreeMap<Cause, Vec<&Bson>> = BTreeMap::new();
    for refusal in refused {
        let cause = match refusal.duplicate().and_then(|dup| dup.index()) {
            Some(name) => Cause::Index(name.to_owned()),
            None if refusal.is_duplicate() => Cause::Duplicate,
            None => Cause::Code(refusal.code()),
        };
        causes.entry(cause).or_default().push(refusal.id());
    }
    causes
}

/// The three smallest `_id`s (as [`short_list`] shows them), so that the report is the same
/// whatever order the archive gives them in.
fn first_ids<'a>(ids: impl Iterator<Item = &'a Bson>) -> Vec<Bson> {
    let mut first: Vec<&Bson> = Vec::with_capacity(4);
    for id in ids {
        let at = first.partition_point(|shown| id_order(shown, id).is_le());
        if at < 3 {
            first.insert(at, id);
            first.truncate(3);
        }
    }
    first.into_iter().cloned().collect()
}

/// Numbers by value, then strings, then anything else by its text (an ObjectId's hex
/// sorts as its bytes).
fn id_order(a: &Bson, b: &Bson) -> Ordering {
    fn number(id: &Bson) -> Option<f64> {
        match id {
            Bson::Int32(n) => Some(f64::from(*n)),
            // Precision past 2^53 only matters for ties in a preview.
            Bson::Int64(n) => Some(*n as f64),
            Bson::Double(n) => Some(*n),
            _ => None,
        }
    }
    fn rank(id: &Bson) -> u8 {
        match id {
            Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) => 0,
            Bson::String(_) => 1,
            _ => 2,
        }
    }
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Bson::String(a), Bson::String(b)) => a.cmp(b),
        _ => match (number(a), number(b)) {
            (Some(a), Some(b)) => a.total_cmp(&b),
            _ => a.to_string().cmp(&b.to_string()),
        },
    })
}
