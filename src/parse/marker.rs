//! The fixed texts the parser looks for, each with its searcher built once: a message is
//! searched for several of them, and building a searcher costs more than a short search.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// A fixed text and its searcher, built on first use.
pub(crate) struct Marker {
    text: &'static str,
    finder: LazyLock<Finder<'static>, fn() -> Finder<'static>>,
}

/// `static NAME: Marker = marker_for!("text");`
macro_rules! marker_for {
    ($text:expr) => {
        $crate::parse::marker::Marker::new($text, || memchr::memmem::Finder::new($text))
    };
}
pub(crate) use marker_for;

impl Marker {
    /// `build` makes the searcher for `text` (see `marker_for!`).
    pub(crate) const fn new(text: &'static str, build: fn() -> Finder<'static>) -> Self {
        Marker {
            text,
            finder: LazyLock::new(build),
        }
    }

    pub(crate) fn text(&self) -> &'static str {
        self.text
    }

    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    /// The byte offset of the first occurrence in `hay`.
    pub(crate) fn find(&self, hay: &str) -> Option<usize> {
        self.finder.find(hay.as_bytes())
    }

    /// The text after the first occurrence in `hay`.
    pub(crate) fn after<'a>(&self, hay: &'a str) -> Option<&'a str> {
        self.find(hay).map(|at| &hay[at + self.len()..])
    }
}

/// `: `, between a field name and its value.
pub(crate) static COLON: Marker = marker_for!(": ");

#[cfg(test)]
mod tests {
    use super::*;

    static WORD: Marker = marker_for!(" dup key: {");

    #[test]
    fn finds_the_first_occurrence() {
        let hay = "a dup key: { x } dup key: { y }";
        assert_eq!(WORD.find(hay), Some(1));
        assert_eq!(WORD.after(hay), Some(" x } dup key: { y }"));
        assert_eq!(WORD.find("dup key: {"), None);
        assert_eq!((WORD.text(), WORD.len()), (" dup key: {", 11));
    }
}
