//! [`find_duplicates`]: the groups of documents that a unique index would refuse.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::Stream;
use mongodb::bson::{Bson, Document};
use mongodb::{Collection, Cursor};

use super::pipeline::{self, SortKey};
use super::{DedupeError, UniqueIndex};

/// How many `_id`s a group lists at most, unless the caller says otherwise.
pub(crate) const DEFAULT_MAX_IDS: usize = 10_000;

/// A progress callback.
pub(crate) type OnProgress<'a> = Box<dyn FnMut(&Progress) + Send + 'a>;

/// Documents that share one key: a unique index on it would refuse all but one of them.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{find_duplicates, UniqueIndex};
/// use futures_util::TryStreamExt;
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let mut groups = find_duplicates(&users, &UniqueIndex::new(["email"])).await?;
/// while let Some(group) = groups.try_next().await? {
///     println!("{} x {}: {:?}", group.count(), group.key(), group.ids());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DuplicateGroup {
    pub(crate) key: Document,
    pub(crate) count: u64,
    pub(crate) ids: Vec<Bson>,
    /// The survivor the server picked (only when removing with a sorted keep strategy).
    pub(crate) keep: Option<Bson>,
}

impl DuplicateGroup {
    /// The shared key, keyed by the index's field names: `{ tenant: 3, email: "a@b.c" }`.
    /// A missing field reads `null`, as the index stores it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::DuplicateGroup;
    /// # fn show(group: &DuplicateGroup) {
    /// println!("{}", group.key());
    /// # }
    /// ```
    pub fn key(&self) -> &Document {
        &self.key
    }

    /// How many documents share the key (always at least 2).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::DuplicateGroup;
    /// # fn show(group: &DuplicateGroup) {
    /// assert!(group.count() >= 2);
    /// # }
    /// ```
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The documents' `_id`s, in no particular order: all of them, or the first
    /// `max_ids_per_group` when the group is larger (see [`is_complete`](Self::is_complete)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::DuplicateGroup;
    /// # fn show(group: &DuplicateGroup) {
    /// assert!(group.ids().len() as u64 <= group.count());
    /// # }
    /// ```
    pub fn ids(&self) -> &[Bson] {
        &self.ids
    }

    /// Whether [`ids`](Self::ids) lists every document of the group.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::DuplicateGroup;
    /// # fn show(group: &DuplicateGroup) {
    /// assert_eq!(group.is_complete(), group.ids().len() as u64 == group.count());
    /// # }
    /// ```
    pub fn is_complete(&self) -> bool {
        self.ids.len() as u64 >= self.count
    }
}

/// How far a [`find_duplicates`] or [`remove_duplicates`](super::remove_duplicates) run is.
///
/// The server groups the whole collection before it sends the first group, so progress
/// starts when the groups arrive.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{find_duplicates, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// let groups = find_duplicates(&users, &index)
///     .on_progress(|p| eprint!("\r{} groups, {} documents", p.groups(), p.documents()))
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub(crate) groups: u64,
    pub(crate) documents: u64,
    pub(crate) removed: u64,
    pub(crate) changed: u64,
    pub(crate) finished: bool,
}

impl Progress {
    /// Duplicate groups read so far.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Progress::default().groups(), 0);
    /// ```
    pub fn groups(&self) -> u64 {
        self.groups
    }

    /// Documents in those groups.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Progress::default().documents(), 0);
    /// ```
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// Documents deleted so far by [`remove_duplicates`](super::remove_duplicates) (in a dry
    /// run: that would be deleted); 0 when only finding.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Progress::default().removed(), 0);
    /// ```
    pub fn removed(&self) -> u64 {
        self.removed
    }

    /// Documents changed so far by a merge or a re-key (in a dry run: that would be).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Progress::default().changed(), 0);
    /// ```
    pub fn changed(&self) -> u64 {
        self.changed
    }

    /// Whether this is the last report: every group has been read (and handled).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!dupkey::dedupe::Progress::default().finished());
    /// ```
    pub fn finished(&self) -> bool {
        self.finished
    }
}

/// Finds the groups of documents that share a key of `index`: what a unique index on it
/// would refuse.
///
/// Runs one aggregation (`$match` for the partial filter, `$group` by the key, `$match` on
/// groups of two or more, with `allowDiskUse` and the index's collation) and streams its
/// groups from the cursor, so memory stays bounded whatever the collection's size: one
/// cursor batch, and at most `max_ids_per_group` `_id`s per group (default 10,000).
///
/// Keys compare as the index compares them: a missing field and `null` are one key, `1`,
/// `1.0` and `NumberLong(1)` are one key, strings compare under the index's collation, and
/// embedded documents compare whole. A key field that holds an array (a multikey index, which
/// indexes each element) is **not supported**: the stream ends with
/// [`DedupeError::ArrayKey`] when it meets one.
///
/// Await the returned builder to check the input (before anything is read), check that the
/// collection exists, and open the cursor.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{find_duplicates, UniqueIndex};
/// use futures_util::TryStreamExt;
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["tenant", "email"]);
/// let groups: Vec<_> = find_duplicates(&users, &index)
///     .max_ids_per_group(100)
///     .await?
///     .try_collect()
///     .await?;
/// println!("{} keys are duplicated", groups.len());
/// # Ok(())
/// # }
/// ```
pub fn find_duplicates<'a, T: Send + Sync>(
    collection: &Collection<T>,
    index: &UniqueIndex,
) -> FindDuplicates<'a> {
    FindDuplicates {
        collection: collection.clone_with_type(),
        index: index.clone(),
        max_ids: DEFAULT_MAX_IDS,
        on_progress: None,
    }
}

