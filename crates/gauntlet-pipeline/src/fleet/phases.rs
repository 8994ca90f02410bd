//! What each phase of the fleet loop does: setup, build, deploy, test,
//! fix and wait. Each returns how it ended (the loop's record) and the
//! details its stage's summary keeps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gauntlet_fleet::{Ended, Figure as LoopFigure, Phase};
use gauntlet_node::LocalBackend;
use gauntlet_plan::{
    Command, CommandLine, Criteria, ExpectCheck, Fleet, HealthCheck, Plan, Probe, Readiness,
    RestartPolicy, Service, ServiceControl, SuiteRuns, TestCommand,
};
use gauntlet_ssh::{Host, SshBackend};
use gauntlet_store::now_ms;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::LoopPlan;
use super::preset::FleetLoop;
use crate::command::{TestRecord, judge_figures, run_test};
use crate::supervisor::Supervisor;

/// A control command on a node (stop, mkdir, checksum, systemctl).
const NODE_STEP: Duration = Duration::from_secs(60);
/// An upload of the artifact to one node.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The name of the project's service on `node` in the run's supervisor.
pub(super) fn service_name(project: &str, node: &str) -> String {
    format!("{project}@{node}")
}

/// `{{key}}` replaced by each value, in every word of a command and its
/// environment.
fn fill(command: &Command, values: &[(&str, &str)]) -> Command {
    let replace = |s: &str| {
        values.iter().fold(s.to_owned(), |s, (k, v)| {
            s.replace(&format!("{{{{{k}}}}}"), v)
        })
    };
    Command {
        command: match &command.command {
            CommandLine::Shell(s) => CommandLine::Shell(replace(s)),
            CommandLine::Argv(v) => CommandLine::Argv(v.iter().map(|w| replace(w)).collect()),
        },
        cwd: command.cwd.clone(),
        env: command
            .env
            .iter()
            .map(|(k, v)| (k.clone(), replace(v)))
            .collect(),
    }
}

fn fill_probe(probe: &Probe, values: &[(&str, &str)]) -> Probe {
    let replace = |s: &str| {
        values.iter().fold(s.to_owned(), |s, (k, v)| {
            s.replace(&format!("{{{{{k}}}}}"), v)
        })
    };
    match probe {
        Probe::Http { url, status } => Probe::Http {
            url: replace(url),
            status: *status,
        },
        Probe::Tcp { address } => Probe::Tcp {
            address: replace(address),
        },
        Probe::Command(c) => Probe::Command(fill(c, values)),
        Probe::Exec { argv } => Probe::Exec {
            argv: argv.iter().map(|a| replace(a)).collect(),
        },
    }
}

/// The project's service on each of its nodes as a plan's services (one
/// per node, on the node's host), for the run's supervisor. `addresses`
/// are the addresses that answered, by node; a node not in it is named by
/// the fleet file's address.
pub(super) fn service_plan(plan: &LoopPlan, addresses: &BTreeMap<String, String>) -> Plan {
    let project = plan.project();
    let mut services = Vec::new();
    if let ServiceControl::Supervised {
        command,
        stop_timeout,
    } = &project.service.control
    {
        for node in &project.nodes {
            let address = addresses
                .get(node)
                .cloned()
                .or_else(|| plan.fleet.node(node).map(|n| n.ssh.address.clone()))
                .unwrap_or_default();
            let values = [("node", node.as_str()), ("address", address.as_str())];
            let run = fill(
                &Command {
                    command: command.clone(),
                    cwd: PathBuf::from("/"),
                    env: BTreeMap::new(),
                },
                &values,
            );
            services.push(Service {
                name: service_name(&project.name, node),
                run,
                depends_on: Vec::new(),
                ready: Readiness::Healthy,
                health: project.service.health.as_ref().map(|h| HealthCheck {
                    probe: fill_probe(&h.probe, &values),
                    ..h.clone()
                }),
                limits: Default::default(),
                // A crash is evidence for the test, not something to hide.
                restart: RestartPolicy::Never,
                stop_timeout: *stop_timeout,
                tests: Vec::new(),
                host: Some(node.clone()),
                group: Some(project.name.clone()),
                container: None,
            });
        }
    }
    Plan {
        name: project.name.clone(),
        description: None,
        path: Some(plan.fleet.path.clone()),
        vars: BTreeMap::new(),
        services,
        stages: Vec::new(),
        soak: None,
        lab: None,
        fleet: None,
        cluster: None,
        compose: None,
        notify: Vec::new(),
        warnings: Vec::new(),
        allowed_devices: Vec::new(),
        sensors: Default::default(),
    }
}

