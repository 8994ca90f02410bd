//! `gauntlet bench serve`: how fast the dashboard is, measured against a
//! real `gauntlet serve` process over loopback.
//!
//! 1. A store holds a long run: `samples` samples in each of four series
//!    (RSS, CPU, health latency, throughput), stages and faults.
//!    Its page is loaded cold (the run's poller reads every sample), then
//!    again and again (the poller reads only what is new): latency.
//! 2. A live run writes `events_per_second` samples a second into the
//!    store, in one batch a second as a run's own process does, while
//!    `clients` browsers' event streams watch its page. Each batch carries
//!    a sequence number the page's chart counts, so each client knows when
//!    it saw a batch: the lag from a batch's commit to each client's first
//!    report that includes it. The server's own CPU (from /proc) over the
//!    window.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet_store::{
    Measurement, NewFault, NewRun, NewStage, RunId, RunKind, Store, StoreError, now_ms,
};
use serde::Serialize;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The `gauntlet` binary that serves.
    pub gauntlet: PathBuf,
    /// Samples per series of the long run.
    pub samples: usize,
    /// Warm page loads.
    pub loads: usize,
    /// Event-stream clients.
    pub clients: usize,
    /// Samples the live run writes per second.
    pub events_per_second: usize,
    pub seconds: Duration,
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub samples_per_series: usize,
    pub series: usize,
    /// The first load of the long run's page (its poller reads everything).
    pub page_cold_ms: f64,
    pub page_median_ms: f64,
    pub page_p95_ms: f64,
    pub page_bytes: usize,
    pub list_median_ms: f64,
    pub clients: usize,
    pub events_per_second_written: f64,
    pub batches: u64,
    /// Report events delivered to all clients, per second.
    pub updates_per_second: f64,
    /// Megabytes of event stream delivered per second to all clients.
    pub stream_mb_per_second: f64,
    /// Batches every client saw.
    pub batches_seen_by_all: u64,
    /// From a batch's commit to a client's first report including it.
    pub lag_median_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// The dashboard process's CPU over the live window, percent of one core.
    pub server_cpu_percent: f64,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("bench: {0}")]
    Io(#[from] std::io::Error),
    #[error("bench: {0}")]
    Http(String),
}

/// The series the long run has, each `samples` long.
const SERIES: [(&str, &str, &str); 4] = [
    ("rss", "api", "bytes"),
    ("cpu", "api", "percent"),
    ("health_latency", "api", "ms"),
    ("throughput", "users", "ops/s"),
];

