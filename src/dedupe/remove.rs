//! [`remove_duplicates`]: keep one document per group, delete the others by `_id`.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::DeleteOptions;
use mongodb::Collection;

use super::find::{OnProgress, DEFAULT_MAX_IDS};
use super::pipeline::SortKey;
use super::{DedupeError, DuplicateGroup, DuplicateGroups, Progress, UniqueIndex};

/// A caller's choice of survivor.
type Chooser<'a> = Box<dyn FnMut(&DuplicateGroup) -> Option<Bson> + Send + 'a>;
/// A callback told each group's resolution.
type OnGroup<'a> = Box<dyn FnMut(&Resolution) + Send + 'a>;

/// Which document of each duplicate group survives [`remove_duplicates`].
///
/// The sorted strategies are computed by the server while it groups, over the whole group,
/// so a re-run after an interruption picks the same survivor: deleting the others never
/// changes which document is the oldest or the newest.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::Keep;
/// use mongodb::bson::Bson;
///
/// let by_id = Keep::oldest();
/// let by_date = Keep::newest_by("updated_at");
/// // The caller's own choice: here, the largest `_id` of those listed.
/// let mine = Keep::chosen(|group| group.ids().iter().max_by_key(|id| id.as_i64()).cloned());
/// ```
pub struct Keep<'a> {
    inner: Strategy<'a>,
}

enum Strategy<'a> {
    Sorted(SortKey),
    Chosen(Chooser<'a>),
}

impl<'a> Keep<'a> {
    /// Keeps the document with the smallest `_id` (for ObjectIds: the first inserted).
    ///
    /// # Examples
    ///
    /// ```
    /// let keep = dupkey::dedupe::Keep::oldest();
    /// ```
    pub fn oldest() -> Self {
        Self::oldest_by("_id")
    }

    /// Keeps the document with the largest `_id` (for ObjectIds: the last inserted).
    ///
    /// # Examples
    ///
    /// ```
    /// let keep = dupkey::dedupe::Keep::newest();
    /// ```
    pub fn newest() -> Self {
        Self::newest_by("_id")
    }

    /// Keeps the document with the smallest value of `field` (BSON order; a missing field
    /// counts as `null`, the smallest), ties broken by the smallest `_id`.
    ///
    /// # Examples
    ///
    /// ```
    /// let keep = dupkey::dedupe::Keep::oldest_by("created_at");
    /// ```
    pub fn oldest_by(field: impl Into<String>) -> Self {
        Keep {
            inner: Strategy::Sorted(SortKey {
                field: field.into(),
                newest: false,
            }),
        }
    }

    /// Keeps the document with the largest value of `field`, ties broken by the largest
    /// `_id`.
    ///
    /// # Examples
    ///
    /// ```
    /// let keep = dupkey::dedupe::Keep::newest_by("updated_at");
    /// ```
    pub fn newest_by(field: impl Into<String>) -> Self {
        Keep {
            inner: Strategy::Sorted(SortKey {
                field: field.into(),
                newest: true,
            }),
        }
    }

    /// Lets `choose` name each group's survivor: one of [`DuplicateGroup::ids`], as listed.
    /// Naming none ([`DedupeError::NoSurvivor`]) or an `_id` outside the group
    /// ([`DedupeError::SurvivorOutsideGroup`]) stops the run before anything of that group is
    /// deleted, as does a group larger than the id limit ([`DedupeError::GroupTooLarge`]), since
    /// `choose` would not see all of it.
    ///
    /// To converge when re-run after an interruption, `choose` should pick the same document
    /// again when shown fewer ids (a choice by a stable property does).
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::dedupe::Keep;
    /// use mongodb::bson::oid::ObjectId;
    ///
    /// // Keep the first-listed id, unless a known-good document is in the group.
    /// let known_good = ObjectId::new();
    /// let keep = Keep::chosen(move |group| {
    ///     group.ids().iter()
    ///         .find(|id| id.as_object_id() == Some(known_good))
    ///         .or(group.ids().first())
    ///         .cloned()
    /// });
    /// ```
    pub fn chosen(choose: impl FnMut(&DuplicateGroup) -> Option<Bson> + Send + 'a) -> Self {
        Keep {
            inner: Strategy::Chosen(Box::new(choose)),
        }
    }
}

