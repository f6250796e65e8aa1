//! [`IndexCache`]: what the write helpers know of one deployment's indexes.
//!
//! A `Collection` says nothing about the deployment it belongs to (the driver exposes no
//! client identity), so the cache cannot tell two deployments apart by itself: the
//! application owns one [`IndexCache`] per `Client` and hands it to the helpers, or relies
//! on [`IndexCache::global`], which assumes one deployment per namespace in the process.
//!
//! Entries are never trusted blindly. A reported index name the list lacks, or whose fields
//! disagree with the message, re-reads the list; a filter the list does not back re-reads it
//! before it is refused; a filter the list backs is accepted only from a list younger than
//! the cache's maximum age. Concurrent readers of one namespace share one `listIndexes`: a
//! refresh is single-flight, and a caller that waited for another's refresh takes its result.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mongodb::{Collection, Namespace};

use crate::index::Indexes;

/// How long an index list backs an upsert filter by default.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30);

/// The index lists the write helpers have read from one deployment, by namespace.
///
/// Keep one per [`mongodb::Client`] (it is cheap to clone: clones share the lists) and pass
/// it to the helpers with their `index_cache` setter. Without one, the helpers use
/// [`IndexCache::global`], which is right as long as a namespace (`db.collection`) means one
/// collection in the process: two deployments that share a namespace (staging and production,
/// one cluster per tenant, test servers) each need their own cache, or an index list read on
/// one would answer for the other.
///
/// How fresh a list is:
/// - a conflict's index name is looked up in the list, and a name the list lacks, or whose
///   fields disagree with the server's message, re-reads it;
/// - an upsert no unique index backs (on its filter's fields, holding what it would insert)
///   re-reads the list before it is refused;
/// - an upsert filter is accepted only from a list read within the cache's
///   [maximum age](Self::with_max_age) (30 seconds by default). A unique index dropped and
///   recreated as a plain one within that window can still back a filter;
/// - a bulk insert too large to bound without the unique indexes cuts its batches by a list
///   read within the maximum age. A unique index created within that window, after the
///   list was read, is not counted: its refusals can make a reply too large, and the
///   import then stops with the rest unconfirmed.
///
/// # Examples
///
/// ```no_run
/// use dupkey::prelude::*;
/// use dupkey::IndexCache;
/// use mongodb::bson::{doc, Document};
///
/// # async fn run(staging: mongodb::Client, production: mongodb::Client) -> Result<(), dupkey::Error> {
/// let staging_indexes = IndexCache::new();
/// let production_indexes = IndexCache::new();
/// let filter = doc! { "email": "ann@example.com" };
/// let update = doc! { "$inc": { "logins": 1 } };
/// staging
///     .database("app")
///     .collection::<Document>("users")
///     .upsert_by_unique(filter.clone(), update.clone())
///     .index_cache(&staging_indexes)
///     .await?;
/// production
///     .database("app")
///     .collection::<Document>("users")
///     .upsert_by_unique(filter, update)
///     .index_cache(&production_indexes)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct IndexCache {
    inner: Arc<Inner>,
}

struct Inner {
    max_age: Duration,
    entries: Mutex<HashMap<Namespace, Arc<Entry>>>,
}

impl IndexCache {
    /// An empty cache whose lists back upsert filters for 30 seconds.
    pub fn new() -> Self {
        Self::with_max_age(DEFAULT_MAX_AGE)
    }