/// One node's answer at setup.
struct Reached {
    node: String,
    host: Result<Host, String>,
    disk_free_mib: Option<u64>,
}

/// Connects to each of `nodes` (a few at once, each bounded as the survey
/// bounds it), sweeps what dead gauntlets left there and reads the free
/// disk where the artifact goes. In `nodes`' order.
async fn reach(fleet: &Fleet, nodes: &[String], install: &str) -> Vec<Reached> {
    use futures_util::StreamExt;
    let known: Vec<&gauntlet_plan::FleetNode> =
        nodes.iter().filter_map(|n| fleet.node(n)).collect();
    futures_util::stream::iter(known.into_iter().map(|node| async move {
        let host = match super::survey::connect(node).await {
            Ok(h) => h,
            Err(e) => {
                return Reached {
                    node: node.name.clone(),
                    host: Err(e.to_string()),
                    disk_free_mib: None,
                };
            }
        };
        // What dead gauntlets left on it goes first.
        let _ = gauntlet_ssh::sweep(&host).await;
        let disk_free_mib = disk_free(&host, install).await;
        Reached {
            node: node.name.clone(),
            host: Ok(host),
            disk_free_mib,
        }
    }))
    .buffered(super::survey::PARALLEL)
    .collect()
    .await
}

/// Free space where the artifact goes (its nearest existing directory).
async fn disk_free(host: &Host, install: &str) -> Option<u64> {
    let script = format!(
        "d={}; while [ ! -d \"$d\" ]; do d=$(dirname \"$d\"); done; df -Pk \"$d\"",
        String::from_utf8(gauntlet_ssh::quote(std::ffi::OsStr::new(install)).ok()?).ok()?
    );
    let ran = super::survey::run_script(host, &script, NODE_STEP)
        .await
        .ok()?;
    let line = ran.stdout.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib / 1024)
}

impl FleetLoop {
    /// Connects to the project's nodes; the ones that do not answer are
    /// degraded and skipped from now on.
    async fn connect(&mut self) -> Vec<Value> {
        let project = self.plan.project().clone();
        let reached = reach(&self.plan.fleet, &project.nodes, &project.install).await;
        self.close_hosts().await;
        self.degraded.clear();
        let mut shown = Vec::new();
        let mut addresses = BTreeMap::new();
        for r in reached {
            let node = self.plan.fleet.node(&r.node).cloned();
            let (role, nat) = node
                .as_ref()
                .map_or(("?".to_owned(), "?"), |n| (n.role.clone(), n.nat_word()));
            match r.host {
                Ok(host) => {
                    self.progress.note(&format!(
                        "{}: reached at {}{}",
                        r.node,
                        host.address(),
                        r.disk_free_mib
                            .map(|m| format!(", {m} MiB free"))
                            .unwrap_or_default()
                    ));
                    shown.push(json!({
                        "node": r.node, "role": role, "nat": nat, "reachable": true,
                        "address": host.address(), "disk_free_mib": r.disk_free_mib,
                    }));
                    addresses.insert(r.node.clone(), host.address().to_owned());
                    self.hosts.insert(r.node, host);
                }
                Err(why) => {
                    self.progress
                        .note(&format!("{}: unreachable, degraded: {why}", r.node));
                    shown.push(json!({
                        "node": r.node, "role": role, "nat": nat, "reachable": false,
                        "error": why,
                    }));
                    self.degraded.insert(r.node);
                }
            }
        }
        self.rebuild_supervisor(&addresses);
        shown
    }

    /// Closes every connection, off the runtime's threads (a last clone
    /// waits, boundedly, for its keeper to clean up the node): the
    /// supervisor is replaced by one with no hosts first, so the clones
    /// closed here are the last. Nothing of the project may be running.
    pub(super) async fn close_hosts(&mut self) {
        let hosts = std::mem::take(&mut self.hosts);
        self.rebuild_supervisor(&BTreeMap::new());
        for (_, host) in hosts {
            super::survey::close(host).await;
        }
    }

