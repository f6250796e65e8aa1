use super::*;
use mongodb::bson::{doc, Decimal128};

/// Reads one whole value (as the last field of a key) and its quality.
fn read(s: &str) -> Result<(Bson, Quality)> {
    let mut quality = Quality::default();
    let (v, rest) = value(s, Follow::End, 1, &mut quality)?;
    assert_eq!(rest, "", "{s}");
    Ok((v, quality))
}

fn exact(s: &str) -> Bson {
    let (v, quality) = read(s).unwrap();
    assert!(!quality.inexact, "{s}");
    v
}

fn bin(subtype: BinarySubtype, bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype,
        bytes: bytes.to_vec(),
    })
}

#[test]
fn keywords() {
    assert_eq!(exact("true"), Bson::Boolean(true));
    assert_eq!(exact("false"), Bson::Boolean(false));
    assert_eq!(exact("null"), Bson::Null);
    assert_eq!(exact("undefined"), Bson::Undefined);
    assert_eq!(exact("MinKey"), Bson::MinKey);
    assert_eq!(exact("MaxKey"), Bson::MaxKey);
    assert_eq!(read("nul"), Err(Error::Number));
    assert_eq!(read("True"), Err(Error::Number));
}

#[test]
fn numbers() {
    assert_eq!(exact("42"), Bson::Int32(42));
    assert_eq!(
        exact("-9007199254740993"),
        Bson::Int64(-9_007_199_254_740_993)
    );
    assert_eq!(exact("2.0"), Bson::Double(2.0));
    assert_eq!(exact("-inf.0"), Bson::Double(f64::NEG_INFINITY));
    assert_eq!(
        exact("1234.5600"),
        Bson::Decimal128("1234.5600".parse::<Decimal128>().unwrap())
    );
}

#[test]
fn constructors() {
    let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
    assert_eq!(
        exact("ObjectId('65a1b2c3d4e5f60718293a4b')"),
        Bson::ObjectId(oid)
    );
    assert_eq!(
        exact("new Date(1704164645678)"),
        Bson::DateTime(DateTime::from_millis(1_704_164_645_678))
    );
    assert_eq!(
        exact("new Date(-1)"),
        Bson::DateTime(DateTime::from_millis(-1))
    );
    assert_eq!(
        exact("UUID(\"12345678-1234-5678-1234-567812345678\")"),
        bin(
            BinarySubtype::Uuid,
            &[
                0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34,
                0x56, 0x78
            ]
        )
    );
    assert_eq!(
        exact("BinData(0, 0001FF)"),
        bin(BinarySubtype::Generic, &[0, 1, 0xff])
    );
    assert_eq!(
        exact("BinData(128, )"),
        bin(BinarySubtype::UserDefined(128), &[])
    );
    assert_eq!(
        exact("Timestamp(1700000000, 5)"),
        Bson::Timestamp(Timestamp {
            time: 1_700_000_000,
            increment: 5
        })
    );
    assert!(read("ObjectId('65a1b2c3d4e5f60718293a4')").is_err());
    assert!(read("ObjectId('65a1b2c3d4e5f60718293a4g')").is_err());
    assert!(read("ObjectId('65a1b2c3d4e5f60718293aé')").is_err());
    assert!(read("new Date(1.5)").is_err());
    assert!(read("new Date(99999999999999999999)").is_err());
    assert!(read("UUID(\"12345678-1234-5678-1234-56781234567\")").is_err());
    assert!(read("UUID(\"123456781-234-5678-1234-567812345678\")").is_err());
    assert!(read("BinData(0, 0001F)").is_err());
    assert!(read("BinData(256, 00)").is_err());
    assert!(read("Timestamp(-1, 5)").is_err());
    assert!(read("Timestamp(1, 5").is_err());
}

#[test]
fn cut_bin_data_is_inexact() {
    let hex = "AB".repeat(70);
    let (v, quality) = read(&format!("BinData(0, {hex}...)")).unwrap();
    assert_eq!(v, bin(BinarySubtype::Generic, &[0xab; 70]));
    assert!(quality.inexact);
}

