//! The events themselves.

use gauntlet_check::Validity;
use serde::Serialize;
use serde_json::Value;

/// One thing that happened in a run. Times are milliseconds since the
/// run's start (`t_ms`), the run's one time base; the store relates them to
/// the wall clock through the run's start time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run exists: its id (store row or directory), which preset of
    /// the engine it is (the store's run kind: `test`, `run`, `soak`) and
    /// how many stages it has.
    RunStarted {
        run: String,
        kind: String,
        stages: usize,
    },
    /// A stage began (`index` counts from 0 of `total`).
    StageStarted {
        index: usize,
        total: usize,
        name: String,
        kind: String,
    },
    /// A stage ended; `message` says why when it failed or was skipped.
    /// `verdict` is what a judging stage (a test's checks) found: such a
    /// stage passes when it has judged, whatever it found, so `outcome`
    /// alone is not the verdict.
    StageEnded {
        index: usize,
        total: usize,
        name: String,
        outcome: StageOutcome,
        message: Option<String>,
        verdict: Option<Validity>,
    },
    /// A held or interrupted run goes on: `how` is `retry` or `override`;
    /// an override names the stage it let through, who and why.
    RunResumed {
        how: String,
        stage: Option<String>,
        who: Option<String>,
        reason: Option<String>,
    },
    /// A detail inside the current stage.
    Note { text: String },
    /// Something a person should see: a node's bad output, a crash.
    Warning { source: String, text: String },
    /// A line a program under test wrote on its stderr, which the person
    /// asked to see (`gauntlet test --log-stderr`); `source` is the program
    /// (`n1`).
    Output { source: String, line: String },
    /// The stage waits this long on purpose (a soak checkpoint, a `wait`
    /// stage): a printer can count it down.
    Waiting { ms: u64 },
    /// A client or nemesis operation went into the history.
    Op { t_ms: u64, op: Value },
    /// A fault began on `target` (one name, a comma list, or `all`).
    /// `fault` is the plan's name for it, `kind` its kind (`kill`,
    /// `partition`, ...), `f` the history op's name (`start-partition`),
    /// `value` what the executor did.
    FaultStarted {
        t_ms: u64,
        id: u64,
        fault: String,
        kind: String,
        f: String,
        target: String,
        value: Value,
    },
    /// The fault `id` was healed; `f` is the heal's op name (`resume`,
    /// `start`, `stop-partition`).
    FaultHealed {
        t_ms: u64,
        id: u64,
        f: String,
        value: Value,
    },
    /// A measurement: `kind` (`rss`, `cpu`, `probe_latency`, ...) of
    /// `subject` (a node, a service) in `unit`.
    Sample {
        t_ms: u64,
        kind: String,
        subject: String,
        value: f64,
        unit: String,
    },
    /// A check's verdict and its result in the one result shape, filed
    /// under `name` (the store keeps one verdict per name and run).
    Check {
        name: String,
        valid: Validity,
        result: Value,
    },
    /// The run is over for now: finished, held, interrupted or abandoned
    /// (the store's state), with its verdict (`unknown` unless finished).
    RunEnded { state: String, valid: Validity },
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageOutcome {
    Passed,
    /// It failed: the run holds.
    Failed,
    /// It did not run what it is for: what it needs is absent (`message`
    /// says what). Never a pass.
    Skipped,
    /// A signal stopped it.
    Interrupted,
}

impl StageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StageOutcome::Passed => "passed",
            StageOutcome::Failed => "failed",
            StageOutcome::Skipped => "skipped",
            StageOutcome::Interrupted => "interrupted",
        }
    }
}