impl fmt::Debug for Keep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Strategy::Sorted(SortKey {
                field,
                newest: false,
            }) => f.debug_tuple("Keep::oldest_by").field(field).finish(),
            Strategy::Sorted(SortKey {
                field,
                newest: true,
            }) => f.debug_tuple("Keep::newest_by").field(field).finish(),
            Strategy::Chosen(_) => f.write_str("Keep::chosen(..)"),
        }
    }
}

/// What [`remove_duplicates`] does with one group: keep one document, delete the listed
/// others.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// remove_duplicates(&users, &index, Keep::oldest())
///     .dry_run(true)
///     .on_group(|r| println!("{}: keep {}, delete {:?}", r.key(), r.survivor(), r.removed()))
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    key: Document,
    count: u64,
    survivor: Bson,
    removed: Vec<Bson>,
}

impl Resolution {
    /// The group's key.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(r: &dupkey::dedupe::Resolution) {
    /// println!("{}", r.key());
    /// # }
    /// ```
    pub fn key(&self) -> &Document {
        &self.key
    }

    /// How many documents the group had when it was read.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(r: &dupkey::dedupe::Resolution) {
    /// assert!(r.count() >= 2);
    /// # }
    /// ```
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `_id` of the document that stays.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(r: &dupkey::dedupe::Resolution) {
    /// assert!(!r.removed().contains(r.survivor()));
    /// # }
    /// ```
    pub fn survivor(&self) -> &Bson {
        &self.survivor
    }

    /// The `_id`s deleted (in a dry run: that would be): all the group's others, unless the
    /// group is larger than the id limit. Then only the listed ones are here; a later pass of
    /// the same run deletes the rest, while a dry run reports only these (compare
    /// [`count`](Self::count)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(r: &dupkey::dedupe::Resolution) {
    /// println!("{} to delete", r.removed().len());
    /// # }
    /// ```
    pub fn removed(&self) -> &[Bson] {
        &self.removed
    }
}

/// What a [`remove_duplicates`] run did.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// let done = remove_duplicates(&users, &index, Keep::oldest()).await?;
/// println!("{} groups, {} documents deleted", done.groups(), done.removed());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removal {
    groups: u64,
    removed: u64,
    passes: u32,
    dry_run: bool,
}

impl Removal {
    /// Groups resolved (a group larger than the id limit counts once per pass).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Removal::default().groups(), 0);
    /// ```
    pub fn groups(&self) -> u64 {
        self.groups
    }

    /// Documents the server deleted; in a dry run, the number that would be deleted.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Removal::default().removed(), 0);
    /// ```
    pub fn removed(&self) -> u64 {
        self.removed
    }

    /// Aggregations run: more than one when a group was larger than the id limit.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Removal::default().passes(), 0);
    /// ```
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// Whether this was a dry run (nothing deleted).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!dupkey::dedupe::Removal::default().is_dry_run());
    /// ```
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}

/// Keeps one document of each duplicate group of `index` (the one `keep` picks) and deletes
/// the others, by `_id`, in batches: `delete_many({ _id: { $in: [...] }, ... })`.
///
/// Safe to interrupt and re-run: it never deletes a survivor, each delete also requires the
/// document to still hold its group's key (under the index's collation and partial filter),
/// so a document whose key changed since it was read is left alone, and a re-run finds what
/// is left and converges. Groups larger than the id limit are finished in further passes of
/// the same run. A [dry run](RemoveDuplicates::dry_run) reads the same groups and reports
/// exactly what would go through [`on_group`](RemoveDuplicates::on_group), deleting nothing.
///
/// Input is checked before anything is read (see [`DedupeError`]). Key fields that hold
/// arrays are not supported ([`DedupeError::ArrayKey`]); the run stops there, after the
/// deletes of the groups before it, which were duplicates all the same.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// let plan = remove_duplicates(&users, &index, Keep::newest_by("updated_at"))
///     .dry_run(true)
///     .await?;
/// println!("would delete {} documents", plan.removed());
/// let done = remove_duplicates(&users, &index, Keep::newest_by("updated_at"))
///     .batch_size(500)
///     .await?;
/// assert!(!done.is_dry_run());
/// # Ok(())
/// # }
/// ```
pub fn remove_duplicates<'a, T: Send + Sync>(
    collection: &Collection<T>,
    index: &'a UniqueIndex,
    keep: Keep<'a>,
) -> RemoveDuplicates<'a> {
    RemoveDuplicates {
        collection: collection.clone_with_type(),
        index,
        keep,
        dry_run: false,
        batch_size: 1000,
        throttle: None,
        max_ids: DEFAULT_MAX_IDS,
        on_progress: None,
        on_group: None,
    }
}

