//! Events per second, for the user-throughput chart of the report.

use std::collections::BTreeMap;

/// Buckets `events_ms` (times in ms, any order) into `bucket_ms`-wide
/// buckets and returns `(bucket start ms, events per second)` for every
/// bucket from the first event's to the last one's. Empty buckets in
/// between are present with 0, so a chart shows an outage as a drop rather
/// than drawing a line across it. `bucket_ms <= 0` or no events: empty.
pub fn per_second(events_ms: &[i64], bucket_ms: i64) -> Vec<(i64, f64)> {
    if bucket_ms <= 0 {
        return Vec::new();
    }
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for &t in events_ms {
        *counts.entry(t.div_euclid(bucket_ms)).or_default() += 1;
    }
    let (Some((&first, _)), Some((&last, _))) = (counts.first_key_value(), counts.last_key_value())
    else {
        return Vec::new();
    };
    let scale = 1000.0 / bucket_ms as f64;
    (first..=last)
        .map(|b| {
            let n = counts.get(&b).copied().unwrap_or(0);
            (b.saturating_mul(bucket_ms), n as f64 * scale)
        })
        .collect()
}
