//! I5: no restarts or health flaps beyond what the faults explain.

use std::collections::{BTreeMap, BTreeSet};

use gauntlet_check::CheckResult;
use gauntlet_plan::soak::InvariantSpec;
use serde_json::{Map, Value, json};

use super::{
    EVIDENCE_PER_KIND, EXERCISED, FaultWindow, HealthSample, I5, NO_FAULT, by_time,
    mark_not_exercised, millis,
};

/// I5: per service (every service in `restarts` or `samples`):
/// - restarts beyond those the faults explain (each `kill`, `power-cut` or
///   `restart` window explains one restart of each service it hits) are at
///   most `restart_budget`;
/// - health flaps (a healthy sample followed by an unhealthy one) whose
///   unhealthy sample lies outside every `[start, end + grace]` of the faults
///   hitting the service are at most `flap_budget`.
///
/// Budgets are per service, like the other per-service limits. Without
/// faults it still judges (every restart and flap is then unexplained)
/// but says `exercised: false` with a note. Unknown only when there was
/// nothing to look at: no restart counts and no samples.
///
/// Figures: `faults`, `exercised`, `restarts`, `explained-restarts`,
/// `unexplained-restarts`, `flaps` (sums over services), the budgets, and
/// `services` with `restarts`, `explained-restarts`,
/// `unexplained-restarts`, `flaps` each.
pub fn i5_stability(
    restarts: &BTreeMap<String, u32>,
    samples: &BTreeMap<String, Vec<HealthSample>>,
    faults: &[FaultWindow],
    spec: &InvariantSpec,
) -> CheckResult {
    let grace = millis(spec.grace);
    let mut r = CheckResult::new(I5)
        .with("faults", faults.len())
        .with(EXERCISED, !faults.is_empty())
        .with("restart-budget", spec.restart_budget)
        .with("flap-budget", spec.flap_budget);
    if faults.is_empty() {
        mark_not_exercised(&mut r, NO_FAULT);
    }
    let services: BTreeSet<&str> = restarts
        .keys()
        .chain(samples.keys())
        .map(String::as_str)
        .collect();
    let mut per_service = Map::new();
    let (mut total, mut explained_total, mut unexplained_total, mut flaps_total) =
        (0u64, 0u64, 0u64, 0u64);
    for service in services {
        let hitting: Vec<&FaultWindow> = faults.iter().filter(|f| f.hits(service)).collect();
        let observed = restarts.get(service).copied().unwrap_or(0);
        let explained =
            u32::try_from(hitting.iter().filter(|f| f.restarts()).count()).unwrap_or(u32::MAX);
        let unexplained = observed.saturating_sub(explained);
        let flaps = flap_times(
            samples.get(service).map(Vec::as_slice).unwrap_or_default(),
            &hitting,
            grace,
        );
        total += u64::from(observed);
        explained_total += u64::from(explained.min(observed));
        unexplained_total += u64::from(unexplained);
        flaps_total += flaps.len() as u64;
        per_service.insert(
            service.to_owned(),
            json!({
                "restarts": observed,
                "explained-restarts": explained.min(observed),
                "unexplained-restarts": unexplained,
                "flaps": flaps.len(),
            }),
        );
        if unexplained > spec.restart_budget {
            r.fail(json!({
                "problem": "restarts beyond what the faults explain",
                "service": service,
                "restarts": observed,
                "explained-restarts": explained,
                "restart-budget": spec.restart_budget,
            }));
        }
        if flaps.len() > spec.flap_budget as usize {
            r.fail(json!({
                "problem": "health flaps outside fault windows",
                "service": service,
                "flaps": flaps.len(),
                "flap-budget": spec.flap_budget,
                "at-ms": flaps.iter().take(EVIDENCE_PER_KIND).collect::<Vec<_>>(),
            }));
        }
    }
    if restarts.is_empty() && samples.is_empty() {
        r.undecided(json!({ "problem": "no restart counts and no health samples" }));
    }
    r.set("restarts", total);
    r.set("explained-restarts", explained_total);
    r.set("unexplained-restarts", unexplained_total);
    r.set("flaps", flaps_total);
    r.set("services", Value::Object(per_service));
    r
}

/// When the service went from healthy to unhealthy with no fault to blame.
fn flap_times(series: &[HealthSample], hitting: &[&FaultWindow], grace: i64) -> Vec<i64> {
    let mut flaps = Vec::new();
    let mut was_healthy = false;
    for s in by_time(series) {
        if was_healthy && !s.healthy && !hitting.iter().any(|w| w.covers(s.t_ms, grace)) {
            flaps.push(s.t_ms);
        }
        was_healthy = s.healthy;
    }
    flaps
}
