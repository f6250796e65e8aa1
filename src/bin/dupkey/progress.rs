//! Progress on stderr: an indicatif bar on a terminal, plain lines otherwise.

use std::io::Write;

use dupkey::dedupe::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One progress display: the scan (a spinner) or the fix (a bar over the groups found).
pub enum Display {
    Bar(ProgressBar),
    /// Plain lines, one each tenth of the way (or each 10,000 groups when the total is
    /// unknown) and one at the end.
    Lines {
        what: &'static str,
        total: Option<u64>,
        next: u64,
    },
}

impl Display {
    /// The scan's display.
    pub fn scan(terminal: bool) -> Self {
        if terminal {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} scanning: {msg} [{elapsed}]")
                    .expect("a valid template"),
            );
            Display::Bar(bar)
        } else {
            Display::Lines {
                what: "scanned",
                total: None,
                next: 10_000,
            }
        }
    }

    /// The fix's display, over `total` groups.
    pub fn fix(terminal: bool, total: u64) -> Self {
        if terminal {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("[{bar:30}] {pos}/{len} groups, {msg} ({eta})")
                    .expect("a valid template")
                    .progress_chars("#>."),
            );
            Display::Bar(bar)
        } else {
            Display::Lines {
                what: "fixed",
                total: Some(total),
                next: total.div_ceil(10).max(1),
            }
        }
    }

    /// Shows `p`.
    pub fn show(&mut self, p: &Progress, err: &mut (dyn Write + Send)) {
        let counts = if p.removed() + p.changed() > 0 {
            format!(
                "{} documents, {} deleted, {} changed",
                p.documents(),
                p.removed(),
                p.changed()
            )
        } else {
            format!("{} documents", p.documents())
        };
        match self {
            Display::Bar(bar) => {
                bar.set_position(p.groups());
                bar.set_message(match bar.length() {
                    Some(_) => counts,
                    None => format!("{} groups, {counts}", p.groups()),
                });
                if p.finished() {
                    bar.finish();
                }
            }
            Display::Lines { what, total, next } => {
                if p.finished() || p.groups() >= *next {
                    let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                    let _ = writeln!(err, "{what}: {}{of} groups, {counts}", p.groups());
                    let step = total.map_or(10_000, |t| t.div_ceil(10).max(1));
                    while *next <= p.groups() {
                        *next += step;
                    }
                    if p.finished() {
                        *next = u64::MAX;
                    }
                }
            }
        }
    }
}
