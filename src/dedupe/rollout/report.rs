//! What a rollout tells: where it found the index, the step it is at, and what it did.

use super::super::Removal;

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
    /// The fallback for servers before 6.0: the checked build ([`create_unique_index`](super::super::create_unique_index)).
    Build,
    /// Over.
    Done,
}

/// How far a [`rollout_unique_index`](super::rollout_unique_index) run is.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::{RolloutProgress, RolloutStep};
/// let p = RolloutProgress::default();
/// assert_eq!((p.step(), p.groups(), p.removed(), p.changed()), (RolloutStep::Prepare, 0, 0, 0));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutProgress {
    pub(super) step: RolloutStep,
    pub(super) groups: u64,
    pub(super) removed: u64,
    pub(super) changed: u64,
}

impl Default for RolloutProgress {
    fn default() -> Self {
        RolloutProgress {
            step: RolloutStep::Prepare,
            groups: 0,
            removed: 0,
            changed: 0,
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

    /// Documents changed so far (merged survivors, re-keyed documents).
    pub fn changed(&self) -> u64 {
        self.changed
    }
}

/// What a [`rollout_unique_index`](super::rollout_unique_index) run did.
///
/// # Examples
///
/// ```no_run
/// # fn show(done: &dupkey::dedupe::Rollout) {
/// println!(
///     "{} is unique (from {:?}, online: {}); {} duplicates deleted, {} archived",
///     done.index(), done.started_from(), done.is_online(), done.removal().removed(),
///     done.removal().archived(),
/// );
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    pub(super) index: String,
    pub(super) started_from: IndexState,
    pub(super) online: bool,
    pub(super) server_groups: u64,
    pub(super) removal: Removal,
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

    /// What the resolution did: groups, documents deleted, changed and archived.
    pub fn removal(&self) -> &Removal {
        &self.removal
    }
}
