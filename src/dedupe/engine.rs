//! The run behind [`ResolveDuplicates`]: groups in, batches of archive, update and delete
//! commands out.
//!
//! Per batch of groups (about `batch_size` documents, ten times that with an archive), in
//! this order:
//! 1. read the documents (when anything needs them) and what the run already archived of
//!    them: the archived version is the original;
//! 2. pick each survivor, plan each change from the originals (or repeat the change the
//!    archive recorded);
//! 3. archive what is not archived yet, then update the merged survivors, then, per chunk
//!    of `batch_size` re-keys or deletes: check the chunk's survivors (one `find`, sent
//!    beside the previous chunk's delete), and re-key or delete the others of the groups
//!    whose survivor passed. Meanwhile the next batch's documents are read (step 1 of the
//!    next batch), so a run costs about its writes alone.
//!
//! Documents stay as the server's bytes: the archive copies them, and only a merge, a re-key,
//! a survivor by content or a collated key parses them.
//!
//! # Invariants
//!
//! Each has its own test against a real server (named here).
//!
//! 1. **A survivor is never deleted or changed except by its own planned update.** Deletes
//!    and updates name `_id`s and run under the simple collation, whatever the index's or
//!    the collection's, so `{ _id: { $in: [...] } }` never matches a survivor whose `_id`
//!    differs only in case (`dedupe_exact::string_ids_that_differ_only_in_case_keep_the_survivor`).
//! 2. **A document is deleted or re-keyed only while it holds the key it was read with**,
//!    exactly: under a collation each document's own key is read and required (a change of
//!    spelling is a change), without one the group's key, by `$eq`; each `_id` is paired
//!    with its own key, so a document moved to another group's key of the same chunk stays
//!    (`dedupe_remove::a_document_whose_key_changed_since_it_was_read_is_not_deleted`,
//!    `dedupe_remove::a_document_moved_to_another_groups_key_of_the_same_batch_is_not_deleted`,
//!    `dedupe_exact::a_document_whose_key_changed_only_in_case_since_it_was_read_is_not_deleted`).
//! 3. **A group is resolved only while its survivor exists and holds the key** (and, in a
//!    merge, the merged values): right before a chunk's re-keys or deletes, one `find`
//!    re-reads the chunk's survivors, each matched only in that state (`Planned::check`);
//!    a group whose survivor does not come back is skipped and reported in
//!    [`Report::skipped`] as [`SkipReason::SurvivorChanged`], none of its documents deleted
//!    or re-keyed (`dedupe_writers::a_survivor_deleted_mid_run_leaves_its_group_alone_and_is_reported`,
//!    `dedupe_writers::a_survivor_re_keyed_mid_run_leaves_its_group_alone_and_is_reported`).
//!    The `update` reply counts only a batch's total, so a merge update that matched
//!    nothing is caught by the same check: the survivor then lacks the merged values.
//! 4. **A merge changes only the fields it adds, changes or removes**: `$set`/`$unset` of
//!    those fields, guarded by their values as read, never a replacement; a concurrent write
//!    to another field stays, one to a merged field makes the update match nothing and the
//!    group be skipped (`dedupe_writers::a_merge_keeps_a_concurrent_write_to_another_field_of_the_survivor`,
//!    `dedupe_writers::a_merge_whose_fields_another_writer_changed_skips_the_group`). The
//!    survivor's archive entry records that update document as its change.
//! 5. **Groups whose every key field is null or missing are left alone** and reported
//!    ([`SkipReason::NullKey`], [`Report::null_key_groups`]) unless
//!    [`null_keys`](ResolveDuplicates::null_keys) asks for them: a sparse or partial index is
//!    the usual answer for them (`dedupe_exact::null_key_groups_are_left_alone_and_reported_unless_asked_for`).
//! 6. **Bounded memory on any group size**: the server lists at most `max_ids_per_group`
//!    `_id`s per group (`$firstN`, see `pipeline.rs`), and a larger group is finished over
//!    passes (`dedupe_remove::a_key_held_by_200_000_documents_is_resolved_with_a_bounded_id_list`).
//!
//! **The residual window.** Between a chunk's check and its delete (about one delete command:
//! the check runs beside the previous chunk's delete), another writer can still delete or
//! re-key a survivor just checked; the server offers no multi-document condition outside a
//! transaction. The chunk's others are then deleted although the key has no survivor: with
//! an archive, [`restore`](super::restore) brings them back. The window is one delete
//! command long per chunk, not a run long.
//!
//! A merged survivor is archived with its update and updated before any other document of
//! its group is deleted, so a re-run that finds part of a group gone still has the merge of
//! the whole group to repeat; an update already applied matches its own values, so the
//! check passes on a re-run.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures_util::future::try_join;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::{Collation, DeleteOptions};
use mongodb::Collection;

