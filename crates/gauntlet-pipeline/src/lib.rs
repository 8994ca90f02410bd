//! Runs plans (`gauntlet run plan.toml`): the runtime around
//! gauntlet-plan's decisions.
//!
//! The driver asks [`gauntlet_plan::next_step`] what to do from the
//! stages' states in the store, runs that stage, and writes its end to the
//! store in one transaction (the store refuses a transition that does not
//! fit, so two processes cannot both drive a run). A failed stage holds
//! the run: the process stops every service it started and exits; the
//! operator's `retry` or `override` resumes the run in a new process,
//! which first brings back the services the earlier stages left running
//! ([`gauntlet_plan::running_before`]). The resolved plan is kept with
//! the run (`plan.resolved.json`), so a resumed run runs the same plan
//! even if the file changed since.
//!
//! Whatever happens (a hold, a Ctrl-C, an error), every service is stopped
//! and the reports (`REPORT.json`, `REPORT.md`, `report.html`,
//! `junit.xml`) are written to the run's artifact directory.

mod check;
mod clock;
pub mod cluster;
mod command;
mod container_net;
mod containers;
mod driver;
pub mod fleet;
mod gate;
mod health;
mod hosts;
mod lab;
mod matrix;
mod notify;
mod plan_fleet;
mod progress;
mod requires;
mod sensors;
pub mod soak;
mod stage;
mod supervisor;
mod tally;
pub mod test;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use gauntlet_events::Events;
use gauntlet_node::Backend;
use gauntlet_plan::{Plan, expand, exposures};
use gauntlet_report::run::{Format, RunReport, render};
use gauntlet_store::{NewRun, NewStage, Run, RunId, RunKind, Store, StoreError};
use tokio::sync::watch;

pub use command::{KEEP_BYTES, KEEP_LINES, MAX_OUTPUT_FILE};
pub use progress::Progress;

use crate::driver::Engine;
use crate::hosts::PlanHosts;
use crate::stage::{StageRunner, resolved_plan_path};
use crate::supervisor::{Supervisor, log_dir};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the plan has no [soak] table: `gauntlet soak` needs one (see docs/soak.md)")]
    NotSoak,
    #[error("the plan has no [workload]: a cluster test needs one (see docs/cluster.md)")]
    NotCluster,
    #[error("run {run}'s storm cannot be replayed: {why}")]
    Replay { run: String, why: String },
    #[error("run {run}: its resolved plan {path} cannot be read: {message}")]
    ResolvedPlan {
        run: String,
        path: PathBuf,
        message: String,
    },
    /// The plan's clock faults cannot be carried out (no libfaketime).
    #[error("{0}")]
    Clock(String),
    /// The plan's network lab could not be built (not root, no `nft`, ...).
    #[error("the plan's network lab: {0}")]
    Lab(String),
    /// The plan's fleet nodes could not be reached (or cannot carry out
    /// its partitions): each node named, with ssh's or nft's own words.
    #[error("the plan's fleet: {0}")]
    Fleet(String),
    /// The plan's containers could not be prepared (no engine, an image
    /// that is not there, a build that failed): the engine's own words.
    #[error("the plan's containers: {0}")]
    Docker(String),
    #[error("run {run}: its resolved plan {path} is not the run's: {message}")]
    PlanMismatch {
        run: String,
        path: PathBuf,
        message: String,
    },
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PipelineError {
    let path = path.into();
    move |source| PipelineError::Io { path, source }
}

/// A new run of a plan.
pub struct Start {
    pub plan: Plan,
    /// The plan file's text, stored with the run.
    pub plan_text: String,
    pub seed: u64,
    pub command_line: Vec<String>,
    /// What the run is given by its caller: where it tells what happens
    /// and where its services run.
    pub context: RunContext,
}

impl Start {
    /// The store's new run of this start, with `stages`.
    pub(crate) fn new_run(&self, stages: Vec<NewStage>) -> NewRun {
        NewRun {
            plan_name: self.plan.name.clone(),
            plan_path: self.plan.path.as_ref().map(|p| p.display().to_string()),
            plan_text: self.plan_text.clone(),
            seed: self.seed,
            gauntlet_version: env!("CARGO_PKG_VERSION").to_owned(),
            command_line: self.command_line.clone(),
            stages,
        }
    }
}

/// What a run is given by its caller, the same for every preset.
#[derive(Clone, Debug)]
pub struct RunContext {
    /// Where the run tells what happens (the CLI's printer, the store,
    /// a dashboard); `Events::none()` for silence.
    pub events: Events,
    /// Where the plan's services run. Gauntlet's own helpers (test
    /// commands, soak users, readbacks, probes, checker programs) are
    /// clients on the control host and always run locally.
    pub backend: Arc<dyn Backend>,
    /// Set by [`resume`]: how the run was made to go on, told on the
    /// run's events (`run-resumed`) once it is driven again.
    pub resumed: Option<Resumption>,
}

