//! [`DuplicateKey`]: one duplicate-key error as a value.

use std::fmt;

use mongodb::bson::{Bson, Document, RawDocument};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::extract::{self, Failure};
use crate::fields::Fields;
use crate::key_pattern;
use crate::parse::{self, Parsed};

/// A MongoDB duplicate-key error (code 11000, `E11000 duplicate key error ...`) as a value.
///
/// It names the namespace, the unique index, the key's fields and, where they can be known
/// exactly, the key pattern, the duplicated value as typed BSON and the index's collation.
/// Every part but the raw [`message`](Self::message) can be absent: a getter says `None`
/// rather than guess.
///
/// Where the data comes from, best first:
/// 1. the server's `keyPattern`/`keyValue`, when the driver kept the reply (`update_one`,
///    `replace_one`, `find_one_and_*`);
/// 2. the message text, for everything else: the Rust driver drops the reply of `insert_one`
///    and `insert_many`, so for inserts the text is the source.
///
/// `Display` names the index and the namespace, never the key value (often personal data);
/// `Debug` and `Serialize` show everything.
///
/// # Examples
///
/// ```
/// use dupkey::DuplicateKey;
/// use mongodb::bson::doc;
///
/// let dup = DuplicateKey::from_message(
///     "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }",
/// )
/// .unwrap();
/// assert_eq!(dup.database(), Some("shop"));
/// assert_eq!(dup.collection(), Some("users"));
/// assert_eq!(dup.index(), Some("email_1"));
/// assert!(dup.fields().eq(["email"]));
/// assert_eq!(dup.key_value(), Some(&doc! { "email": "ann@example.com" }));
/// assert_eq!(dup.to_string(), r#"duplicate key for index "email_1" in "shop.users""#);
/// ```
#[derive(Clone)]
pub struct DuplicateKey(Box<Parts>);

/// The parts, boxed: a `DuplicateKey` is one pointer wide, so `Result<T, DuplicateKey>`
/// stays small (`clippy::result_large_err`), as `mongodb::error::Error` boxes its kind.
#[derive(Clone)]
struct Parts {
    /// What the message says, overridden by the server's reply or the caller's key.
    parsed: Parsed,
    position: Option<usize>,
    message: String,
}

impl DuplicateKey {
    /// The duplicate-key error in `err`, the first one if it reports several.
    ///
    /// `None` when `err` is not a duplicate-key error. Looks at `err` itself, not its
    /// sources: [`IsDuplicate`](crate::IsDuplicate) walks whole chains.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::DuplicateKey;
    /// use mongodb::bson::{doc, from_document};
    /// use mongodb::error::{Error, ErrorKind, WriteError, WriteFailure};
    ///
    /// // What `insert_one` returns on a conflict (built here from the server's fields).
    /// let write_error: WriteError = from_document(doc! {
    ///     "code": 11000,
    ///     "errmsg": "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }",
    /// })?;
    /// let err = Error::from(ErrorKind::Write(WriteFailure::WriteError(write_error)));
    ///
    /// let dup = DuplicateKey::from_error(&err).unwrap();
    /// assert_eq!(dup.index(), Some("email_1"));
    /// # Ok::<(), mongodb::bson::de::Error>(())
    /// ```
    pub fn from_error(err: &mongodb::error::Error) -> Option<Self> {
        // The first in batch order: client bulk_write keeps its errors in a map.
        extract::failures(err)
            .filter(Failure::is_duplicate)
            .min_by_key(|f| f.position)
            .map(|f| Self::from_failure(&f))
    }

    /// Reads a duplicate-key error message, from any server version or MongoDB-compatible
    /// service (`E11000 duplicate key error ...` and DocumentDB's `Duplicate key violation
    /// ...`), inside any wrapper (`... :: caused by :: E11000 ...`).
    ///
    /// `None` when the text is not a duplicate-key message. Never panics; linear time.
    ///
    /// # Examples
    ///
    /// ```
    /// use dupkey::DuplicateKey;
    /// use mongodb::bson::doc;
    ///
    /// // MongoDB 3.2 to 4.0 print no field names: they come from the default index name.
    /// let dup = DuplicateKey::from_message(
    ///     "E11000 duplicate key error collection: test.testing index: a_1_b_-1 dup key: { : 1, : 2.0 }",
    /// )
    /// .unwrap();
    /// assert!(dup.fields().eq(["a", "b"]));
    /// assert_eq!(dup.key_pattern(), Some(&doc! { "a": 1, "b": -1 }));
    /// assert_eq!(dup.key_value(), Some(&doc! { "a": 1, "b": 2.0 }));
    ///
    /// assert_eq!(DuplicateKey::from_message("E11001 is not E11000"), None);
    /// ```
    pub fn from_message(message: &str) -> Option<Self> {
        let parsed = parse::parse(message)?;
        Some(Self::new(parsed, message, None))
    }

