//! [`Fields`]: a key's field names, as [`DuplicateKey::fields`](crate::DuplicateKey::fields)
//! iterates them, and how a `DuplicateKey` stores them.

use std::fmt;
use std::iter::FusedIterator;
use std::slice;

use serde::{Serialize, Serializer};

/// A byte range of a `DuplicateKey`'s message, on `char` boundaries.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// Where `part` lies in `message`; `None` when it is not a slice of it.
    pub(crate) fn of(message: &str, part: &str) -> Option<Self> {
        let start = (part.as_ptr() as usize).wrapping_sub(message.as_ptr() as usize);
        let inside = start <= message.len() && part.len() <= message.len() - start;
        inside.then_some(Span {
            start,
            end: start + part.len(),
        })
    }

    pub(crate) fn get(self, message: &str) -> &str {
        // Always in range and on boundaries (`of`); `get` keeps a mistake from panicking.
        message.get(self.start..self.end).unwrap_or_default()
    }
}

/// How many field names are kept inline, with no allocation.
const INLINE: usize = 4;

/// The field names a `DuplicateKey` holds.
#[derive(Clone, Debug)]
pub(crate) enum FieldStore {
    /// Up to [`INLINE`] slices of the message (the common case: nothing allocated).
    Inline { spans: [Span; INLINE], len: usize },
    /// More slices of the message.
    Spans(Vec<Span>),
    /// From the server's reply or the caller's key pattern.
    Owned(Vec<String>),
}

impl FieldStore {
    /// The names `fields`, slices of `message` (copied if one is not).
    pub(crate) fn of(message: &str, fields: &[&str]) -> Self {
        let span = |field: &&str| Span::of(message, field);
        if fields.len() <= INLINE {
            let mut spans = [Span::default(); INLINE];
            for (slot, field) in spans.iter_mut().zip(fields) {
                match span(field) {
                    Some(span) => *slot = span,
                    None => return Self::owned(fields),
                }
            }
            FieldStore::Inline {
                spans,
                len: fields.len(),
            }
        } else {
            match fields.iter().map(span).collect() {
                Some(spans) => FieldStore::Spans(spans),
                None => Self::owned(fields),
            }
        }
    }

    #[cold]
    fn owned(fields: &[&str]) -> Self {
        FieldStore::Owned(fields.iter().map(|&field| field.to_owned()).collect())
    }

    /// Iterates the names; `message` is the one the spans point into.
    pub(crate) fn iter<'a>(&'a self, message: &'a str) -> Fields<'a> {
        Fields(match self {
            FieldStore::Inline { spans, len } => Inner::Spans {
                spans: spans[..*len].iter(),
                message,
            },
            FieldStore::Spans(spans) => Inner::Spans {
                spans: spans.iter(),
                message,
            },
            FieldStore::Owned(names) => Inner::Owned(names.iter()),
        })
    }
}

/// An iterator over a duplicate key's field names, in index order: see
/// [`DuplicateKey::fields`](crate::DuplicateKey::fields).
///
/// It allocates nothing. `Debug` and `Serialize` show it as a list of the names left.
///
/// # Examples
///
/// ```
/// use dupkey::DuplicateKey;
///
/// let dup = DuplicateKey::from_message(
///     "E11000 duplicate key error collection: shop.users index: tenant_1_email_1 dup key: { tenant: 3, email: \"a@b.c\" }",
/// )
/// .unwrap();
/// let mut fields = dup.fields();
/// assert_eq!(fields.len(), 2);
/// assert_eq!(fields.next(), Some("tenant"));
/// assert_eq!(fields.next(), Some("email"));
/// assert_eq!(fields.next(), None);
///
/// assert!(dup.fields().eq(["tenant", "email"]));
/// assert_eq!(format!("{:?}", dup.fields()), r#"["tenant", "email"]"#);
/// ```
#[derive(Clone)]
pub struct Fields<'a>(Inner<'a>);

#[derive(Clone)]
enum Inner<'a> {
    Spans {
        spans: slice::Iter<'a, Span>,
        message: &'a str,
    },
    Owned(slice::Iter<'a, String>),
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            Inner::Spans { spans, message } => spans.next().map(|span| span.get(message)),
            Inner::Owned(names) => names.next().map(String::as_str),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = self.len();
        (len, Some(len))
    }
}

impl DoubleEndedIterator for Fields<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Inner::Spans { spans, message } => spans.next_back().map(|span| span.get(message)),
            Inner::Owned(names) => names.next_back().map(String::as_str),
        }
    }
}

impl ExactSizeIterator for Fields<'_> {
    fn len(&self) -> usize {
        match &self.0 {
            Inner::Spans { spans, .. } => spans.len(),
            Inner::Owned(names) => names.len(),
        }
    }
}

impl FusedIterator for Fields<'_> {}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_spilled_and_owned_iterate_alike() {
        let message = "a b c d e";
        let names: Vec<&str> = message.split(' ').collect();
        for count in [0, 1, 4, 5] {
            let store = FieldStore::of(message, &names[..count]);
            assert!(matches!(
                (&store, count <= INLINE),
                (FieldStore::Inline { .. }, true) | (FieldStore::Spans(_), false)
            ));
            assert!(store.iter(message).eq(names[..count].iter().copied()));
            assert!(store
                .iter(message)
                .rev()
                .eq(names[..count].iter().rev().copied()));
            assert_eq!(store.iter(message).len(), count);
        }
        // A name that is not a slice of the message is copied.
        let copied = FieldStore::of(message, &["a", names[1]]);
        assert!(matches!(copied, FieldStore::Owned(_)));
        assert!(copied.iter(message).eq(["a", "b"]));
        let owned = FieldStore::Owned(vec!["x".to_owned(), "y".to_owned()]);
        let mut fields = owned.iter("");
        assert_eq!(fields.next_back(), Some("y"));
        assert_eq!(fields.len(), 1);
        assert_eq!(format!("{fields:?}"), r#"["x"]"#);
        assert_eq!(serde_json::to_string(&fields).unwrap(), r#"["x"]"#);
    }
}
