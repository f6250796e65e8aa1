//! [`InsertOrConflict`] and its action [`Insert`]: an insert whose duplicate key comes back
//! with the exact key it collided on.

use std::borrow::Borrow;
use std::future::IntoFuture;

use futures_util::future::BoxFuture;
use mongodb::bson::RawDocumentBuf;
use mongodb::options::InsertOneOptions;
use mongodb::results::InsertOneResult;
use mongodb::{ClientSession, Collection};
use serde::Serialize;

use super::exact::exact_keys;
use super::index_cache::IndexCache;
use super::prepare::prepare;
use super::private::Sealed;
use super::Error;
use crate::DuplicateKey;

/// Inserts a document; a duplicate key is [`Error::Duplicate`] with the exact key it
/// collided on.
///
/// The Rust driver drops the server's reply on inserts, so a plain `insert_one` error says
/// which index but not, reliably, which value (the message cuts long values and prints
/// collation keys). This helper reads the index's key pattern (`listIndexes`, cached in an
/// [`IndexCache`]) and takes the values out of the document it sent: the [`DuplicateKey`]
/// has [`key_pattern`](DuplicateKey::key_pattern) and the exact, typed
/// [`key_value`](DuplicateKey::key_value) the caller attempted (`"ALICE"` under a
/// case-insensitive collation, where the server only has collation keys: the value sent, not
/// the one stored). A missing key field is `null`, as the server indexes it; a key path
/// through an array keeps what the message said.
///
/// `T` is serialized once, when the action is made, to BSON bytes that are sent as they are.
/// A document without `_id` gets a new `ObjectId` first, as the driver would give it: the id
/// is known before the insert (it is the same on a retried write), and an `_id` conflict
/// reports it.
///
/// Round trips: one `insert` command; on a conflict, one `listIndexes` per namespace while
/// the cache holds its list (read again when the message names an index the list lacks).
///
/// This trait is sealed: only [`mongodb::Collection`] implements it.
pub trait InsertOrConflict<T: Send + Sync>: Sealed {
    /// Inserts `doc`. Await the returned [`Insert`] action, after its setters if any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::prelude::*;
    /// use mongodb::bson::doc;
    /// use serde::Serialize;
    ///
    /// #[derive(Serialize)]
    /// struct User {
    ///     email: String,
    /// }
    ///
    /// # async fn run(users: mongodb::Collection<User>) -> Result<(), dupkey::Error> {
    /// let user = User { email: "ann@example.com".into() };
    /// match users.insert_or_conflict(&user).await {
    ///     Ok(inserted) => println!("welcome, {}", inserted.inserted_id),
    ///     Err(dupkey::Error::Duplicate(dup)) => {
    ///         assert_eq!(dup.index(), Some("email_1"));
    ///         assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));
    ///     }
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn insert_or_conflict(&self, doc: impl Borrow<T>) -> Insert<'_, T>;
}

impl<T: Serialize + Send + Sync> InsertOrConflict<T> for Collection<T> {
    fn insert_or_conflict(&self, doc: impl Borrow<T>) -> Insert<'_, T> {
        Insert {
            coll: self,
            doc: prepare(doc.borrow()),
            options: InsertOneOptions::default(),
            session: None,
            cache: IndexCache::global(),
        }
    }
}

/// An insert that hands back a duplicate key as [`Error::Duplicate`]; made by
/// [`InsertOrConflict::insert_or_conflict`], run by awaiting it.
///
/// Awaiting gives `Result<InsertOneResult, dupkey::Error>`.
///
/// # Transactions
///
/// A duplicate key aborts the server's transaction. With [`session`](Self::session) in a
/// transaction, a conflict means **the transaction is over**: return the error (`?`) from an
/// `and_run` callback, which then aborts and hands it back without running the callback
/// again, and `is_duplicate()` and `duplicate_key()` find it in the driver error `and_run`
/// returns.
///
/// ```no_run
/// use dupkey::prelude::*;
/// use mongodb::bson::{doc, Document};
///
/// # async fn run(client: mongodb::Client, users: mongodb::Collection<Document>, audit: mongodb::Collection<Document>) -> mongodb::error::Result<()> {
/// let mut session = client.start_session().await?;
/// let done = session
///     .start_transaction()
///     .and_run2(async |session| {
///         users
///             .insert_or_conflict(doc! { "email": "ann@example.com" })
///             .session(&mut *session)
///             .await?;
///         audit.insert_one(doc! { "signup": "ann@example.com" }).session(session).await?;
///         Ok(())
///     })
///     .await;
/// match done {
///     Ok(()) => println!("welcome"),
///     Err(err) if err.is_duplicate() => println!("taken: {:?}", err.duplicate_key()),
///     Err(err) => return Err(err),
/// }
/// # Ok(())
/// # }
/// ```
#[must_use = "an action does nothing until it is awaited"]
pub struct Insert<'a, T: Send + Sync> {
    coll: &'a Collection<T>,
    doc: mongodb::error::Result<RawDocumentBuf>,
    options: InsertOneOptions,
    session: Option<&'a mut ClientSession>,
    cache: &'a IndexCache,
}

impl<'a, T: Send + Sync> Insert<'a, T> {
    super::setters!(common);
}

impl<'a, T: Send + Sync + 'a> IntoFuture for Insert<'a, T> {
    type Output = Result<InsertOneResult, Error>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<T: Send + Sync> Insert<'_, T> {
    async fn run(self) -> Result<InsertOneResult, Error> {
        let sent = [self.doc?];
        let raw = self.coll.clone_with_type::<RawDocumentBuf>();
        let action = raw.insert_one(&sent[0]).with_options(self.options);
        let result = match self.session {
            Some(session) => action.session(session).await,
            None => action.await,
        };
        let err = match result {
            Ok(inserted) => return Ok(inserted),
            Err(err) => err,
        };
        match DuplicateKey::from_error(&err) {
            Some(dup) => {
                let exact = exact_keys(self.coll, self.cache, vec![dup], &sent).await;
                let dup = exact.into_iter().next().expect("one duplicate in, one out");
                Err(Error::Duplicate(dup))
            }
            None => Err(Error::Driver(err)),
        }
    }
}
