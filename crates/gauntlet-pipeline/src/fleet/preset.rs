//! The fleet loop as a preset of the one driver: the phase to run next is
//! [`gauntlet_fleet::next`]'s decision over the phases the store holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use gauntlet_check::Validity;
use gauntlet_fleet::{Ended, Next, Phase, Record};
use gauntlet_ssh::Host;
use gauntlet_store::{Millis, NewStage, RunId, RunKind, Stage, StageEnd, StageState, Store};
use serde_json::{Value, json};

use super::LoopPlan;
use crate::driver::{At, Engine, Preset, StageName, StageOutcome, Step};
use crate::progress::Progress;
use crate::supervisor::{Samples, Supervisor, log_dir};
use crate::{PipelineError, io_err};

/// One fleet loop being driven.
pub(crate) struct FleetLoop {
    pub(super) plan: Arc<LoopPlan>,
    /// The store's stages, mirrored.
    stages: Vec<StageName>,
    /// The phase of the stage the driver runs next.
    current: Option<Phase>,
    /// The loop's record so far, as the store has it (refreshed before
    /// each decision).
    pub(super) records: Vec<(Record, Option<Millis>)>,
    /// Connected nodes, by name: the project's nodes that answered.
    pub(super) hosts: BTreeMap<String, Host>,
    /// Nodes that did not answer at setup (or since): skipped.
    pub(super) degraded: BTreeSet<String>,
    /// The project's service on each node, when Gauntlet supervises it.
    pub(super) supervisor: Supervisor,
    pub(super) samples: Samples,
    pub(super) progress: Progress,
    /// The run's directory.
    pub(super) dir: PathBuf,
    pub(super) run: RunId,
    /// The project's last green figures before this loop (for the
    /// `improvement` criterion), from its latest earlier loop.
    pub(super) earlier_figures: Option<BTreeMap<String, gauntlet_fleet::Figure>>,
}

/// What a phase's stage keeps in its summary, so the loop's record can be
/// read back from the store.
pub(super) fn record_summary(phase: &Phase, ended: &Ended, details: Value) -> Value {
    let mut summary = json!({ "phase": phase, "ended": ended });
    if let (Some(object), Value::Object(more)) = (summary.as_object_mut(), details) {
        object.extend(more);
    }
    summary
}

impl FleetLoop {
    pub fn new(engine: &Engine<'_>, plan: Arc<LoopPlan>) -> Result<FleetLoop, PipelineError> {
        let services_dir = log_dir(&engine.dir);
        std::fs::create_dir_all(&services_dir).map_err(io_err(&services_dir))?;
        let supervisor = Supervisor::new(
            Arc::new(super::nodes::service_plan(&plan, &BTreeMap::new())),
            services_dir,
            0,
            engine.samples.clone(),
            engine.context.backend.clone(),
            BTreeMap::new(),
        );
        let stages = engine
            .store
            .stage_states(&engine.run)?
            .into_iter()
            .map(|(name, _)| name)
            .collect::<Vec<_>>();
        let kinds = engine.store.stages(&engine.run)?;
        let earlier_figures = earlier_green_figures(engine.store, &engine.run, &plan.project)?;
        Ok(FleetLoop {
            stages: stages
                .into_iter()
                .zip(kinds)
                .map(|(name, s)| StageName {
                    name,
                    kind: s.kind,
                    guards: Default::default(),
                })
                .collect(),
            plan,
            current: None,
            records: Vec::new(),
            hosts: BTreeMap::new(),
            degraded: BTreeSet::new(),
            supervisor,
            samples: engine.samples.clone(),
            progress: engine.progress.clone(),
            dir: engine.dir.clone(),
            run: engine.run.clone(),
            earlier_figures,
        })
    }

