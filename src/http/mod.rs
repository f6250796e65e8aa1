//! Conflicts as HTTP answers: [`HttpError`] becomes a 409 with a [`ConflictBody`] for a
//! duplicate key and a 500 that says nothing for any other error, in axum (feature `axum`,
//! `IntoResponse`) and actix-web (feature `actix-web`, `ResponseError`), with no code beyond
//! `?` in a handler.
//!
//! - here: [`HttpError`], the formats [`Json`] and [`Problem`] (RFC 9457), the answer's bytes;
//! - `axum`, `actix`: the framework impls.

#[cfg(feature = "actix-web")]
mod actix;
#[cfg(feature = "axum")]
mod axum;

use std::error::Error as StdError;
use std::fmt;
use std::marker::PhantomData;

#[cfg(feature = "axum")]
pub use self::axum::Answered;
use crate::{redacted, ConflictBody, Constraint, DuplicateKey, IsDuplicate};

mod private {
    pub trait Sealed {}
}

/// How an [`HttpError`] writes its body: [`Json`] or [`Problem`].
///
/// This trait is sealed.
pub trait Format: private::Sealed + Send + Sync + 'static {
    /// Whether the body is RFC 9457 `application/problem+json`.
    #[doc(hidden)]
    const PROBLEM: bool;
}

/// `application/json`: `{"code": "email_taken", "error": "...", "fields": [...]}`, and
/// `{"code": "internal", "error": "internal error"}` for a 500.
#[derive(Debug)]
pub enum Json {}

/// RFC 9457 `application/problem+json`: `{"type": "about:blank", "title": "Conflict",
/// "status": 409, "detail": "...", "code": "email_taken", "fields": [...]}`, and `{"type":
/// "about:blank", "title": "Internal Server Error", "status": 500}` for a 500.
#[derive(Debug)]
pub enum Problem {}

impl private::Sealed for Json {}
impl private::Sealed for Problem {}

impl Format for Json {
    const PROBLEM: bool = false;
}

impl Format for Problem {
    const PROBLEM: bool = true;
}

/// An error as a web handler returns it: a duplicate key becomes `409 Conflict` with the
/// [`ConflictBody`] that `C` (the application's [`constraints!`](crate::constraints))
/// declares; anything else becomes `500 Internal Server Error` with a body that tells
/// nothing.
///
/// `From` every error [`IsDuplicate`] reads that converts into a boxed error:
/// `mongodb::error::Error`, [`DuplicateKey`], `Box<dyn Error + Send + Sync>`, so `?` is
/// the only glue a handler needs. `Display` (and `Debug`) never show a duplicated value:
/// see [`redacted`].
///
/// # Examples
///
/// ```
/// use dupkey::http::{HttpError, Problem};
/// use dupkey::DuplicateKey;
///
/// dupkey::constraints! {
///     pub enum UserConstraint {
///         Email = Unique::new("email_taken").on_index("email_1").with_message("this address is already registered"),
///     }
/// }
/// type ApiError = HttpError<UserConstraint>;
///
/// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: app.users index: email_1 dup key: { email: \"ann@example.com\" }").unwrap();
/// let err = ApiError::from(dup.clone());
/// assert_eq!(err.status(), 409);
/// assert_eq!(err.constraint(), Some(UserConstraint::Email));
/// assert_eq!(err.conflict().unwrap().error(), "this address is already registered");
///
/// let problem = HttpError::<UserConstraint, Problem>::from(dup);
/// assert!(problem.conflict().unwrap().is_problem());
///
/// let other = ApiError::from(mongodb::error::Error::custom("disk full"));
/// assert_eq!((other.status(), other.constraint()), (500, None));
/// ```
pub struct HttpError<C, F = Json> {
    inner: Inner<C>,
    format: PhantomData<fn() -> F>,
}

enum Inner<C> {
    Conflict {
        constraint: Option<C>,
        dup: DuplicateKey,
        body: Box<ConflictBody>,
    },
    Internal(Box<dyn StdError + Send + Sync>),
}

impl<C: Constraint, F: Format> HttpError<C, F> {
    /// The 409 for `dup`.
    fn conflict_of(dup: DuplicateKey) -> Self {
        let body = ConflictBody::typed::<C>(&dup);
        let body = if F::PROBLEM { body.problem() } else { body };
        HttpError {
            inner: Inner::Conflict {
                constraint: dup.constraint::<C>(),
                dup,
                body: Box::new(body),
            },
            format: PhantomData,
        }
    }

    /// The status: 409 for a duplicate key, 500 for anything else.
    pub fn status(&self) -> u16 {
        match self.inner {
            Inner::Conflict { .. } => 409,
            Inner::Internal(_) => 500,
        }
    }

    /// The declared constraint a duplicate violates; `None` for an undeclared index or
    /// another error.
    pub fn constraint(&self) -> Option<C> {
        match &self.inner {
            Inner::Conflict { constraint, .. } => *constraint,
            Inner::Internal(_) => None,
        }
    }

    /// The duplicate key, for a 409.
    pub fn duplicate_key(&self) -> Option<&DuplicateKey> {
        match &self.inner {
            Inner::Conflict { dup, .. } => Some(dup),
            Inner::Internal(_) => None,
        }
    }

