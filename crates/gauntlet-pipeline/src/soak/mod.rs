//! `gauntlet soak`: the runtime around gauntlet-soak's sans-IO core.
//!
//! A soak is a run with four stages: `up` (every service, dependency
//! order, healthy), `soak` (users, faults and the observer for the
//! duration), `calm` (STOP: users stop, faults heal; wait until every
//! service answers its health check again) and `readback` (read every
//! journaled key, judge the invariants, write `verdict.json`). The
//! verdict is the run's result; the stages pass when they could be
//! carried out. Users that cannot reach the service end the soak early
//! (the run holds at `soak`); Ctrl-C interrupts it. Either way the journal
//! is written and `verdict.json` judges what was recorded, never passing.
//!
//! The driver only gathers inputs and writes outputs: every decision is
//! [`gauntlet_soak::assess`]. The soak stage leaves its journal and what
//! it saw on disk ([`record`]), so `retry` and `override` resume a soak
//! like a plan run, through [`crate::resume`], from the resolved plan kept
//! with the run.

pub(crate) mod faults;
mod judge;
mod observer;
mod record;
mod soaking;
mod users;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gauntlet_check::Validity;
use gauntlet_observe::http_request;
use gauntlet_plan::Plan;
use gauntlet_plan::soak::{Readback, Soak, UserScenario};
use gauntlet_proxy::Proxy;
use gauntlet_soak::assess::{self, restart_counts};
use gauntlet_soak::journal::Journal;
use gauntlet_soak::template::render;
use gauntlet_store::{NewStage, RunId, RunKind, StageEnd, Store};
use serde_json::{Value, json};
use tokio::sync::{Mutex, watch};

use crate::command::argv;
use crate::driver::{At, Engine, INTERRUPTED, Preset, StageName, StageOutcome, cancelled};
use crate::hosts::PlanHosts;
use crate::progress::Progress;
use crate::supervisor::{Samples, Supervisor, log_dir};
use crate::{Outcome, PipelineError, RunContext, io_err};

use record::SoakRecord;

/// A soak to run: the same as a run's start.
pub use crate::Start as SoakStart;

/// How a soak ended.
#[derive(Debug)]
pub struct SoakOutcome {
    pub outcome: Outcome,
    /// The worst gated invariant (`None` when nothing was judged: the soak
    /// never started, or holds before it).
    pub verdict: Option<Validity>,
    pub verdict_path: PathBuf,
    /// Why the soak stopped early, if it did.
    pub error: Option<String>,
}

const STAGES: [&str; 4] = ["up", "soak", "calm", "readback"];

/// Creates a soak run of the plan and drives it until it finishes, holds
/// or is interrupted.
pub async fn soak(
    store: Store,
    start: SoakStart,
    cancel: watch::Receiver<bool>,
) -> Result<SoakOutcome, PipelineError> {
    if start.plan.soak.is_none() {
        return Err(PipelineError::NotSoak);
    }
    let run = store.create_run_as(
        RunKind::Soak,
        &start.new_run(
            STAGES
                .iter()
                .map(|s| NewStage::new(*s, stage_kind(s)))
                .collect(),
        ),
    )?;
    crate::save_resolved_plan(&store, &run.id, &start.plan)?;
    drive(
        &store,
        run.id,
        start.plan,
        start.seed,
        start.context,
        cancel,
    )
    .await
}

/// A failed stage's end, with its summary when there is one.
fn failed_with(why: String, summary: Value) -> StageEnd {
    let end = StageEnd::failed(why);
    if summary.is_null() {
        end
    } else {
        end.with_summary(summary)
    }
}

/// The store's kind of a soak's stage.
fn stage_kind(stage: &str) -> &'static str {
    if stage == "up" { "up" } else { "soak" }
}

/// Drives a soak run on the one driver, the soak as its preset: a new one
/// from [`soak`], or one that `retry` or `override` just made `running`
/// again, from its resolved plan (see [`crate::resume`]).
pub(crate) async fn drive(
    store: &Store,
    run: RunId,
    plan: Plan,
    seed: u64,
    context: RunContext,
    cancel: watch::Receiver<bool>,
) -> Result<SoakOutcome, PipelineError> {
    let Some(spec) = plan.soak.clone() else {
        return Err(PipelineError::NotSoak);
    };
    // Up before the engine starts the run's clock; held to the end.
    let hosts = PlanHosts::up(&plan, seed, run.as_str()).await?;
    let driven = drive_on(store, run, plan, spec, seed, context, cancel, &hosts).await;
    hosts.close().await;
    driven
}

