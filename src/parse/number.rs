//! Which BSON number a printed number is.
//!
//! The server prints Int32 and Int64 as plain integers, a double with C's `%.16g` followed by
//! `.0` when the text has no `.`, `E` or `N` (`2.0`, `3.14159`, `1e+20.0`, `1.5e-07`, `nan.0`,
//! `-inf.0`), and a Decimal128 with `Decimal128::toString` (`1234.5600`, `1.5E+10`, `-0`,
//! `NaN`, `-Infinity`).
//!
//! Rules, in order:
//! 1. An integer (`-?[0-9]+`, no leading zero) is Int32 when it fits, else Int64, else (more
//!    than 64 bits) a Decimal128. A Decimal128 with no fraction prints the same way: it comes
//!    back as an integer. `-0` is no integer's text: it is the Decimal128 `-0`.
//! 2. A text with exactly the shape `%.16g` (+ `.0`) gives is a double: at most 16 significant
//!    digits, no trailing zero in a fraction except the added `.0`, fixed notation only for
//!    decimal exponents -4..=15, else `d[.ddd]e±dd` with a lower-case `e` and an exponent of
//!    at least two digits. So `2.5` is a double even if it was a Decimal128 `2.5`.
//! 3. Anything else in Decimal128's shape is a Decimal128: trailing zeros (`1234.5600`,
//!    `2.50`), an upper-case `E`, 17 or more digits, `0.00001`, `NaN`, `Infinity`.
//!
//! A double is the nearest one to its 16 printed digits: that is the stored value whenever
//! the stored value is the nearest double to some decimal of at most 16 digits (any value a
//! person typed); a value that needs 17 digits (`0.1 + 0.2`) comes back as a neighbour.

use mongodb::bson::{Bson, Decimal128};

/// Decimal128 holds at most 34 significant digits.
const DECIMAL_DIGITS: usize = 34;

/// The BSON number printed as `text` (the whole token), by the rules above.
pub(crate) fn number(text: &str) -> Option<Bson> {
    if let Some(int) = integer(text) {
        return Some(int);
    }
    if let Some(double) = double(text) {
        return Some(Bson::Double(double));
    }
    decimal(text).map(Bson::Decimal128)
}

/// Rule 1: Int32, else Int64 (`None` for a bigger integer or a non-integer).
fn integer(text: &str) -> Option<Bson> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !is_digits(digits) || (digits.len() > 1 && digits.starts_with('0')) || text == "-0" {
        return None;
    }
    if let Ok(i) = text.parse::<i32>() {
        return Some(Bson::Int32(i));
    }
    text.parse::<i64>().ok().map(Bson::Int64)
}

/// Rule 2: the double printed as `text`, when `text` has `%.16g`'s shape.
fn double(text: &str) -> Option<f64> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let sign = |x: f64| if negative { -x } else { x };
    match body {
        "nan.0" => return Some(sign(f64::NAN)),
        "inf.0" => return Some(sign(f64::INFINITY)),
        _ => {}
    }
    let printed = match body.find('e') {
        Some(e) => exponent_form(text, &body[..e], &body[e + 1..])?,
        None => fixed_form(body).map(|_| text)?,
    };
    let x = printed.parse::<f64>().ok()?;
    if x.is_finite() {
        Some(x)
    } else if body == LARGEST {
        // f64::MAX's 16 digits round up past it; no other finite double prints larger.
        Some(sign(f64::MAX))
    } else {
        None
    }
}

/// How `%.16g` prints `f64::MAX`.
const LARGEST: &str = "1.797693134862316e+308";

/// `d[.ddd]e±dd` (with `.0` after the exponent when the mantissa has no point); returns the
/// part of `text` that Rust reads (without that `.0`).
fn exponent_form<'a>(text: &'a str, mantissa: &str, exponent: &str) -> Option<&'a str> {
    let (lead, fraction) = match mantissa.split_once('.') {
        Some((lead, fraction)) => (lead, Some(fraction)),
        None => (mantissa, None),
    };
    if lead.len() != 1 || !is_digits(lead) || lead == "0" {
        return None;
    }
    if let Some(fraction) = fraction {
        if !is_digits(fraction) || fraction.ends_with('0') || 1 + fraction.len() > 16 {
            return None;
        }
    }
    // With no point in the mantissa, the server appended `.0` after the exponent.
    let (exponent, cut) = match fraction {
        Some(_) => (exponent, 0),
        None => (exponent.strip_suffix(".0")?, 2),
    };
    let digits = exponent.strip_prefix(['+', '-'])?;
    if !is_digits(digits) || digits.len() < 2 || (digits.len() > 2 && digits.starts_with('0')) {
        return None;
    }
    let value: i32 = digits.parse().ok()?;
    let value = if exponent.starts_with('-') {
        -value
    } else {
        value
    };
    // `%g` uses fixed notation for exponents -4..=15.
    if (-4..16).contains(&value) {
        return None;
    }
    Some(&text[..text.len() - cut])
}

