//! `DuplicateKey::from_message` on junk and pathological input: it never panics, and stays
//! linear up to 1 MiB (a generous time bound per message, not a benchmark).

use std::time::{Duration, Instant};

use dupkey::DuplicateKey;
use mongodb::bson::{doc, Bson};

/// Parses `message`, failing only when it hangs: a quadratic parser takes hours on these
/// inputs, while a linear one takes seconds at most, even in a debug build on a loaded
/// machine. Speed itself is measured in `benches/parse.rs`.
fn parse_quickly(message: &str) -> Option<DuplicateKey> {
    let start = Instant::now();
    let dup = DuplicateKey::from_message(message);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "{took:?} for {} bytes",
        message.len()
    );
    dup
}

const MIB: usize = 1 << 20;

#[test]
fn junk_never_panics() {
    // 1 MiB of pseudo-random bytes, decoded lossily, with and without the phrase.
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let bytes: Vec<u8> = (0..MIB)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Mostly the characters the grammar cares about.
            const ALPHABET: &[u8] = b"{}[]\":, ._$'/\\()E1x0a\n\xc3\xa9\xff";
            ALPHABET[(state % ALPHABET.len() as u64) as usize]
        })
        .collect();
    let junk = String::from_utf8_lossy(&bytes).into_owned();
    assert_eq!(
        parse_quickly(&junk).is_some(),
        junk.contains("E11000 duplicate key error")
    );
    let framed =
        format!("E11000 duplicate key error collection: a.b index: x_1 dup key: {{ x: {junk} }}");
    let dup = parse_quickly(&framed).unwrap();
    assert_eq!(
        (dup.database(), dup.collection(), dup.index()),
        (Some("a"), Some("b"), Some("x_1"))
    );
    assert_eq!(dup.key_value(), None);
}

#[test]
fn pathological_inputs_are_linear() {
    let head = "E11000 duplicate key error collection: a.b index: x_1 dup key: ";
    let read = |message: String| parse_quickly(&message).expect("a duplicate-key message");
    let value_of = |dup: &DuplicateKey| dup.key_value().and_then(|v| v.get("x")).cloned();

    // An unterminated string, over and over.
    assert_eq!(
        read(format!("{head}{}", "{ a: \"".repeat(MIB / 6))).key_value(),
        None
    );
    // Deep nesting: past the depth limit, or not a value at all.
    assert_eq!(
        read(format!("{head}{{ x: {} }}", "[ ".repeat(MIB / 2))).key_value(),
        None
    );
    assert_eq!(
        read(format!("{head}{{ x: {} }}", "[".repeat(MIB))).key_value(),
        None
    );
    assert_eq!(
        read(format!("{head}{{ x: {} }}", "{ a: ".repeat(MIB / 5))).key_value(),
        None
    );
    // Many candidate ends in the last string: it runs to the final ` }`.
    let text = "\", x: ".repeat(MIB / 6);
    let dup = read(format!("{head}{{ x: \"{text}\" }}"));
    assert_eq!(value_of(&dup), Some(Bson::String(text)));
    let text = "\", x".repeat(MIB / 4);
    let dup = read(format!("{head}{{ x: \"{text}\" }}"));
    assert_eq!(value_of(&dup), Some(Bson::String(text)));
    // Many candidate ends inside arrays, documents and regexes: whatever they read as, fast.
    read(format!("{head}{{ x: [ \"{}\" ] }}", "\", ".repeat(MIB / 3)));
    read(format!(
        "{head}{{ x: {{ y: \"{}\" }} }}",
        "\", y".repeat(MIB / 4)
    ));
    read(format!(
        "{head}{{ x: {{ y: \"{}\" }} }}",
        "\", y: ".repeat(MIB / 5)
    ));
    read(format!("{head}{{ x: /{}/ }}", "/i, ".repeat(MIB / 4)));
    read(format!("{head}{{ a: \"{}\" }}", "\", b".repeat(MIB / 4)));
    // Many fields, many names: `x: 1, ` ends with a comma, so no value; the name is there.
    let dup = read(format!("{head}{{ {} }}", "x: 1, ".repeat(MIB / 6)));
    assert_eq!(
        (dup.fields().collect::<Vec<_>>(), dup.key_value()),
        (vec!["x"], None)
    );
    assert_eq!(
        read(format!("{head}{{ {}x: 1 }}", ": ".repeat(MIB / 2))).key_value(),
        None
    );
    // Long names everywhere.
    let dup = read(format!(
        "E11000 duplicate key error collection: {}",
        "a.".repeat(MIB / 2)
    ));
    assert_eq!(dup.database(), Some("a"));
    let index = "x_1_".repeat(MIB / 4);
    let dup = read(format!(
        "E11000 duplicate key error collection: a.b index: {index} dup key: {{ x: 1 }}"
    ));
    assert_eq!(
        (dup.index(), dup.key_pattern()),
        (Some(index.as_str()), None)
    );
    assert_eq!(dup.key_value(), Some(&doc! { "x": 1 }));
    let dup = read(format!(
        "E11000 duplicate key error collection: a.b index: {index}1 dup key: {{ : 1 }}"
    ));
    assert_eq!((dup.fields().len(), dup.key_value()), (0, None));
    let dup = read(format!(
        "E11000 duplicate key error index: {}",
        ".$".repeat(MIB / 2)
    ));
    assert_eq!(dup.key_value(), None);
    let dup = read(format!(
        "Duplicate key violation on the requested collection: Index '{}'",
        "1_".repeat(MIB / 2)
    ));
    assert_eq!(dup.fields().len(), 0);
    // 32 expected names, every string with many ends before the next name: each field may
    // be read a second time, never more.
    let names: Vec<String> = (0..32).map(|i| format!("f{i}")).collect();
    let index = names
        .iter()
        .map(|n| format!("{n}_1"))
        .collect::<Vec<_>>()
        .join("_");
    let fields: Vec<String> = (0..32)
        .map(|i| {
            let next = format!("\", f{}: \"", i + 1);
            format!("f{i}: \"{}\"", next.repeat(MIB / 32 / next.len()))
        })
        .collect();
    let message = format!(
        "E11000 duplicate key error collection: a.b index: {index} dup key: {{ {} }}",
        fields.join(", ")
    );
    let dup = read(message);
    assert_eq!(dup.fields().collect::<Vec<_>>(), names);
    assert_eq!(dup.key_value(), None);
    // Phrases over and over.
    assert_eq!(parse_quickly(&" dup key: {".repeat(MIB / 11)), None);
    assert_eq!(
        read("E11000 duplicate key error".repeat(MIB / 26)).key_value(),
        None
    );
    assert_eq!(
        read(format!("{head}{}", " found value: ".repeat(MIB / 14))).key_value(),
        None
    );
    let dup = read(format!(
        "{head}{{ x: 1 }}{}",
        " found value: {".repeat(MIB / 15)
    ));
    assert_eq!(dup.key_value(), Some(&doc! { "x": 1 }));
}

#[test]
fn long_valid_key_is_read() {
    // A 1 MiB key document (an array) that is valid: read whole.
    let items: Vec<String> = (0..MIB / 16).map(|i| format!("\"v{i:08}\"")).collect();
    let message = format!(
        "E11000 duplicate key error collection: a.b index: tags_1 dup key: {{ tags: [ {} ] }}",
        items.join(", ")
    );
    let dup = parse_quickly(&message).unwrap();
    let tags = dup.key_value().unwrap().get_array("tags").unwrap();
    assert_eq!(tags.len(), MIB / 16);
    assert_eq!(tags[12345], Bson::String("v00012345".into()));
}