    /// An empty cache whose lists back upsert filters for `max_age`; `Duration::ZERO` reads
    /// the list before every upsert.
    pub fn with_max_age(max_age: Duration) -> Self {
        IndexCache {
            inner: Arc::new(Inner {
                max_age,
                entries: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The process-wide cache the helpers use when given none. It assumes that a namespace
    /// means one collection in the process.
    pub fn global() -> &'static IndexCache {
        static GLOBAL: LazyLock<IndexCache> = LazyLock::new(IndexCache::new);
        &GLOBAL
    }

    /// How long a list backs an upsert filter.
    pub fn max_age(&self) -> Duration {
        self.inner.max_age
    }

    /// Forgets the list of `namespace`: the next helper that needs it reads it again.
    pub fn forget(&self, namespace: &Namespace) {
        lock(&self.inner.entries).remove(namespace);
    }

    /// Forgets every list.
    pub fn clear(&self) {
        lock(&self.inner.entries).clear();
    }

    /// The cached list of `namespace` (possibly not read yet). Never does I/O.
    pub(crate) fn cached(&self, namespace: Namespace) -> Cached {
        let entry = Arc::clone(lock(&self.inner.entries).entry(namespace).or_default());
        let slot = lock(&entry.slot).clone();
        Cached {
            entry,
            slot,
            max_age: self.inner.max_age,
        }
    }
}

impl Default for IndexCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = lock(&self.inner.entries);
        f.debug_struct("IndexCache")
            .field("max_age", &self.inner.max_age)
            .field("namespaces", &entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What the cache knows of one namespace.
#[derive(Default)]
struct Entry {
    slot: Mutex<Slot>,
    /// Held while `listIndexes` runs: one read at a time per namespace.
    refresh: futures_util::lock::Mutex<()>,
    /// The same, for the blocking API.
    #[cfg(feature = "sync")]
    refresh_blocking: Mutex<()>,
}

#[derive(Default, Clone)]
struct Slot {
    /// How many times the list was read; 0 = never.
    generation: u64,
    indexes: Option<Arc<Indexes>>,
    read_at: Option<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The cached index list of one collection, as seen at one moment.
pub(crate) struct Cached {
    entry: Arc<Entry>,
    slot: Slot,
    max_age: Duration,
}

impl Cached {
    /// The list, when it has been read.
    pub(crate) fn current(&self) -> Option<Arc<Indexes>> {
        self.slot.indexes.clone()
    }

    /// The list, when it has been read within the cache's maximum age.
    pub(crate) fn fresh(&self) -> Option<Arc<Indexes>> {
        let read_at = self.slot.read_at?;
        (read_at.elapsed() <= self.max_age)
            .then(|| self.slot.indexes.clone())
            .flatten()
    }

    /// Reads the list again, unless another caller did since this one looked: then that
    /// caller's list is taken. Runs outside any session (`listIndexes` is not allowed in a
    /// transaction, and a transaction a duplicate key just aborted would refuse it).
    pub(crate) async fn refresh<T: Send + Sync>(
        &mut self,
        coll: &Collection<T>,
    ) -> mongodb::error::Result<Arc<Indexes>> {
        let entry = Arc::clone(&self.entry);
        let _reading = entry.refresh.lock().await;
        if let Some(indexes) = self.newer() {
            return Ok(indexes);
        }
        let indexes = Arc::new(crate::index::list(coll).await?);
        self.store(Arc::clone(&indexes));
        Ok(indexes)
    }

    /// [`refresh`](Self::refresh) for the blocking API.
    #[cfg(feature = "sync")]
    pub(crate) fn refresh_blocking<T: Send + Sync>(
        &mut self,
        coll: &mongodb::sync::Collection<T>,
    ) -> mongodb::error::Result<Arc<Indexes>> {
        let entry = Arc::clone(&self.entry);
        let _reading = lock(&entry.refresh_blocking);
        if let Some(indexes) = self.newer() {
            return Ok(indexes);
        }
        let indexes = Arc::new(crate::index::list_blocking(coll)?);
        self.store(Arc::clone(&indexes));
        Ok(indexes)
    }

    /// The list another caller read since this one looked, taken as this one's.
    fn newer(&mut self) -> Option<Arc<Indexes>> {
        let current = lock(&self.entry.slot).clone();
        let indexes = current.indexes.clone()?;
        (current.generation > self.slot.generation).then(|| {
            self.slot = current;
            indexes
        })
    }

    fn store(&mut self, indexes: Arc<Indexes>) {
        let mut slot = lock(&self.entry.slot);
        slot.generation += 1;
        slot.indexes = Some(indexes);
        slot.read_at = Some(Instant::now());
        self.slot = slot.clone();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use mongodb::bson::doc;
    use mongodb::Namespace;

    use super::IndexCache;
    use crate::index::Indexes;

    fn ns(coll: &str) -> Namespace {
        Namespace::new("db", coll)
    }

    #[test]
    fn caches_do_not_share_lists() {
        let one = IndexCache::new();
        let two = IndexCache::new();
        let mut cached = one.cached(ns("users"));
        cached.store(Arc::new(Indexes::from_specs([])));
        assert!(one.cached(ns("users")).current().is_some());
        assert!(two.cached(ns("users")).current().is_none());
        assert!(one.clone().cached(ns("users")).current().is_some());
    }

    #[test]
    fn forget_and_clear() {
        let cache = IndexCache::new();
        for coll in ["a", "b"] {
            cache
                .cached(ns(coll))
                .store(Arc::new(Indexes::from_specs([])));
        }
        cache.forget(&ns("a"));
        assert!(cache.cached(ns("a")).current().is_none());
        assert!(cache.cached(ns("b")).current().is_some());
        cache.clear();
        assert!(cache.cached(ns("b")).current().is_none());
    }

    #[test]
    fn a_list_older_than_the_max_age_backs_nothing() {
        let cache = IndexCache::with_max_age(Duration::ZERO);
        let mut cached = cache.cached(ns("users"));
        cached.store(Arc::new(Indexes::from_specs([
            doc! { "key": { "email": 1 }, "name": "email_1", "unique": true },
        ])));
        std::thread::sleep(Duration::from_millis(2));
        let cached = cache.cached(ns("users"));
        assert!(cached.current().is_some());
        assert!(cached.fresh().is_none());

        let cache = IndexCache::new();
        let mut cached = cache.cached(ns("users"));
        cached.store(Arc::new(Indexes::from_specs([])));
        assert!(cache.cached(ns("users")).fresh().is_some());
        assert_eq!(cache.max_age(), Duration::from_secs(30));
    }
}
