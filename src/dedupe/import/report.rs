//! What a check of an import found: [`ImportCheck`], its conflicts and its progress.

use mongodb::bson::{Bson, Document};

/// What a row collides with: the document that holds its key first.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::Collider;
///
/// # fn show(with: &Collider) {
/// match with {
///     Collider::Row(position) => println!("an earlier row, #{position}"),
///     Collider::Stored(id) => println!("the stored document {id}"),
///     _ => println!("a document the check could not name"),
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Collider {
    /// An earlier row of the import, by position (0-based).
    Row(u64),
    /// A document already in the collection, by `_id`.
    Stored(Bson),
    /// A document the check could not name: the index is text or geo, or the key holds an
    /// array (a multikey index compares its elements).
    Unknown,
}

/// One row the collection would refuse, on one unique index.
///
/// # Examples
///
/// ```no_run
/// # fn show(conflict: &dupkey::dedupe::RowConflict) {
/// println!("row {} on {}: {:?}", conflict.position(), conflict.index(), conflict.with());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RowConflict {
    pub(super) position: u64,
    pub(super) index: String,
    pub(super) with: Collider,
}

impl RowConflict {
    /// The row's position in the import (0-based).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The name of the unique index that refuses it.
    pub fn index(&self) -> &str {
        &self.index
    }

    /// What it collides with.
    pub fn with(&self) -> &Collider {
        &self.with
    }
}

/// One row the collection's validator would refuse.
///
/// # Examples
///
/// ```no_run
/// # fn show(row: &dupkey::dedupe::InvalidRow) {
/// println!("row {} fails the validator: {:?}", row.position(), row.details());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidRow {
    pub(super) position: u64,
    pub(super) details: Option<Document>,
}

impl InvalidRow {
    /// The row's position in the import (0-based).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// What the server says fails (its `errInfo`: the rules not met, which may show the
    /// row's values).
    pub fn details(&self) -> Option<&Document> {
        self.details.as_ref()
    }
}

/// What [`check_import`](super::check_import) did with the collection's validator.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::ValidatorCheck;
///
/// # fn show(check: &dupkey::dedupe::ImportCheck) {
/// if check.validator() == ValidatorCheck::NotEnforced {
///     println!("the validator only warns: invalid rows are not reported");
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidatorCheck {
    /// The collection has no validator.
    #[default]
    NoValidator,
    /// Every row was judged by it, as the server judges an insert.
    Checked,
    /// It refuses no insert (`validationLevel: "off"` or `validationAction: "warn"`), so
    /// rows were not judged by it.
    NotEnforced,
}

/// How far a [`check_import`](super::check_import) run is.
///
/// # Examples
///
/// ```
/// let p = dupkey::dedupe::ImportProgress::default();
/// assert_eq!((p.rows(), p.conflicts(), p.finished()), (0, 0, false));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub(super) rows: u64,
    pub(super) conflicts: u64,
    pub(super) rows_refused: u64,
    pub(super) finished: bool,
}

impl ImportProgress {
    /// Rows checked so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Conflicts found so far.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Rows refused so far, by an index or by the validator.
    pub fn rows_refused(&self) -> u64 {
        self.rows_refused
    }

    /// Whether this is the last report.
    pub fn finished(&self) -> bool {
        self.finished
    }
}

/// What [`check_import`](super::check_import) found.
///
/// # Examples
///
/// ```no_run
/// # fn show(check: &dupkey::dedupe::ImportCheck) {
/// if !check.is_clean() {
///     println!(
///         "{} of {} rows would be refused ({} conflicts with rows, {} with stored documents)",
///         check.rows_refused(), check.rows(), check.with_rows(), check.with_stored(),
///     );
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportCheck {
    pub(super) rows: u64,
    pub(super) rows_refused: u64,
    pub(super) conflicts: u64,
    pub(super) with_rows: u64,
    pub(super) with_stored: u64,
    pub(super) rows_invalid: u64,
    pub(super) indexes: Vec<String>,
    pub(super) first: Vec<RowConflict>,
    pub(super) first_invalid: Vec<InvalidRow>,
    pub(super) validator: ValidatorCheck,
}

impl ImportCheck {
    /// Rows checked.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows that would be refused: by at least one unique index, or by the validator.
    pub fn rows_refused(&self) -> u64 {
        self.rows_refused
    }

    /// Rows the collection's validator would refuse (see [`validator`](Self::validator)).
    pub fn rows_invalid(&self) -> u64 {
        self.rows_invalid
    }

    /// The first rows the validator would refuse, in row order, at most
    /// [`max_reported`](super::CheckImport::max_reported) of them; all of them go through
    /// [`on_invalid`](super::CheckImport::on_invalid).
    pub fn first_invalid(&self) -> &[InvalidRow] {
        &self.first_invalid
    }

    /// Whether the collection's validator was checked.
    pub fn validator(&self) -> ValidatorCheck {
        self.validator
    }

    /// Conflicts: one per refused row and unique index on which its key is held already
    /// (by a stored document, or by an earlier row that was accepted).
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Conflicts with an earlier row of the import.
    pub fn with_rows(&self) -> u64 {
        self.with_rows
    }

    /// Conflicts with a stored document. The rest of [`conflicts`](Self::conflicts) are
    /// with a [`Collider::Unknown`].
    pub fn with_stored(&self) -> u64 {
        self.with_stored
    }

    /// The unique indexes checked, by name (`_id_` among them: rows without `_id` pass it).
    pub fn indexes(&self) -> &[String] {
        &self.indexes
    }

    /// The first conflicts, in row order, at most
    /// [`max_reported`](super::CheckImport::max_reported) of them; all of them go through
    /// [`on_conflict`](super::CheckImport::on_conflict).
    pub fn first_conflicts(&self) -> &[RowConflict] {
        &self.first
    }

    /// No row would be refused.
    pub fn is_clean(&self) -> bool {
        self.rows_refused == 0
    }
}
