//! [`Keep`]: which document of each duplicate group survives.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use futures_util::future::BoxFuture;
use mongodb::bson::{Bson, Document};

use super::pipeline::SortKey;
#[cfg(doc)]
use super::DedupeError;
use super::DuplicateGroup;

/// A caller's choice of survivor by `_id`.
pub(crate) type Chooser<'a> = Box<dyn FnMut(&DuplicateGroup) -> Option<Bson> + Send + 'a>;
/// A caller's preference between two documents: whether the first beats the second.
pub(crate) type Preferrer<'a> = Box<dyn Prefer + 'a>;

/// [`Keep::prefer`]'s function, its future boxed. A trait object, not a boxed closure
/// returning a boxed future, so that `Keep<'a>` stays covariant in `'a`.
pub(crate) trait Prefer: Send {
    fn prefer<'s>(&'s mut self, candidate: &Document, best: &Document) -> BoxFuture<'s, bool>;
}

struct PreferFn<F, Fut> {
    prefer: F,
    future: PhantomData<fn() -> Fut>,
}

impl<F, Fut> Prefer for PreferFn<F, Fut>
where
    F: FnMut(&Document, &Document) -> Fut + Send,
    Fut: Future<Output = bool> + Send,
{
    fn prefer<'s>(&'s mut self, candidate: &Document, best: &Document) -> BoxFuture<'s, bool> {
        Box::pin((self.prefer)(candidate, best))
    }
}

/// Which document of each duplicate group survives a
/// [`remove_duplicates`](super::remove_duplicates), merge or re-key.
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
    pub(crate) inner: Strategy<'a>,
}

pub(crate) enum Strategy<'a> {
    Sorted(SortKey),
    Chosen(Chooser<'a>),
    Prefer(Preferrer<'a>),
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

    /// Reads each group's documents and keeps the best by `prefer(candidate, best)`: the
    /// documents come one by one in `_id` order, the first is the best so far, and each
    /// next one replaces it when `prefer` resolves to `true`. Only the best so far and the
    /// candidate are held, and `prefer` may wait on anything (a lookup elsewhere, say).
    ///
    /// The whole group must be listed: a group larger than the id limit stops the run
    /// ([`DedupeError::GroupTooLarge`]) before anything of
    /// it is written. On a re-run after an interruption, documents this run already changed
    /// are shown as archived, so the same survivor comes out.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::dedupe::Keep;
    ///
    /// // The most complete profile; on a tie, the smaller `_id` (the first seen).
    /// let keep = Keep::prefer(|candidate, best| {
    ///     std::future::ready(candidate.len() > best.len())
    /// });
    /// ```
    pub fn prefer<F>(prefer: impl FnMut(&Document, &Document) -> F + Send + 'a) -> Self
    where
        F: Future<Output = bool> + Send + 'a,
    {
        Keep {
            inner: Strategy::Prefer(Box::new(PreferFn {
                prefer,
                future: PhantomData,
            })),
        }
    }

    /// Whether the server can pick the survivor while grouping.
    pub(crate) fn sort_key(&self) -> Option<SortKey> {
        match &self.inner {
            Strategy::Sorted(sort) => Some(sort.clone()),
            Strategy::Chosen(_) | Strategy::Prefer(_) => None,
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
            Strategy::Prefer(_) => f.write_str("Keep::prefer(..)"),
        }
    }
}
