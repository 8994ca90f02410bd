//! A look at every node of a fleet: reached or not (and why not), its
//! load, memory and root disk, and the state of the projects it runs.
//! What `gauntlet nodes` prints, and what the fleet loop's setup phase
//! checks before it deploys (every node reached, room on its disk). It
//! prints nothing: the report is data.

use std::time::Duration;

use futures_util::StreamExt;
use gauntlet_node::Termination;
use gauntlet_observe::vitals::{VITALS_SCRIPT, Vitals, parse_vitals};
use gauntlet_plan::{Fleet, FleetNode, Project, ServiceControl};
use gauntlet_ssh::{Host, SshError};
use serde::{Deserialize, Serialize};

use super::host_spec;

/// How many nodes are reached at once unless the caller says otherwise:
/// each is one local `ssh` master and a few sessions.
pub const PARALLEL: usize = 8;

/// How long one look on a node may take (the vitals, a unit's state).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What was seen of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub name: String,
    pub role: String,
    pub region: Option<String>,
    /// `public` or the NAT's name.
    pub nat: String,
    /// Reached, or why not: the connection error's own words (a refused
    /// host key says how to accept it).
    #[serde(with = "reach")]
    pub reachable: Result<Reached, String>,
}

impl NodeReport {
    pub fn is_reachable(&self) -> bool {
        self.reachable.is_ok()
    }
}

/// A node that answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reached {
    /// The address that answered: the node's address, or its fallback.
    pub address_used: String,
    /// Whether that was the fallback address.
    pub fallback: bool,
    /// Every figure the host gave; what it did not give is `None`.
    pub vitals: Vitals,
    /// Why the vitals are missing, when they are (a timeout, a shell
    /// error).
    pub vitals_error: Option<String>,
    /// One per project that runs on the node, in the fleet's order.
    pub services: Vec<ServiceState>,
}

/// The state of one project's service on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub project: String,
    /// `systemd` or `supervised`.
    pub control: String,
    /// systemd's own word (`active`, `inactive`, `failed`, `activating`,
    /// ...), or `unknown` when it could not be told.
    pub state: String,
    /// Why it is `unknown`, or what else there is to know.
    pub detail: Option<String>,
}

/// Looks at each of `nodes` of `fleet`, at most `parallel` at once (0 is
/// taken as 1), each connection closed when its look is done. The reports
/// are in `nodes`' order; an unreachable node is a report, never an
/// error.
pub async fn survey(fleet: &Fleet, nodes: &[&FleetNode], parallel: usize) -> Vec<NodeReport> {
    futures_util::stream::iter(nodes.iter().map(|node| survey_one(fleet, node)))
        .buffered(parallel.max(1))
        .collect()
        .await
}

async fn survey_one(fleet: &Fleet, node: &FleetNode) -> NodeReport {
    let reachable = match connect(node).await {
        Ok(host) => {
            let reached = look(&host, node, fleet).await;
            close(host).await;
            Ok(reached)
        }
        Err(e) => Err(e.to_string()),
    };
    NodeReport {
        name: node.name.clone(),
        role: node.role.clone(),
        region: node.region.clone(),
        nat: node.nat_word().to_owned(),
        reachable,
    }
}

async fn look(host: &Host, node: &FleetNode, fleet: &Fleet) -> Reached {
    let (vitals, vitals_error) = match run_script(host, VITALS_SCRIPT, PROBE_TIMEOUT).await {
        // A section that failed is `None` in the vitals; the rest stand.
        Ok(ran) => (parse_vitals(&ran.stdout), None),
        Err(why) => (Vitals::default(), Some(why)),
    };
    let mut services = Vec::new();
    for project in projects_on(fleet, node) {
        services.push(service_state(host, project).await);
    }
    Reached {
        address_used: host.address().to_owned(),
        fallback: host.address() != node.ssh.address,
        vitals,
        vitals_error,
        services,
    }
}

