//! [`rollout_unique_index`]: a unique index rolled out with no window for new duplicates.

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document, RawDocument};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::build::{same_collation, sign};
use super::server_index::{self, ServerIndex};
use super::{
    create_unique_index, find_duplicates, merge_duplicates, rekey_duplicates, remove_duplicates,
    Archive, DedupeError, Keep, Merge, Rekey, Removal, UniqueIndex,
};

/// `CannotConvertIndexToUnique`: duplicates stand in the way of `collMod ... unique: true`.
const CANNOT_CONVERT_INDEX_TO_UNIQUE: i32 = 359;
/// The wire version of MongoDB 6.0, the first with `prepareUnique`.
const WIRE_VERSION_6_0: i32 = 17;
/// Cross-checks tried before a disagreement is reported: another client's deletes or
/// updates between the two reads can make them differ for a moment.
const CROSS_CHECKS: u32 = 3;

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

/// What the collection had, where the rollout found it.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::IndexState;
/// # fn show(state: IndexState) {
/// if state == IndexState::Unique {
///     println!("nothing was left to do");
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexState {
    /// No index on the key.
    Missing,
    /// A plain index on the key.
    Plain,
    /// An index with `prepareUnique`: new duplicates are refused, old ones may remain.
    Prepared,
    /// The unique index.
    Unique,
}

/// The step a rollout is at.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::RolloutStep;
/// assert_ne!(RolloutStep::Prepare, RolloutStep::Convert);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RolloutStep {
    /// Creating the index or setting `prepareUnique`: new duplicates are refused after it.
    Prepare,
    /// Comparing the server's violations report with the aggregation's groups.
    CrossCheck,
    /// Resolving the existing duplicate groups.
    Resolve,
    /// `collMod ... unique: true`.
    Convert,
    /// The fallback for servers before 6.0: the checked build ([`create_unique_index`]).
    Build,
    /// Over.
    Done,
}

/// How far a [`rollout_unique_index`] run is.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::{RolloutProgress, RolloutStep};
/// let p = RolloutProgress::default();
/// assert_eq!((p.step(), p.groups(), p.removed()), (RolloutStep::Prepare, 0, 0));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutProgress {
    step: RolloutStep,
    groups: u64,
    removed: u64,
}

impl Default for RolloutProgress {
    fn default() -> Self {
        RolloutProgress {
            step: RolloutStep::Prepare,
            groups: 0,
            removed: 0,
        }
    }
}

impl RolloutProgress {
    /// The current step.
    pub fn step(&self) -> RolloutStep {
        self.step
    }

    /// Duplicate groups resolved so far.
    pub fn groups(&self) -> u64 {
        self.groups
    }

    /// Documents deleted so far.
    pub fn removed(&self) -> u64 {
        self.removed
    }
}

/// What a [`rollout_unique_index`] run did.
///
/// # Examples
///
/// ```no_run
/// # fn show(done: &dupkey::dedupe::Rollout) {
/// println!(
///     "{} is unique (from {:?}, online: {}); {} duplicates deleted",
///     done.index(), done.started_from(), done.is_online(), done.removal().removed(),
/// );
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    index: String,
    started_from: IndexState,
    online: bool,
    server_groups: u64,
    removal: Removal,
}

impl Rollout {
    /// The unique index's name.
    pub fn index(&self) -> &str {
        &self.index
    }

    /// What the collection had when the run started.
    pub fn started_from(&self) -> IndexState {
        self.started_from
    }

    /// Whether the online path ran (`prepareUnique`, 6.0+) rather than the checked build.
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Duplicate groups the server's violations report listed before resolving (0 on the
    /// checked build, which has no such report).
    pub fn server_groups(&self) -> u64 {
        self.server_groups
    }

