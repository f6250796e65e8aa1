//! [`Unique`]: how an application declares one unique constraint.

use super::json;
use crate::index::{same, Index};

/// One unique constraint as an application declares it: how to recognise it (the unique
/// index's name, its key fields, or both), a stable machine-readable code, the API's names
/// for its fields, and the message a client reads.
///
/// Built in a `const` context, usually inside [`constraints!`](crate::constraints):
///
/// ```
/// use dupkey::Unique;
///
/// const HANDLE: Unique = Unique::new("handle_taken")
///     .on_index("tenant_1_handle_1")
///     .on_key(&["tenant", "handle"])
///     .rename(&[("tenant", "tenantId")])
///     .with_message("this handle is already taken in this tenant")
///     .with_translations(&[("de", "dieser Name ist in diesem Mandanten schon vergeben")]);
///
/// assert_eq!(HANDLE.code(), "handle_taken");
/// assert_eq!(HANDLE.api_name("tenant"), "tenantId");
/// assert_eq!(HANDLE.api_name("handle"), "handle");
/// assert_eq!(HANDLE.template(Some("de-AT")), Some("dieser Name ist in diesem Mandanten schon vergeben"));
/// ```
///
/// A declaration with neither an index name nor key fields matches nothing; the startup
/// check ([`Drift`](crate::Drift)) reports it as missing.
///
/// A constraint that depends on its index's collation or partial filter declares them too
/// (as JSON), so that [`Drift`](crate::Drift) reports an index rebuilt without them:
///
/// ```
/// use dupkey::Unique;
///
/// const NICK: Unique = Unique::new("nick_taken")
///     .on_key(&["nick"])
///     .with_collation(r#"{ "locale": "en", "strength": 2 }"#)
///     .with_partial_filter(r#"{ "deleted": false }"#);
/// assert_eq!(NICK.collation(), Some(r#"{ "locale": "en", "strength": 2 }"#));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Unique {
    code: &'static str,
    index: Option<&'static str>,
    key: &'static [&'static str],
    names: &'static [(&'static str, &'static str)],
    message: Option<&'static str>,
    translations: &'static [(&'static str, &'static str)],
    problem_type: Option<&'static str>,
    collation: Option<&'static str>,
    partial_filter: Option<&'static str>,
}

impl Unique {
    /// A constraint whose stable code is `code` (such as `"email_taken"`): what clients match
    /// on, so it never changes with wording or language.
    pub const fn new(code: &'static str) -> Self {
        Unique {
            code,
            index: None,
            key: &[],
            names: &[],
            message: None,
            translations: &[],
            problem_type: None,
            collation: None,
            partial_filter: None,
        }
    }

    /// Recognises the constraint by its unique index's name, as the server reports it.
    pub const fn on_index(mut self, name: &'static str) -> Self {
        self.index = Some(name);
        self
    }

