//! The write helpers on the driver's blocking API (`mongodb::sync`, feature `sync`).
//!
//! The same helpers as the async ones, shaped like the driver's own sync actions: make the
//! action, set options, then [`run`](Insert::run) it. They share every rule with the async
//! helpers (what is sent, which filters an upsert takes, when a race is retried, how a
//! duplicate gets its exact key, what a bulk insert reports); only the I/O here is blocking.
//!
//! ```no_run
//! use dupkey::sync::prelude::*;
//! use mongodb::bson::{doc, Document};
//!
//! # fn run(users: mongodb::sync::Collection<Document>) -> Result<(), dupkey::Error> {
//! match users.insert_or_conflict(doc! { "email": "ann@example.com" }).run() {
//!     Ok(_) => println!("welcome"),
//!     Err(dupkey::Error::Duplicate(dup)) => println!("taken: {dup}"),
//!     Err(other) => return Err(other),
//! }
//! # Ok(())
//! # }
//! ```

use std::borrow::Borrow;
use std::sync::Arc;

use mongodb::bson::{Document, RawDocumentBuf};
use mongodb::options::{
    FindOneAndUpdateOptions, InsertManyOptions, InsertOneOptions, UpdateModifications,
};
use mongodb::results::InsertOneResult;
use mongodb::sync::{ClientSession, Collection};
use serde::Serialize;

use crate::conflict::batches::ErrorBound;
use crate::conflict::exact::Exact;
use crate::conflict::prepare::prepare;
use crate::conflict::private::Sealed;
use crate::conflict::setters;
use crate::conflict::upsert_rules::{Checked, Step};
use crate::index::Indexes;
use crate::{DuplicateKey, Error, IndexCache, InsertManyReport, Refusal, Upserted};

/// The blocking extension traits, in one `use dupkey::sync::prelude::*`.
pub mod prelude {
    pub use super::{InsertManyOrConflict, InsertOrConflict, UpsertByUnique};
    pub use crate::IsDuplicate;
}

/// [`crate::InsertOrConflict`] on `mongodb::sync::Collection`.
///
/// This trait is sealed: only `mongodb::sync::Collection` implements it.
pub trait InsertOrConflict<T: Send + Sync>: Sealed {
    /// Inserts `doc`; [`run`](Insert::run) the returned action. See
    /// [`crate::InsertOrConflict`] for what a conflict reports.
    fn insert_or_conflict(&self, doc: impl Borrow<T>) -> Insert<'_, T>;
}

/// [`crate::InsertManyOrConflict`] on `mongodb::sync::Collection`.
///
/// This trait is sealed: only `mongodb::sync::Collection` implements it.
pub trait InsertManyOrConflict<T: Send + Sync>: Sealed {
    /// Inserts `docs`, unordered; [`run`](InsertMany::run) the returned action. See
    /// [`crate::InsertManyOrConflict`] for what the report holds.
    fn insert_many_or_conflict(
        &self,
        docs: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> InsertMany<'_, T>;
}

/// [`crate::UpsertByUnique`] on `mongodb::sync::Collection`.
///
/// This trait is sealed: only `mongodb::sync::Collection` implements it.
pub trait UpsertByUnique<T: Send + Sync>: Sealed {
    /// Updates the document whose unique key equals `filter`, or inserts one;
    /// [`run`](Upsert::run) the returned action. See [`crate::UpsertByUnique`] for the
    /// checks and retries.
    fn upsert_by_unique(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Upsert<'_, T>;
}

impl<T: Serialize + Send + Sync> InsertOrConflict<T> for Collection<T> {
    fn insert_or_conflict(&self, doc: impl Borrow<T>) -> Insert<'_, T> {
        Insert {
            coll: self,
            doc: prepare(doc.borrow()),
            options: InsertOneOptions::default(),
            session: None,
            cache: IndexCache::global(),
        }
    }
}

impl<T: Serialize + Send + Sync> InsertManyOrConflict<T> for Collection<T> {
    fn insert_many_or_conflict(
        &self,
        docs: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> InsertMany<'_, T> {
        InsertMany {
            coll: self,
            docs: docs.into_iter().map(|doc| prepare(doc.borrow())).collect(),
            options: InsertManyOptions::default(),
            session: None,
            cache: IndexCache::global(),
        }
    }
}

impl<T: Send + Sync> UpsertByUnique<T> for Collection<T> {
    fn upsert_by_unique(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Upsert<'_, T> {
        Upsert {
            coll: self,
            checked: Checked::new(filter, update.into()),
            options: FindOneAndUpdateOptions::default(),
            session: None,
            cache: IndexCache::global(),
        }
    }
}

/// A blocking [`crate::action::Insert`].
#[must_use = "an action does nothing until it is run"]
pub struct Insert<'a, T: Send + Sync> {
    coll: &'a Collection<T>,
    doc: mongodb::error::Result<RawDocumentBuf>,
    options: InsertOneOptions,
    session: Option<&'a mut ClientSession>,
    cache: &'a IndexCache,
}

impl<'a, T: Send + Sync> Insert<'a, T> {
    setters!(common, ::mongodb::sync::ClientSession);

