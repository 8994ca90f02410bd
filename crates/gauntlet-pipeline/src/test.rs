//! `gauntlet test`: a workbench test as a preset of the one driver.
//!
//! The run is a row of the store with one stage, `test` (nodes up, the
//! workload and the nemesis, final reads, teardown and the checks: the
//! workbench does them in one go). The row exists before the workbench
//! starts, so a Ctrl-C or a SIGKILL leaves a run that says so; its faults
//! become fault rows and its checks verdicts as they happen (the store is
//! a subscriber of the run's events); its files become artifacts when it
//! ends. A test run never holds: a test that could not be carried out is
//! abandoned, and one stopped by Ctrl-C is interrupted after its checks
//! judged what was recorded.

use std::path::Path;
use std::time::UNIX_EPOCH;

use gauntlet_check::Validity;
use gauntlet_store::{Millis, NewRun, NewStage, RunId, RunKind, StageEnd, Store};
use gauntlet_workbench::{RunError, RunOutcome, TestConfig};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::driver::{At, Engine, Preset, StageName, StageOutcome};
use crate::{Outcome, PipelineError, RunContext};

/// The one stage of a test run.
pub const STAGE: &str = "test";

/// How a test run ended: the store's record of it and what the workbench
/// returned (its results, or why it could not run). The verdict stands
/// even when recording it failed: the caller says so and keeps it.
#[derive(Debug)]
pub struct TestOutcome {
    pub recorded: Result<Outcome, PipelineError>,
    pub workbench: Result<RunOutcome, RunError>,
}

/// Creates a test run of `cfg` in the store and drives it. The workbench
/// writes into the run's directory, on the context's backend. `Err` means
/// the run could not be created.
pub async fn test(
    store: &Store,
    mut cfg: TestConfig,
    context: RunContext,
    cancel: watch::Receiver<bool>,
) -> Result<TestOutcome, PipelineError> {
    let settings = serde_json::to_string_pretty(&cfg.settings()).expect("json") + "\n";
    let run = store.create_run_as(
        RunKind::Test,
        &NewRun {
            plan_name: format!("test:{}", cfg.workload),
            plan_path: None,
            plan_text: settings,
            seed: cfg.seed,
            gauntlet_version: env!("CARGO_PKG_VERSION").to_owned(),
            command_line: cfg.command_line.clone(),
            stages: vec![NewStage::new(STAGE, "test")],
        },
    )?;
    let engine = Engine::new(store, run.id, context)?;
    // The run's directory is the store's; a caller's relative spelling of
    // the same root is kept, so the paths it prints stay short.
    if std::path::absolute(&cfg.store).ok() != Some(store.artifact_root()) {
        cfg.store = store.artifact_root();
    }
    cfg.run_name = Some(engine.run.to_string());
    cfg.backend = engine.context.backend.clone();
    let mut preset = Workbench {
        cfg: Some(cfg),
        events: engine.context.events.clone(),
        workbench: None,
    };
    let recorded = engine.drive(&mut preset, cancel).await;
    let workbench = preset.workbench.unwrap_or_else(|| {
        Err(RunError::Setup {
            message: "the test stage did not run".to_owned(),
            dir: None,
        })
    });
    Ok(TestOutcome {
        recorded,
        workbench,
    })
}

/// The test's preset: one stage, the workbench.
struct Workbench {
    cfg: Option<TestConfig>,
    events: gauntlet_events::Events,
    workbench: Option<Result<RunOutcome, RunError>>,
}

impl Preset for Workbench {
    const KIND: RunKind = RunKind::Test;

    fn stages(&self) -> Vec<StageName> {
        vec![StageName {
            name: STAGE.to_owned(),
            kind: "test".to_owned(),
            guards: Default::default(),
        }]
    }

    /// A test run is never resumed.
    async fn restore(&mut self, _index: usize) -> Result<(), StageEnd> {
        Ok(())
    }

