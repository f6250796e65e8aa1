//! [`InsertOrConflict`]: an insert whose duplicate key is a value.

use std::borrow::Borrow;
use std::future::Future;

use mongodb::bson::{oid::ObjectId, rawdoc, RawDocumentBuf};
use mongodb::results::InsertOneResult;
use mongodb::{ClientSession, Collection};
use serde::Serialize;

use super::exact::exact_keys;
use super::private::Sealed;
use crate::DuplicateKey;

/// Inserts a document and hands back a duplicate key as a value to match on, with the exact
/// key it collided on.
///
/// The Rust driver drops the server's reply on inserts, so a plain `insert_one` error says
/// which index but not, reliably, which value (the message cuts long values and prints
/// collation keys). This helper reads the index's key pattern (`listIndexes`, cached per
/// namespace for the process) and takes the values out of the document it sent: the
/// [`DuplicateKey`] has [`key_pattern`](DuplicateKey::key_pattern) and the exact, typed
/// [`key_value`](DuplicateKey::key_value) the caller attempted (`"ALICE"` under a
/// case-insensitive collation, where the server only has collation keys). A missing key field
/// is `null`, as the server indexes it; a key path through an array keeps what the message
/// said (a multikey index does not say which element collided).
///
/// Every other error is passed through untouched, as the driver's
/// [`mongodb::error::Error`].
///
/// `T` is serialized once, to BSON bytes that are sent as they are. A document without `_id`
/// gets a new `ObjectId` first, as the driver would give it: the id is known before the
/// insert (it is the same on a retried write), and an `_id` conflict reports it.
///
/// Round trips: one `insert` command; on a conflict, one `listIndexes` per namespace per
/// process (again only when the message names an index the cached list lacks).
///
/// This trait is sealed: only [`mongodb::Collection`] implements it.
///
/// # Examples
///
/// ```no_run
/// use dupkey::InsertOrConflict;
/// use mongodb::bson::{doc, Document};
///
/// # async fn signup(users: mongodb::Collection<Document>) -> mongodb::error::Result<()> {
/// match users.insert_or_conflict(doc! { "email": "ann@example.com" }).await? {
///     Ok(inserted) => println!("welcome, {}", inserted.inserted_id),
///     Err(dup) => println!("{:?} is already taken", dup.key_value()),
/// }
/// # Ok(())
/// # }
/// ```
pub trait InsertOrConflict<T>: Sealed {
    /// Inserts `doc`; a duplicate key is `Ok(Err(duplicate))`.
    ///
    /// Equivalent to:
    ///
    /// ```ignore
    /// async fn insert_or_conflict(
    ///     &self,
    ///     doc: impl Borrow<T> + Send,
    /// ) -> mongodb::error::Result<Result<InsertOneResult, DuplicateKey>>;
    /// ```
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::InsertOrConflict;
    /// use mongodb::bson::doc;
    /// use serde::Serialize;
    ///
    /// #[derive(Serialize)]
    /// struct User {
    ///     email: String,
    /// }
    ///
    /// # async fn run(users: mongodb::Collection<User>) -> mongodb::error::Result<()> {
    /// let user = User { email: "ann@example.com".into() };
    /// if let Err(dup) = users.insert_or_conflict(&user).await? {
    ///     assert_eq!(dup.index(), Some("email_1"));
    ///     assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn insert_or_conflict(
        &self,
        doc: impl Borrow<T> + Send,
    ) -> impl Future<Output = mongodb::error::Result<Result<InsertOneResult, DuplicateKey>>> + Send;

    /// Inserts `doc` in `session`; a duplicate key is `Ok(Err(duplicate))`.
    ///
    /// # Transactions
    ///
    /// A duplicate key aborts the server's transaction. When `session` is in a transaction
    /// and this returns `Ok(Err(duplicate))`, **the transaction is over**: nothing it wrote
    /// will be kept, the next statement in it fails with `NoSuchTransaction` (code 251), and so
    /// does `commit_transaction`. Call `abort_transaction`; in an `and_run` callback, return an
    /// error, because a callback that returns `Ok` after a conflict has its commit fail with
    /// the retryable `TransientTransactionError` label and is run again until its time limit.
    /// Outside a transaction (a causally consistent session), a conflict ends nothing.
    ///
    /// Equivalent to:
    ///
    /// ```ignore
    /// async fn insert_or_conflict_with_session(
    ///     &self,
    ///     doc: impl Borrow<T> + Send,
    ///     session: &mut ClientSession,
    /// ) -> mongodb::error::Result<Result<InsertOneResult, DuplicateKey>>;
    /// ```
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use dupkey::InsertOrConflict;
    /// use mongodb::bson::{doc, Document};
    ///
    /// # async fn run(client: mongodb::Client, users: mongodb::Collection<Document>) -> mongodb::error::Result<()> {
    /// let mut session = client.start_session().await?;
    /// session.start_transaction().await?;
    /// match users
    ///     .insert_or_conflict_with_session(doc! { "email": "ann@example.com" }, &mut session)
    ///     .await?
    /// {
    ///     Ok(_) => session.commit_transaction().await?,
    ///     // The server has aborted the transaction: end it on this side too.
    ///     Err(_taken) => session.abort_transaction().await?,
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn insert_or_conflict_with_session(
        &self,
        doc: impl Borrow<T> + Send,
        session: &mut ClientSession,
    ) -> impl Future<Output = mongodb::error::Result<Result<InsertOneResult, DuplicateKey>>> + Send;
}

