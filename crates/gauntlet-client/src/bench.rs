//! `gauntlet bench client`: operations per second through the client
//! protocol, `clients` workers each with its own client program, for a
//! while. The program is the caller's (a trivial in-memory one measures
//! the protocol and gauntlet, not a system). Gauntlet's own CPU per op is
//! the caller's to read around the call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gauntlet_node::{Backend, NodeSpec};
use serde::Serialize;
use serde_json::json;

use crate::protocol::{Outcome, request};
use crate::{Problems, ProgramClient};

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub clients: usize,
    pub seconds: f64,
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub ops_per_sec: f64,
}

/// Runs `clients` workers against `spec` for `duration`: reads, writes
/// and compare-and-sets over 100 keys, one op at a time per worker, as
/// fast as answers come.
pub async fn run(
    backend: Arc<dyn Backend>,
    spec: NodeSpec,
    clients: usize,
    duration: Duration,
) -> BenchReport {
    let problems = Arc::new(Problems::default());
    let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let mut client = ProgramClient::new(
            worker,
            backend.clone(),
            spec.clone(),
            Duration::from_secs(5),
            problems.clone(),
        );
        let counts = counts.clone();
        tasks.push(tokio::spawn(async move {
            let mut n: u64 = worker as u64;
            while Instant::now() < deadline {
                n += 1;
                let key = json!(format!("k{}", n % 100));
                let line = match n % 3 {
                    0 => request("read", Some(&key), None),
                    1 => request("write", Some(&key), Some(&json!(n % 5))),
                    _ => request("cas", Some(&key), Some(&json!([n % 5, (n + 1) % 5]))),
                };
                let slot = match client.invoke(&line).await {
                    Outcome::Ok { .. } => 0,
                    Outcome::Fail { .. } => 1,
                    Outcome::Info { .. } => 2,
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let [ok, fail, info] = [0, 1, 2].map(|i| counts[i].load(Ordering::Relaxed));
    let ops = ok + fail + info;
    BenchReport {
        clients,
        seconds,
        ops,
        ok,
        fail,
        info,
        ops_per_sec: ops as f64 / seconds,
    }
}
