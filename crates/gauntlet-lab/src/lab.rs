//! [`Lab`]: a lab that is up, owned by this process; down when dropped.

use std::fmt::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use gauntlet_node::NetnsBackend;
use gauntlet_plan::{HostPlace, LabSpec, Link, LinkShape};

use crate::names::{self, LabId};
use crate::queue::{LinkQueues, LinkStats, QueueConfig};
use crate::shaper::LinkParams;
use crate::state::{self, LabRecord, OwnerLock};
use crate::{LabError, nat, sys};

/// How to build a lab.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// The seed of the links' random streams (loss, jitter).
    pub seed: u64,
    /// The file it comes from, for `lab status`.
    pub source: Option<PathBuf>,
}

/// A lab that is up. This process owns it until [`down`](Lab::down) or
/// drop, which remove everything it made.
#[derive(Debug)]
pub struct Lab {
    id: LabId,
    spec: LabSpec,
    dir: PathBuf,
    record: LabRecord,
    seed: u64,
    _lock: Option<OwnerLock>,
    /// The shaper of the links that have properties (`None`: none has).
    queues: Option<LinkQueues>,
    down: bool,
    /// How long the build took.
    pub build_time: std::time::Duration,
}

impl Lab {
    /// Builds `spec`: namespaces, veths, bridges, routes, NAT rules and link
    /// shaping. On any error, what was made is removed before returning.
    pub fn up(spec: &LabSpec, opts: &LabOptions) -> Result<Lab, LabError> {
        let started = Instant::now();
        sys::preflight(!spec.links.is_empty())?;
        // Sweep what dead owners left first: their names cannot collide
        // with ours (fresh id), but their namespaces hold addresses and
        // processes nobody will ever stop.
        let _ = state::sweep_dead();
        let id = LabId::fresh();
        let (dir, lock) = state::claim(&id)?;
        let mut namespaces = vec![id.core()];
        namespaces.extend(spec.nats.iter().map(|n| id.nat(&n.name)));
        namespaces.extend(spec.hosts.iter().map(|h| id.host(&h.name)));
        let record = LabRecord {
            id: id.to_string(),
            owner_pid: std::process::id(),
            source: opts.source.clone(),
            created_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            spec: spec.clone(),
            namespaces,
            files: Vec::new(),
            unrouted: Vec::new(),
        };
        // Written before the first namespace exists: a build killed half
        // way is still swept.
        state::write_record(&dir, &record)?;
        let mut lab = Lab {
            id,
            spec: spec.clone(),
            dir,
            record,
            seed: opts.seed,
            _lock: Some(lock),
            queues: None,
            down: false,
            build_time: std::time::Duration::ZERO,
        };
        // On error `lab` drops here, which tears down what was made.
        lab.build()?;
        let here = lab.control_link()?;
        lab.management_network(here)?;
        lab.shape_links()?;
        lab.build_time = started.elapsed();
        Ok(lab)
    }

