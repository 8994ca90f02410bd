//! A plan's fleet nodes (`fleet = "fleet.toml"`), reached for the length
//! of its run: the services with a `host` run on that node's `ssh`
//! backend, under the run's supervisor like any other service (logs,
//! samples, restart policy, kills and pauses through their
//! `NodeControl`), and partitions of them are cut with nftables on the
//! nodes ([`FleetNet`]). Reached before the first stage by whichever
//! preset drives the plan (a run, a soak, a resumed run, a cluster test),
//! as a lab is built; closed when the run's driver returns.
//!
//! What a partition leaves on a node never outlives the run's connection
//! to it: the table's removal is recorded as the connection's undo
//! script ([`Host::set_undo`]), which the connection's keeper on the node
//! runs when the connection ends however it ends (the run's end, a
//! SIGKILLed gauntlet, a lost connection), and the next sweep of the node
//! runs for a dead owner whose keeper never noticed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;

use futures_util::StreamExt;
use gauntlet_nemesis::{Fault, FaultError, FaultExecutor, FaultFuture};
use gauntlet_net::Grudge;
use gauntlet_node::Backend;
use gauntlet_plan::soak::{FaultKind, PartitionMode};
use gauntlet_plan::{Fleet, Plan};
use gauntlet_ssh::{Host, SshBackend};
use serde_json::json;

use crate::PipelineError;
use crate::fleet::survey;

/// How long an nft command on a node may take.
const NFT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The name of the undo script that removes a run's table on a node.
const UNDO: &str = "gauntlet-partition";

/// The fleet nodes of a run, and what the run takes from them.
pub(crate) struct PlanFleet {
    /// One connection per node a service runs on, by node name. Closed by
    /// [`PlanFleet::close`].
    hosts: BTreeMap<String, Host>,
    /// Each node's backend, by node name: handed to the supervisor.
    pub backends: BTreeMap<String, Arc<dyn Backend>>,
    /// Partitions among the services on nodes, when the plan has any.
    pub net: Option<Arc<FleetNet>>,
}

/// Reaches the fleet nodes `plan`'s services run on, if it names a fleet:
/// each connection bounded as `gauntlet nodes` bounds it (a few at once),
/// what dead gauntlets left there swept, and, when the plan partitions
/// them, nftables checked to work on each. A node that cannot be reached
/// (or cannot partition) is an error naming it: the run does not start
/// without it.
pub(crate) async fn up(plan: &Plan, run: &str) -> Result<Option<PlanFleet>, PipelineError> {
    let Some(fleet) = &plan.fleet else {
        return Ok(None);
    };
    let used: BTreeSet<&str> = plan
        .services
        .iter()
        .filter_map(|s| s.host.as_deref())
        .collect();
    // In the fleet's order, each once.
    let nodes: Vec<&gauntlet_plan::FleetNode> = fleet
        .nodes
        .iter()
        .filter(|n| used.contains(n.name.as_str()))
        .collect();
    if nodes.is_empty() {
        return Ok(None);
    }
    let reached: Vec<(String, Result<Host, String>)> =
        futures_util::stream::iter(nodes.iter().map(|node| async move {
            let host = match survey::connect(node).await {
                Ok(host) => host,
                Err(e) => return (node.name.clone(), Err(e.to_string())),
            };
            // What dead gauntlets left on it goes first (their processes,
            // their partition tables through their undo scripts). A sweep
            // that fails leaves only what it would have removed, as the
            // fleet loop's setup does: the run goes on.
            let _ = gauntlet_ssh::sweep(&host).await;
            (node.name.clone(), Ok(host))
        }))
        .buffered(survey::PARALLEL)
        .collect()
        .await;
    let mut hosts = BTreeMap::new();
    let mut failed = Vec::new();
    for (node, host) in reached {
        match host {
            Ok(host) => {
                hosts.insert(node, host);
            }
            Err(why) => failed.push(format!("fleet node {node} cannot be reached: {why}")),
        }
    }
    if !failed.is_empty() {
        close_all(hosts).await;
        return Err(PipelineError::Fleet(failed.join("; ")));
    }
    let members: Vec<(String, String)> = plan
        .services
        .iter()
        .filter_map(|s| s.host.clone().map(|h| (s.name.clone(), h)))
        .collect();
    let net = if partitions(plan) {
        match FleetNet::prepare(fleet, &hosts, &members, run).await {
            Ok(net) => Some(Arc::new(net)),
            Err(why) => {
                close_all(hosts).await;
                return Err(PipelineError::Fleet(why));
            }
        }
    } else {
        None
    };
    let backends = hosts
        .iter()
        .map(|(name, host)| {
            (
                name.clone(),
                Arc::new(SshBackend::new(host.clone())) as Arc<dyn Backend>,
            )
        })
        .collect();
    Ok(Some(PlanFleet {
        hosts,
        backends,
        net,
    }))
}

