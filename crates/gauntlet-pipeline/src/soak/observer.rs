//! The observer: every interval, a health probe per service, user
//! throughput, threads and open files per service, and new log lines
//! matched against the plan's patterns. Memory stays flat: samples go to
//! the store; only the health samples the invariants need stay in memory
//! (one small record per probe).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gauntlet_plan::Plan;
use gauntlet_soak::invariants::HealthSample;
use tokio::sync::{Mutex, watch};

use super::users::UserStats;
use crate::health::probe_round;
use crate::supervisor::{Nodes, Samples, Supervisor};

pub(crate) struct Observation {
    pub health: BTreeMap<String, Vec<HealthSample>>,
    /// Pattern → service → count.
    pub log_matches: BTreeMap<String, BTreeMap<String, u64>>,
}

pub(crate) struct ObserverContext {
    pub plan: Arc<Plan>,
    pub supervisor: Arc<Mutex<Supervisor>>,
    pub nodes: Nodes,
    pub samples: Samples,
    pub stats: Arc<UserStats>,
    pub started: Instant,
    pub interval: Duration,
    pub patterns: Vec<String>,
    pub log_dir: PathBuf,
}

pub(crate) async fn observe(cx: ObserverContext, mut stop: watch::Receiver<bool>) -> Observation {
    let mut health: BTreeMap<String, Vec<HealthSample>> = BTreeMap::new();
    let mut log_matches: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut log_offsets: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_successes = 0u64;
    let mut last_tick = Instant::now();
    let mut looks = 0u64;
    let mut tick = tokio::time::interval(cx.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let t_ms = cx.started.elapsed().as_millis() as i64;
        for (name, outcome) in probe_round(&cx.plan, None, Some(&cx.samples), &cx.nodes).await {
            health.entry(name).or_default().push(HealthSample {
                t_ms,
                healthy: outcome.healthy,
                latency_ms: outcome
                    .healthy
                    .then_some(outcome.latency.as_secs_f64() * 1000.0),
            });
        }
        // Throughput: acknowledged user operations per second.
        let successes = cx.stats.successes.load(Ordering::Relaxed);
        let elapsed = last_tick.elapsed().as_secs_f64().max(1e-3);
        cx.samples.push(
            "throughput",
            "users",
            (successes - last_successes) as f64 / elapsed,
            "ops/s",
        );
        last_successes = successes;
        last_tick = Instant::now();
        // Threads and open files every tenth look (they change slowly, and
        // finding a group's processes means reading all of /proc), when the
        // supervisor is not busy (re)starting something.
        looks += 1;
        if looks % 10 == 1
            && let Ok(sup) = cx.supervisor.try_lock()
        {
            for name in sup.running() {
                let members = sup.member_pids(&name);
                // A node that runs elsewhere (a container on a remote
                // engine) has no processes here to count.
                if !members.is_empty() {
                    let (threads, fds) = threads_and_files(&members);
                    cx.samples.push("threads", &name, threads as f64, "count");
                    cx.samples.push("open_files", &name, fds as f64, "count");
                }
            }
        }
        scrape_logs(&cx, &mut log_offsets, &mut log_matches);
    }
    scrape_logs(&cx, &mut log_offsets, &mut log_matches);
    Observation {
        health,
        log_matches,
    }
}

fn threads_and_files(members: &[u32]) -> (usize, usize) {
    let mut threads = 0;
    let mut fds = 0;
    for pid in members {
        threads += std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
        fds += std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    }
    (threads, fds)
}

/// Counts pattern matches in what each service logged since the last look.
fn scrape_logs(
    cx: &ObserverContext,
    offsets: &mut BTreeMap<String, u64>,
    matches: &mut BTreeMap<String, BTreeMap<String, u64>>,
) {
    if cx.patterns.is_empty() {
        return;
    }
    for service in &cx.plan.services {
        let path = cx.log_dir.join(format!("{}.log", service.name));
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        let from = offsets.get(&service.name).copied().unwrap_or(0);
        if file.seek(SeekFrom::Start(from)).is_err() {
            continue;
        }
        let mut fresh = Vec::new();
        // At most 4 MiB per look, so a chatty service cannot stall the observer.
        let Ok(n) = file.by_ref().take(4 << 20).read_to_end(&mut fresh) else {
            continue;
        };
        // Only whole lines; a partial last line is read next time.
        let whole = fresh.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        offsets.insert(service.name.clone(), from + whole as u64);
        let _ = n;
        let text = String::from_utf8_lossy(&fresh[..whole]);
        for pattern in &cx.patterns {
            let count = text
                .lines()
                .filter(|l| l.contains(pattern.as_str()))
                .count() as u64;
            if count > 0 {
                *matches
                    .entry(pattern.clone())
                    .or_default()
                    .entry(service.name.clone())
                    .or_default() += count;
            }
        }
    }
}
