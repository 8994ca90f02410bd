//! `/metrics`: the store as Prometheus sees it, in the OpenMetrics text
//! format (prometheus-client's encoder).
//!
//! Each scrape reads what is new since the last one: the samples of the
//! running runs after a cursor (so health-latency histograms and op
//! counters accumulate without reading a run twice), plus the small tables
//! (runs by state, active faults, checks). Label values are bounded: at
//! most [`MAX_RUNS`] running runs get per-service series and the newest
//! [`RECENT_RUNS`] runs their checks; services, op functions and fault
//! kinds are a plan's own (op functions are capped by the run itself).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gauntlet_check::Validity;
use gauntlet_store::{RunFilter, RunId, RunState, Store, StoreError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::App;

/// Running runs with per-service series.
pub const MAX_RUNS: usize = 16;
/// Runs (of any state) whose checks are shown.
pub const RECENT_RUNS: usize = 8;
/// Services (or op series) of one run with series of their own.
pub const MAX_SUBJECTS: usize = 64;

/// Upper bounds of the health-latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What earlier scrapes read of each running run.
#[derive(Default)]
pub(crate) struct Metrics {
    runs: Mutex<HashMap<RunId, Seen>>,
}

#[derive(Debug, Default, Clone)]
struct Seen {
    cursor: i64,
    /// The last value of each (kind, subject).
    last: BTreeMap<(String, String), f64>,
    health: BTreeMap<String, Histogram>,
}

#[derive(Debug, Clone)]
struct Histogram {
    /// Per bucket, then the +Inf bucket.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: [0; BUCKETS.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

/// One scrape's view, encoded by prometheus-client.
#[derive(Debug, Default)]
struct Snapshot {
    by_state: Vec<(String, u64)>,
    /// run, kind, plan, state.
    info: Vec<[String; 4]>,
    /// run, service, value.
    rss: Vec<(String, String, f64)>,
    cpu: Vec<(String, String, f64)>,
    health: Vec<(String, String, Histogram)>,
    /// run, type, f, count.
    ops: Vec<(String, String, String, f64)>,
    /// run, kind, how many.
    faults: Vec<(String, String, u64)>,
    /// run, check, status.
    checks: Vec<(String, String, &'static str)>,
}

pub(crate) async fn scrape(State(app): State<Arc<App>>) -> Response {
    let app2 = app.clone();
    let snapshot = app.stores.with(move |store| app2.metrics.read(store)).await;
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the store could not be read: {e}\n"),
            )
                .into_response();
        }
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding failed: {e}\n"),
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

impl Metrics {
    fn read(&self, store: &Store) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot {
            by_state: store
                .runs_by_state()?
                .into_iter()
                .map(|(s, n)| (s.as_str().to_owned(), n))
                .collect(),
            ..Snapshot::default()
        };
        let running = store.runs(&RunFilter {
            state: Some(RunState::Running),
            limit: Some(MAX_RUNS),
            ..RunFilter::default()
        })?;
        let recent = store.runs(&RunFilter {
            limit: Some(RECENT_RUNS),
            ..RunFilter::default()
        })?;
        let mut seen = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        // A run that stopped running is forgotten: its services are gone.
        seen.retain(|id, _| running.iter().any(|r| &r.id == id));
        for run in &running {
            let s = seen.entry(run.id.clone()).or_default();
            loop {
                let batch = store.samples_after(&run.id, s.cursor, 100_000)?;
                s.cursor = batch.cursor;
                let more = batch.samples.len() == 100_000;
                for (i, _, value) in batch.samples {
                    let key = &batch.series[i];
                    if !value.is_finite() {
                        continue;
                    }
                    if key.kind == "health_latency" {
                        if s.health.len() < MAX_SUBJECTS || s.health.contains_key(&key.subject) {
                            s.health
                                .entry(key.subject.clone())
                                .or_default()
                                .observe(value / 1000.0);
                        }
                    } else if matches!(key.kind.as_str(), "rss" | "cpu" | "ops") {
                        let series = (key.kind.clone(), key.subject.clone());
                        if s.last.len() < 3 * MAX_SUBJECTS || s.last.contains_key(&series) {
                            s.last.insert(series, value);
                        }
                    }
                }
                if !more {
                    break;
                }
            }
            let id = run.id.as_str().to_owned();
            for ((kind, subject), v) in &s.last {
                match kind.as_str() {
                    "rss" => snap.rss.push((id.clone(), subject.clone(), *v)),
                    "cpu" => snap.cpu.push((id.clone(), subject.clone(), *v)),
                    _ => {
                        let (t, f) = subject.split_once(' ').unwrap_or((subject, ""));
                        snap.ops.push((id.clone(), t.to_owned(), f.to_owned(), *v));
                    }
                }
            }
            for (service, h) in &s.health {
                snap.health.push((id.clone(), service.clone(), h.clone()));
            }
            let mut active: BTreeMap<String, u64> = BTreeMap::new();
            for f in store.faults(&run.id)? {
                if f.healed_at.is_none() {
                    *active.entry(f.kind).or_default() += 1;
                }
            }
            snap.faults
                .extend(active.into_iter().map(|(k, n)| (id.clone(), k, n)));
        }
        let mut shown: Vec<&gauntlet_store::Run> = running.iter().collect();
        for r in &recent {
            if !shown.iter().any(|s| s.id == r.id) {
                shown.push(r);
            }
        }
        for run in shown {
            let id = run.id.as_str().to_owned();
            snap.info.push([
                id.clone(),
                run.kind.as_str().to_owned(),
                run.plan_name.clone(),
                crate::runs_page::shown_state(run).to_owned(),
            ]);
            for v in store.verdicts(&run.id)?.into_iter().take(MAX_SUBJECTS) {
                let status = match v.valid {
                    Validity::Valid => "valid",
                    Validity::Invalid => "invalid",
                    Validity::Unknown => "unknown",
                };
                snap.checks.push((id.clone(), v.checker, status));
            }
        }
        Ok(snap)
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            let mut m = enc.encode_descriptor(
                "gauntlet_runs",
                "Runs in the store, by state.",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in &self.by_state {
                m.encode_family(&[("state", state.as_str())])?
                    .encode_gauge(&(*n as i64))?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "gauntlet_run_info",
                "The running runs and the newest others: kind, plan and state.",
                None,
                MetricType::Gauge,
            )?;
            for [run, kind, plan, state] in &self.info {
                let labels = [
                    ("run", run.as_str()),
                    ("kind", kind),
                    ("plan", plan),
                    ("state", state),
                ];
                m.encode_family(&labels)?.encode_gauge(&1i64)?;
            }
        }
        for (name, help, rows) in [
            (
                "gauntlet_service_rss_bytes",
                "A running run's service: resident memory at its last sample.",
                &self.rss,
            ),
            (
                "gauntlet_service_cpu_percent",
                "A running run's service: CPU at its last sample, percent of one core.",
                &self.cpu,
            ),
        ] {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (run, service, v) in rows {
                m.encode_family(&[("run", run.as_str()), ("service", service)])?
                    .encode_gauge(v)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "gauntlet_health_latency_seconds",
                "A running run's service: health-check latency, every check since the run started.",
                None,
                MetricType::Histogram,
            )?;
            for (run, service, h) in &self.health {
                let mut buckets: Vec<(f64, u64)> = BUCKETS.iter().copied().zip(h.counts).collect();
                buckets.push((f64::INFINITY, h.counts[BUCKETS.len()]));
                m.encode_family(&[("run", run.as_str()), ("service", service)])?
                    .encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "gauntlet_ops",
                "A running run's operations so far, by type (ok, fail, info) and function.",
                None,
                MetricType::Counter,
            )?;
            for (run, kind, f, v) in &self.ops {
                m.encode_family(&[("run", run.as_str()), ("type", kind), ("f", f)])?
                    .encode_counter::<NoLabelSet, _, f64>(&(*v as u64), None)?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "gauntlet_active_faults",
                "A running run's faults injected and not yet healed, by kind.",
                None,
                MetricType::Gauge,
            )?;
            for (run, kind, n) in &self.faults {
                m.encode_family(&[("run", run.as_str()), ("kind", kind)])?
                    .encode_gauge(&(*n as i64))?;
            }
        }
        {
            let mut m = enc.encode_descriptor(
                "gauntlet_check",
                "Each check or invariant of the running and newest runs: 1 with its status (valid, invalid, unknown).",
                None,
                MetricType::Gauge,
            )?;
            for (run, check, status) in &self.checks {
                m.encode_family(&[("run", run.as_str()), ("check", check), ("status", status)])?
                    .encode_gauge(&1i64)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_value_in_its_bucket() {
        let mut h = Histogram::default();
        for v in [0.0001, 0.003, 0.003, 20.0] {
            h.observe(v);
        }
        assert_eq!(h.count, 4);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[3], 2, "0.003 s is in the 5 ms bucket");
        assert_eq!(h.counts[BUCKETS.len()], 1, "beyond 10 s: +Inf");
    }
}