pub fn run(o: &BenchOptions) -> Result<BenchReport, BenchError> {
    let dir = tempfile::tempdir()?;
    let store = Store::open_dir(dir.path())?;
    let long = long_run(&store, o.samples)?;
    let live = new_run(&store, "live")?;
    let mut server = Serve::start(&o.gauntlet, dir.path())?;
    let base = server.url.clone();

    // 1. Page latency.
    let page = format!("/runs/{long}");
    let (cold, bytes) = timed_get(&base, &page)?;
    let mut warm = Vec::with_capacity(o.loads);
    for _ in 0..o.loads {
        warm.push(timed_get(&base, &page)?.0);
    }
    let mut list = Vec::new();
    for _ in 0..o.loads.min(20) {
        list.push(timed_get(&base, "/")?.0);
    }

    // 2. A live run under watch.
    let commits: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let updates = Arc::new(AtomicU64::new(0));
    let bytes_seen = Arc::new(AtomicU64::new(0));
    let lags: Arc<Mutex<Vec<f64>>> = Arc::default();
    let seen_by: Arc<Mutex<Vec<u64>>> = Arc::default();
    let watchers: Vec<_> = (0..o.clients)
        .map(|_| {
            let url = format!("{base}/runs/{live}/events");
            let (commits, stop, updates, bytes_seen, lags, seen_by) = (
                commits.clone(),
                stop.clone(),
                updates.clone(),
                bytes_seen.clone(),
                lags.clone(),
                seen_by.clone(),
            );
            std::thread::spawn(move || {
                watch(
                    &url,
                    &commits,
                    &stop,
                    &updates,
                    &bytes_seen,
                    &lags,
                    &seen_by,
                )
            })
        })
        .collect();
    // Let every client connect before the clock starts.
    std::thread::sleep(Duration::from_millis(1500));
    let cpu_before = server.cpu_seconds();
    let began = Instant::now();
    let updates_before = updates.load(Ordering::Relaxed);
    let bytes_before = bytes_seen.load(Ordering::Relaxed);
    let mut batch = 0u64;
    let per_series = (o.events_per_second / 20).max(1);
    while began.elapsed() < o.seconds {
        let t = now_ms();
        batch += 1;
        let mut rows = Vec::with_capacity(per_series * 20 + 1);
        for s in 0..20 {
            for i in 0..per_series {
                rows.push(sample(
                    "load",
                    &format!("s{s:02}"),
                    t - (per_series - i) as i64,
                    (batch * 7 + i as u64) as f64,
                ));
            }
        }
        rows.push(sample("bench", "batch", t, batch as f64));
        store.add_measurements(&live, &rows)?;
        commits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
        if batch.is_multiple_of(5) {
            store.record_fault(
                &live,
                &NewFault {
                    time: t,
                    kind: "pause".into(),
                    target: "api".into(),
                    value: serde_json::json!({}),
                },
            )?;
        }
        let next = began + Duration::from_secs(batch);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let writing = began.elapsed().as_secs_f64();
    // The last batch's reports arrive, then the clients stop.
    std::thread::sleep(Duration::from_secs(2));
    let window = began.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds() - cpu_before;
    let delivered = updates.load(Ordering::Relaxed) - updates_before;
    let delivered_bytes = bytes_seen.load(Ordering::Relaxed) - bytes_before;
    stop.store(true, Ordering::Relaxed);
    server.stop();
    for w in watchers {
        let _ = w.join();
    }
    let mut lags = std::mem::take(&mut *lags.lock().unwrap_or_else(|e| e.into_inner()));
    lags.sort_by(f64::total_cmp);
    let seen_by = seen_by.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(BenchReport {
        samples_per_series: o.samples,
        series: SERIES.len(),
        page_cold_ms: cold,
        page_median_ms: quantile(&mut warm, 0.5),
        page_p95_ms: quantile(&mut warm, 0.95),
        page_bytes: bytes,
        list_median_ms: quantile(&mut list, 0.5),
        clients: o.clients,
        events_per_second_written: (batch as f64 * (per_series * 20 + 1) as f64) / writing,
        batches: batch,
        updates_per_second: delivered as f64 / window,
        stream_mb_per_second: delivered_bytes as f64 / window / 1e6,
        batches_seen_by_all: seen_by.iter().copied().min().unwrap_or(0),
        lag_median_ms: quantile(&mut lags.clone(), 0.5),
        lag_p99_ms: quantile(&mut lags.clone(), 0.99),
        lag_max_ms: lags.last().copied().unwrap_or(f64::NAN),
        server_cpu_percent: cpu / window * 100.0,
    })
}

fn sample(kind: &str, subject: &str, time: i64, value: f64) -> Measurement {
    Measurement {
        stage: None,
        time,
        kind: kind.into(),
        subject: subject.into(),
        value,
        unit: "count".into(),
    }
}

fn new_run(store: &Store, name: &str) -> Result<RunId, StoreError> {
    let run = store.create_run_as(
        RunKind::Soak,
        &NewRun {
            plan_name: name.into(),
            plan_path: None,
            plan_text: String::new(),
            seed: 1,
            gauntlet_version: env!("CARGO_PKG_VERSION").into(),
            command_line: vec!["gauntlet".into(), "bench".into(), "serve".into()],
            stages: ["up", "soak", "calm", "readback"]
                .iter()
                .map(|s| NewStage::new(*s, "soak"))
                .collect(),
        },
    )?;
    store.start_stage(&run.id, "up")?;
    Ok(run.id)
}

/// A run of `samples` samples per series, one a second, as if it had run
/// that long.
fn long_run(store: &Store, samples: usize) -> Result<RunId, StoreError> {
    let id = new_run(store, "long")?;
    let t0 = now_ms() - samples as i64 * 1000;
    for (kind, subject, unit) in SERIES {
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..samples {
            let wave = ((i as f64) / 600.0).sin();
            batch.push(Measurement {
                stage: None,
                time: t0 + i as i64 * 1000,
                kind: kind.into(),
                subject: subject.into(),
                value: 100.0 + 50.0 * wave + (i % 7) as f64,
                unit: unit.into(),
            });
            if batch.len() == 10_000 {
                store.add_measurements(&id, &batch)?;
                batch.clear();
            }
        }
        store.add_measurements(&id, &batch)?;
    }
    for k in 0..20 {
        let f = store.record_fault(
            &id,
            &NewFault {
                time: t0 + k * samples as i64 * 50,
                kind: "partition".into(),
                target: "api".into(),
                value: serde_json::json!({}),
            },
        )?;
        store.heal_fault(&id, f, t0 + k * samples as i64 * 50 + 30_000)?;
    }
    Ok(id)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Milliseconds and bytes of one GET.
fn timed_get(base: &str, path: &str) -> Result<(f64, usize), BenchError> {
    let began = Instant::now();
    let mut res = agent()
        .get(&format!("{base}{path}"))
        .call()
        .map_err(|e| BenchError::Http(format!("GET {path}: {e}")))?;
    let body = res
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| BenchError::Http(format!("GET {path}: {e}")))?;
    Ok((began.elapsed().as_secs_f64() * 1e3, body.len()))
}

/// One client's event stream: counts report events and, for each batch a
/// report first includes, the lag since the batch's commit.
fn watch(
    url: &str,
    commits: &Mutex<Vec<Instant>>,
    stop: &AtomicBool,
    updates: &AtomicU64,
    bytes: &AtomicU64,
    lags: &Mutex<Vec<f64>>,
    seen_by: &Mutex<Vec<u64>>,
) {
    let Ok(res) = agent().get(url).call() else {
        seen_by.lock().unwrap_or_else(|e| e.into_inner()).push(0);
        return;
    };
    let mut lines = BufReader::new(res.into_body().into_reader()).lines();
    let mut event = String::new();
    let mut seen = 0u64;
    let mut mine = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Some(Ok(line)) = lines.next() else { break };
        bytes.fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_owned();
        } else if event == "report"
            && let Some(n) = batch_count(&line)
        {
            if n > seen {
                let now = Instant::now();
                let commits = commits.lock().unwrap_or_else(|e| e.into_inner());
                for b in seen + 1..=n {
                    if let Some(at) = commits.get(b as usize - 1) {
                        mine.push(now.duration_since(*at).as_secs_f64() * 1e3);
                    }
                }
                seen = n;
            }
        } else if line.is_empty() && event == "report" {
            updates.fetch_add(1, Ordering::Relaxed);
        }
    }
    lags.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
    seen_by.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
}

