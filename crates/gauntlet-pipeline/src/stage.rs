//! Running one stage: what each kind does and how it is judged. The
//! result is a [`StageEnd`] (passed or not, a one-line message, the
//! summary JSON that reports read).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gauntlet_check::Validity;
use gauntlet_events::Event;
use gauntlet_observe::{compare, inventory, percentile};
use gauntlet_plan::{
    CheckStage, Expectation, ModuleFigures, ModuleStatus, Plan, RunStage, Service, Severity,
    StageAction, TestCommand, module_status, running_before,
};
use gauntlet_store::{RunKind, StageEnd};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::PipelineError;
use crate::command::{TestRecord, judge_figures, run_test};
use crate::driver::{At, Preset, StageName, StageOutcome};
use crate::health::probe_round;
use crate::progress::Progress;
use crate::supervisor::{Nodes, Samples, Supervisor};

/// The plan's preset of the driver: everything a plan's stages need
/// besides the store.
pub(crate) struct StageRunner {
    pub plan: Arc<Plan>,
    /// The plan expanded into the run's stages.
    pub stages: Vec<RunStage>,
    pub supervisor: Supervisor,
    pub samples: Samples,
    pub artifact_dir: PathBuf,
    pub progress: Progress,
    /// Module stage summaries of earlier cycles: (module) → max RSS of its
    /// first cycle, for RSS growth.
    pub first_cycle_rss: BTreeMap<String, u64>,
    /// Files the current stage wrote (relative to the artifact directory,
    /// with their kind), recorded with the stage attempt when it ends.
    pub new_artifacts: Vec<(String, &'static str)>,
    /// The lab hosts' backends, when the plan has a lab.
    pub hosts: BTreeMap<String, Arc<dyn gauntlet_node::Backend>>,
    /// Set when the current stage could not be carried out: a program
    /// (a service, a test command) that cannot be started at all. The
    /// driver then interrupts the run instead of holding it.
    pub broken: Option<String>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// A path-safe rendering of a stage name for artifact directories.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect::<Vec<_>>()
        .join("/")
}

impl Preset for StageRunner {
    const KIND: RunKind = RunKind::Run;

    fn stages(&self) -> Vec<StageName> {
        self.stages
            .iter()
            .map(|s| StageName {
                name: s.name.clone(),
                kind: s.kind().to_owned(),
                guards: s.guards.clone(),
            })
            .collect()
    }

    async fn restore(&mut self, index: usize) -> Result<(), StageEnd> {
        let before = running_before(&self.plan, &self.stages, index);
        if before.is_empty() {
            return Ok(());
        }
        self.progress
            .note(&format!("restoring {}", before.join(", ")));
        let end = self.up(&before).await;
        if end.passed { Ok(()) } else { Err(end) }
    }

    async fn run(&mut self, at: At<'_>) -> Result<StageOutcome, PipelineError> {
        let stage = self.stages[at.index].clone();
        let end = self.stage(&stage, at.attempt.attempt).await;
        for (path, kind) in self.new_artifacts.drain(..) {
            at.store
                .add_artifact(at.run, Some(at.attempt.id), path, kind)?;
        }
        Ok(StageOutcome::Ended(end))
    }

    fn take_broken(&mut self) -> Option<String> {
        self.broken.take()
    }

    /// A plan's stages keep nothing on a Ctrl-C: the driver stops them.
    fn watches_cancel(&self, _index: usize) -> bool {
        false
    }

    /// Every stage passed; the checks among them gate like any stage.
    fn verdict(&self) -> Validity {
        Validity::Valid
    }

    fn sensors(&self) -> Option<gauntlet_plan::Sensors> {
        Some(self.plan.sensors.clone())
    }

    async fn stop(&mut self) {
        self.supervisor.stop_all().await;
    }
}

impl StageRunner {
    fn service(&self, name: &str) -> &Service {
        self.plan
            .services
            .iter()
            .find(|s| s.name == name)
            .expect("names are checked when the plan loads")
    }

    /// Notes that the stage cannot be carried out (the first reason wins).
    fn break_off(&mut self, why: String) {
        self.broken.get_or_insert(why);
    }

