//! I1: the services answer their health checks promptly, except where a
//! fault explains that they do not.

use std::collections::BTreeMap;

use gauntlet_check::CheckResult;
use gauntlet_plan::soak::InvariantSpec;
use serde_json::{Map, Value, json};

use super::{FaultWindow, HealthSample, I1, by_time, millis, num, opt_num};

/// Fewer judged samples than this per service and I1 cannot say: a p95 of
/// four samples is just their maximum.
pub const MIN_JUDGED_SAMPLES: usize = 5;

/// I1: per service, judging only samples at or after `warmup_ms` and outside
/// `[start, end + grace]` of every fault hitting it (a power cut hits all):
/// the p95 latency of healthy samples (nearest rank) is at most `p95_max`,
/// and the longest time without a healthy answer is at most `gap_max`.
///
/// A gap runs from one healthy answer (or the first sample of a judged
/// span) to the next (or the span's last sample, if the service never
/// answered again). Spans end at excluded samples and at excluded windows,
/// so downtime a fault explains is never counted, even when no sample fell
/// inside its window.
///
/// Figures: `p95-ms` (worst service), `max-gap-ms` (worst),
/// `judged-samples` and `excluded-samples` (sums), the limits, and
/// `services` with the same per service plus `warmup-samples`.
pub fn i1_responsiveness(
    samples: &BTreeMap<String, Vec<HealthSample>>,
    faults: &[FaultWindow],
    spec: &InvariantSpec,
    warmup_ms: i64,
) -> CheckResult {
    let (p95_max, gap_max, grace) = (
        spec.p95_max.as_secs_f64() * 1000.0,
        millis(spec.gap_max),
        millis(spec.grace),
    );
    let mut r = CheckResult::new(I1)
        .with("p95-max-ms", num(p95_max))
        .with("gap-max-ms", gap_max)
        .with("grace-ms", grace)
        .with("warmup-ms", warmup_ms);
    let mut per_service = Map::new();
    let (mut worst_p95, mut worst_gap) = (None::<f64>, 0i64);
    let (mut judged_total, mut excluded_total) = (0usize, 0usize);
    for (service, series) in samples {
        let windows: Vec<&FaultWindow> = faults.iter().filter(|f| f.hits(service)).collect();
        let s = judge(series, &windows, grace, warmup_ms);
        judged_total += s.judged;
        excluded_total += s.excluded;
        per_service.insert(
            service.clone(),
            json!({
                "p95-ms": opt_num(s.p95),
                "max-gap-ms": s.gap.ms,
                "judged-samples": s.judged,
                "excluded-samples": s.excluded,
                "warmup-samples": s.warmup,
            }),
        );
        if s.judged < MIN_JUDGED_SAMPLES {
            r.undecided(json!({
                "problem": "too few samples to judge outside warmup and fault windows",
                "service": service,
                "judged-samples": s.judged,
                "needed": MIN_JUDGED_SAMPLES,
            }));
            continue;
        }
        worst_gap = worst_gap.max(s.gap.ms);
        if let Some(p) = s.p95 {
            worst_p95 = Some(worst_p95.map_or(p, |w| w.max(p)));
        }
        // Judged samples without a healthy one have no p95; the gap fails.
        if let Some(p) = s.p95
            && p > p95_max
        {
            r.fail(json!({
                "problem": "health latency p95 above the limit",
                "service": service,
                "p95-ms": num(p),
                "p95-max-ms": num(p95_max),
            }));
        }
        if s.gap.ms > gap_max {
            r.fail(json!({
                "problem": "too long without a healthy answer",
                "service": service,
                "from-ms": s.gap.from_ms,
                "to-ms": s.gap.to_ms,
                "gap-ms": s.gap.ms,
                "gap-max-ms": gap_max,
            }));
        }
    }
    if samples.is_empty() {
        r.undecided(json!({ "problem": "no health samples" }));
    }
    r.set("p95-ms", opt_num(worst_p95));
    r.set("max-gap-ms", worst_gap);
    r.set("judged-samples", judged_total);
    r.set("excluded-samples", excluded_total);
    r.set("services", Value::Object(per_service));
    r
}

/// The longest gap of a service and where it was.
#[derive(Default)]
struct Gap {
    ms: i64,
    from_ms: i64,
    to_ms: i64,
}

impl Gap {
    fn offer(&mut self, from_ms: i64, to_ms: i64) {
        let ms = to_ms.saturating_sub(from_ms);
        if ms > self.ms {
            *self = Gap { ms, from_ms, to_ms };
        }
    }
}

/// One service's judgement.
struct Judged {
    p95: Option<f64>,
    gap: Gap,
    judged: usize,
    excluded: usize,
    warmup: usize,
}

fn judge(series: &[HealthSample], windows: &[&FaultWindow], grace: i64, warmup_ms: i64) -> Judged {
    let mut out = Judged {
        p95: None,
        gap: Gap::default(),
        judged: 0,
        excluded: 0,
        warmup: 0,
    };
    let mut latencies: Vec<f64> = Vec::new();
    // The open span: its last healthy answer (or first sample) and its last
    // sample.
    let mut span: Option<(i64, i64)> = None;
    for s in by_time(series) {
        if s.t_ms < warmup_ms {
            out.warmup += 1;
            continue;
        }
        if windows.iter().any(|w| w.covers(s.t_ms, grace)) {
            out.excluded += 1;
            close(&mut span, &mut out.gap);
            continue;
        }
        out.judged += 1;
        if let Some((_, last)) = span
            && windows.iter().any(|w| w.between(last, s.t_ms, grace))
        {
            close(&mut span, &mut out.gap);
        }
        let (anchor, _) = *span.get_or_insert((s.t_ms, s.t_ms));
        if s.healthy {
            out.gap.offer(anchor, s.t_ms);
            span = Some((s.t_ms, s.t_ms));
            if let Some(l) = s.latency_ms.filter(|l| l.is_finite()) {
                latencies.push(l);
            }
        } else {
            span = Some((anchor, s.t_ms));
        }
    }
    close(&mut span, &mut out.gap);
    out.p95 = gauntlet_check::figures::percentile_f64(&latencies, 95.0);
    out
}

/// Ends a span: an unhealthy stretch at its end is a gap too.
fn close(span: &mut Option<(i64, i64)>, gap: &mut Gap) {
    if let Some((anchor, last)) = span.take() {
        gap.offer(anchor, last);
    }
}