    /// What the resolution removed.
    pub fn removal(&self) -> &Removal {
        &self.removal
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
///    its violations) must list the same groups as [`find_duplicates`]; if they disagree
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

/// The index on `index`'s key with its collation and partial filter (and its name, if it
/// has one), unique or not.
async fn find_index(
    collection: &Collection<Document>,
    index: &UniqueIndex,
) -> Result<Option<ServerIndex>, DedupeError> {
    let indexes = server_index::list(collection).await?;
    Ok(indexes.into_iter().find(|found| same_index(index, found)))
}

fn same_index(wanted: &UniqueIndex, found: &ServerIndex) -> bool {
    let key = found.key();
    let same_keys = key.len() == wanted.keys().len()
        && key
            .iter()
            .zip(wanted.keys())
            .all(|((f1, d1), (f2, d2))| f1 == f2 && sign(d1).is_some() && sign(d1) == sign(d2));
    same_keys
        && wanted.name().is_none_or(|name| name == found.name())
        && found.partial_filter() == wanted.partial_filter()
        && same_collation(wanted.collation(), found.collation().as_ref())
}

fn state(found: &ServerIndex) -> IndexState {
    if found.unique() {
        IndexState::Unique
    } else if found.prepare_unique() {
        IndexState::Prepared
    } else {
        IndexState::Plain
    }
}

/// Whether the server has `prepareUnique` (6.0+), from `hello`'s `maxWireVersion`.
async fn has_prepare_unique(collection: &Collection<Document>) -> Result<bool, DedupeError> {
    let hello = collection
        .client()
        .database("admin")
        .run_command(doc! { "hello": 1 })
        .await
        .map_err(DedupeError::driver("hello"))?;
    let wire = match hello.get("maxWireVersion") {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        _ => 0,
    };
    Ok(wire >= i64::from(WIRE_VERSION_6_0))
}

/// Creates the index without `unique`: building it cannot fail on duplicates.
async fn create_plain(
    collection: &Collection<Document>,
    index: &UniqueIndex,
) -> Result<String, DedupeError> {
    let options = IndexOptions::builder()
        .name(index.name().map(str::to_owned))
        .collation(index.collation().cloned())
        .partial_filter_expression(index.partial_filter().cloned())
        .build();
    let model = IndexModel::builder()
        .keys(index.keys().clone())
        .options(options)
        .build();
    let created = collection
        .create_index(model)
        .await
        .map_err(DedupeError::driver("createIndexes"))?;
    Ok(created.index_name)
}

/// The groups of a refused conversion: each `_id` by a 64-bit hash, each group by its size,
/// read straight from the raw reply (a fraction of its parsed size).
#[derive(Default)]
struct Violations {
    sizes: Vec<usize>,
    group_of: HashMap<u64, usize>,
}

impl Violations {
    fn read(reply: &RawDocument) -> Option<Self> {
        let mut violations = Violations::default();
        for (n, entry) in reply.get_array("violations").ok()?.into_iter().enumerate() {
            let ids = entry.ok()?.as_document()?.get_array("ids").ok()?;
            let mut size = 0;
            for id in ids {
                let id = Bson::try_from(id.ok()?).ok()?;
                violations.group_of.insert(id_hash(&id), n);
                size += 1;
            }
            violations.sizes.push(size);
        }
        Some(violations)
    }
}

/// `collMod { index: <change> }`; with `dry_run`, only checks. A refusal for duplicates
/// answers their groups, `None` meaning none.
async fn collmod(
    collection: &Collection<Document>,
    change: Document,
    dry_run: bool,
) -> Result<Option<Violations>, DedupeError> {
    let namespace = collection.namespace();
    let mut command = doc! { "collMod": &namespace.coll, "index": change };
    if dry_run {
        command.insert("dryRun", true);
    }
    let reply = collection
        .client()
        .database(&namespace.db)
        .run_command(command)
        .await;
    let err = match reply {
        Ok(_) => return Ok(None),
        Err(err) => err,
    };
    if server_index::code(&err) != Some(CANNOT_CONVERT_INDEX_TO_UNIQUE) {
        return Err(DedupeError::Driver {
            operation: "collMod",
            source: err,
        });
    }
    err.server_response()
        .and_then(|raw| Violations::read(raw))
        .map(Some)
        .ok_or(DedupeError::Reply {
            detail: "a refused conversion without readable violations",
        })
}

/// Compares the server's dry-run violations with [`find_duplicates`]' groups, group by
/// group; answers how many groups there are. Tries again a few times before reporting a
/// disagreement, since deletes by other clients can land between the two reads.
async fn cross_check(
    collection: &Collection<Document>,
    index: &UniqueIndex,
    name: &str,
) -> Result<u64, DedupeError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Violations { sizes, group_of } =
            collmod(collection, doc! { "name": name, "unique": true }, true)
                .await?
                .unwrap_or_default();
        let mut groups = find_duplicates(collection, index)
            .max_ids_per_group(i32::MAX as usize)
            .await?;
        let mut found = 0u64;
        let mut agree = true;
        while let Some(group) = groups.try_next().await? {
            found += 1;
            let mut numbers = group.ids().iter().map(|id| group_of.get(&id_hash(id)));
            let first = numbers.next().flatten();
            agree &= first.is_some_and(|n| sizes[*n] == group.ids().len())
                && numbers.all(|n| n == first);
        }
        agree &= found == sizes.len() as u64;
        if agree {
            return Ok(found);
        }
        if attempt >= CROSS_CHECKS {
            return Err(DedupeError::Disagreement {
                server_groups: sizes.len() as u64,
                found_groups: found,
            });
        }
    }
}

/// A hash of an `_id`'s type and value, without allocating.
fn id_hash(id: &Bson) -> u64 {
    use std::fmt::Write;
    use std::hash::{DefaultHasher, Hasher};

    struct Writer(DefaultHasher);
    impl Write for Writer {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut writer = Writer(DefaultHasher::new());
    let _ = write!(writer, "{id:?}");
    writer.0.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(spec: Document) -> ServerIndex {
        ServerIndex { spec }
    }

    #[test]
    fn the_state_is_read_from_the_spec() {
        let wanted = UniqueIndex::new(["email"]);
        let plain = spec(doc! { "key": { "email": 1 }, "name": "email_1" });
        assert!(same_index(&wanted, &plain));
        assert_eq!(state(&plain), IndexState::Plain);
        let prepared =
            spec(doc! { "key": { "email": 1 }, "name": "email_1", "prepareUnique": true });
        assert_eq!(state(&prepared), IndexState::Prepared);
        let unique = spec(doc! { "key": { "email": 1 }, "name": "email_1", "unique": true });
        assert_eq!(state(&unique), IndexState::Unique);
        assert!(!same_index(
            &wanted,
            &spec(doc! { "key": { "email": -1 }, "name": "e" })
        ));
        assert!(!same_index(&wanted.clone().with_name("other"), &plain));
        let partial = spec(doc! {
            "key": { "email": 1 }, "name": "email_1",
            "partialFilterExpression": { "active": true },
        });
        assert!(!same_index(&wanted, &partial));
        assert!(same_index(
            &wanted.with_partial_filter(doc! { "active": true }),
            &partial
        ));
    }

    #[test]
    fn ids_hash_by_type_and_value() {
        assert_eq!(id_hash(&Bson::Int32(1)), id_hash(&Bson::Int32(1)));
        assert_ne!(id_hash(&Bson::Int32(1)), id_hash(&Bson::Int64(1)));
        assert_ne!(id_hash(&Bson::from("a")), id_hash(&Bson::from("b")));
    }
}
