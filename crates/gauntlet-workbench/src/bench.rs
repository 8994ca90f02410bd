//! `gauntlet bench router`: messages per second routed between real node
//! processes, and Gauntlet's own CPU time per message.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use crate::config::TestConfig;
use crate::run::{Run, RunError};

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

pub async fn bench_router(b: RouterBench) -> Result<RouterBenchReport, RunError> {
    let scratch = tempfile::tempdir().map_err(|source| RunError::Io {
        context: "creating a scratch directory".into(),
        source,
    })?;
    let mut cfg = TestConfig::new("echo", &b.program);
    cfg.args = b.args.clone();
    cfg.node_count = b.nodes;
    cfg.rate = 0.0;
    cfg.concurrency = 1;
    cfg.store = scratch.path().to_owned();
    cfg.validate()?;
    let dir = crate::store::create_run_dir(&cfg.store, "bench").map_err(|source| RunError::Io {
        context: "creating the bench run directory".into(),
        source,
    })?;
    let (_tx, cancel) = watch::channel(false);
    let run = Run::new(cfg, dir, gauntlet_events::Events::none(), cancel)?;
    let result = async {
        run.setup().await?;
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
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