    /// Adds the stage of `phase` to the store and to the mirror.
    fn append(
        &mut self,
        store: &Store,
        run: &RunId,
        phase: &Phase,
    ) -> Result<usize, PipelineError> {
        let word = phase.word();
        let n = self.stages.iter().filter(|s| s.kind == word).count() + 1;
        let name = format!("{word}-{n}");
        store.append_stage(run, &NewStage::new(name.clone(), word))?;
        self.stages.push(StageName {
            name,
            kind: word.to_owned(),
            guards: Default::default(),
        });
        Ok(self.stages.len() - 1)
    }
}

/// The loop's record from the store's stages: each ended phase and how it
/// ended (an overridden one as if it had done what it is for), with its
/// end time; up to the first stage not ended.
pub(super) fn read_records(
    run: &RunId,
    stages: &[Stage],
) -> Result<Vec<(Record, Option<Millis>)>, PipelineError> {
    let mut out = Vec::new();
    for s in stages {
        let a = s.current();
        let summary = match a.state {
            StageState::Passed | StageState::Failed | StageState::Overridden => &a.summary,
            StageState::Skipped => continue,
            StageState::Pending | StageState::Running => break,
        };
        let unreadable = |why: String| PipelineError::ResolvedPlan {
            run: run.to_string(),
            path: PathBuf::from(format!("stage {}", s.name)),
            message: why,
        };
        let Some(summary) = summary else {
            return Err(unreadable(format!(
                "it ended {} without the loop's record ({})",
                a.state,
                a.message.as_deref().unwrap_or("no message")
            )));
        };
        let phase: Phase = serde_json::from_value(summary["phase"].clone())
            .map_err(|e| unreadable(format!("its phase does not read: {e}")))?;
        let mut ended: Ended = serde_json::from_value(summary["ended"].clone())
            .map_err(|e| unreadable(format!("how it ended does not read: {e}")))?;
        if a.state == StageState::Overridden {
            ended = overridden(&phase, ended);
        }
        out.push((Record { phase, ended }, a.ended_at));
    }
    Ok(out)
}

/// What an operator's override of a failed phase counts as: the phase
/// did what it is for.
fn overridden(phase: &Phase, ended: Ended) -> Ended {
    match (phase, ended) {
        (_, Ended::Reached { total, .. }) => Ended::Reached {
            reachable: total,
            total,
        },
        (_, Ended::Tested { figures, .. }) => Ended::Tested {
            passed: true,
            figures,
        },
        (Phase::Fix { .. }, _) => Ended::Fixed {
            commit: "(overridden by an operator)".to_owned(),
        },
        (Phase::Wait { .. }, _) => Ended::Waited,
        (_, _) => Ended::Done,
    }
}

/// The figures of the last green test of the project's latest earlier
/// loop, if any.
fn earlier_green_figures(
    store: &Store,
    this: &RunId,
    project: &str,
) -> Result<Option<BTreeMap<String, gauntlet_fleet::Figure>>, PipelineError> {
    let runs = store.runs(&gauntlet_store::RunFilter {
        kind: Some(RunKind::Fleet),
        ..Default::default()
    })?;
    for r in runs {
        if r.id == *this || r.plan_name != project {
            continue;
        }
        let Ok(records) = read_records(&r.id, &store.stages(&r.id)?) else {
            continue;
        };
        if let Some(figures) = records.iter().rev().find_map(|(r, _)| match &r.ended {
            Ended::Tested {
                passed: true,
                figures,
            } => Some(figures.clone()),
            _ => None,
        }) {
            return Ok(Some(figures));
        }
    }
    Ok(None)
}

impl Preset for FleetLoop {
    const KIND: RunKind = RunKind::Fleet;

    fn stages(&self) -> Vec<StageName> {
        self.stages
            .iter()
            .map(|s| StageName {
                name: s.name.clone(),
                kind: s.kind.clone(),
                guards: Default::default(),
            })
            .collect()
    }

