//! [`LabNet`]: the fault executor of the real network. A partition (the
//! same directional [`Grudge`] the simulated network takes) becomes
//! nftables drop rules in each cut-off host's namespace, removed on heal.
//!
//! The grudge's indices are the run's nodes or services; each stands on a
//! lab host. A destination drops the packets of each source it holds a
//! grudge against, by the address that source's packets carry when they
//! arrive: its own address on a segment or behind the same NAT box, its
//! NAT box's public address otherwise. So cutting one host behind a NAT
//! box off from a host outside cuts every host behind that box from it:
//! from outside they are one address, as on the real internet. Two nodes
//! on the same host cannot be cut from each other (they share addresses);
//! the fault's value says so rather than pretending.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

use gauntlet_nemesis::{Fault, FaultError, FaultExecutor, FaultFuture};
use gauntlet_net::Grudge;
use gauntlet_plan::{HostPlace, LabSpec};
use serde_json::json;

use crate::state::LabRecord;
use crate::{LabError, namespace_of, sys};

/// One grudge endpoint: a node or service, and the lab host it is on.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    host: String,
    ns: String,
}

/// What a grudge becomes on the lab's hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `(namespace, nft input)` for every member's namespace.
    pub rules: Vec<(String, String)>,
    /// `(source, destination)` pairs on the same host, which no address
    /// rule can separate.
    pub uncut: Vec<(String, String)>,
}

/// Carries partitions out on lab hosts.
#[derive(Debug)]
pub struct LabNet {
    spec: LabSpec,
    members: Vec<Member>,
}

const TABLE: &str = "gauntlet_fault";

impl LabNet {
    /// `members[i]` is grudge index `i`: `(node or service name, host)`.
    pub fn new(record: &LabRecord, members: &[(String, String)]) -> Result<LabNet, LabError> {
        let members = members
            .iter()
            .map(|(name, host)| {
                Ok(Member {
                    name: name.clone(),
                    host: host.clone(),
                    ns: namespace_of(record, host)?,
                })
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        Ok(LabNet {
            spec: record.spec.clone(),
            members,
        })
    }

    /// The names, in grudge order.
    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    /// The addresses packets from host `src` carry when they reach `dest`.
    fn seen_as(&self, src: &str, dest: &str) -> Vec<Ipv4Addr> {
        let (Some(s), Some(d)) = (self.spec.host(src), self.spec.host(dest)) else {
            return Vec::new();
        };
        match (&s.place, &d.place) {
            (HostPlace::Behind(a), HostPlace::Behind(b)) if a == b => s.addresses.clone(),
            (HostPlace::Behind(nat), _) => self
                .spec
                .nat(nat)
                .map(|n| vec![n.outside_addr])
                .unwrap_or_default(),
            (HostPlace::Segment(_), _) => s.addresses.clone(),
        }
    }

    /// The ruleset for each member's namespace under `grudge` (pure): the
    /// table replaced atomically, empty where nothing is dropped. Also the
    /// pairs that could not be cut (same host).
    pub fn render(&self, grudge: &Grudge) -> Rendered {
        let mut uncut = Vec::new();
        let mut per_ns: Vec<(String, BTreeSet<Ipv4Addr>)> = Vec::new();
        for (d, dest) in self.members.iter().enumerate() {
            let mut drop = BTreeSet::new();
            for (s, src) in self.members.iter().enumerate() {
                if s == d || !grudge.drops(s, d) {
                    continue;
                }
                if src.host == dest.host {
                    uncut.push((src.name.clone(), dest.name.clone()));
                    continue;
                }
                drop.extend(self.seen_as(&src.host, &dest.host));
            }
            match per_ns.iter_mut().find(|(ns, _)| *ns == dest.ns) {
                Some((_, set)) => set.extend(drop),
                None => per_ns.push((dest.ns.clone(), drop)),
            }
        }
        let rules = per_ns
            .into_iter()
            .map(|(ns, drop)| (ns, ruleset(&drop)))
            .collect();
        Rendered { rules, uncut }
    }

    /// Removes every partition rule (the heal; also safe when none is set).
    pub fn heal_all(&self) -> Result<(), LabError> {
        apply(self.render(&Grudge::new(0)).rules)
    }
}

fn apply(rules: Vec<(String, String)>) -> Result<(), LabError> {
    for (ns, text) in rules {
        let place = ns.clone();
        sys::in_netns(&ns, move || {
            sys::run("nft", &["-f", "-"], Some(&text), &place).map(drop)
        })?;
    }
    Ok(())
}

/// Runs the nft commands off the async runtime (any flavour).
async fn apply_off_runtime(rules: Vec<(String, String)>) -> Result<(), FaultError> {
    tokio::task::spawn_blocking(move || apply(rules))
        .await
        .map_err(|e| FaultError::failed(format!("the partition task failed: {e}")))?
        .map_err(FaultError::failed)
}

/// Sets the partition table of the network namespace at `path` — a
/// container's (`/proc/<pid>/ns/net`) — to drop the packets from `drop`;
/// an empty set removes it. The same table a lab host's partition uses.
pub fn set_drops_in(
    path: &std::path::Path,
    drop: &BTreeSet<Ipv4Addr>,
    place: &str,
) -> Result<(), LabError> {
    let text = ruleset(drop);
    crate::netns::run_in(path, || {
        sys::run("nft", &["-f", "-"], Some(&text), place).map(|_| ())
    })?
}

/// Replaces the table in one nft transaction: declared (so the delete
/// cannot fail), deleted, and defined again with the drops.
fn ruleset(drop: &BTreeSet<Ipv4Addr>) -> String {
    let drop: BTreeSet<IpAddr> = drop.iter().map(|a| IpAddr::V4(*a)).collect();
    drop_ruleset(TABLE, &drop, &BTreeSet::new())
}

/// The nft input that replaces `table` (family `inet`) in one
/// transaction with one that drops every packet arriving from `drop`
/// (IPv4 and IPv6) unless it is addressed to one of `spare`, or removes
/// it when `drop` is empty: declared first, so the delete cannot fail.
/// Pure; the lab's hosts and containers use it with their own table, a
/// fleet node with its run's (sparing what goes to the machine that
/// controls the run).
pub fn drop_ruleset(table: &str, drop: &BTreeSet<IpAddr>, spare: &BTreeSet<IpAddr>) -> String {
    let mut r = format!("table inet {table} {{}}\ndelete table inet {table}\n");
    if !drop.is_empty() {
        let list = |v6: bool| -> Vec<String> {
            drop.iter()
                .filter(|a| a.is_ipv6() == v6)
                .map(ToString::to_string)
                .collect()
        };
        let mut rules = String::new();
        for (family, v6) in [("ip", false), ("ip6", true)] {
            let addrs = list(v6);
            if !addrs.is_empty() {
                let spared: Vec<String> = spare
                    .iter()
                    .filter(|a| a.is_ipv6() == v6)
                    .map(ToString::to_string)
                    .collect();
                let unless = if spared.is_empty() {
                    String::new()
                } else {
                    format!(" {family} daddr != {{ {} }}", spared.join(", "))
                };
                let _ = write!(
                    rules,
                    "\n    {family} saddr {{ {} }}{unless} drop",
                    addrs.join(", ")
                );
            }
        }
        let _ = writeln!(
            r,
            "table inet {table} {{\n  chain input {{ type filter hook input priority -10; policy accept;{rules}\n  }}\n}}"
        );
    }
    r
}

impl FaultExecutor for LabNet {
    fn handles(&self, fault: &Fault) -> bool {
        matches!(fault, Fault::Partition { .. })
    }

    fn inject<'a>(&'a self, fault: &'a Fault, _targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            let Fault::Partition { shape, grudge } = fault else {
                return Err(FaultError::NoExecutor { kind: fault.kind() });
            };
            let Rendered { rules, uncut } = self.render(grudge);
            apply_off_runtime(rules).await?;
            let mut value = json!({
                "shape": shape.name(),
                "grudge": grudge.describe(&self.names()),
                "network": "lab",
            });
            if !uncut.is_empty() {
                value["not-cut-same-host"] = json!(uncut);
            }
            Ok(value)
        })
    }

    fn heal<'a>(&'a self, _fault: &'a Fault, _targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            apply_off_runtime(self.render(&Grudge::new(0)).rules).await?;
            Ok(json!("network-healed"))
        })
    }
}

