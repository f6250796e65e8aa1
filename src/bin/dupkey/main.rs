//! `dupkey`: find the duplicates that block a unique index, resolve them (delete, merge or
//! re-key, every changed document archived first), build the index, verify; or restore a
//! run from its archive.
//!
//! ```text
//! cargo install dupkey --features cli
//! dupkey --uri mongodb+srv://... --db shop --coll users --keys tenant,email
//! dupkey ... --keys email --collation '{"locale":"en","strength":2}' --fix merge --merge union
//! dupkey ... --keys email --fix delete --yes
//! dupkey ... --keys email --rollout --fix merge --merge union --yes
//! dupkey ... --restore dupkey-1764600000-4242 [--overwrite]
//! ```
//!
//! Every document a fix or a rollout deletes or changes is archived first, under a run id
//! (`--run`, else a new one) that the report prints and `--restore` takes; a delete skips
//! the archive only with `--no-archive`. An option the mode does not use is refused (exit
//! status 2), never ignored. Without `--yes`, a fix is a dry run. Progress goes to stderr
//! (a bar on a terminal, plain lines otherwise), the report to stdout.
//!
//! `--restore` puts back only documents still as the run left them: one written since (by
//! the application, say) is left as it is and reported, unless `--overwrite` puts the
//! archived version back over it. Documents left out (written since, or refused by the
//! server) are summed up in a few lines, with the first `_id`s and what to do.
//!
//! Exit status: 0 when nothing is left to do (no duplicates; after `--fix ... --yes`, the
//! index is built and verified; after `--restore`, every document restored), 3 when
//! findings remain (duplicates found or left by a dry run; documents a restore left out),
//! 2 for a usage error, 1 for any other error (an existing index in the way, or a run id
//! the archive does not hold, included).

mod args;
mod modes;
mod progress;
mod resolution;
mod restore;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use args::{Args, USAGE};
use dupkey::dedupe::{
    create_unique_index, find_duplicates, verify, DedupeError, DuplicateGroup, UniqueIndex,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;
use progress::Display;

pub(crate) type Failure = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let terminal = std::io::stderr().is_terminal();
    let status = runtime.block_on(run(
        &args,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        terminal,
    ));
    ExitCode::from(status)
}

/// Runs the tool; returns the exit status.
async fn run(
    args: &[String],
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    terminal: bool,
) -> u8 {
    let args = match args::parse(args) {
        Ok(args) => args,
        Err(problem) => {
            let _ = writeln!(err, "{problem}\n{USAGE}");
            return 2;
        }
    };
    if let Err(problem) = args::refuse_unused(&args) {
        let _ = writeln!(err, "{problem}");
        return 2;
    }
    match dispatch(&args, out, err, terminal).await {
        Ok(status) => status,
        Err(problem) => {
            let _ = writeln!(err, "error: {problem}");
            let mut source = std::error::Error::source(&*problem);
            while let Some(cause) = source {
                let _ = writeln!(err, "  caused by: {cause}");
                source = cause.source();
            }
            1
        }
    }
}

