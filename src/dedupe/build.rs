//! [`create_unique_index`] (checked first) and [`verify`].

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use futures_util::TryStreamExt;
use mongodb::bson::Document;
use mongodb::Collection;

use super::find::{OnProgress, DEFAULT_MAX_IDS};
use super::{indexes, DedupeError, DuplicateGroups, Progress, UniqueIndex};
use crate::DuplicateKey;

/// Builds the unique index `index` describes, after checking that no duplicates stand in
/// its way.
///
/// The check is one [`find_duplicates`](super::find_duplicates) pass: when it finds
/// duplicates, the index is not built and the error is [`DedupeError::Duplicates`], with
/// the first groups (10 unless [`max_reported_groups`](CreateUniqueIndex::max_reported_groups)
/// says otherwise) and the total count, instead of the server's failure late in the build.
/// When the build still fails on a duplicate key (a write raced in after the check), the
/// error is [`DedupeError::IndexBuild`], with the server's [`DuplicateKey`].
///
/// Resolves to the index's name. Building an index that already exists with the same
/// options succeeds and changes nothing.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{create_unique_index, DedupeError, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), DedupeError> {
/// match create_unique_index(&users, &UniqueIndex::new(["email"])).await {
///     Ok(name) => println!("built {name}"),
///     Err(DedupeError::Duplicates { groups, total }) => {
///         println!("{total} duplicated emails, such as {}", groups[0].key());
///     }
///     Err(err) => return Err(err),
/// }
/// # Ok(())
/// # }
/// ```
pub fn create_unique_index<'a, T: Send + Sync>(
    collection: &Collection<T>,
    index: &'a UniqueIndex,
) -> CreateUniqueIndex<'a> {
    CreateUniqueIndex {
        collection: collection.clone_with_type(),
        index,
        max_groups: 10,
        max_ids: DEFAULT_MAX_IDS,
        on_progress: None,
    }
}

/// The builder [`create_unique_index`] returns; await it for the index's name.
///
/// # Examples
///
/// ```no_run
/// # use dupkey::dedupe::{create_unique_index, UniqueIndex};
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let name = create_unique_index(&users, &UniqueIndex::new(["email"]))
///     .max_reported_groups(3)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until awaited"]
pub struct CreateUniqueIndex<'a> {
    collection: Collection<Document>,
    index: &'a UniqueIndex,
    max_groups: usize,
    max_ids: usize,
    on_progress: Option<OnProgress<'a>>,
}

impl<'a> CreateUniqueIndex<'a> {
    /// Returns at most `max` groups in [`DedupeError::Duplicates`] (default 10); the total
    /// is counted all the same.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{create_unique_index, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// create_unique_index(&users, &UniqueIndex::new(["email"])).max_reported_groups(1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_reported_groups(mut self, max: usize) -> Self {
        self.max_groups = max;
        self
    }

    /// Lists at most `max` `_id`s per reported group (default 10,000).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{create_unique_index, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// create_unique_index(&users, &UniqueIndex::new(["email"])).max_ids_per_group(5).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_ids_per_group(mut self, max: usize) -> Self {
        self.max_ids = max;
        self
    }

    /// Calls `callback` while the check reads groups, and once when the check is over
    /// ([`Progress::finished`]), just before the build starts.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::dedupe::{create_unique_index, UniqueIndex};
    /// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
    /// create_unique_index(&users, &UniqueIndex::new(["email"]))
    ///     .on_progress(|p| if p.finished() { eprintln!("checked; building") })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_progress(mut self, callback: impl FnMut(&Progress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }
}

impl<'a> IntoFuture for CreateUniqueIndex<'a> {
    type Output = Result<String, DedupeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let CreateUniqueIndex {
                collection,
                index,
                max_groups,
                max_ids,
                on_progress,
            } = self;
            let mut groups = DuplicateGroups::open(&collection, index, max_ids, None).await?;
            groups.set_on_progress(on_progress);
            let mut first = Vec::new();
            let mut total = 0;
            while let Some(group) = groups.try_next().await? {
                total += 1;
                if first.len() < max_groups {
                    first.push(group);
                }
            }
            if total > 0 {
                return Err(DedupeError::Duplicates {
                    groups: first,
                    total,
                });
            }
            match collection.create_index(index.model()).await {
                Ok(created) => Ok(created.index_name),
                Err(source) => Err(match DuplicateKey::from_error(&source) {
                    Some(duplicate) => DedupeError::IndexBuild {
                        duplicate: Box::new(duplicate),
                        source,
                    },
                    None => DedupeError::Driver {
                        operation: "createIndexes",
                        source,
                    },
                }),
            }
        })
    }
}

/// What [`verify`] found.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{verify, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let check = verify(&users, &UniqueIndex::new(["email"])).await?;
/// if !check.is_verified() {
///     println!("{} groups left, index: {:?}", check.duplicate_groups(), check.index());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    duplicate_groups: u64,
    index: Option<String>,
    in_the_way: Option<String>,
}

impl Verification {
    /// Duplicate groups left (0 when clean).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(check: &dupkey::dedupe::Verification) {
    /// assert_eq!(check.duplicate_groups(), 0);
    /// # }
    /// ```
    pub fn duplicate_groups(&self) -> u64 {
        self.duplicate_groups
    }

    /// The name of the unique index that matches, when there is one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(check: &dupkey::dedupe::Verification) {
    /// assert_eq!(check.index(), Some("email_1"));
    /// # }
    /// ```
    pub fn index(&self) -> Option<&str> {
        self.index.as_deref()
    }