    async fn next(
        &mut self,
        store: &Store,
        run: &RunId,
        stored: &[(String, StageState)],
    ) -> Result<Step, PipelineError> {
        self.records = read_records(run, &store.stages(run)?)?;
        let records: Vec<Record> = self.records.iter().map(|(r, _)| r.clone()).collect();
        let decision = gauntlet_fleet::next(&self.plan.project().loop_spec, &records);
        // A stage already waiting (a retry's new attempt, or one added
        // before this process died) is the decision's phase: the decision
        // is a pure function of the record, so it is the same one.
        let waiting = stored
            .iter()
            .position(|(_, state)| matches!(state, StageState::Pending));
        match decision {
            Next::Run(phase) => {
                let index = match waiting {
                    Some(i) if self.stages[i].kind == phase.word() => i,
                    Some(i) => {
                        return Err(PipelineError::ResolvedPlan {
                            run: run.to_string(),
                            path: PathBuf::from(format!("stage {}", self.stages[i].name)),
                            message: format!(
                                "it waits to run as a {} phase, but the loop's record says {} comes next",
                                self.stages[i].kind,
                                phase.word()
                            ),
                        });
                    }
                    None => self.append(store, run, &phase)?,
                };
                self.current = Some(phase);
                Ok(Step::Run(index))
            }
            Next::Hold(why) => {
                self.progress.note(&format!("the loop holds: {why}"));
                store.hold_run(run, &why)?;
                Ok(Step::Held)
            }
            Next::Fail(why) => Ok(Step::Finish {
                verdict: Validity::Invalid,
                why: Some(why),
            }),
            Next::Complete => Ok(Step::Finish {
                verdict: Validity::Valid,
                why: Some(format!(
                    "green after the deploy and at every checkpoint ({})",
                    self.plan
                        .project()
                        .loop_spec
                        .checkpoints
                        .iter()
                        .map(|c| gauntlet_plan::format_duration(*c))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }),
        }
    }

    /// A loop resumed in a new process: the nodes are connected again,
    /// and the service, when Gauntlet supervises it and a deploy put it
    /// there, is started again from the installed artifact.
    async fn restore(&mut self, _index: usize) -> Result<(), StageEnd> {
        self.reconnect().await.map_err(StageEnd::failed)
    }

    async fn run(&mut self, at: At<'_>) -> Result<StageOutcome, PipelineError> {
        let Some(phase) = self.current.take() else {
            return Err(PipelineError::ResolvedPlan {
                run: at.run.to_string(),
                path: PathBuf::from(format!("stage {}", self.stages[at.index].name)),
                message: "the loop has no phase for it".into(),
            });
        };
        let (ended, details) = match &phase {
            Phase::Setup => self.setup().await,
            Phase::Build { attempt } => {
                self.build(*attempt, &self.stages[at.index].name.clone())
                    .await
            }
            Phase::Deploy => self.deploy().await,
            Phase::Test { checkpoint } => {
                self.test(*checkpoint, &self.stages[at.index].name.clone())
                    .await
            }
            Phase::Fix { round } => {
                let failed = at.index.checked_sub(1).map(|i| self.stages[i].name.clone());
                self.fix(*round, failed.as_deref()).await
            }
            Phase::Wait { checkpoint, until } => self.wait(*checkpoint, *until).await,
        };
        let passed = match &ended {
            Ended::Reached { reachable, total } => *total > 0 && reachable * 2 >= *total,
            Ended::Done | Ended::Fixed { .. } | Ended::Waited => true,
            Ended::Tested { passed, .. } => *passed,
            Ended::Failed(_) | Ended::NoFix(_) => false,
        };
        let message = details
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let summary = record_summary(&phase, &ended, details);
        Ok(StageOutcome::Ended(StageEnd {
            passed,
            summary: Some(summary),
            message,
        }))
    }

    fn watches_cancel(&self, _index: usize) -> bool {
        false
    }

    fn verdict(&self) -> Validity {
        Validity::Valid
    }

    async fn stop(&mut self) {
        self.supervisor.stop_all().await;
        self.close_hosts().await;
    }
}