#[test]
fn strings_are_raw() {
    assert_eq!(exact("\"green\""), Bson::String("green".into()));
    assert_eq!(exact("\"\""), Bson::String(String::new()));
    let raw = "\"He said \"hi\" {x: 1} 'q' \\ back\\slash \n tab\"";
    assert_eq!(
        exact(raw),
        Bson::String("He said \"hi\" {x: 1} 'q' \\ back\\slash \n tab".into())
    );
    let (_, quality) = read("\"x\"").unwrap();
    assert_eq!(
        quality,
        Quality {
            strings: true,
            inexact: false,
            ambiguous: false
        }
    );
    assert_eq!(read("\"unterminated"), Err(Error::Unterminated));
}

#[test]
fn string_exactness() {
    assert!(!string_is_inexact(&"a".repeat(150)));
    assert!(!string_is_inexact(&"a".repeat(159)));
    assert!(!string_is_inexact(&("a".repeat(147) + "...")));
    assert!(string_is_inexact(&("a".repeat(150) + "...")));
    assert!(!string_is_inexact(&("a".repeat(151) + "..x")));
    assert!(string_is_inexact("ab\u{FFFD}c"));
    assert!(string_is_inexact(")?9-1\u{1}\t"));
    assert!(!string_is_inexact("tab\tand\nnewline"));
    assert!(string_is_inexact("0xff00"));
    assert!(string_is_inexact("0x293f392d3101ff"));
    assert!(!string_is_inexact("0x68656c6c6f")); // "hello" is UTF-8: a real string
    assert!(!string_is_inexact("0xFF00")); // the server writes lower case
    assert!(!string_is_inexact("0xf"));
    assert!(!string_is_inexact("0x"));
}

#[test]
fn regexes() {
    let re = |p: &str, o: &str| Bson::RegularExpression(crate::bson_compat::regex(p, o).unwrap());
    assert_eq!(exact("/^ab.*c$/i"), re("^ab.*c$", "i"));
    assert_eq!(exact("/a/b/imsx"), re("a/b", "imsx"));
    assert_eq!(exact("//"), re("", ""));
    assert!(read("/abc").is_err());
    assert!(read("/abc/1").is_err());
    let mut q = Quality::default();
    assert_eq!(
        value("/a, b: 1/i, c: 2", Follow::Field(None), 1, &mut q),
        Ok((re("a, b: 1", "i"), ", c: 2"))
    );
    assert_eq!(
        value("/x/ ]", Follow::Array, 1, &mut q),
        Ok((re("x", ""), " ]"))
    );
    assert!(!q.strings);
}

#[test]
fn documents_and_arrays() {
    assert_eq!(exact("{}"), Bson::Document(Document::new()));
    assert_eq!(exact("[]"), Bson::Array(vec![]));
    assert_eq!(
        exact("{ b: 1, a: { c: [ 1, 2 ] }, s: \"t\" }"),
        Bson::Document(doc! { "b": 1, "a": { "c": [1, 2] }, "s": "t" })
    );
    assert_eq!(
        exact("[ \"a\", [], {}, [ { x: null } ] ]"),
        Bson::Array(vec![
            "a".into(),
            Bson::Array(vec![]),
            Bson::Document(doc! {}),
            Bson::Array(vec![Bson::Document(doc! { "x": Bson::Null })])
        ])
    );
    assert_eq!(
        exact("{ first name: 1, we\"ird: 2 }"),
        Bson::Document(doc! { "first name": 1, "we\"ird": 2 })
    );
    assert!(read("{ a: 1").is_err());
    assert!(read("{ a: 1,b: 2 }").is_err());
    assert!(read("[ 1 2 ]").is_err());
    assert!(read("{ a 1 }").is_err());
}

