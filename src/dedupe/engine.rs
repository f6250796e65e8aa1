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

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures_util::future::try_join;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::DeleteOptions;
use mongodb::Collection;

use super::archive::{id_key, Archived, RunTie};
use super::keep::Strategy;
use super::plan::Plan;
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

    /// Whether a group's documents must be read: to archive them, merge or re-key them, or
    /// let the caller compare them.
    fn reads_documents(&self) -> bool {
        self.archive.is_some()
            || !matches!(self.action, Action::Delete)
            || matches!(self.keep.inner, Strategy::Prefer(_))
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
        Ok(plan)
    }

    /// The `_id`s whose documents a batch reads: for a plain delete with the survivor
    /// known, only the others.
    fn wanted(&self, groups: &[DuplicateGroup]) -> Vec<Bson> {
        let skip_survivor = matches!(self.action, Action::Delete);
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

    /// Archive, then updates, then deletes.
    async fn write(
        &mut self,
        plan: Plan,
        report: &mut Report,
        progress: &mut Progress,
    ) -> Result<(), DedupeError> {
        let Plan {
            entries,
            updates,
            deletes,
            guards,
        } = plan;
        if let Some(archive) = &self.archive {
            if !entries.is_empty() {
                let faults = &mut self.faults;
                report.archived += archive.write(entries, || faults.before_write()).await?;
                pause(self.throttle).await;
            }
        }
        if !updates.is_empty() {
            let faults = &mut self.faults;
            let updated = update::update(&self.collection, updates, self.batch_size, || {
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
        }
        for chunk in deletes.chunks(self.batch_size) {
            let ids: Vec<Bson> = chunk.iter().map(|(id, _)| id.clone()).collect();
            let mut used: Vec<usize> = chunk.iter().map(|(_, g)| *g).collect();
            used.dedup();
            // A document deleted still has the key of a group of this chunk, whose survivor
            // the run keeps.
            let keys = self.index.keys_filter(used.iter().map(|&g| &guards[g]));
            let mut conditions = vec![Bson::from(doc! { "_id": { "$in": ids } }), keys.into()];
            if let Some(filter) = self.index.partial_filter() {
                conditions.push(filter.clone().into());
            }
            self.faults.before_write()?;
            let filter = doc! { "$and": conditions };
            let options = DeleteOptions::builder()
                .collation(self.index.collation().cloned())
                .build();
            // A multi-document delete is not a retryable write: across an election it fails
            // (or its write concern does) after the primary may have applied it. The batch is
            // keyed by `_id` and guarded by the group key, so sending it again is safe. What an
            // earlier attempt deleted is not in the retry's `deleted_count`, so a retried batch
            // that succeeds counts every document it names.
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
