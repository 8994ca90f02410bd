//! `gauntlet test cluster.toml`: Jepsen mode. A real cluster (the plan's
//! services, one instance per lab host) driven by client programs and
//! broken by the nemesis, its history judged by the plan's checks.
//!
//! A run of three stages on the one driver: `up` (the lab is already up;
//! every service in dependency order, healthy), `test` (workers at the
//! workload's rate for its time limit while the nemesis acts; then every
//! fault heals, the system gets its recovery time, and each worker reads
//! every active key), `check` (each `[[check]]` over `history.jsonl`;
//! `results.json`; the verdict is the worst). Like a workbench test, the
//! run never holds: a cluster that cannot be brought up is abandoned, and
//! a Ctrl-C interrupts it with the history written so far. Its data
//! directories (`${data_dir}`) are removed at the end unless kept.

pub(crate) mod nemesis;
mod workers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gauntlet_check::Validity;
use gauntlet_client::{Problems, ProgramClient};
use gauntlet_events::Event;
use gauntlet_history::{OpType, Recorder};
use gauntlet_nemesis::{
    FaultKind, FaultLog, Nemesis, NemesisActions, NemesisOps, PartitionShape, RecordedOp, Replay,
    Signals,
};
use gauntlet_node::{LocalBackend, NodeSpec};
use gauntlet_plan::{Cluster, ClusterClient, Plan};
use gauntlet_store::{NewStage, RunKind, StageEnd, Store};
use gauntlet_workload::{Locks, Registers, Workload, WorkloadOptions};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, watch};

use crate::driver::{At, Engine, INTERRUPTED, Preset, StageName, StageOutcome};
use crate::hosts::PlanHosts;
use crate::progress::Progress;
use crate::soak::faults::Services;
use crate::supervisor::{Samples, Supervisor, data_root, log_dir};
use crate::{Outcome, PipelineError, Start, io_err};

use nemesis::{ClusterFaults, Storm};
use workers::{SharedWorkload, Worker};

const STAGES: [(&str, &str); 3] = [("up", "up"), ("test", "test"), ("check", "check")];

/// What a cluster test is asked besides its plan.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Keep the services' data directories (`data/` in the run's
    /// directory) instead of removing them at the end.
    pub keep_data: bool,
    /// A recorded run's storm to replay instead of drawing one from the
    /// seed ([`recorded_storm`]), and the run it comes from.
    pub replay: Option<(String, Replay)>,
}

/// Marks a run's data directories as removed at its end, so a run whose
/// gauntlet died (SIGKILL) before its end has them removed by the next
/// cluster test ([`remove_dead_data`]).
const REMOVE_MARK: &str = ".removed-at-end";

/// Removes the data directories that cluster runs no longer running
/// marked for removal at their end and could not remove (their gauntlet
/// was killed): never a running run's, never one kept with `--keep-data`.
pub fn remove_dead_data(store: &Store) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(store.artifact_root())
        .into_iter()
        .flatten()
        .flatten()
    {
        let data = entry.path().join("data");
        if !data.join(REMOVE_MARK).is_file() {
            continue;
        }
        let id = entry.file_name().to_string_lossy().into_owned();
        let running = store
            .run(&id)
            .is_ok_and(|r| r.state == gauntlet_store::RunState::Running);
        if !running && std::fs::remove_dir_all(&data).is_ok() {
            removed.push(data);
        }
    }
    removed
}

/// The storm `run` recorded (the nemesis ops of its history), to replay
/// on `plan`'s nodes: the same faults at the same offsets on the same
/// hosts.
pub fn recorded_storm(store: &Store, run: &str, plan: &Plan) -> Result<Replay, PipelineError> {
    let Some(cluster) = &plan.cluster else {
        return Err(PipelineError::NotCluster);
    };
    let recorded = store.run(run)?;
    let path = store.artifact_dir(&recorded.id).join("history.jsonl");
    let fail = |why: String| PipelineError::Replay {
        run: recorded.id.to_string(),
        why,
    };
    let history = gauntlet_history::read_history(&path)
        .map_err(|e| fail(format!("its history cannot be read: {e}")))?;
    let ops: Vec<RecordedOp> = history
        .ops
        .into_iter()
        .filter(|o| !o.is_client())
        .map(|o| RecordedOp {
            index: o.index,
            time_ns: o.time.unwrap_or(0),
            f: o.f,
            value: o.value,
        })
        .collect();
    Replay::new(&ops, &cluster.nodes).map_err(|e| fail(e.to_string()))
}

