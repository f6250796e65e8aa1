//! [`UniqueIndex`]: the unique index to be built, and the checks on its field names.

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{Collation, IndexOptions};
use mongodb::IndexModel;

use super::DedupeError;
use crate::Fields;

/// The unique index to be built: its key fields and, when it has them, its name, collation
/// and partial filter.
///
/// Every operation of [`dedupe`](crate::dedupe) takes one, so that it looks for duplicates
/// exactly as this index will compare keys: under its collation, among the documents its
/// partial filter selects. Field names are checked when an operation starts, before anything
/// is read: none may be empty, have an empty path segment (`a..b`), start a segment with `$`
/// (`$where`, `a.$b`) or hold a NUL byte, and none may appear twice.
///
/// # Examples
///
/// ```
/// use dupkey::dedupe::UniqueIndex;
/// use mongodb::bson::doc;
/// use mongodb::options::{Collation, CollationStrength};
///
/// let index = UniqueIndex::new(["tenant", "email"])
///     .with_name("tenant_email")
///     .with_collation(Collation::builder().locale("en").strength(CollationStrength::Secondary).build())
///     .with_partial_filter(doc! { "deleted": false });
/// assert_eq!(index.keys(), &doc! { "tenant": 1, "email": 1 });
/// assert!(index.fields().eq(["tenant", "email"]));
/// assert_eq!(index.name(), Some("tenant_email"));
/// ```
#[derive(Clone, Debug)]
pub struct UniqueIndex {
    keys: Document,
    /// The key's field names, in order: what [`fields`](Self::fields) iterates.
    names: Vec<String>,
    name: Option<String>,
    collation: Option<Collation>,
    partial_filter: Option<Document>,
    sparse: bool,
    /// A field [`new`](Self::new) was given twice (a `Document` cannot hold it twice).
    repeated: Option<String>,
}

impl UniqueIndex {
    /// An ascending unique index on `fields`, in that order (`{ tenant: 1, email: 1 }`).
    ///
    /// Dotted paths (`profile.email`) name embedded fields, as in an index.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::dedupe::UniqueIndex;
    /// use mongodb::bson::doc;
    ///
    /// let index = UniqueIndex::new(["profile.email"]);
    /// assert_eq!(index.keys(), &doc! { "profile.email": 1 });
    /// ```
    pub fn new<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut keys = Document::new();
        let mut repeated = None;
        for field in fields {
            let field = field.into();
            if keys.contains_key(&field) {
                repeated.get_or_insert(field);
            } else {
                keys.insert(field, 1);
            }
        }
        UniqueIndex {
            repeated,
            ..Self::from_keys(keys)
        }
    }

    /// A unique index with this key pattern, such as `{ tenant: 1, email: -1 }`. Each value
    /// must be `1` or `-1` (as an integer or a double): a unique index on a text, hashed or
    /// geo key is not handled here.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::dedupe::UniqueIndex;
    /// use mongodb::bson::doc;
    ///
    /// let index = UniqueIndex::from_keys(doc! { "tenant": 1, "created": -1 });
    /// assert!(index.fields().eq(["tenant", "created"]));
    /// ```
    pub fn from_keys(keys: Document) -> Self {
        UniqueIndex {
            names: keys.keys().cloned().collect(),
            keys,
            name: None,
            collation: None,
            partial_filter: None,
            sparse: false,
            repeated: None,
        }
    }

    /// Names the index (otherwise the server's default, such as `tenant_1_email_1`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// let index = UniqueIndex::new(["email"]).with_name("uniq_email");
    /// assert_eq!(index.name(), Some("uniq_email"));
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Gives the index a collation: keys are then compared under it (with strength 2,
    /// `"Ann"` and `"ann"` collide).
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// use mongodb::options::{Collation, CollationStrength};
    /// let en = Collation::builder().locale("en").strength(CollationStrength::Secondary).build();
    /// let index = UniqueIndex::new(["name"]).with_collation(en);
    /// assert_eq!(index.collation().unwrap().locale, "en");
    /// ```
    pub fn with_collation(mut self, collation: Collation) -> Self {
        self.collation = Some(collation);
        self
    }

    /// Makes the index partial: only documents matching `filter` (a query document, as the
    /// server accepts for `partialFilterExpression`) take part in uniqueness.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// use mongodb::bson::doc;
    /// let index = UniqueIndex::new(["email"]).with_partial_filter(doc! { "email": { "$exists": true } });
    /// assert!(index.partial_filter().is_some());
    /// ```
    pub fn with_partial_filter(mut self, filter: Document) -> Self {
        self.partial_filter = Some(filter);
        self
    }

    /// Makes the index sparse: a document without any of the key fields is left out.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// let index = UniqueIndex::new(["email"]).with_sparse(true);
    /// assert!(index.sparse());
    /// ```
    pub fn with_sparse(mut self, sparse: bool) -> Self {
        self.sparse = sparse;
        self
    }

    /// Whether the index is sparse.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// assert!(!UniqueIndex::new(["a"]).sparse());
    /// ```
    pub fn sparse(&self) -> bool {
        self.sparse
    }

    /// The key pattern, such as `{ tenant: 1, email: 1 }`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// use mongodb::bson::doc;
    /// assert_eq!(UniqueIndex::new(["a", "b"]).keys(), &doc! { "a": 1, "b": 1 });
    /// ```
    pub fn keys(&self) -> &Document {
        &self.keys
    }

    /// The key's field names, in index order.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// assert!(UniqueIndex::new(["a", "b.c"]).fields().eq(["a", "b.c"]));
    /// ```
    pub fn fields(&self) -> Fields<'_> {
        Fields::new(&self.names)
    }

    /// The index's name, when one was given.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// assert_eq!(UniqueIndex::new(["a"]).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The index's collation, when it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// assert!(UniqueIndex::new(["a"]).collation().is_none());
    /// ```
    pub fn collation(&self) -> Option<&Collation> {
        self.collation.as_ref()
    }

    /// The index's partial filter, when it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::dedupe::UniqueIndex;
    /// assert!(UniqueIndex::new(["a"]).partial_filter().is_none());
    /// ```
    pub fn partial_filter(&self) -> Option<&Document> {
        self.partial_filter.as_ref()
    }

    /// Checks every field name and direction; the first problem wins.
    pub(crate) fn validate(&self) -> Result<(), DedupeError> {
        if self.keys.is_empty() {
            return Err(DedupeError::NoKeyFields);
        }
        if let Some(field) = &self.repeated {
            return Err(DedupeError::RepeatedField {
                field: field.clone(),
            });
        }
        for (field, direction) in &self.keys {
            check_field(field)?;
            let ok = match direction {
                Bson::Int32(d) => *d == 1 || *d == -1,
                Bson::Int64(d) => *d == 1 || *d == -1,
                Bson::Double(d) => *d == 1.0 || *d == -1.0,
                _ => false,
            };
            if !ok {
                return Err(DedupeError::InvalidDirection {
                    field: field.clone(),
                });
            }
        }
        Ok(())
    }

    /// The index as the driver builds it: `unique: true` and the options given.
    pub(crate) fn model(&self) -> IndexModel {
        let options = IndexOptions::builder()
            .unique(true)
            .name(self.name.clone())
            .collation(self.collation.clone())
            .partial_filter_expression(self.partial_filter.clone())
            .sparse(self.sparse.then_some(true))
            .build();
        IndexModel::builder()
            .keys(self.keys.clone())
            .options(options)
            .build()
    }

    /// `{ f1: { $eq: v1 }, ... }`: the documents whose key equals `key` (a group's key, keyed
    /// by field name). `$eq: null` also matches a missing field, as the index does.
    pub(crate) fn key_filter(&self, key: &Document) -> Document {
        let mut filter = Document::new();
        for (field, value) in key {
            filter.insert(field.clone(), doc! { "$eq": value.clone() });
        }
        filter
    }
}

