//! The BSON calls that bson 2 and bson 3 name differently, under names of dupkey's own.
//!
//! `mongodb::bson` is whichever bson major the driver was built with. Cargo unifies features,
//! so a crate elsewhere in the graph can switch the driver to bson 3 while dupkey's own
//! features ask for bson 2: no `cfg` in dupkey can tell which one it got. The rest of dupkey
//! uses only what both majors offer; what they do not share is here.
//!
//! Where both majors have a call under one name (`Deserializer::new`, `Serializer::new`),
//! it is called directly. The binary serializer and deserializer (the ones the driver itself
//! uses, which present themselves as not human-readable) are reachable only through functions
//! each major names its own way. Each such call sits in a block that glob-imports
//! `mongodb::bson`: a glob import in a block shadows the items of the enclosing module, so
//! the call reaches bson's function where this major has that name, and otherwise the
//! module-level fallback of the same name, which calls the other major's name.

use mongodb::bson::{Bson, Document, RawDocument, RawDocumentBuf, Regex};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// bson's deserialization error (`bson::de::Error` in bson 2, `bson::error::Error` in bson 3).
pub(crate) type DeError = <mongodb::bson::Deserializer as serde::Deserializer<'static>>::Error;

/// bson's serialization error (`bson::ser::Error` in bson 2, `bson::error::Error` in bson 3).
pub(crate) type SerError = <mongodb::bson::Serializer as serde::Serializer>::Error;

/// `value` as BSON bytes, serialized the way the driver serializes what it sends.
pub(crate) fn to_raw<T: Serialize>(value: &T) -> mongodb::error::Result<RawDocumentBuf> {
    let raw = {
        #[allow(unused_imports)] // unused where the fallback is called
        use mongodb::bson::*;
        to_raw_document_buf(value)
    };
    Ok(raw?)
}

/// A `T` read from BSON bytes, deserialized the way the driver deserializes what it receives.
pub(crate) fn from_raw<T: DeserializeOwned>(doc: &RawDocument) -> mongodb::error::Result<T> {
    let value = {
        #[allow(unused_imports)] // unused where the fallback is called
        use mongodb::bson::*;
        from_slice(doc.as_bytes())
    };
    Ok(value?)
}

/// A `T` read from `doc` (bson's `from_document` / `deserialize_from_document`).
pub(crate) fn from_document<T: DeserializeOwned>(doc: Document) -> Result<T, DeError> {
    T::deserialize(mongodb::bson::Deserializer::new(Bson::Document(doc)))
}

/// `value` as a document (bson's `to_document` / `serialize_to_document`); `None` when it
/// does not serialize to one.
pub(crate) fn to_document<T: Serialize + ?Sized>(value: &T) -> Option<Document> {
    match value.serialize(mongodb::bson::Serializer::new()) {
        Ok(Bson::Document(doc)) => Some(doc),
        _ => None,
    }
}

/// A regex of `pattern` and `options` as given (bson 3 holds both as C strings, bson 2 as
/// `String`); `None` when either has a NUL, which no BSON regex can hold.
#[allow(clippy::useless_conversion)] // `String` into `String` under bson 2
pub(crate) fn regex(pattern: &str, options: &str) -> Option<Regex> {
    Some(Regex {
        pattern: pattern.to_owned().try_into().ok()?,
        options: options.to_owned().try_into().ok()?,
    })
}

/// A deserialization error saying `field` is missing.
pub(crate) fn missing_field(field: &'static str) -> mongodb::error::Error {
    <DeError as serde::de::Error>::missing_field(field).into()
}

/// A serialization error with `message`.
pub(crate) fn ser_error(message: &str) -> mongodb::error::Error {
    <SerError as serde::ser::Error>::custom(message).into()
}

// bson 3's names, for bson 3: the blocks above reach bson 2's own functions under bson 2,
// and these under bson 3, where each calls bson 3's function.

#[allow(dead_code)]
fn to_raw_document_buf<T: Serialize>(value: &T) -> Result<RawDocumentBuf, SerError> {
    #[allow(unused_imports)] // unused under bson 2, where this function is too
    use mongodb::bson::*;
    serialize_to_raw_document_buf(value)
}

#[allow(dead_code)]
fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DeError> {
    #[allow(unused_imports)] // unused under bson 2, where this function is too
    use mongodb::bson::*;
    deserialize_from_slice(bytes)
}

// Reached only if bson had neither name; the driver builds with bson 2 or bson 3, which
// each have one.

#[allow(dead_code)]
fn serialize_to_raw_document_buf<T: Serialize>(_: &T) -> Result<RawDocumentBuf, SerError> {
    unreachable!("bson has to_raw_document_buf or serialize_to_raw_document_buf")
}

#[allow(dead_code)]
fn deserialize_from_slice<'de, T: Deserialize<'de>>(_: &'de [u8]) -> Result<T, DeError> {
    unreachable!("bson has from_slice or deserialize_from_slice")
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, oid::ObjectId, Document};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct User {
        #[serde(rename = "_id")]
        id: ObjectId,
        email: String,
        logins: i64,
    }

    #[test]
    fn raw_round_trip() {
        let user = User {
            id: ObjectId::new(),
            email: "ann@example.com".into(),
            logins: 3,
        };
        let raw = to_raw(&user).unwrap();
        assert_eq!(raw.get_str("email").unwrap(), "ann@example.com");
        assert_eq!(from_raw::<User>(&raw).unwrap(), user);
    }

    #[test]
    fn document_round_trip() {
        let doc = doc! { "locale": "en", "strength": 2 };
        let back: Document = from_document(doc.clone()).unwrap();
        assert_eq!(back, doc);
        assert_eq!(to_document(&back), Some(doc));
        assert_eq!(to_document(&3_i32), None);
    }

    #[test]
    fn binary_forms_are_not_human_readable() {
        // What the driver sends and reads: a type with two forms takes the binary one here,
        // and the human-readable one through the document forms.
        assert!(!to_raw(&Human(true)).unwrap().get_bool("human").unwrap());
        assert!(to_document(&Human(true))
            .unwrap()
            .get_bool("human")
            .unwrap());
        let raw = to_raw(&doc! {}).unwrap();
        assert!(!from_raw::<Human>(&raw).unwrap().0);
        assert!(from_document::<Human>(doc! {}).unwrap().0);
    }

    /// Serializes whether the serializer is human-readable; deserialized, holds whether the
    /// deserializer was.
    struct Human(bool);

    impl Serialize for Human {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let human = s.is_human_readable();
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry("human", &human)?;
            map.end()
        }
    }

    impl<'de> Deserialize<'de> for Human {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let human = d.is_human_readable();
            Document::deserialize(d)?;
            Ok(Human(human))
        }
    }

    #[test]
    fn errors_convert_into_the_driver_error() {
        let err = missing_field("_id");
        assert!(err.to_string().contains("_id"), "{err}");
        let err = ser_error("document too large for BSON");
        assert!(err.to_string().contains("too large"), "{err}");
        let bad = from_raw::<User>(&to_raw(&doc! { "email": 1 }).unwrap());
        assert!(bad.is_err());
    }
}