/// The builder [`find_duplicates`] returns; await it for the [`DuplicateGroups`] stream.
///
/// # Examples
///
/// ```no_run
/// # use dupkey::dedupe::{find_duplicates, UniqueIndex};
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// let groups = find_duplicates(&users, &index).max_ids_per_group(5).await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until awaited"]
pub struct FindDuplicates<'a> {
    collection: Collection<Document>,
    index: UniqueIndex,
    max_ids: usize,
    on_progress: Option<OnProgress<'a>>,
}

impl<'a> FindDuplicates<'a> {
    /// Lists at most `max` `_id`s per group (default 10,000); [`DuplicateGroup::count`]
    /// still counts them all. Must be at least 1.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{find_duplicates, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// let groups = find_duplicates(&users, &index).max_ids_per_group(3).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_ids_per_group(mut self, max: usize) -> Self {
        self.max_ids = max;
        self
    }

    /// Calls `callback` after each group and once more when the stream ends
    /// ([`Progress::finished`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{find_duplicates, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// let groups = find_duplicates(&users, &index)
    ///     .on_progress(|p| eprint!("\r{} groups", p.groups()))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_progress(mut self, callback: impl FnMut(&Progress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }
}

impl<'a> IntoFuture for FindDuplicates<'a> {
    type Output = Result<DuplicateGroups<'a>, DedupeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let FindDuplicates {
                collection,
                index,
                max_ids,
                on_progress,
            } = self;
            let mut groups = DuplicateGroups::open(&collection, &index, max_ids, None).await?;
            groups.on_progress = on_progress;
            Ok(groups)
        })
    }
}

/// The stream of [`DuplicateGroup`]s that [`find_duplicates`] yields, straight from the
/// server's cursor. After an error it ends.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{find_duplicates, UniqueIndex};
/// use futures_util::TryStreamExt;
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let index = UniqueIndex::new(["email"]);
/// let mut groups = find_duplicates(&users, &index).await?;
/// let mut extra = 0;
/// while let Some(group) = groups.try_next().await? {
///     extra += group.count() - 1;
/// }
/// assert_eq!(groups.progress().finished(), true);
/// println!("{extra} documents to remove");
/// # Ok(())
/// # }
/// ```
pub struct DuplicateGroups<'a> {
    cursor: Cursor<Document>,
    fields: Vec<String>,
    sort: Option<SortKey>,
    progress: Progress,
    on_progress: Option<OnProgress<'a>>,
    done: bool,
}

impl<'a> DuplicateGroups<'a> {
    /// Validates, checks the collection, and opens the cursor.
    pub(crate) async fn open(
        collection: &Collection<Document>,
        index: &UniqueIndex,
        max_ids: usize,
        sort: Option<SortKey>,
    ) -> Result<Self, DedupeError> {
        index.validate()?;
        if let Some(sort) = &sort {
            super::spec::check_field(&sort.field)?;
        }
        if max_ids == 0 {
            return Err(DedupeError::ZeroLimit {
                option: "max_ids_per_group",
            });
        }
        let cursor = pipeline::open(collection, index, max_ids, sort.as_ref()).await?;
        Ok(DuplicateGroups {
            cursor,
            fields: index.fields().map(str::to_owned).collect(),
            sort,
            progress: Progress::default(),
            on_progress: None,
            done: false,
        })
    }

    pub(crate) fn set_on_progress(&mut self, callback: Option<OnProgress<'a>>) {
        self.on_progress = callback;
    }

    /// How far the stream is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{find_duplicates, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// # let index = UniqueIndex::new(["email"]);
    /// let groups = find_duplicates(&users, &index).await?;
    /// assert_eq!(groups.progress().groups(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    fn report(&mut self) {
        if let Some(callback) = &mut self.on_progress {
            callback(&self.progress);
        }
    }
}

impl Stream for DuplicateGroups<'_> {
    type Item = Result<DuplicateGroup, DedupeError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let item = match ready!(Pin::new(&mut this.cursor).poll_next(cx)) {
            Some(Ok(raw)) => pipeline::read_group(&this.fields, this.sort.as_ref(), raw),
            Some(Err(err)) => Err(DedupeError::Driver {
                operation: "aggregate",
                source: err,
            }),
            None => {
                this.done = true;
                this.progress.finished = true;
                this.report();
                return Poll::Ready(None);
            }
        };
        match &item {
            Ok(group) => {
                this.progress.groups += 1;
                this.progress.documents += group.count;
                this.report();
            }
            Err(_) => this.done = true,
        }
        Poll::Ready(Some(item))
    }
}

impl fmt::Debug for DuplicateGroups<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuplicateGroups")
            .field("fields", &self.fields)
            .field("progress", &self.progress)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
