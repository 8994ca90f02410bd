//! A `gauntlet test` run as a row of the run store: the run with one `test`
//! stage, its files as artifacts, each check as a verdict, the nemesis'
//! faults as fault rows, and how it ended.
//!
//! The store row is made before the workbench starts (so a Ctrl-C or a
//! SIGKILL leaves a run that says so) and completed from what the
//! workbench wrote when it ends.

use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::Result;
use gauntlet_check::Validity;
use gauntlet_history::{Op, OpType, Process};
use gauntlet_store::{
    AttemptId, Millis, NewFault, NewRun, NewStage, RunId, RunKind, StageEnd, Store,
};
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
            if let Ok(history) = gauntlet_history::read_jsonl(&dir.join("history.jsonl")) {
                record_faults(store, run, zero, &history)?;
            }
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

/// One fault the nemesis started, and when it healed.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpan {
    pub fault: NewFault,
    pub healed_at: Option<Millis>,
}

/// The faults in a history: each nemesis op that starts a fault
/// (`start-partition`, `kill`, `pause`) opens one, and the next op that
/// ends that kind (`stop-partition`, `restart`, `resume`) heals it. The
/// nemesis alternates the two per kind. A fault never healed (a run cut
/// short) stays open. Times are `zero` plus the op's ns, in ms.
pub fn faults_of(history: &[Op], zero: Millis) -> Vec<FaultSpan> {
    let mut spans: Vec<FaultSpan> = Vec::new();
    for op in history {
        if op.process != Process::Nemesis || op.kind != OpType::Info {
            continue;
        }
        let at = zero + op.time.map_or(0, |ns| (ns / 1_000_000) as i64);
        let (kind, starts) = match op.f.as_str() {
            "start-partition" => ("partition", true),
            "stop-partition" => ("partition", false),
            "kill" => ("kill", true),
            "restart" => ("kill", false),
            "pause" => ("pause", true),
            "resume" => ("pause", false),
            _ => continue,
        };
        if starts {
            let target = match kind {
                "partition" => op.value["shape"].as_str().unwrap_or("net").to_owned(),
                _ => names(&op.value),
            };
            spans.push(FaultSpan {
                fault: NewFault {
                    time: at,
                    kind: kind.to_owned(),
                    target,
                    value: op.value.clone(),
                },
                healed_at: None,
            });
        } else if let Some(open) = spans
            .iter_mut()
            .rev()
            .find(|s| s.fault.kind == kind && s.healed_at.is_none())
        {
            open.healed_at = Some(at);
        }
    }
    spans
}

/// `["n1","n2"]` (or `{"nodes": [...]}`) as `n1,n2`.
fn names(v: &Value) -> String {
    let list = v.get("nodes").unwrap_or(v);
    match list.as_array() {
        Some(a) => a
            .iter()
            .map(|n| n.as_str().map_or_else(|| n.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        None => list.to_string(),
    }
}

fn record_faults(store: &Store, run: &RunId, zero: Millis, history: &[Op]) -> Result<()> {
    for span in faults_of(history, zero) {
        let id = store.record_fault(run, &span.fault)?;
        if let Some(at) = span.healed_at {
            store.heal_fault(run, id, at)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(mut op: Op, ms: u64) -> Op {
        op.time = Some(ms * 1_000_000);
        op
    }

    #[test]
    fn nemesis_ops_pair_into_faults() {
        let history = vec![
            at(Op::invoke(0, "echo", json!("x")), 1),
            at(
                Op::nemesis(
                    "start-partition",
                    json!({"shape": "majority", "grudge": {}}),
                ),
                100,
            ),
            at(Op::nemesis("kill", json!(["n1", "n2"])), 150),
            at(Op::nemesis("stop-partition", json!("network-healed")), 300),
            at(Op::nemesis("restart", json!(["n1", "n2"])), 400),
            at(Op::nemesis("pause", json!(["n0"])), 500),
        ];
        let spans = faults_of(&history, 1_000_000);
        let got: Vec<_> = spans
            .iter()
            .map(|s| {
                (
                    s.fault.kind.as_str(),
                    s.fault.target.as_str(),
                    s.fault.time,
                    s.healed_at,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("partition", "majority", 1_000_100, Some(1_000_300)),
                ("kill", "n1,n2", 1_000_150, Some(1_000_400)),
                // Cut short: it never healed, and that is what it says.
                ("pause", "n0", 1_000_500, None),
            ]
        );
    }

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
