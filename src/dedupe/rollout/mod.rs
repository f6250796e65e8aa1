//! [`rollout_unique_index`]: a unique index rolled out with no window for new duplicates.
//!
//! # Invariants
//!
//! Each is proved by its own test in `tests/rollout.rs` and `tests/rollout_index.rs`
//! against a real server, with another client writing where one can break it:
//!
//! 1. **No new duplicate from the prepare step on.** Once `prepareUnique` is set, the server
//!    refuses every write that would duplicate a key of the index asked for, and the writer
//!    gets a [`DuplicateKey`](crate::DuplicateKey) naming it (with a plain, a collated, a
//!    sparse and a partial index).
//! 2. **The index prepared and converted is the index asked for**: its key, collation,
//!    partial filter, sparseness and name. An index that stands in the way (same name, other
//!    options) is refused before anything is written ([`DedupeError::IndexInTheWay`]); after
//!    each `collMod` the index is read back, and one that is not the index asked for (dropped
//!    or replaced by another client) stops the run ([`DedupeError::IndexChanged`]).
//! 3. **Nothing is resolved unless the server and the aggregation agree** on the duplicate
//!    groups ([`DedupeError::Disagreement`]): the server's dry-run violations compare keys as
//!    the index will, so a disagreement means the aggregation would resolve other groups.
//! 4. **The groups are resolved exactly as the resolve functions resolve them**, by their own
//!    run ([`remove_duplicates`], [`merge_duplicates`], [`rekey_duplicates`]), with their
//!    archive: every document deleted or changed is archived before it is written, and
//!    [`restore`](super::restore) puts the run back (once the unique index no longer refuses
//!    the duplicates).
//! 5. **Resumable**: the state is read from the index, each step is idempotent, and a run
//!    interrupted anywhere converges when run again.
//! 6. **Bad input writes nothing**: the index, the limits and the resolution (the keep
//!    strategy's field, a re-key's rule) are checked before the index is created.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mongodb::bson::{doc, Document};
use mongodb::Collection;

mod report;
mod server;

pub use report::{IndexState, Rollout, RolloutProgress, RolloutStep};

use super::spec::check_field;
use super::{
    create_unique_index, merge_duplicates, rekey_duplicates, remove_duplicates, Archive,
    DedupeError, Keep, Merge, Rekey, Removal, UniqueIndex,
};
use server::{
    collmod, create_plain, cross_check, find_index, has_prepare_unique, read_back, state,
};

/// A progress callback.
type OnRolloutProgress<'a> = Box<dyn FnMut(&RolloutProgress) + Send + 'a>;

/// How a rollout resolves the duplicate groups it finds: the arguments of
/// [`remove_duplicates`], [`merge_duplicates`] or [`rekey_duplicates`], whose run resolves
/// them.
///
/// Built from a [`Keep`] (`Keep::oldest().into()`) for a delete. A merge and a re-key take
/// their [`Archive`] here, as the resolve functions do; a delete's archive is optional, as
/// for [`remove_duplicates`], and is given by
/// [`RolloutUniqueIndex::archive`].
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::{Keep, Resolve};
///
/// let resolve: Resolve = Keep::newest_by("updated_at").into();
/// assert!(matches!(resolve, Resolve::Delete(_)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Resolve<'a> {
    /// Keeps the document [`Keep`] picks in each group and deletes the others, as
    /// [`remove_duplicates`] does; archived first when the rollout has an
    /// [`archive`](RolloutUniqueIndex::archive).
    Delete(Keep<'a>),
    /// Keeps the document [`Keep`] picks, folds the others into it by the [`Merge`] rule and
    /// deletes them, each archived first, as [`merge_duplicates`] does.
    Merge(Keep<'a>, Merge<'a>, Archive),
    /// Keeps the document [`Keep`] picks and gives the others unique values by the [`Rekey`]
    /// rule, each archived first, as [`rekey_duplicates`] does.
    Rekey(Keep<'a>, Rekey<'a>, Archive),
}

impl<'a> From<Keep<'a>> for Resolve<'a> {
    fn from(keep: Keep<'a>) -> Self {
        Resolve::Delete(keep)
    }
}