    /// Recognises the constraint by its key's fields (database paths, in index order).
    ///
    /// With [`on_index`](Self::on_index) too, the name decides whenever the server names
    /// the index, and the fields only where it does not (clustered collections, some
    /// MongoDB-compatible services).
    pub const fn on_key(mut self, fields: &'static [&'static str]) -> Self {
        self.key = fields;
        self
    }

    /// Names the API uses for database paths: `&[("profile.email", "email")]`. A path not
    /// listed keeps its own name.
    pub const fn rename(mut self, names: &'static [(&'static str, &'static str)]) -> Self {
        self.names = names;
        self
    }

    /// The message template (see [`template`](Self::template)); without one, the message
    /// names the fields (`"email already exists"`, `"this combination of tenant and handle
    /// already exists"`).
    pub const fn with_message(mut self, template: &'static str) -> Self {
        self.message = Some(template);
        self
    }

    /// Templates by language tag: `&[("de", "..."), ("fr-CA", "...")]`.
    pub const fn with_translations(
        mut self,
        templates: &'static [(&'static str, &'static str)],
    ) -> Self {
        self.translations = templates;
        self
    }

    /// The RFC 9457 problem `type` URI of this conflict (otherwise `"about:blank"`).
    pub const fn with_problem_type(mut self, uri: &'static str) -> Self {
        self.problem_type = Some(uri);
        self
    }

    /// The unique index's collation, as a JSON object (`{ "locale": "en", "strength": 2 }`):
    /// [`Drift`](crate::Drift) then requires an index with each option given (the server
    /// fills in the rest). `{ "locale": "simple" }` declares byte-wise comparison. Without
    /// one, the index's collation is not checked.
    pub const fn with_collation(mut self, json: &'static str) -> Self {
        self.collation = Some(json);
        self
    }

    /// The unique index's partial filter, as a JSON object (`{ "deleted": false }`):
    /// [`Drift`](crate::Drift) then requires an index with this filter. Without one, the
    /// index's filter is not checked.
    pub const fn with_partial_filter(mut self, json: &'static str) -> Self {
        self.partial_filter = Some(json);
        self
    }

    /// The declared collation (JSON), when declared.
    pub fn collation(&self) -> Option<&'static str> {
        self.collation
    }

    /// The declared partial filter (JSON), when declared.
    pub fn partial_filter(&self) -> Option<&'static str> {
        self.partial_filter
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The unique index's name, when declared.
    pub fn index(&self) -> Option<&'static str> {
        self.index
    }

    /// The key's fields (database paths), when declared.
    pub fn key(&self) -> &'static [&'static str] {
        self.key
    }

    /// The API's name for the database path `path`.
    pub fn api_name<'a>(&self, path: &'a str) -> &'a str {
        self.names
            .iter()
            .find(|(from, _)| *from == path)
            .map_or(path, |&(_, to)| to)
    }

    /// The message template for `locale` (a language tag such as `"de-AT"`): the
    /// translation for the exact tag, else for its language (`"de"`), else the default
    /// template; `None` when none is declared.
    ///
    /// A template may hold `{fields}`, replaced with the API field names (`"email"`,
    /// `"tenant and handle"`); it never receives the value.
    pub fn template(&self, locale: Option<&str>) -> Option<&'static str> {
        let translated = locale.and_then(|tag| {
            let language = tag.split(['-', '_']).next().unwrap_or(tag);
            let find = |want: &str| {
                self.translations
                    .iter()
                    .find(|(t, _)| t.eq_ignore_ascii_case(want))
                    .map(|&(_, template)| template)
            };
            find(tag).or_else(|| find(language))
        });
        translated.or(self.message)
    }

    /// The RFC 9457 problem `type` URI, when declared.
    pub fn problem_type(&self) -> Option<&'static str> {
        self.problem_type
    }

    /// Whether the declaration can match anything.
    pub(crate) fn is_recognisable(&self) -> bool {
        self.index.is_some() || !self.key.is_empty()
    }

    /// Whether an index named `name` with key fields `fields` is this constraint's.
    /// `name` is `None` when the server did not name the index.
    pub(crate) fn matches<'a>(
        &self,
        name: Option<&str>,
        fields: impl Iterator<Item = &'a str>,
    ) -> bool {
        match (self.index, name) {
            (Some(declared), Some(name)) => declared == name,
            _ => !self.key.is_empty() && same_fields(self.key, fields),
        }
    }

    /// Whether `index` is the one declared: every part declared agrees (name, key fields in
    /// any order, collation options, partial filter). A collation or filter that is not a
    /// JSON object agrees with no index.
    pub(crate) fn is_declared_as(&self, index: &Index) -> bool {
        self.is_recognisable()
            && self.index.is_none_or(|declared| declared == index.name())
            && (self.key.is_empty()
                || same_fields(self.key, index.key().keys().map(String::as_str)))
            && self.collation.is_none_or(|json| {
                json::document(json)
                    .is_some_and(|c| same::same_collation_spec(Some(&c), index.collation_spec()))
            })
            && self.partial_filter.is_none_or(|json| {
                json::document(json)
                    .is_some_and(|f| same::same_filter(Some(&f), index.partial_filter()))
            })
    }
}

/// Whether `fields` are the declared `key`'s fields, in any order (an index on `(a, b)`
/// and one on `(b, a)` refuse the same documents).
fn same_fields<'a>(key: &[&str], fields: impl Iterator<Item = &'a str>) -> bool {
    let mut count = 0;
    for field in fields {
        if !key.contains(&field) {
            return false;
        }
        count += 1;
    }
    count == key.len()
}

#[cfg(test)]
mod tests {
    use super::Unique;

    const EMAIL: Unique = Unique::new("email_taken")
        .on_index("email_1")
        .on_key(&["email"])
        .with_message("{fields} is taken")
        .with_translations(&[("de", "{fields} ist vergeben"), ("pt-BR", "já existe")]);

    #[test]
    fn templates_by_tag_then_language_then_default() {
        assert_eq!(EMAIL.template(None), Some("{fields} is taken"));
        assert_eq!(EMAIL.template(Some("DE")), Some("{fields} ist vergeben"));
        assert_eq!(EMAIL.template(Some("de-CH")), Some("{fields} ist vergeben"));
        assert_eq!(EMAIL.template(Some("pt-br")), Some("já existe"));
        assert_eq!(EMAIL.template(Some("pt")), Some("{fields} is taken"));
        assert_eq!(Unique::new("x").template(Some("de")), None);
    }

    #[test]
    fn the_index_name_decides_when_the_server_gives_one() {
        let one = |f: &'static str| [f].into_iter();
        assert!(EMAIL.matches(Some("email_1"), one("other")));
        assert!(!EMAIL.matches(Some("email_ci"), one("email")));
        assert!(EMAIL.matches(None, one("email")));
        assert!(!EMAIL.matches(None, one("mail")));
        let by_key = Unique::new("k").on_key(&["a", "b"]);
        assert!(by_key.matches(Some("whatever"), ["b", "a"].into_iter()));
        assert!(!by_key.matches(Some("whatever"), ["a"].into_iter()));
        assert!(!by_key.matches(None, ["a", "b", "c"].into_iter()));
        assert!(!Unique::new("none").matches(None, [].into_iter()));
        assert!(!Unique::new("none").is_recognisable());
    }
}