    /// Runs the insert.
    pub fn run(self) -> Result<InsertOneResult, Error> {
        let sent = [self.doc?];
        let raw = self.coll.clone_with_type::<RawDocumentBuf>();
        let action = raw.insert_one(&sent[0]).with_options(self.options);
        let result = match self.session {
            Some(session) => action.session(session).run(),
            None => action.run(),
        };
        let err = match result {
            Ok(inserted) => return Ok(inserted),
            Err(err) => err,
        };
        match DuplicateKey::from_error(&err) {
            Some(dup) => {
                let exact = exact_keys(self.coll, self.cache, vec![dup], &sent);
                let dup = exact.into_iter().next().expect("one duplicate in, one out");
                Err(Error::Duplicate(dup))
            }
            None => Err(Error::Driver(err)),
        }
    }
}

/// A blocking [`crate::action::InsertMany`].
#[must_use = "an action does nothing until it is run"]
pub struct InsertMany<'a, T: Send + Sync> {
    coll: &'a Collection<T>,
    docs: mongodb::error::Result<Vec<RawDocumentBuf>>,
    options: InsertManyOptions,
    session: Option<&'a mut ClientSession>,
    cache: &'a IndexCache,
}

impl<'a, T: Send + Sync> InsertMany<'a, T> {
    setters!(common, ::mongodb::sync::ClientSession);

    /// Runs the bulk insert.
    pub fn run(mut self) -> Result<InsertManyReport, Error> {
        let sent = self.docs?;
        let mut options = self.options;
        options.ordered = Some(false);
        let raw = self.coll.clone_with_type::<RawDocumentBuf>();
        let mut report = InsertManyReport::new(sent.len());
        let mut dups = Vec::new();
        let mut bound = ErrorBound::unknown(&self.coll.namespace());
        if bound.needs_list(&sent) {
            let mut cached = self.cache.cached(self.coll.namespace());
            let indexes = match cached.fresh() {
                Some(indexes) => Ok(indexes),
                None => cached.refresh_blocking(self.coll),
            };
            // Unreadable, the list leaves the bound that knows no index: smaller batches.
            if let Ok(indexes) = indexes {
                bound.know(&indexes);
            }
        }
        for range in bound.batches(&sent) {
            let action = raw
                .insert_many(&sent[range.clone()])
                .with_options(options.clone());
            let result = match self.session.as_deref_mut() {
                Some(session) => action.session(session).run(),
                None => action.run(),
            };
            report.record(&sent, range, result.map(drop), &mut dups)?;
            if report.is_stopped() {
                break;
            }
        }
        let dups = exact_keys(self.coll, self.cache, dups, &sent);
        report.into_result(dups)
    }
}

/// A blocking [`crate::action::Upsert`].
#[must_use = "an action does nothing until it is run"]
pub struct Upsert<'a, T: Send + Sync> {
    coll: &'a Collection<T>,
    checked: Result<Checked, Refusal>,
    options: FindOneAndUpdateOptions,
    session: Option<&'a mut ClientSession>,
    cache: &'a IndexCache,
}

impl<'a, T: Send + Sync> Upsert<'a, T> {
    setters!(common, ::mongodb::sync::ClientSession);
    setters!(upsert);

    /// Runs the upsert.
    pub fn run(mut self) -> Result<Upserted<T>, Error> {
        let checked = self.checked?;
        let indexes = unique_indexes(self.coll, self.cache, &checked)?;
        let plan = checked.plan(&indexes)?;
        let options = plan.options(self.options);
        let raw = self.coll.clone_with_type::<RawDocumentBuf>();
        let mut collided = None;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let action = raw
                .find_one_and_update(plan.filter.clone(), plan.update.clone())
                .with_options(options.clone());
            let result = match self.session.as_deref_mut() {
                Some(session) => action.session(session).run(),
                None => action.run(),
            };
            let err = match result {
                Ok(previous) => return Upserted::new(previous, plan.inserted_id),
                Err(err) => err,
            };
            match plan.after(err, attempts, &mut collided) {
                Step::Retry => continue,
                Step::Fail(err) => return Err(err),
            }
        }
    }
}

/// [`crate::conflict::exact::exact_keys`], blocking.
fn exact_keys<T: Send + Sync>(
    coll: &Collection<T>,
    cache: &IndexCache,
    dups: Vec<DuplicateKey>,
    sent: &[RawDocumentBuf],
) -> Vec<DuplicateKey> {
    let mut cached = cache.cached(coll.namespace());
    let mut exact = Exact::new(cached.current().as_deref(), dups);
    if exact.needs_list() {
        if let Ok(indexes) = cached.refresh_blocking(coll) {
            exact.refine(&indexes);
        }
    }
    exact.finish(sent)
}

/// The upsert's index list, blocking: the cached one when it backs the filter and is fresh.
fn unique_indexes<T: Send + Sync>(
    coll: &Collection<T>,
    cache: &IndexCache,
    checked: &Checked,
) -> Result<Arc<Indexes>, Error> {
    let mut cached = cache.cached(coll.namespace());
    match cached.fresh() {
        Some(indexes) if checked.backed_by(&indexes) => Ok(indexes),
        _ => cached.refresh_blocking(coll).map_err(Error::Driver),
    }
}