    /// A supervisor whose services are named by the addresses that
    /// answered and run on the connected hosts.
    fn rebuild_supervisor(&mut self, addresses: &BTreeMap<String, String>) {
        let plan = Arc::new(service_plan(&self.plan, addresses));
        let mut supervisor = Supervisor::new(
            plan,
            crate::supervisor::log_dir(&self.dir),
            0,
            self.samples.clone(),
            gauntlet_node::LocalBackend::shared(),
            BTreeMap::new(),
        );
        supervisor.set_hosts(
            self.hosts
                .iter()
                .map(|(name, host)| {
                    (
                        name.clone(),
                        Arc::new(SshBackend::new(host.clone())) as Arc<dyn gauntlet_node::Backend>,
                    )
                })
                .collect(),
        );
        self.supervisor = supervisor;
    }

    /// The nodes the loop works on: the project's, minus the degraded.
    fn live(&self) -> Vec<String> {
        self.plan
            .project()
            .nodes
            .iter()
            .filter(|n| self.hosts.contains_key(*n))
            .cloned()
            .collect()
    }

    pub(super) async fn setup(&mut self) -> (Ended, Value) {
        let shown = self.connect().await;
        let total = self.plan.project().nodes.len();
        let reachable = self.hosts.len();
        let message = if total > 0 && reachable * 2 >= total {
            if self.degraded.is_empty() {
                format!("all {total} nodes reachable")
            } else {
                format!(
                    "{reachable} of {total} nodes reachable; degraded and skipped: {}",
                    self.degraded.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            }
        } else {
            format!("fewer than half the nodes are reachable: {reachable} of {total}")
        };
        (
            Ended::Reached { reachable, total },
            json!({
                "nodes": shown,
                "degraded": self.degraded,
                "message": message,
            }),
        )
    }

    /// A loop resumed in a new process: the nodes again, and the service
    /// where a deploy put it (Gauntlet's supervision ended with the
    /// process that started it). Problems are said; the phase then finds
    /// what is missing.
    pub(super) async fn reconnect(&mut self) -> Result<(), String> {
        self.progress
            .note("resuming the loop: reaching the nodes again");
        self.connect().await;
        let deployed = self
            .records
            .iter()
            .any(|(r, _)| matches!((&r.phase, &r.ended), (Phase::Deploy, Ended::Done)));
        if deployed {
            for node in self.live() {
                let name = service_name(&self.plan.project, &node);
                if let Err(why) = self.start_service(&node, &name).await {
                    self.progress
                        .note(&format!("{node}: the service did not come back: {why}"));
                }
            }
        }
        Ok(())
    }

    pub(super) async fn build(&mut self, attempt: u32, stage: &str) -> (Ended, Value) {
        let project = self.plan.project().clone();
        self.progress.note(&format!(
            "building {} (attempt {attempt}) in {}",
            project.name,
            project.repo.display()
        ));
        let test = TestCommand {
            name: "build".to_owned(),
            run: project.build.clone(),
            timeout: project.build_timeout,
            expect: no_expectations(),
        };
        let rel = format!("phases/{stage}/build");
        let record = self.run_here(&test, &rel).await;
        let commit = head(&project.repo).await;
        if !record.passed {
            let why = failure_line(&record);
            return (
                Ended::Failed(why.clone()),
                json!({ "commit": commit, "log": rel, "record": record, "message": why }),
            );
        }
        match sha256_file(&project.artifact) {
            Ok((sha, bytes)) => {
                let message = format!(
                    "built {} ({bytes} bytes, sha256 {}){}",
                    project.artifact.display(),
                    &sha[..12],
                    commit
                        .as_deref()
                        .map(|c| format!(" at {}", &c[..c.len().min(12)]))
                        .unwrap_or_default()
                );
                self.progress.note(&message);
                (
                    Ended::Done,
                    json!({
                        "commit": commit, "artifact": project.artifact, "sha256": sha,
                        "bytes": bytes, "log": rel, "message": message,
                    }),
                )
            }
            Err(e) => {
                let why = format!(
                    "the build exited 0 but its artifact {} cannot be read: {e}",
                    project.artifact.display()
                );
                (
                    Ended::Failed(why.clone()),
                    json!({ "commit": commit, "log": rel, "message": why }),
                )
            }
        }
    }

    /// Stops the service on every live node, uploads the artifact beside
    /// its install path and renames it over it, checks the bytes, starts
    /// the service and checks it is up.
    pub(super) async fn deploy(&mut self) -> (Ended, Value) {
        let project = self.plan.project().clone();
        let (sha, bytes) = match sha256_file(&project.artifact) {
            Ok(x) => x,
            Err(e) => {
                let why = format!(
                    "the artifact {} cannot be read: {e}",
                    project.artifact.display()
                );
                return (Ended::Failed(why.clone()), json!({ "message": why }));
            }
        };
        let mut shown = Vec::new();
        let mut failed = Vec::new();
        for node in self.live() {
            let host = self.hosts[&node].clone();
            let name = service_name(&project.name, &node);
            let step = self.deploy_one(&host, &node, &name, &project, &sha).await;
            match step {
                Ok(detail) => {
                    self.progress
                        .note(&format!("{node}: deployed and up ({detail})"));
                    shown.push(json!({ "node": node, "deployed": true, "detail": detail }));
                }
                Err(why) => {
                    self.progress.note(&format!("{node}: deploy FAILED: {why}"));
                    shown.push(json!({ "node": node, "deployed": false, "error": why }));
                    failed.push(format!("{node}: {why}"));
                }
            }
        }
        let live = self.live().len();
        if live == 0 {
            let why = "no node to deploy to".to_owned();
            return (Ended::Failed(why.clone()), json!({ "message": why }));
        }
        let details = |message: String| {
            json!({
                "nodes": shown, "sha256": sha, "bytes": bytes,
                "install": project.install, "message": message,
            })
        };
        if failed.is_empty() {
            (
                Ended::Done,
                details(format!("{live} nodes run sha256 {}", &sha[..12])),
            )
        } else {
            let why = failed.join("; ");
            (Ended::Failed(why.clone()), details(why))
        }
    }

    async fn deploy_one(
        &mut self,
        host: &Host,
        node: &str,
        name: &str,
        project: &gauntlet_plan::Project,
        sha: &str,
    ) -> Result<String, String> {
        // Stop: the old binary must not keep serving the new test.
        match &project.service.control {
            ServiceControl::Supervised { .. } => self.supervisor.stop(name).await,
            ServiceControl::Systemd { unit } => {
                remote(host, &["systemctl", "stop", unit], "systemctl stop").await?;
            }
        }
        let install = Path::new(&project.install);
        let dir = install.parent().unwrap_or(Path::new("/"));
        remote(
            host,
            &["mkdir", "-p", &dir.to_string_lossy()],
            "make the install directory",
        )
        .await?;
        match tokio::time::timeout(
            UPLOAD_TIMEOUT,
            host.upload(&project.artifact, install, 0o755),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("upload: {e}")),
            Err(_) => {
                return Err(format!(
                    "upload: not done in {} s",
                    UPLOAD_TIMEOUT.as_secs()
                ));
            }
        }
        let sum = remote(host, &["sha256sum", &project.install], "sha256sum").await?;
        if !sum.starts_with(sha) {
            return Err(format!(
                "{} on the node is not the artifact: sha256 {} where the build made {}",
                project.install,
                sum.split_whitespace().next().unwrap_or("?"),
                sha
            ));
        }
        self.start_service(node, name).await?;
        Ok(format!("sha256 {} verified", &sha[..12]))
    }

