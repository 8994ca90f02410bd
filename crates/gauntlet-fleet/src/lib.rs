//! The fleet loop's decisions, as a pure function of what has happened.
//!
//! People who run a fleet of hosts loop by hand: build locally, deploy to
//! every node, test, fix what failed, rebuild, and once green wait an hour
//! and six hours and test again. [`next`] is that loop as a state machine
//! in the style of `gauntlet_plan::next_step`: it takes the loop's
//! settings and the record of every phase so far, each with how it ended,
//! and says what to do next. The record is what the store keeps, so a loop
//! resumed in a new process (or read by `gauntlet status` from another
//! shell) takes the same decision; nothing here does IO or reads a clock.
//!
//! ```text
//! SETUP ─► BUILD ─► DEPLOY ─► TEST ─► WAIT(1) ─► TEST(1) ─► … ─► COMPLETE
//!            ▲                  │fail            │regressed
//!            └──── FIX ◄────────┴────────────────┘
//! ```
//!
//! - SETUP reaches every node: fewer than half reachable fails the loop;
//!   the unreachable ones are degraded and skipped from then on.
//! - A failed BUILD goes through the fix hook and builds again, at most
//!   `max_builds` times in a row; then the loop holds for an operator.
//! - A failed DEPLOY holds (an operator looks at the nodes).
//! - A failed TEST goes to FIX; a fix hook that commits nothing holds.
//!   More than `max_fixes` fixes hold too: a loop never spins forever.
//! - A passing TEST waits for the next checkpoint and tests again; a test
//!   at a checkpoint that fails, or whose figures fell back beyond the
//!   tolerance from the loop's last green test, is a regression: FIX,
//!   and the checkpoints start over once the fix is deployed.
//! - The last checkpoint's passing TEST completes the loop.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The loop's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopSpec {
    /// How long to wait after the first green test before each re-test
    /// (default 1 h, then 6 h: each counted from the first green test).
    pub checkpoints: Vec<Duration>,
    /// Builds in a row that may fail (each followed by the fix hook)
    /// before the loop holds.
    pub max_builds: u32,
    /// Fixes in one loop before it holds.
    pub max_fixes: u32,
    /// How far, in percent, a figure may fall back from the last green
    /// test before a checkpoint counts it as a regression.
    pub regression_tolerance_pct: f64,
}

impl Default for LoopSpec {
    fn default() -> LoopSpec {
        LoopSpec {
            checkpoints: vec![Duration::from_secs(3600), Duration::from_secs(6 * 3600)],
            max_builds: 3,
            max_fixes: 5,
            regression_tolerance_pct: 10.0,
        }
    }
}

/// One phase of the loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Setup,
    /// Build locally; `attempt` counts builds in a row, from 1.
    Build {
        attempt: u32,
    },
    Deploy,
    /// Run the focus's suites; `checkpoint` 0 is the test after a deploy,
    /// `n` the re-test after the `n`th checkpoint's wait.
    Test {
        checkpoint: usize,
    },
    /// Collect the evidence and call the fix hook; `round` counts from 1.
    Fix {
        round: u32,
    },
    /// Wait until checkpoint `checkpoint` (1-based) is due: `until` after
    /// the end of the deployment's first green test (the caller's clock).
    Wait {
        checkpoint: usize,
        until: Duration,
    },
}

impl Phase {
    /// The word for it in the store, the status and the events.
    pub fn word(&self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Build { .. } => "build",
            Phase::Deploy => "deploy",
            Phase::Test { .. } => "test",
            Phase::Fix { .. } => "fix",
            Phase::Wait { .. } => "wait",
        }
    }
}

/// A number a test measured, and which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub value: f64,
    pub higher_is_better: bool,
}

/// How a phase ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Ended {
    /// Setup: how many nodes answered.
    Reached { reachable: usize, total: usize },
    /// Build or deploy did what it is for.
    Done,
    /// Build or deploy did not; why.
    Failed(String),
    /// A test: whether its criteria were met, and its figures.
    Tested {
        passed: bool,
        figures: BTreeMap<String, Figure>,
    },
    /// The fix hook committed this.
    Fixed { commit: String },
    /// The fix hook made no fix (it exited non-zero, or committed nothing).
    NoFix(String),
    /// A wait is over.
    Waited,
}

/// One phase that ran, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub phase: Phase,
    pub ended: Ended,
}

/// What the loop does next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Next {
    Run(Phase),
    /// Stop and wait for an operator (retry, override, abandon), why.
    Hold(String),
    /// The loop cannot go on, why.
    Fail(String),
    /// Green at every checkpoint.
    Complete,
}

