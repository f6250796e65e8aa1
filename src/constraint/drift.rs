//! [`Drift`]: declared constraints against a collection's live unique indexes.

use std::error::Error as StdError;
use std::fmt;

use mongodb::bson::Document;
use mongodb::Collection;

use super::Constraint;
use crate::index::{Index, Indexes};

/// How a collection's unique indexes differ from the constraints an application declared:
/// a startup check, so a renamed or dropped index is found before the first conflict is
/// answered as an unknown one.
///
/// `Display` lists the codes of the missing constraints and the names and fields of the
/// undeclared indexes.
///
/// # Examples
///
/// ```no_run
/// use dupkey::Drift;
/// use mongodb::bson::Document;
///
/// dupkey::constraints! {
///     pub enum UserConstraint { Email = Unique::new("email_taken").on_index("email_1") }
/// }
///
/// # async fn startup(users: mongodb::Collection<Document>) -> Result<(), Box<dyn std::error::Error>> {
/// let drift = Drift::<UserConstraint>::check(&users).await?;
/// if !drift.is_empty() {
///     return Err(drift.into()); // "declared constraints with no unique index: email_taken"
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Drift<C> {
    missing: Vec<C>,
    undeclared: Vec<UndeclaredIndex>,
}

/// A unique index no declared constraint describes.
#[derive(Clone, Debug, PartialEq)]
pub struct UndeclaredIndex {
    name: String,
    key: Document,
}

impl UndeclaredIndex {
    /// The index's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The index's key pattern, such as `{ sku: 1 }`.
    pub fn key(&self) -> &Document {
        &self.key
    }
}

impl<C: Constraint> Drift<C> {
    /// Reads the collection's indexes (`listIndexes`, one round trip, on the primary) and
    /// compares them with `C`'s declarations.
    ///
    /// A constraint is there when a unique index agrees with every part it declares (name,
    /// key fields in any order, the collation options and the partial filter it declares).
    /// The `_id` index is never reported as undeclared. A collection that does not exist yet
    /// has only its `_id` index.
    pub async fn check<T: Send + Sync>(coll: &Collection<T>) -> mongodb::error::Result<Self> {
        Ok(Self::compare(&crate::index::list(coll).await?))
    }

    /// The drift between `C` and a collection's `indexes`.
    fn compare(indexes: &Indexes) -> Self {
        let unique: Vec<&Index> = indexes.iter().filter(|i| i.unique()).collect();
        let declares = |c: &C, index: &Index| c.unique().is_declared_as(index);
        let missing = C::ALL
            .iter()
            .filter(|c| !unique.iter().any(|index| declares(c, index)))
            .copied()
            .collect();
        let undeclared = unique
            .iter()
            .filter(|index| !index.is_id() && !C::ALL.iter().any(|c| declares(c, index)))
            .map(|index| UndeclaredIndex {
                name: index.name().to_owned(),
                key: index.key().clone(),
            })
            .collect();
        Drift {
            missing,
            undeclared,
        }
    }

    /// Declared constraints with no matching unique index.
    pub fn missing(&self) -> &[C] {
        &self.missing
    }

    /// Unique indexes no constraint declares.
    pub fn undeclared(&self) -> &[UndeclaredIndex] {
        &self.undeclared
    }

    /// Whether the declarations and the indexes agree.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.undeclared.is_empty()
    }
}

impl<C: Constraint> fmt::Display for Drift<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("declared constraints and unique indexes agree");
        }
        if !self.missing.is_empty() {
            f.write_str("declared constraints with no unique index: ")?;
            for (i, c) in self.missing.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}{}", c.unique().code())?;
            }
        }
        if !self.undeclared.is_empty() {
            let sep = if self.missing.is_empty() { "" } else { "; " };
            write!(f, "{sep}unique indexes nobody declared: ")?;
            for (i, index) in self.undeclared.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let fields: Vec<&str> = index.key.keys().map(String::as_str).collect();
                write!(f, "{sep}{} ({})", index.name, fields.join(", "))?;
            }
        }
        Ok(())
    }
}

