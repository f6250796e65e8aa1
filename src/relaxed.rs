//! Relaxed Extended JSON (v2) for BSON values, as a serde view: what a web client gets for a
//! key value, written here because bson offers relaxed JSON only behind optional features.
//!
//! Numbers, strings, booleans, null, arrays and documents are plain JSON; every other type is
//! its relaxed `$`-wrapper (`{"$oid": ...}`, `{"$date": "2024-01-02T03:04:05.678Z"}`, ...).

use mongodb::bson::{Bson, Document};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A BSON value serialized as relaxed Extended JSON.
pub(crate) struct Relaxed<'a>(pub(crate) &'a Bson);

/// A document serialized as relaxed Extended JSON.
pub(crate) struct RelaxedDocument<'a>(pub(crate) &'a Document);

impl Serialize for RelaxedDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, &Relaxed(value))?;
        }
        map.end()
    }
}

/// `{ key: value }`, a one-entry wrapper.
fn wrapper<S: Serializer, V: Serialize + ?Sized>(
    serializer: S,
    key: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// A two-entry map, for `$binary`, `$timestamp` and the like.
struct Pair<'a, A: ?Sized, B: ?Sized>(&'a str, &'a A, &'a str, &'a B);

impl<A: Serialize + ?Sized, B: Serialize + ?Sized> Serialize for Pair<'_, A, B> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(self.0, self.1)?;
        map.serialize_entry(self.2, self.3)?;
        map.end()
    }
}

impl Serialize for Relaxed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Bson::Double(v) if v.is_finite() => serializer.serialize_f64(*v),
            Bson::Double(v) => {
                let text = if v.is_nan() {
                    "NaN"
                } else if *v > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                };
                wrapper(serializer, "$numberDouble", text)
            }
            Bson::String(s) => serializer.serialize_str(s),
            Bson::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Relaxed(item))?;
                }
                seq.end()
            }
            Bson::Document(doc) => RelaxedDocument(doc).serialize(serializer),
            Bson::Boolean(b) => serializer.serialize_bool(*b),
            Bson::Null => serializer.serialize_unit(),
            Bson::Int32(n) => serializer.serialize_i32(*n),
            Bson::Int64(n) => serializer.serialize_i64(*n),
            Bson::ObjectId(id) => wrapper(serializer, "$oid", &id.to_hex()),
            Bson::DateTime(date) => {
                let millis = date.timestamp_millis();
                match iso_date(millis) {
                    Some(text) => wrapper(serializer, "$date", &text),
                    None => wrapper(
                        serializer,
                        "$date",
                        &Wrapped("$numberLong", &millis.to_string()),
                    ),
                }
            }
            Bson::Binary(binary) => {
                let subtype = format!("{:02x}", u8::from(binary.subtype));
                let base64 = base64(&binary.bytes);
                wrapper(
                    serializer,
                    "$binary",
                    &Pair("base64", &base64, "subType", &subtype),
                )
            }
            Bson::RegularExpression(regex) => wrapper(
                serializer,
                "$regularExpression",
                &Pair("pattern", &regex.pattern, "options", &regex.options),
            ),
            Bson::Timestamp(ts) => wrapper(
                serializer,
                "$timestamp",
                &Pair("t", &ts.time, "i", &ts.increment),
            ),
            Bson::Decimal128(d) => wrapper(serializer, "$numberDecimal", &d.to_string()),
            Bson::Symbol(s) => wrapper(serializer, "$symbol", s),
            Bson::JavaScriptCode(code) => wrapper(serializer, "$code", code),
            Bson::JavaScriptCodeWithScope(cws) => {
                Pair("$code", &cws.code, "$scope", &RelaxedDocument(&cws.scope))
                    .serialize(serializer)
            }
            Bson::Undefined => wrapper(serializer, "$undefined", &true),
            Bson::MinKey => wrapper(serializer, "$minKey", &1),
            Bson::MaxKey => wrapper(serializer, "$maxKey", &1),
            // Relaxed and canonical agree here (`{"$dbPointer": {"$ref", "$id"}}`): bson's own.
            other @ Bson::DbPointer(_) => other.serialize(serializer),
        }
    }
}

/// `{ key: text }` for a nested wrapper.
struct Wrapped<'a>(&'a str, &'a str);

impl Serialize for Wrapped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wrapper(serializer, self.0, self.1)
    }
}

