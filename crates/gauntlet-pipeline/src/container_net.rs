//! [`ContainerNet`]: network faults between a run's containers, in the
//! one fault model.
//!
//! - A **partition** (the directional [`Grudge`] every partition is)
//!   becomes nftables drop rules in each cut-off container's network
//!   namespace, the same table a lab host's partition sets
//!   ([`gauntlet_lab::faults::set_drops_in`]): a destination drops the
//!   packets of each source it holds a grudge against, by every address
//!   that source has on the run's networks. Packets vanish; nothing is
//!   refused, as in a real partition. The namespaces are entered from
//!   this machine, so this needs the engine here (a `unix://` socket).
//!   A container started again while a partition holds (a power cut, a
//!   kill's heal) comes back in a new namespace, outside the partition.
//! - A **disconnect** takes a container off every network it is on (the
//!   engine's network disconnect: its interfaces vanish, its peers'
//!   connections to it fail); the heal connects it again with its
//!   service's name, on any engine.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use gauntlet_docker::{Container, ContainerState, DockerError, Engine, on_engine_async};
use gauntlet_nemesis::{Fault, FaultError, FaultExecutor, FaultFuture};
use gauntlet_net::Grudge;
use serde_json::{Value, json};

/// One grudge endpoint: a docker service and its container.
#[derive(Debug, Clone)]
struct Member {
    service: String,
    container: String,
    /// The engine's names of the networks it joins.
    networks: Vec<String>,
}

/// Partitions and disconnects between the run's containers.
#[derive(Debug)]
pub(crate) struct ContainerNet {
    engine: Engine,
    members: Vec<Member>,
}

impl ContainerNet {
    pub fn new(engine: Engine) -> ContainerNet {
        ContainerNet {
            engine,
            members: Vec::new(),
        }
    }

    /// Adds `service`, whose container `container` joins `networks` (the
    /// engine's names); its index is the grudge's next.
    pub fn add(&mut self, service: &str, container: &str, networks: Vec<String>) {
        self.members.push(Member {
            service: service.to_owned(),
            container: container.to_owned(),
            networks,
        });
    }

    /// The services, in grudge order.
    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.service.clone()).collect()
    }

    /// What the engine says of each member now (`None`: not running).
    async fn states(&self) -> Vec<Option<ContainerState>> {
        let mut out = Vec::with_capacity(self.members.len());
        for m in &self.members {
            let container = Container::existing(&self.engine, m.container.clone());
            let state = on_engine_async(async move { container.inspect().await })
                .await
                .ok()
                .filter(|s| s.running && s.pid.is_some());
            out.push(state);
        }
        out
    }

    /// Sets every running member's drops as `grudge` says.
    async fn partition(&self, grudge: &Grudge) -> Result<(), FaultError> {
        if !self.engine.host().starts_with("unix://") {
            return Err(FaultError::failed(format!(
                "a partition between containers enters their network namespaces from this machine, and the engine is at {}; use `disconnect` for a remote engine",
                self.engine.host()
            )));
        }
        let states = self.states().await;
        let addresses: Vec<BTreeSet<Ipv4Addr>> = states
            .iter()
            .map(|s| {
                s.iter()
                    .flat_map(|s| s.networks.values().flatten())
                    .filter_map(|ip| match ip {
                        IpAddr::V4(v4) => Some(*v4),
                        IpAddr::V6(_) => None,
                    })
                    .collect()
            })
            .collect();
        let mut work = Vec::new();
        for (d, state) in states.iter().enumerate() {
            let Some(pid) = state.as_ref().and_then(|s| s.pid) else {
                continue;
            };
            let mut drop = BTreeSet::new();
            for (s, from) in addresses.iter().enumerate() {
                if s != d && grudge.drops(s, d) {
                    drop.extend(from.iter().copied());
                }
            }
            work.push((
                PathBuf::from(format!("/proc/{pid}/ns/net")),
                drop,
                format!("container {}", self.members[d].container),
            ));
        }
        tokio::task::spawn_blocking(move || {
            let mut errors = Vec::new();
            for (path, drop, place) in work {
                if let Err(e) = gauntlet_lab::faults::set_drops_in(&path, &drop, &place) {
                    errors.push(format!("{place}: {e}"));
                }
            }
            errors
        })
        .await
        .map_err(|e| FaultError::failed(format!("the partition task failed: {e}")))
        .and_then(|errors| {
            if errors.is_empty() {
                Ok(())
            } else {
                Err(FaultError::Targets { errors })
            }
        })
    }

    /// Disconnects (`connect` false) or connects again each target's
    /// container on each of its networks.
    async fn wire(&self, targets: &[String], connect: bool) -> Result<Value, FaultError> {
        let mut done: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut errors = Vec::new();
        for m in self.members.iter().filter(|m| targets.contains(&m.service)) {
            for network in &m.networks {
                let container = Container::existing(&self.engine, m.container.clone());
                let (on, alias) = (network.clone(), m.service.clone());
                let answer = on_engine_async(async move {
                    if connect {
                        container.connect(&on, &[alias]).await
                    } else {
                        container.disconnect(&on).await
                    }
                })
                .await;
                match answer {
                    Ok(()) => done
                        .entry(m.service.clone())
                        .or_default()
                        .push(network.clone()),
                    Err(e) => errors.push(describe(&m.service, connect, &e)),
                }
            }
        }
        if errors.is_empty() {
            Ok(json!({ if connect { "connected" } else { "disconnected" }: done }))
        } else {
            Err(FaultError::Targets { errors })
        }
    }
}

fn describe(service: &str, connect: bool, e: &DockerError) -> String {
    let verb = if connect { "connect" } else { "disconnect" };
    format!("{verb} {service}: {e}")
}

impl FaultExecutor for ContainerNet {
    fn handles(&self, fault: &Fault) -> bool {
        matches!(fault, Fault::Partition { .. } | Fault::Disconnect)
    }

    fn inject<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            match fault {
                Fault::Partition { shape, grudge } => {
                    self.partition(grudge).await?;
                    Ok(json!({
                        "shape": shape.name(),
                        "grudge": grudge.describe(&self.names()),
                        "network": "containers",
                    }))
                }
                Fault::Disconnect => self.wire(targets, false).await,
                other => Err(FaultError::NoExecutor { kind: other.kind() }),
            }
        })
    }

    fn heal<'a>(&'a self, fault: &'a Fault, targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            match fault {
                Fault::Partition { .. } => {
                    self.partition(&Grudge::new(self.members.len())).await?;
                    Ok(json!("network-healed"))
                }
                Fault::Disconnect => self.wire(targets, true).await,
                other => Err(FaultError::NoExecutor { kind: other.kind() }),
            }
        })
    }
}