/// The lab's links as fault targets: a `link` fault replaces a link's
/// properties until healed (the plan's come back), a `link-down` fault
/// pulls a host's cable.
impl FaultExecutor for crate::Lab {
    fn handles(&self, fault: &Fault) -> bool {
        matches!(fault, Fault::Link { .. } | Fault::LinkDown { .. })
    }

    fn inject<'a>(&'a self, fault: &'a Fault, _targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            match fault {
                Fault::Link {
                    between: [a, b],
                    latency,
                    jitter,
                    loss_percent,
                    bandwidth_bits_per_sec,
                } => {
                    let shape = gauntlet_plan::LinkShape {
                        latency: *latency,
                        jitter: *jitter,
                        loss_percent: *loss_percent,
                        bandwidth_bits_per_sec: *bandwidth_bits_per_sec,
                    };
                    self.set_link(a, b, &shape).map_err(FaultError::failed)?;
                    Ok(json!({
                        "link": [a, b],
                        "latency-ms": latency.as_secs_f64() * 1000.0,
                        "jitter-ms": jitter.as_secs_f64() * 1000.0,
                        "loss-percent": loss_percent,
                        "bandwidth-bits-per-sec": bandwidth_bits_per_sec,
                    }))
                }
                Fault::LinkDown { host } => {
                    ip(self
                        .host_link_args(host, false)
                        .map_err(FaultError::failed)?)
                    .await?;
                    Ok(json!({"host": host, "link": "down"}))
                }
                other => Err(FaultError::NoExecutor { kind: other.kind() }),
            }
        })
    }

    fn heal<'a>(&'a self, fault: &'a Fault, _targets: &'a [String]) -> FaultFuture<'a> {
        Box::pin(async move {
            match fault {
                Fault::Link {
                    between: [a, b], ..
                } => {
                    let own = self
                        .spec()
                        .links
                        .iter()
                        .find(|l| l.between.contains(a) && l.between.contains(b))
                        .map(|l| l.shape)
                        .unwrap_or_default();
                    self.set_link(a, b, &own).map_err(FaultError::failed)?;
                    Ok(json!({"link": [a, b], "restored": true}))
                }
                Fault::LinkDown { host } => {
                    ip(self
                        .host_link_args(host, true)
                        .map_err(FaultError::failed)?)
                    .await?;
                    Ok(json!({"host": host, "link": "up"}))
                }
                other => Err(FaultError::NoExecutor { kind: other.kind() }),
            }
        })
    }
}

/// Runs `ip args` without blocking the runtime.
async fn ip(args: Vec<String>) -> Result<(), FaultError> {
    let program = sys::find_program("ip").unwrap_or_else(|| "ip".into());
    let out = tokio::process::Command::new(program)
        .args(&args)
        .output()
        .await
        .map_err(|e| FaultError::failed(format!("ip {}: {e}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FaultError::failed(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