/// How a cluster test ended.
#[derive(Debug)]
pub struct ClusterOutcome {
    pub outcome: Outcome,
    /// The worst check (`unknown` when nothing was judged).
    pub verdict: Validity,
    /// `results.json`, when the checks ran.
    pub results: Option<PathBuf>,
}

/// Brings the plan's lab up, creates a cluster test run of the plan and
/// drives it to its end.
pub async fn cluster(
    store: Store,
    start: Start,
    options: ClusterOptions,
    cancel: watch::Receiver<bool>,
) -> Result<ClusterOutcome, PipelineError> {
    if start.plan.cluster.is_none() {
        return Err(PipelineError::NotCluster);
    }
    // Before the run exists: a lab that cannot be built, or clock faults
    // without libfaketime, leave no run behind that looks tried.
    crate::clock::Clocks::library_for(&start.plan).map_err(PipelineError::Clock)?;
    let mut hosts = PlanHosts::lab_up(&start.plan, start.seed).await?;
    let run = store.create_run_as(
        RunKind::Test,
        &start.new_run(STAGES.iter().map(|(n, k)| NewStage::new(*n, *k)).collect()),
    )?;
    // Its partition tables carry the run's id: reached once it exists.
    hosts.nodes_up(&start.plan, run.id.as_str()).await?;
    let driven = test_on(&store, run, start, options, cancel, &hosts).await;
    hosts.close().await;
    driven
}

async fn test_on(
    store: &Store,
    run: gauntlet_store::Run,
    start: Start,
    options: ClusterOptions,
    cancel: watch::Receiver<bool>,
    hosts: &PlanHosts,
) -> Result<ClusterOutcome, PipelineError> {
    let Some(spec) = start.plan.cluster.clone() else {
        return Err(PipelineError::NotCluster);
    };
    crate::save_resolved_plan(store, &run.id, &start.plan)?;
    let context = crate::notify::attach(&start.plan, start.context);
    let engine = Engine::new(store, run.id, context)?;
    let services_dir = log_dir(&engine.dir);
    std::fs::create_dir_all(&services_dir).map_err(io_err(&services_dir))?;
    // Removed (its files) when the preset drops, however the run ends.
    let clocks = crate::clock::Clocks::for_plan(&start.plan, &engine.dir)
        .map_err(PipelineError::Clock)?
        .map(Arc::new);
    let data = data_root(&services_dir);
    if !options.keep_data {
        std::fs::create_dir_all(&data).map_err(io_err(&data))?;
        let mark = data.join(REMOVE_MARK);
        std::fs::write(&mark, "gauntlet removes this directory when the run ends\n")
            .map_err(io_err(&mark))?;
    }
    let plan = Arc::new(start.plan);
    let mut supervisor = Supervisor::new(
        plan.clone(),
        services_dir.clone(),
        start.seed,
        engine.samples.clone(),
        engine.context.backend.clone(),
        hosts.backends(),
    );
    if let Some(c) = &clocks {
        supervisor.set_clocks(c.clone());
    }
    let mut preset = ClusterTest {
        plan,
        spec,
        seed: start.seed,
        options,
        dir: engine.dir.clone(),
        data,
        progress: engine.progress.clone(),
        samples: engine.samples.clone(),
        supervisor: Arc::new(Mutex::new(supervisor)),
        network: hosts.net(),
        clocks,
        verdict: None,
        results: None,
    };
    let outcome = engine.drive(&mut preset, cancel).await?;
    Ok(ClusterOutcome {
        outcome,
        verdict: preset.verdict.unwrap_or(Validity::Unknown),
        results: preset.results,
    })
}

