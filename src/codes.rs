//! Which server error codes mean "duplicate key".

/// `DuplicateKey`: the code every server and every driver agrees on.
pub(crate) const DUPLICATE_KEY: i32 = 11000;
/// The old update path (`DuplicateKeyValue`, servers before 2.6).
const DUPLICATE_KEY_UPDATE: i32 = 11001;
/// The old capped-collection path.
const DUPLICATE_KEY_CAPPED: i32 = 12582;
/// mongos' `Location16460`: a shard's error relayed; a duplicate only when its text says so.
const MONGOS_RELAYED: i32 = 16460;

/// Whether an error with this `code` and `message` is a duplicate-key error.
///
/// The same set the Go, Java, C# and Python drivers use. Never allocates.
pub(crate) fn is_duplicate(code: i32, message: &str) -> bool {
    match code {
        DUPLICATE_KEY | DUPLICATE_KEY_UPDATE | DUPLICATE_KEY_CAPPED => true,
        MONGOS_RELAYED => message.contains("E11000"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_duplicate;

    #[test]
    fn codes() {
        assert!(is_duplicate(11000, ""));
        assert!(is_duplicate(11001, "E11001 duplicate key on update"));
        assert!(is_duplicate(12582, ""));
        assert!(is_duplicate(
            16460,
            "error inserting 1 documents to shard s0 :: caused by :: E11000 duplicate key error"
        ));
        assert!(!is_duplicate(16460, "error inserting documents"));
        assert!(!is_duplicate(
            251,
            "E11000 in a transaction that was aborted"
        ));
        assert!(!is_duplicate(0, ""));
    }
}
