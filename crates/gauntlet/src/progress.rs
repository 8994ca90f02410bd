//! What a person watching sees on stderr: the CLI's subscriber of a run's
//! event stream. Library crates never print; they emit events, and this is
//! where events become lines.
//!
//! Writing to a closed stderr (`gauntlet ... 2>&1 | head -1`) ends the
//! printing, never the run: every write's error is ignored.

use std::io::Write;

use gauntlet_events::{Event, Subscriber};

/// Plain lines for `gauntlet test`: notes unless quiet, warnings always
/// (a node's bad output or a crash is news even in a quiet run).
pub struct Lines {
    quiet: bool,
}

impl Lines {
    pub fn new(quiet: bool) -> Lines {
        Lines { quiet }
    }
}

impl Subscriber for Lines {
    fn on_event(&self, event: &Event) {
        let line = match event {
            Event::Note { text } if !self.quiet => text,
            Event::Warning { text, .. } => text,
            _ => return,
        };
        let _ = writeln!(std::io::stderr().lock(), "gauntlet: {line}");
    }
}
