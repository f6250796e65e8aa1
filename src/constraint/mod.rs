//! Typed constraints: an application declares a collection's unique constraints once, as its
//! own enum, and matches duplicate keys against it.
//!
//! - `unique`: [`Unique`], one declaration (index name and/or key, collation, partial
//!   filter, code, names, message); `json` reads its collation and filter.
//! - `drift`: [`Drift`], the startup check against the collection's live unique indexes.
//! - here: the [`Constraint`] trait, the [`constraints!`](crate::constraints) macro, and
//!   the lookups `dup.constraint::<C>()` and `err.constraint::<C>()` ([`WhichConstraint`]).

mod drift;
mod json;
mod unique;

use std::fmt;

pub use drift::{Drift, UndeclaredIndex};
pub use unique::Unique;

use crate::{DuplicateKey, IsDuplicate};

/// A collection's unique constraints, as an application's own enum: usually written with
/// [`constraints!`](crate::constraints), which implements this trait.
///
/// # Examples
///
/// By hand, for an enum that already exists:
///
/// ```
/// use dupkey::{Constraint, Unique};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// enum OrderConstraint {
///     Number,
/// }
///
/// impl Constraint for OrderConstraint {
///     const ALL: &'static [Self] = &[OrderConstraint::Number];
///
///     fn unique(self) -> &'static Unique {
///         static NUMBER: Unique = Unique::new("order_number_taken").on_key(&["number"]);
///         match self {
///             OrderConstraint::Number => &NUMBER,
///         }
///     }
/// }
/// ```
pub trait Constraint: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every constraint, in declaration order (the order lookups try them in).
    const ALL: &'static [Self];

    /// How this constraint is declared.
    fn unique(self) -> &'static Unique;
}

/// Declares a collection's unique constraints as an enum that implements [`Constraint`].
///
/// Each variant is `Name = <a const Unique>`; [`Unique`] is in scope inside the macro. The
/// enum derives `Clone`, `Copy`, `Debug`, `PartialEq`, `Eq` and `Hash` (do not derive them
/// again); other attributes and docs are kept.
///
/// # Examples
///
/// ```
/// use dupkey::{DuplicateKey, WhichConstraint};
///
/// dupkey::constraints! {
///     /// The unique constraints of the `users` collection.
///     pub enum UserConstraint {
///         /// One account per address.
///         Email = Unique::new("email_taken")
///             .on_index("email_1")
///             .rename(&[("profile.email", "email")]),
///         /// A handle is unique within its tenant.
///         Handle = Unique::new("handle_taken")
///             .on_key(&["tenant", "handle"])
///             .with_message("this handle is already taken in this tenant"),
///     }
/// }
///
/// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: app.users index: tenant_1_handle_1 dup key: { tenant: 7, handle: \"ann\" }").unwrap();
/// assert_eq!(dup.constraint::<UserConstraint>(), Some(UserConstraint::Handle));
///
/// let err: Box<dyn std::error::Error + Send + Sync> = Box::new(dup);
/// match err.constraint::<UserConstraint>() {
///     Some(UserConstraint::Handle) => { /* suggest another handle */ }
///     Some(UserConstraint::Email) => { /* offer to sign in */ }
///     None => { /* not a duplicate, or an index nobody declared */ }
/// }
/// ```
#[macro_export]
macro_rules! constraints {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $unique:expr
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                $variant,
            )+
        }

        impl $crate::Constraint for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];

            fn unique(self) -> &'static $crate::Unique {
                match self {
                    $(
                        $name::$variant => {
                            static UNIQUE: $crate::Unique = {
                                #[allow(unused_imports)]
                                use $crate::Unique;
                                $unique
                            };
                            &UNIQUE
                        }
                    )+
                }
            }
        }
    };
}

/// The declared constraint `dup` violates: the one declared on the index the server names,
/// else one declared by the same key fields. `None` for an undeclared index.
pub(crate) fn find<C: Constraint>(dup: &DuplicateKey) -> Option<C> {
    let named = dup
        .index()
        .and_then(|index| C::ALL.iter().find(|c| c.unique().index() == Some(index)));
    named
        .or_else(|| {
            C::ALL
                .iter()
                .find(|c| c.unique().matches(dup.index(), dup.fields()))
        })
        .copied()
}

