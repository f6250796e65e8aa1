//! The run behind [`ResolveDuplicates`]: groups in, batches of archive, update and delete
//! commands out.
//!
//! Per batch of groups (about `batch_size` documents, ten times that with an archive), in
//! this order:
//! 1. read the documents (when anything needs them) and what the run already archived of
//!    them: the archived version is the original;
//! 2. pick each survivor, plan each change from the originals (or repeat the change the
//!    archive recorded);
//! 3. archive what is not archived yet, then update (merged survivors, re-keyed others),
//!    then delete; meanwhile the next batch's documents are read (step 1 of the next batch),
//!    so a run costs about its writes alone.
//!
//! Documents stay as the server's bytes: the archive copies them, and only a merge, a re-key
//! or a survivor by content parses them.
//!
//! A merged survivor is archived with its replacement and replaced before any other
//! document of its group is deleted, so a re-run that finds part of a group gone still has
//! the merge of the whole group to repeat.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use futures_util::future::try_join;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::{Collation, DeleteOptions};
use mongodb::Collection;

use super::archive::{id_key, Archived};
use super::keep::Strategy;
use super::plan::{Delete, Plan, Planned};
use super::report::{SkipReason, Skipped};
use super::resolve::{Action, ResolveDuplicates};
use super::step_down;
use super::update;
use super::{DedupeError, DuplicateGroup, DuplicateGroups, Progress, Report};

/// Write batches planned (and archived) together: each write command waits for its write
/// concern, so archiving costs one insert per this many deletes, not one per delete.
const ARCHIVED_BATCHES: usize = 10;

impl<'a> ResolveDuplicates<'a> {
    pub(crate) async fn run(mut self) -> Result<Report, DedupeError> {
        if self.batch_size == 0 {
            return Err(DedupeError::ZeroLimit {
                option: "batch_size",
            });
        }
        self.index.validate()?;
        if let Action::Rekey(rekey) = &self.action {
            rekey.check(self.index)?;
        }
        let sort = self.keep.sort_key();
        let whole_groups = sort.is_none() || !matches!(self.action, Action::Delete);
        let fresh = match &self.archive {
            Some(archive) if !self.dry_run => archive.prepare().await?,
            Some(archive) => archive.is_fresh().await?,
            None => true,
        };
        let mut report = Report {
            dry_run: self.dry_run,
            ..Report::default()
        };
        let mut progress = Progress::default();
        loop {
            let mut groups =
                DuplicateGroups::open(&self.collection, self.index, self.max_ids, sort.clone())
                    .await?;
            report.passes += 1;
            let written_before = (report.removed, report.changed);
            let mut more = false;
            let (mut pending, mut pending_ids) = (Vec::new(), 0);
            let mut ready = None;
            while let Some(group) = groups.try_next().await? {
                if !self.null_keys && group.key.values().all(|v| *v == Bson::Null) {
                    // Reported once, though each pass meets it again.
                    if report.null_key_groups() == 0 {
                        report.skipped.push(Skipped {
                            key: group.key,
                            count: group.count,
                            survivor: None,
                            reason: SkipReason::NullKey,
                        });
                    }
                    continue;
                }
                if !group.is_complete() {
                    if whole_groups {
                        return Err(DedupeError::GroupTooLarge {
                            count: group.count,
                            limit: self.max_ids,
                        });
                    }
                    more = true;
                }
                pending_ids += group.ids.len();
                pending.push(group);
                if pending_ids >= self.planned_documents() {
                    let batch = std::mem::take(&mut pending);
                    pending_ids = 0;
                    ready = self
                        .step(ready, batch, fresh, &mut report, &mut progress)
                        .await?;
                }
            }
            ready = self
                .step(ready, pending, fresh, &mut report, &mut progress)
                .await?;
            self.step(ready, Vec::new(), fresh, &mut report, &mut progress)
                .await?;
            // A larger group than the id limit: go again, while that makes progress.
            if self.dry_run || !more || (report.removed, report.changed) == written_before {
                break;
            }
        }
        progress.removed = report.removed;
        progress.changed = report.changed;
        progress.finished = true;
        self.report(&progress);
        Ok(report)
    }

    fn report(&mut self, progress: &Progress) {
        if let Some(callback) = &mut self.on_progress {
            callback(progress);
        }
    }

    /// How many documents a batch plans: `batch_size`, or with an archive, that many
    /// times [`ARCHIVED_BATCHES`], so that one archive insert serves several write batches.
    fn planned_documents(&self) -> usize {
        match self.archive {
            Some(_) => self.batch_size.saturating_mul(ARCHIVED_BATCHES),
            None => self.batch_size,
        }
    }