/// The cluster test's preset of the driver.
struct ClusterTest {
    plan: Arc<Plan>,
    spec: Cluster,
    seed: u64,
    options: ClusterOptions,
    dir: PathBuf,
    /// The services' data directories.
    data: PathBuf,
    progress: Progress,
    samples: Samples,
    supervisor: Arc<Mutex<Supervisor>>,
    network: Option<Arc<dyn crate::lab::PlanNet>>,
    clocks: Option<Arc<crate::clock::Clocks>>,
    verdict: Option<Validity>,
    results: Option<PathBuf>,
}

impl Preset for ClusterTest {
    const KIND: RunKind = RunKind::Test;

    fn stages(&self) -> Vec<StageName> {
        STAGES
            .iter()
            .map(|(name, kind)| StageName {
                name: (*name).to_owned(),
                kind: (*kind).to_owned(),
                guards: Default::default(),
            })
            .collect()
    }

    /// A test run is never resumed.
    async fn restore(&mut self, _index: usize) -> Result<(), StageEnd> {
        Ok(())
    }

    async fn run(&mut self, at: At<'_>) -> Result<StageOutcome, PipelineError> {
        match at.index {
            0 => Ok(self.up().await),
            1 => self.test(at).await,
            _ => self.check(at).await,
        }
    }

    /// The test stage writes its history and heals what it broke before
    /// it stops.
    fn watches_cancel(&self, index: usize) -> bool {
        index == 1
    }

    fn verdict(&self) -> Validity {
        self.verdict.unwrap_or(Validity::Unknown)
    }

    async fn stop(&mut self) {
        self.supervisor.lock().await.stop_all().await;
        if !self.options.keep_data
            && self.data.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.data)
        {
            self.progress.note(&format!(
                "could not remove the data directories {}: {e}",
                self.data.display()
            ));
        }
    }
}

impl ClusterTest {
    /// Every service, in dependency order, each healthy before the next.
    /// A cluster that does not come up cannot be tested: the run is
    /// abandoned, with the service's last lines.
    async fn up(&mut self) -> StageOutcome {
        let progress = &self.progress;
        let mut sup = self.supervisor.lock().await;
        match sup
            .start_stopped(|name| progress.note(&format!("starting {name}")))
            .await
        {
            Ok(order) => {
                StageOutcome::Ended(StageEnd::passed().with_summary(json!({ "services": order })))
            }
            Err((name, why)) => {
                let tail = sup.last_lines(&name, 10);
                let tail = if tail.is_empty() {
                    String::new()
                } else {
                    format!("; its last lines:\n  {}", tail.join("\n  "))
                };
                StageOutcome::Abandoned(format!("the cluster did not come up: {why}{tail}"))
            }
        }
    }

    fn workload(&self) -> Result<Box<dyn Workload>, String> {
        let w = &self.spec.workload;
        match w.generator.as_str() {
            "register" => Ok(Box::new(Registers::new(false, w.keys, w.ops_per_key))),
            "cas-register" => Ok(Box::new(Registers::new(true, w.keys, w.ops_per_key))),
            "lock" => Ok(Box::new(Locks::new(w.keys))),
            other => gauntlet_workload::workload(
                other,
                &WorkloadOptions {
                    key_count: w.keys,
                    ..WorkloadOptions::default()
                },
            )
            .map_err(|e| e.to_string()),
        }
    }

