//! The fleet: nodes of a `fleet.toml` reached over SSH, and the fleet
//! loop (`gauntlet start`) as a preset on the one driver.
//!
//! A loop is a run of kind `fleet` whose stages are its phases, added one
//! at a time as [`gauntlet_fleet::next`] decides from the phases recorded
//! so far (each stage's summary keeps its phase and how it ended). So the
//! store holds the loop's whole state: `gauntlet status` reads it from
//! another shell, and a loop whose process died goes on with `gauntlet
//! retry` from the phase it was in. The project's service runs on the
//! nodes under the run's supervisor through the `ssh` backend, like any
//! plan's service on any backend: logs, samples and health checks are
//! the same.

pub mod diagnose;
mod nodes;
mod phases;
mod preset;
mod proof;
mod suites;
pub mod survey;

use std::sync::Arc;

use gauntlet_plan::{Criteria, Fleet, FleetNode, Project, Proof};
use gauntlet_ssh::HostSpec;
use gauntlet_store::{NewRun, NewStage, RunId, RunKind, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::driver::Engine;
use crate::{Outcome, PipelineError, RunContext};

pub use proof::PROOF_DIR;

/// How long a control step on a fleet node may take (a signal, a usage
/// look, a node's start) unless a command says otherwise.
pub const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The SSH connection a fleet node asks for: the one place a fleet file's
/// `SshTarget` becomes a [`HostSpec`].
pub fn host_spec(node: &FleetNode) -> HostSpec {
    let ssh = &node.ssh;
    HostSpec {
        name: node.name.clone(),
        address: ssh.address.clone(),
        fallback_address: ssh.fallback_address.clone(),
        port: ssh.port,
        user: ssh.user.clone(),
        identity: ssh.identity.clone(),
        known_hosts: ssh.known_hosts.clone(),
        connect_timeout: ssh.connect_timeout,
        command_timeout: COMMAND_TIMEOUT,
    }
}

/// What a loop tests and how it judges and proves it: the interview's
/// answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choices {
    /// A focus of the project's suites, or `full-suite`.
    pub focus: String,
    pub criteria: Criteria,
    pub proof: Proof,
}

/// What a loop runs: the fleet as loaded, the project, the choices. Kept
/// with the run (`fleet.resolved.json`), so a resumed loop runs the same
/// loop even if the file changed since.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoopPlan {
    pub fleet: Fleet,
    pub project: String,
    pub choices: Choices,
}

impl LoopPlan {
    /// Checks that the project exists and the choices fit it; the error
    /// says what would.
    pub fn new(fleet: Fleet, project: &str, choices: Choices) -> Result<LoopPlan, String> {
        let Some(p) = fleet.project(project) else {
            let names: Vec<&str> = fleet.projects.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "{} has no project {project:?}; its projects: {}",
                fleet.path.display(),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        };
        if !p.focuses().contains(&choices.focus) {
            return Err(format!(
                "project {project} has no suite for focus {:?}; its focuses: {}",
                choices.focus,
                p.focuses().join(", ")
            ));
        }
        if p.suites_of(&choices.focus).is_empty() {
            return Err(format!(
                "project {project} has no [[project.suite]]: a loop needs something to test"
            ));
        }
        if choices.criteria == Criteria::Check && p.check.is_none() {
            return Err(format!(
                "criteria `check` runs the project's [project.criteria] check program, and project {project} has none"
            ));
        }
        Ok(LoopPlan {
            project: project.to_owned(),
            fleet,
            choices,
        })
    }

    pub fn project(&self) -> &Project {
        self.fleet
            .project(&self.project)
            .expect("checked by LoopPlan::new")
    }
}

/// The resolved loop kept with each fleet run.
pub const RESOLVED_LOOP: &str = "fleet.resolved.json";

/// A new loop.
pub struct LoopStart {
    pub plan: LoopPlan,
    /// The fleet file's text, stored with the run.
    pub fleet_text: String,
    pub command_line: Vec<String>,
    pub context: RunContext,
}

/// Creates a fleet run and drives the loop until it completes, fails,
/// holds or is interrupted; then writes the reports and the proof bundle.
pub async fn start(
    store: Store,
    start: LoopStart,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, PipelineError> {
    let run = store.create_run_as(
        RunKind::Fleet,
        &NewRun {
            plan_name: start.plan.project.clone(),
            plan_path: Some(start.plan.fleet.path.display().to_string()),
            plan_text: start.fleet_text,
            seed: 0,
            gauntlet_version: env!("CARGO_PKG_VERSION").to_owned(),
            command_line: start.command_line,
            stages: vec![NewStage::new("setup", "setup")],
        },
    )?;
    crate::save_resolved(&store, &run.id, RESOLVED_LOOP, &start.plan)?;
    drive(&store, run.id, start.plan, start.context, cancel).await
}

/// The loop kept with a fleet run.
pub fn resolved_loop(store: &Store, run: &RunId) -> Result<LoopPlan, PipelineError> {
    crate::read_resolved(store, run, RESOLVED_LOOP)
}

/// Drives a loop that `retry` or `override` made `running` again.
pub(crate) async fn resume(
    store: &Store,
    run: RunId,
    context: RunContext,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, PipelineError> {
    let plan = resolved_loop(store, &run)?;
    drive(store, run, plan, context, cancel).await
}

async fn drive(
    store: &Store,
    run: RunId,
    plan: LoopPlan,
    context: RunContext,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, PipelineError> {
    let proof = plan.choices.proof;
    let context = crate::notify::attach_entries(&plan.project, &plan.fleet.notify.clone(), context);
    let engine = Engine::new(store, run.clone(), context)?;
    let mut preset = preset::FleetLoop::new(&engine, Arc::new(plan))?;
    let outcome = engine.drive(&mut preset, cancel).await?;
    let mut reports = outcome.reports;
    reports.extend(proof::write(store, &run, proof)?);
    Ok(Outcome {
        run: outcome.run,
        reports,
    })
}
