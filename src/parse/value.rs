//! Shell-syntax BSON values, as the server's `BSONElement::toString` prints them after
//! `dup key:` (and in `collation:`).
//!
//! `"raw string"`, `ObjectId('hex')`, `new Date(ms)`, numbers (see [`super::number`]), `true`,
//! `false`, `null`, `undefined`, `UUID("…")` (Binary subtype 4 of 16 bytes), `BinData(t, HEX)`,
//! `/pattern/flags`, `Timestamp(t, i)`, `MinKey`, `MaxKey`, `{ name: value, … }`,
//! `[ value, … ]`, and `{}` / `[]` when empty.
//!
//! Strings and regex patterns are printed raw (no escaping), so where one ends is a choice
//! made from what may follow it: see [`Follow`]. The choice is made once, scanning forward;
//! nothing is retried, so each byte is looked at a bounded number of times. Nesting deeper
//! than [`MAX_DEPTH`] is an error, not a stack overflow.
//!
//! Each parser is `fn(input) -> Result<(value, rest)>`.

use mongodb::bson::{
    oid::ObjectId, spec::BinarySubtype, Binary, Bson, DateTime, Document, Timestamp,
};

use super::number::number;

/// The deepest nesting of documents and arrays read (the server stops printing at 100 too).
pub(crate) const MAX_DEPTH: usize = 100;

/// The server prints at most this many bytes of a string, then `...` (when it has 160 or more).
const STRING_CUT: usize = 150;

/// Why a value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Error {
    /// Something else was expected here.
    Expected(&'static str),
    /// Documents and arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A raw string or regex with no acceptable end.
    Unterminated,
    /// A number that no numeric type prints that way.
    Number,
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// What the values read so far say about exactness.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quality {
    /// A string was read (under a collation, strings are collation keys).
    pub(crate) strings: bool,
    /// Some value is not exactly the stored one: a string or BinData the server cut (`...`),
    /// a U+FFFD from lossy UTF-8 decoding, or a `0x…` hex dump of invalid UTF-8.
    pub(crate) inexact: bool,
    /// The text also reads as other values (see `key.rs`, rule 2).
    pub(crate) ambiguous: bool,
}

/// What may follow a value; decides where a raw string or regex ends: at the first closing
/// quote (or `/flags`) that is followed by what is described here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follow<'n> {
    /// In an embedded document: ` }`, or `, ` and a plausible member (`<name>: <value…>`,
    /// the name holding no `, `).
    Document,
    /// In an array: ` ]`, or `, ` and the start of a plausible value.
    Array,
    /// A field of the key document: `, <name>: ` with that exact name when it is known, else
    /// a plausible member; when there is none, the token runs to the end of the input.
    Field(Option<&'n str>),
    /// The token runs to the end of the input.
    End,
}

/// One value of any type.
pub(crate) fn value<'a>(
    input: &'a str,
    follow: Follow<'_>,
    depth: usize,
    quality: &mut Quality,
) -> Result<(Bson, &'a str)> {
    match input.as_bytes().first() {
        Some(b'"') => string(input, follow, quality),
        Some(b'{') => document(input, depth, quality).map(|(d, rest)| (Bson::Document(d), rest)),
        Some(b'[') => array(input, depth, quality).map(|(a, rest)| (Bson::Array(a), rest)),
        Some(b'/') => regex(input, follow),
        Some(_) => word(input, quality),
        None => Err(Error::Expected("a value")),
    }
}

/// `{}` or `{ <name>: <value>, … }`; a name runs to the first `: `.
pub(crate) fn document<'a>(
    input: &'a str,
    depth: usize,
    quality: &mut Quality,
) -> Result<(Document, &'a str)> {
    if let Some(rest) = input.strip_prefix("{}") {
        return Ok((Document::new(), rest));
    }
    let mut rest = input.strip_prefix("{ ").ok_or(Error::Expected("{"))?;
    if depth >= MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    let mut doc = Document::new();
    loop {
        let colon = super::marker::COLON
            .find(rest)
            .ok_or(Error::Expected(": "))?;
        let name = &rest[..colon];
        let (item, after) = value(&rest[colon + 2..], Follow::Document, depth + 1, quality)?;
        doc.insert(name, item);
        if let Some(after) = after.strip_prefix(" }") {
            return Ok((doc, after));
        }
        rest = after.strip_prefix(", ").ok_or(Error::Expected(", or }"))?;
    }
}