async fn dispatch(
    args: &Args,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    terminal: bool,
) -> Result<u8, Failure> {
    let client = mongodb::Client::with_uri_str(&args.uri).await?;
    let db = client.database(&args.db);
    let coll = db.collection::<Document>(&args.coll);
    if let Some(run) = &args.restore {
        return restore::restore(args, &db, &coll, run, out, err).await;
    }
    if let Some(file) = &args.check_import {
        return modes::check_import(&coll, file, args.batch_size, out, err).await;
    }
    let mut index = UniqueIndex::from_keys(args.keys.clone()).with_sparse(args.sparse);
    if let Some(name) = &args.name {
        index = index.with_name(name.clone());
    }
    if let Some(collation) = &args.collation {
        index = index.with_collation(collation.clone());
    }
    if let Some(filter) = &args.partial_filter {
        index = index.with_partial_filter(filter.clone());
    }
    let ns = format!("{}.{}", args.db, args.coll);
    let keys = index.fields().collect::<Vec<_>>().join(", ");
    if args.rollout {
        if !args.yes {
            writeln!(err, "error: --rollout writes to {ns}: add --yes")?;
            return Ok(2);
        }
        let run = resolution::Run::new(args, &db);
        return modes::rollout(args, &coll, &index, &run, out, err).await;
    }
    // An index in the way is refused before anything is written.
    let built = if args.yes {
        match index_in_the_way(&coll, &index).await? {
            Ok(built) => built,
            Err(problem) => {
                writeln!(err, "error: {problem}")?;
                return Ok(1);
            }
        }
    } else {
        None
    };

    // 1. Find, keeping the largest groups for the table.
    let (groups, documents, top) = scan(&coll, &index, args.show, terminal, err).await?;
    if groups == 0 {
        writeln!(out, "no duplicates in {ns} on {keys}")?;
    } else {
        writeln!(
            out,
            "{groups} duplicate groups in {ns} on {keys}: {documents} documents, {} to resolve",
            documents - groups
        )?;
        writeln!(out, "{:>6}  {:<40}  IDS", "COUNT", "KEY")?;
        for group in &top {
            writeln!(
                out,
                "{:>6}  {:<40}  {}",
                group.count(),
                group.key().to_string(),
                short_list(group.ids(), group.count())
            )?;
        }
        if groups > top.len() as u64 {
            writeln!(out, "... and {} more groups", groups - top.len() as u64)?;
        }
    }
    let Some(fix) = args.fix else {
        return Ok(if groups == 0 { 0 } else { 3 });
    };

    // 2. Resolve (or plan to).
    if groups > 0 {
        let run = resolution::Run::new(args, &db);
        let resolve = resolution::fix(args, fix, &coll, &index, &run);
        let mut plan = Vec::new();
        let show = args.show;
        let mut display = Display::fix(terminal, groups);
        let report = {
            let err = &mut *err;
            resolve
                .dry_run(!args.yes)
                .null_keys(args.null_keys)
                .batch_size(args.batch_size)
                .throttle(Duration::from_millis(args.throttle_ms))
                .on_progress(move |p| display.show(p, err))
                .on_group(|r| {
                    if plan.len() < show {
                        plan.push((
                            r.key().to_string(),
                            r.survivor().clone(),
                            r.removed().to_vec(),
                            r.changed().to_vec(),
                        ));
                    }
                })
                .await?
        };
        if !args.yes {
            writeln!(
                out,
                "dry run: would delete {} and change {} documents in {} groups",
                report.removed(),
                report.changed(),
                report.groups()
            )?;
            writeln!(
                out,
                "{:<40}  {:<10}  {:<20}  CHANGE",
                "KEY", "KEEP", "DELETE"
            )?;
            plan.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, survivor, removed, changed) in &plan {
                let line = format!(
                    "{key:<40}  {:<10}  {:<20}  {}",
                    survivor.to_string(),
                    short_list(removed, removed.len() as u64),
                    short_list(changed, changed.len() as u64)
                );
                writeln!(out, "{}", line.trim_end())?;
            }
            if let Some(line) = left_alone(&report) {
                writeln!(out, "{line}")?;
            }
            writeln!(
                out,
                "pass --yes to resolve them, build the index and verify"
            )?;
            return Ok(3);
        }
        writeln!(
            out,
            "deleted {} and changed {} documents in {} groups; {}",
            report.removed(),
            report.changed(),
            report.groups(),
            run.told(report.archived(), ""),
        )?;
        if let Some(line) = left_alone(&report) {
            writeln!(out, "{line}")?;
            writeln!(out, "not building the index while groups are left")?;
            return Ok(3);
        }
    } else if !args.yes {
        writeln!(out, "pass --yes to build the index and verify")?;
        return Ok(0);
    }

    // 3. Build, then verify.
    let name = match built {
        Some(name) => name,
        None => match create_unique_index(&coll, &index).await {
            Ok(name) => name,
            Err(DedupeError::Duplicates { total, .. }) => {
                writeln!(
                    out,
                    "{total} duplicate groups appeared meanwhile; run again"
                )?;
                return Ok(3);
            }
            Err(other) => return Err(other.into()),
        },
    };
    writeln!(out, "built unique index {name}")?;
    let check = verify(&coll, &index).await?;
    if check.is_verified() {
        writeln!(out, "verified: no duplicates, unique index {name} present")?;
        Ok(0)
    } else {
        writeln!(
            out,
            "NOT verified: {} duplicate groups, index {:?}",
            check.duplicate_groups(),
            check.index()
        )?;
        Ok(3)
    }
}

