//! `REPORT.json`: the report for programs. Times are epoch milliseconds
//! (with RFC 3339 text next to the run's own), figures are the runtime's
//! own, missing ones `null`.

use serde_json::{Value, json};

use super::content::hold_commands;
use super::facts::TestResult;
use super::fmt::{rfc3339, shell_line};
use super::{RunReport, SeriesData};
use gauntlet_store::{RunState, Stage};

/// Names the shape, so readers can tell versions apart.
pub(crate) const FORMAT: &str = "gauntlet.run-report/1";

pub(crate) fn render(r: &RunReport) -> Value {
    let summary = r.summary();
    let run = &r.run;
    let hold = matches!(run.state, RunState::Held | RunState::Interrupted).then(|| {
        json!({
            "stage": run.held_stage,
            "commands": hold_commands(r),
        })
    });
    json!({
        "format": FORMAT,
        "generated_at": r.generated_at,
        "run": {
            "id": run.id,
            "kind": run.kind,
            "plan_name": run.plan_name,
            "plan_path": run.plan_path,
            "plan_sha256": run.plan_sha256,
            "plan_text": run.plan_text,
            "seed": run.seed,
            "state": run.state,
            "result": summary.result,
            "valid": run.result,
            "started_at": run.started_at,
            "started_at_utc": rfc3339(run.started_at),
            "clock_zero": run.clock_zero,
            "ended_at": run.ended_at,
            "ended_at_utc": run.ended_at.map(rfc3339),
            "took_ms": run.took_ms(r.generated_at.max(run.started_at)),
            "held_stage": run.held_stage,
            "message": run.message,
            "gauntlet_version": run.gauntlet_version,
            "command_line": run.command_line,
            "command": shell_line(&run.command_line),
            "owner": run.owner,
        },
        "summary": summary,
        "overrides": r.overrides.iter().map(|o| {
            let failure = r.stages.iter()
                .find(|s| s.name == o.stage)
                .and_then(|s| s.attempts.iter().find(|a| a.attempt == o.attempt))
                .and_then(|a| a.message.clone());
            json!({
                "stage": o.stage,
                "ordinal": o.ordinal,
                "attempt": o.attempt,
                "who": o.who,
                "time": o.time,
                "time_utc": rfc3339(o.time),
                "reason": o.reason,
                "failure": failure,
            })
        }).collect::<Vec<_>>(),
        "hold": hold,
        "stages": r.stages.iter().map(|s| stage(r, s)).collect::<Vec<_>>(),
        "modules": r.modules(),
        "tests": tests(r),
        "series": r.series.iter().map(series).collect::<Vec<_>>(),
        "faults": r.faults,
        "verdicts": r.verdicts,
        "artifacts": r.artifacts,
    })
}

fn stage(r: &RunReport, s: &Stage) -> Value {
    let a = s.current();
    let took = a
        .started_at
        .map(|b| a.ended_at.unwrap_or(r.generated_at) - b);
    let over = r
        .override_of(&s.name, a.attempt)
        .map(|o| json!({"who": o.who, "reason": o.reason, "time": o.time}));
    json!({
        "ordinal": s.ordinal,
        "name": s.name,
        "kind": s.kind,
        "state": s.state(),
        "attempt": a.attempt,
        "started_at": a.started_at,
        "ended_at": a.ended_at,
        "took_ms": took,
        "message": a.message,
        "summary": a.summary,
        "override": over,
        "attempts": s.attempts,
    })
}

/// Every test command of every stage, with the stage it ran in.
fn tests(r: &RunReport) -> Vec<Value> {
    r.stages
        .iter()
        .flat_map(|s| {
            TestResult::list(s.current().summary.as_ref())
                .into_iter()
                .map(move |t| {
                    let mut v = serde_json::to_value(&t).unwrap_or(Value::Null);
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert("stage".into(), json!(s.name));
                    }
                    v
                })
        })
        .collect()
}

/// A series' extent and range, without its points.
fn series(s: &SeriesData) -> Value {
    let (min, max) = s.range().unzip();
    json!({
        "kind": s.kind,
        "subject": s.subject,
        "unit": s.unit,
        "samples": s.samples,
        "first": s.points.first().map(|p| p.0),
        "last": s.points.last().map(|p| p.0),
        "min": min,
        "max": max,
        "last_value": s.last().map(|p| p.1),
    })
}

#[cfg(test)]
mod tests {
    // The whole shape is tested against a real store in tests/run_report.rs.
    #[test]
    fn module_rows_serialize_missing_figures_as_null() {
        let stage = gauntlet_store::Stage {
            ordinal: 0,
            name: "cycle1/api".into(),
            kind: "module".into(),
            attempts: vec![gauntlet_store::StageAttempt {
                id: gauntlet_store::AttemptId(1),
                attempt: 1,
                state: gauntlet_store::StageState::Passed,
                started_at: Some(1),
                ended_at: Some(2),
                summary: Some(serde_json::json!({"module": "api", "status": "pass"})),
                message: None,
            }],
        };
        let row = crate::run::ModuleRow::of(&stage).unwrap();
        let v = serde_json::to_value(row).unwrap();
        assert_eq!(v["module"], "api");
        assert_eq!(v["status"], "pass");
        assert!(v["rss_max_bytes"].is_null());
        assert!(v["tests_passed"].is_null());
    }
}