/// Rolls out the unique index `index` describes with no window for new duplicates, on
/// MongoDB 6.0 and later:
///
/// 1. **Prepare**: creates the index (plain) if it is missing, then sets `prepareUnique`
///    (`collMod`): from then on every write that would duplicate a key is refused with
///    E11000, which [`IsDuplicate`](crate::IsDuplicate) reads as a [`DuplicateKey`](crate::DuplicateKey),
///    while the old duplicates stay;
/// 2. **Cross-check**: the server's own report (`collMod ... unique: true, dryRun: true`,
///    its violations) must list the same groups as [`find_duplicates`](super::find_duplicates); if they disagree
///    the run stops with [`DedupeError::Disagreement`] before anything is deleted;
/// 3. **Resolve** the groups with `resolve` ([`Resolve::Delete`] with a [`Keep`], a merge or
///    a re-key), by the run of [`remove_duplicates`], [`merge_duplicates`] or
///    [`rekey_duplicates`], archiving first as they do;
/// 4. **Convert**: `collMod ... unique: true`.
///
/// The index is created with every option `index` gives (collation, partial filter, sparse,
/// name), and read back after each `collMod`: what was prepared and converted is the index
/// asked for (see the module's invariants).
///
/// Resumable: the state is read from the index's spec (missing, plain, `prepareUnique`,
/// unique) and each step is idempotent, so re-running after an interruption converges; on a
/// unique index it changes nothing.
///
/// Before 6.0 (no `prepareUnique`, told by the server's wire version), or with
/// [`online(false)`](RolloutUniqueIndex::online), it falls back to [`remove_duplicates`]
/// then [`create_unique_index`], which **leaves a window**: a duplicate written between the
/// last check and the end of the build makes the build fail with
/// [`DedupeError::IndexBuild`]; re-running resolves it. That fallback needs the key to have
/// no index yet.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{rollout_unique_index, Keep, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// let done = rollout_unique_index(&users, &index, Keep::oldest())
///     .on_progress(|p| eprint!("\r{:?}: {} deleted", p.step(), p.removed()))
///     .await?;
/// println!("{} is unique", done.index());
/// # Ok(())
/// # }
/// ```
///
/// Merged, every document archived first:
///
/// ```no_run
/// use dupkey::dedupe::{rollout_unique_index, Archive, Keep, Merge, Resolve, UniqueIndex};
///
/// # async fn run(db: mongodb::Database) -> Result<(), dupkey::dedupe::DedupeError> {
/// let users = db.collection::<mongodb::bson::Document>("users");
/// let archive = Archive::new(&db.collection::<()>("dedupe_archive"), "email-rollout-1");
/// let merge = Resolve::Merge(Keep::oldest(), Merge::union_arrays(), archive);
/// rollout_unique_index(&users, &UniqueIndex::new(["email"]), merge).await?;
/// # Ok(())
/// # }
/// ```
pub fn rollout_unique_index<'a, T: Send + Sync>(
    collection: &Collection<T>,
    index: &'a UniqueIndex,
    resolve: impl Into<Resolve<'a>>,
) -> RolloutUniqueIndex<'a> {
    RolloutUniqueIndex {
        collection: collection.clone_with_type(),
        index,
        resolve: resolve.into(),
        archive: None,
        online: true,
        batch_size: 1000,
        throttle: None,
        max_ids: None,
        null_keys: false,
        on_progress: None,
    }
}

/// The builder [`rollout_unique_index`] returns; await it for the [`Rollout`] report.
///
/// # Examples
///
/// ```no_run
/// # use dupkey::dedupe::{rollout_unique_index, Keep, UniqueIndex};
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// let done = rollout_unique_index(&users, &index, Keep::oldest()).batch_size(500).await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until awaited"]
pub struct RolloutUniqueIndex<'a> {
    collection: Collection<Document>,
    index: &'a UniqueIndex,
    resolve: Resolve<'a>,
    archive: Option<Archive>,
    online: bool,
    batch_size: usize,
    throttle: Option<Duration>,
    max_ids: Option<usize>,
    null_keys: bool,
    on_progress: Option<OnRolloutProgress<'a>>,
}

