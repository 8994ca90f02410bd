//! The TEST phase: the focus's suites, here or on each node, judged by
//! the loop's criteria.

use std::collections::BTreeMap;
use std::sync::Arc;

use gauntlet_fleet::{Ended, Figure as LoopFigure};
use gauntlet_node::LocalBackend;
use gauntlet_plan::{Criteria, ExpectCheck, SuiteRuns, TestCommand};
use gauntlet_ssh::SshBackend;
use serde_json::{Value, json};

use super::nodes::fill;
use super::phases::failure_line;
use super::preset::FleetLoop;
use crate::command::{TestRecord, judge_figures, run_test};

impl FleetLoop {
    /// Runs the focus's suites and judges them by the loop's criteria.
    pub(super) async fn test(&mut self, checkpoint: usize, stage: &str) -> (Ended, Value) {
        let project = self.plan.project().clone();
        let choices = self.plan.choices.clone();
        let live = self.live();
        let addresses: Vec<String> = live
            .iter()
            .map(|n| self.hosts[n].address().to_owned())
            .collect();
        let (nodes_word, addresses_word) = (live.join(" "), addresses.join(" "));
        let dir = format!("phases/{stage}");
        let mut results = Vec::new();
        // A suite that exited non-zero, a figure beyond its bound or not
        // read, a service down: each a reason, by which criteria count.
        let mut exits = Vec::new();
        let mut beyond = Vec::new();
        let mut figures: BTreeMap<String, LoopFigure> = BTreeMap::new();
        for suite in project.suites_of(&choices.focus) {
            let places: Vec<Option<(String, String)>> = match suite.on {
                SuiteRuns::Here => vec![None],
                SuiteRuns::EachNode => live
                    .iter()
                    .zip(&addresses)
                    .map(|(n, a)| Some((n.clone(), a.clone())))
                    .collect(),
            };
            for place in places {
                let (subject, values, backend): (
                    String,
                    Vec<(&str, String)>,
                    Arc<dyn gauntlet_node::Backend>,
                ) = match &place {
                    None => (
                        suite.name().to_owned(),
                        vec![
                            ("nodes", nodes_word.clone()),
                            ("addresses", addresses_word.clone()),
                        ],
                        LocalBackend::shared(),
                    ),
                    Some((node, address)) => (
                        format!("{}@{node}", suite.name()),
                        vec![
                            ("nodes", nodes_word.clone()),
                            ("addresses", addresses_word.clone()),
                            ("node", node.clone()),
                            ("address", address.clone()),
                        ],
                        Arc::new(SshBackend::new(self.hosts[node].clone())),
                    ),
                };
                let values: Vec<(&str, &str)> =
                    values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let test = TestCommand {
                    run: fill(&suite.test.run, &values),
                    ..suite.test.clone()
                };
                self.progress.note(&format!("running {subject}"));
                let rel = format!("{dir}/{subject}");
                let record = match run_test(&test, backend.as_ref(), &self.dir, &rel).await {
                    Ok(r) => r,
                    Err(e) => {
                        TestRecord::not_run(&test, format!("could not write its output files: {e}"))
                    }
                };
                let judged = judge_figures(
                    &test,
                    &record,
                    &self.dir,
                    &subject,
                    &self.samples,
                    &self.progress,
                );
                if !record.passed {
                    exits.push(format!("{subject}: {}", failure_line(&record)));
                }
                beyond.extend(judged.broken.iter().map(|b| format!("{subject}: {b}")));
                for (figure, value) in &judged.read {
                    figures.insert(
                        format!("{subject}/{}", figure.name),
                        LoopFigure {
                            value: *value,
                            higher_is_better: higher_is_better(&figure.checks),
                        },
                    );
                }
                self.progress.note(&format!(
                    "{subject} {}",
                    if record.passed && judged.broken.is_empty() {
                        "passed"
                    } else {
                        "FAILED"
                    }
                ));
                results.push(json!({
                    "suite": suite.name(), "node": place.as_ref().map(|p| &p.0),
                    "passed": record.passed, "exit": record.exit, "failure": record.failure,
                    "duration_ms": record.duration_ms, "stdout": record.stdout_artifact,
                    "stderr": record.stderr_artifact, "figures": judged.shown,
                }));
            }
        }
        let mut down = Vec::new();
        for node in &live {
            if let Err(why) = self.service_up(node).await {
                down.push(format!("{node}: {why}"));
            }
        }
        let (mut passed, mut reasons): (bool, Vec<String>) = match choices.criteria {
            Criteria::AllPass | Criteria::Improvement => {
                let reasons: Vec<String> =
                    exits.iter().chain(&beyond).chain(&down).cloned().collect();
                (reasons.is_empty(), reasons)
            }
            Criteria::Threshold => {
                let mut reasons: Vec<String> = beyond.iter().chain(&down).cloned().collect();
                if figures.is_empty() {
                    reasons.push("no figure was read, so no threshold was judged".to_owned());
                }
                (reasons.is_empty(), reasons)
            }
            Criteria::Check => (down.is_empty(), down.clone()),
        };
        let mut baseline_said = None;
        if choices.criteria == Criteria::Improvement && passed {
            let baseline = self.last_green_figures().or(self.earlier_figures.clone());
            match baseline {
                None => {
                    baseline_said = Some(
                        "no earlier green test of this project to improve on: judged as all-pass"
                            .to_owned(),
                    )
                }
                Some(then) => {
                    let tolerance = project.loop_spec.regression_tolerance_pct;
                    if let Some(why) = gauntlet_fleet::worse(&then, &figures, tolerance) {
                        passed = false;
                        reasons.push(why);
                    }
                }
            }
        }
        // At a checkpoint, figures that fell back from the last green test
        // are a regression: the test fails, so every report shows it
        // failed (the loop's own rule would send it to FIX either way).
        if checkpoint > 0
            && passed
            && let Some(then) = self.last_green_figures()
            && let Some(why) =
                gauntlet_fleet::worse(&then, &figures, project.loop_spec.regression_tolerance_pct)
        {
            passed = false;
            reasons.push(format!("a regression at checkpoint {checkpoint}: {why}"));
        }
        let results_doc = json!({
            "checkpoint": checkpoint, "focus": choices.focus, "criteria": choices.criteria.word(),
            "nodes": live, "degraded": self.degraded, "suites": results,
            "failures": {"exits": exits, "figures": beyond, "services": down},
        });
        let results_path = self.dir.join(&dir).join("results.json");
        let _ = std::fs::create_dir_all(self.dir.join(&dir));
        let _ = std::fs::write(
            &results_path,
            serde_json::to_string_pretty(&results_doc).unwrap_or_default(),
        );
        if choices.criteria == Criteria::Check
            && passed
            && let Some(check) = &project.check
        {
            let mut check = check.clone();
            check.run.env.insert(
                "GAUNTLET_EVIDENCE".to_owned(),
                self.dir.join(&dir).display().to_string(),
            );
            let record = self.run_here(&check, &format!("{dir}/check")).await;
            if !record.passed {
                passed = false;
                reasons.push(format!("the check program: {}", failure_line(&record)));
            }
        }
        let message = if passed {
            let mut m = format!(
                "{} passed on {} nodes ({} suite runs, criteria {})",
                choices.focus,
                live.len(),
                results.len(),
                choices.criteria.word()
            );
            if let Some(said) = &baseline_said {
                m.push_str("; ");
                m.push_str(said);
            }
            m
        } else {
            let shown: Vec<&str> = reasons.iter().take(3).map(String::as_str).collect();
            format!(
                "{} reason(s): {}{}",
                reasons.len(),
                shown.join("; "),
                if reasons.len() > 3 { "; ..." } else { "" }
            )
        };
        (
            Ended::Tested { passed, figures },
            json!({
                "checkpoint": checkpoint, "focus": choices.focus,
                "criteria": choices.criteria.word(), "suites": results,
                "reasons": reasons, "results": format!("{dir}/results.json"), "message": message,
            }),
        )
    }

    /// The figures of this loop's last green test.
    fn last_green_figures(&self) -> Option<BTreeMap<String, LoopFigure>> {
        self.records.iter().rev().find_map(|(r, _)| match &r.ended {
            Ended::Tested {
                passed: true,
                figures,
            } => Some(figures.clone()),
            _ => None,
        })
    }
}

/// Which way a figure is better: down when it only has a `max`.
fn higher_is_better(checks: &[ExpectCheck]) -> bool {
    let has = |f: fn(&ExpectCheck) -> bool| checks.iter().any(f);
    !has(|c| matches!(c, ExpectCheck::Max(_))) || has(|c| matches!(c, ExpectCheck::Min(_)))
}
