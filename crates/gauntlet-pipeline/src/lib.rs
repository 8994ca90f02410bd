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
mod command;
mod health;
mod progress;
pub mod soak;
mod stage;
mod supervisor;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use gauntlet_check::Validity;
use gauntlet_events::Events;
use gauntlet_node::Backend;
use gauntlet_plan::{Next, Plan, RunStage, expand, next_step, running_before};
use gauntlet_report::run::{Format, RunReport, render};
use gauntlet_store::{
    NewRun, NewStage, Run, RunId, RunKind, RunState, StageEnd, Store, StoreError,
};
use tokio::sync::watch;

pub use progress::Progress;

use crate::stage::{StageRunner, resolved_plan_path};
use crate::supervisor::{Samples, Supervisor, log_dir};

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
    #[error("run {run}: its resolved plan {path} cannot be read: {message}")]
    ResolvedPlan {
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
}

impl RunContext {
    /// Silent, local: benchmarks and library callers.
    pub fn local(events: Events) -> RunContext {
        RunContext {
            events,
            backend: gauntlet_node::LocalBackend::shared(),
        }
    }
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
    let run = store.create_run(&NewRun {
        plan_name: start.plan.name.clone(),
        plan_path: start.plan.path.as_ref().map(|p| p.display().to_string()),
        plan_text: start.plan_text,
        seed: start.seed,
        gauntlet_version: env!("CARGO_PKG_VERSION").to_owned(),
        command_line: start.command_line,
        stages: stages
            .iter()
            .map(|s| NewStage::new(s.name.clone(), s.kind()))
            .collect(),
    })?;
    save_resolved_plan(&store, &run.id, &start.plan)?;
    drive(store, run.id, start.plan, start.seed, start.context, cancel).await
}

/// Keeps the resolved plan with the run (`plan.resolved.json`): a resumed
/// run executes it, not the plan file as it is by then.
pub(crate) fn save_resolved_plan(
    store: &Store,
    run: &RunId,
    plan: &Plan,
) -> Result<(), PipelineError> {
    let dir = store.artifact_dir(run);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let resolved = resolved_plan_path(&dir);
    let text = serde_json::to_string_pretty(plan).expect("a plan serializes");
    std::fs::write(&resolved, text).map_err(io_err(&resolved))?;
    store.add_artifact(run, None, stage::RESOLVED_PLAN, "plan")?;
    Ok(())
}

/// The resolved plan kept with a run. The CLI reads it before `retry` or
/// `override` changes the store, so a run that cannot be resumed is
/// refused without counting an attempt.
pub fn resolved_plan(store: &Store, run: &RunId) -> Result<Plan, PipelineError> {
    let path = resolved_plan_path(&store.artifact_dir(run));
    std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .map_err(|message| PipelineError::ResolvedPlan {
            run: run.to_string(),
            path,
            message,
        })
}

