//! The one driver. Every run — a `gauntlet test`, a plan, a soak — is a
//! row of the store with a list of stages, and this loop runs them: it
//! asks [`gauntlet_plan::next_step`] what to run from the stages' states in
//! the store, starts the stage, hands it to the run's [`Preset`], and
//! writes how it ended in one transaction (the store refuses a transition
//! that does not fit, so two processes cannot both drive a run). On any end
//! — finished, held, interrupted, an error — the preset stops what it
//! started, what was measured is kept, and the reports are written.
//!
//! A preset is what one job does at each stage: the plan's stage kinds
//! ([`crate::stage::StageRunner`]), the soak's up, soak, calm and readback
//! ([`crate::soak`]), the workbench test ([`crate::test`]). A new job is
//! one more preset; the loop, the store's records, the event stream and
//! the teardown stay the same.

use std::path::PathBuf;
use std::sync::Arc;

use gauntlet_check::Validity;
use gauntlet_events::{Event, StageOutcome as Ended};
use gauntlet_plan::{Guards, HWMON_ROOT, Next, Sensors, next_step};
use gauntlet_store::{
    RunId, RunKind, RunState, StageAttempt, StageEnd, StageState, Store, StoreWriter,
};
use tokio::sync::watch;

use crate::progress::Progress;
use crate::requires;
use crate::sensors::{SensorSampler, StageHeat, judge_heat};
use crate::stage::resolved_plan_path;
use crate::supervisor::Samples;
use crate::tally::OpTally;
use crate::{Outcome, PipelineError, RunContext, record_service_logs, write_reports};

/// How a stage ended, as its preset tells the driver.
pub(crate) enum StageOutcome {
    /// The stage was carried out, passed or failed; a failure holds the run.
    Ended(StageEnd),
    /// A Ctrl-C or SIGTERM stopped it: the run is interrupted, and a retry
    /// runs the stage again.
    Interrupted(String),
    /// It could not be carried out, and the run cannot be resumed: the run
    /// is abandoned (a test run, which never holds).
    Abandoned(String),
    /// What it needs is absent (no GPU, no SMART on this disk): it ends
    /// `skipped` with the reason, and the run goes on. Never a pass.
    Skipped(String),
}

/// What the driver does next.
pub(crate) enum Step {
    /// Run stage `i`.
    Run(usize),
    /// The run holds (the store says so already).
    Held,
    /// Every stage is done: finish the run with this verdict, and why
    /// when it is not the stages' own.
    Finish {
        verdict: Validity,
        why: Option<String>,
    },
}

/// One stage of a run as the preset lists it: the store's name and kind,
/// and what the driver checks around it (what it requires, how hot it may
/// run).
pub(crate) struct StageName {
    pub name: String,
    pub kind: String,
    pub guards: Guards,
}

/// Where a stage runs: the store and the run, the attempt the driver
/// started, and the run's cancel signal (a preset that must record what it
/// saw before it stops watches it itself; see [`Preset::run`]).
pub(crate) struct At<'a> {
    pub store: &'a Store,
    pub run: &'a RunId,
    pub index: usize,
    pub attempt: &'a StageAttempt,
    pub cancel: &'a mut watch::Receiver<bool>,
}

/// What one job does at each stage.
pub(crate) trait Preset {
    /// The store's kind of the runs this preset drives.
    const KIND: RunKind;

    /// The run's stages, in order: the store's list must match it (asked
    /// again when [`Preset::next`] added one).
    fn stages(&self) -> Vec<StageName>;

    /// Brings back what the stages before `index` left running: the first
    /// step of a run resumed by `retry` or `override` in a new process.
    /// `Err` is the failed end (why, and what the logs said); the stage
    /// then fails without running.
    async fn restore(&mut self, index: usize) -> Result<(), StageEnd>;

