//! The counts at the top of every report, and the one-line headline.

use serde::Serialize;

use gauntlet_store::{RunState, StageState, Validity};

use super::RunReport;
use super::facts::{TestResult, module_rows, test_counts};
use super::fmt::plural;

/// The run's result as a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Finished, every check valid.
    Pass,
    /// Finished, some check invalid.
    Fail,
    /// Finished, some check could not decide: not proven, never a pass.
    Unknown,
    /// No result (yet): running, held, interrupted or abandoned.
    None,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Unknown => "unknown",
            Outcome::None => "none",
        }
    }
}

impl From<Option<Validity>> for Outcome {
    fn from(v: Option<Validity>) -> Outcome {
        match v {
            Some(Validity::Valid) => Outcome::Pass,
            Some(Validity::Invalid) => Outcome::Fail,
            Some(Validity::Unknown) => Outcome::Unknown,
            None => Outcome::None,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Module results by status: one per module stage (a module in one cycle)
/// that reported a status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ModuleCounts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

/// Test commands of `command` and `module` stages by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TestCounts {
    pub passed: usize,
    pub failed: usize,
}

/// The counts a report opens with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub state: RunState,
    pub result: Outcome,
    /// One line a person reads first, e.g. `⚠ passed with 1 override`.
    pub headline: String,
    /// Stages in the plan.
    pub stages: usize,
    /// Stages by the state of their current attempt.
    pub passed: usize,
    pub failed: usize,
    pub overridden: usize,
    pub skipped: usize,
    pub pending: usize,
    pub running: usize,
    pub modules: ModuleCounts,
    pub tests: TestCounts,
    /// Overrides recorded (each lets one failed attempt count as done).
    pub overrides: usize,
}

impl Summary {
    pub(crate) fn of(report: &RunReport) -> Summary {
        let count = |state: StageState| report.stages.iter().filter(|s| s.state() == state).count();
        let mut modules = ModuleCounts::default();
        for row in module_rows(&report.stages) {
            match row.status.as_deref() {
                Some("pass") => modules.pass += 1,
                Some("warn") => modules.warn += 1,
                Some("fail") => modules.fail += 1,
                _ => {}
            }
        }
        let mut tests = TestCounts::default();
        for s in &report.stages {
            let (p, f) = test_counts(&TestResult::list(s.current().summary.as_ref()));
            tests.passed += p;
            tests.failed += f;
        }
        let result = Outcome::from(report.run.result);
        let overrides = report.overrides.len();
        let skipped = count(StageState::Skipped);
        Summary {
            state: report.run.state,
            result,
            headline: headline(report, result, &caveats(overrides, skipped)),
            stages: report.stages.len(),
            passed: count(StageState::Passed),
            failed: count(StageState::Failed),
            overridden: count(StageState::Overridden),
            skipped,
            pending: count(StageState::Pending),
            running: count(StageState::Running),
            modules,
            tests,
            overrides,
        }
    }

    /// How the run should look at a glance.
    pub(crate) fn tone(&self) -> Tone {
        match (self.state, self.result) {
            // A skipped stage checked nothing: a pass with one is not all green.
            (RunState::Finished, Outcome::Pass) if self.overrides == 0 && self.skipped == 0 => {
                Tone::Good
            }
            (RunState::Finished, Outcome::Pass | Outcome::Unknown) => Tone::Warn,
            (RunState::Finished, _) => Tone::Bad,
            (RunState::Running, _) => Tone::Info,
            (RunState::Held, _) => Tone::Bad,
            (RunState::Interrupted | RunState::Abandoned, _) => Tone::Neutral,
        }
    }

    /// The badge: `PASS`, `PASS WITH 1 OVERRIDE`, `FAIL`, `HELD`, ...
    pub(crate) fn badge(&self) -> String {
        let word = match (self.state, self.result) {
            (RunState::Finished, r) => r.as_str().to_ascii_uppercase(),
            (state, _) => state.as_str().to_ascii_uppercase(),
        };
        let caveats = caveats(self.overrides, self.skipped);
        if caveats.is_empty() {
            word
        } else {
            format!("{word} WITH {}", caveats.to_ascii_uppercase())
        }
    }
}

/// A colour family for statuses; each format shows it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Good,
    Warn,
    Bad,
    Info,
    Neutral,
}

impl Tone {
    /// The mark Markdown puts before a status.
    pub(crate) fn mark(self) -> &'static str {
        match self {
            Tone::Good => "✅",
            Tone::Warn => "⚠",
            Tone::Bad => "❌",
            Tone::Info => "▶",
            Tone::Neutral => "•",
        }
    }

    /// The CSS class HTML uses.
    pub(crate) fn class(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Warn => "warn",
            Tone::Bad => "bad",
            Tone::Info => "info",
            Tone::Neutral => "neutral",
        }
    }

    pub(crate) fn of_stage(state: StageState) -> Tone {
        match state {
            StageState::Passed => Tone::Good,
            StageState::Failed => Tone::Bad,
            StageState::Overridden => Tone::Warn,
            StageState::Running => Tone::Info,
            StageState::Pending | StageState::Skipped => Tone::Neutral,
        }
    }

    /// The tone of a module status word (`pass`, `warn`, `fail`).
    pub(crate) fn of_status(status: &str) -> Tone {
        match status {
            "pass" => Tone::Good,
            "warn" => Tone::Warn,
            "fail" => Tone::Bad,
            _ => Tone::Neutral,
        }
    }
}

/// What qualifies a verdict: `2 overrides and 1 skipped`, or nothing.
fn caveats(overrides: usize, skipped: usize) -> String {
    let mut parts = Vec::new();
    if overrides > 0 {
        parts.push(plural(overrides, "override"));
    }
    if skipped > 0 {
        parts.push(format!("{skipped} skipped"));
    }
    parts.join(" and ")
}

fn headline(report: &RunReport, result: Outcome, caveats: &str) -> String {
    let stage = report
        .run
        .held_stage
        .as_deref()
        .map(|s| format!(" at stage {s}"))
        .unwrap_or_default();
    let with = if caveats.is_empty() {
        String::new()
    } else {
        format!(" with {caveats}")
    };
    match report.run.state {
        RunState::Finished => match result {
            Outcome::Pass if !caveats.is_empty() => format!("⚠ passed{with}"),
            Outcome::Pass => "✅ passed".to_owned(),
            Outcome::Fail => format!("❌ failed{with}"),
            Outcome::Unknown => format!("⚠ unknown: not proven{with}"),
            Outcome::None => format!("finished without a result{with}"),
        },
        RunState::Held => format!("⏸ held{stage}: waiting for the operator{with}"),
        RunState::Running => {
            let now = report
                .stages
                .iter()
                .find(|s| s.state() == StageState::Running)
                .map(|s| format!(" (stage {})", s.name))
                .unwrap_or_default();
            format!("▶ running{now}{with}")
        }
        RunState::Interrupted => format!("⏹ interrupted{stage}{with}"),
        RunState::Abandoned => format!("✖ abandoned{stage}{with}"),
    }
}
