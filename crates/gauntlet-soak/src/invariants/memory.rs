//! I2: no service's memory keeps growing.

use std::collections::BTreeMap;

use gauntlet_check::CheckResult;
use gauntlet_check::figures::pooled_slope;
use gauntlet_plan::soak::InvariantSpec;
use serde_json::{Map, Value, json};

use super::{I2, RssSample, num, opt_num};

/// Fewer RSS samples than this per service and I2 cannot say.
pub const MIN_RSS_SAMPLES: usize = 10;
/// Samples spanning less than this cannot tell a leak from warm-up.
pub const MIN_RSS_SPAN_MS: i64 = 60_000;

const MS_PER_HOUR: f64 = 3_600_000.0;
/// MB here is 10^6 bytes (not MiB), the unit of `rss_slope_max_mb_per_hour`.
const BYTES_PER_MB: f64 = 1_000_000.0;

/// I2: per service, how fast RSS grows within a process lifetime, in MB
/// per hour (MB = 10^6 bytes), is at most `rss_slope_max_mb_per_hour`.
///
/// A restart splits a service's series: the slope is fitted within each
/// lifetime (one slope, each lifetime its own intercept: see
/// [`pooled_slope`]), so a fresh process starting small, or one reloading
/// its data, is not taken for a leak or hides one. The first `warmup_ms`
/// of every lifetime are left out, as the soak's warm-up is for I1.
///
/// Unknown for a service with fewer than [`MIN_RSS_SAMPLES`] judged
/// samples or whose judged lifetimes span under [`MIN_RSS_SPAN_MS`] in
/// all; its slope is still reported. Samples after STOP count too: the
/// time base is the runtime's, and cutting at `duration_ms` would drop
/// real data if it differed. `duration_ms` is reported as `soak-ms`; a
/// soak shorter than an hour extrapolates its slope, which the figure
/// `extrapolated` says.
///
/// Figures: `slope-mb-per-hour` (steepest service, judged or not), `max-mb-per-hour`,
/// `mb` (the unit), `soak-ms`, `warmup-ms`, `extrapolated`, and `services` with
/// `slope-mb-per-hour`, `samples` (judged), `lifetimes`, `span-ms` (judged,
/// summed over lifetimes), `first-mb`, `last-mb`.
pub fn i2_memory(
    rss: &BTreeMap<String, Vec<RssSample>>,
    spec: &InvariantSpec,
    duration_ms: i64,
    warmup_ms: i64,
) -> CheckResult {
    let max = spec.rss_slope_max_mb_per_hour;
    let mut r = CheckResult::new(I2)
        .with("max-mb-per-hour", num(max))
        .with("mb", "10^6 bytes")
        .with("soak-ms", duration_ms)
        .with("warmup-ms", warmup_ms)
        .with("extrapolated", duration_ms < MS_PER_HOUR as i64);
    let mut per_service = Map::new();
    let mut steepest: Option<f64> = None;
    for (service, series) in rss {
        let mut sorted: Vec<&RssSample> = series.iter().collect();
        sorted.sort_by_key(|s| s.t_ms);
        let lifetimes = lifetimes(&sorted, warmup_ms);
        let judged: usize = lifetimes.iter().map(Vec::len).sum();
        let span: i64 = lifetimes
            .iter()
            .map(|l| match (l.first(), l.last()) {
                (Some(a), Some(b)) => b.t_ms.saturating_sub(a.t_ms),
                _ => 0,
            })
            .sum();
        let s = slope(&lifetimes);
        if let Some(s) = s {
            steepest = Some(steepest.map_or(s, |m| m.max(s)));
        }
        let mb = |s: Option<&&RssSample>| s.map(|s| num(s.bytes as f64 / BYTES_PER_MB));
        per_service.insert(
            service.clone(),
            json!({
                "slope-mb-per-hour": opt_num(s),
                "samples": judged,
                "lifetimes": lifetimes.len(),
                "span-ms": span,
                "first-mb": mb(sorted.first()),
                "last-mb": mb(sorted.last()),
            }),
        );
        if judged < MIN_RSS_SAMPLES || span < MIN_RSS_SPAN_MS {
            r.undecided(json!({
                "problem": "too few RSS samples to tell a leak",
                "service": service,
                "samples": judged,
                "span-ms": span,
                "needed-samples": MIN_RSS_SAMPLES,
                "needed-span-ms": MIN_RSS_SPAN_MS,
                "slope-mb-per-hour": opt_num(s),
            }));
            continue;
        }
        let Some(s) = s else {
            // Unreachable with a positive span, but never a silent pass.
            r.undecided(json!({ "problem": "no slope", "service": service }));
            continue;
        };
        if s > max {
            r.fail(json!({
                "problem": "RSS grows faster than allowed",
                "service": service,
                "slope-mb-per-hour": num(s),
                "max-mb-per-hour": num(max),
            }));
        }
    }
    if rss.is_empty() {
        r.undecided(json!({ "problem": "no RSS samples" }));
    }
    r.set("slope-mb-per-hour", opt_num(steepest));
    r.set("services", Value::Object(per_service));
    r
}

/// Time-sorted samples cut into process lifetimes (by start), each without
/// its first `warmup_ms`; a sample of unknown start is in the lifetime of
/// the unknown. Lifetimes left with no sample are dropped.
fn lifetimes<'a>(sorted: &[&'a RssSample], warmup_ms: i64) -> Vec<Vec<&'a RssSample>> {
    let mut by_start: BTreeMap<Option<i64>, Vec<&RssSample>> = BTreeMap::new();
    for s in sorted {
        let warm = s
            .started_ms
            .is_none_or(|start| s.t_ms.saturating_sub(start) >= warmup_ms);
        if warm {
            by_start.entry(s.started_ms).or_default().push(s);
        }
    }
    by_start.into_values().collect()
}

/// The slope of MB over hours within lifetimes; `None` if no lifetime's
/// times vary.
fn slope(lifetimes: &[Vec<&RssSample>]) -> Option<f64> {
    let groups: Vec<Vec<(f64, f64)>> = lifetimes
        .iter()
        .map(|l| {
            l.iter()
                .map(|s| (s.t_ms as f64 / MS_PER_HOUR, s.bytes as f64 / BYTES_PER_MB))
                .collect()
        })
        .collect();
    pooled_slope(&groups)
}
