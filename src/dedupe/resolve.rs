//! [`remove_duplicates`], [`merge_duplicates`], [`rekey_duplicates`]: keep one document per
//! group, and delete, merge or re-key the others. The run itself is in `engine.rs`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use mongodb::bson::Document;
use mongodb::Collection;

use super::find::{OnProgress, DEFAULT_MAX_IDS};
use super::{Archive, DedupeError, Keep, Merge, Progress, Rekey, Report, Resolution, UniqueIndex};

/// A callback told each group's resolution.
pub(crate) type OnGroup<'a> = Box<dyn FnMut(&Resolution) + Send + 'a>;

/// The fault-injection hook: counts writes, fails at the one asked for.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) writes: u64,
    pub(crate) fail_at: Option<u64>,
}

impl Faults {
    /// Called just before each write command.
    pub(crate) fn before_write(&mut self) -> Result<(), DedupeError> {
        if self.fail_at == Some(self.writes) {
            return Err(DedupeError::FaultInjected(self.writes));
        }
        self.writes += 1;
        Ok(())
    }
}

/// Keeps one document of each duplicate group of `index` (the one `keep` picks) and deletes
/// the others, by `_id`, in batches: `delete_many({ _id: { $in: [...] }, ... })`.
///
/// With an [`archive`](ResolveDuplicates::archive), every document is archived whole before
/// it is deleted, and [`restore`](super::restore) brings the run back.
///
/// Safe to interrupt and re-run, and beside other writers:
/// - it never deletes a survivor: deletes name `_id`s under the simple collation, so an
///   `_id` that differs from the survivor's only in case is not the survivor's;
/// - each delete also requires the document to still hold the key it was read with (and
///   the partial filter), so a document whose key changed since it was read is left alone;
/// - right before a batch's deletes, its survivors are read again: a group whose survivor
///   another writer deleted or re-keyed meanwhile is left alone and reported in
///   [`Report::skipped`] (one delete command's window remains; see the module docs);
/// - the group whose every key field is null or missing is left alone and reported, unless
///   [`null_keys`](ResolveDuplicates::null_keys) asks for it.
///
/// A re-run finds what is left and converges. Groups larger than the id limit are finished
/// in further passes of the same run, the server listing at most that many `_id`s per group.
/// A [dry run](RemoveDuplicates::dry_run) reads the same groups and reports exactly what
/// would go through [`on_group`](RemoveDuplicates::on_group), deleting nothing.
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
    ResolveDuplicates::new(collection, index, keep, Action::Delete, None)
}

/// Keeps one document of each duplicate group of `index` (the one `keep` picks), folds the
/// others into it by `merge`, then deletes them; every document is archived in `archive`
/// first, the survivor with the merged document it becomes.
///
/// The merged document is computed from the originals (the archived ones, on a re-run), in
/// `_id` order, so a run stopped at any point and run again with the same [`Archive`] ends as
/// an uninterrupted run would. Each group must be listed whole (see
/// [`max_ids_per_group`](ResolveDuplicates::max_ids_per_group)), else the run stops with
/// [`DedupeError::GroupTooLarge`] before anything of that group is written.
///
/// Writes, per batch: the archive, then the survivors (one `update` command), then the
/// deletes, each also requiring the document to still hold the key it was read with.
///
/// A survivor's update sets and unsets only the fields the merge adds, changes or removes
/// (`{ $set: {...}, $unset: {...} }`, also what its archive entry records), and only while
/// those fields still hold the values read: another writer's change to other fields stays.
/// Before a group's others are deleted its survivor is read again; when it is gone, lost the
/// key, or lacks the merged values (another writer changed a merged field, so the update
/// matched nothing), the group is left alone and reported in [`Report::skipped`]. A merge
/// that changes a field whose name holds a dot or starts with `$` stops with
/// [`DedupeError::MergeField`] before that batch is written.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{merge_duplicates, Archive, Keep, Merge, UniqueIndex};
///
/// # async fn run(db: mongodb::Database) -> Result<(), dupkey::dedupe::DedupeError> {
/// let users = db.collection::<mongodb::bson::Document>("users");
/// let archive = Archive::new(&db.collection::<()>("dedupe_archive"), "merge-emails-1");
/// let done = merge_duplicates(&users, &UniqueIndex::new(["email"]), Keep::oldest(), Merge::union_arrays(), archive)
///     .await?;
/// println!("{} merged into {} survivors", done.removed(), done.changed());
/// # Ok(())
/// # }
/// ```
pub fn merge_duplicates<'a, T: Send + Sync>(
    collection: &Collection<T>,
    index: &'a UniqueIndex,
    keep: Keep<'a>,
    merge: Merge<'a>,
    archive: Archive,
) -> ResolveDuplicates<'a> {
    ResolveDuplicates::new(collection, index, keep, Action::Merge(merge), Some(archive))
}

