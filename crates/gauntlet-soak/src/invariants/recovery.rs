//! I3: after every fault heals, what it hit is healthy again in time.

use std::collections::BTreeMap;

use gauntlet_check::CheckResult;
use gauntlet_plan::soak::InvariantSpec;
use serde_json::{Map, Value, json};

use super::{
    EXERCISED, FaultWindow, HealthSample, I3, NO_FAULT, by_time, mark_not_exercised, millis,
};

/// I3: for each fault window and each service it hit (a power cut: every
/// sampled service), the first healthy sample at or after `end_ms` comes
/// within `recover_within`.
///
/// The search stops where the next fault hitting that service starts:
/// a service cannot be blamed for staying down under the next fault. If no
/// healthy sample came, it fails when the service was seen unhealthy past
/// the deadline, and is unknown when the observation ended first (the run
/// ended or the next fault began): its recovery could not be observed.
/// No faults at all: unknown, `faults: 0`, `exercised: false`.
///
/// Figures: `faults`, `exercised`, `recover-within-ms`, `recoveries`
/// (pairs of fault window and service judged), `recovered`, `late`,
/// `unobserved`, `max-recovery-ms`, and `by-fault` (per fault name:
/// `injections`, `max-recovery-ms`).
pub fn i3_recovery(
    samples: &BTreeMap<String, Vec<HealthSample>>,
    faults: &[FaultWindow],
    spec: &InvariantSpec,
) -> CheckResult {
    let within = millis(spec.recover_within);
    let mut r = CheckResult::new(I3)
        .with("faults", faults.len())
        .with(EXERCISED, !faults.is_empty())
        .with("recover-within-ms", within);
    if faults.is_empty() {
        mark_not_exercised(&mut r, NO_FAULT);
        r.undecided(json!({ "problem": "not exercised", "note": NO_FAULT }));
        return r;
    }
    let sorted: BTreeMap<&str, Vec<&HealthSample>> = samples
        .iter()
        .map(|(k, v)| (k.as_str(), by_time(v)))
        .collect();
    let mut tally = Tally::default();
    let mut by_fault: BTreeMap<&str, (usize, Option<i64>)> = BTreeMap::new();
    for (i, w) in faults.iter().enumerate() {
        let entry = by_fault.entry(w.fault.as_str()).or_default();
        entry.0 += 1;
        let targets: Vec<&str> = if w.hits_all() {
            sorted.keys().copied().collect()
        } else {
            w.target.as_deref().into_iter().collect()
        };
        for service in targets {
            let series = sorted.get(service).map(Vec::as_slice).unwrap_or_default();
            let next = faults
                .iter()
                .enumerate()
                .filter(|&(j, f)| j != i && f.hits(service) && f.start_ms >= w.end_ms)
                .min_by_key(|(_, f)| f.start_ms)
                .map(|(_, f)| f);
            let seen = observe(series, w, next, within);
            if let Seen::Healthy(ms) = seen {
                entry.1 = Some(entry.1.map_or(ms, |m: i64| m.max(ms)));
            }
            tally.add(&mut r, w, service, seen, within);
        }
    }
    r.set("recoveries", tally.recoveries);
    r.set("recovered", tally.recovered);
    r.set("late", tally.late);
    r.set("unobserved", tally.unobserved);
    r.set(
        "max-recovery-ms",
        tally.max_ms.map_or(Value::Null, Value::from),
    );
    let by_fault: Map<String, Value> = by_fault
        .into_iter()
        .map(|(name, (n, max))| {
            (
                name.to_owned(),
                json!({ "injections": n, "max-recovery-ms": max }),
            )
        })
        .collect();
    r.set("by-fault", Value::Object(by_fault));
    if tally.recoveries == 0 {
        r.undecided(json!({
            "problem": "no fault hit a service with health samples",
        }));
    }
    r
}

/// What the samples after a heal showed.
enum Seen<'f> {
    /// Healthy this many ms after the heal.
    Healthy(i64),
    /// Still unhealthy at the deadline; last seen then.
    Down { until_ms: i64 },
    /// Observation ended (last sample at `until_ms`, if any) before the
    /// deadline: the run ended, or `next` fault began.
    Unobserved {
        until_ms: Option<i64>,
        next: Option<&'f FaultWindow>,
    },
}

fn observe<'f>(
    series: &[&HealthSample],
    w: &FaultWindow,
    next: Option<&'f FaultWindow>,
    within: i64,
) -> Seen<'f> {
    let horizon = next.map_or(i64::MAX, |f| f.start_ms);
    let after = series
        .iter()
        .filter(|s| s.t_ms >= w.end_ms && s.t_ms < horizon);
    let mut last = None;
    for s in after {
        if s.healthy {
            return Seen::Healthy(s.t_ms - w.end_ms);
        }
        last = Some(s.t_ms);
    }
    match last {
        Some(t) if t.saturating_sub(w.end_ms) > within => Seen::Down { until_ms: t },
        _ => Seen::Unobserved {
            until_ms: last,
            // Blame the next fault only if it began before the deadline.
            next: next.filter(|f| f.start_ms <= w.end_ms.saturating_add(within)),
        },
    }
}

/// Counts across all recoveries; evidence goes to the result, which keeps
/// the first items and counts them all.
#[derive(Default)]
struct Tally {
    recoveries: usize,
    recovered: usize,
    late: usize,
    unobserved: usize,
    max_ms: Option<i64>,
}

impl Tally {
    fn add(
        &mut self,
        r: &mut CheckResult,
        w: &FaultWindow,
        service: &str,
        seen: Seen,
        within: i64,
    ) {
        self.recoveries += 1;
        let mut e = json!({
            "fault": w.fault, "kind": w.kind, "service": service,
            "start-ms": w.start_ms, "end-ms": w.end_ms,
        });
        match seen {
            Seen::Healthy(ms) => {
                self.max_ms = Some(self.max_ms.map_or(ms, |m| m.max(ms)));
                if ms <= within {
                    self.recovered += 1;
                    return;
                }
                self.late += 1;
                e["problem"] = json!("recovered too late");
                e["recovered-after-ms"] = json!(ms);
                r.fail(e);
            }
            Seen::Down { until_ms } => {
                self.late += 1;
                e["problem"] = json!("did not recover");
                e["unhealthy-until-ms"] = json!(until_ms);
                e["down-for-ms"] = json!(until_ms.saturating_sub(w.end_ms));
                r.fail(e);
            }
            Seen::Unobserved { until_ms, next } => {
                self.unobserved += 1;
                e["last-sample-ms"] = json!(until_ms);
                match next {
                    Some(f) => {
                        e["problem"] = json!("recovery not observed: the next fault began first");
                        e["next-fault"] = json!(f.fault);
                        e["next-start-ms"] = json!(f.start_ms);
                    }
                    None => e["problem"] = json!("recovery not observed: the run ended first"),
                }
                r.undecided(e);
            }
        }
    }
}