/// `[]` or `[ <value>, … ]`.
fn array<'a>(input: &'a str, depth: usize, quality: &mut Quality) -> Result<(Vec<Bson>, &'a str)> {
    if let Some(rest) = input.strip_prefix("[]") {
        return Ok((Vec::new(), rest));
    }
    let mut rest = input.strip_prefix("[ ").ok_or(Error::Expected("["))?;
    if depth >= MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    let mut items = Vec::new();
    loop {
        let (item, after) = value(rest, Follow::Array, depth + 1, quality)?;
        items.push(item);
        if let Some(after) = after.strip_prefix(" ]") {
            return Ok((items, after));
        }
        rest = after.strip_prefix(", ").ok_or(Error::Expected(", or ]"))?;
    }
}

/// `"…"`, raw. Marks the quality: a string was seen, and whether it is inexact.
fn string<'a>(
    input: &'a str,
    follow: Follow<'_>,
    quality: &mut Quality,
) -> Result<(Bson, &'a str)> {
    let body = &input[1..];
    let (len, close) = raw_end(body, b'"', follow).ok_or(Error::Unterminated)?;
    let content = &body[..len];
    quality.strings = true;
    if string_is_inexact(content) {
        quality.inexact = true;
    }
    Ok((Bson::String(content.to_owned()), &body[len + close..]))
}

/// Whether a printed string is not exactly the stored one:
/// - cut: the server prints the first 150 bytes then `...` when a string has 160 bytes or
///   more, so only content longer than 150 bytes that ends in `...` can be cut (151 to 159
///   byte strings are printed whole);
/// - U+FFFD: the driver replaced invalid UTF-8 (4.2-5.0 collation keys, a cut inside a
///   character);
/// - U+0001: the level separator of a collation sort key, which 4.2 prints raw with no
///   `collation:` part (a strength-1 key of ASCII-range bytes has none and goes unnoticed);
/// - `0x` + lower-case hex of bytes that are not UTF-8: newer servers print invalid UTF-8
///   that way (a string of valid UTF-8 is never hex-encoded without a collation).
fn string_is_inexact(content: &str) -> bool {
    (content.len() > STRING_CUT && content.ends_with("..."))
        || content.as_bytes().contains(&1)
        || content.contains('\u{FFFD}')
        || hex_of_invalid_utf8(content)
}

fn hex_of_invalid_utf8(content: &str) -> bool {
    let Some(hex) = content.strip_prefix("0x") else {
        return false;
    };
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return false;
    }
    let bytes: Option<Vec<u8>> = hex.as_bytes().chunks(2).map(hex_byte).collect();
    bytes.is_some_and(|bytes| std::str::from_utf8(&bytes).is_err())
}

/// `/pattern/flags`, the pattern raw.
fn regex<'a>(input: &'a str, follow: Follow<'_>) -> Result<(Bson, &'a str)> {
    let body = &input[1..];
    let (len, close) = raw_end(body, b'/', follow).ok_or(Error::Unterminated)?;
    let regex = crate::bson_compat::regex(&body[..len], &body[len + 1..len + close])
        .ok_or(Error::Expected("a regex without NUL"))?;
    Ok((Bson::RegularExpression(regex), &body[len + close..]))
}

/// Where a raw token ends, `body` starting just after its opening delimiter: the content's
/// length and the closing delimiter's (with a regex's flags). The first closing delimiter
/// that `follow` accepts wins; a key field with none runs to the end of the input.
fn raw_end(body: &str, delimiter: u8, follow: Follow<'_>) -> Option<(usize, usize)> {
    if follow == Follow::End {
        return end_at_end(body, delimiter);
    }
    next_end(body, delimiter, follow).or_else(|| match follow {
        Follow::Field(_) => end_at_end(body, delimiter),
        _ => None,
    })
}

/// The first closing delimiter in `body` that `follow` accepts.
fn next_end(body: &str, delimiter: u8, follow: Follow<'_>) -> Option<(usize, usize)> {
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(offset) = memchr::memchr(delimiter, &bytes[from..]) {
        let at = from + offset;
        let close = 1 + if delimiter == b'/' {
            flags_len(&body[at + 1..])
        } else {
            0
        };
        if follows(&body[at + close..], follow) {
            return Some((at, close));
        }
        from = at + 1;
    }
    None
}