    fn build(&mut self) -> Result<(), LabError> {
        let id = &self.id;
        let spec = &self.spec;
        let add: String = self
            .record
            .namespaces
            .iter()
            .map(|ns| format!("netns add {ns}\n"))
            .collect();
        sys::run("ip", &["-batch", "-"], Some(&add), "the machine")?;

        // The core: a bridge per segment with the router's address, one
        // veth per host and NAT box on a segment.
        let core = id.core();
        let mut script = String::from("link set lo up\n");
        for seg in &spec.segments {
            add_bridge(
                &mut script,
                &names::bridge(&seg.name),
                seg.router,
                seg.subnet.prefix,
            );
        }
        for (index, host) in spec.hosts.iter().enumerate() {
            if let HostPlace::Segment(seg) = &host.place {
                plug(
                    &mut script,
                    &names::host_port(index),
                    "eth0",
                    &id.host(&host.name),
                    &names::bridge(seg),
                );
            }
        }
        for nat in &spec.nats {
            plug(
                &mut script,
                &names::nat_port(&nat.name),
                "wan",
                &id.nat(&nat.name),
                &names::bridge(&nat.outside),
            );
        }
        let core_name = core.clone();
        sys::in_netns(&core, move || {
            sys::run("ip", &["-batch", "-"], Some(&script), &core_name)?;
            sys::sysctl("net.ipv4.ip_forward", "1", &core_name)
        })?;

        // NAT boxes: outside address, the inside bridge, the ruleset.
        for nat in &spec.nats {
            let ns = id.nat(&nat.name);
            let seg = spec
                .segment(&nat.outside)
                .expect("a loaded lab's NAT stands on a segment");
            let mut script = String::from("link set lo up\n");
            let _ = writeln!(
                script,
                "addr add {}/{} dev wan",
                nat.outside_addr, seg.subnet.prefix
            );
            let _ = writeln!(script, "link set wan up");
            let _ = writeln!(script, "route add default via {}", seg.router);
            add_bridge(&mut script, "lan", nat.inside_addr, nat.inside.prefix);
            for (index, host) in spec.hosts.iter().enumerate() {
                if host.place == HostPlace::Behind(nat.name.clone()) {
                    plug(
                        &mut script,
                        &names::lan_port(index),
                        "eth0",
                        &id.host(&host.name),
                        "lan",
                    );
                }
            }
            let rules = nat::ruleset(nat);
            let timeout = nat.mapping_timeout.as_secs().max(1).to_string();
            let place = ns.clone();
            sys::in_netns(&ns, move || {
                sys::run("ip", &["-batch", "-"], Some(&script), &place)?;
                sys::sysctl("net.ipv4.ip_forward", "1", &place)?;
                // The box's mappings live as long as the plan says, whether
                // the peer answered or not.
                sys::sysctl("net.netfilter.nf_conntrack_udp_timeout", &timeout, &place)?;
                sys::sysctl(
                    "net.netfilter.nf_conntrack_udp_timeout_stream",
                    &timeout,
                    &place,
                )?;
                sys::run("nft", &["-f", "-"], Some(&rules), &place)?;
                Ok(())
            })?;
        }

        // Hosts: addresses, loopback, the default route.
        for host in &spec.hosts {
            let ns = id.host(&host.name);
            let mut script = String::from("link set lo up\n");
            for addr in &host.addresses {
                let _ = writeln!(script, "addr add {addr}/{} dev eth0", host.prefix);
            }
            let _ = writeln!(script, "link set eth0 up");
            let _ = writeln!(script, "route add default via {}", host.gateway);
            let place = ns.clone();
            sys::in_netns(&ns, move || {
                sys::run("ip", &["-batch", "-"], Some(&script), &place).map(drop)
            })?;
        }
        Ok(())
    }

    /// Joins this machine to the core, so gauntlet (health probes, users,
    /// checkers) and the user's shell reach every segment, as a control
    /// node reaches a cluster: one veth, `gt-<id>` here and `ctl` in the
    /// core, a /30 of 169.254.0.0/16, and a route per segment. Nothing
    /// else of this machine changes, and it all goes with the lab.
    /// Segments behind NAT boxes stay private, as they would be. A segment
    /// whose subnet this machine already routes (its own network, or
    /// another lab with the same subnets) gets no route: the existing one
    /// is never shadowed, and the record says which segments are
    /// unreachable from here. Returns this machine's address on it.
    fn control_link(&mut self) -> Result<std::net::Ipv4Addr, LabError> {
        let routes = sys::run("ip", &["-4", "-o", "route", "show"], None, "the machine")?;
        let addrs = sys::run("ip", &["-4", "-o", "addr", "show"], None, "the machine")?;
        let (here, there) = control_pair(&self.id, &addrs);
        let dev = self.id.control();
        let script = format!(
            "link add {dev} type veth peer name ctl netns {core}\naddr add {here}/30 dev {dev}\nlink set {dev} up\n",
            core = self.id.core()
        );
        sys::run("ip", &["-batch", "-"], Some(&script), "the machine")?;
        // The management network is routed as a segment is (named
        // `[management]` where unrouted: no segment can be called so).
        let nets = self
            .spec
            .segments
            .iter()
            .map(|s| (s.name.clone(), s.subnet))
            .chain(
                self.spec
                    .management
                    .map(|m| (names::MANAGEMENT_NET.to_owned(), m.subnet)),
            );
        for (name, subnet) in nets {
            let taken = routes
                .lines()
                .filter(|l| !l.starts_with("default"))
                .any(|l| route_overlaps(l, &subnet));
            // One route at a time: another lab coming up at this moment
            // may add the same subnet between the look above and this add
            // ("File exists"); its route then stands, and this segment is
            // unrouted like one found taken.
            let subnet = subnet.to_string();
            let routed = !taken
                && sys::run(
                    "ip",
                    &[
                        "route",
                        "add",
                        &subnet,
                        "via",
                        &there.to_string(),
                        "dev",
                        &dev,
                    ],
                    None,
                    "the machine",
                )
                .is_ok();
            if !routed {
                self.record.unrouted.push(name);
            }
        }
        let core = self.id.core();
        let place = core.clone();
        let inside = format!("addr add {there}/30 dev ctl\nlink set ctl up\n");
        sys::in_netns(&core, move || {
            sys::run("ip", &["-batch", "-"], Some(&inside), &place).map(drop)
        })?;
        if !self.record.unrouted.is_empty() {
            state::write_record(&self.dir, &self.record)?;
        }
        Ok(here)
    }

