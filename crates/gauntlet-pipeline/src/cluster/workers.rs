//! The clients of a cluster test: one worker per unit of concurrency, each
//! with its own client program, handed operations by one dispatcher at the
//! workload's rate. Every call becomes an invoke and a completion through
//! the run's [`Recorder`], under the worker's Jepsen process number: a new
//! one after every indeterminate outcome, as Jepsen gives a client that
//! may still have an operation in flight a new process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet_client::ProgramClient;
use gauntlet_client::protocol::{self, Outcome as Answer};
use gauntlet_history::{Op, Recorder};
use gauntlet_workload::{Outcome, Request, Workload};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::supervisor::Samples;

/// The workload, shared by the dispatcher (which draws the ops) and the
/// workers (which judge the answers by it).
pub(crate) type SharedWorkload = Arc<Mutex<Box<dyn Workload>>>;

fn lock(w: &SharedWorkload) -> std::sync::MutexGuard<'_, Box<dyn Workload>> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

/// A client answer `ok` as the reply the workload judges: its closed
/// schema then checks what the client said (a read's value there, a
/// transaction answered micro-op by micro-op), as it checks a Maelstrom
/// node's replies.
fn as_reply(f: &str, value: Value) -> Value {
    match f {
        "txn" => json!({"type": "txn_ok", "txn": value}),
        "read" => json!({"type": "read_ok", "value": value}),
        other => json!({"type": format!("{other}_ok")}),
    }
}

/// How long the operations that ended since the last look took, in ms.
#[derive(Debug, Default)]
pub(crate) struct Latencies(Mutex<Vec<f64>>);

impl Latencies {
    fn add(&self, ms: f64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(ms);
    }

    /// The median and the 99th percentile of what was added since the
    /// last call, which starts afresh.
    pub fn take_quantiles(&self) -> Option<(f64, f64)> {
        let mut all = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        if all.is_empty() {
            return None;
        }
        all.sort_by(f64::total_cmp);
        let at = |q: f64| all[((all.len() - 1) as f64 * q).round() as usize];
        Some((at(0.5), at(0.99)))
    }
}

/// One worker: its client and its process number.
pub(crate) struct Worker {
    pub id: usize,
    pub process: u64,
    pub concurrency: u64,
    pub client: ProgramClient,
    pub recorder: Recorder,
    pub workload: SharedWorkload,
    pub latencies: Arc<Latencies>,
}

impl Worker {
    /// Performs the ops it is handed until the dispatcher hangs up,
    /// telling `free` after each one.
    pub async fn run(
        mut self,
        mut ops: mpsc::UnboundedReceiver<Request>,
        free: mpsc::UnboundedSender<usize>,
    ) {
        while let Some(req) = ops.recv().await {
            self.perform(&req).await;
            if free.send(self.id).is_err() {
                break;
            }
        }
    }

    async fn perform(&mut self, req: &Request) {
        let mut invoke = Op::invoke(self.process, req.f, req.value.clone());
        invoke.key = req.key.clone();
        invoke.is_final = req.is_final;
        let invoke = self.recorder.record(invoke);
        let value = (!req.value.is_null()).then_some(&req.value);
        let line = protocol::request(req.f, req.key.as_ref(), value);
        let began = Instant::now();
        let answer = self.client.invoke(&line).await;
        self.latencies.add(began.elapsed().as_secs_f64() * 1000.0);
        let outcome = match answer {
            Answer::Ok { value } => lock(&self.workload).complete(req, &as_reply(req.f, value)),
            Answer::Fail { error } => Outcome::Fail(error),
            Answer::Info { error, .. } => Outcome::Info(error),
        };
        if outcome.is_indeterminate() {
            self.process += self.concurrency;
        }
        self.recorder.record(outcome.completion(&invoke));
    }
}

/// Throughput (ops ended each second, by how they ended: `counts` holds
/// ok, fail, info) and latency (median, 99th percentile) each second as
/// the run's measurements, which the report charts with the fault windows
/// shaded; until the returned sender says stop (or is dropped).
pub(crate) fn pace(
    samples: Samples,
    counts: Arc<[AtomicU64; 3]>,
    latencies: Arc<Latencies>,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut last = [0u64; 3];
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
            for (i, subject) in ["ok", "fail", "info"].into_iter().enumerate() {
                let now = counts[i].load(Ordering::Relaxed);
                samples.push("throughput", subject, (now - last[i]) as f64, "ops/s");
                last[i] = now;
            }
            if let Some((p50, p99)) = latencies.take_quantiles() {
                samples.push("latency", "p50", p50, "ms");
                samples.push("latency", "p99", p99, "ms");
            }
        }
    });
    (stop, task)
}

/// How the main phase ended.
pub(crate) struct MainPhase {
    /// Ops handed out.
    pub dispatched: u64,
    pub interrupted: bool,
}

