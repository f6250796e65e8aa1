//! [`ConflictBody`]: a duplicate key as the body of an HTTP 409 answer.

use mongodb::bson::Document;
use serde::Serialize;

use crate::DuplicateKey;

/// A [`DuplicateKey`] as a web service tells its client: a serde view for a 409 Conflict
/// body, such as `{"error": "email already exists", "fields": ["email"]}`.
///
/// By default it holds field names only. The index, the namespace and the duplicated value
/// (often personal data, or a hint of what other users hold) appear only when asked for with
/// the `with_*` methods, and only when known. Serialize it with any serde format; no web
/// framework is involved.
///
/// # Examples
///
/// ```
/// use dupkey::{ConflictBody, DuplicateKey};
///
/// let dup = DuplicateKey::from_message(
///     "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }",
/// )
/// .unwrap();
///
/// let body = serde_json::to_string(&ConflictBody::new(&dup)).unwrap();
/// assert_eq!(body, r#"{"error":"email already exists","fields":["email"]}"#);
///
/// let body = ConflictBody::new(&dup).with_index().with_namespace().with_value();
/// assert_eq!(
///     serde_json::to_string(&body).unwrap(),
///     r#"{"error":"email already exists","fields":["email"],"index":"email_1","namespace":"shop.users","value":{"email":"ann@example.com"}}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConflictBody {
    error: String,
    fields: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Document>,
    #[serde(skip)]
    source: DuplicateKey,
}

impl ConflictBody {
    /// The body for `dup`: an `error` sentence naming the key's fields
    /// (`"email already exists"`, `"tenant and email already exist"`, or `"a duplicate
    /// already exists"` when no field is known) and the `fields` list.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: tenant_1_email_1 dup key: { tenant: 3, email: \"a@b.c\" }").unwrap();
    /// assert_eq!(ConflictBody::new(&dup).error(), "tenant and email already exist");
    /// assert_eq!(ConflictBody::new(&dup).fields(), ["tenant", "email"]);
    /// ```
    pub fn new(dup: &DuplicateKey) -> Self {
        let fields: Vec<String> = dup.fields().map(str::to_owned).collect();
        ConflictBody {
            error: sentence(&fields),
            fields,
            index: None,
            namespace: None,
            value: None,
            source: dup.clone(),
        }
    }

    /// Replaces the `error` sentence (for another wording or language).
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// # let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }").unwrap();
    /// let body = ConflictBody::new(&dup).with_error("this address is taken");
    /// assert_eq!(body.error(), "this address is taken");
    /// ```
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = error.into();
        self
    }

    /// Adds `"index"`: the unique index's name, when known.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// # let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }").unwrap();
    /// let json = serde_json::to_value(ConflictBody::new(&dup).with_index()).unwrap();
    /// assert_eq!(json["index"], "email_1");
    /// ```
    pub fn with_index(mut self) -> Self {
        self.index = self.source.index().map(str::to_owned);
        self
    }

    /// Adds `"namespace"`: `<db>.<collection>`, when both are known.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// # let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }").unwrap();
    /// let json = serde_json::to_value(ConflictBody::new(&dup).with_namespace()).unwrap();
    /// assert_eq!(json["namespace"], "shop.users");
    /// ```
    pub fn with_namespace(mut self) -> Self {
        self.namespace = match (self.source.database(), self.source.collection()) {
            (Some(db), Some(coll)) => Some(format!("{db}.{coll}")),
            _ => None,
        };
        self
    }

    /// Adds `"value"`: the duplicated key value, when known exactly. Only for clients that
    /// may see it: it is the value some other record holds.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// # let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }").unwrap();
    /// let json = serde_json::to_value(ConflictBody::new(&dup).with_value()).unwrap();
    /// assert_eq!(json["value"]["email"], "a@b.c");
    /// ```
    pub fn with_value(mut self) -> Self {
        self.value = self.source.key_value().cloned();
        self
    }

    /// The `error` sentence.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error").unwrap();
    /// assert_eq!(ConflictBody::new(&dup).error(), "a duplicate already exists");
    /// ```
    pub fn error(&self) -> &str {
        &self.error
    }

    /// The key's field names.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error").unwrap();
    /// assert!(ConflictBody::new(&dup).fields().is_empty());
    /// ```
    pub fn fields(&self) -> Vec<&str> {
        self.fields.iter().map(String::as_str).collect()
    }
}

impl From<&DuplicateKey> for ConflictBody {
    fn from(dup: &DuplicateKey) -> Self {
        ConflictBody::new(dup)
    }
}

/// `"email already exists"`, `"tenant and email already exist"`, `"a, b and c already exist"`.
fn sentence(fields: &[String]) -> String {
    match fields {
        [] => "a duplicate already exists".to_owned(),
        [one] => format!("{one} already exists"),
        [init @ .., last] => format!("{} and {last} already exist", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn key(pattern: Document, value: Document) -> DuplicateKey {
        DuplicateKey::from_message("E11000 duplicate key error collection: shop.users")
            .unwrap()
            .with_key(pattern, value)
    }

    #[test]
    fn the_sentence_names_the_fields() {
        let fields = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(sentence(&[]), "a duplicate already exists");
        assert_eq!(sentence(&fields(&["email"])), "email already exists");
        assert_eq!(
            sentence(&fields(&["tenant", "email"])),
            "tenant and email already exist"
        );
        assert_eq!(
            sentence(&fields(&["a", "b.c", "d"])),
            "a, b.c and d already exist"
        );
    }

    #[test]
    fn only_field_names_by_default() {
        let dup = key(doc! { "email": 1 }, doc! { "email": "ann@example.com" });
        let json = serde_json::to_value(ConflictBody::new(&dup)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "error": "email already exists", "fields": ["email"] })
        );
    }

    #[test]
    fn opted_in_parts_appear_only_when_known() {
        let dup = key(
            doc! { "tenant": 1, "email": 1 },
            doc! { "tenant": 3, "email": "a@b.c" },
        );
        let body = ConflictBody::new(&dup)
            .with_index()
            .with_namespace()
            .with_value();
        let json = serde_json::to_value(&body).unwrap();
        // The stub-free parts: the value from the key; index/namespace only when parsed.
        assert_eq!(
            json["value"],
            serde_json::json!({ "tenant": 3, "email": "a@b.c" })
        );
        assert_eq!(json["fields"], serde_json::json!(["tenant", "email"]));
        assert_eq!(json["error"], "tenant and email already exist");
        let expected_index = dup.index().map(serde_json::Value::from);
        assert_eq!(json.get("index").cloned(), expected_index);

        let bare = DuplicateKey::from_message("E11000 duplicate key error").unwrap();
        let json = serde_json::to_value(
            ConflictBody::new(&bare)
                .with_index()
                .with_namespace()
                .with_value(),
        )
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "error": "a duplicate already exists", "fields": [] })
        );
    }
}