    /// Starts the project's service on `node` and waits until it is up.
    async fn start_service(&mut self, node: &str, name: &str) -> Result<(), String> {
        let project = self.plan.project().clone();
        match &project.service.control {
            ServiceControl::Supervised { .. } => self.supervisor.start(name).await.map(drop),
            ServiceControl::Systemd { unit } => {
                let host = self
                    .hosts
                    .get(node)
                    .cloned()
                    .ok_or_else(|| format!("{node} is not connected"))?;
                remote(&host, &["systemctl", "start", unit], "systemctl start").await?;
                let state = remote(
                    &host,
                    &["systemctl", "is-active", unit],
                    "systemctl is-active",
                )
                .await?;
                if state.trim() != "active" {
                    return Err(format!("{unit} is {}", state.trim()));
                }
                match &project.service.health {
                    None => Ok(()),
                    Some(h) => {
                        let address = host.address().to_owned();
                        let probe = fill_probe(&h.probe, &[("node", node), ("address", &address)]);
                        healthy_within(&probe, h).await
                    }
                }
            }
        }
    }

    /// Whether the service still runs on `node`.
    async fn service_up(&self, node: &str) -> Result<(), String> {
        let project = self.plan.project();
        match &project.service.control {
            ServiceControl::Supervised { .. } => {
                let name = service_name(&project.name, node);
                if self.supervisor.is_running(&name) {
                    Ok(())
                } else {
                    Err(format!(
                        "its service is not running; it last said: {}",
                        self.supervisor.last_lines(&name, 3).join(" | ")
                    ))
                }
            }
            ServiceControl::Systemd { unit } => {
                let host = self
                    .hosts
                    .get(node)
                    .ok_or_else(|| "not connected".to_owned())?;
                let state = remote(
                    host,
                    &["systemctl", "is-active", unit],
                    "systemctl is-active",
                )
                .await
                .unwrap_or_else(|e| e);
                match state.trim() {
                    "active" => Ok(()),
                    other => Err(format!("{unit} is {other}")),
                }
            }
        }
    }

