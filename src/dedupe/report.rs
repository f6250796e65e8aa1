//! [`Resolution`] (one group) and [`Report`] (a whole run).

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub(crate) groups: u64,
    pub(crate) removed: u64,
    pub(crate) changed: u64,
    pub(crate) archived: u64,
    pub(crate) passes: u32,
    pub(crate) dry_run: bool,
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
