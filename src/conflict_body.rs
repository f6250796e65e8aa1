//! [`ConflictBody`]: a duplicate key as the body of an HTTP 409 answer.

use mongodb::bson::Document;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

use crate::constraint::{self, Constraint, Unique};
use crate::relaxed::RelaxedDocument;
use crate::{DuplicateKey, Fields};

/// The code of a duplicate no declared constraint describes.
const UNDECLARED: &str = "duplicate_key";

/// A [`DuplicateKey`] as a web service tells its client: a serde view for a 409 Conflict
/// body, such as `{"code": "email_taken", "error": "email already exists", "fields":
/// ["email"]}`, or its RFC 9457 `application/problem+json` form.
///
/// - `code`: stable and machine-readable: the declared constraint's
///   ([`Unique::new`](crate::Unique::new)), or `"duplicate_key"` for an index nobody declared.
/// - `error` (`detail` in problem form): the constraint's message template, rendered; by
///   default a sentence naming the fields, worded for compound keys.
/// - `fields`: the key's fields under the API's names ([`Unique::rename`](crate::Unique::rename)).
///
/// By default that is all: the index, the namespace and the duplicated value (often personal
/// data, or a hint of what other users hold) appear only when asked for with the `with_*`
/// methods, and only when known. Serialize it with any serde format; it deserialises from
/// either form too, for clients and tests. No web framework is involved.
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
/// assert_eq!(body, r#"{"code":"duplicate_key","error":"email already exists","fields":["email"]}"#);
///
/// let body = ConflictBody::new(&dup).with_index().with_namespace().with_value();
/// assert_eq!(
///     serde_json::to_string(&body).unwrap(),
///     r#"{"code":"duplicate_key","error":"email already exists","fields":["email"],"index":"email_1","namespace":"shop.users","value":{"email":"ann@example.com"}}"#
/// );
///
/// let read: ConflictBody = serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap();
/// assert_eq!(read, body);
/// ```
///
/// With the application's constraints ([`constraints!`](crate::constraints)):
///
/// ```
/// # use dupkey::{ConflictBody, DuplicateKey};
/// dupkey::constraints! {
///     enum Users {
///         Handle = Unique::new("handle_taken")
///             .on_key(&["tenant", "handle"])
///             .rename(&[("tenant", "tenantId")])
///             .with_message("{fields} is already taken")
///             .with_translations(&[("de", "{fields} ist bereits vergeben")]),
///     }
/// }
/// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: app.users index: tenant_1_handle_1 dup key: { tenant: 7, handle: \"ann\" }").unwrap();
///
/// let body = ConflictBody::typed::<Users>(&dup);
/// assert_eq!(body.code(), "handle_taken");
/// assert!(body.fields().eq(["tenantId", "handle"]));
/// assert_eq!(body.error(), "tenantId and handle is already taken");
/// assert_eq!(body.in_locale("de-DE").error(), "tenantId and handle ist bereits vergeben");
/// ```
#[derive(Clone, Debug)]
pub struct ConflictBody {
    code: String,
    error: String,
    fields: Vec<String>,
    index: Option<String>,
    namespace: Option<String>,
    value: Option<Document>,
    problem: Option<Problem>,
    /// What the body was made from; `None` once deserialised.
    source: Option<Source>,
}

/// The RFC 9457 members beyond `detail`.
#[derive(Clone, Debug, PartialEq)]
struct Problem {
    type_uri: String,
    title: String,
    status: u16,
}

#[derive(Clone, Debug)]
struct Source {
    dup: DuplicateKey,
    unique: Option<&'static Unique>,
}

impl ConflictBody {
    /// The body for `dup` with no declared constraint: code `"duplicate_key"`, the
    /// database's field names, and a sentence naming them (`"email already exists"`,
    /// `"this combination of tenant and email already exists"`, or `"a duplicate already
    /// exists"` when no field is known).
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: tenant_1_email_1 dup key: { tenant: 3, email: \"a@b.c\" }").unwrap();
    /// assert_eq!(ConflictBody::new(&dup).error(), "this combination of tenant and email already exists");
    /// assert!(ConflictBody::new(&dup).fields().eq(["tenant", "email"]));
    /// ```
    pub fn new(dup: &DuplicateKey) -> Self {
        Self::build(dup, None)
    }

    /// The body for `dup` as `C` declares it: its code, API field names and message. An
    /// index `C` does not declare gets [`new`](Self::new)'s body.
    pub fn typed<C: Constraint>(dup: &DuplicateKey) -> Self {
        Self::build(dup, constraint::find::<C>(dup).map(C::unique))
    }