/// `I.F` (no sign) as `%.16g` + `.0` prints it; returns `body` when it fits.
fn fixed_form(body: &str) -> Option<&str> {
    let (int, fraction) = body.split_once('.')?;
    if !is_digits(int) || !is_digits(fraction) || (int.len() > 1 && int.starts_with('0')) {
        return None;
    }
    let fits = if fraction == "0" {
        // `%g` printed the integer alone (exponent <= 15) and the server appended `.0`.
        int.len() <= 16
    } else if fraction.ends_with('0') {
        false
    } else if int == "0" {
        // 0.000ddd: at most three zeros after the point (exponent >= -4), 16 digits after them.
        let zeros = fraction.len() - fraction.trim_start_matches('0').len();
        zeros <= 3 && fraction.len() - zeros <= 16
    } else {
        int.len() + fraction.len() <= 16
    };
    fits.then_some(body)
}

/// Rule 3: the Decimal128 printed as `text`.
fn decimal(text: &str) -> Option<Decimal128> {
    // The longest text `Decimal128::toString` prints is about 42 bytes.
    if text.len() > 48 {
        return None;
    }
    let body = text.strip_prefix('-').unwrap_or(text);
    let shaped = match body {
        // NaN is printed without a sign.
        "NaN" => text == "NaN",
        "Infinity" => true,
        _ => {
            let (coefficient, exponent) = match body.split_once('E') {
                Some((coefficient, exponent)) => (coefficient, Some(exponent)),
                None => (body, None),
            };
            let (int, fraction) = coefficient.split_once('.').unwrap_or((coefficient, ""));
            let significant = match int.trim_start_matches('0') {
                "" => fraction.trim_start_matches('0').len(),
                int => int.len() + fraction.len(),
            };
            is_digits(int)
                && (fraction.is_empty() || is_digits(fraction))
                && (coefficient.len() == int.len() || !fraction.is_empty())
                && significant <= DECIMAL_DIGITS
                && match exponent {
                    // Scientific notation: one digit before any point, `E+n` or `E-n`.
                    Some(exponent) => {
                        int.len() == 1
                            && exponent
                                .strip_prefix(['+', '-'])
                                .is_some_and(|d| is_digits(d) && !d.starts_with('0'))
                    }
                    // Plain notation: no leading zero before the point.
                    None => int.len() == 1 || !int.starts_with('0'),
                }
        }
    };
    if !shaped {
        return None;
    }
    text.parse::<Decimal128>().ok()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Bson {
        Bson::Decimal128(s.parse().unwrap())
    }

    #[test]
    fn integers() {
        assert_eq!(number("0"), Some(Bson::Int32(0)));
        assert_eq!(number("42"), Some(Bson::Int32(42)));
        assert_eq!(number("-7"), Some(Bson::Int32(-7)));
        assert_eq!(number("2147483647"), Some(Bson::Int32(i32::MAX)));
        assert_eq!(number("-2147483648"), Some(Bson::Int32(i32::MIN)));
        assert_eq!(number("2147483648"), Some(Bson::Int64(2_147_483_648)));
        assert_eq!(
            number("9007199254740993"),
            Some(Bson::Int64(9_007_199_254_740_993))
        );
        assert_eq!(number("-9223372036854775808"), Some(Bson::Int64(i64::MIN)));
        // Past 64 bits only a Decimal128 prints like this.
        assert_eq!(
            number("9223372036854775808"),
            Some(dec("9223372036854775808"))
        );
        assert_eq!(number("-0"), Some(dec("-0")));
        assert_eq!(number("007"), None);
        assert_eq!(number("-"), None);
        assert_eq!(number(""), None);
    }

    #[test]
    #[allow(clippy::approx_constant)] // 3.14159 is the reference's example
    fn doubles() {
        let d = |s| match number(s) {
            Some(Bson::Double(x)) => x,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(d("2.0"), 2.0);
        assert_eq!(d("0.0"), 0.0);
        assert!(d("-0.0").is_sign_negative());
        assert_eq!(d("3.14159"), 3.14159);
        assert_eq!(d("-1.5"), -1.5);
        assert_eq!(d("0.1"), 0.1);
        assert_eq!(d("0.0001"), 0.0001);
        assert_eq!(d("1234567890123456.0"), 1_234_567_890_123_456.0);
        assert_eq!(d("1e+16.0"), 1e16);
        assert_eq!(d("1e+20.0"), 1e20);
        assert_eq!(d("1.5e+300"), 1.5e300);
        assert_eq!(d("1e-05.0"), 1e-5);
        assert_eq!(d("1.5e-07"), 1.5e-7);
        assert_eq!(d("-2.5e-100"), -2.5e-100);
        assert_eq!(d("4.940656458412465e-324"), 5e-324);
        assert_eq!(d("1.797693134862316e+308"), f64::MAX);
        assert_eq!(d("-1.797693134862316e+308"), f64::MIN);
        assert_eq!(d("0.3333333333333333"), 1.0 / 3.0);
        assert_eq!(d("inf.0"), f64::INFINITY);
        assert_eq!(d("-inf.0"), f64::NEG_INFINITY);
        assert!(d("nan.0").is_nan());
        assert!(d("-nan.0").is_nan());
    }

    #[test]
    fn double_shapes_rejected() {
        // Not `%.16g` output: these are Decimal128 or nothing.
        assert_eq!(number("1234.5600"), Some(dec("1234.5600")));
        assert_eq!(number("2.50"), Some(dec("2.50")));
        assert_eq!(number("0.00001"), Some(dec("0.00001")));
        assert_eq!(
            number("12345678901234567.0"),
            Some(dec("12345678901234567.0"))
        );
        assert_eq!(
            number("3.14159265358979323"),
            Some(dec("3.14159265358979323"))
        );
        assert_eq!(number("1.5E+10"), Some(dec("1.5E+10")));
        assert_eq!(number("1E-7"), Some(dec("1E-7")));
        assert_eq!(number("NaN"), Some(dec("NaN")));
        assert_eq!(number("Infinity"), Some(dec("Infinity")));
        assert_eq!(number("-Infinity"), Some(dec("-Infinity")));
        assert_eq!(number("0E+3"), Some(dec("0E+3")));
        assert_eq!(number("0.000"), Some(dec("0.000")));
        // Shapes neither type prints.
        assert_eq!(number("1e+5"), None); // %g uses fixed notation for 1e5
        assert_eq!(number("1e+20"), None); // missing the appended .0
        assert_eq!(number("1.0e+20"), None);
        assert_eq!(number("1e+5.0"), None);
        assert_eq!(number("1e5.0"), None);
        assert_eq!(number("1e+005.0"), None);
        assert_eq!(number("01.5"), None);
        assert_eq!(number(".5"), None);
        assert_eq!(number("5."), None);
        assert_eq!(number("1.2.3"), None);
        assert_eq!(number("-NaN"), None);
        assert_eq!(number("nan"), None);
        assert_eq!(number("inf"), None);
        assert_eq!(number("1E+0"), None);
        assert_eq!(number("12E+3"), None);
        assert_eq!(number("1e+400.0"), None); // overflows a double
        assert_eq!(number("1.797693134862317e+308"), None);
        assert_eq!(number("1_0"), None);
    }

    /// The server's own printing (glibc `%.16g` + `.0`) of many doubles reads back as a double
    /// that prints the same, and as the very same double when it has a short decimal form.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_printed_doubles_read_back() {
        use std::ffi::{c_char, c_int};
        unsafe extern "C" {
            fn snprintf(buf: *mut c_char, size: usize, format: *const c_char, ...) -> c_int;
        }
        fn server_print(x: f64) -> String {
            let mut buf = [0u8; 64];
            // SAFETY: the buffer is 64 bytes and snprintf writes at most that many.
            let n = unsafe { snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.16g".as_ptr(), x) };
            let mut text = String::from_utf8(buf[..n as usize].to_vec()).unwrap();
            if !text.contains(['.', 'E', 'N']) {
                text.push_str(".0");
            }
            text
        }
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for i in 0..200_000 {
            let x = match i % 3 {
                // Any bit pattern.
                0 => f64::from_bits(next()),
                // Short decimals, as people type them.
                1 => format!("{}e{}", next() % 10_000_000, (next() % 40) as i64 - 25)
                    .parse()
                    .unwrap(),
                // Integers and halves.
                _ => (next() % (1 << 54)) as f64 / 2.0,
            };
            let text = server_print(x);
            let y = match number(&text) {
                Some(Bson::Double(y)) => y,
                other => panic!("{x:e} printed as {text} read as {other:?}"),
            };
            if x.is_nan() {
                assert!(y.is_nan());
                continue;
            }
            assert_eq!(server_print(y), text, "{x:e}");
            let shortest = format!("{x:e}");
            let digits = shortest
                .split('e')
                .next()
                .unwrap()
                .bytes()
                .filter(u8::is_ascii_digit)
                .count();
            if digits <= 16 {
                assert_eq!(y.to_bits(), x.to_bits(), "{x:e} printed as {text}");
                checked += 1;
            }
        }
        assert!(checked > 100_000);
    }

    #[test]
    fn decimal_digits_are_bounded() {
        let max = "9".repeat(34);
        assert_eq!(number(&max), Some(dec(&max)));
        assert_eq!(number(&"9".repeat(35)), None);
        assert_eq!(
            number(&format!("1.{}E+10", "0".repeat(33))),
            Some(dec(&format!("1.{}E+10", "0".repeat(33))))
        );
        assert_eq!(number("1E+999999"), None);
    }
}
