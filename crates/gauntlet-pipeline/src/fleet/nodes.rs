//! The loop's nodes: reaching them (setup, and again when a loop is
//! resumed), the project's service on each of them under the run's
//! supervisor (or systemd), and the control commands run there.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gauntlet_fleet::{Ended, Phase};
use gauntlet_plan::{
    Command, CommandLine, Fleet, HealthCheck, Plan, Probe, Readiness, RestartPolicy, Service,
    ServiceControl,
};
use gauntlet_ssh::{Host, SshBackend};
use serde_json::{Value, json};

use super::LoopPlan;
use super::preset::FleetLoop;
use crate::supervisor::Supervisor;

/// A control command on a node (stop, mkdir, checksum, systemctl).
pub(super) const NODE_STEP: Duration = Duration::from_secs(60);

/// Free space a node needs where the artifact goes.
const MIN_FREE_MIB: u64 = 64;

/// The name of the project's service on `node` in the run's supervisor.
pub(super) fn service_name(project: &str, node: &str) -> String {
    format!("{project}@{node}")
}

/// `{{key}}` replaced by each value, in every word of a command and its
/// environment.
pub(super) fn fill(command: &Command, values: &[(&str, &str)]) -> Command {
    let replace = |s: &str| fill_text(s, values);
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

/// `{{key}}` replaced by its value, for each of `values`; any other
/// `{{...}}` is left as written (a node's shell may mean it).
fn fill_text(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |s, (k, v)| {
        s.replace(&format!("{{{{{k}}}}}"), v)
    })
}

fn fill_probe(probe: &Probe, values: &[(&str, &str)]) -> Probe {
    let replace = |s: &str| fill_text(s, values);
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
            // A node without room for the artifact cannot be deployed to:
            // degraded, like one that does not answer.
            let host = match (r.host, r.disk_free_mib) {
                (Ok(host), Some(free)) if free < MIN_FREE_MIB => {
                    super::survey::close(host).await;
                    Err(format!(
                        "only {free} MiB free where the artifact goes (at least {MIN_FREE_MIB} MiB needed)"
                    ))
                }
                (host, _) => host,
            };
            match host {
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
                        .note(&format!("{}: degraded and skipped: {why}", r.node));
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
    pub(super) fn live(&self) -> Vec<String> {
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

    /// Starts the project's service on `node` and waits until it is up.
    pub(super) async fn start_service(&mut self, node: &str, name: &str) -> Result<(), String> {
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
    pub(super) async fn service_up(&self, node: &str) -> Result<(), String> {
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
}

/// Runs a control command on a node; its stdout, or why it failed.
pub(super) async fn remote(host: &Host, argv: &[&str], what: &str) -> Result<String, String> {
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