    fn build(dup: &DuplicateKey, unique: Option<&'static Unique>) -> Self {
        let fields: Vec<String> = match unique {
            Some(unique) if !unique.key().is_empty() => {
                { unique.key().iter().map(|f| unique.api_name(f).to_owned()) }.collect()
            }
            _ => dup
                .fields()
                .map(|f| unique.map_or(f, |u| u.api_name(f)).to_owned())
                .collect(),
        };
        let mut body = ConflictBody {
            code: unique.map_or(UNDECLARED, Unique::code).to_owned(),
            error: String::new(),
            fields,
            index: None,
            namespace: None,
            value: None,
            problem: None,
            source: Some(Source {
                dup: dup.clone(),
                unique,
            }),
        };
        body.error = body.message(None);
        body
    }

    /// The message for `locale`: the declared template, rendered, else the sentence.
    fn message(&self, locale: Option<&str>) -> String {
        let template = self
            .source
            .as_ref()
            .and_then(|s| s.unique)
            .and_then(|u| u.template(locale));
        match template {
            Some(template) => self.render(template),
            None => sentence(&self.fields),
        }
    }

    /// `template` with `{fields}` replaced by the field names (`"email"`, `"tenant and
    /// handle"`, `"a, b and c"`).
    fn render(&self, template: &str) -> String {
        template.replace("{fields}", &list(&self.fields))
    }

    /// Renders the message in `locale` (a language tag such as `"de-AT"`, say from
    /// `Accept-Language`): the constraint's translation for it, else its default template.
    pub fn in_locale(mut self, locale: &str) -> Self {
        if self.source.is_some() {
            self.error = self.message(Some(locale));
        }
        self
    }

    /// Replaces the message with `template` rendered (`{fields}` becomes the field names):
    /// for an application's own message catalogue.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// # let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }").unwrap();
    /// let body = ConflictBody::new(&dup).with_template("{fields}: déjà utilisé");
    /// assert_eq!(body.error(), "email: déjà utilisé");
    /// ```
    pub fn with_template(mut self, template: &str) -> Self {
        self.error = self.render(template);
        self
    }

    /// Replaces the message (for another wording or language).
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

    /// The RFC 9457 `application/problem+json` form: `type` (the constraint's
    /// [`with_problem_type`](crate::Unique::with_problem_type), else `"about:blank"`),
    /// `title` (`"Conflict"`), `status` (409), `detail` (the message), then `code`, `fields`
    /// and what was opted in.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// # let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }").unwrap();
    /// let json = serde_json::to_string(&ConflictBody::new(&dup).problem()).unwrap();
    /// assert_eq!(json, r#"{"type":"about:blank","title":"Conflict","status":409,"detail":"email already exists","code":"duplicate_key","fields":["email"]}"#);
    /// ```
    pub fn problem(mut self) -> Self {
        let type_uri = self
            .source
            .as_ref()
            .and_then(|s| s.unique)
            .and_then(Unique::problem_type)
            .unwrap_or("about:blank");
        self.problem = Some(Problem {
            type_uri: type_uri.to_owned(),
            title: "Conflict".to_owned(),
            status: 409,
        });
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
        if let Some(source) = &self.source {
            self.index = source.dup.index().map(str::to_owned);
        }
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
        if let Some(source) = &self.source {
            self.namespace = match (source.dup.database(), source.dup.collection()) {
                (Some(db), Some(coll)) => Some(format!("{db}.{coll}")),
                _ => None,
            };
        }
        self
    }

    /// Adds `"value"`: the duplicated key value under the API's field names, as relaxed
    /// Extended JSON (`42`, `"ann"`, `{"$oid": "..."}`, `{"$date": "2024-01-02T03:04:05Z"}`).
    /// Only for clients that may see it: it is the value some other record holds.
    ///
    /// It is [`DuplicateKey::key_value`], so it is left out whenever that is unknown: when
    /// the server cut it, or printed collation keys instead of the value. Under a collation,
    /// the value `insert_or_conflict` reports is the one the caller sent (`"ALICE"`), not
    /// the stored one it collided with (`"alice"`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error collection: shop.carts index: user_1 dup key: { user: ObjectId('65a1b2c3d4e5f60718293a4b') }").unwrap();
    /// let json = serde_json::to_value(ConflictBody::new(&dup).with_value()).unwrap();
    /// assert_eq!(json["value"]["user"]["$oid"], "65a1b2c3d4e5f60718293a4b");
    /// ```
    pub fn with_value(mut self) -> Self {
        if let Some(source) = &self.source {
            self.value = source.dup.key_value().map(|value| {
                value
                    .iter()
                    .map(|(path, v)| {
                        let name = source.unique.map_or(path.as_str(), |u| u.api_name(path));
                        (name.to_owned(), v.clone())
                    })
                    .collect()
            });
        }
        self
    }