/// Refuses a field name that could reach a pipeline as anything but a field path.
pub(crate) fn check_field(field: &str) -> Result<(), DedupeError> {
    let reason = if field.is_empty() {
        Some("it is empty")
    } else if field.contains('\0') {
        Some("it holds a NUL byte")
    } else if field.split('.').any(str::is_empty) {
        Some("it has an empty path segment")
    } else if field.split('.').any(|part| part.starts_with('$')) {
        Some("a path segment starts with '$'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DedupeError::InvalidField {
            field: field.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(index: UniqueIndex) -> String {
        index.validate().unwrap_err().to_string()
    }

    #[test]
    fn field_names_are_checked() {
        assert_eq!(
            invalid(UniqueIndex::new(Vec::<String>::new())),
            "no key fields given"
        );
        assert_eq!(
            invalid(UniqueIndex::new(["$where"])),
            r#"invalid key field "$where": a path segment starts with '$'"#
        );
        assert_eq!(
            invalid(UniqueIndex::new(["a.$b"])),
            r#"invalid key field "a.$b": a path segment starts with '$'"#
        );
        assert_eq!(
            invalid(UniqueIndex::new([""])),
            r#"invalid key field "": it is empty"#
        );
        assert_eq!(
            invalid(UniqueIndex::new(["a..b"])),
            r#"invalid key field "a..b": it has an empty path segment"#
        );
        assert_eq!(
            invalid(UniqueIndex::new(["a."])),
            r#"invalid key field "a.": it has an empty path segment"#
        );
        assert_eq!(
            invalid(UniqueIndex::new(["a\0b"])),
            r#"invalid key field "a\0b": it holds a NUL byte"#
        );
        assert_eq!(
            invalid(UniqueIndex::new(["email", "tenant", "email"])),
            r#"key field "email" is listed twice"#
        );
        assert_eq!(
            invalid(UniqueIndex::from_keys(doc! { "email": "text" })),
            r#"key field "email" must have direction 1 or -1"#
        );
        assert_eq!(
            invalid(UniqueIndex::from_keys(doc! { "email": 2 })),
            r#"key field "email" must have direction 1 or -1"#
        );
    }

    #[test]
    fn odd_but_valid_names_pass() {
        for name in [
            "a$",
            "profile.email",
            "first name",
            "ünï",
            "we\"ird",
            "_id",
            "a.b$.c",
        ] {
            assert_eq!(
                check_field(name).map_err(|e| e.to_string()),
                Ok(()),
                "{name}"
            );
        }
        let keys = doc! { "a": 1, "b": -1, "c": 1.0, "d": -1i64 };
        assert!(UniqueIndex::from_keys(keys).validate().is_ok());
    }

    #[test]
    fn model_is_unique_with_the_options_given() {
        let index = UniqueIndex::new(["email"])
            .with_name("e")
            .with_partial_filter(doc! { "active": true });
        let model = index.model();
        assert_eq!(model.keys, doc! { "email": 1 });
        let options = model.options.unwrap();
        assert_eq!(options.unique, Some(true));
        assert_eq!(options.name.as_deref(), Some("e"));
        assert_eq!(
            options.partial_filter_expression,
            Some(doc! { "active": true })
        );
    }

    #[test]
    fn key_filter_uses_eq() {
        let index = UniqueIndex::new(["a", "b.c"]);
        assert_eq!(
            index.key_filter(&doc! { "a": { "$gt": 1 }, "b.c": Bson::Null }),
            doc! { "a": { "$eq": { "$gt": 1 } }, "b.c": { "$eq": Bson::Null } }
        );
    }
}
