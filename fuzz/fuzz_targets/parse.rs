//! Fuzzes the message parser: any text, as lossily decoded bytes, must never panic, and the
//! answer must say whether the text is a duplicate-key message.
//!
//! `bash scripts/fuzz.sh [seconds]` (cargo-fuzz; nightly, or stable with `RUSTC_BOOTSTRAP=1`).

#![no_main]

use dupkey::DuplicateKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let message = String::from_utf8_lossy(data);
    let dup = DuplicateKey::from_message(&message);
    let expected = message.contains("E11000 duplicate key error")
        || message.contains("E11001 duplicate key on update")
        || message.contains("Duplicate key violation on the requested collection");
    assert_eq!(dup.is_some(), expected);
    if let Some(dup) = dup {
        // Every field name the key value has is one of the fields, in order.
        if let Some(value) = dup.key_value() {
            let names: Vec<&str> = value.keys().map(String::as_str).collect();
            assert_eq!(names, dup.fields().collect::<Vec<_>>());
        }
        assert_eq!(dup.message(), &*message);
    }
});
