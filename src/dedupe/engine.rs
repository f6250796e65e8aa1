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
//!    then delete.
//!
//! A merged survivor is archived with its replacement and replaced before any other
//! document of its group is deleted, so a re-run that finds part of a group gone still has
//! the merge of the whole group to repeat.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::DeleteOptions;
use mongodb::Collection;

use super::archive::{self, id_key, Archived};
use super::keep::Strategy;
use super::resolve::{Action, ResolveDuplicates};
use super::step_down;
use super::update;
use super::{
    DedupeError, DuplicateGroup, DuplicateGroups, Progress, Report, Resolution, UniqueIndex,
};

/// Write batches planned (and archived) together: each write command waits for its write
/// concern, so archiving costs one insert per this many deletes, not one per delete.
const ARCHIVED_BATCHES: usize = 10;

/// The writes one batch plans.
#[derive(Default)]
struct Plan {
    entries: Vec<RawDocumentBuf>,
    /// `update` statements.
    updates: Vec<Document>,
    /// `_id`s to delete, each with the index of its group's guard.
    deletes: Vec<(Bson, usize)>,
    /// One key filter per group.
    guards: Vec<Document>,
}

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
                    self.batch(batch, fresh, &mut report, &mut progress).await?;
                }
            }
            self.batch(pending, fresh, &mut report, &mut progress)
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

    /// Plans and writes one batch of groups.
    async fn batch(
        &mut self,
        groups: Vec<DuplicateGroup>,
        fresh: bool,
        report: &mut Report,
        progress: &mut Progress,
    ) -> Result<(), DedupeError> {
        if groups.is_empty() {
            return Ok(());
        }
        let reads = self.reads_documents();
        let (current, archived) = if reads {
            let wanted = self.wanted(&groups);
            let current = read(&self.collection, &wanted, self.batch_size).await?;
            let archived = match &self.archive {
                Some(archive) if !fresh => archive.lookup(&wanted).await?,
                _ => HashMap::new(),
            };
            (current, archived)
        } else {
            (Documents::default(), HashMap::new())
        };
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
        if self.dry_run {
            return Ok(());
        }
        self.write(plan, report, progress).await
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

    /// A plain delete by `_id`s, the documents unread.
    fn plan_ids(
        &mut self,
        group: DuplicateGroup,
        plan: &mut Plan,
    ) -> Result<Option<Resolution>, DedupeError> {
        let survivor = self.survivor_by_id(&group)?;
        let guard = plan.guards.len();
        plan.guards.push(self.index.key_filter(&group.key));
        let DuplicateGroup {
            key, count, ids, ..
        } = group;
        let removed: Vec<Bson> = ids.into_iter().filter(|id| *id != survivor).collect();
        plan.deletes
            .extend(removed.iter().map(|id| (id.clone(), guard)));
        Ok(Some(Resolution {
            key,
            count,
            survivor,
            removed,
            changed: Vec::new(),
        }))
    }

    /// The survivor the server picked, or the caller chose by `_id`.
    fn survivor_by_id(&mut self, group: &DuplicateGroup) -> Result<Bson, DedupeError> {
        match &mut self.keep.inner {
            Strategy::Sorted(_) => group.keep.clone().ok_or(DedupeError::Reply {
                detail: "a group without its survivor",
            }),
            Strategy::Chosen(choose) => {
                let Some(survivor) = choose(group) else {
                    return Err(DedupeError::NoSurvivor {
                        group: Box::new(group.clone()),
                    });
                };
                if !group.ids.contains(&survivor) {
                    return Err(DedupeError::SurvivorOutsideGroup {
                        group: Box::new(group.clone()),
                        survivor,
                    });
                }
                Ok(survivor)
            }
            Strategy::Prefer(_) => Err(DedupeError::Reply {
                detail: "a survivor by content without the documents",
            }),
        }
    }

    /// Plans one group from its documents. `None` when nothing of it is left to do (its
    /// documents went meanwhile).
    async fn plan_documents(
        &mut self,
        group: DuplicateGroup,
        current: &Documents,
        archived: &HashMap<Vec<u8>, Archived>,
        plan: &mut Plan,
    ) -> Result<Option<Resolution>, DedupeError> {
        // The members still there, in `_id` order, each with its original.
        let mut members: Vec<(usize, Vec<u8>)> = group
            .ids
            .iter()
            .filter_map(|id| {
                let key = id_key(id);
                current.at.get(&key).map(|&at| (at, key))
            })
            .collect();
        members.sort_unstable_by_key(|(at, _)| *at);
        let original = |(at, key): &(usize, Vec<u8>)| -> &Document {
            archived
                .get(key)
                .map(|a| &a.doc)
                .unwrap_or(&current.docs[*at])
        };
        let survivor = match &mut self.keep.inner {
            Strategy::Prefer(prefer) => {
                let mut best: Option<&(usize, Vec<u8>)> = None;
                for member in &members {
                    best = match best {
                        Some(b) if !prefer.prefer(original(member), original(b)).await => Some(b),
                        _ => Some(member),
                    };
                }
                match best {
                    Some(b) => original(b).get("_id").cloned().ok_or(DedupeError::Reply {
                        detail: "a document without its _id",
                    })?,
                    None => return Ok(None),
                }
            }
            _ => self.survivor_by_id(&group)?,
        };
        let survivor_key = id_key(&survivor);
        let survivor_member = members.iter().find(|(_, key)| *key == survivor_key);
        let others: Vec<&(usize, Vec<u8>)> = members
            .iter()
            .filter(|(_, key)| *key != survivor_key)
            .collect();
        let guard_index = plan.guards.len();
        let guard = self.guarded(&group.key);
        plan.guards.push(self.index.key_filter(&group.key));
        let (mut removed, mut changed) = (Vec::new(), Vec::new());
        let id_of = |member: &(usize, Vec<u8>)| {
            current.docs[member.0]
                .get("_id")
                .cloned()
                .unwrap_or(Bson::Null)
        };
        let archiving = self.archive.is_some();
        let archive_entry = |plan: &mut Plan,
                             member: &(usize, Vec<u8>),
                             reason: &str,
                             change: Option<&Document>|
         -> Result<(), DedupeError> {
            if archiving && !archived.contains_key(&member.1) {
                plan.entries.push(archive::entry(
                    &id_of(member),
                    reason,
                    &survivor,
                    original(member),
                    change,
                )?);
            }
            Ok(())
        };
        match &mut self.action {
            Action::Delete => {
                for member in &others {
                    archive_entry(plan, member, "deleted: a duplicate of the survivor", None)?;
                    removed.push(id_of(member));
                }
            }
            Action::Merge(merge) => {
                // The survivor went meanwhile: nothing to merge into; a re-run sees the rest.
                let Some(kept) = survivor_member else {
                    return Ok(None);
                };
                let target = match archived.get(&kept.1).and_then(|a| a.change.clone()) {
                    Some(target) => target,
                    None => {
                        let mut target = original(kept).clone();
                        for member in &others {
                            merge.fold(&mut target, original(member));
                        }
                        target
                    }
                };
                archive_entry(
                    plan,
                    kept,
                    "changed: the survivor of a merge",
                    Some(&target),
                )?;
                let mut filter = guard.clone();
                filter.insert("_id", survivor.clone());
                plan.updates.push(statement(self.index, filter, target));
                changed.push(survivor.clone());
                for member in &others {
                    archive_entry(plan, member, "deleted: merged into the survivor", None)?;
                    removed.push(id_of(member));
                }
            }
            Action::Rekey(rekey) => {
                for member in &others {
                    let update = match archived.get(&member.1).and_then(|a| a.change.clone()) {
                        Some(update) => update,
                        None => rekey.update(self.index, original(member))?,
                    };
                    archive_entry(plan, member, "changed: re-keyed", Some(&update))?;
                    let mut filter = guard.clone();
                    filter.insert("_id", id_of(member));
                    plan.updates.push(statement(self.index, filter, update));
                    changed.push(id_of(member));
                }
            }
        }
        plan.deletes
            .extend(removed.iter().map(|id| (id.clone(), guard_index)));
        Ok(Some(Resolution {
            key: group.key,
            count: group.count,
            survivor,
            removed,
            changed,
        }))
    }

    /// The group's key filter and the partial filter, for updates.
    fn guarded(&self, key: &Document) -> Document {
        let mut conditions = vec![Bson::from(self.index.key_filter(key))];
        if let Some(filter) = self.index.partial_filter() {
            conditions.push(filter.clone().into());
        }
        doc! { "$and": conditions }
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
                report.archived += archive
                    .write(entries, self.collection.write_concern(), || {
                        faults.before_write()
                    })
                    .await?;
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
            let or: Vec<Bson> = used.iter().map(|&g| guards[g].clone().into()).collect();
            let mut conditions = vec![
                Bson::from(doc! { "_id": { "$in": ids } }),
                Bson::from(doc! { "$or": or }),
            ];
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

/// One `update` statement, under the index's collation.
fn statement(index: &UniqueIndex, filter: Document, update: Document) -> Document {
    let mut statement = doc! { "q": filter, "u": update };
    if let Some(collation) = index.collation() {
        if let Some(collation) = crate::bson_compat::to_document(collation) {
            statement.insert("collation", collation);
        }
    }
    statement
}

/// Waits after a write, when the caller asked for a throttle.
async fn pause(throttle: Option<Duration>) {
    if let Some(pause) = throttle {
        tokio::time::sleep(pause).await;
    }
}

/// The documents with these `_id`s, in `_id` order.
async fn read(
    collection: &Collection<Document>,
    ids: &[Bson],
    batch_size: usize,
) -> Result<Documents, DedupeError> {
    let mut cursor = collection
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
        let Some(id) = doc.get("_id") else {
            continue;
        };
        documents.at.insert(id_key(id), documents.docs.len());
        documents.docs.push(doc);
    }
    Ok(documents)
}

/// A batch's documents, and where each `_id` is.
#[derive(Default)]
struct Documents {
    docs: Vec<Document>,
    at: HashMap<Vec<u8>, usize>,
}