/// The builder [`remove_duplicates`] returns; await it for the [`Removal`] report.
///
/// # Examples
///
/// ```no_run
/// # use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// let done = remove_duplicates(&users, &index, Keep::oldest()).batch_size(100).await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until awaited"]
pub struct RemoveDuplicates<'a> {
    collection: Collection<Document>,
    index: &'a UniqueIndex,
    keep: Keep<'a>,
    dry_run: bool,
    batch_size: usize,
    throttle: Option<Duration>,
    max_ids: usize,
    on_progress: Option<OnProgress<'a>>,
    on_group: Option<OnGroup<'a>>,
}

impl<'a> RemoveDuplicates<'a> {
    /// Reads and reports, deletes nothing (default `false`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// let plan = remove_duplicates(&users, &index, Keep::oldest()).dry_run(true).await?;
    /// assert!(plan.is_dry_run());
    /// # Ok(())
    /// # }
    /// ```
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Deletes at most `size` documents per `delete_many` (default 1,000; at least 1).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// remove_duplicates(&users, &index, Keep::oldest()).batch_size(200).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }

    /// Waits this long after each `delete_many`, to spare a busy primary.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// use std::time::Duration;
    /// remove_duplicates(&users, &index, Keep::oldest())
    ///     .throttle(Duration::from_millis(50))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn throttle(mut self, pause: Duration) -> Self {
        self.throttle = Some(pause);
        self
    }

    /// Reads at most `max` `_id`s per group and pass (default 10,000; at least 1).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// remove_duplicates(&users, &index, Keep::oldest()).max_ids_per_group(100_000).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_ids_per_group(mut self, max: usize) -> Self {
        self.max_ids = max;
        self
    }

    /// Calls `callback` after each group and each delete, and once at the end.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// remove_duplicates(&users, &index, Keep::oldest())
    ///     .on_progress(|p| eprint!("\r{} groups, {} deleted", p.groups(), p.removed()))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_progress(mut self, callback: impl FnMut(&Progress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }

    /// Calls `callback` with each group's [`Resolution`], before any of it is deleted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// let mut doomed = Vec::new();
    /// remove_duplicates(&users, &index, Keep::oldest())
    ///     .dry_run(true)
    ///     .on_group(|r| doomed.extend_from_slice(r.removed()))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_group(mut self, callback: impl FnMut(&Resolution) + Send + 'a) -> Self {
        self.on_group = Some(Box::new(callback));
        self
    }
}

impl<'a> IntoFuture for RemoveDuplicates<'a> {
    type Output = Result<Removal, DedupeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// The deletes waiting to be sent.
struct Batch {
    ids: Vec<Bson>,
    /// One key filter per group with ids in `ids`.
    guards: Vec<Document>,
}

impl<'a> RemoveDuplicates<'a> {
    async fn run(mut self) -> Result<Removal, DedupeError> {
        if self.batch_size == 0 {
            return Err(DedupeError::ZeroLimit {
                option: "batch_size",
            });
        }
        let sort = match &self.keep.inner {
            Strategy::Sorted(sort) => Some(sort.clone()),
            Strategy::Chosen(_) => None,
        };
        let mut report = Removal {
            dry_run: self.dry_run,
            ..Removal::default()
        };
        let mut progress = Progress::default();
        loop {
            let mut groups =
                DuplicateGroups::open(&self.collection, self.index, self.max_ids, sort.clone())
                    .await?;
            report.passes += 1;
            let removed_before = report.removed;
            let mut more = false;
            let mut batch = Batch {
                ids: Vec::new(),
                guards: Vec::new(),
            };
            while let Some(group) = groups.try_next().await? {
                more |= !group.is_complete();
                let resolution = self.resolve(group)?;
                if let Some(callback) = &mut self.on_group {
                    callback(&resolution);
                }
                report.groups += 1;
                progress.groups += 1;
                progress.documents += resolution.count;
                if self.dry_run {
                    report.removed += resolution.removed.len() as u64;
                } else {
                    self.queue(&mut batch, resolution, &mut report, &mut progress)
                        .await?;
                }
                progress.removed = report.removed;
                self.report(&progress);
            }
            self.flush(&mut batch, &mut report, &mut progress).await?;
            // A larger group than the id limit: go again, while that makes progress.
            if self.dry_run || !more || report.removed == removed_before {
                break;
            }
        }
        progress.removed = report.removed;
        progress.finished = true;
        self.report(&progress);
        Ok(report)
    }