    async fn run_here(&self, test: &TestCommand, rel: &str) -> TestRecord {
        match run_test(test, &LocalBackend, &self.dir, rel).await {
            Ok(r) => r,
            Err(e) => TestRecord::not_run(test, format!("could not write its output files: {e}")),
        }
    }

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

    /// Collects the evidence of the phase that failed (the stage before
    /// this one) and calls the fix hook with it; a new commit in the
    /// project's tree is the fix.
    pub(super) async fn fix(&mut self, round: u32, failed_stage: Option<&str>) -> (Ended, Value) {
        let project = self.plan.project().clone();
        let Some(hook) = &project.fix_hook else {
            let why = "the project has no fix_hook: an operator fixes it, then `gauntlet retry`"
                .to_owned();
            return (Ended::NoFix(why.clone()), json!({ "message": why }));
        };
        let evidence = self.dir.join(format!("evidence/fix-{round}"));
        let collected = self.collect_evidence(&evidence, failed_stage);
        let before = head(&project.repo).await;
        let evidence_text = evidence.display().to_string();
        let mut run = fill(hook, &[("evidence", &evidence_text)]);
        run.env
            .insert("GAUNTLET_EVIDENCE".to_owned(), evidence_text.clone());
        run.env
            .insert("GAUNTLET_PROJECT".to_owned(), project.name.clone());
        run.env
            .insert("GAUNTLET_RUN".to_owned(), self.run.to_string());
        let test = TestCommand {
            name: "fix-hook".to_owned(),
            run,
            timeout: project.fix_timeout,
            expect: no_expectations(),
        };
        self.progress
            .note(&format!("calling the fix hook with {evidence_text}"));
        let rel = format!("evidence/fix-{round}/hook");
        let record = self.run_here(&test, &rel).await;
        let after = head(&project.repo).await;
        let details = |message: &str| {
            json!({
                "evidence": format!("evidence/fix-{round}"), "collected": collected,
                "before": before, "after": after, "log": rel, "message": message,
            })
        };
        if !record.passed {
            let why = format!("the fix hook failed: {}", failure_line(&record));
            return (Ended::NoFix(why.clone()), details(&why));
        }
        match (&before, &after) {
            (_, Some(a)) if before.as_ref() != Some(a) => {
                let message = format!("the fix hook committed {}", &a[..a.len().min(12)]);
                self.progress.note(&message);
                (Ended::Fixed { commit: a.clone() }, details(&message))
            }
            (_, None) => {
                let why = format!(
                    "the fix hook exited 0, but {} is not a git work tree, so no commit can be seen",
                    project.repo.display()
                );
                (Ended::NoFix(why.clone()), details(&why))
            }
            (_, Some(a)) => {
                let why = format!(
                    "the fix hook exited 0 but committed nothing (HEAD is still {})",
                    &a[..a.len().min(12)]
                );
                (Ended::NoFix(why.clone()), details(&why))
            }
        }
    }

    /// Copies what the failed phase left (its outputs and results) and
    /// every service log into `evidence`; returns the files copied.
    fn collect_evidence(&self, evidence: &Path, failed_stage: Option<&str>) -> Vec<String> {
        let mut copied = Vec::new();
        let _ = std::fs::create_dir_all(evidence);
        if let Some(stage) = failed_stage {
            copy_tree(
                &self.dir.join("phases").join(stage),
                &evidence.join(stage),
                &mut copied,
            );
        }
        copy_tree(
            &crate::supervisor::log_dir(&self.dir),
            &evidence.join("services"),
            &mut copied,
        );
        copied
    }