    /// Runs stage `at.index`. A preset that has nothing to save on a
    /// Ctrl-C leaves the cancel signal to the driver (see
    /// [`Preset::watches_cancel`]); one that must keep what it recorded
    /// watches `at.cancel` itself and says `Interrupted`.
    async fn run(&mut self, at: At<'_>) -> Result<StageOutcome, PipelineError>;

    /// Whether stage `index` watches the cancel signal itself. When not, the
    /// driver drops the stage's work at a Ctrl-C and interrupts the run.
    fn watches_cancel(&self, index: usize) -> bool;

    /// Why the stage that just ended could not be carried out at all (a
    /// program that cannot be started), if so: the driver then interrupts
    /// the run (exit 255) instead of holding it, and a retry runs the
    /// stage again. Asked once per stage.
    fn take_broken(&mut self) -> Option<String> {
        None
    }

    /// The run's verdict once every stage passed.
    fn verdict(&self) -> Validity;

    /// What the run does next, from its stages' states in the store. A
    /// plan's rule, the default: strict order, a failed stage holds, all
    /// done is the verdict (unknown when every stage was skipped). A
    /// growing preset (the fleet loop) decides from its own records, adds
    /// the stage it runs next to the store and to [`Preset::stages`], and
    /// holds the run itself.
    async fn next(
        &mut self,
        _store: &Store,
        _run: &RunId,
        stored: &[(String, StageState)],
    ) -> Result<Step, PipelineError> {
        let statuses: Vec<_> = stored.iter().map(|s| s.1).collect();
        Ok(match next_step(&statuses) {
            Next::Finished => Step::Finish {
                // A run whose every stage was skipped checked nothing.
                verdict: if statuses.iter().all(|s| *s == StageState::Skipped) {
                    Validity::Unknown
                } else {
                    self.verdict()
                },
                why: None,
            },
            Next::Hold(_) => Step::Held,
            Next::Run(i) => Step::Run(i),
        })
    }

    /// The sensor sampler's settings, when the run's stages should be
    /// sampled (a plan's; the workbench has no hardware to watch).
    fn sensors(&self) -> Option<Sensors> {
        None
    }

    /// Stops everything the preset started (services, proxies): on every
    /// end of the run, before the reports.
    async fn stop(&mut self);
}

/// What one run gives its preset and its driver: the store row, its
/// directory, the event stream (the caller's subscribers plus the store's
/// writer of fault rows and verdicts), the samples and the backend.
pub(crate) struct Engine<'a> {
    pub store: &'a Store,
    pub run: RunId,
    pub dir: PathBuf,
    pub progress: Progress,
    pub samples: Samples,
    pub context: RunContext,
    writer: Arc<StoreWriter>,
    /// The run's ops by type and function, written with the samples.
    tally: Arc<OpTally>,
}

impl<'a> Engine<'a> {
    /// The engine of `run`: its events reach the store (on a connection of
    /// its own) as well as the caller. The run's directory is the
    /// preset's to make (the workbench makes it a link).
    pub fn new(store: &'a Store, run: RunId, context: RunContext) -> Result<Self, PipelineError> {
        let dir = store.artifact_dir(&run);
        let writer = Arc::new(StoreWriter::new(Store::open(store.path())?, run.clone()));
        let tally = Arc::new(OpTally::default());
        let events = context.events.with(writer.clone()).with(tally.clone());
        Ok(Engine {
            store,
            run,
            dir,
            progress: Progress::new(events.clone()),
            samples: Samples::new(events.clone()),
            context: RunContext { events, ..context },
            writer,
            tally,
        })
    }