use super::archive::{id_key, Archived, RunTie};
use super::check;
use super::keep::Strategy;
use super::plan::{Delete, Plan};
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
            Some(archive) => {
                let tie = RunTie::new(&self.collection, self.index, &self.action);
                archive.begin(&self.collection, tie, self.dry_run).await?
            }
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
                report.archived += archive.write(entries, || faults.before_write()).await?;
                pause(self.throttle).await;
            }
        }
        self.update(merges, report, progress).await?;
        let mut skipped = vec![false; groups.len()];
        for chunk in rekeys.chunks(self.batch_size) {
            let asked = check::unskipped(chunk.iter().map(|(_, g)| *g), &skipped);
            let failed = check::failed(&self.collection, &groups, asked).await?;
            check::skip(&groups, failed, &mut skipped, report);
            let statements = chunk
                .iter()
                .filter(|(_, g)| !skipped[*g])
                .map(|(statement, _)| statement.clone())
                .collect();
            self.update(statements, report, progress).await?;
        }
        // Each chunk's check runs beside the previous chunk's delete (which leaves every
        // survivor alone), so it costs no round trip of its own.
        let chunks: Vec<&[Delete]> = deletes.chunks(self.batch_size).collect();
        let asked = |i: usize, skipped: &[bool]| {
            check::unskipped(chunks[i].iter().map(|d| d.group), skipped)
        };
        let mut failed = match chunks.is_empty() {
            true => Vec::new(),
            false => check::failed(&self.collection, &groups, asked(0, &skipped)).await?,
        };
        for i in 0..chunks.len() {
            check::skip(&groups, std::mem::take(&mut failed), &mut skipped, report);
            let chunk: Vec<&Delete> = chunks[i].iter().filter(|d| !skipped[d.group]).collect();
            let next = (i + 1 < chunks.len()).then(|| asked(i + 1, &skipped));
            let next = async {
                match next {
                    Some(asked) => check::failed(&self.collection, &groups, asked).await,
                    None => Ok(Vec::new()),
                }
            };
            if chunk.is_empty() {
                failed = next.await?;
                continue;
            }
            let filter = self.delete_filter(&chunk, &guards);
            self.faults.before_write()?;
            let (deleted, next) = try_join(delete(&self.collection, filter), next).await?;
            failed = next;
            report.removed += deleted.unwrap_or(chunk.len() as u64);
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

    /// The chunk's `_id`s, each document required to hold the key it was read with:
    /// [`check::any_of`] of `{ _id: { $in: <those read with key k> }, <k by $eq> }` per key,
    /// and the partial filter.
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
        let mut filter = check::any_of(all, branches);
        if let Some(partial) = self.index.partial_filter() {
            filter.insert("$and", vec![Bson::from(partial.clone())]);
        }
        filter
    }
}

/// Deletes what `filter` matches under the simple collation; the count deleted, or `None`
/// when the command was sent again after a step-down (then what an earlier attempt deleted
/// is not in the count).
///
/// A multi-document delete is not a retryable write: across an election it fails (or its
/// write concern does) after the primary may have applied it. A chunk is keyed by `_id`s and
/// guarded by each document's key as read, so sending it again is safe.
async fn delete(
    collection: &Collection<Document>,
    filter: Document,
) -> Result<Option<u64>, DedupeError> {
    let options = DeleteOptions::builder().collation(simple()).build();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sent = collection
            .delete_many(filter.clone())
            .with_options(options.clone())
            .await;
        match sent {
            Err(err) if attempts < step_down::ATTEMPTS && step_down::is_step_down(&err) => {
                tokio::time::sleep(step_down::PAUSE).await;
            }
            other => {
                let result = other.map_err(DedupeError::driver("delete"))?;
                return Ok((attempts == 1).then_some(result.deleted_count));
            }
        }
    }
}

/// The simple collation: `_id`s and keys compare byte for byte, whatever the index's or the
/// collection's default collation.
pub(super) fn simple() -> Collation {
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