#[allow(clippy::too_many_arguments)]
async fn drive_on(
    store: &Store,
    run: RunId,
    plan: Plan,
    spec: Soak,
    seed: u64,
    context: RunContext,
    cancel: watch::Receiver<bool>,
    hosts: &PlanHosts,
) -> Result<SoakOutcome, PipelineError> {
    let containers = crate::containers::up(&plan, run.as_str()).await?;
    let context = crate::notify::attach(&plan, context);
    let engine = Engine::new(store, run, context)?;
    let services_dir = log_dir(&engine.dir);
    std::fs::create_dir_all(&services_dir).map_err(io_err(&services_dir))?;
    let plan = Arc::new(plan);
    let mut sup = Supervisor::new(
        plan.clone(),
        services_dir,
        seed,
        engine.samples.clone(),
        engine.context.backend.clone(),
        hosts.backends(),
    );
    sup.set_sample_interval(spec.observer.interval);
    if let Some(c) = &containers {
        sup.set_containers(c.backends.clone());
    }
    // Removed (its files) when this function returns, however the soak ends.
    let clocks = crate::clock::Clocks::for_plan(&plan, &engine.dir)
        .map_err(PipelineError::Clock)?
        .map(Arc::new);
    if let Some(c) = &clocks {
        sup.set_clocks(c.clone());
    }
    let mut driver = Driver {
        store,
        run: engine.run.clone(),
        plan,
        spec,
        seed,
        samples: engine.samples.clone(),
        progress: engine.progress.clone(),
        supervisor: Arc::new(Mutex::new(sup)),
        dir: engine.dir.clone(),
        proxies: BTreeMap::new(),
        network: hosts.net(),
        links: hosts.links(),
        container_net: containers.as_ref().map(|c| c.net.clone()),
        clocks: clocks.clone(),
        since_wall: gauntlet_store::now_ms(),
        seen: None,
        verdict: None,
        stopped: None,
        broken: None,
    };
    let outcome = engine.drive(&mut driver, cancel).await?;
    Ok(SoakOutcome {
        outcome,
        verdict: driver.verdict,
        verdict_path: engine.dir.join("verdict.json"),
        error: driver.stopped,
    })
}

/// What the soak stage saw, for `calm` and `readback`.
struct Seen {
    record: SoakRecord,
    journal: Journal,
    /// Restarts counted by an earlier process's supervisor (a resumed
    /// `calm` or `readback`); this process's supervisor counts from zero.
    restarts_before: BTreeMap<String, u32>,
}

/// The soak's preset of the driver.
struct Driver<'a> {
    store: &'a Store,
    run: RunId,
    plan: Arc<Plan>,
    spec: Soak,
    seed: u64,
    samples: Samples,
    progress: Progress,
    supervisor: Arc<Mutex<Supervisor>>,
    dir: PathBuf,
    proxies: BTreeMap<String, Proxy>,
    /// The plan's lab network or fleet nodes, for partitions of services
    /// on them.
    network: Option<Arc<dyn crate::lab::PlanNet>>,
    /// The clocks of services clock faults name.
    clocks: Option<Arc<crate::clock::Clocks>>,
    /// The lab, for link faults.
    links: Option<Arc<gauntlet_lab::Lab>>,
    /// The containers' network, for partitions and disconnects of
    /// docker services.
    container_net: Option<Arc<crate::container_net::ContainerNet>>,
    /// When this process began starting services.
    since_wall: i64,
    seen: Option<Seen>,
    /// The gated verdict, once one was judged.
    verdict: Option<Validity>,
    /// Why the soak stopped before finishing, if it did.
    stopped: Option<String>,
    /// Why the stage that just ended could not be carried out at all (a
    /// service or user program that cannot be started): the run is then
    /// interrupted, not held, and a retry runs the stage again.
    pub(super) broken: Option<String>,
}

