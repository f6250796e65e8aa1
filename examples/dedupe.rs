//! Find the duplicates that block a unique index, clean them, build the index, verify.
//!
//! ```text
//! cargo run --example dedupe -- --db shop --coll users --keys tenant,email
//! cargo run --example dedupe -- --db shop --coll users --keys tenant,email --fix keep-oldest
//! cargo run --example dedupe -- --db shop --coll users --keys tenant,email --fix keep-oldest --yes
//! ```
//!
//! Options:
//! - `--uri URI`: the server (default `$MONGODB_URI`, else `mongodb://127.0.0.1:27017`);
//! - `--db NAME`, `--coll NAME`, `--keys F1,F2,...`: the collection and the index's key;
//! - `--fix keep-oldest|keep-newest`: keep one document per group, by `--by FIELD`
//!   (default `_id`); a dry run unless `--yes` is given;
//! - `--yes`: really delete, then build the unique index and verify it;
//! - `--show N`: table rows to print (default 20).
//!
//! Progress goes to stderr, the report to stdout. Exit status: 0 when no duplicates are
//! left (after `--fix ... --yes`, the index is built and verified), 3 when duplicates remain
//! (found, or a dry run), 2 for a usage error, 1 for any other error.
//!
//! The logic is in [`run`], which tests/dedupe_cli.rs calls with its own arguments and
//! output buffers.

use std::io::Write;
use std::process::ExitCode;

use dupkey::dedupe::{
    create_unique_index, find_duplicates, remove_duplicates, verify, DedupeError, Keep, Progress,
    UniqueIndex,
};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document};

const USAGE: &str = "usage: dedupe [--uri URI] --db NAME --coll NAME --keys F1,F2,... \
                     [--fix keep-oldest|keep-newest [--by FIELD] [--yes]] [--show N]";

/// Parsed command line.
#[derive(Debug, PartialEq)]
pub struct Args {
    uri: String,
    db: String,
    coll: String,
    keys: Vec<String>,
    fix: Option<Fix>,
    by: String,
    yes: bool,
    show: usize,
}

/// Which document each group keeps.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Fix {
    KeepOldest,
    KeepNewest,
}

/// Reads the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut uri =
        std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let (mut db, mut coll, mut keys, mut fix) = (None, None, None, None);
    let (mut by, mut yes, mut show) = ("_id".to_owned(), false, 20);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or(format!("{name} needs a value"))
        };
        match name {
            "--uri" => uri = value()?,
            "--db" => db = Some(value()?),
            "--coll" => coll = Some(value()?),
            "--keys" => keys = Some(value()?.split(',').map(str::to_owned).collect()),
            "--by" => by = value()?,
            "--show" => {
                show = value()?
                    .parse()
                    .map_err(|_| "--show needs a number".to_owned())?
            }
            "--fix" => {
                fix = Some(match value()?.as_str() {
                    "keep-oldest" => Fix::KeepOldest,
                    "keep-newest" => Fix::KeepNewest,
                    other => return Err(format!("--fix: unknown strategy {other:?}")),
                })
            }
            "--yes" => yes = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        uri,
        db: db.ok_or("--db is required")?,
        coll: coll.ok_or("--coll is required")?,
        keys: keys.ok_or("--keys is required")?,
        fix,
        by,
        yes,
        show,
    })
}