impl<'a> RolloutUniqueIndex<'a> {
    /// Archives every document before it is deleted or changed, under `archive`'s run id, as
    /// [`ResolveDuplicates::archive`](super::ResolveDuplicates::archive) does: a delete is
    /// archived only with it; a merge or a re-key always is, and this archive replaces the
    /// one it was given. Re-run with the same run id after an interruption;
    /// [`restore`](super::restore) puts the run back.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{rollout_unique_index, Archive, Keep, UniqueIndex};
    /// # async fn run(db: mongodb::Database) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let users = db.collection::<mongodb::bson::Document>("users");
    /// let archive = Archive::new(&db.collection::<()>("dedupe_archive"), "email-rollout-1");
    /// rollout_unique_index(&users, &UniqueIndex::new(["email"]), Keep::oldest())
    ///     .archive(archive)
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn archive(mut self, archive: Archive) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Uses `prepareUnique` when the server has it (default `true`); `false` takes the
    /// checked build, with its window.
    pub fn online(mut self, online: bool) -> Self {
        self.online = online;
        self
    }

    /// Deletes or updates at most `size` documents per command (default 1,000; at least 1),
    /// as [`ResolveDuplicates::batch_size`](super::ResolveDuplicates::batch_size).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }

    /// Waits this long after each write command of the resolution, to spare a busy primary.
    pub fn throttle(mut self, pause: Duration) -> Self {
        self.throttle = Some(pause);
        self
    }

    /// Reads at most `max` `_id`s per group and pass of the resolution (default 10,000; at
    /// least 1), as
    /// [`ResolveDuplicates::max_ids_per_group`](super::ResolveDuplicates::max_ids_per_group):
    /// a merge or a re-key needs each group whole.
    pub fn max_ids_per_group(mut self, max: usize) -> Self {
        self.max_ids = Some(max);
        self
    }

    /// Resolves groups whose every key field is null or missing too, as
    /// [`ResolveDuplicates::null_keys`](super::ResolveDuplicates::null_keys) does. Without
    /// it, such groups stop the rollout before the conversion
    /// ([`DedupeError::NullKeyGroups`]): they usually call for a sparse or partial index.
    pub fn null_keys(mut self, resolve: bool) -> Self {
        self.null_keys = resolve;
        self
    }

    /// Calls `callback` when each step starts and as the resolution goes, and once at the end
    /// ([`RolloutStep::Done`]).
    pub fn on_progress(mut self, callback: impl FnMut(&RolloutProgress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }
}

impl fmt::Debug for RolloutUniqueIndex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RolloutUniqueIndex")
            .field("namespace", &self.collection.namespace())
            .field("index", &self.index)
            .field("resolve", &self.resolve)
            .field("archive", &self.archive)
            .field("online", &self.online)
            .finish_non_exhaustive()
    }
}

impl<'a> IntoFuture for RolloutUniqueIndex<'a> {
    type Output = Result<Rollout, DedupeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Progress shared between the run and the resolution's own callback.
type Shared<'a> = Arc<Mutex<(RolloutProgress, Option<OnRolloutProgress<'a>>)>>;

fn tell(shared: &Shared<'_>, change: impl FnOnce(&mut RolloutProgress)) {
    let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
    let (progress, callback) = &mut *guard;
    change(progress);
    if let Some(callback) = callback {
        callback(progress);
    }
}

/// What the resolution step is given: the resolve functions' arguments and setters.
struct Resolution<'a> {
    resolve: Resolve<'a>,
    archive: Option<Archive>,
    batch_size: usize,
    throttle: Option<Duration>,
    max_ids: Option<usize>,
    null_keys: bool,
}

impl Resolution<'_> {
    /// The resolution's input, checked before the rollout writes anything (the resolve run
    /// checks it again when it starts): the keep strategy's field and a re-key's rule.
    fn check(&self, index: &UniqueIndex) -> Result<(), DedupeError> {
        let keep = match &self.resolve {
            Resolve::Delete(keep) | Resolve::Merge(keep, ..) => keep,
            Resolve::Rekey(keep, rekey, _) => {
                rekey.check(index)?;
                keep
            }
        };
        match keep.sort_key() {
            Some(sort) => check_field(&sort.field),
            None => Ok(()),
        }
    }
}

