//! What a person watching the run sees on stderr: a progress bar over the
//! stages on a terminal, plain lines otherwise (CI logs stay readable and
//! free of escape codes). Both show the same events.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    /// A bar when stderr is a terminal and `quiet` is off; plain lines
    /// when it is not; nothing at all when `quiet`.
    pub fn new(stages: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(stages as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar, quiet }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn stage_start(&self, index: usize, total: usize, name: &str, kind: &str) {
        if let Some(bar) = &self.bar {
            bar.set_position(index as u64);
            bar.set_message(format!("{kind} {name}"));
        }
        self.line(&format!("[{}/{total}] {kind} {name}", index + 1));
    }

    pub fn stage_end(
        &self,
        index: usize,
        total: usize,
        name: &str,
        passed: bool,
        message: Option<&str>,
    ) {
        if let Some(bar) = &self.bar {
            bar.set_position(index as u64 + 1);
        }
        let verdict = if passed { "passed" } else { "FAILED" };
        self.line(&format!(
            "[{}/{total}] {name} {verdict}{}",
            index + 1,
            message.map(|m| format!(": {m}")).unwrap_or_default()
        ));
    }

    /// A detail inside the current stage.
    pub fn note(&self, text: &str) {
        self.line(&format!("      {text}"));
    }

    /// Waits `d`, showing the time left on a terminal.
    pub async fn countdown(&self, d: Duration) {
        let Some(bar) = &self.bar else {
            tokio::time::sleep(d).await;
            return;
        };
        let message = bar.message();
        let end = tokio::time::Instant::now() + d;
        loop {
            let now = tokio::time::Instant::now();
            if now >= end {
                break;
            }
            bar.set_message(format!(
                "{message} ({:.0} s left)",
                (end - now).as_secs_f64().ceil()
            ));
            tokio::time::sleep((end - now).min(Duration::from_millis(500))).await;
        }
        bar.set_message(message);
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