    /// The stable code: the constraint's, or `"duplicate_key"`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message (`detail` in problem form).
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

    /// The key's field names, as the API names them.
    ///
    /// # Examples
    ///
    /// ```
    /// # use dupkey::{ConflictBody, DuplicateKey};
    /// let dup = DuplicateKey::from_message("E11000 duplicate key error").unwrap();
    /// assert_eq!(ConflictBody::new(&dup).fields().len(), 0);
    /// ```
    pub fn fields(&self) -> Fields<'_> {
        Fields::new(&self.fields)
    }

    /// The index's name, when opted in and known.
    pub fn index(&self) -> Option<&str> {
        self.index.as_deref()
    }

    /// The namespace, when opted in and known.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The duplicated value under the API's field names, when opted in and known.
    pub fn value(&self) -> Option<&Document> {
        self.value.as_ref()
    }

    /// Whether this is the RFC 9457 problem form.
    pub fn is_problem(&self) -> bool {
        self.problem.is_some()
    }

    /// The problem `type` URI, in problem form.
    pub fn problem_type(&self) -> Option<&str> {
        self.problem.as_ref().map(|p| p.type_uri.as_str())
    }
}

impl From<&DuplicateKey> for ConflictBody {
    fn from(dup: &DuplicateKey) -> Self {
        ConflictBody::new(dup)
    }
}

/// Equal when the wire forms are equal.
impl PartialEq for ConflictBody {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.error == other.error
            && self.fields == other.fields
            && self.index == other.index
            && self.namespace == other.namespace
            && self.value == other.value
            && self.problem == other.problem
    }
}

impl Serialize for ConflictBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.problem {
            Some(problem) => {
                map.serialize_entry("type", &problem.type_uri)?;
                map.serialize_entry("title", &problem.title)?;
                map.serialize_entry("status", &problem.status)?;
                map.serialize_entry("detail", &self.error)?;
                map.serialize_entry("code", &self.code)?;
            }
            None => {
                map.serialize_entry("code", &self.code)?;
                map.serialize_entry("error", &self.error)?;
            }
        }
        map.serialize_entry("fields", &self.fields)?;
        if let Some(index) = &self.index {
            map.serialize_entry("index", index)?;
        }
        if let Some(namespace) = &self.namespace {
            map.serialize_entry("namespace", namespace)?;
        }
        if let Some(value) = &self.value {
            map.serialize_entry("value", &RelaxedDocument(value))?;
        }
        map.end()
    }
}

/// Either form, as a client reads it.
#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    type_uri: Option<String>,
    title: Option<String>,
    status: Option<u16>,
    detail: Option<String>,
    error: Option<String>,
    code: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    index: Option<String>,
    namespace: Option<String>,
    value: Option<Document>,
}

impl<'de> Deserialize<'de> for ConflictBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let problem = (wire.type_uri.is_some() || wire.status.is_some()).then(|| Problem {
            type_uri: wire.type_uri.unwrap_or_else(|| "about:blank".to_owned()),
            title: wire.title.unwrap_or_default(),
            status: wire.status.unwrap_or(409),
        });
        Ok(ConflictBody {
            code: wire.code.unwrap_or_else(|| UNDECLARED.to_owned()),
            error: wire.error.or(wire.detail).unwrap_or_default(),
            fields: wire.fields,
            index: wire.index,
            namespace: wire.namespace,
            value: wire.value,
            problem,
            source: None,
        })
    }
}

/// `"email"`, `"tenant and email"`, `"a, b and c"`.
fn list(fields: &[String]) -> String {
    match fields {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `"email already exists"`; for a compound key, `"this combination of tenant and email
/// already exists"` (neither exists alone).
fn sentence(fields: &[String]) -> String {
    match fields {
        [] => "a duplicate already exists".to_owned(),
        [_] => format!("{} already exists", list(fields)),
        _ => format!("this combination of {} already exists", list(fields)),
    }
}

#[cfg(test)]
mod tests;