/// The batch count a report line shows: the samples of the `bench`
/// series' `batch` path.
fn batch_count(line: &str) -> Option<u64> {
    let at = line.find("data-subject=\"batch\" data-samples=\"")?;
    line[at + 35..].split('"').next()?.parse().ok()
}

/// A `gauntlet serve` child on a free loopback port.
struct Serve {
    child: Option<Child>,
    url: String,
}

impl Serve {
    fn start(gauntlet: &Path, store: &Path) -> Result<Serve, BenchError> {
        let mut child = Command::new(gauntlet)
            .args(["serve", "--listen", "127.0.0.1:0", "--store"])
            .arg(store)
            .env_remove("GAUNTLET_SERVE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut first = String::new();
        let err = child
            .stderr
            .take()
            .ok_or_else(|| BenchError::Http("no stderr".into()))?;
        BufReader::new(err).read_line(&mut first)?;
        let Some(at) = first.find("http://") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Http(format!(
                "gauntlet serve did not start: {first}"
            )));
        };
        let url = first[at..].split('/').take(3).collect::<Vec<_>>().join("/");
        Ok(Serve {
            child: Some(child),
            url,
        })
    }

    /// User + system CPU of the server so far.
    fn cpu_seconds(&self) -> f64 {
        let Some(child) = &self.child else { return 0.0 };
        std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
            .ok()
            .and_then(|l| gauntlet_observe::resources::parse_stat(&l))
            .map_or(0.0, |s| {
                (s.utime + s.stime) as f64
                    / gauntlet_observe::resources::clock_ticks_per_second() as f64
            })
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: it ends as on Ctrl-C.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let began = Instant::now();
            while began.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}