    /// Whether a group's documents must be read: to archive them, merge or re-key them, let
    /// the caller compare them, or learn each one's own key under a collation.
    fn reads_documents(&self) -> bool {
        self.archive.is_some()
            || !matches!(self.action, Action::Delete)
            || matches!(self.keep.inner, Strategy::Prefer(_))
            || self.collated()
    }

    /// Plans and writes the batch `ready` while the next batch's documents are read: the
    /// two batches hold other groups, so none of the writes touches what is read. Returns
    /// the next batch, read.
    async fn step(
        &mut self,
        ready: Option<Fetched>,
        next: Vec<DuplicateGroup>,
        fresh: bool,
        report: &mut Report,
        progress: &mut Progress,
    ) -> Result<Option<Fetched>, DedupeError> {
        let next = (!next.is_empty()).then(|| self.fetch(next, fresh));
        let next = async move {
            match next {
                Some(fetch) => fetch.await.map(Some),
                None => Ok(None),
            }
        };
        let Some(ready) = ready else {
            return next.await;
        };
        let plan = self.plan(ready, report, progress).await?;
        if self.dry_run {
            return next.await;
        }
        let ((), next) = try_join(self.write(plan, report, progress), next).await?;
        Ok(next)
    }

    /// Reads what planning `groups` needs: their documents (when anything reads them) and,
    /// on a run that archived before, what it archived of them. Owns what it uses, so it
    /// runs beside a write.
    fn fetch(
        &self,
        groups: Vec<DuplicateGroup>,
        fresh: bool,
    ) -> impl Future<Output = Result<Fetched, DedupeError>> + Send + 'static {
        let wanted = self.reads_documents().then(|| self.wanted(&groups));
        let collection = self.collection.clone();
        let archive = self.archive.clone().filter(|_| !fresh);
        let batch_size = self.batch_size;
        async move {
            let Some(wanted) = wanted else {
                return Ok(Fetched {
                    groups,
                    current: Documents::default(),
                    archived: HashMap::new(),
                });
            };
            let current = read(&collection, &wanted, batch_size).await?;
            let archived = match archive {
                Some(archive) => archive.lookup(&wanted).await?,
                None => HashMap::new(),
            };
            Ok(Fetched {
                groups,
                current,
                archived,
            })
        }
    }

    /// Plans one batch of groups, calling the caller's callbacks group by group.
    async fn plan(
        &mut self,
        fetched: Fetched,
        report: &mut Report,
        progress: &mut Progress,
    ) -> Result<Plan, DedupeError> {
        let Fetched {
            groups,
            current,
            archived,
        } = fetched;
        let reads = self.reads_documents();
        let mut plan = Plan::default();
        let skipped_before = plan.skipped.len();
        for group in groups {
            let resolution = if reads {
                self.plan_documents(group, &current, &archived, &mut plan)
                    .await?
            } else {
                self.plan_ids(group, &mut plan)?
            };
            let Some(resolution) = resolution else {
                continue;
            };
            if let Some(callback) = &mut self.on_group {
                callback(&resolution);
            }
            report.groups += 1;
            progress.groups += 1;
            progress.documents += resolution.count;
            if self.dry_run {
                report.removed += resolution.removed.len() as u64;
                report.changed += resolution.changed.len() as u64;
                progress.removed = report.removed;
                progress.changed = report.changed;
            }
            self.report(progress);
        }
        report.skipped.extend(plan.skipped.drain(skipped_before..));
        Ok(plan)
    }

    /// The `_id`s whose documents a batch reads: for a plain delete with the survivor
    /// known and no collation, only the others.
    fn wanted(&self, groups: &[DuplicateGroup]) -> Vec<Bson> {
        let skip_survivor = !self.reads_survivor();
        groups
            .iter()
            .flat_map(|g| {
                g.ids
                    .iter()
                    .filter(move |id| !(skip_survivor && g.keep.as_ref() == Some(*id)))
            })
            .cloned()
            .collect()
    }

    /// Archive, then merged survivors, then, chunk by chunk, a check of the chunk's
    /// survivors and the re-keys or deletes of the groups whose survivor passed.
    async fn write(
        &mut self,
        plan: Plan,
        report: &mut Report,
        progress: &mut Progress,
    ) -> Result<(), DedupeError> {
        let Plan {
            entries,
            merges,
            rekeys,
            deletes,
            guards,
            groups,
            ..
        } = plan;
        if let Some(archive) = &self.archive {
            if !entries.is_empty() {
                let faults = &mut self.faults;
                report.archived += archive
                    .write(entries, self.collection.write_concern(), || {
                        faults.before_write()
                    })
                    .await?;
                pause(self.throttle).await;
            }
        }
        self.update(merges, report, progress).await?;
        let mut skipped = vec![false; groups.len()];
        for chunk in rekeys.chunks(self.batch_size) {
            let asked = chunk.iter().map(|(_, g)| *g);
            confirm(&self.collection, &groups, asked, &mut skipped, report).await?;
            let statements = chunk
                .iter()
                .filter(|(_, g)| !skipped[*g])
                .map(|(statement, _)| statement.clone())
                .collect();
            self.update(statements, report, progress).await?;
        }
        for chunk in deletes.chunks(self.batch_size) {
            let asked = chunk.iter().map(|d| d.group);
            confirm(&self.collection, &groups, asked, &mut skipped, report).await?;
            let chunk: Vec<&Delete> = chunk.iter().filter(|d| !skipped[d.group]).collect();
            if chunk.is_empty() {
                continue;
            }
            let filter = self.delete_filter(&chunk, &guards);
            self.faults.before_write()?;
            let options = DeleteOptions::builder().collation(simple()).build();
            // A multi-document delete is not a retryable write: across an election it fails
            // (or its write concern does) after the primary may have applied it. The batch is
            // keyed by `_id` and guarded by each document's key, so sending it again is safe.
            // What an earlier attempt deleted is not in the retry's `deleted_count`, so a
            // retried batch that succeeds counts every document it names.
            let mut attempts = 0;
            let result = loop {
                attempts += 1;
                let sent = self
                    .collection
                    .delete_many(filter.clone())
                    .with_options(options.clone())
                    .await;
                match sent {
                    Err(err) if attempts < step_down::ATTEMPTS && step_down::is_step_down(&err) => {
                        tokio::time::sleep(step_down::PAUSE).await;
                    }
                    other => break other.map_err(DedupeError::driver("delete"))?,
                }
            };
            report.removed += if attempts == 1 {
                result.deleted_count
            } else {
                chunk.len() as u64
            };
            progress.removed = report.removed;
            self.report(progress);
            pause(self.throttle).await;
        }
        Ok(())
    }

    /// Sends `update` statements (merged survivors, re-keys); a refused one stops the run.
    async fn update(
        &mut self,
        statements: Vec<Document>,
        report: &mut Report,
        progress: &mut Progress,
    ) -> Result<(), DedupeError> {
        if statements.is_empty() {
            return Ok(());
        }
        let faults = &mut self.faults;
        let updated = update::update(&self.collection, statements, self.batch_size, || {
            faults.before_write()
        })
        .await?;
        if let Some((_, code, message)) = updated.refused.into_iter().next() {
            return Err(DedupeError::Refused {
                operation: "update",
                code,
                message,
            });
        }
        report.changed += updated.matched;
        progress.changed = report.changed;
        self.report(progress);
        pause(self.throttle).await;
        Ok(())
    }

    /// `{ _id: { $in: <all> }, $or: [{ _id: { $in: <those read with key k> }, <k> }, ...] }`
    /// and the partial filter: each document is deleted only while it holds the key it was
    /// read with.
    fn delete_filter(&self, chunk: &[&Delete], guards: &[Document]) -> Document {
        let mut branches: Vec<Bson> = Vec::new();
        let mut start = 0;
        while start < chunk.len() {
            let guard = chunk[start].guard;
            let end = chunk[start..]
                .iter()
                .position(|d| d.guard != guard)
                .map_or(chunk.len(), |n| start + n);
            let ids: Vec<Bson> = chunk[start..end].iter().map(|d| d.id.clone()).collect();
            let mut branch = doc! { "_id": { "$in": ids } };
            branch.extend(self.index.key_filter(&guards[guard]));
            branches.push(branch.into());
            start = end;
        }
        let all: Vec<Bson> = chunk.iter().map(|d| d.id.clone()).collect();
        let mut filter = doc! { "_id": { "$in": all }, "$or": branches };
        if let Some(partial) = self.index.partial_filter() {
            filter.insert("$and", vec![Bson::from(partial.clone())]);
        }
        filter
    }
}