impl<C: Constraint> StdError for Drift<C> {}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use super::*;

    crate::constraints! {
        enum Users {
            Email = Unique::new("email_taken").on_index("email_1"),
            Handle = Unique::new("handle_taken").on_key(&["tenant", "handle"]),
            Nick = Unique::new("nick_taken").on_index("nick_1").on_key(&["nick"]),
            Id = Unique::new("id_taken").on_key(&["_id"]),
        }
    }

    #[test]
    fn reports_missing_and_undeclared() {
        let drift = Drift::<Users>::compare(&Indexes::from_specs([
            doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" },
            doc! { "v": 2, "key": { "email": 1 }, "name": "email_1", "unique": true },
            doc! { "v": 2, "key": { "handle": 1, "tenant": 1 }, "name": "ht", "unique": true },
            // The right name on the wrong key is not the declared index.
            doc! { "v": 2, "key": { "nickname": 1 }, "name": "nick_1", "unique": true },
            doc! { "v": 2, "key": { "sku": 1 }, "name": "sku_1", "unique": true },
            doc! { "v": 2, "key": { "name": 1 }, "name": "name_1" },
        ]));
        assert_eq!(drift.missing(), [Users::Nick]);
        let names: Vec<&str> = drift.undeclared().iter().map(|i| i.name()).collect();
        assert_eq!(names, ["nick_1", "sku_1"]);
        assert_eq!(drift.undeclared()[1].key(), &doc! { "sku": 1 });
        assert!(!drift.is_empty());
        assert_eq!(
            drift.to_string(),
            "declared constraints with no unique index: nick_taken; \
             unique indexes nobody declared: nick_1 (nickname), sku_1 (sku)"
        );
    }

    crate::constraints! {
        enum Scoped {
            Nick = Unique::new("nick_taken")
                .on_key(&["nick"])
                .with_collation(r#"{ "locale": "en", "strength": 2 }"#),
            Email = Unique::new("email_taken")
                .on_key(&["email"])
                .with_partial_filter(r#"{ "active": true, "n": { "$gt": 1 } }"#),
            Simple = Unique::new("code_taken")
                .on_key(&["code"])
                .with_collation(r#"{ "locale": "simple" }"#),
            Broken = Unique::new("broken").on_key(&["b"]).with_collation("{ locale: 'en' }"),
        }
    }

    #[test]
    fn declared_collations_and_filters_are_compared() {
        let agree = Drift::<Scoped>::compare(&Indexes::from_specs([
            doc! { "key": { "nick": 1 }, "name": "nick_1", "unique": true,
            "collation": { "locale": "en", "caseLevel": false, "strength": 2, "version": "57.1" } },
            doc! { "key": { "email": 1 }, "name": "email_1", "unique": true,
            "partialFilterExpression": { "active": true, "n": { "$gt": 1.0 } } },
            doc! { "key": { "code": 1 }, "name": "code_1", "unique": true },
            doc! { "key": { "b": 1 }, "name": "b_1", "unique": true,
            "collation": { "locale": "en", "strength": 3 } },
        ]));
        assert_eq!(agree.missing(), [Scoped::Broken]);
        let names: Vec<&str> = agree.undeclared().iter().map(|i| i.name()).collect();
        assert_eq!(names, ["b_1"]);

        let rebuilt = Drift::<Scoped>::compare(&Indexes::from_specs([
            doc! { "key": { "nick": 1 }, "name": "nick_1", "unique": true },
            doc! { "key": { "email": 1 }, "name": "email_1", "unique": true,
            "partialFilterExpression": { "active": true } },
            doc! { "key": { "code": 1 }, "name": "code_1", "unique": true,
            "collation": { "locale": "en", "strength": 2 } },
        ]));
        assert_eq!(
            rebuilt.missing(),
            [Scoped::Nick, Scoped::Email, Scoped::Simple, Scoped::Broken]
        );
        // Undeclared options are not compared.
        let drift = Drift::<Users>::compare(&Indexes::from_specs([
            doc! { "key": { "email": 1 }, "name": "email_1", "unique": true,
            "collation": { "locale": "fr" }, "partialFilterExpression": { "a": 1 } },
        ]));
        assert!(!drift.missing().contains(&Users::Email));
    }

    #[test]
    fn a_collection_not_created_yet_has_its_id_index() {
        let drift = Drift::<Users>::compare(&Indexes::from_specs([]));
        assert_eq!(drift.missing(), [Users::Email, Users::Handle, Users::Nick]);
        assert!(drift.undeclared().is_empty());
    }
}
