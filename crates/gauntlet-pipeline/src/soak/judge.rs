//! Judging what a soak recorded: the inputs gathered from the run (the
//! RSS series from the store, restart counts), the decision left to
//! [`gauntlet_soak::assess`], the outputs written (`verdict.json`; each
//! result as a check event, which the store files as a verdict).

use std::collections::BTreeMap;

use gauntlet_check::{CheckResult, Validity};
use gauntlet_soak::assess::{self, Inputs, RunFacts, restart_counts, verdict_json};
use gauntlet_soak::invariants::RssSample;
use serde_json::{Value, json};

use super::{Driver, Seen};
use crate::supervisor::STARTED;
use crate::{PipelineError, io_err};

impl Driver<'_> {
    /// Judges what was seen (see [`gauntlet_soak::assess`]) with the plan's
    /// own `checks` already judged, records the verdicts in the store and
    /// writes `verdict.json`.
    pub(super) fn judge(
        &self,
        seen: &Seen,
        readback: assess::Readback<'_>,
        checks: &[CheckResult],
        stopped_early: Option<&str>,
    ) -> Result<(Option<gauntlet_soak::readback::DataLoss>, Validity), PipelineError> {
        let r = &seen.record;
        let mut rss: BTreeMap<String, Vec<RssSample>> = BTreeMap::new();
        for service in &self.plan.services {
            // When each of the service's processes started (before the
            // soak too: the first one started in `up`).
            let mut starts: Vec<i64> = self
                .store
                .measurements_between(&self.run, STARTED, &service.name, i64::MIN, i64::MAX)?
                .into_iter()
                .map(|m| m.time)
                .collect();
            starts.sort_unstable();
            let series = self
                .store
                .measurements_between(&self.run, "rss", &service.name, r.since_wall, i64::MAX)?
                .into_iter()
                .map(|m| RssSample {
                    t_ms: m.time - r.started_wall,
                    bytes: m.value as u64,
                    started_ms: started_before(&starts, m.time).map(|t| t - r.started_wall),
                })
                .collect();
            rss.insert(service.name.clone(), series);
        }
        let restarts = restart_counts(&r.service_restarts, &r.fault_restarts);
        let duration_ms = if r.stopped_early.is_some() {
            r.stopped_ms
        } else {
            self.spec.duration.as_millis() as i64
        };
        let inv = &self.spec.invariants;
        let assessment = assess::assess(&Inputs {
            journal: &seen.journal,
            readback,
            health: &r.health,
            rss: &rss,
            restarts: &restarts,
            faults: &r.faults,
            spec: inv,
            warmup_ms: self.spec.warmup.as_millis() as i64,
            duration_ms,
            users: self.spec.users.count,
            checks,
        });
        // Each result is an event: the store files it as the run's verdict.
        for result in &assessment.results {
            self.progress.events().emit(gauntlet_events::Event::Check {
                name: result.checker.clone(),
                valid: result.valid,
                result: serde_json::to_value(result).unwrap_or(Value::Null),
            });
        }
        let facts = RunFacts {
            run: self.run.as_str(),
            plan: &self.plan.name,
            minutes: self.spec.duration.as_secs_f64() / 60.0,
            scenario: &self.spec.scenario,
            seed: self.seed,
            users: r.users.clone(),
            log_matches: r.log_matches.as_ref().map_or(Value::Null, |m| json!(m)),
            stopped_early,
        };
        let value = verdict_json(&facts, &assessment, &seen.journal, &r.faults, inv);
        self.write_verdict(value)?;
        Ok((assessment.loss, assessment.valid))
    }

    pub(super) fn write_verdict(&self, verdict: Value) -> Result<(), PipelineError> {
        let path = self.dir.join("verdict.json");
        let text = serde_json::to_string_pretty(&verdict).unwrap_or_default();
        std::fs::write(&path, text).map_err(io_err(&path))?;
        self.store
            .add_artifact(&self.run, None, "verdict.json", "verdict")?;
        Ok(())
    }

    /// Judges the plan's `check` stages over the soak's files (the journal,
    /// the record, the service logs), after the readback: a custom
    /// invariant in any language, with the same runner as a plan run's
    /// check stage.
    pub(super) async fn plan_checks(&self) -> Result<Vec<CheckResult>, PipelineError> {
        let mut results = Vec::new();
        for stage in &self.plan.stages {
            let gauntlet_plan::StageKind::Check(check) = &stage.kind else {
                continue;
            };
            let rel = format!("checks/{}", check.name);
            let judged = crate::check::judge(check, &self.dir, &rel, &self.progress).await;
            for (path, kind) in &judged.artifacts {
                self.store.add_artifact(&self.run, None, path, kind)?;
            }
            results.push(judged.result);
        }
        Ok(results)
    }
}

/// The latest of the sorted `starts` (wall ms) at or before `time`: the
/// start of the process a sample taken then measured.
fn started_before(starts: &[i64], time: i64) -> Option<i64> {
    let after = starts.partition_point(|&t| t <= time);
    after.checked_sub(1).map(|i| starts[i])
}

#[cfg(test)]
mod tests {
    use super::started_before;

    #[test]
    fn a_sample_belongs_to_the_latest_start_at_or_before_it() {
        let starts = [100, 200, 300];
        assert_eq!(started_before(&starts, 50), None);
        assert_eq!(started_before(&starts, 100), Some(100));
        assert_eq!(started_before(&starts, 299), Some(200));
        assert_eq!(started_before(&starts, 10_000), Some(300));
        assert_eq!(started_before(&[], 1), None);
    }
}
