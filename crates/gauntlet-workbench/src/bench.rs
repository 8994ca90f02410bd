//! `gauntlet bench router`: messages per second routed between real node
//! processes, and Gauntlet's own CPU time per message. `gauntlet bench
//! flood`: Gauntlet's own memory while every node floods the network and
//! none reads.

use gauntlet_node::self_rss_bytes;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use crate::config::TestConfig;
use crate::run::{Run, RunError, SetupEnd};

/// A flood: every node injects `tokens_per_node` tokens that each node
/// forwards at once to another, so the network never runs dry and the
/// figure is the router's ceiling with real processes on the other side.
#[derive(Debug, Clone)]
pub struct RouterBench {
    /// A node program that answers `flood` and forwards `token`s
    /// (the bundled `node-flood`).
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub nodes: usize,
    pub duration: Duration,
    pub tokens_per_node: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RouterBenchReport {
    pub nodes: usize,
    /// Node-to-node messages routed during the measurement.
    pub messages: u64,
    pub seconds: f64,
    pub messages_per_sec: f64,
    /// Gauntlet's user + system CPU time (all its threads, the journal
    /// writer included) divided by the messages routed.
    pub cpu_us_per_message: f64,
    pub gauntlet_cpu_seconds: f64,
}

/// A run of `nodes` copies of `program` with no clients and no faults,
/// set up (init answered) in a scratch store that lives as long as the
/// returned directory: what every network bench floods. The run's cancel
/// sender comes along so that it stays open as long as the run.
async fn bench_run(
    program: &std::path::Path,
    args: &[OsString],
    nodes: usize,
) -> Result<(Run, tempfile::TempDir, watch::Sender<bool>), RunError> {
    let scratch = tempfile::tempdir().map_err(|source| RunError::Io {
        context: "creating a scratch directory".into(),
        source,
    })?;
    let mut cfg = TestConfig::new("echo", program);
    cfg.args = args.to_vec();
    cfg.node_count = nodes;
    cfg.rate = 0.0;
    cfg.concurrency = 1;
    cfg.store = scratch.path().to_owned();
    cfg.validate()?;
    let dir = crate::store::create_run_dir(&cfg.store, "bench").map_err(|source| RunError::Io {
        context: "creating the bench run directory".into(),
        source,
    })?;
    let (keep_open, cancel) = watch::channel(false);
    let run = Run::new(cfg, dir, gauntlet_events::Events::none(), cancel)?;
    match run.setup().await {
        Ok(SetupEnd::Interrupted) => {
            run.shutdown().await;
            Err(RunError::Setup {
                message: "interrupted while the nodes were set up".into(),
                dir: None,
            })
        }
        Ok(_) => Ok((run, scratch, keep_open)),
        Err(e) => {
            run.shutdown().await;
            Err(e)
        }
    }
}

pub async fn bench_router(b: RouterBench) -> Result<RouterBenchReport, RunError> {
    let (run, _scratch, _cancel) = bench_run(&b.program, &b.args, b.nodes).await?;
    let result = async {
        let flood = json!({"type": "flood", "tokens": b.tokens_per_node});
        for i in 0..b.nodes {
            let reply = run.call_as_init_client(i, flood.clone()).await;
            if reply.as_ref().and_then(|r| r["type"].as_str()) != Some("flood_ok") {
                return Err(RunError::Setup {
                    message: format!("node n{i} did not answer flood with flood_ok: {reply:?}"),
                    dir: None,
                });
            }
        }
        // Let the flood reach a steady state before measuring.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (m0, c0, t0) = (run.server_messages(), cpu_seconds(), Instant::now());
        tokio::time::sleep(b.duration).await;
        let (m1, c1, t1) = (run.server_messages(), cpu_seconds(), Instant::now());
        let messages = m1 - m0;
        let seconds = (t1 - t0).as_secs_f64();
        let cpu = c1 - c0;
        Ok(RouterBenchReport {
            nodes: b.nodes,
            messages,
            seconds,
            messages_per_sec: messages as f64 / seconds,
            cpu_us_per_message: if messages == 0 {
                f64::NAN
            } else {
                cpu * 1e6 / messages as f64
            },
            gauntlet_cpu_seconds: cpu,
        })
    }
    .await;
    run.shutdown().await;
    result
}

/// This process's user + system CPU seconds so far.
fn cpu_seconds() -> f64 {
    gauntlet_node::self_cpu_time().as_secs_f64()
}

/// A firehose: every node prints tokens to the others as fast as it can and
/// never reads its stdin, so every inbox fills and nothing drains. What is
/// measured is Gauntlet's own resident memory meanwhile.
#[derive(Debug, Clone)]
pub struct FloodBench {
    /// A node program that answers `firehose` and then floods (the bundled
    /// `node-flood`).
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub nodes: usize,
    pub duration: Duration,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FloodBenchReport {
    pub nodes: usize,
    pub seconds: f64,
    /// Messages the nodes sent during the flood (routed or dropped).
    pub messages: u64,
    pub messages_per_sec: f64,
    /// Of those, dropped because an inbox or the network was full.
    pub dropped_inbox_full: u64,
    /// Times the nodes' stdout was not read while the journal caught up,
    /// and for how long in all.
    pub journal_holds: u64,
    pub journal_held_seconds: f64,
    /// Gauntlet's resident memory right before the flood, its peak during
    /// it (sampled every 50 ms) and at its end, in MiB.
    pub rss_start_mib: f64,
    pub rss_peak_mib: f64,
    pub rss_end_mib: f64,
    /// The size of `messages.jsonl` at the flood's end, in MiB.
    pub journal_mib: f64,
}

pub async fn bench_flood(b: FloodBench) -> Result<FloodBenchReport, RunError> {
    let (run, _scratch, _cancel) = bench_run(&b.program, &b.args, b.nodes).await?;
    let result = async {
        let rss_start = self_rss_bytes().unwrap_or(0);
        let sampler = RssSampler::start(Duration::from_millis(50));
        let (m0, d0, h0, t0) = (
            run.server_messages(),
            run.dropped_inbox_full(),
            run.journal_holds(),
            Instant::now(),
        );
        for i in 0..b.nodes {
            let reply = run
                .call_as_init_client(i, json!({"type": "firehose"}))
                .await;
            if reply.as_ref().and_then(|r| r["type"].as_str()) != Some("firehose_ok") {
                return Err(RunError::Setup {
                    message: format!(
                        "node n{i} did not answer firehose with firehose_ok: {reply:?}"
                    ),
                    dir: None,
                });
            }
        }
        tokio::time::sleep(b.duration.saturating_sub(t0.elapsed())).await;
        let (m1, d1, h1, t1) = (
            run.server_messages(),
            run.dropped_inbox_full(),
            run.journal_holds(),
            Instant::now(),
        );
        let samples = sampler.stop();
        let messages = m1 - m0;
        let seconds = (t1 - t0).as_secs_f64();
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        Ok(FloodBenchReport {
            nodes: b.nodes,
            seconds,
            messages,
            messages_per_sec: messages as f64 / seconds,
            dropped_inbox_full: d1 - d0,
            journal_holds: h1.count - h0.count,
            journal_held_seconds: (h1.total - h0.total).as_secs_f64(),
            rss_start_mib: mib(rss_start),
            rss_peak_mib: mib(samples.iter().copied().max().unwrap_or(rss_start)),
            rss_end_mib: mib(samples.last().copied().unwrap_or(rss_start)),
            journal_mib: mib(
                std::fs::metadata(run.dir.join("messages.jsonl")).map_or(0, |m| m.len())
            ),
        })
    }
    .await;
    run.shutdown().await;
    result
}

/// Samples this process's resident memory on a thread of its own, so a
/// busy runtime does not skip samples.
struct RssSampler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    fn start(every: Duration) -> RssSampler {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            loop {
                samples.extend(self_rss_bytes());
                match stopped.recv_timeout(every) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return samples,
                }
            }
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling; the samples in order, the last one taken now.
    fn stop(self) -> Vec<u64> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}
