//! How the tool resolves the groups it finds, for a fix and a rollout alike: the survivor
//! (`--keep`, `--by`), the strategy (`--fix`, `--merge`, `--rekey`) and the run's archive,
//! which every deleted or changed document goes to first. A delete skips the archive only
//! with `--no-archive`; merge and re-key always archive.

use dupkey::dedupe::{
    merge_duplicates, rekey_duplicates, remove_duplicates, Archive, Keep, Merge, Rekey, Resolve,
    ResolveDuplicates, UniqueIndex,
};
use mongodb::bson::{doc, Bson, Document};
use mongodb::{Collection, Database};

use crate::args::{Args, Fix, KeepBy};

/// Where a run archives, and under which id.
pub(crate) struct Run {
    archive: Archive,
    /// `<db>.<archive collection>`.
    namespace: String,
    id: String,
    /// ` --archive NAME` when the archive was named, so the undo hint finds the run.
    named_archive: String,
    /// `false` with `--no-archive` (a delete only).
    archived: bool,
}

impl Run {
    /// The archive collection (`--archive`, else `<coll>_dupkey_archive`) and the run id
    /// (`--run`, else one made of the time and the process id).
    pub(crate) fn new(args: &Args, db: &Database) -> Self {
        let collection = archive_collection(args);
        let id = args.run.clone().unwrap_or_else(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("dupkey-{secs}-{}", std::process::id())
        });
        Run {
            archive: Archive::new(&db.collection::<()>(&collection), id.as_str()),
            namespace: format!("{}.{collection}", args.db),
            id,
            named_archive: args
                .archive
                .as_ref()
                .map_or_else(String::new, |name| format!(" --archive {name}")),
            archived: !args.no_archive,
        }
    }

    /// What was archived and how to undo it, or that nothing was. `undo` says what comes
    /// before `--restore`, if anything.
    pub(crate) fn told(&self, archived: u64, undo: &str) -> String {
        if self.archived {
            let id = &self.id;
            format!(
                "archived {archived} in {} as run {id} (undo: {undo}--restore {id}{})",
                self.namespace, self.named_archive
            )
        } else {
            "not archived (--no-archive): no undo".to_owned()
        }
    }
}

/// The archive collection's name: `--archive`, else `<coll>_dupkey_archive`.
pub(crate) fn archive_collection(args: &Args) -> String {
    args.archive
        .clone()
        .unwrap_or_else(|| format!("{}_dupkey_archive", args.coll))
}

/// The strategy `--fix` names, with its rule.
enum Strategy {
    Delete,
    Merge(Merge<'static>),
    Rekey(Rekey<'static>),
}

impl Strategy {
    fn new(fix: Fix, index: &UniqueIndex) -> Self {
        match fix {
            Fix::Delete => Strategy::Delete,
            Fix::MergeFill => Strategy::Merge(Merge::fill_missing()),
            Fix::MergeUnion => Strategy::Merge(Merge::union_arrays()),
            Fix::RekeyUnset => Strategy::Rekey(Rekey::unset()),
            Fix::RekeySuffix => Strategy::Rekey(suffix(index)),
        }
    }
}

fn keep(args: &Args) -> Keep<'static> {
    match args.keep {
        KeepBy::Oldest => Keep::oldest_by(args.by.clone()),
        KeepBy::Newest => Keep::newest_by(args.by.clone()),
    }
}

/// The fix: the resolve function `fix` names, archiving in `run`.
pub(crate) fn fix<'a>(
    args: &Args,
    fix: Fix,
    coll: &Collection<Document>,
    index: &'a UniqueIndex,
    run: &Run,
) -> ResolveDuplicates<'a> {
    let keep = keep(args);
    let archive = run.archive.clone();
    match Strategy::new(fix, index) {
        Strategy::Delete if run.archived => remove_duplicates(coll, index, keep).archive(archive),
        Strategy::Delete => remove_duplicates(coll, index, keep),
        Strategy::Merge(merge) => merge_duplicates(coll, index, keep, merge, archive),
        Strategy::Rekey(rekey) => rekey_duplicates(coll, index, keep, rekey, archive),
    }
}

/// The rollout's resolution (`--fix`, a delete unless told), and the archive a delete
/// takes apart.
pub(crate) fn rollout(
    args: &Args,
    index: &UniqueIndex,
    run: &Run,
) -> (Resolve<'static>, Option<Archive>) {
    let keep = keep(args);
    let archive = run.archive.clone();
    match Strategy::new(args.fix.unwrap_or(Fix::Delete), index) {
        Strategy::Delete => (Resolve::Delete(keep), run.archived.then_some(archive)),
        Strategy::Merge(merge) => (Resolve::Merge(keep, merge, archive), None),
        Strategy::Rekey(rekey) => (Resolve::Rekey(keep, rekey, archive), None),
    }
}

/// `--rekey suffix`: the last key field gets `#<_id>` appended.
fn suffix(index: &UniqueIndex) -> Rekey<'static> {
    let last_key = index
        .fields()
        .next_back()
        .map(str::to_owned)
        .unwrap_or_default();
    Rekey::with(move |doc| {
        let id = doc.get("_id").map(id_text).unwrap_or_default();
        let value = match doc.get(&last_key) {
            Some(Bson::String(s)) => s.clone(),
            Some(Bson::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        doc! { last_key.as_str(): format!("{value}#{id}") }
    })
}

/// An `_id` as text: a string as is, anything else as extended JSON.
fn id_text(id: &Bson) -> String {
    match id {
        Bson::String(s) => s.clone(),
        Bson::ObjectId(oid) => oid.to_hex(),
        other => other.to_string(),
    }
}