    async fn run(&mut self, at: At<'_>) -> Result<StageOutcome, PipelineError> {
        let Some(cfg) = self.cfg.take() else {
            return Ok(StageOutcome::Abandoned(
                "a test run's stage runs once".to_owned(),
            ));
        };
        let result =
            gauntlet_workbench::run_test(cfg, self.events.clone(), at.cancel.clone()).await;
        add_artifacts(
            at.store,
            at.run,
            at.attempt.id,
            &at.store.artifact_dir(at.run),
        )?;
        let stage = match &result {
            Ok(o) => {
                at.store.set_clock_zero(at.run, millis(o.clock_zero))?;
                if o.interrupted {
                    StageOutcome::Interrupted(
                        "stopped by a signal (Ctrl-C); the checks judged what was recorded"
                            .to_owned(),
                    )
                } else {
                    let checks = o.results["checks"].as_object().cloned().unwrap_or_default();
                    StageOutcome::Ended(StageEnd {
                        message: Some(checks_line(&checks)),
                        ..StageEnd::passed().with_summary(summary(o))
                    })
                }
            }
            Err(e) => StageOutcome::Abandoned(format!("could not run: {e}")),
        };
        self.workbench = Some(result);
        Ok(stage)
    }

    /// The workbench judges what was recorded before it stops.
    fn watches_cancel(&self, _index: usize) -> bool {
        true
    }

    /// The worst check.
    fn verdict(&self) -> Validity {
        match &self.workbench {
            Some(Ok(o)) => o.valid,
            _ => Validity::Unknown,
        }
    }

    /// The workbench stops its nodes itself, whichever way it ends.
    async fn stop(&mut self) {}
}

fn millis(t: std::time::SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn validity(v: &Value) -> Validity {
    serde_json::from_value(v.clone()).unwrap_or(Validity::Unknown)
}

/// `3 checks: 2 valid, 1 invalid (workload)`.
pub(crate) fn checks_line(checks: &serde_json::Map<String, Value>) -> String {
    let of = |want: Validity| -> Vec<&str> {
        checks
            .iter()
            .filter(|(_, c)| validity(&c["valid"]) == want)
            .map(|(n, _)| n.as_str())
            .collect()
    };
    let (valid, invalid, unknown) = (
        of(Validity::Valid),
        of(Validity::Invalid),
        of(Validity::Unknown),
    );
    let mut parts = vec![format!("{} valid", valid.len())];
    if !invalid.is_empty() {
        parts.push(format!(
            "{} invalid ({})",
            invalid.len(),
            invalid.join(", ")
        ));
    }
    if !unknown.is_empty() {
        parts.push(format!(
            "{} unknown ({})",
            unknown.len(),
            unknown.join(", ")
        ));
    }
    format!("{} checks: {}", checks.len(), parts.join(", "))
}

/// The stage's figures: the verdict and the counts results.json has.
/// Figures results.json lacks are left out, not zeroed.
fn summary(o: &RunOutcome) -> Value {
    let r = &o.results;
    let mut s = json!({ "valid": r["valid"] });
    let stats = &r["checks"]["stats"];
    for (from, to) in [
        ("count", "ops"),
        ("ok-count", "ok"),
        ("fail-count", "fail"),
        ("info-count", "info"),
    ] {
        if let Some(n) = stats.get(from) {
            s[to] = n.clone();
        }
    }
    if let Some(n) = r["net"]["all"].get("msg-count") {
        s["messages"] = n.clone();
    }
    s
}

/// The run's files, as the workbench wrote them (those that exist).
fn add_artifacts(
    store: &Store,
    run: &RunId,
    attempt: gauntlet_store::AttemptId,
    dir: &Path,
) -> Result<(), PipelineError> {
    for (file, kind) in [
        ("run.json", "settings"),
        ("history.jsonl", "history"),
        ("results.json", "results"),
        ("messages.jsonl", "messages"),
    ] {
        if dir.join(file).is_file() {
            store.add_artifact(run, Some(attempt), file, kind)?;
        }
    }
    let mut logs: Vec<String> = std::fs::read_dir(dir.join("node-logs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    logs.sort();
    for log in logs {
        store.add_artifact(run, Some(attempt), format!("node-logs/{log}"), "log")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_summed_up_by_verdict() {
        let checks = json!({
            "workload": {"valid": false},
            "stats": {"valid": true},
            "availability": {"valid": "unknown"},
        });
        assert_eq!(
            checks_line(checks.as_object().unwrap()),
            "3 checks: 1 valid, 1 invalid (workload), 1 unknown (availability)"
        );
    }
}
