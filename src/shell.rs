//! [`Shell`]: BSON printed as the server prints keys in its messages, for people to read.

use std::fmt;

use mongodb::bson::{Bson, Document};

/// Displays a document or value in the mongo shell's syntax, as the server prints keys:
/// `{ tenant: 7, email: "ann@example.com" }`, `ObjectId('65a1…')`, `new Date(1704164645678)`.
///
/// For logs and examples that mean to show values: [`DuplicateKey`](crate::DuplicateKey)'s
/// own `Display` never does.
///
/// ```
/// use dupkey::Shell;
/// use mongodb::bson::doc;
///
/// let key = doc! { "tenant": 7, "email": "ann@example.com", "score": 2.0 };
/// assert_eq!(
///     Shell(&key).to_string(),
///     r#"{ tenant: 7, email: "ann@example.com", score: 2.0 }"#
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Shell<'a, T: ?Sized = Document>(pub &'a T);

impl fmt::Display for Shell<'_, Document> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        document(self.0, f)
    }
}

impl fmt::Display for Shell<'_, Bson> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        value(self.0, f)
    }
}

fn document(doc: &Document, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if doc.is_empty() {
        return f.write_str("{}");
    }
    f.write_str("{ ")?;
    for (i, (name, v)) in doc.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{name}: ")?;
        value(v, f)?;
    }
    f.write_str(" }")
}

fn value(v: &Bson, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match v {
        Bson::String(s) => write!(f, "\"{s}\""),
        Bson::Int32(n) => write!(f, "{n}"),
        Bson::Int64(n) => write!(f, "{n}"),
        Bson::Double(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => {
            write!(f, "{x:.1}")
        }
        Bson::Double(x) => write!(f, "{x}"),
        Bson::Boolean(b) => write!(f, "{b}"),
        Bson::Null => f.write_str("null"),
        Bson::ObjectId(id) => write!(f, "ObjectId('{id}')"),
        Bson::DateTime(d) => write!(f, "new Date({})", d.timestamp_millis()),
        Bson::Document(d) => document(d, f),
        Bson::Array(items) => {
            if items.is_empty() {
                return f.write_str("[]");
            }
            f.write_str("[ ")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                value(item, f)?;
            }
            f.write_str(" ]")
        }
        other => write!(f, "{other}"),
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime};

    use super::Shell;

    #[test]
    fn reads_as_the_server_prints() {
        let id = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        let key = doc! {
            "_id": id, "at": DateTime::from_millis(1_704_164_645_678), "n": 9_007_199_254_740_993_i64,
            "x": 3.5, "ok": true, "none": null, "tags": [1, "a"], "empty": [], "in": { "c": {} },
        };
        assert_eq!(
            Shell(&key).to_string(),
            "{ _id: ObjectId('65a1b2c3d4e5f60718293a4b'), at: new Date(1704164645678), \
             n: 9007199254740993, x: 3.5, ok: true, none: null, tags: [ 1, \"a\" ], \
             empty: [], in: { c: {} } }"
        );
        assert_eq!(Shell(&Bson::Double(-0.0)).to_string(), "-0.0");
    }
}