impl PlanFleet {
    /// Removes every partition table of the run, then closes the
    /// connections off the runtime's threads (the keepers kill what is
    /// left of the run's processes and run the undo scripts). Call it
    /// once the supervisor that holds the backends is gone, so these are
    /// the last clones.
    pub(crate) async fn close(self) {
        let PlanFleet {
            hosts,
            backends,
            net,
        } = self;
        drop(backends);
        // A partition still in (a run stopped mid-fault) ends here; the
        // keepers' undo scripts would remove it too.
        if let Some(net) = net {
            let _ = net.apply(&Grudge::new(0)).await;
        }
        close_all(hosts).await;
    }
}

async fn close_all(hosts: BTreeMap<String, Host>) {
    for (_, host) in hosts {
        survey::close(host).await;
    }
}

/// Whether the plan cuts the network of services on its nodes: a soak's
/// network partition or a cluster nemesis that partitions.
fn partitions(plan: &Plan) -> bool {
    let soak = plan.soak.as_ref().is_some_and(|s| {
        s.faults.iter().any(|f| {
            matches!(
                f.kind,
                FaultKind::Partition {
                    mode: PartitionMode::Network
                }
            )
        })
    });
    let cluster = plan
        .cluster
        .as_ref()
        .and_then(|c| c.nemesis.as_ref())
        .is_some_and(|n| n.faults.iter().any(|f| f == "partition"));
    soak || cluster
}

/// One grudge endpoint: a service, and the node it runs on.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    node: String,
}

/// Partitions among services on fleet nodes: each node drops, with an
/// nftables table of the run's own (`inet gauntlet_<run>_<n>`), the
/// packets arriving from the addresses of the nodes it holds a grudge
/// against. A node's address is its fleet `address` (as this machine
/// resolves it): packets from a node behind a NAT (`nat` in the fleet
/// file) arrive from its NAT's address, which the fleet file does not
/// give, so what such a node sends is not cut (the fault's value lists
/// the pairs that were not). Two services on one node cannot be cut from
/// each other either.
pub(crate) struct FleetNet {
    members: Vec<Member>,
    /// Each member node's connection and table.
    nodes: BTreeMap<String, (Host, String)>,
    /// Each member node's addresses.
    addresses: BTreeMap<String, BTreeSet<IpAddr>>,
    /// This machine's address as each member node sees it: what goes
    /// there is never dropped (see [`controller_address`]).
    spare: BTreeMap<String, BTreeSet<IpAddr>>,
}

impl FleetNet {
    /// Checks, on each node a member runs on, that nftables works for
    /// the connection's user (root, or CAP_NET_ADMIN): the table is
    /// declared and deleted in one transaction, and its removal recorded
    /// as the connection's undo script. An error names the node and nft's
    /// own words: the fault would otherwise be skipped silently.
    async fn prepare(
        fleet: &Fleet,
        hosts: &BTreeMap<String, Host>,
        members: &[(String, String)],
        run: &str,
    ) -> Result<FleetNet, String> {
        let mut nodes = BTreeMap::new();
        let mut addresses = BTreeMap::new();
        let mut spare = BTreeMap::new();
        for (_, node) in members {
            if nodes.contains_key(node) {
                continue;
            }
            let host = hosts
                .get(node)
                .ok_or_else(|| format!("fleet node {node} is not connected"))?;
            let index = fleet
                .nodes
                .iter()
                .position(|n| &n.name == node)
                .unwrap_or(0);
            let table = table_name(run, index);
            let ran = survey::run_script(
                host,
                &nft_script(&drop_rules(&table, &BTreeSet::new(), &BTreeSet::new())),
                NFT_TIMEOUT,
            )
            .await
            .map_err(|why| format!("fleet node {node}: nft: {why}"))?;
            if !ran.termination.success() {
                let user = fleet
                    .node(node)
                    .and_then(|n| n.ssh.user.clone())
                    .unwrap_or_else(|| "the fleet's ssh user".to_owned());
                return Err(format!(
                    "the plan partitions services on fleet node {node}, which needs nftables (`nft`) as root there; as {user} it fails ({}): {}",
                    ran.termination,
                    ran.stderr.trim()
                ));
            }
            host.set_undo(UNDO, Some(&format!("nft delete table inet {table}")))
                .await
                .map_err(|e| format!("fleet node {node}: {e}"))?;
            // Behind a NAT its packets carry the NAT's address, which the
            // fleet file does not give: what it sends is not cut, and the
            // fault's value says so (`not-cut`) rather than pretending.
            let behind_nat = fleet.node(node).is_some_and(|n| n.nat.is_some());
            let seen = if behind_nat {
                BTreeSet::new()
            } else {
                node_addresses(host).await
            };
            addresses.insert(node.clone(), seen);
            spare.insert(node.clone(), controller_address(host).await?);
            nodes.insert(node.clone(), (host.clone(), table));
        }
        Ok(FleetNet {
            members: members
                .iter()
                .map(|(name, node)| Member {
                    name: name.clone(),
                    node: node.clone(),
                })
                .collect(),
            nodes,
            addresses,
            spare,
        })
    }