/// Drives a run that `retry` or `override` just made `running` again: a
/// plan run through its stage loop, a soak (its resolved plan has a
/// `[soak]` table) through the soak's.
pub async fn resume(
    store: Store,
    run: &RunId,
    context: RunContext,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, PipelineError> {
    let r = store.run(run.as_str())?;
    let plan = resolved_plan(&store, run)?;
    if plan.soak.is_some() {
        return Ok(soak::drive(store, r.id, plan, r.seed, context, cancel)
            .await?
            .outcome);
    }
    drive(store, r.id, plan, r.seed, context, cancel).await
}

async fn drive(
    store: Store,
    run: RunId,
    plan: Plan,
    seed: u64,
    context: RunContext,
    mut cancel: watch::Receiver<bool>,
) -> Result<Outcome, PipelineError> {
    let plan = Arc::new(plan);
    let stages: Vec<RunStage> = expand(&plan);
    let artifact_dir = store.artifact_dir(&run);
    let services_dir = log_dir(&artifact_dir);
    std::fs::create_dir_all(&services_dir).map_err(io_err(&services_dir))?;
    let samples = Samples::default();
    let progress = Progress::new(context.events.clone());
    progress.run_start(run.as_str(), RunKind::Run, stages.len());
    let mut runner = StageRunner {
        plan: plan.clone(),
        supervisor: Supervisor::new(
            plan.clone(),
            services_dir,
            seed,
            samples.clone(),
            context.backend.clone(),
        ),
        samples: samples.clone(),
        artifact_dir: artifact_dir.clone(),
        progress: progress.clone(),
        first_cycle_rss: first_cycle_rss(&store, &run)?,
        new_artifacts: Vec::new(),
    };
    let result = steps(&store, &run, &stages, &mut runner, &mut cancel).await;
    // Whatever happened, nothing keeps running and what was measured is kept.
    runner.supervisor.stop_all().await;
    samples.set_attempt(None);
    let flushed = store.add_measurements(&run, &samples.drain());
    result?;
    flushed?;
    record_service_logs(&store, &run, &artifact_dir)?;
    let reports = write_reports(&store, &run)?;
    Ok(Outcome {
        run: store.run(run.as_str())?,
        reports,
    })
}

/// The stage loop: run the next stage until the run holds, finishes or is
/// interrupted.
async fn steps(
    store: &Store,
    run: &RunId,
    stages: &[RunStage],
    runner: &mut StageRunner,
    cancel: &mut watch::Receiver<bool>,
) -> Result<(), PipelineError> {
    let mut restored = false;
    loop {
        let stored = store.stages(run)?;
        if stored.len() != stages.len() || stored.iter().zip(stages).any(|(s, p)| s.name != p.name)
        {
            // The store and the resolved plan disagree: never guess.
            return Err(PipelineError::ResolvedPlan {
                run: run.to_string(),
                path: resolved_plan_path(&runner.artifact_dir),
                message: "its stages differ from the run's stages in the store".into(),
            });
        }
        let statuses: Vec<_> = stored.iter().map(|s| s.state()).collect();
        let index = match next_step(&statuses) {
            Next::Finished => {
                store.finish_run(run, Validity::Valid)?;
                return Ok(());
            }
            Next::Hold(_) => return Ok(()),
            Next::Run(i) => i,
        };
        let stage = &stages[index];
        let attempt = store.start_stage(run, &stage.name)?;
        runner.samples.set_attempt(Some(attempt.id));
        runner
            .progress
            .stage_start(index, stages.len(), &stage.name, stage.kind());
        let (samples, progress) = (runner.samples.clone(), runner.progress.clone());
        let work = async {
            if !restored {
                // A resumed run: bring back what earlier stages left running.
                let before = running_before(&runner.plan, stages, index);
                if !before.is_empty() {
                    runner
                        .progress
                        .note(&format!("restoring {}", before.join(", ")));
                    let end = runner.up(&before).await;
                    if !end.passed {
                        let why = end.message.clone().unwrap_or_default();
                        return StageEnd {
                            message: Some(format!(
                                "could not bring back the services earlier stages left running: {why}"
                            )),
                            ..end
                        };
                    }
                }
            }
            runner.run(stage, attempt.attempt).await
        };
        let end = tokio::select! {
            end = work => end,
            _ = cancelled(cancel) => {
                store.add_measurements(run, &samples.drain())?;
                store.interrupt_run(run, "stopped by a signal (Ctrl-C or SIGTERM)")?;
                progress.stage_end(index, stages.len(), &stage.name, false, Some("interrupted"));
                return Ok(());
            }
        };
        restored = true;
        store.add_measurements(run, &runner.samples.drain())?;
        for (path, kind) in runner.new_artifacts.drain(..) {
            store.add_artifact(run, Some(attempt.id), path, kind)?;
        }
        runner.progress.stage_end(
            index,
            stages.len(),
            &stage.name,
            end.passed,
            end.message.as_deref(),
        );
        if store.finish_stage(run, &stage.name, end)? == RunState::Held {
            return Ok(());
        }
    }
}

async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        // The sender is gone: no signal can come any more.
        std::future::pending::<()>().await;
    }
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
