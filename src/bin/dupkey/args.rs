//! The command line, read into [`Args`].

use mongodb::bson::{Bson, Document};
use mongodb::options::Collation;
use serde::Deserialize;

pub const USAGE: &str = "\
usage: dupkey [--uri URI] --db NAME --coll NAME --keys F1,F2:-1,... [INDEX] [--show N]
       dupkey [--uri URI] --db NAME --coll NAME --keys ... [INDEX] FIX [--show N] [--yes]
       dupkey [--uri URI] --db NAME --coll NAME --keys ... [INDEX] --rollout [--offline]
              [FIX] --yes
       dupkey [--uri URI] --db NAME --coll NAME --restore RUN [--archive NAME]
              [--overwrite] [--batch-size N]
       dupkey [--uri URI] --db NAME --coll NAME --check-import FILE|- [--batch-size N]
index: [--name NAME] [--collation JSON] [--partial-filter JSON] [--sparse]
fix:   --fix delete|merge|rekey (--rollout: delete unless told) [--keep oldest|newest]
       [--by FIELD] [--merge fill|union] [--rekey suffix|unset]
       [--archive NAME] [--run ID] | [--no-archive] (delete only: no undo)
       [--batch-size N] [--throttle-ms N] [--null-keys]
Groups whose key is null or missing are left alone unless --null-keys (they usually want a
sparse or partial index).
Every document deleted or changed is archived first, under a run id that --restore takes;
--restore leaves documents written since the run as they are, unless --overwrite.";

/// What the tool was asked to do.
#[derive(Debug)]
pub struct Args {
    pub uri: String,
    pub db: String,
    pub coll: String,
    /// The key pattern, `{ f1: 1, f2: -1 }`; empty when restoring.
    pub keys: Document,
    pub name: Option<String>,
    pub collation: Option<Collation>,
    pub partial_filter: Option<Document>,
    pub sparse: bool,
    pub fix: Option<Fix>,
    pub keep: KeepBy,
    pub by: String,
    pub archive: Option<String>,
    pub run: Option<String>,
    pub restore: Option<String>,
    /// Restores over documents written since the run.
    pub overwrite: bool,
    /// JSON lines (one extended-JSON document a line) to check before an import; `-` is stdin.
    pub check_import: Option<String>,
    pub rollout: bool,
    pub offline: bool,
    /// Deletes without archiving: only for a delete, and only when asked.
    pub no_archive: bool,
    /// Resolves groups whose every key field is null or missing too.
    pub null_keys: bool,
    pub yes: bool,
    pub show: usize,
    pub batch_size: usize,
    pub throttle_ms: u64,
    /// Every option given, in order, by its name: what the mode must use.
    pub given: Vec<String>,
}

/// How the others of a group are resolved.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Fix {
    Delete,
    MergeFill,
    MergeUnion,
    RekeySuffix,
    RekeyUnset,
}

impl Fix {
    /// The strategy's name, as `--fix` takes it.
    pub fn strategy(self) -> &'static str {
        match self {
            Fix::Delete => "delete",
            Fix::MergeFill | Fix::MergeUnion => "merge",
            Fix::RekeySuffix | Fix::RekeyUnset => "rekey",
        }
    }
}

/// Which document of a group survives.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum KeepBy {
    Oldest,
    Newest,
}

/// Reads the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        uri: std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into()),
        db: String::new(),
        coll: String::new(),
        keys: Document::new(),
        name: None,
        collation: None,
        partial_filter: None,
        sparse: false,
        fix: None,
        keep: KeepBy::Oldest,
        by: "_id".into(),
        archive: None,
        run: None,
        restore: None,
        overwrite: false,
        check_import: None,
        rollout: false,
        offline: false,
        no_archive: false,
        null_keys: false,
        yes: false,
        show: 20,
        batch_size: 1000,
        throttle_ms: 0,
        given: Vec::new(),
    };
    let (mut db, mut coll, mut keys, mut fix) = (None, None, None, None);
    let (mut merge, mut rekey) = ("fill".to_owned(), "suffix".to_owned());
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
            "--uri" => parsed.uri = value()?,
            "--db" => db = Some(value()?),
            "--coll" => coll = Some(value()?),
            "--keys" => keys = Some(key_pattern(&value()?)?),
            "--name" => parsed.name = Some(value()?),
            "--collation" => {
                let doc = json(name, &value()?)?;
                // Through serde, which bson 2 and bson 3 share (their `from_document`s differ).
                let collation = Collation::deserialize(mongodb::bson::Deserializer::new(
                    mongodb::bson::Bson::Document(doc),
                ))
                .map_err(|e| format!("--collation: {e}"))?;
                parsed.collation = Some(collation);
            }
            "--partial-filter" => parsed.partial_filter = Some(json(name, &value()?)?),
            "--sparse" => parsed.sparse = true,
            "--fix" => fix = Some(value()?),
            "--keep" => {
                parsed.keep = match value()?.as_str() {
                    "oldest" => KeepBy::Oldest,
                    "newest" => KeepBy::Newest,
                    other => return Err(format!("--keep: unknown choice {other:?}")),
                }
            }
            "--by" => parsed.by = value()?,
            "--merge" => merge = value()?,
            "--rekey" => rekey = value()?,
            "--archive" => parsed.archive = Some(value()?),
            "--run" => parsed.run = Some(value()?),
            "--restore" => parsed.restore = Some(value()?),
            "--overwrite" => parsed.overwrite = true,
            "--check-import" => parsed.check_import = Some(value()?),
            "--rollout" => parsed.rollout = true,
            "--offline" => parsed.offline = true,
            "--no-archive" => parsed.no_archive = true,
            "--null-keys" => parsed.null_keys = true,
            "--yes" => parsed.yes = true,
            "--show" => parsed.show = number(name, &value()?)?,
            "--batch-size" => parsed.batch_size = number(name, &value()?)?,
            "--throttle-ms" => parsed.throttle_ms = number(name, &value()?)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
        parsed.given.push(name.to_owned());
    }
    parsed.db = db.ok_or("--db is required")?;
    parsed.coll = coll.ok_or("--coll is required")?;
    if parsed.restore.is_some() || parsed.check_import.is_some() {
        return Ok(parsed);
    }
    parsed.keys = keys.ok_or("--keys is required")?;
    parsed.fix = match fix.as_deref() {
        None => None,
        Some("delete") => Some(Fix::Delete),
        Some("merge") => Some(match merge.as_str() {
            "fill" => Fix::MergeFill,
            "union" => Fix::MergeUnion,
            other => return Err(format!("--merge: unknown rule {other:?}")),
        }),
        Some("rekey") => Some(match rekey.as_str() {
            "suffix" => Fix::RekeySuffix,
            "unset" => Fix::RekeyUnset,
            other => return Err(format!("--rekey: unknown rule {other:?}")),
        }),
        Some(other) => return Err(format!("--fix: unknown strategy {other:?}")),
    };
    Ok(parsed)
}