    async fn stage(&mut self, stage: &RunStage, attempt: u32) -> StageEnd {
        self.supervisor.reset_windows();
        let rel = format!("stages/{}/{attempt}", slug(&stage.name));
        match &stage.action {
            StageAction::Up { services } => self.up(services).await,
            StageAction::Down { services } => {
                let stopped = self.supervisor.stop_many(services).await;
                for s in &stopped {
                    self.progress.note(&format!("{s} stopped"));
                }
                StageEnd::passed().with_summary(json!({ "stopped": stopped }))
            }
            StageAction::Command(test) => {
                let record = self.test(test, &format!("{rel}/command")).await;
                let (figures, broken) = self.figures(test, &record);
                let end = if !record.passed {
                    StageEnd::failed(format!(
                        "{}: {}",
                        record.name,
                        record.failure.clone().unwrap_or_default()
                    ))
                } else if !broken.is_empty() {
                    StageEnd::failed(format!("{}: {}", record.name, broken.join("; ")))
                } else {
                    StageEnd::passed()
                };
                end.with_summary(json!({ "tests": [record], "figures": figures }))
            }
            StageAction::Probe { expected } => self.probe(expected),
            StageAction::Wait { duration } => self.wait(*duration).await,
            StageAction::Module {
                module,
                cycle,
                cycles,
                deps,
            } => self.module(module, *cycle, *cycles, deps, &rel).await,
            StageAction::Check(check) => self.check(check, &rel).await,
            StageAction::Gate {
                stage,
                devices,
                allowed,
            } => {
                let (stage, devices, allowed) = (stage.clone(), devices.clone(), allowed.clone());
                for d in &devices {
                    self.progress
                        .note(&format!("probing {} (read-only)", d.display()));
                }
                tokio::task::spawn_blocking(move || crate::gate::check(&stage, &devices, &allowed))
                    .await
                    .unwrap_or_else(|e| StageEnd::failed(format!("the device probe failed: {e}")))
            }
            StageAction::Matrix(m) => {
                let Some(lab) = self.plan.lab.as_ref() else {
                    return StageEnd::failed("a matrix stage needs the plan's lab".to_owned());
                };
                let (end, log) = crate::matrix::run(
                    m,
                    lab,
                    &self.hosts,
                    &self.artifact_dir,
                    &rel,
                    &self.progress,
                )
                .await;
                self.new_artifacts.push((log, "matrix"));
                end
            }
        }
    }

    /// Judges the run's files with a checker program or a built-in checker
    /// over a history: `true` passes, `false` and `unknown` fail the stage
    /// (a held run the operator can retry or override). The result object
    /// is the summary's `result` and the artifact `<stage dir>/check.json`.
    async fn check(&mut self, check: &CheckStage, rel: &str) -> StageEnd {
        let judged = crate::check::judge(check, &self.artifact_dir, rel, &self.progress).await;
        self.new_artifacts.extend(judged.artifacts);
        // The result is an event: the store files it as the run's verdict.
        self.progress.events().emit(Event::Check {
            name: check.name.clone(),
            valid: judged.result.valid,
            result: serde_json::to_value(&judged.result).unwrap_or(Value::Null),
        });
        let why = judged.why;
        let end = match judged.result.valid {
            Validity::Valid => StageEnd::passed(),
            Validity::Invalid => {
                StageEnd::failed(format!("{}: the check found a violation{why}", check.name))
            }
            Validity::Unknown => {
                StageEnd::failed(format!("{}: the check could not decide{why}", check.name))
            }
        };
        end.with_summary(judged.summary)
    }

    async fn test(&mut self, test: &TestCommand, rel: &str) -> TestRecord {
        self.progress.note(&format!("running {}", test.name));
        let record = match run_test(test, &gauntlet_node::LocalBackend, &self.artifact_dir, rel)
            .await
        {
            Ok(r) => {
                self.new_artifacts.push((r.stdout_artifact.clone(), "log"));
                self.new_artifacts.push((r.stderr_artifact.clone(), "log"));
                r
            }
            Err(e) => TestRecord::not_run(test, format!("could not write its output files: {e}")),
        };
        if let Some(why) = &record.cannot_start {
            self.break_off(why.clone());
        }
        self.progress.note(&format!(
            "{} {} in {:.1} s{}",
            record.name,
            if record.passed { "passed" } else { "FAILED" },
            record.duration_ms as f64 / 1000.0,
            record
                .failure
                .as_ref()
                .map(|f| format!(": {f}"))
                .unwrap_or_default()
        ));
        record
    }