impl Preset for Driver<'_> {
    const KIND: RunKind = RunKind::Soak;

    fn stages(&self) -> Vec<StageName> {
        STAGES
            .iter()
            .map(|s| StageName {
                name: (*s).to_owned(),
                kind: stage_kind(s).to_owned(),
                guards: Default::default(),
            })
            .collect()
    }

    /// A resumed soak: its services and proxies come back first.
    async fn restore(&mut self, _index: usize) -> Result<(), StageEnd> {
        self.progress.note("restoring every service and proxy");
        self.bring_up().await.map(drop).map_err(|(why, summary)| {
            self.stopped = Some(format!(
                "could not bring back the services earlier stages left running: {why}"
            ));
            failed_with(why, summary)
        })
    }

    async fn run(&mut self, at: At<'_>) -> Result<StageOutcome, PipelineError> {
        match at.index {
            0 => Ok(StageOutcome::Ended(self.up().await)),
            1 => self.soak(at.attempt.attempt, at.cancel).await,
            // After STOP a Ctrl-C still stops at once: the calm and the
            // readback can take long against a broken service.
            index => tokio::select! {
                end = self.after_stop(index) => Ok(StageOutcome::Ended(end?)),
                _ = cancelled(at.cancel) => {
                    self.interrupted_after_stop()?;
                    Ok(StageOutcome::Interrupted(INTERRUPTED.to_owned()))
                }
            },
        }
    }

    /// `up` is stopped by the driver; the soak stage keeps its journal,
    /// and `calm` and `readback` judge what was recorded, before they stop.
    fn watches_cancel(&self, index: usize) -> bool {
        index > 0
    }

    fn take_broken(&mut self) -> Option<String> {
        self.broken.take()
    }

    /// The gated verdict of the readback (`unknown` if none was judged).
    /// A soak is sampled too: hours of load are when a machine runs hot.
    fn sensors(&self) -> Option<gauntlet_plan::Sensors> {
        Some(self.plan.sensors.clone())
    }

    fn verdict(&self) -> Validity {
        self.verdict.unwrap_or(Validity::Unknown)
    }

    /// Proxies closed, then services stopped.
    async fn stop(&mut self) {
        for (_, proxy) in std::mem::take(&mut self.proxies) {
            proxy.shutdown().await;
        }
        self.supervisor.lock().await.stop_all().await;
    }
}