    /// Builds the value for one duplicate failure: reply first, message text otherwise.
    pub(crate) fn from_failure(failure: &Failure<'_>) -> Self {
        let parsed = parse::parse(failure.message).unwrap_or_default();
        let mut dup = Self::new(parsed, failure.message, failure.position);
        if let Some(reply) = extract::reply_entry(failure) {
            dup.merge_reply(reply);
        }
        dup
    }

    fn new(parsed: Parsed, message: &str, position: Option<usize>) -> Self {
        DuplicateKey(Box::new(Parts {
            parsed,
            position,
            message: message.to_owned(),
        }))
    }

    /// The server's own `keyPattern`/`keyValue`/`collation` win over what the text said.
    fn merge_reply(&mut self, reply: &RawDocument) {
        let document = |key| {
            reply
                .get_document(key)
                .ok()
                .and_then(|raw| Document::try_from(raw).ok())
        };
        let parsed = &mut self.0.parsed;
        if let Some(collation) = document("collation") {
            parsed.collation = Some(collation);
        }
        if let Some(pattern) = document("keyPattern") {
            parsed.fields = pattern.keys().cloned().collect();
            // 2d, 2dsphere and text indexes key geohashes, S2 cells and terms: their keyValue
            // is not the value written.
            let plain = key_pattern::is_plain(&pattern);
            parsed.key_pattern = Some(pattern);
            // A keyValue that is not valid UTF-8 (4.4/5.0 collation keys) fails to convert:
            // then the value is unknown, as is a value made of collation keys.
            parsed.key_value = document("keyValue")
                .filter(|value| plain && (parsed.collation.is_none() || !has_string(value)));
        }
    }

    /// Sets the key pattern and the value from what the caller sent, which is exact where
    /// the server's reply was dropped or holds collation keys.
    pub(crate) fn with_key(mut self, pattern: Document, value: Document) -> Self {
        let parsed = &mut self.0.parsed;
        parsed.fields = pattern.keys().cloned().collect();
        parsed.key_pattern = Some(pattern);
        parsed.key_value = Some(value);
        self
    }

    /// The database, when the server named it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: _id_ dup key: { _id: 1 }").unwrap();
    /// assert_eq!(dup.database(), Some("shop"));
    /// ```
    pub fn database(&self) -> Option<&str> {
        self.0.parsed.database.as_deref()
    }

    /// The collection, when the server named it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.order items index: _id_ dup key: { _id: 1 }").unwrap();
    /// assert_eq!(dup.collection(), Some("order items"));
    /// ```
    pub fn collection(&self) -> Option<&str> {
        self.0.parsed.collection.as_deref()
    }

    /// The unique index's name. The server sends it only in the message; clustered
    /// collections and some MongoDB-compatible services do not name it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users dup key: { _id: 7 }").unwrap();
    /// assert_eq!(dup.index(), None); // a clustered collection
    /// ```
    pub fn index(&self) -> Option<&str> {
        self.0.parsed.index.as_deref()
    }

    /// The index's key pattern, such as `{ email: 1 }`: from the server's reply, from the
    /// collection's index list (the crate's write helpers), or from a default index name
    /// (`email_1`) that agrees with the fields the message names.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// use mongodb::bson::doc;
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: tenant_1_email_-1 dup key: { tenant: 3, email: \"a@b.c\" }").unwrap();
    /// assert_eq!(dup.key_pattern(), Some(&doc! { "tenant": 1, "email": -1 }));
    /// ```
    pub fn key_pattern(&self) -> Option<&Document> {
        self.0.parsed.key_pattern.as_ref()
    }

    /// The duplicated value, typed, keyed by field: `{ email: "ann@example.com" }`.
    ///
    /// `None` unless it is exactly what was written: when the server cut a long value
    /// (`"...`), printed collation keys instead of the value, or the text could not be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// use mongodb::bson::{doc, oid::ObjectId};
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.carts index: user_1 dup key: { user: ObjectId('65a1b2c3d4e5f60718293a4b') }").unwrap();
    /// let id = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
    /// assert_eq!(dup.key_value(), Some(&doc! { "user": id }));
    /// ```
    pub fn key_value(&self) -> Option<&Document> {
        self.0.parsed.key_value.as_ref()
    }

