//! The invariants I1–I5 and the gated verdict: pass, fail and unknown
//! cases with exact figures. Helpers shared by the modules live here.

use std::collections::BTreeMap;
use std::time::Duration;

use gauntlet_check::CheckResult;
use gauntlet_plan::soak::InvariantSpec;
use gauntlet_soak::invariants::{FaultWindow, HealthSample};
use serde_json::Value;

mod i1;
mod i2;
mod i3;
mod i4;
mod i5;
mod verdict;

/// p95 ≤ 100 ms, gaps ≤ 5 s, 2 s grace, 10 MB/h, recovery within 5 s, no
/// restart or flap allowed beyond the faults.
fn spec() -> InvariantSpec {
    InvariantSpec {
        p95_max: Duration::from_millis(100),
        gap_max: Duration::from_secs(5),
        grace: Duration::from_secs(2),
        rss_slope_max_mb_per_hour: 10.0,
        recover_within: Duration::from_secs(5),
        restart_budget: 0,
        flap_budget: 0,
        gate: Vec::new(),
    }
}

fn window(
    fault: &str,
    kind: &str,
    target: Option<&str>,
    start_ms: i64,
    end_ms: i64,
) -> FaultWindow {
    FaultWindow {
        fault: fault.to_owned(),
        kind: kind.to_owned(),
        target: target.map(str::to_owned),
        start_ms,
        end_ms,
    }
}

/// One sample per second in `[from_ms, to_ms]`, healthy unless `down(t)`;
/// healthy ones answer in `latency(t)` ms.
fn series(
    from_ms: i64,
    to_ms: i64,
    down: impl Fn(i64) -> bool,
    latency: impl Fn(i64) -> f64,
) -> Vec<HealthSample> {
    (from_ms..=to_ms)
        .step_by(1000)
        .map(|t| {
            let healthy = !down(t);
            HealthSample {
                t_ms: t,
                healthy,
                latency_ms: healthy.then(|| latency(t)),
            }
        })
        .collect()
}

/// Healthy every second in `[from_ms, to_ms]`, 10 ms each.
fn healthy(from_ms: i64, to_ms: i64) -> Vec<HealthSample> {
    series(from_ms, to_ms, |_| false, |_| 10.0)
}

fn per_service<T>(pairs: Vec<(&str, T)>) -> BTreeMap<String, T> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A figure, or a test failure saying which is missing.
fn fig<'r>(r: &'r CheckResult, key: &str) -> &'r Value {
    r.figure(key)
        .unwrap_or_else(|| panic!("no figure {key:?} in {}", serde_json::to_string(r).unwrap()))
}

/// The `problem` strings of a result's evidence.
fn problems(r: &CheckResult) -> Vec<&str> {
    r.evidence
        .iter()
        .filter_map(|e| e["problem"].as_str())
        .collect()
}