/// Keeps one document of each duplicate group of `index` (the one `keep` picks) as it is,
/// and gives the others keys of their own by `rekey`; every changed document is archived in
/// `archive` first, with the update planned for it.
///
/// [`Rekey::unset`] is refused before anything is read when the index would not leave the
/// unset documents out ([`DedupeError::UnsetNotExcluded`]). Each update also requires the
/// document to still hold the key it was read with, and a group's others are re-keyed only
/// while its survivor is there with the key (else the group is reported in
/// [`Report::skipped`]); a re-run with the same [`Archive`] repeats the planned updates and
/// converges.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{rekey_duplicates, Archive, Keep, Rekey, UniqueIndex};
/// use mongodb::bson::doc;
///
/// # async fn run(db: mongodb::Database) -> Result<(), dupkey::dedupe::DedupeError> {
/// let users = db.collection::<mongodb::bson::Document>("users");
/// let index = UniqueIndex::new(["username"]);
/// let archive = Archive::new(&db.collection::<()>("dedupe_archive"), "rekey-usernames-1");
/// let rekey = Rekey::with(|doc| {
///     let name = doc.get_str("username").unwrap_or("user");
///     doc! { "username": format!("{name}-{}", doc.get("_id").unwrap()) }
/// });
/// rekey_duplicates(&users, &index, Keep::oldest(), rekey, archive).await?;
/// # Ok(())
/// # }
/// ```
pub fn rekey_duplicates<'a, T: Send + Sync>(
    collection: &Collection<T>,
    index: &'a UniqueIndex,
    keep: Keep<'a>,
    rekey: Rekey<'a>,
    archive: Archive,
) -> ResolveDuplicates<'a> {
    ResolveDuplicates::new(collection, index, keep, Action::Rekey(rekey), Some(archive))
}

/// The builder [`remove_duplicates`], [`merge_duplicates`] and [`rekey_duplicates`] return;
/// await it for the [`Report`].
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
pub struct ResolveDuplicates<'a> {
    pub(crate) collection: Collection<Document>,
    pub(crate) index: &'a UniqueIndex,
    pub(crate) keep: Keep<'a>,
    pub(crate) action: Action<'a>,
    pub(crate) archive: Option<Archive>,
    pub(crate) dry_run: bool,
    pub(crate) batch_size: usize,
    pub(crate) throttle: Option<Duration>,
    pub(crate) max_ids: usize,
    pub(crate) on_progress: Option<OnProgress<'a>>,
    pub(crate) on_group: Option<OnGroup<'a>>,
    pub(crate) faults: Faults,
    pub(crate) null_keys: bool,
}

/// The builder's former name.
pub type RemoveDuplicates<'a> = ResolveDuplicates<'a>;

/// What happens to the other documents of a group.
pub(crate) enum Action<'a> {
    Delete,
    Merge(Merge<'a>),
    Rekey(Rekey<'a>),
}

impl<'a> ResolveDuplicates<'a> {
    fn new<T: Send + Sync>(
        collection: &Collection<T>,
        index: &'a UniqueIndex,
        keep: Keep<'a>,
        action: Action<'a>,
        archive: Option<Archive>,
    ) -> Self {
        ResolveDuplicates {
            collection: collection.clone_with_type(),
            index,
            keep,
            action,
            archive,
            dry_run: false,
            batch_size: 1000,
            throttle: None,
            max_ids: DEFAULT_MAX_IDS,
            on_progress: None,
            on_group: None,
            faults: Faults::default(),
            null_keys: false,
        }
    }

    /// Archives every document before it is deleted or changed, under `archive`'s run id
    /// (merge and re-key always do). Re-run with the same run id after an interruption.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{remove_duplicates, Archive, Keep, UniqueIndex};
    /// # async fn run(db: mongodb::Database) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let users = db.collection::<mongodb::bson::Document>("users");
    /// # let index = UniqueIndex::new(["email"]);
    /// let archive = Archive::new(&db.collection::<()>("dedupe_archive"), "run-7");
    /// remove_duplicates(&users, &index, Keep::oldest()).archive(archive).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn archive(mut self, archive: Archive) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Resolves the group whose every key field is null or missing too (default `false`:
    /// it is left alone and reported in [`Report::skipped`], as
    /// [`SkipReason::NullKey`](super::SkipReason::NullKey)).
    ///
    /// Documents without a key usually lack the value rather than share it: five contacts
    /// without an email are five people. A sparse unique index
    /// ([`UniqueIndex::with_sparse`]) or a partial one (`{ email: { $exists: true } }`)
    /// leaves them out and needs no cleanup of them; ask for them here only when they are
    /// true duplicates.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// remove_duplicates(&users, &index, Keep::oldest()).null_keys(true).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn null_keys(mut self, resolve: bool) -> Self {
        self.null_keys = resolve;
        self
    }

    /// Stops with an error just before write number `writes` (0 = the first): a test hook
    /// for interruptions at every write boundary.
    #[doc(hidden)]
    pub fn fail_before_write(mut self, writes: u64) -> Self {
        self.faults.fail_at = Some(writes);
        self
    }

    /// Reads and reports, writes nothing (default `false`).
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

    /// Deletes or updates at most `size` documents per command (default 1,000; at least
    /// 1). With an archive, ten such batches are read and archived together, in one insert
    /// (more when they exceed 8 MiB), so client memory holds up to ten batches' documents.
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

    /// Waits this long after each write command, to spare a busy primary.
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

    /// Calls `callback` after each group and each write, and once at the end.
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

    /// Calls `callback` with each group's [`Resolution`], before any of it is written.
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

impl<'a> IntoFuture for ResolveDuplicates<'a> {
    type Output = Result<Report, DedupeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