impl<'a> RolloutUniqueIndex<'a> {
    async fn run(self) -> Result<Rollout, DedupeError> {
        let RolloutUniqueIndex {
            collection,
            index,
            resolve,
            archive,
            online,
            batch_size,
            throttle,
            max_ids,
            null_keys,
            on_progress,
        } = self;
        index.validate()?;
        if batch_size == 0 {
            return Err(DedupeError::ZeroLimit {
                option: "batch_size",
            });
        }
        if max_ids == Some(0) {
            return Err(DedupeError::ZeroLimit {
                option: "max_ids_per_group",
            });
        }
        let resolution = Resolution {
            resolve,
            archive,
            batch_size,
            throttle,
            max_ids,
            null_keys,
        };
        resolution.check(index)?;
        let shared: Shared<'a> = Arc::new(Mutex::new((RolloutProgress::default(), on_progress)));
        let found = find_index(&collection, index).await?;
        let started_from = found.as_ref().map_or(IndexState::Missing, state);
        let online = online && has_prepare_unique(&collection).await?;
        let mut report = Rollout {
            index: String::new(),
            started_from,
            online,
            server_groups: 0,
            removal: Removal::default(),
        };
        if !online {
            tell(&shared, |p| p.step = RolloutStep::Resolve);
            report.removal = resolve_groups(&collection, index, resolution, &shared).await?;
            null_key_groups_left(&report.removal)?;
            tell(&shared, |p| p.step = RolloutStep::Build);
            report.index = create_unique_index(&collection, index).await?;
            tell(&shared, |p| p.step = RolloutStep::Done);
            return Ok(report);
        }
        let name = match found {
            Some(found) => found.name().to_owned(),
            None => create_plain(&collection, index).await?,
        };
        report.index = name.clone();
        if started_from == IndexState::Unique {
            tell(&shared, |p| p.step = RolloutStep::Done);
            return Ok(report);
        }
        if started_from != IndexState::Prepared {
            collmod(
                &collection,
                doc! { "name": &name, "prepareUnique": true },
                false,
            )
            .await?;
        }
        // What refuses new duplicates from here on is the index asked for.
        read_back(&collection, index, &name, IndexState::Prepared).await?;

        tell(&shared, |p| p.step = RolloutStep::CrossCheck);
        report.server_groups = cross_check(&collection, index, &name).await?;

        if report.server_groups > 0 {
            tell(&shared, |p| p.step = RolloutStep::Resolve);
            report.removal = resolve_groups(&collection, index, resolution, &shared).await?;
            null_key_groups_left(&report.removal)?;
        }

        tell(&shared, |p| p.step = RolloutStep::Convert);
        if let Some(violations) =
            collmod(&collection, doc! { "name": &name, "unique": true }, false).await?
        {
            // New duplicates are refused since the prepare step: what is left is a group
            // the aggregation did not see.
            return Err(DedupeError::Disagreement {
                server_groups: violations.sizes.len() as u64,
                found_groups: 0,
            });
        }
        // `collMod` converts whatever index bears the name now.
        read_back(&collection, index, &name, IndexState::Unique).await?;
        tell(&shared, |p| p.step = RolloutStep::Done);
        Ok(report)
    }
}

/// Null-key groups the resolve run left alone: the unique index would refuse them, so the
/// rollout stops before converting (or building) it.
fn null_key_groups_left(removal: &Removal) -> Result<(), DedupeError> {
    match removal.null_key_groups() {
        0 => Ok(()),
        groups => Err(DedupeError::NullKeyGroups { groups }),
    }
}

/// The resolution step, by the resolve functions' own run; its progress is passed on.
async fn resolve_groups<'a>(
    collection: &Collection<Document>,
    index: &'a UniqueIndex,
    resolution: Resolution<'a>,
    shared: &Shared<'a>,
) -> Result<Removal, DedupeError> {
    let Resolution {
        resolve,
        archive,
        batch_size,
        throttle,
        max_ids,
        null_keys,
    } = resolution;
    let mut run = match resolve {
        Resolve::Delete(keep) => remove_duplicates(collection, index, keep),
        Resolve::Merge(keep, merge, archive) => {
            merge_duplicates(collection, index, keep, merge, archive)
        }
        Resolve::Rekey(keep, rekey, archive) => {
            rekey_duplicates(collection, index, keep, rekey, archive)
        }
    };
    if let Some(archive) = archive {
        run = run.archive(archive);
    }
    if let Some(pause) = throttle {
        run = run.throttle(pause);
    }
    if let Some(max) = max_ids {
        run = run.max_ids_per_group(max);
    }
    let shared = shared.clone();
    run.batch_size(batch_size)
        .null_keys(null_keys)
        .on_progress(move |p| {
            tell(&shared, |r| {
                r.groups = p.groups();
                r.removed = p.removed();
                r.changed = p.changed();
            })
        })
        .await
}
