//! `gauntlet soak`: the runtime around gauntlet-soak's sans-IO core.
//!
//! A soak is a run with four stages: `up` (every service, dependency
//! order, healthy), `soak` (users, faults and the observer for the
//! duration), `calm` (STOP: users stop, faults heal; wait until every
//! service answers its health check again) and `readback` (read every
//! journaled key, judge the invariants, write `verdict.json`). The
//! verdict is the run's result; the stages pass when they could be
//! carried out. Users that cannot reach the service end the soak early.

mod faults;
mod observer;
mod users;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use gauntlet_check::{CheckResult, Validity};
use gauntlet_observe::http_request;
use gauntlet_plan::soak::{Readback, Soak, UserScenario};
use gauntlet_plan::{Plan, dependency_order, faults_in_scenario};
use gauntlet_proxy::Proxy;
use gauntlet_soak::invariants::{
    RssSample, i1_responsiveness, i2_memory, i3_recovery, i4_no_data_loss, i5_stability, verdict,
};
use gauntlet_soak::journal::Journal;
use gauntlet_soak::readback::classify;
use gauntlet_soak::schedule::plan_injections;
use gauntlet_soak::template::render;
use gauntlet_store::{NewFault, NewRun, NewStage, RunId, StageEnd, Store};
use serde_json::{Value, json};
use tokio::sync::{Mutex, watch};

use crate::command::argv;
use crate::progress::Progress;
use crate::supervisor::{Samples, Supervisor, log_dir};
use crate::{Outcome, PipelineError, io_err, write_reports};

use users::UserStats;

/// A soak to run: the same as a run's start.
pub use crate::Start as SoakStart;

/// How a soak ended.
#[derive(Debug)]
pub struct SoakOutcome {
    pub outcome: Outcome,
    /// The worst gated invariant (`None` when the soak could not be carried out).
    pub verdict: Option<Validity>,
    pub verdict_path: PathBuf,
    /// Why the soak stopped early, if it did.
    pub error: Option<String>,
}

const STAGES: [&str; 4] = ["up", "soak", "calm", "readback"];

pub async fn soak(
    store: Store,
    start: SoakStart,
    cancel: watch::Receiver<bool>,
) -> Result<SoakOutcome, PipelineError> {
    let Some(spec) = start.plan.soak.clone() else {
        return Err(PipelineError::NotSoak);
    };
    let run = store.create_run(&NewRun {
        plan_name: start.plan.name.clone(),
        plan_path: start.plan.path.as_ref().map(|p| p.display().to_string()),
        plan_text: start.plan_text.clone(),
        seed: start.seed,
        gauntlet_version: env!("CARGO_PKG_VERSION").to_owned(),
        command_line: start.command_line.clone(),
        stages: STAGES
            .iter()
            .map(|s| NewStage::new(*s, if *s == "up" { "up" } else { "soak" }))
            .collect(),
    })?;
    let dir = store.artifact_dir(&run.id);
    let services_dir = log_dir(&dir);
    std::fs::create_dir_all(&services_dir).map_err(io_err(&services_dir))?;
    let plan = Arc::new(start.plan);
    let samples = Samples::default();
    let progress = Progress::new(STAGES.len(), start.quiet);
    let mut sup = Supervisor::new(
        plan.clone(),
        services_dir.clone(),
        start.seed,
        samples.clone(),
    );
    sup.set_sample_interval(spec.observer.interval);
    let supervisor = Arc::new(Mutex::new(sup));
    let mut proxies = BTreeMap::new();
    let mut driver = Driver {
        store: &store,
        run: run.id.clone(),
        plan: plan.clone(),
        spec,
        seed: start.seed,
        samples: samples.clone(),
        progress: progress.clone(),
        supervisor: supervisor.clone(),
        dir: dir.clone(),
    };
    let result = driver.drive(&mut proxies, cancel).await;
    // Whatever happened: proxies closed, services stopped, samples kept.
    for (_, proxy) in std::mem::take(&mut proxies) {
        proxy.shutdown().await;
    }
    supervisor.lock().await.stop_all().await;
    samples.set_attempt(None);
    let flushed = store.add_measurements(&run.id, &samples.drain());
    progress.finish();
    let (verdict, error) = result?;
    flushed?;
    crate::record_service_logs(&store, &run.id, &dir)?;
    let reports = write_reports(&store, &run.id)?;
    Ok(SoakOutcome {
        outcome: Outcome {
            run: store.run(run.id.as_str())?,
            reports,
        },
        verdict,
        verdict_path: dir.join("verdict.json"),
        error,
    })
}

