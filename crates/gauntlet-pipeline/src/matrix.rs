//! The `matrix` stage: every ordered pair of lab hosts, `attempts` runs of
//! the plan's connect command on the first host towards the second, one
//! after the other with a cool-off between a pair's attempts. Each attempt
//! is a line of `matrix.jsonl` in the stage's directory; the judging is
//! `gauntlet_lab::matrix`'s.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use gauntlet_lab::matrix::{Outcome, Pair, judge};
use gauntlet_node::Backend;
use gauntlet_plan::template::{Syntax, render};
use gauntlet_plan::{CommandLine, LabSpec, MatrixStage};
use gauntlet_store::StageEnd;
use serde_json::json;

use crate::command::node_spec;
use crate::progress::Progress;

/// What an attempt keeps of its output (the word it prints is at the
/// start; the rest is evidence).
const STDOUT_LIMIT: usize = 64 * 1024;

/// Runs the matrix and judges it. `rel` is the stage attempt's directory,
/// relative to `artifact_dir`; the attempts go to `<rel>/matrix.jsonl`.
pub(crate) async fn run(
    m: &MatrixStage,
    lab: &LabSpec,
    hosts: &BTreeMap<String, Arc<dyn Backend>>,
    artifact_dir: &Path,
    rel: &str,
    progress: &Progress,
) -> (StageEnd, String) {
    let log_rel = format!("{rel}/matrix.jsonl");
    let log_path = artifact_dir.join(&log_rel);
    let mut log = match log_path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::File::create(&log_path))
    {
        Ok(f) => std::io::BufWriter::new(f),
        Err(e) => {
            return (
                StageEnd::failed(format!("cannot write {}: {e}", log_path.display())),
                log_rel,
            );
        }
    };
    let mut pairs = Vec::new();
    for from in &m.hosts {
        for to in m.hosts.iter().filter(|to| *to != from) {
            let Some(backend) = hosts.get(from) else {
                return (
                    StageEnd::failed(format!("host {from} is not up in this run's lab")),
                    log_rel,
                );
            };
            let to_addr = lab
                .host(to)
                .map(|h| h.address().to_string())
                .unwrap_or_default();
            let vars: BTreeMap<String, String> = [
                ("from".to_owned(), from.clone()),
                ("to".to_owned(), to.clone()),
                ("to_addr".to_owned(), to_addr),
            ]
            .into();
            let mut command = m.connect.clone();
            command.command = match render_line(&m.connect.command, &vars) {
                Ok(c) => c,
                Err(e) => return (StageEnd::failed(format!("`connect`: {e}")), log_rel),
            };
            let spec = node_spec(&command);
            let mut outcomes = Vec::new();
            for attempt in 1..=m.attempts {
                if attempt > 1 {
                    tokio::time::sleep(m.cool_off).await;
                }
                let began = Instant::now();
                let (outcome, line) = match gauntlet_node::run_to_end(
                    backend.as_ref(),
                    &spec,
                    None,
                    m.timeout,
                    STDOUT_LIMIT,
                )
                .await
                {
                    Ok(out) => {
                        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                        let outcome = Outcome::of(out.exit.success() && !out.timed_out, &stdout);
                        (
                            outcome,
                            json!({
                                "from": from, "to": to, "attempt": attempt,
                                "outcome": outcome.name(),
                                "exit": out.exit.to_string(),
                                "timed_out": out.timed_out,
                                "took_ms": began.elapsed().as_millis() as u64,
                                "stdout": tail(&stdout),
                                "stderr": out.exit.stderr_tail.join("\n"),
                            }),
                        )
                    }
                    Err(e) => (
                        Outcome::Failed,
                        json!({
                            "from": from, "to": to, "attempt": attempt,
                            "outcome": "failed", "error": e.to_string(),
                        }),
                    ),
                };
                let _ = writeln!(log, "{line}");
                outcomes.push(outcome);
            }
            let connected = outcomes.iter().filter(|o| **o != Outcome::Failed).count();
            progress.note(&format!(
                "matrix {from} → {to}: {connected}/{} connected ({})",
                outcomes.len(),
                outcomes
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            pairs.push(Pair {
                from: from.clone(),
                to: to.clone(),
                outcomes,
            });
        }
    }
    if let Err(e) = log.flush() {
        return (
            StageEnd::failed(format!("cannot write {}: {e}", log_path.display())),
            log_rel,
        );
    }
    let judged = judge(lab, &m.hosts, &pairs, &m.thresholds);
    let end = if judged.passed {
        StageEnd::passed()
    } else {
        StageEnd::failed(judged.failures.join("; "))
    };
    (end.with_summary(judged.summary), log_rel)
}

fn render_line(line: &CommandLine, vars: &BTreeMap<String, String>) -> Result<CommandLine, String> {
    let r = |t: &str| render(t, Syntax::RUN, vars).map_err(|e| e.to_string());
    Ok(match line {
        CommandLine::Shell(s) => CommandLine::Shell(r(s)?),
        CommandLine::Argv(argv) => {
            CommandLine::Argv(argv.iter().map(|a| r(a)).collect::<Result<_, _>>()?)
        }
    })
}

/// The last 2,000 characters.
fn tail(text: &str) -> String {
    let start = text.len().saturating_sub(2000);
    let mut start = start;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