async fn service_state(host: &Host, project: &Project) -> ServiceState {
    match &project.service.control {
        ServiceControl::Systemd { unit } => {
            let (state, detail) = match host
                .run(&["systemctl", "is-active", unit.as_str()], PROBE_TIMEOUT)
                .await
            {
                // `is-active` prints its word whatever its exit code (3
                // for inactive); no word means it could not tell.
                Ok(out) if !out.timed_out => {
                    let word = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                    if word.is_empty() {
                        (
                            "unknown".to_owned(),
                            Some(format!(
                                "systemctl is-active {unit} {}: {}",
                                out.exit.termination,
                                out.exit.stderr_tail.join(" ").trim()
                            )),
                        )
                    } else {
                        (word, None)
                    }
                }
                Ok(_) => (
                    "unknown".to_owned(),
                    Some(format!(
                        "systemctl is-active {unit}: no answer within {PROBE_TIMEOUT:?}"
                    )),
                ),
                Err(e) => ("unknown".to_owned(), Some(e.to_string())),
            };
            ServiceState {
                project: project.name.clone(),
                control: "systemd".to_owned(),
                state,
                detail,
            }
        }
        // Gauntlet starts such a service itself, through a connection of
        // the run that supervises it; from another connection nothing
        // says which of the host's processes is this project's, so its
        // state is not guessed.
        ServiceControl::Supervised { .. } => ServiceState {
            project: project.name.clone(),
            control: "supervised".to_owned(),
            state: "unknown".to_owned(),
            detail: Some(
                "supervised by gauntlet: the fleet run that started it knows its state".to_owned(),
            ),
        },
    }
}

/// The projects that run on `node`, in the fleet's order.
pub fn projects_on<'a>(fleet: &'a Fleet, node: &FleetNode) -> impl Iterator<Item = &'a Project> {
    let name = node.name.clone();
    fleet
        .projects
        .iter()
        .filter(move |p| p.nodes.contains(&name))
}

/// Connects to `node` as its fleet entry says, bounded as a whole: ssh's
/// `ConnectTimeout` bounds only the TCP connect of each address, and a
/// host that accepts and then says nothing would hold the look forever.
pub(crate) async fn connect(node: &FleetNode) -> Result<Host, SshError> {
    let spec = host_spec(node);
    let addresses = 1 + u32::from(spec.fallback_address.is_some());
    // Each address's connect, plus the login and the keeper's start.
    let bound = spec.connect_timeout * addresses + spec.command_timeout;
    match tokio::time::timeout(bound, Host::connect(spec)).await {
        Ok(connected) => connected,
        Err(_) => Err(SshError::Timeout {
            host: node.name.clone(),
            what: "connect".to_owned(),
            after: bound,
        }),
    }
}

/// Closes a connection off the runtime's threads: dropping the last clone
/// of a [`Host`] waits (boundedly) for its keeper to clean up.
pub(crate) async fn close(host: Host) {
    let _ = tokio::task::spawn_blocking(move || drop(host)).await;
}

/// What a script run on a node printed.
#[derive(Debug, Clone)]
pub(crate) struct Ran {
    pub stdout: String,
    pub termination: Termination,
    pub stderr: String,
}

/// Runs `script` with the host's `/bin/sh` to its end, bounded by
/// `timeout`: its output, however it exited, or why there is none (it
/// could not start, or it ran past the bound and was killed).
pub(crate) async fn run_script(
    host: &Host,
    script: &str,
    timeout: Duration,
) -> Result<Ran, String> {
    match host.run(&["/bin/sh", "-c", script], timeout).await {
        Ok(out) if out.timed_out => Err(format!("no answer within {timeout:?} (killed)")),
        Ok(out) => Ok(Ran {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            termination: out.exit.termination,
            stderr: out.exit.stderr_tail.join("\n"),
        }),
        Err(e) => Err(e.to_string()),
    }
}

/// `reachable` in JSON: `{"reached": {...}}` or `{"unreachable": "why"}`,
/// words a reader of the JSON knows without knowing Rust's `Ok`/`Err`.
mod reach {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Reached;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Reach<R> {
        Reached(R),
        Unreachable(String),
    }

    pub fn serialize<S: Serializer>(
        value: &Result<Reached, String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Ok(reached) => Reach::Reached(reached),
            Err(why) => Reach::Unreachable(why.clone()),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Result<Reached, String>, D::Error> {
        Ok(match Reach::<Reached>::deserialize(deserializer)? {
            Reach::Reached(reached) => Ok(reached),
            Reach::Unreachable(why) => Err(why),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_reads_as_words_in_json() {
        let report = NodeReport {
            name: "n1".into(),
            role: "test".into(),
            region: None,
            nat: "public".into(),
            reachable: Err("cannot connect to host n1: refused".into()),
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["reachable"]["unreachable"],
            "cannot connect to host n1: refused"
        );
        let back: NodeReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);

        let reached = NodeReport {
            reachable: Ok(Reached {
                address_used: "10.0.0.1".into(),
                fallback: false,
                vitals: Vitals {
                    mem_total_mib: Some(1024),
                    ..Vitals::default()
                },
                vitals_error: None,
                services: vec![],
            }),
            ..report
        };
        let json = serde_json::to_value(&reached).unwrap();
        assert_eq!(
            json["reachable"]["reached"]["vitals"]["mem_total_mib"],
            1024
        );
        let back: NodeReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, reached);
    }
}
