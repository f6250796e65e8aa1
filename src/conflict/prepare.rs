//! The document as it is sent: serialized once, with an `_id` known before the write.

use mongodb::bson::{oid::ObjectId, rawdoc, Bson, RawDocumentBuf};
use serde::Serialize;

/// `doc` as the BSON bytes to send, `_id` first when it had none (a new `ObjectId`, as the
/// driver would add it).
pub(crate) fn prepare<T: Serialize>(doc: &T) -> mongodb::error::Result<RawDocumentBuf> {
    let raw = crate::bson_compat::to_raw(doc)?;
    if raw.get("_id")?.is_some() {
        return Ok(raw);
    }
    // `{ _id: <new id> }` without its trailing NUL, then the document's elements and NUL.
    let mut bytes = rawdoc! { "_id": ObjectId::new() }.into_bytes();
    bytes.pop();
    bytes.extend_from_slice(&raw.as_bytes()[4..]);
    let length = i32::try_from(bytes.len())
        .map_err(|_| crate::bson_compat::ser_error("document too large for BSON"))?;
    bytes[..4].copy_from_slice(&length.to_le_bytes());
    Ok(RawDocumentBuf::from_bytes(bytes)?)
}

/// The `_id` of a prepared document (it always has one).
pub(crate) fn id_of(doc: &RawDocumentBuf) -> mongodb::error::Result<Bson> {
    let id = doc
        .get("_id")?
        .ok_or_else(|| crate::bson_compat::missing_field("_id"))?;
    Ok(Bson::try_from(id)?)
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, oid::ObjectId, Bson, Document};

    use super::prepare;

    #[test]
    fn keeps_an_id() {
        let raw = prepare(&doc! { "_id": 7, "a": "x" }).unwrap();
        assert_eq!(
            Document::try_from(raw.as_ref()).unwrap(),
            doc! { "_id": 7, "a": "x" }
        );
    }

    #[test]
    fn adds_an_object_id_first() {
        let raw = prepare(&doc! { "a": "x", "b": { "c": 1 } }).unwrap();
        let doc = Document::try_from(raw.as_ref()).unwrap();
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["_id", "a", "b"]);
        assert!(matches!(doc.get("_id"), Some(Bson::ObjectId(_))));
        assert_eq!(doc.get_str("a").ok(), Some("x"));
        assert_eq!(doc.get_document("b").ok(), Some(&doc! { "c": 1 }));
    }

    #[test]
    fn serializes_structs() {
        #[derive(serde::Serialize)]
        struct User {
            #[serde(rename = "_id")]
            id: ObjectId,
            email: String,
        }
        let id = ObjectId::new();
        let raw = prepare(&User {
            id,
            email: "a@b.c".into(),
        })
        .unwrap();
        assert_eq!(
            Document::try_from(raw.as_ref()).unwrap(),
            doc! { "_id": id, "email": "a@b.c" }
        );
    }

    #[test]
    fn rejects_what_is_not_a_document() {
        assert!(prepare(&5_i32).is_err());
    }
}