/// Where a raw string or regex `item`, read up to its first closing delimiter followed by
/// `, <next>: `, could also end: `rest` is the text after the chosen end; the answer is the
/// text after the next such delimiter (it starts with `, <next>: `).
pub(crate) fn end_again<'a>(rest: &'a str, item: &Bson, next: &str) -> Option<&'a str> {
    let delimiter = match item {
        Bson::String(_) => b'"',
        Bson::RegularExpression(_) => b'/',
        _ => return None,
    };
    let (at, close) = next_end(rest, delimiter, Follow::Field(Some(next)))?;
    Some(&rest[at + close..])
}

/// A raw token that ends exactly where `body` ends: a string's closing quote is the last
/// byte; a regex's last `/` is followed by flags only.
fn end_at_end(body: &str, delimiter: u8) -> Option<(usize, usize)> {
    if delimiter == b'"' {
        return body.ends_with('"').then(|| (body.len() - 1, 1));
    }
    let at = memchr::memrchr(delimiter, body.as_bytes())?;
    let close = body.len() - at;
    (flags_len(&body[at + 1..]) == close - 1).then_some((at, close))
}

/// The length of the regex flags (ASCII letters) at the start of `s`.
fn flags_len(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_alphabetic).count()
}

/// Whether `after` (the text after a closing delimiter) is what `follow` accepts.
fn follows(after: &str, follow: Follow<'_>) -> bool {
    match follow {
        Follow::Document => {
            after.starts_with(" }") || after.strip_prefix(", ").is_some_and(plausible_member)
        }
        Follow::Array => {
            after.starts_with(" ]") || after.strip_prefix(", ").is_some_and(plausible_value)
        }
        Follow::Field(Some(name)) => after
            .strip_prefix(", ")
            .and_then(|rest| rest.strip_prefix(name))
            .is_some_and(|rest| rest.starts_with(": ")),
        Follow::Field(None) => after.strip_prefix(", ").is_some_and(plausible_member),
        Follow::End => after.is_empty(),
    }
}

/// `<name>: <value…>` where the name holds no `, ` (which also keeps the scan short: it stops
/// at the next `, `, so successive candidates never rescan the same bytes).
pub(crate) fn plausible_member(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b':', b' ') => return plausible_value(&s[i + 2..]),
            (b',', b' ') => return false,
            _ => i += 1,
        }
    }
    false
}

/// Whether `s` starts like a printed value.
pub(crate) fn plausible_value(s: &str) -> bool {
    const STARTS: [&str; 15] = [
        "ObjectId('",
        "new Date(",
        "true",
        "false",
        "null",
        "undefined",
        "UUID(\"",
        "BinData(",
        "Timestamp(",
        "MinKey",
        "MaxKey",
        "nan.0",
        "inf.0",
        "NaN",
        "Infinity",
    ];
    match s.as_bytes().first() {
        Some(b'"' | b'{' | b'[' | b'/' | b'-' | b'0'..=b'9') => true,
        Some(_) => STARTS.iter().any(|start| s.starts_with(start)),
        None => false,
    }
}

/// A value that starts with a word: a keyword, a constructor (`ObjectId(…)`, …) or a number.
fn word<'a>(input: &'a str, quality: &mut Quality) -> Result<(Bson, &'a str)> {
    let len = input
        .bytes()
        .position(|b| !is_word_byte(b))
        .unwrap_or(input.len());
    let (word, rest) = input.split_at(len);
    Ok(match word {
        "true" => (Bson::Boolean(true), rest),
        "false" => (Bson::Boolean(false), rest),
        "null" => (Bson::Null, rest),
        "undefined" => (Bson::Undefined, rest),
        "MinKey" => (Bson::MinKey, rest),
        "MaxKey" => (Bson::MaxKey, rest),
        "ObjectId" => object_id(rest)?,
        "new" => date(rest)?,
        "UUID" => uuid(rest)?,
        "BinData" => bin_data(rest, quality)?,
        "Timestamp" => timestamp(rest)?,
        _ => (number(word).ok_or(Error::Number)?, rest),
    })
}

/// Whether `b` continues a word (a keyword, a constructor's name or a number).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')
}