/// What to do after `done`, the loop's record so far (oldest first).
pub fn next(spec: &LoopSpec, done: &[Record]) -> Next {
    let Some(last) = done.last() else {
        return Next::Run(Phase::Setup);
    };
    match (&last.phase, &last.ended) {
        (Phase::Setup, Ended::Reached { reachable, total }) => {
            if *total == 0 || reachable * 2 < *total {
                Next::Fail(format!(
                    "fewer than half the nodes are reachable: {reachable} of {total}"
                ))
            } else {
                Next::Run(Phase::Build { attempt: 1 })
            }
        }
        (Phase::Build { .. }, Ended::Done) => Next::Run(Phase::Deploy),
        (Phase::Build { attempt }, Ended::Failed(why)) => {
            if *attempt >= spec.max_builds {
                Next::Hold(format!("the build failed {attempt} times in a row: {why}"))
            } else {
                fix_or_hold(spec, done)
            }
        }
        (Phase::Deploy, Ended::Done) => Next::Run(Phase::Test { checkpoint: 0 }),
        (Phase::Deploy, Ended::Failed(why)) => Next::Hold(format!("the deploy failed: {why}")),
        (Phase::Test { checkpoint }, Ended::Tested { passed, figures }) => {
            if !passed {
                return fix_or_hold(spec, done);
            }
            if *checkpoint > 0 && regression(spec, done, figures).is_some() {
                return fix_or_hold(spec, done);
            }
            match spec.checkpoints.get(*checkpoint) {
                None => Next::Complete,
                Some(wait) => Next::Run(Phase::Wait {
                    checkpoint: checkpoint + 1,
                    until: *wait,
                }),
            }
        }
        (Phase::Fix { .. }, Ended::Fixed { .. }) => Next::Run(Phase::Build {
            attempt: builds_in_a_row(done) + 1,
        }),
        (Phase::Fix { .. }, Ended::NoFix(why)) => {
            Next::Hold(format!("the fix hook made no fix: {why}"))
        }
        (Phase::Wait { checkpoint, .. }, Ended::Waited) => Next::Run(Phase::Test {
            checkpoint: *checkpoint,
        }),
        (phase, ended) => Next::Fail(format!("a {} phase cannot end as {ended:?}", phase.word())),
    }
}

/// The next fix, unless the loop has fixed enough.
fn fix_or_hold(spec: &LoopSpec, done: &[Record]) -> Next {
    let fixes = done
        .iter()
        .filter(|r| matches!(r.phase, Phase::Fix { .. }))
        .count() as u32;
    if fixes >= spec.max_fixes {
        Next::Hold(format!(
            "{fixes} fixes and still failing: an operator should look"
        ))
    } else {
        Next::Run(Phase::Fix { round: fixes + 1 })
    }
}

/// Failed builds since the last successful one (or the start): a fix
/// after a failed build counts toward `max_builds`, a fix after a failed
/// test starts the count afresh.
fn builds_in_a_row(done: &[Record]) -> u32 {
    let mut failed = 0;
    for r in done.iter().rev() {
        match (&r.phase, &r.ended) {
            (Phase::Build { .. }, Ended::Failed(_)) => failed += 1,
            (Phase::Build { .. }, Ended::Done) | (Phase::Test { .. }, _) => break,
            _ => {}
        }
    }
    failed
}

/// Why `figures` is a regression from the last green test before this
/// one, if it is: a figure fell back by more than the tolerance.
pub fn regression(
    spec: &LoopSpec,
    done: &[Record],
    figures: &BTreeMap<String, Figure>,
) -> Option<String> {
    // The green test this one is measured against: the one before it.
    let baseline = done.iter().rev().skip(1).find_map(|r| match &r.ended {
        Ended::Tested {
            passed: true,
            figures,
        } if matches!(r.phase, Phase::Test { .. }) => Some(figures),
        _ => None,
    })?;
    worse(baseline, figures, spec.regression_tolerance_pct)
}

/// Why `now` is worse than `then`, if it is: a figure both have fell
/// back by more than `tolerance_pct` percent (the way it is better: up or
/// down).
pub fn worse(
    then: &BTreeMap<String, Figure>,
    now: &BTreeMap<String, Figure>,
    tolerance_pct: f64,
) -> Option<String> {
    let tolerance = tolerance_pct / 100.0;
    for (name, now) in now {
        let Some(then) = then.get(name) else {
            continue;
        };
        let fell = if now.higher_is_better {
            now.value < then.value * (1.0 - tolerance)
        } else {
            now.value > then.value * (1.0 + tolerance)
        };
        if fell {
            return Some(format!(
                "{name} went from {} to {}, beyond the {tolerance_pct}% tolerance",
                then.value, now.value
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests;