/// Refuses an option the mode does not use (or two that conflict), so that nothing the
/// user asked for is silently ignored: one line, for exit status 2.
pub fn refuse_unused(args: &Args) -> Result<(), String> {
    const COMMON: &[&str] = &["--uri", "--db", "--coll"];
    const INDEX: &[&str] = &[
        "--keys",
        "--name",
        "--collation",
        "--partial-filter",
        "--sparse",
    ];
    const RESOLVE: &[&str] = &[
        "--fix",
        "--keep",
        "--by",
        "--archive",
        "--run",
        "--batch-size",
        "--throttle-ms",
        "--null-keys",
        "--yes",
    ];
    let resolution = |fix: Fix| -> Vec<&'static str> {
        let mut used = [INDEX, RESOLVE].concat();
        used.push(match fix {
            Fix::Delete => "--no-archive",
            Fix::MergeFill | Fix::MergeUnion => "--merge",
            Fix::RekeySuffix | Fix::RekeyUnset => "--rekey",
        });
        used
    };
    let (mode, used) = if args.restore.is_some() {
        (
            "--restore".to_owned(),
            vec!["--restore", "--archive", "--overwrite", "--batch-size"],
        )
    } else if args.check_import.is_some() {
        (
            "--check-import".to_owned(),
            vec!["--check-import", "--batch-size"],
        )
    } else if args.rollout {
        let fix = args.fix.unwrap_or(Fix::Delete);
        let mut used = resolution(fix);
        used.extend(["--rollout", "--offline"]);
        (format!("--rollout --fix {}", fix.strategy()), used)
    } else if let Some(fix) = args.fix {
        let mut used = resolution(fix);
        used.push("--show");
        (format!("--fix {}", fix.strategy()), used)
    } else {
        (
            "a search (no --fix or --rollout)".to_owned(),
            [INDEX, &["--show"]].concat(),
        )
    };
    let unused = args
        .given
        .iter()
        .find(|flag| !COMMON.contains(&flag.as_str()) && !used.contains(&flag.as_str()));
    if let Some(flag) = unused {
        return Err(format!("{flag} is not used with {mode}"));
    }
    if args.no_archive {
        if let Some(flag) = args
            .given
            .iter()
            .find(|flag| matches!(flag.as_str(), "--archive" | "--run"))
        {
            return Err(format!("--no-archive conflicts with {flag}"));
        }
    }
    Ok(())
}

/// `email,created:-1` -> `{ email: 1, created: -1 }`.
fn key_pattern(text: &str) -> Result<Document, String> {
    let mut keys = Document::new();
    for part in text.split(',') {
        let (field, direction) = match part.rsplit_once(':') {
            Some((field, "1")) => (field, 1),
            Some((field, "-1")) => (field, -1),
            Some(_) => return Err(format!("--keys: direction of {part:?} must be 1 or -1")),
            None => (part, 1),
        };
        if keys.insert(field, direction).is_some() {
            return Err(format!("--keys: {field:?} is listed twice"));
        }
    }
    Ok(keys)
}

/// A JSON (extended JSON) object as a document.
pub fn json(option: &str, text: &str) -> Result<Document, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{option}: {e}"))?;
    match Bson::try_from(value) {
        Ok(Bson::Document(doc)) => Ok(doc),
        Ok(_) => Err(format!("{option}: a JSON object is expected")),
        Err(e) => Err(format!("{option}: {e}")),
    }
}

fn number<T: std::str::FromStr>(option: &str, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{option} needs a number"))
}