/// Streams the groups; their count, their documents, and the `show` largest (largest
/// first, then by key).
async fn scan(
    coll: &Collection<Document>,
    index: &UniqueIndex,
    show: usize,
    terminal: bool,
    err: &mut (dyn Write + Send),
) -> Result<(u64, u64, Vec<DuplicateGroup>), Failure> {
    let mut display = Display::scan(terminal);
    let mut stream = find_duplicates(coll, index)
        .max_ids_per_group(3)
        .on_progress(move |p| display.show(p, err))
        .await?;
    // A min-heap of the largest so far: the smallest of them is dropped first.
    let mut top: BinaryHeap<Reverse<Ranked>> = BinaryHeap::new();
    let (mut groups, mut documents) = (0u64, 0u64);
    while let Some(group) = stream.try_next().await? {
        groups += 1;
        documents += group.count();
        if show == 0 {
            continue;
        }
        top.push(Reverse(Ranked::new(group)));
        if top.len() > show {
            top.pop();
        }
    }
    let mut top: Vec<Ranked> = top.into_iter().map(|Reverse(r)| r).collect();
    top.sort_by(|a, b| b.cmp(a));
    Ok((
        groups,
        documents,
        top.into_iter().map(|r| r.group).collect(),
    ))
}

/// A group ranked by size, then (for a stable table) by its key's text, smaller first.
struct Ranked {
    count: u64,
    key: Reverse<String>,
    group: DuplicateGroup,
}

impl Ranked {
    fn new(group: DuplicateGroup) -> Self {
        Ranked {
            count: group.count(),
            key: Reverse(group.key().to_string()),
            group,
        }
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        (self.count, &self.key) == (other.count, &other.key)
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.count, &self.key).cmp(&(other.count, &other.key))
    }
}

/// `Ok(Some(name))` when the wanted index already exists, `Ok(None)` when nothing is in its
/// way, `Err(problem)` when an index of the same name or key has other options.
async fn index_in_the_way(
    coll: &Collection<Document>,
    index: &UniqueIndex,
) -> Result<Result<Option<String>, String>, Failure> {
    let names = coll
        .client()
        .database(&coll.namespace().db)
        .list_collection_names()
        .filter(doc! { "name": &coll.namespace().coll })
        .await?;
    if names.is_empty() {
        return Ok(Ok(None));
    }
    let check = verify(coll, index).await?;
    if let Some(name) = check.index() {
        return Ok(Ok(Some(name.to_owned())));
    }
    let wanted_name = index
        .name()
        .map_or_else(|| default_name(index.keys()), str::to_owned);
    if let Some(name) = check.in_the_way() {
        let why = if name == wanted_name { "name" } else { "key" };
        return Ok(Err(format!(
            "index {name:?} already exists with the same {why} and other options \
             (unique, collation, partial filter or sparse); building {wanted_name:?} would \
             fail or leave the wrong index in place. Drop it, or pass --name and the \
             options it has (--collation, --partial-filter, --sparse)"
        )));
    }
    Ok(Ok(None))
}

/// The server's default name: `email_1_created_-1`.
fn default_name(keys: &Document) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|(field, direction)| format!("{field}_{}", direction_of(direction)))
        .collect();
    parts.join("_")
}

fn direction_of(direction: &Bson) -> i64 {
    match direction {
        Bson::Int32(d) => i64::from(*d),
        Bson::Int64(d) => *d,
        Bson::Double(d) if *d < 0.0 => -1,
        _ => 1,
    }
}

/// The groups a run left alone, and why, when there are any.
fn left_alone(report: &dupkey::dedupe::Report) -> Option<String> {
    let null = report.null_key_groups();
    let changed = report.skipped().len() as u64 - null;
    let mut parts = Vec::new();
    if null > 0 {
        parts.push(format!(
            "{null} groups without the key (a sparse or partial index leaves them out; --null-keys resolves them)"
        ));
    }
    if changed > 0 {
        parts.push(format!(
            "{changed} groups whose survivor another writer changed meanwhile (run again)"
        ));
    }
    (!parts.is_empty()).then(|| format!("left alone: {}", parts.join("; ")))
}

/// `1, 2, 3 (+4 more)`.
fn short_list(ids: &[Bson], count: u64) -> String {
    let shown: Vec<String> = ids.iter().take(3).map(Bson::to_string).collect();
    let more = count.saturating_sub(shown.len() as u64);
    if more == 0 {
        shown.join(", ")
    } else {
        format!("{} (+{more} more)", shown.join(", "))
    }
}