struct Driver<'a> {
    store: &'a Store,
    run: RunId,
    plan: Arc<Plan>,
    spec: Soak,
    seed: u64,
    samples: Samples,
    progress: Progress,
    supervisor: Arc<Mutex<Supervisor>>,
    dir: PathBuf,
}

type Verdict = (Option<Validity>, Option<String>);

impl Driver<'_> {
    fn begin(&self, index: usize) -> Result<gauntlet_store::StageAttempt, PipelineError> {
        let attempt = self.store.start_stage(&self.run, STAGES[index])?;
        self.samples.set_attempt(Some(attempt.id));
        self.progress
            .stage_start(index, STAGES.len(), STAGES[index], "soak");
        Ok(attempt)
    }

    fn end(&self, index: usize, end: StageEnd) -> Result<bool, PipelineError> {
        self.store
            .add_measurements(&self.run, &self.samples.drain())?;
        let passed = end.passed;
        self.progress.stage_end(
            index,
            STAGES.len(),
            STAGES[index],
            passed,
            end.message.as_deref(),
        );
        self.store.finish_stage(&self.run, STAGES[index], end)?;
        Ok(passed)
    }

    async fn drive(
        &mut self,
        proxies: &mut BTreeMap<String, Proxy>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<Verdict, PipelineError> {
        // up
        self.begin(0)?;
        let names: Vec<String> = self.plan.services.iter().map(|s| s.name.clone()).collect();
        let order = dependency_order(&self.plan, &names);
        for name in &order {
            self.progress.note(&format!("starting {name}"));
            let started = self.supervisor.lock().await.start(name).await;
            if let Err(why) = started {
                let tail = self.supervisor.lock().await.last_lines(name, 15);
                self.end(
                    0,
                    StageEnd::failed(why.clone())
                        .with_summary(json!({ "log_tail": { name.as_str(): tail } })),
                )?;
                return Ok((None, Some(why)));
            }
        }
        for (service, p) in &self.spec.proxies {
            let (Ok(listen), Ok(upstream)) = (p.listen.parse(), p.upstream.parse()) else {
                let why = format!("proxy of {service}: listen and upstream must be ip:port");
                self.end(0, StageEnd::failed(why.clone()))?;
                return Ok((None, Some(why)));
            };
            match Proxy::start(listen, upstream).await {
                Ok(proxy) => {
                    self.progress.note(&format!(
                        "proxy {} → {} for {service}",
                        proxy.local_addr(),
                        p.upstream
                    ));
                    proxies.insert(service.clone(), proxy);
                }
                Err(e) => {
                    let why = format!("proxy of {service} on {}: {e}", p.listen);
                    self.end(0, StageEnd::failed(why.clone()))?;
                    return Ok((None, Some(why)));
                }
            }
        }
        self.end(
            0,
            StageEnd::passed().with_summary(json!({ "services": order })),
        )?;

        // soak
        self.begin(1)?;
        let proxies_shared = Arc::new(std::mem::take(proxies));
        let started = Instant::now();
        // The same instant on the wall clock, for what the store keeps.
        let started_wall = gauntlet_store::now_ms();
        let (stop_tx, stop_rx) = watch::channel(false);
        let journal = Arc::new(StdMutex::new(Journal::new()));
        let stats = Arc::new(UserStats::default());
        let mut user_tasks = Vec::new();
        for id in 0..self.spec.users.count {
            user_tasks.push(tokio::spawn(users::run_user(users::UserContext {
                id,
                users: self.spec.users.clone(),
                journal: journal.clone(),
                stats: stats.clone(),
                stop: stop_rx.clone(),
                started,
                seed: self.seed,
            })));
        }
        let scenario_faults: Vec<_> = faults_in_scenario(&self.spec, &self.spec.scenario)
            .into_iter()
            .cloned()
            .collect();
        let duration_ms = self.spec.duration.as_millis() as i64;
        let injections = {
            let refs: Vec<_> = scenario_faults.iter().collect();
            plan_injections(&refs, duration_ms, self.seed)
        };
        let caused_restarts = Arc::new(StdMutex::new(BTreeMap::new()));
        let faults_task = tokio::spawn(faults::run_faults(
            faults::FaultContext {
                plan: self.plan.clone(),
                supervisor: self.supervisor.clone(),
                proxies: proxies_shared.clone(),
                started,
                progress: self.progress.clone(),
                caused_restarts: caused_restarts.clone(),
            },
            scenario_faults.clone(),
            injections,
            stop_rx.clone(),
        ));
        let observer_task = tokio::spawn(observer::observe(
            observer::ObserverContext {
                plan: self.plan.clone(),
                supervisor: self.supervisor.clone(),
                samples: self.samples.clone(),
                stats: stats.clone(),
                started,
                interval: self.spec.observer.interval,
                patterns: self.spec.observer.log_patterns.clone(),
                log_dir: log_dir(&self.dir),
            },
            stop_rx.clone(),
        ));
        // Wait for the end, a Ctrl-C, or users that never get through.
        let unreachable_after = self.spec.users.unreachable_after;
        let mut interrupted = false;
        let early: Option<String> = tokio::select! {
            r = self.flush_until(started + self.spec.duration) => r?,
            _ = cancel.wait_for(|c| *c) => {
                interrupted = true;
                Some("stopped by a signal (Ctrl-C or SIGTERM)".to_owned())
            }
            why = unreachable(stats.clone(), unreachable_after) => Some(why),
        };
        // STOP: users stop, faults heal.
        let _ = stop_tx.send(true);
        self.progress.note("STOP: users stop, faults heal");
        for t in user_tasks {
            let _ = t.await;
        }
        let windows = faults_task.await.unwrap_or_default();
        let observation = observer_task.await.ok();
        for (_, p) in proxies_shared.iter() {
            p.set(None);
        }
        for w in &windows {
            let id = self.store.record_fault(
                &self.run,
                &NewFault {
                    time: started_wall + w.start_ms,
                    kind: w.kind.clone(),
                    target: w.target.clone().unwrap_or_else(|| "all".to_owned()),
                    value: json!({ "fault": w.fault }),
                },
            )?;
            self.store
                .heal_fault(&self.run, id, started_wall + w.end_ms)?;
        }
        let acked = stats.successes.load(Ordering::Relaxed);
        let soak_summary = json!({
            "minutes": self.spec.duration.as_secs_f64() / 60.0,
            "scenario": self.spec.scenario,
            "users": self.spec.users.count,
            "user_ops_ok": acked,
            "user_ops_failed": stats.failures.load(Ordering::Relaxed),
            "last_user_error": stats.last_error(),
            "faults": windows.len(),
        });
        if let Some(why) = early {
            if interrupted {
                self.store
                    .add_measurements(&self.run, &self.samples.drain())?;
                self.store.interrupt_run(&self.run, &why)?;
            } else {
                self.end(1, StageEnd::failed(why.clone()).with_summary(soak_summary))?;
            }
            self.write_verdict(json!({
                "run": self.run.as_str(),
                "valid": "unknown",
                "error": why,
            }))?;
            return Ok((None, Some(why)));
        }
        self.end(1, StageEnd::passed().with_summary(soak_summary.clone()))?;

        // calm
        self.begin(2)?;
        let calm = self.calm().await;
        self.end(
            2,
            match &calm {
                Ok(ms) => StageEnd::passed().with_summary(json!({ "quiet_after_ms": ms })),
                Err(why) => StageEnd::failed(why.clone()),
            },
        )?;
        if let Err(why) = calm {
            // The system did not come back: the data can still be read, but
            // say so. (I3 will show which fault it did not recover from.)
            self.progress.note(&why);
        }

        // readback and verdict
        self.begin(3)?;
        // Every user has stopped: the journal is complete.
        let journal = std::mem::take(&mut *journal.lock().unwrap_or_else(|e| e.into_inner()));
        let journal_path = self.dir.join("journal.jsonl");
        let file = std::fs::File::create(&journal_path).map_err(io_err(&journal_path))?;
        journal
            .write_jsonl(std::io::BufWriter::new(file))
            .map_err(io_err(&journal_path))?;
        self.store
            .add_artifact(&self.run, None, "journal.jsonl", "journal")?;
        self.progress.note(&format!(
            "reading back {} keys ({} acknowledged writes)",
            journal.keys().count(),
            journal.acked_writes()
        ));
        let reads = self.read_back(&journal).await;
        let all_errors = !reads.is_empty() && reads.values().all(|r| r.is_err());
        let loss = classify(&journal, &reads);
        let mut health = observation
            .as_ref()
            .map(|o| o.health.clone())
            .unwrap_or_default();
        // The observer stopped at STOP; the calm phase's final probes say
        // whether a fault STOP cut short was recovered from (I3).
        health_after_calm(&self.plan, started, &mut health).await;
        let mut rss: BTreeMap<String, Vec<RssSample>> = BTreeMap::new();
        for service in &self.plan.services {
            let series = self
                .store
                .measurements(&self.run, "rss", &service.name)?
                .into_iter()
                .map(|m| RssSample {
                    t_ms: m.time - started_wall,
                    bytes: m.value as u64,
                })
                .collect();
            rss.insert(service.name.clone(), series);
        }
        let mut restarts: BTreeMap<String, u32> = BTreeMap::new();
        {
            let sup = self.supervisor.lock().await;
            for service in &self.plan.services {
                if let Some(state) = sup.state(&service.name) {
                    let n = state.lock().unwrap_or_else(|e| e.into_inner()).restarts;
                    restarts.insert(service.name.clone(), n);
                }
            }
        }
        for (name, n) in caused_restarts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            *restarts.entry(name.clone()).or_default() += n;
        }
        let inv = &self.spec.invariants;
        let warmup_ms = self.spec.warmup.as_millis() as i64;
        let mut results: Vec<CheckResult> = vec![
            i1_responsiveness(&health, &windows, inv, warmup_ms),
            i2_memory(&rss, inv, duration_ms),
            i3_recovery(&health, &windows, inv),
            i4_no_data_loss(&loss, &journal),
            i5_stability(&restarts, &health, &windows, inv),
        ];
        if all_errors {
            let first = reads
                .values()
                .find_map(|r| r.as_ref().err().cloned())
                .unwrap_or_default();
            results[3].demote(Validity::Unknown);
            results[3].evidence(json!({
                "problem": "the readback failed for every key",
                "error": first,
            }));
        } else if loss.checked > 0 && loss.ok == 0 && loss.explained.is_empty() {
            results[3].evidence(json!({
                "problem": "the readback found no value for any key",
                "note": "every acknowledged write is gone; if the data should be there, check [readback]",
            }));
        }
        let gated = verdict(&results, &inv.gate);
        let mut invariants = serde_json::Map::new();
        for r in &results {
            self.store.set_verdict(
                &self.run,
                &r.checker,
                r.valid,
                &serde_json::to_value(r).unwrap_or(Value::Null),
            )?;
            invariants.insert(
                r.checker.clone(),
                serde_json::to_value(r).unwrap_or(Value::Null),
            );
        }
        let verdict_json = json!({
            "run": self.run.as_str(),
            "plan": self.plan.name,
            "minutes": self.spec.duration.as_secs_f64() / 60.0,
            "scenario": self.spec.scenario,
            "seed": self.seed,
            "valid": gated,
            "pass": gated == Validity::Valid,
            "gate": inv.gate,
            "invariants": invariants,
            "users": soak_summary,
            "faults": windows.iter().map(|w| json!({
                "fault": w.fault, "kind": w.kind, "target": w.target,
                "start_ms": w.start_ms, "end_ms": w.end_ms,
            })).collect::<Vec<_>>(),
            "log_matches": observation.as_ref().map(|o| json!(o.log_matches)).unwrap_or(Value::Null),
            "journal": { "acked": journal.acked_writes(), "unacked": journal.unacked_writes(), "keys": journal.keys().count() },
        });
        self.write_verdict(verdict_json)?;
        self.end(
            3,
            StageEnd::passed().with_summary(json!({
                "checked": loss.checked, "ok": loss.ok, "lost": loss.lost.len(),
                "stale": loss.stale.len(), "explained": loss.explained.len(),
                "unexpected": loss.unexpected.len(), "unreadable": loss.unreadable.len(),
            })),
        )?;
        self.store.finish_run(&self.run, gated)?;
        Ok((Some(gated), None))
    }

    /// Sleeps until `end`, writing the samples to the store every 10 s so
    /// memory stays flat however long the soak is.
    async fn flush_until(&self, end: Instant) -> Result<Option<String>, PipelineError> {
        loop {
            let now = Instant::now();
            if now >= end {
                return Ok(None);
            }
            tokio::time::sleep((end - now).min(Duration::from_secs(10))).await;
            self.store
                .add_measurements(&self.run, &self.samples.drain())?;
        }
    }

    fn write_verdict(&self, verdict: Value) -> Result<(), PipelineError> {
        let path = self.dir.join("verdict.json");
        let text = serde_json::to_string_pretty(&verdict).unwrap_or_default();
        std::fs::write(&path, text).map_err(io_err(&path))?;
        self.store
            .add_artifact(&self.run, None, "verdict.json", "verdict")?;
        Ok(())
    }

    /// Waits until every service answers its health check (restarting any
    /// that a fault left down); returns how long it took.
    async fn calm(&self) -> Result<u64, String> {
        let began = Instant::now();
        let deadline = began + self.spec.calm_timeout;
        // Services a fault killed and STOP interrupted before the restart.
        {
            let mut sup = self.supervisor.lock().await;
            let names: Vec<String> = self.plan.services.iter().map(|s| s.name.clone()).collect();
            for name in dependency_order(&self.plan, &names) {
                if !sup.is_running(&name) {
                    self.progress.note(&format!("calm: starting {name} again"));
                    if let Err(e) = sup.start(&name).await {
                        return Err(format!("calm: {e}"));
                    }
                }
            }
        }
        loop {
            let mut all = true;
            for service in &self.plan.services {
                if let Some(check) = &service.health
                    && !gauntlet_observe::probe_once(&check.probe, check.probe_timeout)
                        .await
                        .healthy
                {
                    all = false;
                }
            }
            if all {
                // A moment more, so in-flight work inside the service settles.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return Ok(began.elapsed().as_millis() as u64);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not every service was healthy {:.0} s after STOP",
                    self.spec.calm_timeout.as_secs_f64()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn read_back(
        &self,
        journal: &Journal,
    ) -> BTreeMap<String, Result<Option<String>, String>> {
        let mut reads = BTreeMap::new();
        let mut program = None;
        for key in journal.keys() {
            let vars = BTreeMap::from([("key".to_owned(), key.to_owned())]);
            let read = match &self.spec.readback {
                Readback::Http { url } => match render(url, &vars) {
                    Ok(url) => match http_request("GET", &url, None, Duration::from_secs(10)).await
                    {
                        Ok(r) if r.status == 200 => {
                            Ok(Some(String::from_utf8_lossy(&r.body).into_owned()))
                        }
                        Ok(r) if r.status == 404 => Ok(None),
                        Ok(r) => Err(format!("GET {url} answered {}", r.status)),
                        Err(e) => Err(format!("GET {url}: {e}")),
                    },
                    Err(e) => Err(e.to_string()),
                },
                Readback::Command(command) => read_by_command(command, &vars).await,
                Readback::Program => {
                    let UserScenario::Program(command) = &self.spec.users.scenario else {
                        return reads;
                    };
                    if program.is_none() {
                        program = users::Program::spawn(command, None).ok();
                    }
                    match program.as_mut() {
                        Some(p) => match p.call(&json!({"op": "read", "key": key})).await {
                            Ok(v) if v["ok"] == true => Ok(v["value"].as_str().map(str::to_owned)),
                            Ok(v) => Err(format!("read {key}: {}", v["error"])),
                            Err(e) => Err(e),
                        },
                        None => Err("cannot start the user program for the readback".to_owned()),
                    }
                }
            };
            reads.insert(key.to_owned(), read);
        }
        if let Some(p) = program {
            p.kill();
        }
        reads
    }
}

/// The most a readback command may print (a whole key space, not a log).
const READBACK_STDOUT_LIMIT: usize = 64 << 20;

async fn read_by_command(
    command: &gauntlet_plan::Command,
    vars: &BTreeMap<String, String>,
) -> Result<Option<String>, String> {
    let (program, args) = argv(&command.command);
    let program = render(&program.to_string_lossy(), vars).map_err(|e| e.to_string())?;
    let args: Vec<String> = args
        .iter()
        .map(|a| render(a, vars))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    // Through the backend: the command is in the kill registry and its own
    // cgroup, so a timeout, Ctrl-C or SIGKILL of gauntlet (via the next
    // sweep) kills it and whatever it started.
    let mut spec = gauntlet_node::NodeSpec::new(&program);
    spec.args = args.iter().map(Into::into).collect();
    spec.cwd = Some(command.cwd.clone());
    spec.env = command
        .env
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let out = gauntlet_node::run_to_end(
        &gauntlet_node::LocalBackend,
        &spec,
        None,
        Duration::from_secs(10),
        READBACK_STDOUT_LIMIT,
    )
    .await
    .map_err(|e| format!("{program}: {e}"))?;
    if out.timed_out {
        return Err(format!("{program}: no answer in 10 s"));
    }
    if out.stdout_truncated {
        return Err(format!(
            "{program}: printed more than {READBACK_STDOUT_LIMIT} bytes"
        ));
    }
    if !out.exit.success() {
        return Err(format!(
            "{program} {}: {}",
            out.exit.termination,
            out.exit.stderr_tail.join("\n").trim()
        ));
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.ends_with('\n') {
        text.pop();
    }
    Ok((!text.is_empty()).then_some(text))
}

/// One more probe of every service after the calm phase, added to the
/// health samples.
async fn health_after_calm(
    plan: &Plan,
    started: Instant,
    health: &mut BTreeMap<String, Vec<gauntlet_soak::invariants::HealthSample>>,
) {
    for service in &plan.services {
        let Some(check) = &service.health else {
            continue;
        };
        let outcome = gauntlet_observe::probe_once(&check.probe, check.probe_timeout).await;
        health.entry(service.name.clone()).or_default().push(
            gauntlet_soak::invariants::HealthSample {
                t_ms: started.elapsed().as_millis() as i64,
                healthy: outcome.healthy,
                latency_ms: outcome
                    .healthy
                    .then_some(outcome.latency.as_secs_f64() * 1000.0),
            },
        );
    }
}

/// Resolves when no user operation has succeeded for `after` since the
/// start: the service is unreachable, so hours of soak would prove nothing.
async fn unreachable(stats: Arc<UserStats>, after: Duration) -> String {
    tokio::time::sleep(after).await;
    loop {
        if stats.successes.load(Ordering::Relaxed) == 0 {
            return format!(
                "users could not reach the service in {:.0} s: {}",
                after.as_secs_f64(),
                stats
                    .last_error()
                    .unwrap_or_else(|| "no request succeeded".to_owned())
            );
        }
        // Reached at least once: from here on outages are faults to judge.
        std::future::pending::<()>().await;
    }
}

/// Where a soak leaves its verdict.
pub fn verdict_path(store: &Store, run: &RunId) -> PathBuf {
    store.artifact_dir(run).join("verdict.json")
}
