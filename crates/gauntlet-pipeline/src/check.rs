//! Judging a run's files with one checker: a checker program over the
//! run's directory, or a built-in checker over a history. Plan runs judge
//! a `check` stage with it; soaks judge their checks with it after the
//! readback, so a custom invariant means the same in both.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gauntlet_check::{CheckInput, CheckResult, Validity};
use gauntlet_check_program::{ProgramSpec, run_checker};
use gauntlet_plan::{CheckBy, CheckStage, Command, CommandLine};
use serde_json::{Value, json};

use crate::command::argv;
use crate::progress::Progress;

/// A check's result with what reports read.
pub(crate) struct Judged {
    pub result: CheckResult,
    /// `checker`, `valid`, `duration_ms`, `result` and how it ran.
    pub summary: Value,
    /// Files written, relative to the artifact directory, with their kind.
    pub artifacts: Vec<(String, &'static str)>,
    /// `": <problem>"` when the result names one, for a one-line message.
    pub why: String,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `check` over the run's files in `artifact_dir`; its own files go
/// to `<artifact_dir>/<rel>/` (`check.json`, `check.stderr.log`).
pub(crate) async fn judge(
    check: &CheckStage,
    artifact_dir: &Path,
    rel: &str,
    progress: &Progress,
) -> Judged {
    progress.note(&format!("checking {}", check.name));
    let mut artifacts = Vec::new();
    let stage_dir = artifact_dir.join(rel);
    if let Err(e) = std::fs::create_dir_all(&stage_dir) {
        let mut result = CheckResult::new(check.name.as_str());
        result
            .undecided(json!({ "problem": format!("cannot create {}: {e}", stage_dir.display()) }));
        return Judged {
            summary: json!({ "checker": check.name, "valid": "unknown" }),
            why: String::new(),
            result,
            artifacts,
        };
    }
    let began = Instant::now();
    let (result, mut summary) = match &check.by {
        CheckBy::Program { run, timeout } => {
            program(
                &check.name,
                run,
                *timeout,
                artifact_dir,
                rel,
                &mut artifacts,
            )
            .await
        }
        CheckBy::Builtin { checker, history } => {
            let path = artifact_dir.join(history);
            let result = builtin(checker.clone(), path.clone()).await;
            let summary = json!({ "builtin": checker, "history": path });
            (result, summary)
        }
    };
    let took = began.elapsed();
    let result_rel = format!("{rel}/check.json");
    let result_json = serde_json::to_value(&result).unwrap_or(Value::Null);
    let text = serde_json::to_string_pretty(&result_json).unwrap_or_default() + "\n";
    if std::fs::write(artifact_dir.join(&result_rel), text).is_ok() {
        artifacts.push((result_rel, "check"));
    }
    let why = result
        .evidence
        .first()
        .and_then(|e| e.get("problem"))
        .and_then(Value::as_str)
        .map(|p| format!(": {p}"))
        .unwrap_or_default();
    let verdict = match result.valid {
        Validity::Valid => "valid",
        Validity::Invalid => "INVALID",
        Validity::Unknown => "unknown",
    };
    progress.note(&format!(
        "{} {verdict} in {:.1} s{why}",
        check.name,
        took.as_secs_f64()
    ));
    summary["checker"] = json!(check.name);
    summary["valid"] = result_json["valid"].clone();
    summary["duration_ms"] = json!(ms(took));
    summary["result"] = result_json;
    Judged {
        result,
        summary,
        artifacts,
        why,
    }
}

/// Runs a checker program over the run's artifact directory; its stderr
/// goes to `<rel>/check.stderr.log`.
async fn program(
    name: &str,
    run: &Command,
    timeout: Duration,
    artifact_dir: &Path,
    rel: &str,
    artifacts: &mut Vec<(String, &'static str)>,
) -> (CheckResult, Value) {
    let (program, mut args) = argv(&run.command);
    if let CommandLine::Shell(line) = &run.command {
        // `sh -c 'LINE "$@"' sh DIR`: the directory reaches the program
        // as its last argument, as it does for an argv program.
        args = vec!["-c".into(), format!("{line} \"$@\""), "sh".into()];
    }
    let mut spec = ProgramSpec::new(name, program);
    spec.args = args.into_iter().map(Into::into).collect();
    spec.cwd = Some(run.cwd.clone());
    spec.env = run.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
    spec.timeout = timeout;
    let stderr_rel = format!("{rel}/check.stderr.log");
    spec.stderr_log = Some(artifact_dir.join(&stderr_rel));
    let done = run_checker(&spec, artifact_dir).await;
    if artifact_dir.join(&stderr_rel).exists() {
        artifacts.push((stderr_rel, "log"));
    }
    let summary = json!({ "program": spec.display(), "ended": done.ended.to_string() });
    (done.result, summary)
}

async fn builtin(checker: String, path: PathBuf) -> CheckResult {
    let name = checker.clone();
    let judged = tokio::task::spawn_blocking(move || {
        let history = match gauntlet_history::read_history(&path) {
            Ok(h) => h,
            Err(e) => {
                let mut r = CheckResult::new(checker.as_str());
                r.undecided(json!({ "problem": format!("cannot read the history: {e}") }));
                return r;
            }
        };
        // The plan loader checked the name; a stored plan from another
        // version might still name one this build lacks: then `unknown`.
        gauntlet_checkers::builtin().judge(&checker, &CheckInput::new(&history.ops))
    })
    .await;
    judged.unwrap_or_else(|e| {
        let mut r = CheckResult::new(name);
        r.undecided(json!({ "problem": format!("the checker failed: {e}") }));
        r
    })
}