/// Re-reads, in one query, the survivors of the groups `wanted` not skipped yet, each
/// matched only while it holds what its group needs ([`Planned::check`]); marks the
/// groups whose survivor did not come back as skipped, and reports them.
async fn confirm(
    collection: &Collection<Document>,
    groups: &[Planned],
    wanted: impl Iterator<Item = usize>,
    skipped: &mut [bool],
    report: &mut Report,
) -> Result<(), DedupeError> {
    let mut asked: Vec<usize> = wanted.filter(|&g| !skipped[g]).collect();
    asked.sort_unstable();
    asked.dedup();
    if asked.is_empty() {
        return Ok(());
    }
    let ids: Vec<Bson> = asked.iter().map(|&g| groups[g].survivor.clone()).collect();
    let checks: Vec<Bson> = asked
        .iter()
        .map(|&g| groups[g].check.clone().into())
        .collect();
    // The `_id`s up front let the server look the survivors up by `_id`, then test each
    // against the checks.
    let filter = doc! { "_id": { "$in": ids }, "$or": checks };
    let mut attempts = 0;
    let found = loop {
        attempts += 1;
        match survivors(collection, filter.clone(), asked.len()).await {
            Err(err) if attempts < step_down::ATTEMPTS && step_down::is_step_down(&err) => {
                tokio::time::sleep(step_down::PAUSE).await;
            }
            other => break other.map_err(DedupeError::driver("find"))?,
        }
    };
    for g in asked {
        let group = &groups[g];
        if !found.contains(&id_key(&group.survivor)) {
            skipped[g] = true;
            report.groups = report.groups.saturating_sub(1);
            report.skipped.push(Skipped {
                key: group.key.clone(),
                count: group.count,
                survivor: Some(group.survivor.clone()),
                reason: SkipReason::SurvivorChanged,
            });
        }
    }
    Ok(())
}