/// Runs the tool; returns the exit status.
pub async fn run(
    args: &[String],
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let args = match parse_args(args) {
        Ok(args) => args,
        Err(problem) => {
            let _ = writeln!(err, "{problem}\n{USAGE}");
            return 2;
        }
    };
    match dedupe(&args, out, err).await {
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

type Failure = Box<dyn std::error::Error + Send + Sync>;

async fn dedupe(
    args: &Args,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<u8, Failure> {
    let client = mongodb::Client::with_uri_str(&args.uri).await?;
    let coll = client.database(&args.db).collection::<Document>(&args.coll);
    let index = UniqueIndex::new(args.keys.iter().cloned());
    let namespace = format!("{}.{}", args.db, args.coll);
    let keys = args.keys.join(", ");

    // 1. Find, with a progress line, keeping the first rows for the table.
    let mut rows = Vec::new();
    let (mut groups, mut documents) = (0u64, 0u64);
    {
        let mut stream = find_duplicates(&coll, &index)
            .on_progress(|p| spinner(err, p))
            .await?;
        while let Some(group) = stream.try_next().await? {
            groups += 1;
            documents += group.count();
            if rows.len() < args.show {
                rows.push(group);
            }
        }
    }
    if groups == 0 {
        writeln!(out, "no duplicates in {namespace} on {keys}")?;
    } else {
        writeln!(
            out,
            "{groups} duplicate groups in {namespace} on {keys}: {documents} documents, {} to remove",
            documents - groups
        )?;
        rows.sort_by(|a, b| {
            b.count()
                .cmp(&a.count())
                .then_with(|| a.key().to_string().cmp(&b.key().to_string()))
        });
        writeln!(out, "{:>6}  {:<40}  IDS", "COUNT", "KEY")?;
        for group in &rows {
            writeln!(
                out,
                "{:>6}  {:<40}  {}",
                group.count(),
                group.key().to_string(),
                short_list(group.ids(), group.count())
            )?;
        }
        if groups > rows.len() as u64 {
            writeln!(out, "... and {} more groups", groups - rows.len() as u64)?;
        }
    }
    let Some(fix) = args.fix else {
        return Ok(if groups == 0 { 0 } else { 3 });
    };

    // 2. Remove (or plan to), with a progress bar over the groups found.
    if groups > 0 {
        let keep = match fix {
            Fix::KeepOldest => Keep::oldest_by(args.by.clone()),
            Fix::KeepNewest => Keep::newest_by(args.by.clone()),
        };
        let mut plan = Vec::new();
        let show = args.show;
        let report = remove_duplicates(&coll, &index, keep)
            .dry_run(!args.yes)
            .on_progress(|p| bar(err, p, groups))
            .on_group(|r| {
                if plan.len() < show {
                    plan.push((
                        r.key().to_string(),
                        r.survivor().clone(),
                        r.removed().to_vec(),
                    ));
                }
            })
            .await?;
        if !args.yes {
            plan.sort_by(|a, b| a.0.cmp(&b.0));
            writeln!(
                out,
                "dry run: would delete {} documents in {} groups",
                report.removed(),
                report.groups()
            )?;
            writeln!(out, "{:<40}  {:<10}  DELETE", "KEY", "KEEP")?;
            for (key, survivor, removed) in &plan {
                writeln!(
                    out,
                    "{key:<40}  {:<10}  {}",
                    survivor.to_string(),
                    short_list(removed, removed.len() as u64)
                )?;
            }
            writeln!(out, "pass --yes to delete them, build the index and verify")?;
            return Ok(3);
        }
        writeln!(
            out,
            "deleted {} documents in {} groups",
            report.removed(),
            report.groups()
        )?;
    } else if !args.yes {
        writeln!(out, "pass --yes to build the index and verify")?;
        return Ok(0);
    }

    // 3. Build, then verify.
    let name = match create_unique_index(&coll, &index).await {
        Ok(name) => name,
        Err(DedupeError::Duplicates { total, .. }) => {
            writeln!(
                out,
                "{total} duplicate groups appeared meanwhile; run again"
            )?;
            return Ok(3);
        }
        Err(other) => return Err(other.into()),
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

/// `\rscanning: 1200 groups, 3000 documents`, every 100 groups and at the end.
fn spinner(err: &mut (dyn Write + Send), p: &Progress) {
    if p.finished() || p.groups().is_multiple_of(100) {
        let _ = write!(
            err,
            "\rscanning: {} groups, {} documents",
            p.groups(),
            p.documents()
        );
        if p.finished() {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

/// `\r[##########..........]  50% 500/1000 groups, 1234 removed`, when the percentage moves.
fn bar(err: &mut (dyn Write + Send), p: &Progress, total: u64) {
    let percent_at = |groups: u64| (groups.min(total) * 100).checked_div(total).unwrap_or(100);
    let percent = percent_at(p.groups()) as usize;
    let previous = p.groups().checked_sub(1).map(|g| percent_at(g) as usize);
    if p.finished() || previous != Some(percent) {
        let filled = percent / 5;
        let _ = write!(
            err,
            "\r[{}{}] {percent:>3}% {}/{total} groups, {} removed",
            "#".repeat(filled),
            ".".repeat(20 - filled),
            p.groups(),
            p.removed()
        );
        if p.finished() {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

#[allow(dead_code)] // tests/dedupe_cli.rs includes this file for `run` only
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let status = runtime.block_on(run(&args, &mut std::io::stdout(), &mut std::io::stderr()));
    ExitCode::from(status)
}