impl DuplicateKey {
    /// The application's constraint this duplicate violates: see [`constraints!`](crate::constraints).
    ///
    /// The index name decides when the server gives one; otherwise, and for constraints
    /// declared by key only, the key's fields (in any order). `None` when no declared
    /// constraint matches.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// dupkey::constraints! {
    ///     enum Users { Email = Unique::new("email_taken").on_key(&["email"]) }
    /// }
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: app.users index: email_1 dup key: { email: \"a@b.c\" }").unwrap();
    /// assert_eq!(dup.constraint::<Users>(), Some(Users::Email));
    /// ```
    pub fn constraint<C: Constraint>(&self) -> Option<C> {
        find(self)
    }
}

/// `err.constraint::<C>()` on everything [`IsDuplicate`] answers for: driver errors,
/// `Result`s, boxes and `dyn Error` chains.
///
/// Implemented for every `IsDuplicate` type; `use dupkey::WhichConstraint` to call it.
///
/// # Examples
///
/// ```no_run
/// use dupkey::WhichConstraint;
/// use mongodb::bson::{doc, Document};
///
/// dupkey::constraints! {
///     enum Users { Email = Unique::new("email_taken").on_index("email_1") }
/// }
///
/// # async fn signup(users: mongodb::Collection<Document>) -> mongodb::error::Result<()> {
/// match users.insert_one(doc! { "email": "ann@example.com" }).await {
///     Ok(_) => println!("welcome"),
///     Err(err) if err.constraint::<Users>() == Some(Users::Email) => println!("sign in instead?"),
///     Err(err) => return Err(err),
/// }
/// # Ok(())
/// # }
/// ```
pub trait WhichConstraint: IsDuplicate {
    /// The declared constraint of the first duplicate key; `None` when this is not a
    /// duplicate or its index is not declared.
    fn constraint<C: Constraint>(&self) -> Option<C> {
        self.duplicate_key().as_ref().and_then(find)
    }
}

impl<E: IsDuplicate + ?Sized> WhichConstraint for E {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WhichConstraint;

    crate::constraints! {
        /// Test constraints.
        enum Users {
            /// By name and key.
            Email = Unique::new("email_taken").on_index("email_1").on_key(&["email"]),
            /// By key.
            Handle = Unique::new("handle_taken").on_key(&["tenant", "handle"]),
            /// By name only.
            Ci = Unique::new("nick_taken").on_index("nick_ci"),
            /// The `_id` index.
            Id = Unique::new("id_taken").on_key(&["_id"]),
        }
    }

    fn dup(message: &str) -> DuplicateKey {
        DuplicateKey::from_message(message).unwrap()
    }

    #[test]
    fn the_macro_lists_every_variant_with_its_declaration() {
        assert_eq!(
            Users::ALL,
            [Users::Email, Users::Handle, Users::Ci, Users::Id]
        );
        assert_eq!(Users::Handle.unique().code(), "handle_taken");
        assert_eq!(Users::Ci.unique().index(), Some("nick_ci"));
    }

    #[test]
    fn matches_by_name_then_by_key() {
        let ns = "E11000 duplicate key error collection: app.users";
        let of = |rest: &str| dup(&format!("{ns} {rest}")).constraint::<Users>();
        assert_eq!(
            of("index: email_1 dup key: { email: \"a\" }"),
            Some(Users::Email)
        );
        assert_eq!(
            of("index: nick_ci dup key: { nick: \"a\" }"),
            Some(Users::Ci)
        );
        assert_eq!(
            of("index: th dup key: { handle: \"a\", tenant: 1 }"),
            Some(Users::Handle)
        );
        assert_eq!(of("index: _id_ dup key: { _id: 1 }"), Some(Users::Id));
        // A clustered collection names no index: the key decides.
        assert_eq!(of("dup key: { _id: 1 }"), Some(Users::Id));
        // Another index on the same field as a constraint declared by name.
        assert_eq!(of("index: email_ci dup key: { email: \"a\" }"), None);
        assert_eq!(of("index: sku_1 dup key: { sku: 1 }"), None);
        assert_eq!(
            dup("E11000 duplicate key error").constraint::<Users>(),
            None
        );
    }

    #[test]
    fn every_is_duplicate_type_answers() {
        let key = dup("E11000 duplicate key error collection: app.users index: email_1 dup key: { email: \"a\" }");
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(key.clone());
        assert_eq!(boxed.constraint::<Users>(), Some(Users::Email));
        let result: Result<(), DuplicateKey> = Err(key.clone());
        assert_eq!(result.constraint::<Users>(), Some(Users::Email));
        assert_eq!(Ok::<(), DuplicateKey>(()).constraint::<Users>(), None);
        assert_eq!(
            WhichConstraint::constraint::<Users>(&key),
            Some(Users::Email)
        );
    }
}