/// `1970-01-01T00:00:00Z` to `9999-12-31T23:59:59.999Z` (milliseconds only when not zero);
/// `None` outside those years, where relaxed JSON keeps `$numberLong`.
fn iso_date(millis: i64) -> Option<String> {
    const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    if !(0..=MAX).contains(&millis) {
        return None;
    }
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let mut text = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if ms != 0 {
        text.push_str(&format!(".{ms:03}"));
    }
    text.push('Z');
    Some(text)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use mongodb::bson::oid::ObjectId;
    use mongodb::bson::spec::BinarySubtype;
    use mongodb::bson::{doc, Binary, DateTime, Decimal128, Timestamp};
    use serde_json::json;

    use super::*;

    fn relaxed(value: Bson) -> serde_json::Value {
        serde_json::to_value(Relaxed(&value)).unwrap()
    }

    #[test]
    fn plain_json_where_json_has_the_type() {
        assert_eq!(relaxed(Bson::Int32(42)), json!(42));
        assert_eq!(
            relaxed(Bson::Int64(9_007_199_254_740_993)),
            json!(9_007_199_254_740_993_i64)
        );
        assert_eq!(relaxed(Bson::Double(2.5)), json!(2.5));
        assert_eq!(
            serde_json::to_string(&Relaxed(&Bson::Double(1.0))).unwrap(),
            "1.0"
        );
        assert_eq!(
            serde_json::to_string(&Relaxed(&Bson::Double(-0.0))).unwrap(),
            "-0.0"
        );
        assert_eq!(relaxed(Bson::String("ann".into())), json!("ann"));
        assert_eq!(relaxed(Bson::Boolean(true)), json!(true));
        assert_eq!(relaxed(Bson::Null), json!(null));
        assert_eq!(
            relaxed(Bson::Document(doc! { "a": [1, "x", { "b": null }] })),
            json!({ "a": [1, "x", { "b": null }] })
        );
    }

    #[test]
    fn wrappers_for_the_rest() {
        let id = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        assert_eq!(
            relaxed(Bson::ObjectId(id)),
            json!({ "$oid": "65a1b2c3d4e5f60718293a4b" })
        );
        for (v, text) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(relaxed(Bson::Double(v)), json!({ "$numberDouble": text }));
        }
        let decimal: Decimal128 = "1234.5600".parse().unwrap();
        assert_eq!(
            relaxed(Bson::Decimal128(decimal)),
            json!({ "$numberDecimal": "1234.5600" })
        );
        let binary = Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![0, 1, 0xFF, 0x10],
        };
        assert_eq!(
            relaxed(Bson::Binary(binary)),
            json!({ "$binary": { "base64": "AAH/EA==", "subType": "00" } })
        );
        let uuid = Binary {
            subtype: BinarySubtype::Uuid,
            bytes: vec![7; 16],
        };
        assert_eq!(relaxed(Bson::Binary(uuid))["$binary"]["subType"], "04");
        assert_eq!(
            relaxed(Bson::RegularExpression(
                crate::bson_compat::regex("^ab.*c$", "ix").unwrap()
            )),
            json!({ "$regularExpression": { "pattern": "^ab.*c$", "options": "ix" } })
        );
        assert_eq!(
            relaxed(Bson::Timestamp(Timestamp {
                time: 1_700_000_000,
                increment: 5
            })),
            json!({ "$timestamp": { "t": 1_700_000_000_u32, "i": 5 } })
        );
        assert_eq!(relaxed(Bson::MinKey), json!({ "$minKey": 1 }));
        assert_eq!(relaxed(Bson::MaxKey), json!({ "$maxKey": 1 }));
        assert_eq!(relaxed(Bson::Undefined), json!({ "$undefined": true }));
        assert_eq!(relaxed(Bson::Symbol("s".into())), json!({ "$symbol": "s" }));
        assert_eq!(
            relaxed(Bson::JavaScriptCode("f()".into())),
            json!({ "$code": "f()" })
        );
    }

    #[test]
    fn dates_as_iso_text_within_years_1970_to_9999() {
        let date = |ms| relaxed(Bson::DateTime(DateTime::from_millis(ms)));
        assert_eq!(date(0), json!({ "$date": "1970-01-01T00:00:00Z" }));
        assert_eq!(
            date(1_704_164_645_678),
            json!({ "$date": "2024-01-02T03:04:05.678Z" })
        );
        assert_eq!(
            date(951_782_400_000),
            json!({ "$date": "2000-02-29T00:00:00Z" })
        );
        assert_eq!(
            date(253_402_300_799_999),
            json!({ "$date": "9999-12-31T23:59:59.999Z" })
        );
        assert_eq!(date(-1), json!({ "$date": { "$numberLong": "-1" } }));
        assert_eq!(
            date(253_402_300_800_000),
            json!({ "$date": { "$numberLong": "253402300800000" } })
        );
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
