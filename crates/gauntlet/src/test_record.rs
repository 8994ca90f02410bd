//! A `gauntlet test` run as a row of the run store: the run with one `test`
//! stage, its files as artifacts, each check as a verdict, and how it
//! ended. (Its faults become fault rows as they happen: the store is a
//! subscriber of the run's fault log, see `gauntlet_store::StoreWriter`.)
//!
//! The store row is made before the workbench starts (so a Ctrl-C or a
//! SIGKILL leaves a run that says so) and completed from what the
//! workbench wrote when it ends.

use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::Result;
use gauntlet_check::Validity;
use gauntlet_store::{AttemptId, Millis, NewRun, NewStage, RunId, RunKind, StageEnd, Store};
use gauntlet_workbench::{RunError, RunOutcome, TestConfig};
use serde_json::{Value, json};

/// The one stage of a test run: nodes up, workload and nemesis, final
/// reads, teardown and the checks. The workbench does not report its phases
/// to the caller, so finer stages would need times the store does not have.
pub const STAGE: &str = "test";

/// Creates the run (running, its stage started) for `cfg`.
pub fn create(store: &Store, cfg: &TestConfig) -> Result<(RunId, AttemptId)> {
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
    let attempt = store.start_stage(&run.id, STAGE)?;
    Ok((run.id, attempt.id))
}

/// Records how the run went and ends it: finished with the worst check,
/// interrupted (Ctrl-C), or, when it could not be carried out, its stage
/// failed and the run abandoned (a test run never holds).
pub fn complete(
    store: &Store,
    run: &RunId,
    attempt: AttemptId,
    outcome: &Result<RunOutcome, RunError>,
) -> Result<()> {
    let dir = store.artifact_dir(run);
    add_artifacts(store, run, attempt, &dir)?;
    match outcome {
        Ok(o) => {
            let zero = millis(o.clock_zero);
            store.set_clock_zero(run, zero)?;
            let checks = o.results["checks"].as_object().cloned().unwrap_or_default();
            for (name, check) in &checks {
                store.set_verdict(run, name, validity(&check["valid"]), check)?;
            }
            if o.interrupted {
                store.interrupt_run(
                    run,
                    "stopped by a signal (Ctrl-C); the checks judged what was recorded",
                )?;
            } else {
                let end = StageEnd::passed().with_summary(summary(o));
                store.finish_stage(
                    run,
                    STAGE,
                    StageEnd {
                        message: Some(checks_line(&checks)),
                        ..end
                    },
                )?;
                store.finish_run(run, o.valid)?;
            }
        }
        Err(e) => store.abandon(run, &format!("could not run: {e}"))?,
    }
    Ok(())
}

fn millis(t: std::time::SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn validity(v: &Value) -> Validity {
    match v {
        Value::Bool(true) => Validity::Valid,
        Value::Bool(false) => Validity::Invalid,
        _ => Validity::Unknown,
    }
}

/// `3 checks: 2 valid, 1 invalid (workload)`.
fn checks_line(checks: &serde_json::Map<String, Value>) -> String {
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
fn add_artifacts(store: &Store, run: &RunId, attempt: AttemptId, dir: &Path) -> Result<()> {
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
