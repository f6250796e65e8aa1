//! [`rollout_unique_index`]: a unique index rolled out with no window for new duplicates.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use mongodb::bson::{doc, Document};
use mongodb::Collection;

mod report;
mod server;

pub use report::{IndexState, Rollout, RolloutProgress, RolloutStep};

use super::{
    create_unique_index, merge_duplicates, rekey_duplicates, remove_duplicates, Archive,
    DedupeError, Keep, Merge, Rekey, Removal, UniqueIndex,
};
use server::{collmod, create_plain, cross_check, find_index, has_prepare_unique, state};

/// A progress callback.
type OnRolloutProgress<'a> = Box<dyn FnMut(&RolloutProgress) + Send + 'a>;

/// How a rollout resolves the duplicate groups it finds.
///
/// Built from a [`Keep`] (`Keep::oldest().into()`); more strategies will join it.
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
    /// [`remove_duplicates`] does.
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
/// 3. **Resolve** the groups with `resolve` ([`Resolve::Delete`] with a [`Keep`], or a merge or a re-key,
///    that is [`remove_duplicates`]);
/// 4. **Convert**: `collMod ... unique: true`.
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
pub fn rollout_unique_index<'a, T: Send + Sync>(
    collection: &Collection<T>,
    index: &'a UniqueIndex,
    resolve: impl Into<Resolve<'a>>,
) -> RolloutUniqueIndex<'a> {
    RolloutUniqueIndex {
        collection: collection.clone_with_type(),
        index,
        resolve: resolve.into(),
        online: true,
        batch_size: 1000,
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
    online: bool,
    batch_size: usize,
    on_progress: Option<OnRolloutProgress<'a>>,
}

impl<'a> RolloutUniqueIndex<'a> {
    /// Uses `prepareUnique` when the server has it (default `true`); `false` takes the
    /// checked build, with its window.
    pub fn online(mut self, online: bool) -> Self {
        self.online = online;
        self
    }

    /// Deletes at most `size` documents per `delete_many` (default 1,000; at least 1).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
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

impl<'a> RolloutUniqueIndex<'a> {
    async fn run(self) -> Result<Rollout, DedupeError> {
        let RolloutUniqueIndex {
            collection,
            index,
            resolve,
            online,
            batch_size,
            on_progress,
        } = self;
        index.validate()?;
        if batch_size == 0 {
            return Err(DedupeError::ZeroLimit {
                option: "batch_size",
            });
        }
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
            report.removal =
                resolve_groups(&collection, index, resolve, batch_size, &shared).await?;
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

        tell(&shared, |p| p.step = RolloutStep::CrossCheck);
        report.server_groups = cross_check(&collection, index, &name).await?;

        if report.server_groups > 0 {
            tell(&shared, |p| p.step = RolloutStep::Resolve);
            report.removal =
                resolve_groups(&collection, index, resolve, batch_size, &shared).await?;
        }

        tell(&shared, |p| p.step = RolloutStep::Convert);
        match collmod(&collection, doc! { "name": &name, "unique": true }, false).await? {
            None => {}
            Some(violations) => {
                // New duplicates are refused since the prepare step: what is left is a group
                // the aggregation did not see.
                return Err(DedupeError::Disagreement {
                    server_groups: violations.sizes.len() as u64,
                    found_groups: 0,
                });
            }
        }
        tell(&shared, |p| p.step = RolloutStep::Done);
        Ok(report)
    }
}

/// The resolution step; its progress is passed on.
async fn resolve_groups<'a>(
    collection: &Collection<Document>,
    index: &'a UniqueIndex,
    resolve: Resolve<'a>,
    batch_size: usize,
    shared: &Shared<'a>,
) -> Result<Removal, DedupeError> {
    let run = match resolve {
        Resolve::Delete(keep) => remove_duplicates(collection, index, keep),
        Resolve::Merge(keep, merge, archive) => {
            merge_duplicates(collection, index, keep, merge, archive)
        }
        Resolve::Rekey(keep, rekey, archive) => {
            rekey_duplicates(collection, index, keep, rekey, archive)
        }
    };
    let shared = shared.clone();
    run.batch_size(batch_size)
        .on_progress(move |p| {
            tell(&shared, |r| {
                r.groups = p.groups();
                r.removed = p.removed();
            })
        })
        .await
}