    /// The 409's body.
    pub fn conflict(&self) -> Option<&ConflictBody> {
        match &self.inner {
            Inner::Conflict { body, .. } => Some(body),
            Inner::Internal(_) => None,
        }
    }

    /// The error behind a 500.
    pub fn internal(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match &self.inner {
            Inner::Conflict { .. } => None,
            Inner::Internal(err) => Some(&**err),
        }
    }

    /// Changes the 409's body (a 500 is left alone): a locale, the value for a client that
    /// may see it, another message.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{http::HttpError, DuplicateKey};
    /// # dupkey::constraints! { enum Users { Email = Unique::new("email_taken").on_index("email_1").with_translations(&[("de", "Adresse vergeben")]) } }
    /// # let dup = DuplicateKey::from_message("E11000 duplicate key error collection: app.users index: email_1 dup key: { email: \"ann@example.com\" }").unwrap();
    /// let err = HttpError::<Users>::from(dup).map_conflict(|body| body.in_locale("de").with_value());
    /// let body = err.conflict().unwrap();
    /// assert_eq!(body.error(), "Adresse vergeben");
    /// assert_eq!(body.value().unwrap().get_str("email"), Ok("ann@example.com"));
    /// ```
    pub fn map_conflict(self, f: impl FnOnce(ConflictBody) -> ConflictBody) -> Self {
        let inner = match self.inner {
            Inner::Conflict {
                constraint,
                dup,
                body,
            } => Inner::Conflict {
                constraint,
                dup,
                body: Box::new(f(*body)),
            },
            internal => internal,
        };
        HttpError {
            inner,
            format: PhantomData,
        }
    }

    /// Status, content type and body bytes.
    pub(crate) fn answer(&self) -> (u16, &'static str, Vec<u8>) {
        let content_type = if F::PROBLEM {
            "application/problem+json"
        } else {
            "application/json"
        };
        let internal = || {
            let body = if F::PROBLEM {
                r#"{"type":"about:blank","title":"Internal Server Error","status":500}"#
            } else {
                r#"{"code":"internal","error":"internal error"}"#
            };
            (500, content_type, body.as_bytes().to_vec())
        };
        match &self.inner {
            Inner::Conflict { body, .. } => match serde_json::to_vec(body) {
                Ok(bytes) => (409, content_type, bytes),
                Err(_) => internal(),
            },
            Inner::Internal(_) => internal(),
        }
    }
}

impl<C, F, E> From<E> for HttpError<C, F>
where
    C: Constraint,
    F: Format,
    E: IsDuplicate + Into<Box<dyn StdError + Send + Sync>>,
{
    fn from(err: E) -> Self {
        match err.duplicate_key() {
            Some(dup) => Self::conflict_of(dup),
            None => HttpError {
                inner: Inner::Internal(err.into()),
                format: PhantomData,
            },
        }
    }
}

/// The duplicate as [`redacted`] shows it, or the other error (whose sources follow).
impl<C: Constraint, F: Format> fmt::Display for HttpError<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Conflict { dup, .. } => redacted(dup).fmt(f),
            Inner::Internal(err) => redacted(&**err).fmt(f),
        }
    }
}

/// Like `Display`: frameworks log errors with `Debug`, so it shows no value either.
impl<C: Constraint, F: Format> fmt::Debug for HttpError<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpError")
            .field("status", &self.status())
            .field("constraint", &self.constraint())
            .field("error", &format_args!("{self}"))
            .finish()
    }
}

impl<C: Constraint, F: Format> StdError for HttpError<C, F> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner {
            Inner::Conflict { .. } => None,
            Inner::Internal(err) => err.source(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::constraints! {
        enum Users {
            Email = Unique::new("email_taken").on_index("email_1"),
        }
    }

    fn dup() -> DuplicateKey {
        DuplicateKey::from_message("E11000 duplicate key error collection: app.users index: email_1 dup key: { email: \"ann@example.com\" }").unwrap()
    }

    #[test]
    fn a_conflict_shows_no_value_in_display_debug_or_body() {
        let err = HttpError::<Users>::from(dup());
        let (status, content_type, body) = err.answer();
        assert_eq!((status, content_type), (409, "application/json"));
        let body = String::from_utf8(body).unwrap();
        assert_eq!(
            body,
            r#"{"code":"email_taken","error":"email already exists","fields":["email"]}"#
        );
        for shown in [err.to_string(), format!("{err:?}"), body] {
            assert!(!shown.contains("ann@example.com"), "{shown}");
        }
        assert_eq!(
            err.to_string(),
            r#"E11000 duplicate key for index "email_1" in "app.users""#
        );
        assert!(StdError::source(&err).is_none());
    }

    #[test]
    fn another_error_is_a_500_with_a_fixed_body() {
        let err = HttpError::<Users, Problem>::from(mongodb::error::Error::custom("disk full"));
        let (status, content_type, body) = err.answer();
        assert_eq!((status, content_type), (500, "application/problem+json"));
        assert_eq!(
            body,
            br#"{"type":"about:blank","title":"Internal Server Error","status":500}"#
        );
        assert!(err.internal().is_some() && err.conflict().is_none());
        // A 500 keeps its body whatever a handler asks of the 409's.
        let err = err.map_conflict(ConflictBody::with_value);
        assert_eq!(err.status(), 500);
    }
}