    /// The names, in grudge order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    /// Sets every member node's table to what `grudge` says; every node is
    /// tried, the first failure returned.
    async fn apply(&self, grudge: &Grudge) -> Result<Vec<(String, String)>, FaultError> {
        let (drops, uncut) = render(&self.members, &self.addresses, grudge);
        let mut first_error = None;
        for (node, drop) in drops {
            let Some((host, table)) = self.nodes.get(&node) else {
                continue;
            };
            let spare = self.spare.get(&node).cloned().unwrap_or_default();
            let script = nft_script(&drop_rules(table, &drop, &spare));
            let failed = match survey::run_script(host, &script, NFT_TIMEOUT).await {
                Ok(ran) if ran.termination.success() => None,
                Ok(ran) => Some(format!(
                    "{node}: nft {}: {}",
                    ran.termination,
                    ran.stderr.trim()
                )),
                Err(why) => Some(format!("{node}: nft: {why}")),
            };
            if let Some(why) = failed {
                first_error.get_or_insert(why);
            }
        }
        match first_error {
            Some(why) => Err(FaultError::failed(why)),
            None => Ok(uncut),
        }
    }
}

impl crate::lab::PlanNet for FleetNet {
    fn names(&self) -> Vec<String> {
        FleetNet::names(self)
    }
}

impl FaultExecutor for FleetNet {
    fn handles(&self, fault: &Fault) -> bool {
        matches!(fault, Fault::Partition { .. })
    }

    fn inject<'a>(&'a self, fault: &'a Fault, _targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            let Fault::Partition { shape, grudge } = fault else {
                return Err(FaultError::NoExecutor { kind: fault.kind() });
            };
            let uncut = self.apply(grudge).await?;
            let mut value = json!({
                "shape": shape.name(),
                "grudge": grudge.describe(&self.names()),
                "network": "fleet",
            });
            if !uncut.is_empty() {
                value["not-cut"] = json!(uncut);
            }
            Ok(value)
        })
    }

    fn heal<'a>(&'a self, _fault: &'a Fault, _targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            self.apply(&Grudge::new(0)).await?;
            Ok(json!("network-healed"))
        })
    }
}

/// The addresses each member node drops under `grudge` (pure; every
/// member node has an entry, empty where nothing is dropped), and the
/// pairs that cannot be cut (one node, or a node whose address is not
/// known).
#[allow(clippy::type_complexity)]
fn render(
    members: &[Member],
    addresses: &BTreeMap<String, BTreeSet<IpAddr>>,
    grudge: &Grudge,
) -> (BTreeMap<String, BTreeSet<IpAddr>>, Vec<(String, String)>) {
    let mut drops: BTreeMap<String, BTreeSet<IpAddr>> = members
        .iter()
        .map(|m| (m.node.clone(), BTreeSet::new()))
        .collect();
    let mut uncut = Vec::new();
    for (d, dest) in members.iter().enumerate() {
        for (s, src) in members.iter().enumerate() {
            if s == d || !grudge.drops(s, d) {
                continue;
            }
            let from = addresses.get(&src.node).cloned().unwrap_or_default();
            if src.node == dest.node || from.is_empty() {
                uncut.push((src.name.clone(), dest.name.clone()));
                continue;
            }
            drops.entry(dest.node.clone()).or_default().extend(from);
        }
    }
    (drops, uncut)
}

/// `inet gauntlet_<run>_<n>`: the run's own table on node `n` of the
/// fleet (one per node, so two nodes on one machine never share one).
fn table_name(run: &str, index: usize) -> String {
    let run: String = run
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("gauntlet_{run}_{index}")
}

fn drop_rules(table: &str, drop: &BTreeSet<IpAddr>, spare: &BTreeSet<IpAddr>) -> String {
    gauntlet_lab::faults::drop_ruleset(table, drop, spare)
}

