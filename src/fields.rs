//! [`Fields`]: a key's field names, as [`DuplicateKey::fields`](crate::DuplicateKey::fields)
//! iterates them.

use std::fmt;
use std::iter::FusedIterator;
use std::slice;

use serde::{Serialize, Serializer};

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
pub struct Fields<'a>(slice::Iter<'a, String>);

impl<'a> Fields<'a> {
    pub(crate) fn new(names: &'a [String]) -> Self {
        Fields(names.iter())
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.0.next().map(String::as_str)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Fields<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(String::as_str)
    }
}

impl ExactSizeIterator for Fields<'_> {}

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
    use super::Fields;

    #[test]
    fn iterates_both_ways_and_shows_what_is_left() {
        let names = ["x".to_owned(), "y".to_owned()];
        let mut fields = Fields::new(&names);
        assert_eq!(fields.len(), 2);
        assert_eq!(fields.next_back(), Some("y"));
        assert_eq!(fields.len(), 1);
        assert_eq!(format!("{fields:?}"), r#"["x"]"#);
        assert_eq!(serde_json::to_string(&fields).unwrap(), r#"["x"]"#);
        assert_eq!(fields.next(), Some("x"));
        assert_eq!(fields.next(), None);
    }
}
