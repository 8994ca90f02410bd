//! The run's decisions, as pure functions of what has happened: which
//! stage runs next, and how a module fared in one cycle.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Service;
use crate::units::{format_duration, show_mib, show_ms};

/// Where one run stage stands, as far as the state machine cares. The
/// one stage-state type is the store's (`gauntlet_store::StageState`,
/// which implements this); the state machine stays free of the store.
pub trait StageProgress: Copy {
    /// Passed, overridden or skipped: the run may go on past it.
    fn is_done(self) -> bool;
    /// Failed: the run holds here until a retry, override or abandon.
    fn is_failed(self) -> bool;
}

/// What the runner does next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Next {
    /// Run (or run again) this stage.
    Run(usize),
    /// This stage failed: stop and wait for an operator.
    Hold(usize),
    /// Every stage is done.
    Finished,
}

/// Strict order: the first stage not done (Passed/Overridden/Skipped are
/// done) is run; a Failed one holds; Running (a stage whose process died)
/// is run again. Finished when all are done.
pub fn next_step<S: StageProgress>(states: &[S]) -> Next {
    for (i, &state) in states.iter().enumerate() {
        if state.is_done() {
            continue;
        }
        return if state.is_failed() {
            Next::Hold(i)
        } else {
            Next::Run(i)
        };
    }
    Next::Finished
}

/// A module's verdict for one cycle. Ordered so the worst is the largest.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ModuleStatus {
    Pass,
    Warn,
    Fail,
}

/// What the runtime measured while one module ran for one cycle.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleFigures {
    /// It passed its health check (or, without one, stayed up).
    pub healthy: bool,
    /// 95th percentile of the health probes' latency.
    pub health_p95: Option<Duration>,
    /// Peak resident memory, bytes.
    pub max_rss: Option<u64>,
    /// Peak CPU, percent of one core.
    pub max_cpu: Option<f64>,
    pub restarts: u32,
    pub oom_kills: u32,
    pub tests_run: usize,
    pub tests_failed: usize,
    /// Tests that ran but found no tests ([`no_tests_found`]).
    pub tests_empty: usize,
    /// Peak RSS growth from the first cycle to this one, percent; set on
    /// cycles after the first.
    pub rss_growth_pct: Option<f64>,
}

/// PASS, WARN (healthy but p95 over `warn_p95`, a test command that found
/// no tests, RSS growth over `rss_growth_warn_pct`) or FAIL (not healthy,
/// a test failed, over `max_rss` / `max_cpu` / `max_restarts`, an OOM
/// kill), with one human-readable reason per finding, failures first.
pub fn module_status(service: &Service, f: &ModuleFigures) -> (ModuleStatus, Vec<String>) {
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    let limits = &service.limits;

    if !f.healthy {
        fails.push(match &service.health {
            Some(h) => format!(
                "not healthy (health check did not pass within {})",
                format_duration(h.timeout)
            ),
            None => "not healthy (exited)".to_owned(),
        });
    }
    if f.tests_failed > 0 {
        fails.push(format!(
            "{} of {} tests failed",
            f.tests_failed, f.tests_run
        ));
    }
    if let (Some(rss), Some(max)) = (f.max_rss, limits.max_rss)
        && rss > max
    {
        fails.push(format!(
            "max RSS {} > max_rss {}",
            show_mib(rss),
            show_mib(max)
        ));
    }
    if let (Some(cpu), Some(max)) = (f.max_cpu, limits.max_cpu)
        && cpu > max
    {
        fails.push(format!("max CPU {cpu:.1}% > max_cpu {max:.1}%"));
    }
    if let Some(max) = limits.max_restarts
        && f.restarts > max
    {
        fails.push(format!("{} restarts > max_restarts {max}", f.restarts));
    }
    if f.oom_kills > 0 {
        fails.push(format!("killed by the OOM killer {} time(s)", f.oom_kills));
    }

    if f.healthy
        && let (Some(p95), Some(warn)) = (
            f.health_p95,
            service.health.as_ref().and_then(|h| h.warn_p95),
        )
        && p95 > warn
    {
        warns.push(format!(
            "p95 health latency {} > warn_p95 {}",
            show_ms(p95),
            show_ms(warn)
        ));
    }
    if f.tests_empty > 0 {
        warns.push(format!(
            "{} of {} test commands found no tests",
            f.tests_empty, f.tests_run
        ));
    }
    if let Some(growth) = f.rss_growth_pct
        && growth > limits.rss_growth_warn_pct
    {
        warns.push(format!(
            "RSS grew {growth:.1}% since the first cycle > rss_growth_warn_pct {:.1}%",
            limits.rss_growth_warn_pct
        ));
    }

    let status = if !fails.is_empty() {
        ModuleStatus::Fail
    } else if !warns.is_empty() {
        ModuleStatus::Warn
    } else {
        ModuleStatus::Pass
    };
    fails.append(&mut warns);
    (status, fails)
}

/// Whether a test command ran but found nothing to test: pytest's exit 5
/// ("no tests collected"), or output saying "collected 0 items", "no
/// tests ran" or "running 0 tests" — unless some "running N tests" line
/// has N > 0 (cargo test prints one such line per test binary, so a crate
/// with tests in only some binaries did test something).
pub fn no_tests_found(exit: i32, stdout: &str, stderr: &str) -> bool {
    let mut scan = NoTestsScan::default();
    scan.feed(stdout);
    scan.feed(stderr);
    scan.no_tests_found(exit)
}

/// [`no_tests_found`] over output read piece by piece, so a command's
/// output never has to be held whole. Feed it overlapping windows (each
/// starting with the last [`NoTestsScan::OVERLAP`] bytes of the one
/// before): a phrase cut at a window's end is then whole in the next, and
/// seeing one twice changes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoTestsScan {
    saw_tests: bool,
    saw_empty: bool,
}

impl NoTestsScan {
    /// How many bytes of the previous window the next one should repeat.
    pub const OVERLAP: usize = 64;

    /// Scans one window of output (stdout and stderr alike).
    pub fn feed(&mut self, text: &str) {
        for count in running_counts(text) {
            if count > 0 {
                self.saw_tests = true;
            } else {
                self.saw_empty = true;
            }
        }
        self.saw_empty |= text.contains("collected 0 items") || text.contains("no tests ran");
    }

    /// What another scan saw too (stdout's and stderr's together).
    pub fn merge(&mut self, other: NoTestsScan) {
        self.saw_tests |= other.saw_tests;
        self.saw_empty |= other.saw_empty;
    }

    /// The verdict once everything was fed, as [`no_tests_found`].
    pub fn no_tests_found(&self, exit: i32) -> bool {
        exit == 5 || (self.saw_empty && !self.saw_tests)
    }
}

/// The N of every "running N test(s)" in `text`.
fn running_counts(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.match_indices("running ").filter_map(|(at, m)| {
        let rest = &text[at + m.len()..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let n = rest[..digits].parse().ok()?;
        rest[digits..].starts_with(" test").then_some(n)
    })
}