    /// The index's collation, when it has one (MongoDB 4.4+ prints it in the message).
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: name_1 collation: { locale: \"en\", strength: 2 } dup key: { name: \"0x293f392d310109\" }").unwrap();
    /// assert_eq!(dup.collation().unwrap().get_str("locale"), Ok("en"));
    /// assert_eq!(dup.key_value(), None); // collation keys are not the user's value
    /// assert!(dup.fields().eq(["name"]));
    /// ```
    pub fn collation(&self) -> Option<&Document> {
        self.0.parsed.collation.as_ref()
    }

    /// The key's field names in index order, known even when the values are not; empty
    /// when nothing names them. An iterator that allocates nothing (collect it to keep it).
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: uniq dup key: { tenant: 3, profile.email: \"a@b.c\" }").unwrap();
    /// assert!(dup.fields().eq(["tenant", "profile.email"]));
    /// if dup.fields().any(|field| field == "profile.email") {
    ///     // tell the user the address is taken
    /// }
    /// let fields: Vec<&str> = dup.fields().collect();
    /// assert_eq!(fields, ["tenant", "profile.email"]);
    /// ```
    pub fn fields(&self) -> Fields<'_> {
        Fields::new(&self.0.parsed.fields)
    }

    /// The failed write's place in its batch (`insert_many`, client `bulk_write`); `None`
    /// for a single write.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: _id_ dup key: { _id: 1 }").unwrap();
    /// assert_eq!(dup.position(), None);
    /// ```
    pub fn position(&self) -> Option<usize> {
        self.0.position
    }

    /// The server's message, as the driver gave it. Empty when the server left it out (past
    /// 1 MiB of messages in one batch).
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::DuplicateKey;
    /// let text = "E11000 duplicate key error collection: shop.users index: _id_ dup key: { _id: 1 }";
    /// assert_eq!(DuplicateKey::from_message(text).unwrap().message(), text);
    /// ```
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

/// Whether `doc` holds a string anywhere (a collation key, under a collation).
fn has_string(doc: &Document) -> bool {
    fn bson_has_string(value: &Bson) -> bool {
        match value {
            Bson::String(_) => true,
            Bson::Document(doc) => has_string(doc),
            Bson::Array(items) => items.iter().any(bson_has_string),
            _ => false,
        }
    }
    doc.values().any(bson_has_string)
}

impl fmt::Display for DuplicateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("duplicate key")?;
        if let Some(index) = self.index() {
            write!(f, " for index {index:?}")?;
        }
        match (self.database(), self.collection()) {
            (Some(db), Some(coll)) => {
                write!(f, " in \"{}.{}\"", db.escape_debug(), coll.escape_debug())
            }
            (None, Some(coll)) => write!(f, " in {coll:?}"),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for DuplicateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuplicateKey")
            .field("database", &self.database())
            .field("collection", &self.collection())
            .field("index", &self.index())
            .field("fields", &self.fields())
            .field("key_pattern", &self.key_pattern())
            .field("key_value", &self.key_value())
            .field("collation", &self.collation())
            .field("position", &self.position())
            .field("message", &self.message())
            .finish()
    }
}

/// Equal when every getter says the same.
impl PartialEq for DuplicateKey {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&*self.0, &*other.0);
        a.parsed == b.parsed && a.position == b.position && a.message == b.message
    }
}

/// A struct of the getters' values, in the order of `Debug`.
impl Serialize for DuplicateKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut parts = serializer.serialize_struct("DuplicateKey", 9)?;
        parts.serialize_field("database", &self.database())?;
        parts.serialize_field("collection", &self.collection())?;
        parts.serialize_field("index", &self.index())?;
        parts.serialize_field("fields", &self.fields())?;
        parts.serialize_field("key_pattern", &self.key_pattern())?;
        parts.serialize_field("key_value", &self.key_value())?;
        parts.serialize_field("collation", &self.collation())?;
        parts.serialize_field("position", &self.position())?;
        parts.serialize_field("message", &self.message())?;
        parts.end()
    }
}

impl std::error::Error for DuplicateKey {}

#[cfg(test)]
mod tests {
    use super::DuplicateKey;

    #[test]
    fn is_small_send_sync_and_static() {
        fn assert_traits<T: Send + Sync + Clone + std::error::Error + 'static>() {}
        assert_traits::<DuplicateKey>();
        assert_eq!(
            std::mem::size_of::<DuplicateKey>(),
            std::mem::size_of::<usize>()
        );
    }
}