/// Hands the workload's ops to free workers at `rate` per second (gaps
/// drawn uniformly from `[0, 2/rate)`, as Jepsen's stagger, from the
/// run's seed) until `until` or a Ctrl-C, then waits until every worker
/// is free again (each op ends within the client's time limit).
pub(crate) async fn dispatch(
    workload: &SharedWorkload,
    workers: &[mpsc::UnboundedSender<Request>],
    free: &mut mpsc::UnboundedReceiver<usize>,
    rate: f64,
    until: Instant,
    seed: u64,
    cancel: &mut watch::Receiver<bool>,
) -> MainPhase {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mean_gap = 1.0 / rate.max(1e-6);
    let mut idle: Vec<usize> = (0..workers.len()).rev().collect();
    let mut dispatched = 0;
    let mut interrupted = false;
    let mut next_at = Instant::now();
    'main: loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_at.into()) => {}
            _ = crate::driver::cancelled(cancel) => { interrupted = true; break 'main; }
        }
        if Instant::now() >= until {
            break;
        }
        let worker = loop {
            if let Some(w) = idle.pop() {
                break w;
            }
            tokio::select! {
                w = free.recv() => match w {
                    Some(w) => idle.push(w),
                    None => break 'main,
                },
                _ = tokio::time::sleep_until(until.into()) => break 'main,
                _ = crate::driver::cancelled(cancel) => { interrupted = true; break 'main; }
            }
        };
        let req = lock(workload).next(&mut rng);
        if workers[worker].send(req).is_err() {
            break;
        }
        dispatched += 1;
        let gap = rng.random_range(0.0..2.0 * mean_gap);
        next_at += Duration::from_secs_f64(gap);
    }
    // In-flight ops end within the client's time limit; a Ctrl-C does not
    // wait for them (their invokes stay open: indeterminate, as they are).
    while idle.len() < workers.len() && !interrupted {
        tokio::select! {
            w = free.recv() => match w { Some(w) => idle.push(w), None => break },
            _ = crate::driver::cancelled(cancel) => interrupted = true,
        }
    }
    MainPhase {
        dispatched,
        interrupted,
    }
}

/// The final phase's ops: each worker performs every final request once
/// (a read of every active key). Returns whether a Ctrl-C cut it short.
pub(crate) async fn finals(
    workload: &SharedWorkload,
    workers: &[mpsc::UnboundedSender<Request>],
    free: &mut mpsc::UnboundedReceiver<usize>,
    cancel: &mut watch::Receiver<bool>,
) -> bool {
    let finals = lock(workload).final_requests();
    let mut expected = 0;
    for tx in workers {
        for req in &finals {
            if tx.send(req.clone()).is_ok() {
                expected += 1;
            }
        }
    }
    let mut done = 0;
    while done < expected {
        tokio::select! {
            w = free.recv() => { if w.is_none() { break } done += 1 }
            _ = crate::driver::cancelled(cancel) => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_answers_become_g_set_replies() {
        let mut w = gauntlet_workload::workload("g-set", &Default::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let add = (0..50)
            .map(|_| w.next(&mut rng))
            .find(|r| r.f == "add")
            .expect("an add");
        assert!(matches!(
            w.complete(&add, &as_reply("add", Value::Null)),
            Outcome::Ok(_)
        ));
        let read = w.final_requests().remove(0);
        assert_eq!(
            w.complete(&read, &as_reply("read", json!([1, 2]))),
            Outcome::Ok(json!([1, 2]))
        );
    }

    #[test]
    fn latencies_are_summed_up_per_look() {
        let l = Latencies::default();
        assert_eq!(l.take_quantiles(), None);
        for ms in 1..=100 {
            l.add(f64::from(ms));
        }
        assert_eq!(l.take_quantiles(), Some((51.0, 99.0)));
        assert_eq!(l.take_quantiles(), None, "each look starts afresh");
    }

    #[test]
    fn ok_answers_become_the_replies_the_workload_judges() {
        assert_eq!(
            as_reply("read", json!(3)),
            json!({"type": "read_ok", "value": 3})
        );
        assert_eq!(as_reply("write", Value::Null), json!({"type": "write_ok"}));
        assert_eq!(
            as_reply("txn", json!([["r", 1, [2]]])),
            json!({"type": "txn_ok", "txn": [["r", 1, [2]]]})
        );
        let w = gauntlet_workload::Registers::new(true, 1, 10);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut w: Box<dyn Workload> = Box::new(w);
        let read = loop {
            let r = w.next(&mut rng);
            if r.f == "read" {
                break r;
            }
        };
        // An ok read without a value is not an answer the workload takes.
        assert!(matches!(
            w.complete(&read, &json!({"type": "read_ok"})),
            Outcome::Info(_)
        ));
        assert_eq!(
            w.complete(&read, &as_reply("read", Value::Null)),
            Outcome::Ok(Value::Null)
        );
    }
}
