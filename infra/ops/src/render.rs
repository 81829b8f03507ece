//! Terminal output: colour where the terminal supports it, ages in words, and
//! a progress bar on standard error.
//!
//! Colour follows the <https://no-color.org> convention: only when standard
//! output is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
//! Scripts get `--json` instead, never escape codes.

use std::io::{IsTerminal, Write};

/// Whether and how to colour text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Emit ANSI colour codes.
    pub color: bool,
}

/// A colour for a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// All is well.
    Good,
    /// Look at it.
    Warn,
    /// Act on it.
    Bad,
    /// Headers.
    Bold,
}

impl Style {
    /// Colour when standard output is a terminal that supports it.
    pub fn detect() -> Self {
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Self { color }
    }

    /// `text` in `tone`, or as is without colour.
    pub fn paint(self, text: &str, tone: Tone) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Warn => "33",
            Tone::Bad => "31;1",
            Tone::Bold => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// An age in the largest two units that matter: `42s`, `3m05s`, `2h07m`, `4d03h`.
pub fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{:02}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// A progress bar on standard error, drawn only when standard error is a
/// terminal (a log file gets the summary line alone).
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: u64,
    done: u64,
    visible: bool,
}

/// Width of the bar in characters.
const BAR_WIDTH: u64 = 30;

impl Progress {
    /// A bar for `total` steps of `label`.
    pub fn new(label: &'static str, total: u64) -> Self {
        let progress = Self {
            label,
            total,
            done: 0,
            visible: std::io::stderr().is_terminal(),
        };
        progress.draw();
        progress
    }

    /// Sets how many steps are done (a total that turns out larger grows).
    pub fn set(&mut self, done: u64) {
        self.done = done;
        self.total = self.total.max(done);
        self.draw();
    }

    /// Sets both the steps done and the total (a move task's own counts).
    pub fn set_total(&mut self, done: u64, total: u64) {
        self.total = total;
        self.set(done);
    }

    /// Ends the bar's line.
    pub fn finish(&mut self) {
        if self.visible {
            let _ = writeln!(std::io::stderr());
            self.visible = false;
        }
    }

    fn draw(&self) {
        if !self.visible {
            return;
        }
        let _ = write!(
            std::io::stderr(),
            "\r{}",
            bar(self.label, self.done, self.total)
        );
        let _ = std::io::stderr().flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One frame of the bar: `label [#####.....] done/total`.
pub fn bar(label: &str, done: u64, total: u64) -> String {
    let filled = (done.min(total) * BAR_WIDTH)
        .checked_div(total)
        .unwrap_or(0);
    let filled = usize::try_from(filled).unwrap_or(0);
    let width = usize::try_from(BAR_WIDTH).unwrap_or(0);
    format!(
        "{label} [{}{}] {done}/{total}",
        "#".repeat(filled),
        ".".repeat(width.saturating_sub(filled))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ages_read_in_two_units() {
        assert_eq!(age(42), "42s");
        assert_eq!(age(185), "3m05s");
        assert_eq!(age(2 * 3600 + 7 * 60 + 5), "2h07m");
        assert_eq!(age(4 * 86_400 + 3 * 3600), "4d03h");
    }

    #[test]
    fn without_colour_text_is_unchanged() {
        let plain = Style { color: false };
        assert_eq!(plain.paint("ALARM", Tone::Bad), "ALARM");
        let colored = Style { color: true };
        assert_eq!(colored.paint("OK", Tone::Good), "\x1b[32mOK\x1b[0m");
    }

    proptest! {
        #[test]
        fn the_bar_always_has_its_width_and_counts(done in 0u64..10_000, total in 0u64..10_000) {
            let frame = bar("moved", done, total);
            let inside = frame
                .split_once('[')
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(inside, _)| inside.to_owned())
                .unwrap();
            prop_assert_eq!(inside.chars().count(), 30);
            let counts = format!("{done}/{total}");
            prop_assert!(frame.ends_with(&counts));
            if total > 0 && done >= total {
                prop_assert!(!inside.contains('.'));
            }
        }
    }
}
