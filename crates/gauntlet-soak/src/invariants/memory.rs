//! I2: no service's memory keeps growing.

use std::collections::BTreeMap;

use gauntlet_check::CheckResult;
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

/// I2: per service, the least-squares slope of RSS over time, in MB per
/// hour (MB = 10^6 bytes), is at most `rss_slope_max_mb_per_hour`.
///
/// Unknown for a service with fewer than [`MIN_RSS_SAMPLES`] samples or
/// spanning under [`MIN_RSS_SPAN_MS`]; its slope is still reported. All
/// samples count, including those after STOP: the time base is the
/// runtime's, and cutting at `duration_ms` would drop real data if it
/// differed. `duration_ms` is reported as `soak-ms`; a soak shorter than an
/// hour extrapolates its slope, which the figure `extrapolated` says.
///
/// Figures: `slope-mb-per-hour` (steepest service, judged or not), `max-mb-per-hour`,
/// `mb` (the unit), `soak-ms`, `extrapolated`, and `services` with
/// `slope-mb-per-hour`, `samples`, `span-ms`, `first-mb`, `last-mb`.
pub fn i2_memory(
    rss: &BTreeMap<String, Vec<RssSample>>,
    spec: &InvariantSpec,
    duration_ms: i64,
) -> CheckResult {
    let max = spec.rss_slope_max_mb_per_hour;
    let mut r = CheckResult::new(I2)
        .with("max-mb-per-hour", num(max))
        .with("mb", "10^6 bytes")
        .with("soak-ms", duration_ms)
        .with("extrapolated", duration_ms < MS_PER_HOUR as i64);
    let mut per_service = Map::new();
    let mut steepest: Option<f64> = None;
    for (service, series) in rss {
        let mut series: Vec<&RssSample> = series.iter().collect();
        series.sort_by_key(|s| s.t_ms);
        let span = match (series.first(), series.last()) {
            (Some(a), Some(b)) => b.t_ms.saturating_sub(a.t_ms),
            _ => 0,
        };
        let s = slope(&series);
        if let Some(s) = s {
            steepest = Some(steepest.map_or(s, |m| m.max(s)));
        }
        let mb = |s: Option<&&RssSample>| s.map(|s| num(s.bytes as f64 / BYTES_PER_MB));
        per_service.insert(
            service.clone(),
            json!({
                "slope-mb-per-hour": opt_num(s),
                "samples": series.len(),
                "span-ms": span,
                "first-mb": mb(series.first()),
                "last-mb": mb(series.last()),
            }),
        );
        if series.len() < MIN_RSS_SAMPLES || span < MIN_RSS_SPAN_MS {
            r.undecided(json!({
                "problem": "too few RSS samples to tell a leak",
                "service": service,
                "samples": series.len(),
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

/// Least-squares slope of MB over hours; `None` if the times do not vary.
fn slope(series: &[&RssSample]) -> Option<f64> {
    gauntlet_check::figures::least_squares_slope(
        series
            .iter()
            .map(|s| (s.t_ms as f64 / MS_PER_HOUR, s.bytes as f64 / BYTES_PER_MB)),
    )
}