    /// Starts each service not yet running, in order; the first one that
    /// does not get healthy fails the stage with its last log lines.
    pub async fn up(&mut self, services: &[String]) -> StageEnd {
        let mut started = Vec::new();
        for name in services {
            if self.supervisor.is_running(name) {
                continue;
            }
            self.progress.note(&format!("starting {name}"));
            match self.supervisor.start(name).await {
                Ok(s) => {
                    self.progress.note(&format!(
                        "{name} healthy in {:.0} ms ({} checks)",
                        ms(s.time_to_healthy),
                        s.checks
                    ));
                    started.push(json!({
                        "name": name,
                        "pid": s.pid,
                        "time_to_healthy_ms": ms(s.time_to_healthy),
                        "checks": s.checks,
                        "p95_ms": percentile(&s.latencies, 95.0).map(ms),
                    }));
                }
                Err(why) => {
                    if let Some(cannot) = self.supervisor.cannot_start(name) {
                        self.break_off(cannot);
                    }
                    let tail = self.supervisor.last_lines(name, 15);
                    return StageEnd::failed(why).with_summary(json!({
                        "services": started,
                        "log_tail": { name.as_str(): tail },
                    }));
                }
            }
        }
        StageEnd::passed().with_summary(json!({ "services": started }))
    }

    /// Reads and judges a command's figures (see [`judge_figures`]).
    fn figures(&mut self, test: &TestCommand, record: &TestRecord) -> (Vec<Value>, Vec<String>) {
        let judged = judge_figures(
            test,
            record,
            &self.artifact_dir,
            &test.name,
            &self.samples,
            &self.progress,
        );
        (judged.shown, judged.broken)
    }

    fn probe(&mut self, expected: &[Expectation]) -> StageEnd {
        let inv = serde_json::to_value(inventory()).unwrap_or(Value::Null);
        let differences = compare(&inv, expected);
        let critical: Vec<String> = differences
            .iter()
            .filter(|d| d.severity == Severity::Critical)
            .map(|d| format!("{}: expected {}, found {}", d.field, d.expected, d.actual))
            .collect();
        for d in &differences {
            self.progress.note(&format!(
                "{}: {} expected {}, found {}",
                d.severity, d.field, d.expected, d.actual
            ));
        }
        let summary = json!({ "inventory": inv, "differences": differences });
        if critical.is_empty() {
            StageEnd::passed().with_summary(summary)
        } else {
            StageEnd::failed(critical.join("; ")).with_summary(summary)
        }
    }

    /// Names of running services that broke a limit or died, with why.
    fn broken(&self, names: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for name in names {
            let Some(state) = self.supervisor.state(name) else {
                continue;
            };
            let s = state.lock().unwrap_or_else(|e| e.into_inner());
            let limits = &self.service(name).limits;
            if let Some(why) = &s.gone {
                out.push(why.clone());
            }
            if let (Some(max), Some(rss)) = (limits.max_rss, s.window.rss_max)
                && rss > max
            {
                out.push(format!(
                    "{name}: RSS {} MiB > max_rss {} MiB",
                    rss >> 20,
                    max >> 20
                ));
            }
            if let (Some(max), Some(cpu)) = (limits.max_cpu, s.window.cpu_max)
                && cpu > max
            {
                out.push(format!("{name}: CPU {cpu:.0}% > max_cpu {max:.0}%"));
            }
            if let Some(max) = limits.max_restarts
                && s.restarts > max
            {
                out.push(format!(
                    "{name}: {} restarts > max_restarts {max}",
                    s.restarts
                ));
            }
        }
        out
    }

