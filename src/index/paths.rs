//! The field paths a partial filter names, and the value at a dotted path of a document.

use mongodb::bson::{Bson, Document};

/// The field paths a partial filter names: keys not starting with `$`, looked for through
/// `$and`, `$or` and the like.
pub(crate) fn filter_paths(filter: &Document, paths: &mut Vec<String>) {
    for (key, value) in filter {
        if !key.starts_with('$') {
            paths.push(key.clone());
            continue;
        }
        match value {
            Bson::Document(inner) => filter_paths(inner, paths),
            Bson::Array(items) => {
                for item in items {
                    if let Bson::Document(inner) = item {
                        filter_paths(inner, paths);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The value at a dotted `path` of `document`, as a query on the path compares it:
/// `None` when missing. A path through an array of documents reads no further.
pub(crate) fn value_at<'a>(document: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut value = document.get(parts.next()?)?;
    for part in parts {
        value = match value {
            Bson::Document(inner) => inner.get(part)?,
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, Bson};

    use super::*;

    #[test]
    fn filter_paths_look_through_operators() {
        let mut paths = Vec::new();
        filter_paths(
            &doc! { "a": { "$exists": true }, "$and": [{ "b.c": 1 }, { "$or": [{ "d": 2 }] }] },
            &mut paths,
        );
        assert_eq!(paths, ["a", "b.c", "d"]);
    }

    #[test]
    fn values_are_read_at_dotted_paths() {
        let d = doc! { "a": { "b": 1 }, "c": [1, 2], "n": Bson::Null };
        assert_eq!(value_at(&d, "a.b"), Some(&Bson::Int32(1)));
        assert_eq!(value_at(&d, "a.x"), None);
        assert_eq!(
            value_at(&d, "c"),
            Some(&Bson::Array(vec![1.into(), 2.into()]))
        );
        assert_eq!(value_at(&d, "c.0"), None);
        assert_eq!(value_at(&d, "n"), Some(&Bson::Null));
    }
}