    /// The name of an index that is not the one described but has its name (or the name the
    /// server would give it) or its key pattern: building the described index would fail,
    /// or succeed and leave this one in place. Drop it, or describe it as it is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(check: &dupkey::dedupe::Verification) {
    /// if let Some(name) = check.in_the_way() {
    ///     eprintln!("index {name} has the same name or key and other options");
    /// }
    /// # }
    /// ```
    pub fn in_the_way(&self) -> Option<&str> {
        self.in_the_way.as_deref()
    }

    /// No duplicates left, and the unique index is there.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(check: &dupkey::dedupe::Verification) {
    /// assert_eq!(check.is_verified(), check.duplicate_groups() == 0 && check.index().is_some());
    /// # }
    /// ```
    pub fn is_verified(&self) -> bool {
        self.duplicate_groups == 0 && self.index.is_some()
    }
}

/// Checks that the collection holds no duplicate of `index`'s key and has a unique index
/// like it: `unique: true`, the same key fields in the same order and directions, the same
/// partial filter, the same collation (every option given in `index`'s collation), and the
/// same name if `index` names one.
///
/// # Examples
///
/// ```no_run
/// use dupkey::dedupe::{verify, UniqueIndex};
///
/// # async fn run(users: mongodb::Collection<mongodb::bson::Document>) -> Result<(), dupkey::dedupe::DedupeError> {
/// let check = verify(&users, &UniqueIndex::new(["email"])).await?;
/// assert!(check.is_verified());
/// # Ok(())
/// # }
/// ```
pub async fn verify<T: Send + Sync>(
    collection: &Collection<T>,
    index: &UniqueIndex,
) -> Result<Verification, DedupeError> {
    let collection = collection.clone_with_type::<Document>();
    let mut groups = DuplicateGroups::open(&collection, index, 1, None).await?;
    let mut duplicate_groups = 0;
    while groups.try_next().await?.is_some() {
        duplicate_groups += 1;
    }
    let listed = indexes::list(&collection).await?;
    let found = listed
        .iter()
        .find(|found| found.unique() && found.is_same_as(index));
    let in_the_way = listed.iter().find(|other| other.is_in_the_way_of(index));
    Ok(Verification {
        duplicate_groups,
        index: found.map(|found| found.name().to_owned()),
        in_the_way: in_the_way.map(|other| other.name().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Index;
    use mongodb::bson::doc;
    use mongodb::options::{Collation, CollationStrength};

    /// Whether `verify` takes the listed index `spec` as the one `wanted` describes.
    fn matches(wanted: &UniqueIndex, spec: Document) -> bool {
        let found = Index::from_spec(spec).unwrap();
        found.unique() && found.is_same_as(wanted)
    }

    #[test]
    fn an_index_matches_on_keys_uniqueness_filter_and_collation() {
        let en2 = Collation::builder()
            .locale("en")
            .strength(CollationStrength::Secondary)
            .build();
        let wanted = UniqueIndex::from_keys(doc! { "a": 1, "b": -1 })
            .with_partial_filter(doc! { "x": true })
            .with_collation(en2.clone());
        let full = |key: Document| {
            doc! {
                "v": 2, "key": key, "name": "a_1_b_-1", "unique": true,
                "partialFilterExpression": { "x": true },
                "collation": { "locale": "en", "caseLevel": false, "strength": 2, "version": "57.1" },
            }
        };
        assert!(matches(&wanted, full(doc! { "a": 1, "b": -1.0 })));
        assert!(!matches(&wanted, full(doc! { "a": 1, "b": 1 })));
        assert!(!matches(&wanted, full(doc! { "b": -1, "a": 1 })));
        assert!(!matches(&wanted, full(doc! { "a": 1 })));
        let mut not_unique = full(doc! { "a": 1, "b": -1 });
        not_unique.remove("unique");
        assert!(!matches(&wanted, not_unique));
        let mut no_filter = full(doc! { "a": 1, "b": -1 });
        no_filter.remove("partialFilterExpression");
        assert!(!matches(&wanted, no_filter));
        let mut other_locale = full(doc! { "a": 1, "b": -1 });
        other_locale.insert("collation", doc! { "locale": "fr", "strength": 3 });
        assert!(!matches(&wanted, other_locale));
        let named = wanted.clone().with_name("other");
        assert!(!matches(&named, full(doc! { "a": 1, "b": -1 })));
        assert!(matches(
            &named.with_name("a_1_b_-1"),
            full(doc! { "a": 1, "b": -1 })
        ));
    }

    #[test]
    fn an_index_with_the_name_or_key_and_other_options_is_in_the_way() {
        let in_the_way = |wanted: &UniqueIndex, spec: Document| {
            Index::from_spec(spec).unwrap().is_in_the_way_of(wanted)
        };
        let wanted = UniqueIndex::from_keys(doc! { "email": 1, "at": -1 });
        let unique =
            doc! { "key": { "email": 1, "at": -1 }, "name": "email_1_at_-1", "unique": true };
        assert!(!in_the_way(&wanted, unique.clone()));
        let mut plain = unique.clone();
        plain.remove("unique");
        assert!(in_the_way(&wanted, plain));
        let mut other_name = unique.clone();
        other_name.insert("name", "mine");
        assert!(!in_the_way(&wanted, other_name.clone()));
        assert!(in_the_way(&wanted.clone().with_name("theirs"), other_name));
        let mut sparse = unique.clone();
        sparse.insert("sparse", true);
        assert!(in_the_way(&wanted, sparse));
        // The default name on another key.
        assert!(in_the_way(
            &wanted,
            doc! { "key": { "x": 1 }, "name": "email_1_at_-1" }
        ));
        assert!(!in_the_way(
            &wanted,
            doc! { "key": { "email": 1 }, "name": "email_1" }
        ));
        assert_eq!(
            crate::index::same::default_name(&doc! { "a": 1, "b": -1.0, "c": "hashed" }),
            "a_1_b_-1_c_hashed"
        );
    }
}