    async fn wait(&mut self, duration: Duration) -> StageEnd {
        let names = self.supervisor.running();
        let prober = HealthTicker::start(
            &self.plan,
            &names,
            self.samples.clone(),
            self.supervisor.nodes(),
        );
        // A service down for good fails the stage now, not at its end.
        let states: Vec<_> = names
            .iter()
            .filter_map(|n| self.supervisor.state(n))
            .collect();
        let one_gone = async {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if states
                    .iter()
                    .any(|s| s.lock().unwrap_or_else(|e| e.into_inner()).gone.is_some())
                {
                    break;
                }
            }
        };
        tokio::select! {
            _ = self.progress.countdown(duration) => {}
            _ = one_gone => {}
        }
        let health = prober.stop().await;
        let broken = self.broken(&names);
        let mut services = serde_json::Map::new();
        for name in &names {
            let Some(state) = self.supervisor.state(name) else {
                continue;
            };
            let s = state.lock().unwrap_or_else(|e| e.into_inner());
            let h = health.get(name);
            services.insert(
                name.clone(),
                json!({
                    "rss_max": s.window.rss_max,
                    "cpu_max": s.window.cpu_max,
                    "restarts": s.restarts,
                    "health_checks": h.map_or(0, |h| h.latencies.len() + h.failures as usize),
                    "health_failures": h.map_or(0, |h| h.failures),
                    "health_p95_ms": h.and_then(|h| percentile(&h.latencies, 95.0)).map(ms),
                }),
            );
        }
        let summary = json!({ "duration_ms": ms(duration), "services": services });
        if broken.is_empty() {
            StageEnd::passed().with_summary(summary)
        } else {
            StageEnd::failed(broken.join("; ")).with_summary(summary)
        }
    }

    /// One module in one cycle: its dependencies up, the module started
    /// fresh and checked, sampled while its tests run, then stopped with
    /// the dependencies this stage started.
    async fn module(
        &mut self,
        module: &str,
        cycle: u32,
        cycles: u32,
        deps: &[String],
        rel: &str,
    ) -> StageEnd {
        let mut summary = json!({ "module": module, "cycle": cycle, "cycles": cycles });
        let mut started_here = Vec::new();
        for dep in deps {
            if self.supervisor.is_running(dep) {
                continue;
            }
            self.progress.note(&format!("starting dependency {dep}"));
            if let Err(why) = self.supervisor.start(dep).await {
                if let Some(cannot) = self.supervisor.cannot_start(dep) {
                    self.break_off(cannot);
                }
                let tail = self.supervisor.last_lines(dep, 15);
                self.supervisor.stop_many(&started_here).await;
                summary["status"] = json!("fail");
                summary["reasons"] = json!([format!("dependency {why}")]);
                summary["log_tail"] = json!({ dep: tail });
                return StageEnd::failed(format!("{module}: dependency {why}"))
                    .with_summary(summary);
            }
            started_here.push(dep.clone());
        }
        if self.supervisor.is_running(module) {
            // Cycling means a fresh start.
            self.supervisor.stop(module).await;
        }
        self.progress.note(&format!("starting {module}"));
        let start = self.supervisor.start(module).await;
        if start.is_err()
            && let Some(cannot) = self.supervisor.cannot_start(module)
        {
            self.break_off(cannot);
        }
        let mut figures = ModuleFigures {
            healthy: start.is_ok(),
            health_p95: None,
            max_rss: None,
            max_cpu: None,
            restarts: 0,
            oom_kills: 0,
            tests_run: 0,
            tests_failed: 0,
            tests_empty: 0,
            rss_growth_pct: None,
        };
        let mut tests = Vec::new();
        let mut latencies = Vec::new();
        let mut time_to_healthy = None;
        let mut log_tail = None;
        match &start {
            Ok(s) => {
                latencies.extend(s.latencies.iter().copied());
                time_to_healthy = Some(ms(s.time_to_healthy));
                let ticker = HealthTicker::start(
                    &self.plan,
                    &[module.to_owned()],
                    self.samples.clone(),
                    self.supervisor.nodes(),
                );
                let service_tests = self.service(module).tests.clone();
                for (i, t) in service_tests.iter().enumerate() {
                    let record = self.test(t, &format!("{rel}/test-{}", i + 1)).await;
                    figures.tests_run += 1;
                    if !record.passed {
                        figures.tests_failed += 1;
                    }
                    if record.no_tests_found {
                        figures.tests_empty += 1;
                    }
                    tests.push(record);
                }
                if service_tests.is_empty() {
                    // Nothing to run, but the module should still be
                    // watched for a moment so its figures mean something.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let health = ticker.stop().await;
                let failing =
                    figures.tests_failed > 0 || health.get(module).is_some_and(|h| h.failures > 0);
                let grace = if failing {
                    Duration::from_secs(1)
                } else {
                    Duration::ZERO
                };
                self.supervisor.settle(module, grace).await;
                if let Some(h) = health.get(module) {
                    latencies.extend(h.latencies.iter().copied());
                    if h.failures > 0 {
                        figures.healthy = false;
                    }
                }
            }
            Err(_) => log_tail = Some(self.supervisor.last_lines(module, 15)),
        }
        self.supervisor.sample_now(module);
        if let Some(state) = self.supervisor.state(module) {
            let s = state.lock().unwrap_or_else(|e| e.into_inner());
            figures.max_rss = s.window.rss_max;
            figures.max_cpu = s.window.cpu_max;
            figures.restarts = s.restarts;
            figures.oom_kills = s.oom_kills;
            if s.gone.is_some() {
                figures.healthy = false;
            }
            summary["rss_bytes"] = json!({
                "first": s.window.rss_first, "max": s.window.rss_max, "last": s.window.rss_last
            });
            summary["cpu_pct"] = json!({ "mean": s.window.cpu_mean(), "max": s.window.cpu_max });
            summary["restarts"] = json!(s.restarts);
            summary["oom_kills"] = json!(s.oom_kills);
        }
        figures.health_p95 = percentile(&latencies, 95.0);
        if let Some(rss) = figures.max_rss {
            match self.first_cycle_rss.get(module) {
                Some(&first) if cycle > 1 && first > 0 => {
                    figures.rss_growth_pct =
                        Some((rss as f64 - first as f64) / first as f64 * 100.0);
                }
                _ if cycle == 1 => {
                    self.first_cycle_rss.insert(module.to_owned(), rss);
                }
                _ => {}
            }
        }
        self.supervisor.stop(module).await;
        self.supervisor.stop_many(&started_here).await;

        let (mut status, mut reasons) = module_status(self.service(module), &figures);
        if let Err(why) = &start {
            reasons.insert(0, why.clone());
            status = ModuleStatus::Fail;
        }
        summary["status"] = json!(status);
        summary["reasons"] = json!(reasons);
        summary["health"] = json!({
            "checks": latencies.len(),
            "p50_ms": percentile(&latencies, 50.0).map(ms),
            "p95_ms": figures.health_p95.map(ms),
            "time_to_healthy_ms": time_to_healthy,
        });
        if let Some(g) = figures.rss_growth_pct {
            summary["rss_growth_pct"] = json!((g * 10.0).round() / 10.0);
        }
        summary["tests"] = json!(tests);
        if let Some(tail) = log_tail {
            summary["log_tail"] = json!({ module: tail });
        }
        self.progress.note(&format!(
            "{module} cycle {cycle}/{cycles}: {}{}",
            match status {
                ModuleStatus::Pass => "PASS",
                ModuleStatus::Warn => "WARN",
                ModuleStatus::Fail => "FAIL",
            },
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join("; "))
            }
        ));
        match status {
            ModuleStatus::Fail => {
                StageEnd::failed(format!("{module}: {}", reasons.join("; "))).with_summary(summary)
            }
            _ => {
                let end = StageEnd::passed().with_summary(summary);
                if reasons.is_empty() {
                    end
                } else {
                    StageEnd {
                        message: Some(format!("WARN: {}", reasons.join("; "))),
                        ..end
                    }
                }
            }
        }
    }
}

