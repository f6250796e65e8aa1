//! [`IsDuplicate`]: the one import application code needs.

use std::error::Error as StdError;

use crate::codes;
use crate::extract::{self, Failure};
use crate::DuplicateKey;

mod private {
    pub trait Sealed {}
}

/// Asks any error whether it is a MongoDB duplicate-key error.
///
/// Implemented for [`mongodb::error::Error`], [`DuplicateKey`], `Result<T, E>` (an `Ok` is
/// never a duplicate), `Box<E>`, and `dyn Error + 'static` with or without `Send + Sync`,
/// so `Box<dyn Error + Send + Sync>` and `anyhow::Error` (through `Deref`) work too. Each
/// walks the `source()` chain and answers for the first error in it that reports a duplicate.
///
/// A driver error counts as a duplicate when its code is 11000 (`DuplicateKey`), 11001 or
/// 12582 (older servers), or 16460 with `E11000` in its message (relayed by mongos): the set
/// the Go, Java, C# and Python drivers use. Write errors, `insert_many` and client
/// `bulk_write` batches, and command errors (`findAndModify`, `createIndexes`, transactions)
/// are all looked at.
///
/// This trait is sealed: it cannot be implemented outside this crate.
///
/// # Examples
///
/// ```no_run
/// use dupkey::IsDuplicate;
/// use mongodb::bson::{doc, Document};
///
/// # async fn signup(users: mongodb::Collection<Document>) -> mongodb::error::Result<()> {
/// match users.insert_one(doc! { "email": "ann@example.com" }).await {
///     Ok(_) => println!("welcome"),
///     Err(err) if err.is_duplicate() => println!("{}", err.duplicate_key().unwrap()),
///     Err(err) => return Err(err),
/// }
/// # Ok(())
/// # }
/// ```
pub trait IsDuplicate: private::Sealed {
    /// Whether this error, or one in its `source()` chain, is a duplicate-key error.
    ///
    /// Never allocates.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::IsDuplicate;
    /// use mongodb::error::{Error, ErrorKind};
    ///
    /// let err = Error::from(ErrorKind::Shutdown);
    /// assert!(!err.is_duplicate());
    /// ```
    fn is_duplicate(&self) -> bool;

    /// The first duplicate-key error, read into a [`DuplicateKey`].
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::{DuplicateKey, IsDuplicate};
    /// use std::error::Error;
    ///
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }").unwrap();
    /// let boxed: Box<dyn Error + Send + Sync> = Box::new(dup.clone());
    /// assert_eq!(boxed.duplicate_key(), Some(dup));
    /// ```
    fn duplicate_key(&self) -> Option<DuplicateKey>;

    /// Every duplicate-key error, in batch order: one per rejected document of an
    /// `insert_many` or client `bulk_write`.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::IsDuplicate;
    /// use mongodb::bson::{doc, from_document};
    /// use mongodb::error::{Error, ErrorKind, InsertManyError};
    ///
    /// let batch: InsertManyError = from_document(doc! { "writeErrors": [
    ///     { "index": 1, "code": 11000, "errmsg": "E11000 duplicate key error collection: shop.users index: _id_ dup key: { _id: 1 }" },
    ///     { "index": 3, "code": 11000, "errmsg": "E11000 duplicate key error collection: shop.users index: _id_ dup key: { _id: 2 }" },
    /// ]})?;
    /// let err = Error::from(ErrorKind::InsertMany(batch));
    /// let positions: Vec<_> = err.duplicate_keys().iter().map(|d| d.position()).collect();
    /// assert_eq!(positions, [Some(1), Some(3)]);
    /// # Ok::<(), mongodb::bson::de::Error>(())
    /// ```
    fn duplicate_keys(&self) -> Vec<DuplicateKey>;
}