#[test]
fn nested_strings_end_at_a_plausible_follower() {
    assert_eq!(
        exact("{ s: \"x\", y\", n: 1 }"),
        Bson::Document(doc! { "s": "x\", y", "n": 1 })
    );
    assert_eq!(
        exact("{ s: \"a } b\" }"),
        Bson::Document(doc! { "s": "a } b" })
    );
    assert_eq!(
        exact("[ \"a\", b\", \"c\" ]"),
        Bson::Array(vec!["a\", b".into(), "c".into()])
    );
    assert_eq!(exact("[ \"a ] b\" ]"), Bson::Array(vec!["a ] b".into()]));
}

#[test]
fn field_follow() {
    let mut q = Quality::default();
    // A known next name decides.
    assert_eq!(
        value("\"x\", a: 1\", b: 2", Follow::Field(Some("b")), 1, &mut q),
        Ok((Bson::String("x\", a: 1".into()), ", b: 2"))
    );
    // Without one: the first plausible member.
    assert_eq!(
        value("\"x\", a: 1\", b: 2", Follow::Field(None), 1, &mut q),
        Ok((Bson::String("x".into()), ", a: 1\", b: 2"))
    );
    // `, note: he…` is not a plausible member: no value starts with `he`.
    assert_eq!(
        value("\"x\", note: he said\"", Follow::Field(None), 1, &mut q),
        Ok((Bson::String("x\", note: he said".into()), ""))
    );
    // No follower at all: the rest of the input.
    assert_eq!(
        value("\"a\" \"b\"", Follow::Field(Some("z")), 1, &mut q),
        Ok((Bson::String("a\" \"b".into()), ""))
    );
}

#[test]
fn second_ends() {
    let s = Bson::String(String::new());
    let re = Bson::RegularExpression(crate::bson_compat::regex("", "").unwrap());
    assert_eq!(
        end_again(", b: \"y\", b: \"z\"", &s, "b"),
        Some(", b: \"z\"")
    );
    assert_eq!(end_again(", b: \"y\"", &s, "b"), None);
    assert_eq!(end_again(", b: \"y\", c: 1", &s, "b"), None);
    assert_eq!(end_again(", b: /y/i, b: 1", &re, "b"), Some(", b: 1"));
    assert_eq!(end_again(", b: \"y\", b: 1", &re, "b"), None);
    assert_eq!(end_again(", b: \"y\", b: 1", &Bson::Int32(1), "b"), None);
}

#[test]
fn plausibility() {
    assert!(plausible_member("b: 1"));
    assert!(plausible_member(": \"x\""));
    assert!(plausible_member("first name: ObjectId('"));
    assert!(!plausible_member("b, c: 1"));
    assert!(!plausible_member("b: hello"));
    assert!(!plausible_member("b:1"));
    assert!(!plausible_member(""));
    assert!(plausible_value("-1"));
    assert!(plausible_value("Infinity"));
    assert!(!plausible_value("x"));
    assert!(!plausible_value(""));
}

#[test]
fn depth_is_limited() {
    let deep = "[ ".repeat(MAX_DEPTH) + "1" + &" ]".repeat(MAX_DEPTH);
    assert_eq!(read(&deep), Err(Error::TooDeep));
    let fits = "[ ".repeat(MAX_DEPTH - 2) + "1" + &" ]".repeat(MAX_DEPTH - 2);
    assert!(read(&fits).is_ok());
    let docs = "{ a: ".repeat(10_000);
    assert_eq!(read(&docs), Err(Error::TooDeep));
}

#[test]
fn integers_and_hex() {
    assert_eq!(integer::<i64>("-12)"), Ok((-12, ")")));
    assert_eq!(integer::<u32>("x"), Err(Error::Number));
    let mut out = [0u8; 2];
    assert_eq!(decode_hex("aB0f", &mut out), Some(()));
    assert_eq!(out, [0xab, 0x0f]);
    assert_eq!(decode_hex("abc", &mut out), None);
    assert_eq!(decode_hex("zz00", &mut out), None);
}