/// This machine's address as `host` sees it (its sshd's
/// `SSH_CONNECTION`). A partition cuts nodes from each other, never from
/// the machine that runs the test: its control connections, health
/// checks and users go on. On separate hosts nothing arriving from
/// another node is addressed there anyway; where nodes share a kernel
/// (addresses of one machine) the replies to this machine would
/// otherwise carry a dropped node's address and be cut too.
async fn controller_address(host: &Host) -> Result<BTreeSet<IpAddr>, String> {
    let ran = survey::run_script(
        host,
        "printf '%s\\n' \"${SSH_CONNECTION%% *}\"",
        NFT_TIMEOUT,
    )
    .await
    .map_err(|why| format!("fleet node {}: {why}", host.name()))?;
    let seen = ran.stdout.trim();
    let ip: IpAddr = seen.parse().map_err(|_| {
        format!(
            "fleet node {}: its sshd did not say where this machine connects from (SSH_CONNECTION {seen:?}): a partition there could cut the run's own connection",
            host.name()
        )
    })?;
    Ok(BTreeSet::from([ip.to_canonical()]))
}

/// `nft -f -` with `rules` as a here-document (the rules are this
/// module's own text: names, addresses and braces, never the marker).
fn nft_script(rules: &str) -> String {
    format!("nft -f - <<'GAUNTLET_NFT'\n{rules}GAUNTLET_NFT\n")
}

/// The addresses a node's packets carry: the address that answered if it
/// is one, else what this machine resolves its name to.
async fn node_addresses(host: &Host) -> BTreeSet<IpAddr> {
    if let Some(ip) = host.ip() {
        return BTreeSet::from([ip]);
    }
    let name = host.address().to_owned();
    tokio::task::spawn_blocking(move || {
        (name.as_str(), 0)
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip()).collect())
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_drops_each_sides_addresses_on_the_other_side_only() {
        let members: Vec<Member> = [("a", "n1"), ("b", "n2"), ("c", "n2"), ("d", "n3")]
            .iter()
            .map(|(name, node)| Member {
                name: (*name).into(),
                node: (*node).into(),
            })
            .collect();
        let addresses: BTreeMap<String, BTreeSet<IpAddr>> = [
            (
                "n1".to_owned(),
                BTreeSet::from(["10.0.0.1".parse().unwrap()]),
            ),
            (
                "n2".to_owned(),
                BTreeSet::from(["10.0.0.2".parse().unwrap()]),
            ),
            ("n3".to_owned(), BTreeSet::new()),
        ]
        .into();
        // a | b c d
        let grudge = Grudge::isolate_components(4, &[vec![0], vec![1, 2, 3]]);
        let (drops, uncut) = render(&members, &addresses, &grudge);
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        assert_eq!(drops["n1"], BTreeSet::from([ip("10.0.0.2")]));
        assert_eq!(drops["n2"], BTreeSet::from([ip("10.0.0.1")]));
        assert_eq!(drops["n3"], BTreeSet::from([ip("10.0.0.1")]));
        // n3's address is unknown: what it sends cannot be told apart.
        assert_eq!(uncut, vec![("d".to_owned(), "a".to_owned())]);
        // Healed: every node's table emptied.
        let (drops, uncut) = render(&members, &addresses, &Grudge::new(0));
        assert!(drops.values().all(BTreeSet::is_empty) && drops.len() == 3);
        assert!(uncut.is_empty());
    }

    #[test]
    fn a_table_is_the_runs_and_the_nodes() {
        assert_eq!(
            table_name("r20261204-031142-abc", 2),
            "gauntlet_r20261204_031142_abc_2"
        );
    }

    #[test]
    fn rules_drop_the_other_sides_addresses_and_an_empty_set_removes_the_table() {
        let drop: BTreeSet<IpAddr> = ["127.0.0.3".parse().unwrap(), "::1".parse().unwrap()].into();
        let spare = BTreeSet::from(["127.0.0.1".parse().unwrap()]);
        let script = nft_script(&drop_rules("gauntlet_r1_0", &drop, &spare));
        assert!(script.starts_with(
            "nft -f - <<'GAUNTLET_NFT'\ntable inet gauntlet_r1_0 {}\ndelete table inet gauntlet_r1_0\n"
        ));
        assert!(script.contains("ip saddr { 127.0.0.3 } ip daddr != { 127.0.0.1 } drop"));
        assert!(script.contains("ip6 saddr { ::1 } drop"));
        assert!(script.ends_with("}\nGAUNTLET_NFT\n"));
        let heal = drop_rules("gauntlet_r1_0", &BTreeSet::new(), &spare);
        assert_eq!(
            heal,
            "table inet gauntlet_r1_0 {}\ndelete table inet gauntlet_r1_0\n"
        );
    }
}