    /// The management network (`[management]`), if the lab has one: a
    /// bridge `mgmt` in the core with the network's `.1`, and a second
    /// veth for each host that has a management address (every host
    /// behind a NAT box: `mgmt` there, `m<index>` on the bridge) with that
    /// address and one route, to this machine's end of the control link
    /// (`here`). So this machine reaches a host behind a NAT box by its
    /// management address, as a fleet's control node does, while the
    /// host's own traffic keeps its default route through the NAT box.
    /// The bridge's ports are isolated and the core forwards to and from
    /// it only over the control link: hosts never reach each other over
    /// it, nor a managed host from a segment, so it opens no path around a
    /// NAT box. A host on a segment gets
    /// none: this machine reaches it at its address already, and a second
    /// way back to this machine would make its replies asymmetric. All of
    /// it lives in the lab's namespaces and goes with them.
    fn management_network(&mut self, here: std::net::Ipv4Addr) -> Result<(), LabError> {
        let Some(m) = self.spec.management else {
            return Ok(());
        };
        let bridge = names::MANAGEMENT;
        let mut script = String::new();
        add_bridge(&mut script, bridge, m.router, m.subnet.prefix);
        let managed: Vec<(usize, &gauntlet_plan::LabHost, std::net::Ipv4Addr)> = self
            .spec
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.management.map(|a| (i, h, a)))
            .collect();
        for (index, host, _) in &managed {
            let port = names::management_port(*index);
            plug(
                &mut script,
                &port,
                bridge,
                &self.id.host(&host.name),
                bridge,
            );
            let _ = writeln!(script, "link set {port} type bridge_slave isolated on");
        }
        // The core routes between its interfaces: the network carries
        // only what goes to or comes from this machine (the control link).
        let rules = format!(
            "table inet gauntlet_management {{\n  chain forward {{\n    \
             type filter hook forward priority 0; policy accept;\n    \
             oifname \"{bridge}\" iifname != \"ctl\" drop\n    \
             iifname \"{bridge}\" oifname != \"ctl\" drop\n  }}\n}}\n"
        );
        let core = self.id.core();
        let place = core.clone();
        sys::in_netns(&core, move || {
            sys::run("ip", &["-batch", "-"], Some(&script), &place)?;
            sys::run("nft", &["-f", "-"], Some(&rules), &place).map(drop)
        })?;
        for (_, host, addr) in managed {
            let ns = self.id.host(&host.name);
            let script = format!(
                "addr add {addr}/{prefix} dev {bridge}\nlink set {bridge} up\n\
                 route add {here}/32 via {router} dev {bridge}\n",
                prefix = m.subnet.prefix,
                router = m.router,
            );
            let place = ns.clone();
            sys::in_netns(&ns, move || {
                sys::run("ip", &["-batch", "-"], Some(&script), &place).map(drop)
            })?;
        }
        Ok(())
    }

    /// Routes the packets of every declared `[[link]]` through the shaper
    /// (one NFQUEUE per direction, in the core), so its properties apply
    /// and a fault can change them; segments without a `[[link]]` are
    /// routed in the kernel alone. The queues are bound before the rules
    /// exist, so no packet ever waits on a queue nobody reads.
    fn shape_links(&mut self) -> Result<(), LabError> {
        let shaped: Vec<(usize, &Link)> = self.spec.links.iter().enumerate().collect();
        if shaped.is_empty() {
            return Ok(());
        }
        let core = self.id.core();
        let mut config = QueueConfig::new(Some(sys::netns_path(&core))).seed(self.seed);
        let mut rules = String::from("*filter\n");
        for (index, link) in &shaped {
            let params = link_params(&link.shape);
            let [a, b] = &link.between;
            for (queue, from, to) in [(queue_of(*index, 0), a, b), (queue_of(*index, 1), b, a)] {
                config = config.link(queue, params.clone());
                let _ = writeln!(
                    rules,
                    "-A FORWARD -i {} -o {} -j NFQUEUE --queue-num {queue}",
                    names::bridge(from),
                    names::bridge(to)
                );
            }
        }
        rules.push_str("COMMIT\n");
        self.queues = Some(LinkQueues::start(config)?);
        let place = core.clone();
        sys::in_netns(&core, move || {
            sys::run("iptables-restore", &["--noflush"], Some(&rules), &place).map(drop)
        })
    }

    /// Changes link `a`–`b`'s properties at run time (a fault; the heal
    /// sets them back). Only a link the lab shapes can change.
    pub fn set_link(&self, a: &str, b: &str, shape: &LinkShape) -> Result<(), LabError> {
        let (index, _) = self.link(a, b)?;
        let queues = self.queues.as_ref().ok_or_else(|| not_shaped(a, b))?;
        let params = link_params(shape);
        queues.set(queue_of(index, 0), params.clone())?;
        queues.set(queue_of(index, 1), params)?;
        Ok(())
    }

    /// What the shaper did on link `a`–`b`: `(a→b, b→a)`.
    pub fn link_stats(&self, a: &str, b: &str) -> Result<(LinkStats, LinkStats), LabError> {
        let (index, _) = self.link(a, b)?;
        let queues = self.queues.as_ref().ok_or_else(|| not_shaped(a, b))?;
        let get = |q| queues.stats(q).ok_or_else(|| not_shaped(a, b));
        Ok((get(queue_of(index, 0))?, get(queue_of(index, 1))?))
    }

    /// The Linux thread id of the shaper's thread (`None`: the lab shapes
    /// no link), to read its CPU time from `/proc/self/task/<tid>/stat`.
    pub fn shaper_thread_id(&self) -> Option<u32> {
        self.queues.as_ref().and_then(LinkQueues::thread_id)
    }

    fn link(&self, a: &str, b: &str) -> Result<(usize, &Link), LabError> {
        self.spec
            .links
            .iter()
            .enumerate()
            .find(|(_, l)| {
                a != b && l.between.contains(&a.to_owned()) && l.between.contains(&b.to_owned())
            })
            .ok_or_else(|| not_shaped(a, b))
    }

    /// Takes host `name`'s link down (`up = false`) or up again: its veth's
    /// far end, on the segment's bridge or the NAT box's.
    pub fn set_host_link(&self, name: &str, up: bool) -> Result<(), LabError> {
        let args = self.host_link_args(name, up)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sys::run("ip", &args, None, "the machine").map(drop)
    }

    /// `ip`'s arguments for [`set_host_link`](Self::set_host_link) (`ip -n`
    /// enters the namespace itself, so an async caller can run them).
    pub fn host_link_args(&self, name: &str, up: bool) -> Result<Vec<String>, LabError> {
        let (index, host) = self
            .spec
            .hosts
            .iter()
            .enumerate()
            .find(|(_, h)| h.name == name)
            .ok_or_else(|| LabError::UnknownHost {
                name: name.to_owned(),
                known: self
                    .spec
                    .hosts
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let (ns, port) = match &host.place {
            HostPlace::Segment(_) => (self.id.core(), names::host_port(index)),
            HostPlace::Behind(nat) => (self.id.nat(nat), names::lan_port(index)),
        };
        let state = if up { "up" } else { "down" };
        Ok(["-n", &ns, "link", "set", &port, state]
            .map(str::to_owned)
            .to_vec())
    }

    /// Its id (`lab status` shows it; `lab exec --lab` takes it).
    pub fn id(&self) -> &LabId {
        &self.id
    }

    pub fn spec(&self) -> &LabSpec {
        &self.spec
    }

    /// The record other processes read.
    pub fn record(&self) -> &LabRecord {
        &self.record
    }

    /// The namespace of host `name`.
    pub fn netns_of(&self, host: &str) -> Result<String, LabError> {
        namespace_of(&self.record, host)
    }

    /// The backend that runs processes on host `name`.
    pub fn backend(&self, host: &str) -> Result<NetnsBackend, LabError> {
        backend_of(&self.record, host)
    }

    /// Removes everything the lab made: kills what runs in its namespaces,
    /// deletes them, removes its state. Idempotent.
    pub fn down(&mut self) -> Result<(), LabError> {
        if self.down {
            return Ok(());
        }
        self.down = true;
        // The shaper first: once its queues are unbound, the kernel drops
        // what the rules still send there, and the namespaces go next.
        if let Some(mut queues) = self.queues.take() {
            let _ = queues.stop();
        }
        let result = state::remove_namespaces(&self.id, &self.record.namespaces);
        for file in &self.record.files {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        result.map(drop)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

/// Whether a line of `ip -o route show` covers any of `subnet`.
fn route_overlaps(line: &str, subnet: &gauntlet_plan::Subnet) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|dest| {
            if dest.contains('/') {
                gauntlet_plan::Subnet::parse(dest).ok()
            } else {
                dest.parse().ok().map(|network| gauntlet_plan::Subnet {
                    network,
                    prefix: 32,
                })
            }
        })
        .is_some_and(|route| route.overlaps(subnet))
}

/// This machine's and the core's address on the control link: a /30 of
/// 169.254.0.0/16 picked from the lab's id, the next free one if taken.
fn control_pair(id: &LabId, addrs: &str) -> (std::net::Ipv4Addr, std::net::Ipv4Addr) {
    let start = u32::from_str_radix(id.as_str(), 16).unwrap_or(0) % 16_000;
    (0..16_000u32)
        .map(|k| {
            let n = (start + k) % 16_000 + 64; // skip 169.254.0.x
            let base = u32::from(std::net::Ipv4Addr::new(169, 254, 0, 0)) + n * 4;
            (
                std::net::Ipv4Addr::from(base + 2),
                std::net::Ipv4Addr::from(base + 1),
            )
        })
        .find(|(here, there)| {
            !addrs.contains(&format!(" {here}/")) && !addrs.contains(&format!(" {there}/"))
        })
        .unwrap_or((
            std::net::Ipv4Addr::new(169, 254, 255, 250),
            std::net::Ipv4Addr::new(169, 254, 255, 249),
        ))
}

/// `ip -batch` lines for a bridge `name` here with address `addr/prefix`.
fn add_bridge(script: &mut String, name: &str, addr: std::net::Ipv4Addr, prefix: u8) {
    let _ = writeln!(script, "link add {name} type bridge");
    let _ = writeln!(script, "addr add {addr}/{prefix} dev {name}");
    let _ = writeln!(script, "link set {name} up");
}

/// `ip -batch` lines for a veth whose end `port` joins bridge `bridge` here
/// and whose other end, `peer`, goes into namespace `peer_ns`.
fn plug(script: &mut String, port: &str, peer: &str, peer_ns: &str, bridge: &str) {
    let _ = writeln!(
        script,
        "link add {port} type veth peer name {peer} netns {peer_ns}"
    );
    let _ = writeln!(script, "link set {port} master {bridge}");
    let _ = writeln!(script, "link set {port} up");
}

/// Link `index`'s queue in direction 0 (first → second) or 1.
fn queue_of(index: usize, direction: usize) -> u16 {
    u16::try_from(index * 2 + direction).unwrap_or(u16::MAX)
}

fn not_shaped(a: &str, b: &str) -> LabError {
    LabError::NotFound(format!("the lab has no [[link]] between {a:?} and {b:?}"))
}

/// The shaper's parameters for a plan's link. The queue holds up to 10,000
/// packets: above netem's 1,000, so a fast sender over a long link (20,000
/// packets/s over 100 ms) is delayed, not dropped for want of room.
fn link_params(shape: &LinkShape) -> LinkParams {
    LinkParams {
        latency: shape.latency,
        jitter: shape.jitter,
        loss_percent: shape.loss_percent,
        bandwidth_bits_per_sec: shape.bandwidth_bits_per_sec,
        queue_limit_packets: 10_000,
    }
}

/// The namespace of host `name` in the lab `record` describes.
pub fn namespace_of(record: &LabRecord, host: &str) -> Result<String, LabError> {
    let id = LabId::parse(&record.id)
        .ok_or_else(|| LabError::NotFound(format!("bad lab id {:?}", record.id)))?;
    match record.spec.host(host) {
        Some(h) => Ok(id.host(&h.name)),
        None => Err(LabError::UnknownHost {
            name: host.to_owned(),
            known: record
                .spec
                .hosts
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The backend for host `name` of the lab `record` describes.
pub fn backend_of(record: &LabRecord, host: &str) -> Result<NetnsBackend, LabError> {
    let ns = namespace_of(record, host)?;
    let addr = record
        .spec
        .host(host)
        .expect("namespace_of found it")
        .address();
    Ok(NetnsBackend::new(sys::netns_path(&ns), IpAddr::V4(addr)))
}
