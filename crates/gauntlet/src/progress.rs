//! What a person watching sees on stderr: the CLI's subscriber of a run's
//! event stream. Library crates never print; they emit events, and this is
//! where events become lines.
//!
//! Writing to a closed stderr (`gauntlet ... 2>&1 | head -1`) ends the
//! printing, never the run (`out.rs`).

use gauntlet_check::Validity;
use gauntlet_events::{Event, StageOutcome, Subscriber};

use crate::out::note;

/// Plain lines for `gauntlet test`: the run's id and notes unless quiet,
/// warnings always
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
    /// A person reads stages and notes, not every op and sample.
    fn wants_streams(&self) -> bool {
        false
    }

    fn on_event(&self, event: &Event) {
        let stored;
        let line = match event {
            Event::RunStarted { run, .. } if !self.quiet => {
                stored = format!("stored as run {run}");
                &stored
            }
            Event::Note { text } if !self.quiet => text,
            Event::Warning { text, .. } => text,
            // Asked for with --log-stderr, so shown even when quiet, as is.
            Event::Output { source, line } => {
                note!("{source} {line}");
                return;
            }
            _ => return,
        };
        note!("gauntlet: {line}");
    }
}

/// The stages of a plan run or a soak: a bar over the stages on a terminal,
/// plain lines otherwise (CI logs stay readable and free of escape codes),
/// only warnings when quiet. Both show the same events.
pub struct Stages {
    quiet: bool,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Stages {
    pub fn new(quiet: bool) -> Stages {
        Stages {
            quiet,
            bar: std::sync::Mutex::new(None),
        }
    }

    /// Clears the bar; the run's summary is printed after it.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, bar: Option<&indicatif::ProgressBar>, text: &str) {
        match bar {
            Some(bar) => bar.println(text),
            None => {
                note!("{text}");
            }
        }
    }
}

impl Subscriber for Stages {
    /// A person reads stages and notes, not every op and sample.
    fn wants_streams(&self) -> bool {
        false
    }

    fn on_event(&self, event: &Event) {
        use std::io::IsTerminal;
        use std::time::Duration;

        if self.quiet {
            // A warning is news even in a quiet run (an address beyond
            // loopback, a full inbox), as `gauntlet test` shows it.
            if let Event::Warning { text, .. } = event {
                note!("gauntlet: {text}");
            }
            return;
        }
        let mut guard = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::RunStarted { stages, .. } if std::io::stderr().is_terminal() => {
                let bar = indicatif::ProgressBar::with_draw_target(
                    Some(*stages as u64),
                    indicatif::ProgressDrawTarget::stderr(),
                );
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{pos}/{len}] {wide_msg} {elapsed}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                *guard = Some(bar);
            }
            Event::StageStarted {
                index,
                total,
                name,
                kind,
            } => {
                if let Some(bar) = guard.as_ref() {
                    bar.set_position(*index as u64);
                    bar.set_message(format!("{kind} {name}"));
                }
                self.line(
                    guard.as_ref(),
                    &format!("[{}/{total}] {kind} {name}", index + 1),
                );
            }
            Event::StageEnded {
                index,
                total,
                name,
                outcome,
                message,
                verdict,
            } => {
                if let Some(bar) = guard.as_ref() {
                    bar.set_position(*index as u64 + 1);
                }
                // A judging stage that judged "passed" as a stage; what it
                // found is the word a person needs.
                let verdict = match (outcome, verdict) {
                    (StageOutcome::Failed | StageOutcome::Interrupted, _) => "FAILED",
                    (StageOutcome::Skipped, _) => "SKIPPED",
                    (StageOutcome::Passed, Some(Validity::Invalid)) => "judged: INVALID",
                    (StageOutcome::Passed, Some(Validity::Unknown)) => "judged: UNKNOWN",
                    (StageOutcome::Passed, Some(Validity::Valid)) => "judged: valid",
                    (StageOutcome::Passed, None) => "passed",
                };
                let why = message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                self.line(
                    guard.as_ref(),
                    &format!("[{}/{total}] {name} {verdict}{why}", index + 1),
                );
            }
            Event::Note { text } => self.line(guard.as_ref(), &format!("      {text}")),
            Event::Warning { text, .. } => self.line(guard.as_ref(), &format!("gauntlet: {text}")),
            Event::Output { source, line } => {
                self.line(guard.as_ref(), &format!("{source} {line}"))
            }
            Event::Waiting { ms } => {
                if let Some(bar) = guard.as_ref() {
                    let message = bar.message();
                    bar.set_message(format!("{message} (waiting {:.0} s)", *ms as f64 / 1000.0));
                }
            }
            _ => {}
        }
    }
}
