//! [`Resolution`] (one group), [`Skipped`] (a group left alone) and [`Report`] (a whole run).

use std::fmt;

use mongodb::bson::{Bson, Document};

/// What a run does with one group: keep one document, delete or change the listed others.
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
    pub(crate) key: Document,
    pub(crate) count: u64,
    pub(crate) survivor: Bson,
    pub(crate) removed: Vec<Bson>,
    pub(crate) changed: Vec<Bson>,
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

    /// The `_id`s changed (in a dry run: that would be): the survivor of a merge, the
    /// others of a re-key.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(r: &dupkey::dedupe::Resolution) {
    /// println!("{} to change", r.changed().len());
    /// # }
    /// ```
    pub fn changed(&self) -> &[Bson] {
        &self.changed
    }
}

/// What a [`remove_duplicates`](super::remove_duplicates), [`merge_duplicates`](super::merge_duplicates) or
/// [`rekey_duplicates`](super::rekey_duplicates) run did.
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub(crate) groups: u64,
    pub(crate) removed: u64,
    pub(crate) changed: u64,
    pub(crate) archived: u64,
    pub(crate) passes: u32,
    pub(crate) dry_run: bool,
    pub(crate) skipped: Vec<Skipped>,
}

/// The report's former name.
pub type Removal = Report;

impl Report {
    /// Groups resolved (a group larger than the id limit counts once per pass).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Report::default().groups(), 0);
    /// ```
    pub fn groups(&self) -> u64 {
        self.groups
    }

    /// Documents the server deleted; in a dry run, the number that would be deleted.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Report::default().removed(), 0);
    /// ```
    pub fn removed(&self) -> u64 {
        self.removed
    }

    /// Documents changed (matched by the update); in a dry run, the number that would be.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Report::default().changed(), 0);
    /// ```
    pub fn changed(&self) -> u64 {
        self.changed
    }

    /// Documents archived by this call (a re-run does not archive a document twice).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Report::default().archived(), 0);
    /// ```
    pub fn archived(&self) -> u64 {
        self.archived
    }

    /// Aggregations run: more than one when a group was larger than the id limit.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Report::default().passes(), 0);
    /// ```
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// The groups the run left alone, and why: a group whose every key field is null or
    /// missing (unless [`null_keys`](super::ResolveDuplicates::null_keys) asked for them),
    /// and a group whose survivor was deleted or changed by another writer since the run
    /// read it. Nothing of a skipped group is deleted or changed (it may be archived).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(dupkey::dedupe::Report::default().skipped().is_empty());
    /// ```
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Groups left alone because every key field is null or missing (at most one per
    /// index: the key `{ <each field>: null }`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(dupkey::dedupe::Report::default().null_key_groups(), 0);
    /// ```
    pub fn null_key_groups(&self) -> u64 {
        self.skipped
            .iter()
            .filter(|s| s.reason == SkipReason::NullKey)
            .count() as u64
    }

    /// Whether this was a dry run (nothing written).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!dupkey::dedupe::Report::default().is_dry_run());
    /// ```
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}

/// A duplicate group a run left alone: see [`Report::skipped`].
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{remove_duplicates, Keep, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let done = remove_duplicates(&users, &UniqueIndex::new(["email"]), Keep::oldest()).await?;
/// for group in done.skipped() {
///     eprintln!("{} documents left alone: {}", group.count(), group.reason());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub(crate) key: Document,
    pub(crate) count: u64,
    pub(crate) survivor: Option<Bson>,
    pub(crate) reason: SkipReason,
}

impl Skipped {
    /// The group's key.
    pub fn key(&self) -> &Document {
        &self.key
    }

    /// How many documents the group had when it was read.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The survivor the run had picked (none for a group skipped before picking one).
    pub fn survivor(&self) -> Option<&Bson> {
        self.survivor.as_ref()
    }

    /// Why the group was left alone.
    pub fn reason(&self) -> SkipReason {
        self.reason
    }
}

/// Why a run left a duplicate group alone.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::SkipReason;
///
/// assert_eq!(
///     SkipReason::SurvivorChanged.to_string(),
///     "the survivor was deleted or changed by another writer since it was read"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Every key field is null or missing: these documents usually lack the value rather
    /// than share it, so they are not merged or deleted unless asked for.
    NullKey,
    /// The survivor is gone, no longer holds the key it was read with, or (in a merge) no
    /// longer holds the merged values: another writer deleted or changed it.
    SurvivorChanged,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::NullKey => {
                "every key field is null or missing, which a sparse or partial unique index leaves out"
            }
            SkipReason::SurvivorChanged => {
                "the survivor was deleted or changed by another writer since it was read"
            }
        })
    }
}