/// A built-in checker (by its registered name) over the history at
/// `path`, off the async threads: linearizability can take minutes. A
/// history that cannot be read is `unknown`, naming the file and line.
/// Health probes of running services, once a second, while a stage runs.
struct HealthTicker {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<BTreeMap<String, HealthLog>>,
}

#[derive(Debug, Default)]
struct HealthLog {
    latencies: Vec<Duration>,
    failures: u32,
}

impl HealthTicker {
    fn start(plan: &Arc<Plan>, names: &[String], samples: Samples, nodes: Nodes) -> HealthTicker {
        let (plan, names) = (plan.clone(), names.to_vec());
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut logs: BTreeMap<String, HealthLog> = BTreeMap::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => return logs,
                }
                for (name, outcome) in
                    probe_round(&plan, Some(&names), Some(&samples), &nodes).await
                {
                    let log = logs.entry(name).or_default();
                    if outcome.healthy {
                        log.latencies.push(outcome.latency);
                    } else {
                        log.failures += 1;
                    }
                }
            }
        });
        HealthTicker { stop, task }
    }

    async fn stop(self) -> BTreeMap<String, HealthLog> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// Where a run's resolved plan is kept, relative to its artifact directory.
pub(crate) const RESOLVED_PLAN: &str = "plan.resolved.json";

pub(crate) fn resolved_plan_path(artifact_dir: &Path) -> PathBuf {
    artifact_dir.join(RESOLVED_PLAN)
}