/// `('<24 hex>')`, after `ObjectId`.
fn object_id(input: &str) -> Result<(Bson, &str)> {
    let rest = input.strip_prefix("('").ok_or(Error::Expected("('"))?;
    let hex = rest.get(..24).ok_or(Error::Expected("24 hex digits"))?;
    let mut bytes = [0u8; 12];
    decode_hex(hex, &mut bytes).ok_or(Error::Expected("24 hex digits"))?;
    let rest = rest[24..].strip_prefix("')").ok_or(Error::Expected("')"))?;
    Ok((Bson::ObjectId(ObjectId::from_bytes(bytes)), rest))
}

/// ` Date(<ms>)`, after `new`.
fn date(input: &str) -> Result<(Bson, &str)> {
    let rest = input
        .strip_prefix(" Date(")
        .ok_or(Error::Expected(" Date("))?;
    let (millis, rest) = integer::<i64>(rest)?;
    let rest = rest.strip_prefix(')').ok_or(Error::Expected(")"))?;
    Ok((Bson::DateTime(DateTime::from_millis(millis)), rest))
}

/// `("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")`, after `UUID`: Binary subtype 4.
fn uuid(input: &str) -> Result<(Bson, &str)> {
    const BAD: Error = Error::Expected("a UUID");
    let rest = input.strip_prefix("(\"").ok_or(BAD)?;
    let text = rest.get(..36).ok_or(BAD)?;
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    for (i, group) in text.split('-').enumerate() {
        let len = [8, 4, 4, 4, 12].get(i).copied().ok_or(BAD)?;
        if group.len() != len {
            return Err(BAD);
        }
        decode_hex(group, &mut bytes[filled..filled + len / 2]).ok_or(BAD)?;
        filled += len / 2;
    }
    if filled != 16 {
        return Err(BAD);
    }
    let rest = rest[36..]
        .strip_prefix("\")")
        .ok_or(Error::Expected("\")"))?;
    let binary = Binary {
        subtype: BinarySubtype::Uuid,
        bytes: bytes.to_vec(),
    };
    Ok((Bson::Binary(binary), rest))
}

/// `(<subtype>, <HEX>)`, after `BinData`; `...` before `)` marks a cut (inexact) value.
fn bin_data<'a>(input: &'a str, quality: &mut Quality) -> Result<(Bson, &'a str)> {
    let rest = input.strip_prefix('(').ok_or(Error::Expected("("))?;
    let (subtype, rest) = integer::<u8>(rest)?;
    let rest = rest.strip_prefix(", ").ok_or(Error::Expected(", "))?;
    let len = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
    let hex = &rest[..len];
    if len % 2 != 0 {
        return Err(Error::Expected("hex byte pairs"));
    }
    let mut bytes = vec![0u8; len / 2];
    decode_hex(hex, &mut bytes).ok_or(Error::Expected("hex"))?;
    let mut rest = &rest[len..];
    if let Some(after) = rest.strip_prefix("...") {
        quality.inexact = true;
        rest = after;
    }
    let rest = rest.strip_prefix(')').ok_or(Error::Expected(")"))?;
    let binary = Binary {
        subtype: BinarySubtype::from(subtype),
        bytes,
    };
    Ok((Bson::Binary(binary), rest))
}

/// `(<seconds>, <increment>)`, after `Timestamp`.
fn timestamp(input: &str) -> Result<(Bson, &str)> {
    let rest = input.strip_prefix('(').ok_or(Error::Expected("("))?;
    let (time, rest) = integer::<u32>(rest)?;
    let rest = rest.strip_prefix(", ").ok_or(Error::Expected(", "))?;
    let (increment, rest) = integer::<u32>(rest)?;
    let rest = rest.strip_prefix(')').ok_or(Error::Expected(")"))?;
    Ok((Bson::Timestamp(Timestamp { time, increment }), rest))
}

/// A decimal integer (`-?[0-9]+`) of type `T` at the start of `input`.
fn integer<T: std::str::FromStr>(input: &str) -> Result<(T, &str)> {
    let sign = usize::from(input.starts_with('-'));
    let len = sign + input[sign..].bytes().take_while(u8::is_ascii_digit).count();
    let value = input[..len].parse().map_err(|_| Error::Number)?;
    Ok((value, &input[len..]))
}

/// Decodes `hex` (either case) into `out`, which must be exactly half as long.
fn decode_hex(hex: &str, out: &mut [u8]) -> Option<()> {
    if hex.len() != out.len() * 2 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *byte = hex_byte(pair)?;
    }
    Some(())
}

/// Two hex digits (either case) as a byte.
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match pair {
        [high, low] => u8::try_from(digit(*high)? << 4 | digit(*low)?).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
