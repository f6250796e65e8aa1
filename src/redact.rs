//! [`redacted`]: an error's `Display` for logs, with every duplicated key value left out.

use std::fmt;

use crate::{DuplicateKey, IsDuplicate};

/// Shows `err` for a log line without the duplicated value.
///
/// The driver's own `Display` of a duplicate-key error prints the server's message, key
/// value included (often personal data). This one prints the code, the index and the
/// namespace instead, and counts the other duplicates of a batch; an error that is not a
/// duplicate prints as it always does.
///
/// # Examples
///
/// ```
/// use dupkey::{redacted, DuplicateKey};
/// use mongodb::bson::{doc, from_document};
/// use mongodb::error::{Error, ErrorKind, WriteError, WriteFailure};
///
/// let write_error: WriteError = from_document(doc! {
///     "code": 11000,
///     "errmsg": "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"ann@example.com\" }",
/// })?;
/// let err = Error::from(ErrorKind::Write(WriteFailure::WriteError(write_error)));
/// assert!(err.to_string().contains("ann@example.com"));
///
/// let line = redacted(&err).to_string();
/// assert_eq!(line, r#"E11000 duplicate key for index "email_1" in "shop.users""#);
/// # Ok::<(), mongodb::bson::de::Error>(())
/// ```
pub fn redacted<E: IsDuplicate + fmt::Display + ?Sized>(err: &E) -> Redacted<'_, E> {
    Redacted(err)
}

/// An error shown without duplicated values: see [`redacted`].
pub struct Redacted<'a, E: ?Sized>(&'a E);

impl<E: IsDuplicate + fmt::Display + ?Sized> fmt::Display for Redacted<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_duplicate() {
            return self.0.fmt(f);
        }
        let keys = self.0.duplicate_keys();
        match keys.first() {
            Some(first) => {
                write!(f, "E{} {first}", code(first))?;
                if keys.len() > 1 {
                    write!(f, " (and {} more duplicate keys)", keys.len() - 1)?;
                }
                Ok(())
            }
            None => f.write_str("E11000 duplicate key"),
        }
    }
}

impl<E: IsDuplicate + fmt::Display + ?Sized> fmt::Debug for Redacted<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The duplicate's code as its message prints it (`E11001` on old servers), else 11000:
/// services that print none (DocumentDB) send 11000.
fn code(dup: &DuplicateKey) -> &'static str {
    ["11001", "12582"]
        .into_iter()
        .find(|code| dup.message().contains(&format!("E{code} ")))
        .unwrap_or("11000")
}

#[cfg(test)]
mod tests {
    use mongodb::bson::doc;

    use crate::bson_compat::from_document;
    use mongodb::error::{Error, ErrorKind, InsertManyError, WriteError, WriteFailure};

    use super::*;

    #[test]
    fn batches_count_the_other_duplicates_and_show_no_value() {
        let batch: InsertManyError = from_document(doc! { "writeErrors": [
            { "index": 0, "code": 11000, "errmsg": "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"a@b.c\" }" },
            { "index": 2, "code": 11000, "errmsg": "E11000 duplicate key error collection: shop.users index: email_1 dup key: { email: \"d@e.f\" }" },
        ]})
        .unwrap();
        let err = Error::from(ErrorKind::InsertMany(batch));
        let line = redacted(&err).to_string();
        assert_eq!(
            line,
            r#"E11000 duplicate key for index "email_1" in "shop.users" (and 1 more duplicate keys)"#
        );
        assert!(!line.contains("a@b.c") && !line.contains("d@e.f"));
    }

    #[test]
    fn other_errors_print_as_they_are() {
        let err = Error::from(ErrorKind::Shutdown);
        assert_eq!(redacted(&err).to_string(), err.to_string());
    }

    #[test]
    fn the_code_of_an_old_server_is_kept() {
        let write_error: WriteError = from_document(doc! {
            "code": 11001, "errmsg": "E11001 duplicate key on update",
        })
        .unwrap();
        let err = Error::from(ErrorKind::Write(WriteFailure::WriteError(write_error)));
        assert_eq!(redacted(&err).to_string(), "E11001 duplicate key");
    }
}