impl RunContext {
    /// Silent, local: benchmarks and library callers.
    pub fn local(events: Events) -> RunContext {
        RunContext {
            events,
            backend: gauntlet_node::LocalBackend::shared(),
            resumed: None,
        }
    }
}

/// How an operator made a held or interrupted run go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resumption {
    /// `gauntlet retry`: the held stage runs again.
    Retry,
    /// `gauntlet override`: the held stage counts as done, by `who`, for
    /// `reason`.
    Override {
        stage: String,
        who: String,
        reason: String,
    },
}

/// How a run ended for now.
#[derive(Debug)]
pub struct Outcome {
    /// The run as stored afterwards: `finished`, `held`, `interrupted`.
    pub run: Run,
    /// The report files written, absolute.
    pub reports: Vec<PathBuf>,
}

/// Creates a run of the plan and drives it until it finishes or holds.
pub async fn start(
    store: Store,
    start: Start,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, PipelineError> {
    let stages = expand(&start.plan);
    let run = store.create_run(
        &start.new_run(
            stages
                .iter()
                .map(|s| NewStage::new(s.name.clone(), s.kind()))
                .collect(),
        ),
    )?;
    save_resolved_plan(&store, &run.id, &start.plan)?;
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

/// Keeps the resolved plan with the run (`plan.resolved.json`): a resumed
/// run executes it, not the plan file as it is by then.
pub(crate) fn save_resolved_plan(
    store: &Store,
    run: &RunId,
    plan: &Plan,
) -> Result<(), PipelineError> {
    save_resolved(store, run, stage::RESOLVED_PLAN, plan)
}

/// Keeps what a run runs (a plan, a fleet loop) as JSON in its directory
/// under `name`, recorded as its `plan` artifact.
pub(crate) fn save_resolved(
    store: &Store,
    run: &RunId,
    name: &str,
    value: &impl serde::Serialize,
) -> Result<(), PipelineError> {
    let dir = store.artifact_dir(run);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).expect("a resolved plan serializes");
    std::fs::write(&path, text).map_err(io_err(&path))?;
    store.add_artifact(run, None, name, "plan")?;
    Ok(())
}

/// Reads what [`save_resolved`] kept; an error names the run and the file.
pub(crate) fn read_resolved<T: serde::de::DeserializeOwned>(
    store: &Store,
    run: &RunId,
    name: &str,
) -> Result<T, PipelineError> {
    let path = store.artifact_dir(run).join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .map_err(|message| PipelineError::ResolvedPlan {
            run: run.to_string(),
            path,
            message,
        })
}

/// The resolved plan kept with a run. The CLI reads it before `retry` or
/// `override` changes the store, so a run that cannot be resumed is
/// refused without counting an attempt.
pub fn resolved_plan(store: &Store, run: &RunId) -> Result<Plan, PipelineError> {
    read_resolved(store, run, stage::RESOLVED_PLAN)
}

/// Checks that `run` can be resumed (`retry`, `override`) before anything
/// changes it: its resolved plan reads, is a plan of the run's kind, makes
/// the stages the store has (a plan run's; a soak's stages are its own),
/// and the run's directory can take its logs. So the driver does not
/// refuse the run after the store counted an attempt: a run that cannot
/// be resumed is left exactly as it was. Returns the plan (none for a
/// fleet loop, whose loop is read instead).
pub fn check_resumable(store: &Store, run: &RunId) -> Result<Option<Plan>, PipelineError> {
    let r = store.run(run.as_str())?;
    if r.kind == RunKind::Fleet {
        // A loop's stages are its own record; its loop must read.
        fleet::resolved_loop(store, run)?;
        return Ok(None);
    }
    let plan = resolved_plan(store, run)?;
    let dir = store.artifact_dir(run);
    let refuse = |message: String| PipelineError::PlanMismatch {
        run: run.to_string(),
        path: resolved_plan_path(&dir),
        message,
    };
    match (r.kind, plan.soak.is_some()) {
        (RunKind::Soak, false) => {
            return Err(refuse(
                "it has no [soak] table, but the run is a soak".into(),
            ));
        }
        (RunKind::Run, true) => {
            return Err(refuse(
                "it is a soak plan, but the run is a plan run".into(),
            ));
        }
        (RunKind::Run, false) => {
            let planned: Vec<String> = expand(&plan).into_iter().map(|s| s.name).collect();
            let stored: Vec<String> = store
                .stage_states(run)?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            if planned != stored {
                let at = planned
                    .iter()
                    .zip(&stored)
                    .position(|(a, b)| a != b)
                    .unwrap_or(planned.len().min(stored.len()));
                return Err(refuse(format!(
                    "it makes {} stages where the store has {}; stage {} is {} in the plan, {} in the store",
                    planned.len(),
                    stored.len(),
                    at + 1,
                    planned.get(at).map_or("none", String::as_str),
                    stored.get(at).map_or("none", String::as_str),
                )));
            }
        }
        _ => {}
    }
    let logs = log_dir(&dir);
    std::fs::create_dir_all(&logs).map_err(io_err(&logs))?;
    Ok(Some(plan))
}

/// Warns, on the run's events, of what loading the plan let pass (a
/// Compose key that changes nothing here), and of every address in the
/// plan beyond loopback (`0.0.0.0`, a non-loopback IP): what gauntlet
/// starts there may be reachable from other machines.
pub fn warn_exposed(plan: &Plan, events: &Events) {
    for warning in &plan.warnings {
        events.warn("plan", warning.clone());
    }
    for exposure in exposures(plan) {
        events.warn("plan", exposure.to_string());
    }
}

/// Drives a run that `retry` or `override` just made `running` again,
/// from the resolved plan kept with it: a plan run through the plan's
/// preset, a soak (its resolved plan has a `[soak]` table) through the
/// soak's, both on the one driver.
pub async fn resume(
    store: Store,
    run: &RunId,
    how: Resumption,
    context: RunContext,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, PipelineError> {
    let context = RunContext {
        resumed: Some(how),
        ..context
    };
    let r = store.run(run.as_str())?;
    if r.kind == RunKind::Fleet {
        return fleet::resume(&store, r.id, context, cancel).await;
    }
    let plan = resolved_plan(&store, run)?;
    if plan.soak.is_some() {
        warn_exposed(&plan, &context.events);
        return Ok(soak::drive(&store, r.id, plan, r.seed, context, cancel)
            .await?
            .outcome);
    }
    drive(&store, r.id, plan, r.seed, context, cancel).await
}

/// Drives a plan run on the one driver, with the plan's stage kinds as its
/// preset.
async fn drive(
    store: &Store,
    run: RunId,
    plan: Plan,
    seed: u64,
    context: RunContext,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, PipelineError> {
    // Up before the engine starts the run's clock; held to the end.
    let hosts = PlanHosts::up(&plan, seed, run.as_str()).await?;
    let driven = drive_on(store, run, plan, seed, context, cancel, &hosts).await;
    hosts.close().await;
    driven
}

async fn drive_on(
    store: &Store,
    run: RunId,
    plan: Plan,
    seed: u64,
    context: RunContext,
    cancel: watch::Receiver<bool>,
    hosts: &PlanHosts,
) -> Result<Outcome, PipelineError> {
    let containers = containers::up(&plan, run.as_str()).await?;
    let context = notify::attach(&plan, context);
    let engine = Engine::new(store, run, context)?;
    warn_exposed(&plan, engine.progress.events());
    let plan = Arc::new(plan);
    let services_dir = log_dir(&engine.dir);
    std::fs::create_dir_all(&services_dir).map_err(io_err(&services_dir))?;
    let backends = hosts.backends();
    let mut runner = StageRunner {
        stages: expand(&plan),
        plan: plan.clone(),
        supervisor: Supervisor::new(
            plan.clone(),
            services_dir,
            seed,
            engine.samples.clone(),
            engine.context.backend.clone(),
            backends.clone(),
        ),
        samples: engine.samples.clone(),
        artifact_dir: engine.dir.clone(),
        progress: engine.progress.clone(),
        first_cycle_rss: first_cycle_rss(store, &engine.run)?,
        new_artifacts: Vec::new(),
        hosts: backends,
        broken: None,
    };
    if let Some(c) = &containers {
        runner.supervisor.set_containers(c.backends.clone());
    }
    engine.drive(&mut runner, cancel).await
}

/// Records every service log (stdout and stderr of all its processes).
pub(crate) fn record_service_logs(
    store: &Store,
    run: &RunId,
    artifact_dir: &std::path::Path,
) -> Result<(), PipelineError> {
    let dir = log_dir(artifact_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    for name in names {
        store.add_artifact(run, None, format!("services/{name}"), "log")?;
    }
    Ok(())
}

/// Max RSS of each module's first cycle, from stages that already ran (a
/// resumed run measures growth against them too).
fn first_cycle_rss(store: &Store, run: &RunId) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut out = BTreeMap::new();
    for s in store.stages(run)? {
        if s.kind != "module" {
            continue;
        }
        let Some(summary) = &s.current().summary else {
            continue;
        };
        if summary["cycle"].as_u64() == Some(1)
            && let (Some(m), Some(rss)) = (
                summary["module"].as_str(),
                summary["rss_bytes"]["max"].as_u64(),
            )
        {
            out.insert(m.to_owned(), rss);
        }
    }
    Ok(out)
}

/// Writes every report format into the run's artifact directory and
/// records them as artifacts.
pub fn write_reports(store: &Store, run: &RunId) -> Result<Vec<PathBuf>, PipelineError> {
    let report = RunReport::load(store, run)?;
    let dir = store.artifact_dir(run);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut written = Vec::new();
    for format in [Format::Json, Format::Markdown, Format::Html, Format::Junit] {
        let path = dir.join(format.file_name());
        std::fs::write(&path, render(&report, format)).map_err(io_err(&path))?;
        store.add_artifact(run, None, format.file_name(), "report")?;
        written.push(path);
    }
    Ok(written)
}