    /// The main phase under the nemesis, then the final phase.
    async fn test(&mut self, at: At<'_>) -> Result<StageOutcome, PipelineError> {
        let w = self.spec.workload.clone();
        let workload: SharedWorkload = match self.workload() {
            Ok(wl) => Arc::new(std::sync::Mutex::new(wl)),
            Err(why) => return Ok(StageOutcome::Abandoned(why)),
        };
        let started = Instant::now();
        at.store.set_clock_zero(at.run, millis(SystemTime::now()))?;
        let events = self.progress.events().clone();
        let history_path = self.dir.join("history.jsonl");
        // Every op is an `op` event (for whoever watches live) and counted
        // by how it ended.
        let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let observer = {
            let (counts, ops) = (counts.clone(), events.ops());
            Arc::new(move |op: &gauntlet_history::Op| {
                ops(op);
                let slot = match op.kind {
                    OpType::Ok => 0,
                    OpType::Fail => 1,
                    OpType::Info if op.is_client() => 2,
                    _ => return,
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
            })
        };
        let recorder = Recorder::to_file(started, &history_path)
            .map_err(io_err(&history_path))?
            .observed(observer);
        let log = FaultLog::new(events.with(Arc::new(NemesisOps {
            recorder: recorder.clone(),
        })));
        let faults = Arc::new(ClusterFaults {
            actions: NemesisActions::new(log),
            signals: Signals::new(Services {
                plan: self.plan.clone(),
                supervisor: self.supervisor.clone(),
                caused_restarts: Default::default(),
            }),
            network: self.network.clone(),
            clocks: self.clocks.clone(),
            nodes: self.spec.nodes.clone(),
            started,
        });

        // The workers, each with its client program.
        let clients_dir = self.dir.join("clients");
        std::fs::create_dir_all(&clients_dir).map_err(io_err(&clients_dir))?;
        let problems = Arc::new(Problems::default());
        let latencies = Arc::new(workers::Latencies::default());
        let (free_tx, mut free) = mpsc::unbounded_channel();
        let mut senders = Vec::new();
        let mut tasks = Vec::new();
        for id in 0..w.concurrency {
            let spec = client_spec(&w.client, &clients_dir, id, w.op_timeout)?;
            let worker = Worker {
                id,
                process: id as u64,
                concurrency: w.concurrency as u64,
                client: ProgramClient::new(
                    id,
                    LocalBackend::shared(),
                    spec,
                    w.op_timeout,
                    problems.clone(),
                ),
                recorder: recorder.clone(),
                workload: workload.clone(),
                latencies: latencies.clone(),
            };
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            tasks.push(tokio::spawn(worker.run(rx, free_tx.clone())));
        }
        drop(free_tx);

        let (pace_stop, pace) =
            workers::pace(self.samples.clone(), counts.clone(), latencies.clone());
        let until = started + w.time_limit;
        let nemesis = self.storm();
        let nemesis_desc = match &nemesis {
            Storm::Replayed(r) => Some(format!("replaying {} recorded nemesis actions", r.len())),
            Storm::Drawn(_) => None,
        };
        let nemesis_task = {
            let faults = faults.clone();
            let cancel = at.cancel.clone();
            tokio::spawn(async move { nemesis::follow(nemesis, &faults, until, cancel).await })
        };
        let storm = match (&nemesis_desc, &self.spec.nemesis) {
            (Some(replayed), _) => format!("; {replayed}"),
            (None, Some(n)) if !n.faults.is_empty() => format!(
                "; nemesis {} every ~{:.0} s",
                n.faults.join(", "),
                n.interval.as_secs_f64()
            ),
            _ => String::new(),
        };
        self.progress.note(&format!(
            "{} workers, {} ops/s for {:.0} s{storm}",
            w.concurrency,
            w.rate,
            w.time_limit.as_secs_f64(),
        ));
        let main = workers::dispatch(
            &workload, &senders, &mut free, w.rate, until, self.seed, at.cancel,
        )
        .await;
        let mut nemesis = match nemesis_task.await {
            Ok(n) => n,
            Err(e) => {
                return Err(PipelineError::Io {
                    path: history_path,
                    source: std::io::Error::other(format!("the nemesis task failed: {e}")),
                });
            }
        };
        let mut interrupted = main.interrupted;
        // Heal everything, even after a Ctrl-C: nothing stays cut off or
        // frozen while the services stop.
        for action in nemesis.heal_all() {
            faults.perform(&action).await;
        }
        if !interrupted {
            self.progress.note(&format!(
                "healed; waiting {:.0} s for recovery before final reads",
                w.recovery.as_secs_f64()
            ));
            tokio::select! {
                _ = tokio::time::sleep(w.recovery) => {}
                _ = crate::driver::cancelled(at.cancel) => interrupted = true,
            }
        }
        if !interrupted {
            interrupted = workers::finals(&workload, &senders, &mut free, at.cancel).await;
        }
        drop(senders);
        for t in tasks {
            let _ = t.await;
        }
        let _ = pace_stop.send(true);
        let _ = pace.await;
        recorder.finish().map_err(io_err(&history_path))?;
        at.store
            .add_artifact(at.run, Some(at.attempt.id), "history.jsonl", "history")?;
        let client_problems = problems.counts();
        let problems_path = clients_dir.join("problems.json");
        let text = serde_json::to_string_pretty(&json!({
            "counts": client_problems,
            "first": problems.kept(),
        }))
        .expect("json")
            + "\n";
        std::fs::write(&problems_path, text).map_err(io_err(&problems_path))?;
        let [ok, fail, info] = [0, 1, 2].map(|i| counts[i].load(Ordering::Relaxed));
        let faults_logged = faults.actions.log().faults().len();
        let summary = json!({
            "ops": ok + fail + info,
            "ok": ok,
            "fail": fail,
            "info": info,
            "dispatched": main.dispatched,
            "faults": faults_logged,
            "client_problems": client_problems,
        });
        if interrupted {
            return Ok(StageOutcome::Interrupted(INTERRUPTED.to_owned()));
        }
        let troubles: u64 = client_problems.values().sum();
        let message = format!(
            "{} ops: {ok} ok, {fail} fail, {info} info; {faults_logged} faults{}",
            ok + fail + info,
            if troubles > 0 {
                format!("; {troubles} client problems (clients/problems.json)")
            } else {
                String::new()
            }
        );
        Ok(StageOutcome::Ended(StageEnd {
            message: Some(message),
            ..StageEnd::passed().with_summary(summary)
        }))
    }

    /// The recorded storm to replay, or one drawn from the seed.
    fn storm(&mut self) -> Storm {
        match self.options.replay.take() {
            Some((run, replay)) => {
                self.progress
                    .note(&format!("the storm is run {run}'s, replayed"));
                Storm::Replayed(replay)
            }
            None => Storm::Drawn(Box::new(self.nemesis())),
        }
    }

    fn nemesis(&self) -> Nemesis {
        let (kinds, interval, shapes) = match &self.spec.nemesis {
            // The plan's loader checked every name.
            Some(n) => (
                n.faults
                    .iter()
                    .filter_map(|f| f.parse::<FaultKind>().ok())
                    .collect(),
                n.interval.as_secs_f64(),
                n.partitions
                    .iter()
                    .filter_map(|s| PartitionShape::from_name(s))
                    .collect(),
            ),
            None => (Vec::new(), 0.0, Vec::new()),
        };
        let n = self.spec.nodes.len();
        // Its own stream of the run's seed, apart from the workload's.
        Nemesis::new(kinds, interval, n, n, self.seed ^ 0x006e_656d_6573_6973)
            .with_partition_shapes(shapes)
    }

    /// Each check over the history; the verdict is the worst.
    async fn check(&mut self, at: At<'_>) -> Result<StageOutcome, PipelineError> {
        let mut checks = serde_json::Map::new();
        let mut verdict = Validity::Valid;
        // Read once, if a check found an anomaly to show beside its faults.
        let mut history = None;
        for check in &self.spec.checks {
            let rel = format!("checks/{}", check.name);
            let mut judged = crate::check::judge(check, &self.dir, &rel, &self.progress).await;
            if judged.result.valid == Validity::Invalid {
                self.beside_faults(&mut judged, &rel, &mut history);
            }
            for (file, kind) in &judged.artifacts {
                at.store
                    .add_artifact(at.run, Some(at.attempt.id), file, kind)?;
            }
            self.progress.events().emit(Event::Check {
                name: check.name.clone(),
                valid: judged.result.valid,
                result: serde_json::to_value(&judged.result).unwrap_or(Value::Null),
            });
            verdict = Validity::worst(verdict, judged.result.valid);
            checks.insert(check.name.clone(), judged.summary);
        }
        let results = json!({ "valid": verdict, "checks": checks });
        let path = self.dir.join("results.json");
        let text = serde_json::to_string_pretty(&results).expect("json") + "\n";
        std::fs::write(&path, text).map_err(io_err(&path))?;
        at.store
            .add_artifact(at.run, Some(at.attempt.id), "results.json", "results")?;
        self.verdict = Some(verdict);
        self.results = Some(path);
        let line = crate::test::checks_line(&checks);
        Ok(StageOutcome::Ended(StageEnd {
            message: Some(line),
            ..StageEnd::passed().with_summary(json!({ "valid": verdict }))
        }))
    }
}

impl ClusterTest {
    /// Puts each anomaly an invalid check names (by history index) beside
    /// the nemesis's actions around it: `beside-faults` lines in its
    /// evidence, `<check dir>/anomalies.txt`, and the lines told to the
    /// person watching.
    fn beside_faults(
        &self,
        judged: &mut crate::check::Judged,
        rel: &str,
        history: &mut Option<Vec<gauntlet_history::Op>>,
    ) {
        if history.is_none() {
            match gauntlet_history::read_history(&self.dir.join("history.jsonl")) {
                Ok(h) => *history = Some(h.ops),
                Err(e) => {
                    self.progress
                        .note(&format!("the anomaly cannot be put beside its faults: {e}"));
                    return;
                }
            }
        }
        let ops = history.as_deref().unwrap_or_default();
        let mut text = String::new();
        for evidence in judged.result.evidence.iter_mut() {
            let (indices, mark) = gauntlet_report::anomaly::named_indices(evidence);
            let lines = gauntlet_report::anomaly::beside_faults(ops, &indices, mark);
            if lines.is_empty() {
                continue;
            }
            let title = match evidence.get("key") {
                Some(k) => format!("{} at key {k}", judged.result.checker),
                None => judged.result.checker.clone(),
            };
            self.progress
                .note(&format!("{title}:\n  {}", lines.join("\n  ")));
            text.push_str(&format!("{title}:\n  {}\n\n", lines.join("\n  ")));
            evidence["beside-faults"] = json!(lines);
        }
        if text.is_empty() {
            return;
        }
        let file = format!("{rel}/anomalies.txt");
        if std::fs::write(self.dir.join(&file), text).is_ok() {
            judged.artifacts.push((file, "check"));
        }
        // check.json keeps what the result now says.
        let result = serde_json::to_value(&judged.result).unwrap_or(Value::Null);
        let _ = std::fs::write(
            self.dir.join(format!("{rel}/check.json")),
            serde_json::to_string_pretty(&result).unwrap_or_default() + "\n",
        );
        judged.summary["result"] = result;
    }
}

/// A worker's client program: the plan's, or `gauntlet client <system>`
/// (this very binary) for a built-in one, on the worker's own member
/// (`--worker`), its time limit a little under the op's so the client
/// answers `info` itself before it counts as hung. Its stderr goes to
/// `clients/worker-<id>.log`.
fn client_spec(
    client: &ClusterClient,
    dir: &Path,
    worker: usize,
    op_timeout: Duration,
) -> Result<NodeSpec, PipelineError> {
    let mut spec = match client {
        ClusterClient::Program(command) => crate::command::node_spec(command),
        ClusterClient::Builtin { system, args } => {
            let exe = std::env::current_exe().map_err(io_err("the gauntlet binary"))?;
            let mut spec = NodeSpec::new(exe);
            let own = op_timeout
                .saturating_sub(op_timeout / 5)
                .max(Duration::from_millis(100));
            spec.args = ["client", system.as_str()]
                .into_iter()
                .map(Into::into)
                .chain(args.iter().map(Into::into))
                .chain(["--timeout".into(), format!("{}ms", own.as_millis()).into()])
                .chain(["--worker".into(), worker.to_string().into()])
                .collect();
            spec
        }
    };
    spec.stderr_log = Some(dir.join(format!("worker-{worker}.log")));
    spec.stderr_tail = 20;
    Ok(spec)
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use gauntlet_nemesis::PartitionShape;

    #[test]
    fn the_plans_partition_shapes_are_the_nemesis_s_own() {
        let plan: Vec<&str> = gauntlet_plan::PARTITION_SHAPES.to_vec();
        let nemesis: Vec<&str> = PartitionShape::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(plan, nemesis);
    }
}
