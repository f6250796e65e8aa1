//! The duplicate-key error shapes tests: fresh collections with a unique index, and what
//! one duplicate must say, getter by getter.

use dupkey::{DuplicateKey, IsDuplicate};
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::Error;
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};

pub const ANN: &str = "ann@example.com";
pub const BOB: &str = "bob@example.com";
pub const EVE: &str = "eve@example.com";

/// A fresh database with `users`: a unique index `email_1` and the given seed documents.
pub async fn users(prefix: &str, seed: Vec<Document>) -> (Database, Collection<Document>) {
    let client = super::client().await;
    let db = client.database(&super::unique_db(prefix));
    let users = db.collection::<Document>("users");
    users
        .create_index(unique(doc! { "email": 1 }))
        .await
        .expect("create the unique index");
    if !seed.is_empty() {
        users.insert_many(seed).await.expect("seed");
    }
    (db, users)
}

pub fn unique(keys: Document) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().unique(true).build())
        .build()
}

/// What one duplicate must say, getter by getter.
pub struct Want<'a> {
    pub db: &'a Database,
    pub coll: &'a str,
    pub index: &'a str,
    pub fields: &'a [&'a str],
    pub key_pattern: Document,
    pub key_value: Document,
    pub position: Option<usize>,
    /// A string of the key value that Display must not show.
    pub secret: &'a str,
}

pub fn check(dup: &DuplicateKey, want: &Want<'_>) {
    assert_eq!(dup.database(), Some(want.db.name()), "database");
    assert_eq!(dup.collection(), Some(want.coll), "collection");
    assert_eq!(dup.index(), Some(want.index), "index");
    assert_eq!(dup.fields().collect::<Vec<_>>(), want.fields, "fields");
    assert_eq!(dup.key_pattern(), Some(&want.key_pattern), "key pattern");
    assert_eq!(dup.key_value(), Some(&want.key_value), "key value");
    assert_eq!(dup.collation(), None, "collation");
    assert_eq!(dup.position(), want.position, "position");
    let shown = dup.to_string();
    assert_eq!(
        shown,
        format!(
            "duplicate key for index {:?} in \"{}.{}\"",
            want.index,
            want.db.name(),
            want.coll
        )
    );
    assert!(
        !shown.contains(want.secret),
        "Display shows the key value: {shown}"
    );
}

/// The `email_1` duplicate of `value` in `db.users`.
pub fn email<'a>(db: &'a Database, value: &'a str, position: Option<usize>) -> Want<'a> {
    Want {
        db,
        coll: "users",
        index: "email_1",
        fields: &["email"],
        key_pattern: doc! { "email": 1 },
        key_value: doc! { "email": value },
        position,
        secret: value,
    }
}

/// `err` reports exactly one duplicate, and the three questions agree on it.
pub fn the_one(err: &Error) -> DuplicateKey {
    assert!(err.is_duplicate(), "not a duplicate: {err:?}");
    let dup = err.duplicate_key().expect("a duplicate key");
    assert_eq!(err.duplicate_keys(), std::slice::from_ref(&dup));
    assert_eq!(DuplicateKey::from_error(err), Some(dup.clone()));
    dup
}

/// The server's own `keyPattern`/`keyValue` in a reply (top level or first write error).
pub fn reply_keys(err: &Error) -> (Document, Document) {
    let reply = Document::try_from(&**err.server_response().expect("the reply")).expect("reply");
    let holder = match reply.get_array("writeErrors") {
        Ok(errors) => match &errors[0] {
            Bson::Document(entry) => entry.clone(),
            other => panic!("write error entry: {other:?}"),
        },
        Err(_) => reply,
    };
    (
        holder
            .get_document("keyPattern")
            .expect("keyPattern")
            .clone(),
        holder.get_document("keyValue").expect("keyValue").clone(),
    )
}

/// Seeds `{_id: 1, ann}` and `{_id: 2, bob}`.
pub async fn ann_and_bob(prefix: &str) -> (Database, Collection<Document>) {
    users(
        prefix,
        vec![
            doc! { "_id": 1, "email": ANN },
            doc! { "_id": 2, "email": BOB },
        ],
    )
    .await
}

/// A write error whose reply the driver kept: the getters must agree with the reply.
pub fn check_with_reply(err: &Error, want: &Want<'_>) {
    let dup = the_one(err);
    check(&dup, want);
    let (pattern, value) = reply_keys(err);
    assert_eq!(dup.key_pattern(), Some(&pattern));
    assert_eq!(dup.key_value(), Some(&value));
}
