//! The soak's invariants, judged after the readback on a quiesced system.
//!
//! | checker | holds when |
//! |---|---|
//! | `I1-responsiveness` | health p95 and the longest gap without a healthy answer stay within limits, away from faults |
//! | `I2-memory` | the RSS slope stays under a limit (no leak) |
//! | `I3-recovery` | every service is healthy again soon after every fault heals |
//! | `I4-no-data-loss` | every acknowledged write is still there |
//! | `I5-stability` | no restarts or health flaps beyond what the faults explain |
//!
//! Each returns a [`CheckResult`]: figures in kebab-case, evidence items
//! with a `problem` string. `unknown` is returned whenever there was too
//! little to judge; an invariant no fault exercised carries the figure
//! `exercised: false` ([`EXERCISED`]) and says so.

use std::time::Duration;

use gauntlet_check::{CheckResult, Validity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod data_loss;
mod memory;
mod recovery;
mod responsiveness;
mod stability;

pub use data_loss::i4_no_data_loss;
pub use memory::{MIN_RSS_SAMPLES, MIN_RSS_SPAN_MS, i2_memory};
pub use recovery::i3_recovery;
pub use responsiveness::{MIN_JUDGED_SAMPLES, i1_responsiveness};
pub use stability::i5_stability;

/// Checker name of I1.
pub const I1: &str = "I1-responsiveness";
/// Checker name of I2.
pub const I2: &str = "I2-memory";
/// Checker name of I3.
pub const I3: &str = "I3-recovery";
/// Checker name of I4.
pub const I4: &str = "I4-no-data-loss";
/// Checker name of I5.
pub const I5: &str = "I5-stability";

/// The figure saying whether any fault exercised an invariant.
pub const EXERCISED: &str = "exercised";
/// The figure holding a human note (e.g. why it was not exercised).
pub const NOTE: &str = "note";
/// How many items of one kind (lost keys, late recoveries, …) an
/// invariant lists; the figures still count them all.
pub const EVIDENCE_PER_KIND: usize = 20;

/// One health probe of one service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthSample {
    /// When, in ms since the soak started.
    pub t_ms: i64,
    /// Whether the probe succeeded.
    pub healthy: bool,
    /// How long a healthy probe took.
    pub latency_ms: Option<f64>,
}

/// One fault as it actually happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The fault's name in the plan.
    pub fault: String,
    /// Its kind's word (`kill`, `power-cut`, `pause`, …).
    pub kind: String,
    /// The service it hit; `None` (and every `power-cut`): all services.
    pub target: Option<String>,
    /// When it was injected, ms since the soak started.
    pub start_ms: i64,
    /// When it was healed.
    pub end_ms: i64,
}

impl FaultWindow {
    /// Whether this fault hit `service`.
    pub fn hits(&self, service: &str) -> bool {
        self.hits_all() || self.target.as_deref() == Some(service)
    }

    /// Whether it hit every service (a power cut, or no target).
    pub fn hits_all(&self) -> bool {
        self.target.is_none() || self.kind == "power-cut"
    }

    /// Whether it restarts what it hits, explaining one restart each.
    pub fn restarts(&self) -> bool {
        matches!(self.kind.as_str(), "kill" | "power-cut" | "restart")
    }

    /// Whether `t_ms` lies in the fault or within `grace_ms` after its heal,
    /// where misbehaviour is the fault's doing.
    fn covers(&self, t_ms: i64, grace_ms: i64) -> bool {
        self.start_ms <= t_ms && t_ms <= self.end_ms.saturating_add(grace_ms)
    }

    /// Whether the covered span lies (partly) strictly between `a` and `b`.
    fn between(&self, a: i64, b: i64, grace_ms: i64) -> bool {
        self.start_ms < b && self.end_ms.saturating_add(grace_ms) > a
    }
}

/// One RSS sample of one service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RssSample {
    /// When, in ms since the soak started.
    pub t_ms: i64,
    /// Resident set size.
    pub bytes: u64,
    /// When the process measured started (ms since the soak started; it
    /// may be negative): samples with the same start are one process
    /// lifetime, and I2 judges growth within lifetimes. `None`: not known,
    /// every such sample is taken as one lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
}

/// The verdict that decides the exit code: the worst of the results named
/// by `gate`.
///
/// A gate entry names a checker by its id (`I1`) or full name
/// (`I1-responsiveness`), case-insensitively; `all`, or an empty gate (the
/// plan's default), gates every result. A gated name with no result is
/// `Unknown` (it was never judged), and so is gating nothing at all: a soak
/// must not pass by having judged nothing.
pub fn verdict(results: &[CheckResult], gate: &[String]) -> Validity {
    let all = gate.is_empty() || gate.iter().any(|g| g.trim().eq_ignore_ascii_case("all"));
    if all {
        if results.is_empty() {
            return Validity::Unknown;
        }
        return Validity::worst_of(results.iter().map(|r| r.valid));
    }
    Validity::worst_of(gate.iter().map(|g| {
        results
            .iter()
            .filter(|r| names(&r.checker, g.trim()))
            .map(|r| r.valid)
            .reduce(Validity::worst)
            .unwrap_or(Validity::Unknown)
    }))
}

/// Whether gate entry `g` names `checker`.
fn names(checker: &str, g: &str) -> bool {
    if checker.eq_ignore_ascii_case(g) {
        return true;
    }
    checker
        .get(..g.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(g))
        && checker[g.len()..].starts_with('-')
}

/// An `Unknown` result for an invariant that could not be exercised at all
/// (e.g. I2 when no RSS was sampled): `exercised: false` and `note` say why.
pub fn not_exercised(checker: &str, note: &str) -> CheckResult {
    let mut r = CheckResult::new(checker);
    mark_not_exercised(&mut r, note);
    r.undecided(json!({ "problem": "not exercised", "note": note }));
    r
}

/// Marks `r` as not exercised without changing its verdict (I5 still
/// judges restarts and flaps when no fault ran).
fn mark_not_exercised(r: &mut CheckResult, note: &str) {
    r.set(EXERCISED, false);
    r.set(NOTE, note);
}

/// The note on I3 and I5 in a soak without faults.
const NO_FAULT: &str = "no fault exercised it: the scenario injected no fault";

/// A duration as whole ms for figures and comparisons with sample times.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Samples in time order; the runtime appends them in order, but a replay
/// from disk need not.
fn by_time(samples: &[HealthSample]) -> Vec<&HealthSample> {
    let mut sorted: Vec<&HealthSample> = samples.iter().collect();
    sorted.sort_by_key(|s| s.t_ms);
    sorted
}

/// A float figure, rounded to three decimals so reports stay readable;
/// `null` if it is not a number. Verdicts compare unrounded values.
fn num(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// An optional float figure.
fn opt_num(x: Option<f64>) -> Value {
    x.map_or(Value::Null, num)
}