    /// Drives the run through `preset` until it finishes, holds or is
    /// interrupted; then stops what it started, keeps what was measured,
    /// and writes the reports.
    pub async fn drive<P: Preset>(
        &self,
        preset: &mut P,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<Outcome, PipelineError> {
        let stages = preset.stages();
        self.progress
            .run_start(self.run.as_str(), P::KIND, stages.len());
        if let Some(how) = &self.context.resumed {
            self.progress.resumed(how);
        }
        let result = self.steps(preset, stages, &mut cancel).await;
        let ended = self.end(preset, result).await;
        // What subscribers queued (a notifier's deliveries, `run-ended`
        // among them) is done before the process may exit, however the
        // run ended; each waits within its own bounds.
        self.progress.events().flush();
        ended
    }

    /// The end of every run: stop what the preset started, keep what was
    /// measured, write the reports and say `run-ended`.
    async fn end<P: Preset>(
        &self,
        preset: &mut P,
        result: Result<(), PipelineError>,
    ) -> Result<Outcome, PipelineError> {
        if let Err(e) = &result {
            // Left `running`, the run would later read as if this process
            // had died; say what stopped it. (Refused if it is not ours.)
            let _ = self.store.interrupt_run(&self.run, &format!("error: {e}"));
        }
        // Whatever happened, nothing keeps running and what was measured
        // and recorded is kept.
        preset.stop().await;
        self.samples.set_attempt(None);
        let flushed = self
            .store
            .add_measurements(&self.run, &self.samples.drain());
        let written = self.writer.finish();
        result?;
        flushed?;
        written?;
        record_service_logs(self.store, &self.run, &self.dir)?;
        let reports = write_reports(self.store, &self.run)?;
        let run = self.store.run(self.run.as_str())?;
        self.progress.events().emit(Event::RunEnded {
            state: run.state.as_str().to_owned(),
            valid: run.result.unwrap_or(Validity::Unknown),
        });
        Ok(Outcome { run, reports })
    }

    /// The stage loop: run the next stage until the run holds, finishes or
    /// is interrupted.
    async fn steps<P: Preset>(
        &self,
        preset: &mut P,
        mut stages: Vec<StageName>,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<(), PipelineError> {
        let (store, run) = (self.store, &self.run);
        let mut restored = false;
        let hwmon = preset
            .sensors()
            .map_or_else(|| PathBuf::from(HWMON_ROOT), |s| s.root);
        // Beside every stage; stopped when the loop ends, however it ends.
        let sampler = preset
            .sensors()
            .map(|s| SensorSampler::start(s, self.samples.clone(), self.progress.clone()));
        loop {
            if *cancel.borrow() {
                // Between stages: nothing is running, so nothing fails;
                // the run is interrupted before its next stage.
                store.interrupt_run(run, INTERRUPTED)?;
                return Ok(());
            }
            // Names and states only: a run of thousands of stages does not
            // read every summary at every step.
            let mut stored = store.stage_states(run)?;
            let step = preset.next(store, run, &stored).await?;
            if let Step::Run(i) = step
                && i >= stored.len()
            {
                // The preset added the stage it runs next.
                stored = store.stage_states(run)?;
                stages = preset.stages();
            }
            let total = stages.len();
            if stored.len() != total || stored.iter().zip(stages.iter()).any(|(s, p)| s.0 != p.name)
            {
                // The store and the resolved plan disagree: never guess.
                return Err(PipelineError::ResolvedPlan {
                    run: run.to_string(),
                    path: resolved_plan_path(&self.dir),
                    message: "its stages differ from the run's stages in the store".into(),
                });
            }
            let index = match step {
                Step::Finish { verdict, why } => {
                    store.conclude(run, verdict, why.as_deref())?;
                    return Ok(());
                }
                Step::Held => return Ok(()),
                Step::Run(i) => i,
            };
            let stage = &stages[index];
            let attempt = store.start_stage(run, &stage.name)?;
            self.samples.set_attempt(Some(attempt.id));
            self.progress
                .stage_start(index, total, &stage.name, &stage.kind);
            // `None`: a Ctrl-C came while the requirements were checked.
            let absent = tokio::select! {
                absent = requires::missing(&stage.guards.requires, &hwmon) => Some(absent),
                _ = cancelled(cancel) => None,
            };
            let outcome = if let Some(Some(why)) = absent {
                StageOutcome::Skipped(why)
            } else if absent.is_none() {
                StageOutcome::Interrupted(INTERRUPTED.to_owned())
            } else {
                if let Some(s) = &sampler {
                    s.stage_started();
                }
                let resumed = !restored && index > 0;
                restored = true;
                // What the stage samples reaches the store as it runs, not
                // only at its end: another shell (`status`, `show`, a
                // dashboard) sees a stage of hours move, a SIGKILL loses
                // seconds of samples, not hours, and memory stays flat.
                let flushing = async {
                    loop {
                        tokio::time::sleep(FLUSH_EVERY).await;
                        self.tally.sample(&self.samples);
                        if let Err(e) = store.add_measurements(run, &self.samples.drain()) {
                            self.progress
                                .note(&format!("samples not written to the store: {e}"));
                        }
                    }
                };
                let outcome = tokio::select! {
                    outcome = self.run_stage(preset, index, &attempt, cancel, resumed) => outcome?,
                    never = flushing => never,
                };
                match (outcome, &sampler) {
                    (StageOutcome::Ended(end), Some(s)) => StageOutcome::Ended(self.with_heat(
                        end,
                        stage.guards.max_temp_c,
                        &s.stage_ended(),
                        s.root(),
                    )),
                    (outcome, _) => outcome,
                }
            };
            self.tally.sample(&self.samples);
            store.add_measurements(run, &self.samples.drain())?;
            let outcome = match (outcome, preset.take_broken()) {
                (StageOutcome::Ended(end), Some(why)) => {
                    self.progress.stage_end(
                        index,
                        total,
                        &stage.name,
                        Ended::Failed,
                        Some(&why),
                        None,
                    );
                    store.interrupt_stage(run, &stage.name, end, &why)?;
                    return Ok(());
                }
                (outcome, _) => outcome,
            };
            match outcome {
                StageOutcome::Ended(end) => {
                    // A judging stage's summary carries its verdict.
                    let verdict = end
                        .summary
                        .as_ref()
                        .and_then(|s| s.get("valid"))
                        .and_then(|v| serde_json::from_value(v.clone()).ok());
                    self.progress.stage_end(
                        index,
                        total,
                        &stage.name,
                        if end.passed {
                            Ended::Passed
                        } else {
                            Ended::Failed
                        },
                        end.message.as_deref(),
                        verdict,
                    );
                    if store.finish_stage(run, &stage.name, end)? == RunState::Held {
                        return Ok(());
                    }
                }
                StageOutcome::Interrupted(why) => {
                    store.interrupt_run(run, &why)?;
                    self.progress.stage_end(
                        index,
                        total,
                        &stage.name,
                        Ended::Interrupted,
                        Some("interrupted"),
                        None,
                    );
                    return Ok(());
                }
                StageOutcome::Skipped(why) => {
                    store.skip_stage(run, &stage.name, &why)?;
                    self.progress.stage_end(
                        index,
                        total,
                        &stage.name,
                        Ended::Skipped,
                        Some(&why),
                        None,
                    );
                }
                StageOutcome::Abandoned(why) => {
                    self.progress.stage_end(
                        index,
                        total,
                        &stage.name,
                        Ended::Failed,
                        Some(&why),
                        None,
                    );
                    store.abandon(run, &why)?;
                    return Ok(());
                }
            }
        }
    }
}

impl Engine<'_> {
    /// Runs stage `index` through the preset: the preset watches the
    /// cancel signal itself, or the driver drops the stage at a Ctrl-C.
    async fn run_stage<P: Preset>(
        &self,
        preset: &mut P,
        index: usize,
        attempt: &StageAttempt,
        cancel: &mut watch::Receiver<bool>,
        resumed: bool,
    ) -> Result<StageOutcome, PipelineError> {
        let (store, run) = (self.store, &self.run);
        if preset.watches_cancel(index) {
            let at = At {
                store,
                run,
                index,
                attempt,
                cancel,
            };
            return restore_then_run(preset, resumed, at).await;
        }
        let (_keep, mut own) = watch::channel(false);
        let at = At {
            store,
            run,
            index,
            attempt,
            cancel: &mut own,
        };
        Ok(tokio::select! {
            outcome = restore_then_run(preset, resumed, at) => outcome?,
            _ = cancelled(cancel) => StageOutcome::Interrupted(INTERRUPTED.to_owned()),
        })
    }

    /// The stage's end with what the sensors saw: `max_temp_c` exceeded
    /// fails it; a limit no sensor could check is said, never passed
    /// over in silence.
    fn with_heat(
        &self,
        mut end: StageEnd,
        max_temp_c: Option<f64>,
        heat: &StageHeat,
        root: &std::path::Path,
    ) -> StageEnd {
        let (shown, too_hot, unchecked) = judge_heat(max_temp_c, heat, root);
        if heat.hottest.is_none() && heat.lost.is_empty() && max_temp_c.is_none() {
            return end;
        }
        let summary = end.summary.get_or_insert_with(|| serde_json::json!({}));
        if let Some(object) = summary.as_object_mut() {
            object.insert("sensors".to_owned(), shown);
        }
        if let Some(why) = too_hot {
            end.message = Some(match (end.passed, end.message.take()) {
                (false, Some(m)) => format!("{m}; {why}"),
                _ => why,
            });
            end.passed = false;
        } else if let Some(why) = unchecked {
            self.progress.note(&why);
            if end.passed && end.message.is_none() {
                end.message = Some(why);
            }
        }
        end
    }
}

/// Runs a stage; first, in a resumed run, brings back what the stages
/// before it left running (a failure to do so fails the stage).
async fn restore_then_run<P: Preset>(
    preset: &mut P,
    resumed: bool,
    at: At<'_>,
) -> Result<StageOutcome, PipelineError> {
    if resumed && let Err(end) = preset.restore(at.index).await {
        let why = end.message.clone().unwrap_or_default();
        return Ok(StageOutcome::Ended(StageEnd {
            message: Some(format!(
                "could not bring back the services earlier stages left running: {why}"
            )),
            ..end
        }));
    }
    preset.run(at).await
}

/// How often a running stage's samples are written to the store: the
/// pace a live page (`gauntlet serve`) moves at. One small transaction a
/// second.
pub(crate) const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a run stopped at a signal.
pub(crate) const INTERRUPTED: &str = "stopped by a signal (Ctrl-C or SIGTERM)";

/// Resolves when the run is cancelled; never, once no signal can come.
pub(crate) async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        // The sender is gone: no signal can come any more.
        std::future::pending::<()>().await;
    }
}