impl<T: Serialize + Send + Sync> InsertOrConflict<T> for Collection<T> {
    fn insert_or_conflict(
        &self,
        doc: impl Borrow<T> + Send,
    ) -> impl Future<Output = mongodb::error::Result<Result<InsertOneResult, DuplicateKey>>> + Send
    {
        insert(self, prepare(doc.borrow()), None)
    }

    fn insert_or_conflict_with_session(
        &self,
        doc: impl Borrow<T> + Send,
        session: &mut ClientSession,
    ) -> impl Future<Output = mongodb::error::Result<Result<InsertOneResult, DuplicateKey>>> + Send
    {
        insert(self, prepare(doc.borrow()), Some(session))
    }
}

async fn insert<T: Send + Sync>(
    coll: &Collection<T>,
    prepared: mongodb::error::Result<RawDocumentBuf>,
    session: Option<&mut ClientSession>,
) -> mongodb::error::Result<Result<InsertOneResult, DuplicateKey>> {
    let sent = [prepared?];
    let raw = coll.clone_with_type::<RawDocumentBuf>();
    let action = raw.insert_one(&sent[0]);
    let result = match session {
        Some(session) => action.session(session).await,
        None => action.await,
    };
    match result {
        Ok(inserted) => Ok(Ok(inserted)),
        Err(err) => match DuplicateKey::from_error(&err) {
            Some(dup) => {
                let exact = exact_keys(coll, vec![dup], &sent).await;
                Ok(Err(exact
                    .into_iter()
                    .next()
                    .expect("one duplicate in, one out")))
            }
            None => Err(err),
        },
    }
}

/// `doc` as the BSON bytes to send, `_id` first when it had none (a new `ObjectId`, as the
/// driver would add it).
pub(crate) fn prepare<T: Serialize>(doc: &T) -> mongodb::error::Result<RawDocumentBuf> {
    let raw = crate::bson_compat::to_raw(doc)?;
    if raw.get("_id")?.is_some() {
        return Ok(raw);
    }
    // `{ _id: <new id> }` without its trailing NUL, then the document's elements and NUL.
    let mut bytes = rawdoc! { "_id": ObjectId::new() }.into_bytes();
    bytes.pop();
    bytes.extend_from_slice(&raw.as_bytes()[4..]);
    let length = i32::try_from(bytes.len())
        .map_err(|_| crate::bson_compat::ser_error("document too large for BSON"))?;
    bytes[..4].copy_from_slice(&length.to_le_bytes());
    Ok(RawDocumentBuf::from_bytes(bytes)?)
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, oid::ObjectId, Bson, Document};

    use super::prepare;

    #[test]
    fn keeps_an_id() {
        let raw = prepare(&doc! { "_id": 7, "a": "x" }).unwrap();
        assert_eq!(
            Document::try_from(raw.as_ref()).unwrap(),
            doc! { "_id": 7, "a": "x" }
        );
    }

    #[test]
    fn adds_an_object_id_first() {
        let raw = prepare(&doc! { "a": "x", "b": { "c": 1 } }).unwrap();
        let doc = Document::try_from(raw.as_ref()).unwrap();
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["_id", "a", "b"]);
        assert!(matches!(doc.get("_id"), Some(Bson::ObjectId(_))));
        assert_eq!(doc.get_str("a").ok(), Some("x"));
        assert_eq!(doc.get_document("b").ok(), Some(&doc! { "c": 1 }));
    }

    #[test]
    fn serializes_structs() {
        #[derive(serde::Serialize)]
        struct User {
            #[serde(rename = "_id")]
            id: ObjectId,
            email: String,
        }
        let id = ObjectId::new();
        let raw = prepare(&User {
            id,
            email: "a@b.c".into(),
        })
        .unwrap();
        assert_eq!(
            Document::try_from(raw.as_ref()).unwrap(),
            doc! { "_id": id, "email": "a@b.c" }
        );
    }

    #[test]
    fn rejects_what_is_not_a_document() {
        assert!(prepare(&5_i32).is_err());
    }
}