/// The `_id`s (by [`id_key`]) of the documents `filter` matches under the simple
/// collation.
async fn survivors(
    collection: &Collection<Document>,
    filter: Document,
    expected: usize,
) -> mongodb::error::Result<HashSet<Vec<u8>>> {
    let mut cursor = collection
        .find(filter)
        .projection(doc! { "_id": 1 })
        .collation(simple())
        .batch_size(u32::try_from(expected.max(1)).unwrap_or(u32::MAX))
        .await?;
    let mut found = HashSet::new();
    while let Some(doc) = cursor.try_next().await? {
        if let Some(id) = doc.get("_id") {
            found.insert(id_key(id));
        }
    }
    Ok(found)
}

/// The simple collation: `_id`s and keys compare byte for byte, whatever the index's or the
/// collection's default collation.
fn simple() -> Collation {
    Collation::builder().locale("simple").build()
}

/// Waits after a write, when the caller asked for a throttle.
async fn pause(throttle: Option<Duration>) {
    if let Some(pause) = throttle {
        tokio::time::sleep(pause).await;
    }
}

/// The documents with these `_id`s, in `_id` order, as the server sent them: only what
/// reads content parses them.
async fn read(
    collection: &Collection<Document>,
    ids: &[Bson],
    batch_size: usize,
) -> Result<Documents, DedupeError> {
    let mut cursor = collection
        .clone_with_type::<RawDocumentBuf>()
        .find(doc! { "_id": { "$in": ids } })
        .collation(simple())
        .sort(doc! { "_id": 1 })
        .batch_size(u32::try_from(batch_size).unwrap_or(u32::MAX))
        .await
        .map_err(DedupeError::driver("find"))?;
    let mut documents = Documents::default();
    while let Some(doc) = cursor
        .try_next()
        .await
        .map_err(DedupeError::driver("find"))?
    {
        let Some(id) = doc
            .get("_id")
            .ok()
            .flatten()
            .and_then(|id| Bson::try_from(id).ok())
        else {
            continue;
        };
        documents.at.insert(id_key(&id), documents.docs.len());
        documents.ids.push(id);
        documents.docs.push(doc);
    }
    Ok(documents)
}

/// A batch's documents, their `_id`s, and where each `_id` is.
#[derive(Default)]
pub(super) struct Documents {
    pub(super) docs: Vec<RawDocumentBuf>,
    pub(super) ids: Vec<Bson>,
    pub(super) at: HashMap<Vec<u8>, usize>,
}

/// A batch of groups, and what was read for them.
struct Fetched {
    groups: Vec<DuplicateGroup>,
    current: Documents,
    /// What the run archived of them before, by [`id_key`].
    archived: HashMap<Vec<u8>, Archived>,
}