    /// Waits until checkpoint `until` after the end of the first green
    /// test since the last deploy (the wall clock, so a loop resumed
    /// later waits only what is left).
    pub(super) async fn wait(&mut self, checkpoint: usize, until: Duration) -> (Ended, Value) {
        let mut green_at = None;
        for (r, ended_at) in &self.records {
            match (&r.phase, &r.ended) {
                (Phase::Deploy, Ended::Done) => green_at = None,
                (Phase::Test { .. }, Ended::Tested { passed: true, .. }) if green_at.is_none() => {
                    green_at = *ended_at;
                }
                _ => {}
            }
        }
        let from = green_at.unwrap_or_else(now_ms);
        let due = from + until.as_millis() as i64;
        let left = Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64);
        self.progress.note(&format!(
            "checkpoint {checkpoint}: testing again in {}",
            gauntlet_plan::format_duration(left)
        ));
        tokio::time::sleep(left).await;
        (
            Ended::Waited,
            json!({
                "checkpoint": checkpoint, "due": due, "after": gauntlet_plan::format_duration(until),
                "message": format!("checkpoint {checkpoint}, {} after the first green test", gauntlet_plan::format_duration(until)),
            }),
        )
    }
}

fn no_expectations() -> gauntlet_plan::Expect {
    gauntlet_plan::Expect {
        exit: 0,
        stdout_contains: None,
        figures: Vec::new(),
    }
}

/// Which way a figure is better: down when it only has a `max`.
fn higher_is_better(checks: &[ExpectCheck]) -> bool {
    let has = |f: fn(&ExpectCheck) -> bool| checks.iter().any(f);
    !has(|c| matches!(c, ExpectCheck::Max(_))) || has(|c| matches!(c, ExpectCheck::Min(_)))
}

/// A record's failure in one line, with its last stderr line.
fn failure_line(record: &TestRecord) -> String {
    let mut line = record
        .failure
        .clone()
        .unwrap_or_else(|| "failed".to_owned());
    if let Some(last) = record
        .stderr_tail
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
    {
        line.push_str(&format!(" (stderr: {})", last.trim()));
    }
    line
}

/// Runs a control command on a node; its stdout, or why it failed.
async fn remote(host: &Host, argv: &[&str], what: &str) -> Result<String, String> {
    let out = host
        .run(argv, NODE_STEP)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    if out.timed_out {
        return Err(format!("{what}: no answer in {} s", NODE_STEP.as_secs()));
    }
    if !out.exit.success() {
        return Err(format!("{what}: {}", out.exit));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Probes until healthy within the check's timeout.
async fn healthy_within(probe: &Probe, check: &HealthCheck) -> Result<(), String> {
    let began = std::time::Instant::now();
    let mut last = String::new();
    while began.elapsed() < check.timeout {
        let outcome = gauntlet_observe::probe_in(probe, check.probe_timeout, None).await;
        if outcome.healthy {
            return Ok(());
        }
        last = outcome.detail;
        tokio::time::sleep(check.interval).await;
    }
    Err(format!(
        "not healthy in {} s (last: {last})",
        check.timeout.as_secs()
    ))
}

/// The work tree's HEAD commit, if it is a git work tree.
async fn head(repo: &Path) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "HEAD"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The file's sha256 (hex) and size.
pub(super) fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok((hex, bytes))
}

/// Copies the files under `from` into `to` (each at most 8 MiB: the
/// tail of a longer log), recording each copied path.
pub(super) fn copy_tree(from: &Path, to: &Path, copied: &mut Vec<String>) {
    const MAX: u64 = 8 << 20;
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let target = to.join(e.file_name());
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            copy_tree(&path, &target, copied);
        } else if kind.is_file() {
            let _ = std::fs::create_dir_all(to);
            let ok = match std::fs::metadata(&path) {
                Ok(m) if m.len() > MAX => tail_copy(&path, &target, MAX).is_ok(),
                Ok(_) => std::fs::copy(&path, &target).is_ok(),
                Err(_) => false,
            };
            if ok {
                copied.push(target.display().to_string());
            }
        }
    }
}

fn tail_copy(from: &Path, to: &Path, max: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(from)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len - max))?;
    let mut buf = Vec::with_capacity(max as usize);
    file.take(max).read_to_end(&mut buf)?;
    std::fs::write(to, buf)
}