impl Driver<'_> {
    async fn after_stop(&mut self, index: usize) -> Result<StageEnd, PipelineError> {
        if index == 2 {
            Ok(self.calm_stage().await)
        } else {
            self.readback().await
        }
    }

    /// A Ctrl-C during `calm` or `readback`: the run is interrupted there,
    /// and judged, like a soak interrupted earlier, on what the soak stage
    /// recorded (a retry then calms and reads back again).
    fn interrupted_after_stop(&mut self) -> Result<(), PipelineError> {
        if self.seen().is_ok() {
            let seen = self.seen.as_ref().expect("loaded above");
            let (_, verdict) = self.judge(
                seen,
                assess::Readback::Skipped("interrupted before the readback"),
                &[],
                Some(INTERRUPTED),
            )?;
            self.verdict = Some(verdict);
        }
        self.stopped = Some(INTERRUPTED.to_owned());
        Ok(())
    }

    /// Starts every service not running (dependency order, healthy) and
    /// every proxy not open. The error carries the stage summary.
    async fn bring_up(&mut self) -> Result<Vec<String>, (String, Value)> {
        let progress = &self.progress;
        let started = self
            .supervisor
            .lock()
            .await
            .start_stopped(|name| progress.note(&format!("starting {name}")))
            .await;
        let order = match started {
            Ok(order) => order,
            Err((name, why)) => {
                let sup = self.supervisor.lock().await;
                if let Some(cannot) = sup.cannot_start(&name) {
                    self.broken = Some(cannot);
                }
                let tail = sup.last_lines(&name, 15);
                return Err((why, json!({ "log_tail": { name.as_str(): tail } })));
            }
        };
        for (n, (service, p)) in self.spec.proxies.iter().enumerate() {
            if self.proxies.contains_key(service) {
                continue;
            }
            let (Ok(listen), Ok(upstream)) = (p.listen.parse(), p.upstream.parse()) else {
                let why = format!("proxy of {service}: listen and upstream must be ip:port");
                return Err((why, Value::Null));
            };
            // Each proxy's jitter is its own stream of the run's seed.
            let seed = self.seed ^ (n as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F);
            match Proxy::start(listen, upstream, seed).await {
                Ok(proxy) => {
                    self.progress.note(&format!(
                        "proxy {} → {} for {service}",
                        proxy.local_addr(),
                        p.upstream
                    ));
                    self.proxies.insert(service.clone(), proxy);
                }
                Err(e) => {
                    return Err((
                        format!("proxy of {service} on {}: {e}", p.listen),
                        Value::Null,
                    ));
                }
            }
        }
        Ok(order)
    }

    async fn up(&mut self) -> StageEnd {
        match self.bring_up().await {
            Ok(order) => StageEnd::passed().with_summary(json!({ "services": order })),
            Err((why, summary)) => {
                self.stopped = Some(why.clone());
                failed_with(why, summary)
            }
        }
    }

    /// Restarts this process's supervisor made, by service.
    async fn service_restarts(&self) -> BTreeMap<String, u32> {
        let sup = self.supervisor.lock().await;
        let mut out = BTreeMap::new();
        for service in &self.plan.services {
            if let Some(state) = sup.state(&service.name) {
                let n = state.lock().unwrap_or_else(|e| e.into_inner()).restarts;
                out.insert(service.name.clone(), n);
            }
        }
        out
    }

    /// What the soak stage saw: in memory, or (a resumed `calm` or
    /// `readback`) from the files it left.
    fn seen(&mut self) -> Result<&mut Seen, String> {
        if self.seen.is_none() {
            let (record, journal) = record::load(&self.dir)
                .map_err(|e| format!("what the soak stage recorded cannot be read: {e}"))?;
            self.seen = Some(Seen {
                restarts_before: record.service_restarts.clone(),
                record,
                journal,
            });
        }
        Ok(self.seen.as_mut().expect("just set"))
    }

    async fn calm_stage(&mut self) -> StageEnd {
        if let Err(why) = self.seen() {
            self.stopped = Some(why.clone());
            return StageEnd::failed(why);
        }
        match self.calm().await {
            Ok(ms) => StageEnd::passed().with_summary(json!({ "quiet_after_ms": ms })),
            // The system did not come back: the data can still be read, and
            // I3 (with the probes after the calm) judges the recovery. The
            // stage itself was carried out.
            Err(why) => StageEnd {
                message: Some(format!("WARN: {why}")),
                ..StageEnd::passed().with_summary(json!({ "healthy": false, "problem": why }))
            },
        }
    }

    async fn readback(&mut self) -> Result<StageEnd, PipelineError> {
        if let Err(why) = self.seen() {
            self.stopped = Some(why.clone());
            return Ok(StageEnd::failed(why));
        }
        let mut seen = self.seen.take().expect("loaded above");
        self.progress.note(&format!(
            "reading back {} keys ({} acknowledged writes)",
            seen.journal.keys().count(),
            seen.journal.acked_writes()
        ));
        let reads = self.read_back(&seen.journal).await;
        // The observer stopped at STOP; the calm phase's final probes say
        // whether a fault STOP cut short was recovered from (I3).
        let nodes = self.supervisor.lock().await.nodes();
        health_after_calm(
            &self.plan,
            &nodes,
            seen.record.started_wall,
            &mut seen.record.health,
        )
        .await;
        // Restarts up to now: the earlier process's and this one's.
        let now = self.service_restarts().await;
        seen.record.service_restarts = restart_counts(&seen.restarts_before, &now);
        // An overridden soak that stopped early is read back and judged;
        // its verdict still says why it stopped.
        let stopped_early = seen.record.stopped_early.clone();
        let checks = self.plan_checks().await?;
        let judged = self.judge(
            &seen,
            assess::Readback::Done(&reads),
            &checks,
            stopped_early.as_deref(),
        );
        self.seen = Some(seen);
        let (loss, verdict) = judged?;
        self.verdict = Some(verdict);
        Ok(StageEnd::passed().with_summary(
            loss.as_ref()
                .map(assess::readback_summary)
                .unwrap_or(Value::Null),
        ))
    }

    /// Waits until every service answers its health check (restarting any
    /// that a fault left down); returns how long it took.
    async fn calm(&self) -> Result<u64, String> {
        let began = Instant::now();
        let deadline = began + self.spec.calm_timeout;
        // Services a fault killed and STOP interrupted before the restart.
        let progress = &self.progress;
        self.supervisor
            .lock()
            .await
            .start_stopped(|name| progress.note(&format!("calm: starting {name} again")))
            .await
            .map_err(|(_, why)| format!("calm: {why}"))?;
        loop {
            let nodes = self.supervisor.lock().await.nodes();
            let round = crate::health::probe_round(&self.plan, None, None, &nodes).await;
            if round.iter().all(|(_, outcome)| outcome.healthy) {
                // A moment more, so in-flight work inside the service settles.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return Ok(began.elapsed().as_millis() as u64);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not every service was healthy {:.0} s after STOP",
                    self.spec.calm_timeout.as_secs_f64()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn read_back(
        &self,
        journal: &Journal,
    ) -> BTreeMap<String, Result<Option<String>, String>> {
        let mut reads = BTreeMap::new();
        let mut program = None;
        for key in journal.keys() {
            let vars = BTreeMap::from([("key".to_owned(), key.to_owned())]);
            let read = match &self.spec.readback {
                Readback::Http { url } => match render(url, &vars) {
                    Ok(url) => match http_request("GET", &url, None, Duration::from_secs(10)).await
                    {
                        Ok(r) if r.status == 200 => {
                            Ok(Some(String::from_utf8_lossy(&r.body).into_owned()))
                        }
                        Ok(r) if r.status == 404 => Ok(None),
                        Ok(r) => Err(format!("GET {url} answered {}", r.status)),
                        Err(e) => Err(format!("GET {url}: {e}")),
                    },
                    Err(e) => Err(e.to_string()),
                },
                Readback::Command(command) => read_by_command(command, &vars).await,
                Readback::Program => {
                    let UserScenario::Program(command) = &self.spec.users.scenario else {
                        return reads;
                    };
                    if program.is_none() {
                        program = users::Program::spawn("readback", command, None).ok();
                    }
                    match program.as_mut() {
                        Some(p) => match p.call(&json!({"op": "read", "key": key})).await {
                            Ok(v) if v["ok"] == true => Ok(v["value"].as_str().map(str::to_owned)),
                            Ok(v) => Err(format!("read {key}: {}", v["error"])),
                            Err(e) => Err(e),
                        },
                        None => Err("cannot start the user program for the readback".to_owned()),
                    }
                }
            };
            reads.insert(key.to_owned(), read);
        }
        if let Some(p) = program {
            p.kill();
        }
        reads
    }
}

/// The most a readback command may print (a whole key space, not a log).
const READBACK_STDOUT_LIMIT: usize = 64 << 20;

async fn read_by_command(
    command: &gauntlet_plan::Command,
    vars: &BTreeMap<String, String>,
) -> Result<Option<String>, String> {
    let (program, args) = argv(&command.command);
    let program = render(&program.to_string_lossy(), vars).map_err(|e| e.to_string())?;
    let args: Vec<String> = args
        .iter()
        .map(|a| render(a, vars))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    // Through the backend: the command is in the kill registry and its own
    // cgroup, so a timeout, Ctrl-C or SIGKILL of gauntlet (via the next
    // sweep) kills it and whatever it started.
    let mut spec = crate::command::node_spec(command);
    spec.program = program.clone().into();
    spec.args = args.iter().map(Into::into).collect();
    let out = gauntlet_node::run_to_end(
        &gauntlet_node::LocalBackend,
        &spec,
        None,
        Duration::from_secs(10),
        READBACK_STDOUT_LIMIT,
    )
    .await
    .map_err(|e| format!("{program}: {e}"))?;
    if out.timed_out {
        return Err(format!("{program}: no answer in 10 s"));
    }
    if out.stdout_truncated {
        return Err(format!(
            "{program}: printed more than {READBACK_STDOUT_LIMIT} bytes"
        ));
    }
    if !out.exit.success() {
        return Err(format!(
            "{program} {}: {}",
            out.exit.termination,
            out.exit.stderr_tail.join("\n").trim()
        ));
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.ends_with('\n') {
        text.pop();
    }
    Ok((!text.is_empty()).then_some(text))
}

/// One more probe of every service after the calm phase, added to the
/// health samples.
async fn health_after_calm(
    plan: &Plan,
    nodes: &crate::supervisor::Nodes,
    started_wall: i64,
    health: &mut BTreeMap<String, Vec<gauntlet_soak::invariants::HealthSample>>,
) {
    for (name, outcome) in crate::health::probe_round(plan, None, None, nodes).await {
        health
            .entry(name)
            .or_default()
            .push(gauntlet_soak::invariants::HealthSample {
                // The wall clock: a resumed readback has no soak Instant.
                t_ms: gauntlet_store::now_ms() - started_wall,
                healthy: outcome.healthy,
                latency_ms: outcome
                    .healthy
                    .then_some(outcome.latency.as_secs_f64() * 1000.0),
            });
    }
}

/// Where a soak leaves its verdict.
pub fn verdict_path(store: &Store, run: &RunId) -> PathBuf {
    store.artifact_dir(run).join("verdict.json")
}