    fn report(&mut self, progress: &Progress) {
        if let Some(callback) = &mut self.on_progress {
            callback(progress);
        }
    }

    /// Picks the group's survivor and checks it belongs to the group.
    fn resolve(&mut self, group: DuplicateGroup) -> Result<Resolution, DedupeError> {
        let survivor = match &mut self.keep.inner {
            Strategy::Sorted(_) => group.keep.clone().ok_or(DedupeError::Reply {
                detail: "a group without its survivor",
            })?,
            Strategy::Chosen(choose) => {
                if !group.is_complete() {
                    return Err(DedupeError::GroupTooLarge {
                        count: group.count,
                        limit: self.max_ids,
                    });
                }
                let Some(survivor) = choose(&group) else {
                    return Err(DedupeError::NoSurvivor {
                        group: Box::new(group),
                    });
                };
                if !group.ids.contains(&survivor) {
                    return Err(DedupeError::SurvivorOutsideGroup {
                        group: Box::new(group),
                        survivor,
                    });
                }
                survivor
            }
        };
        let DuplicateGroup {
            key, count, ids, ..
        } = group;
        let removed = ids.into_iter().filter(|id| *id != survivor).collect();
        Ok(Resolution {
            key,
            count,
            survivor,
            removed,
        })
    }

    /// Adds a group's doomed ids to the batch, sending it whenever it is full.
    async fn queue(
        &mut self,
        batch: &mut Batch,
        resolution: Resolution,
        report: &mut Removal,
        progress: &mut Progress,
    ) -> Result<(), DedupeError> {
        let guard = self.index.key_filter(&resolution.key);
        let mut guarded = false;
        for id in resolution.removed {
            if !guarded {
                batch.guards.push(guard.clone());
                guarded = true;
            }
            batch.ids.push(id);
            if batch.ids.len() >= self.batch_size {
                self.flush(batch, report, progress).await?;
                guarded = false;
            }
        }
        Ok(())
    }

    /// Sends the batch: `{ _id: { $in: ids }, $or: [key filters], <partial filter> }`.
    async fn flush(
        &mut self,
        batch: &mut Batch,
        report: &mut Removal,
        progress: &mut Progress,
    ) -> Result<(), DedupeError> {
        if batch.ids.is_empty() {
            return Ok(());
        }
        let ids = std::mem::take(&mut batch.ids);
        let guards = std::mem::take(&mut batch.guards);
        let mut conditions = vec![
            Bson::from(doc! { "_id": { "$in": ids } }),
            Bson::from(doc! { "$or": guards }),
        ];
        if let Some(filter) = self.index.partial_filter() {
            conditions.push(filter.clone().into());
        }
        let result = self
            .collection
            .delete_many(doc! { "$and": conditions })
            .with_options(
                DeleteOptions::builder()
                    .collation(self.index.collation().cloned())
                    .build(),
            )
            .await
            .map_err(DedupeError::driver("delete"))?;
        report.removed += result.deleted_count;
        progress.removed = report.removed;
        self.report(progress);
        if let Some(pause) = self.throttle {
            tokio::time::sleep(pause).await;
        }
        Ok(())
    }
}