/// What one link of a `source()` chain says.
enum Link<'a> {
    Driver(&'a mongodb::error::Error),
    Key(&'a DuplicateKey),
    Write(&'a crate::Error),
}

impl<'a> Link<'a> {
    /// The link `err` is, when it is one of the types that can report a duplicate.
    fn of(err: &'a (dyn StdError + 'static)) -> Option<Self> {
        if let Some(driver) = err.downcast_ref::<mongodb::error::Error>() {
            Some(Link::Driver(driver).custom())
        } else if let Some(key) = err.downcast_ref::<DuplicateKey>() {
            Some(Link::Key(key))
        } else {
            err.downcast_ref::<crate::Error>().map(Link::Write)
        }
    }

    /// For a driver error made with `Error::custom`, the payload it carries when it is one
    /// of this crate's types: the driver keeps it as `Any`, outside `source()`.
    fn custom(self) -> Self {
        let Link::Driver(driver) = self else {
            return self;
        };
        if let Some(key) = driver.get_custom::<DuplicateKey>() {
            Link::Key(key)
        } else if let Some(write) = driver.get_custom::<crate::Error>() {
            Link::Write(write)
        } else if let Some(dedupe) = driver.get_custom::<crate::dedupe::DedupeError>() {
            // Its duplicate, if any, is in its own `source()` chain.
            duplicate_link(dedupe).unwrap_or(self)
        } else {
            self
        }
    }

    fn is_duplicate(&self) -> bool {
        match self {
            Link::Driver(err) => extract::failures(err).any(|f| f.is_duplicate()),
            Link::Key(_) => true,
            Link::Write(err) => match err {
                crate::Error::Duplicate(_) => true,
                crate::Error::InsertMany(report) => {
                    !report.duplicates().is_empty()
                        || report
                            .write_concern_errors()
                            .iter()
                            .any(|e| codes::is_duplicate(e.code, &e.message))
                        || report.stopped_by().is_some_and(|e| chain_is_duplicate(e))
                }
                crate::Error::Driver(driver) => Link::Driver(driver).is_duplicate(),
                _ => false,
            },
        }
    }

    /// The first duplicate, without reading the others.
    fn duplicate_key(&self) -> Option<DuplicateKey> {
        match self {
            Link::Driver(err) => DuplicateKey::from_error(err),
            Link::Key(key) => Some((*key).clone()),
            Link::Write(crate::Error::Duplicate(key)) => Some(key.clone()),
            Link::Write(crate::Error::Driver(driver)) => DuplicateKey::from_error(driver),
            Link::Write(crate::Error::InsertMany(report)) if !report.duplicates().is_empty() => {
                report.duplicates().first().cloned()
            }
            Link::Write(_) => self.duplicate_keys().into_iter().next(),
        }
    }

    fn duplicate_keys(&self) -> Vec<DuplicateKey> {
        match self {
            Link::Driver(err) => {
                let mut keys: Vec<DuplicateKey> = extract::failures(err)
                    .filter(Failure::is_duplicate)
                    .map(|f| DuplicateKey::from_failure(&f))
                    .collect();
                // Client bulk_write keeps its errors in a map: restore the batch order.
                keys.sort_by_key(DuplicateKey::position);
                keys
            }
            Link::Key(key) => vec![(*key).clone()],
            Link::Write(err) => match err {
                crate::Error::Duplicate(key) => vec![key.clone()],
                crate::Error::InsertMany(report) => {
                    let mut keys = report.duplicates().to_vec();
                    keys.extend(
                        report
                            .write_concern_errors()
                            .iter()
                            .filter(|e| codes::is_duplicate(e.code, &e.message))
                            .map(|e| DuplicateKey::from_failure(&Failure::concern(e))),
                    );
                    if let Some(stopped) = report.stopped_by() {
                        keys.extend(chain_duplicate_keys(stopped));
                    }
                    keys
                }
                crate::Error::Driver(driver) => Link::Driver(driver).duplicate_keys(),
                _ => Vec::new(),
            },
        }
    }
}

/// The first link of the chain from `err` that reports a duplicate.
fn duplicate_link<'a>(err: &'a (dyn StdError + 'static)) -> Option<Link<'a>> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(link) = Link::of(err).filter(Link::is_duplicate) {
            return Some(link);
        }
        next = err.source();
    }
    None
}

fn chain_is_duplicate(err: &(dyn StdError + 'static)) -> bool {
    duplicate_link(err).is_some()
}

fn chain_duplicate_key(err: &(dyn StdError + 'static)) -> Option<DuplicateKey> {
    duplicate_link(err)?.duplicate_key()
}

fn chain_duplicate_keys(err: &(dyn StdError + 'static)) -> Vec<DuplicateKey> {
    duplicate_link(err)
        .map(|link| link.duplicate_keys())
        .unwrap_or_default()
}

macro_rules! via_chain {
    ($($ty:ty),*) => {$(
        impl private::Sealed for $ty {}

        impl IsDuplicate for $ty {
            fn is_duplicate(&self) -> bool {
                chain_is_duplicate(self)
            }

            fn duplicate_key(&self) -> Option<DuplicateKey> {
                chain_duplicate_key(self)
            }

            fn duplicate_keys(&self) -> Vec<DuplicateKey> {
                chain_duplicate_keys(self)
            }
        }
    )*};
}

via_chain!(
    mongodb::error::Error,
    DuplicateKey,
    crate::Error,
    crate::dedupe::DedupeError,
    dyn StdError + 'static,
    dyn StdError + Send + 'static,
    dyn StdError + Send + Sync + 'static
);

impl<E: IsDuplicate + ?Sized> private::Sealed for Box<E> {}

impl<E: IsDuplicate + ?Sized> IsDuplicate for Box<E> {
    fn is_duplicate(&self) -> bool {
        (**self).is_duplicate()
    }

    fn duplicate_key(&self) -> Option<DuplicateKey> {
        (**self).duplicate_key()
    }

    fn duplicate_keys(&self) -> Vec<DuplicateKey> {
        (**self).duplicate_keys()
    }
}

impl<T, E: IsDuplicate> private::Sealed for Result<T, E> {}

impl<T, E: IsDuplicate> IsDuplicate for Result<T, E> {
    fn is_duplicate(&self) -> bool {
        self.as_ref().is_err_and(E::is_duplicate)
    }

    fn duplicate_key(&self) -> Option<DuplicateKey> {
        self.as_ref().err().and_then(E::duplicate_key)
    }

    fn duplicate_keys(&self) -> Vec<DuplicateKey> {
        self.as_ref()
            .err()
            .map(E::duplicate_keys)
            .unwrap_or_default()
    }
}

#[cfg(feature = "anyhow")]
impl private::Sealed for anyhow::Error {}

/// `anyhow::Error` walks its chain as `dyn Error` does; this impl also makes
/// `anyhow::Result<T>` answer.
#[cfg(feature = "anyhow")]
impl IsDuplicate for anyhow::Error {
    fn is_duplicate(&self) -> bool {
        chain_is_duplicate(self.as_ref())
    }

    fn duplicate_key(&self) -> Option<DuplicateKey> {
        chain_duplicate_key(self.as_ref())
    }

    fn duplicate_keys(&self) -> Vec<DuplicateKey> {
        chain_duplicate_keys(self.as_ref())
    }
}
