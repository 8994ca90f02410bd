//! `[workload]`, `[nemesis]` and `[[check]]`: a cluster test.

use std::time::Duration;

use toml::Spanned;

use super::{CHECK_TIMEOUT, Cx, Places};
use crate::error::PlanError;
use crate::raw::{RawBuiltinClient, RawCheck, RawClient, RawPlan};
use crate::{
    BUILTIN_CLIENTS, CLUSTER_FAULTS, CLUSTER_WORKLOADS, CheckBy, CheckStage, Cluster,
    ClusterClient, ClusterNemesis, ClusterWorkload, Command, PARTITION_SHAPES, Service,
};

const KEYS: usize = 10;
const OPS_PER_KEY: usize = 200;
const CONCURRENCY: usize = 5;
const RATE: f64 = 10.0;
const TIME_LIMIT: Duration = Duration::from_secs(60);
const OP_TIMEOUT: Duration = Duration::from_secs(5);
const RECOVERY: Duration = Duration::from_secs(10);
const NEMESIS_INTERVAL: Duration = Duration::from_secs(10);

impl Cx<'_> {
    /// The cluster test, or `None` for a plan without `[workload]` (which
    /// then may have neither `[nemesis]` nor `[[check]]`).
    pub(super) fn cluster(
        &self,
        raw: &RawPlan,
        services: &[Service],
        places: Places<'_>,
    ) -> Result<Option<Cluster>, PlanError> {
        let Some(spanned) = &raw.workload else {
            if let Some(n) = &raw.nemesis {
                return Err(self.err(
                    n.span(),
                    "[nemesis] belongs to a cluster test: add [workload]",
                ));
            }
            if let Some(c) = raw.check.first() {
                return Err(self.err(c.span(), "[[check]] belongs to a cluster test: add [workload] (a run plan's checks are [[stage]]s of kind \"check\")"));
            }
            return Ok(None);
        };
        if raw.soak.is_some() {
            return Err(self.err(
                spanned.span(),
                "a plan is a soak or a cluster test, not both: [soak] and [workload]",
            ));
        }
        let w = spanned.get_ref();
        let kind = w.kind.get_ref();
        let generator = CLUSTER_WORKLOADS
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, g)| (*g).to_owned())
            .ok_or_else(|| {
                let known: Vec<&str> = CLUSTER_WORKLOADS.iter().map(|(k, _)| *k).collect();
                self.err(
                    w.kind.span(),
                    format!("unknown workload {kind:?}; there are: {}", known.join(", ")),
                )
            })?;
        let count = |v: &Option<Spanned<i64>>,
                     key: &str,
                     default: usize,
                     max: i64|
         -> Result<usize, PlanError> {
            match v {
                None => Ok(default),
                Some(n) if (1..=max).contains(n.get_ref()) => Ok(*n.get_ref() as usize),
                Some(n) => Err(self.err(n.span(), format!("`{key}` is from 1 to {max}"))),
            }
        };
        let rate = match &w.rate {
            None => RATE,
            Some(v) => match v.get_ref() {
                toml::Value::Integer(i) if *i > 0 && *i <= 1_000_000 => *i as f64,
                toml::Value::Float(f) if *f > 0.0 && *f <= 1e6 => *f,
                _ => {
                    return Err(self.err(
                        v.span(),
                        "`rate` is operations per second, more than 0 and at most 1000000",
                    ));
                }
            },
        };
        let nodes: Vec<String> = services
            .iter()
            .filter(|s| s.host.is_some())
            .map(|s| s.name.clone())
            .collect();
        let client = match w.client.get_ref() {
            RawClient::Program(line) => ClusterClient::Program(Command {
                command: self.command_line_at(line, w.client.span())?,
                cwd: self.dir.clone(),
                env: Default::default(),
            }),
            RawClient::Builtin(b) => self.builtin_client(b, services, places, kind)?,
        };
        let workload = ClusterWorkload {
            kind: kind.clone(),
            generator,
            client,
            keys: count(&w.keys, "keys", KEYS, 100_000)?,
            ops_per_key: count(&w.ops_per_key, "ops_per_key", OPS_PER_KEY, 1_000_000)? as u64,
            concurrency: count(&w.concurrency, "concurrency", CONCURRENCY, 1_000)?,
            rate,
            time_limit: self.duration_or(w.time_limit.as_ref(), "time_limit", TIME_LIMIT)?,
            op_timeout: self.duration_or(w.op_timeout.as_ref(), "op_timeout", OP_TIMEOUT)?,
            recovery: self.duration_or(w.recovery.as_ref(), "recovery", RECOVERY)?,
        };
        let nemesis = match &raw.nemesis {
            None => None,
            Some(n) => {
                let n = n.get_ref();
                let mut faults = Vec::new();
                for f in n.faults.get_ref() {
                    if !CLUSTER_FAULTS.contains(&f.get_ref().as_str()) {
                        return Err(self.err(
                            f.span(),
                            format!(
                                "unknown fault {:?}; a cluster's nemesis knows {}",
                                f.get_ref(),
                                CLUSTER_FAULTS.join(", ")
                            ),
                        ));
                    }
                    if !faults.contains(f.get_ref()) {
                        faults.push(f.get_ref().clone());
                    }
                }
                if !faults.is_empty() && nodes.is_empty() {
                    return Err(self.err(
                        n.faults.span(),
                        "the nemesis acts on services on lab hosts, and no [[service]] has `host` or `on`",
                    ));
                }
                if matches!(places, Places::Fleet(_)) && faults.iter().any(|f| f == "clock") {
                    return Err(self.err(
                        n.faults.span(),
                        "the nemesis's clock faults run the nodes under this machine's libfaketime, and this plan's nodes are a fleet's",
                    ));
                }
                let interval =
                    self.duration_or(n.interval.as_ref(), "interval", NEMESIS_INTERVAL)?;
                let mut partitions = Vec::new();
                if let Some(list) = &n.partitions {
                    if !faults.iter().any(|f| f == "partition") {
                        return Err(self.err(
                            list.span(),
                            "`partitions` narrows the shapes of partitions, and `faults` has no \"partition\"",
                        ));
                    }
                    for shape in list.get_ref() {
                        if !PARTITION_SHAPES.contains(&shape.get_ref().as_str()) {
                            return Err(self.err(
                                shape.span(),
                                format!(
                                    "unknown partition shape {:?}; the nemesis draws {}",
                                    shape.get_ref(),
                                    PARTITION_SHAPES.join(", ")
                                ),
                            ));
                        }
                        if !partitions.contains(shape.get_ref()) {
                            partitions.push(shape.get_ref().clone());
                        }
                    }
                }
                Some(ClusterNemesis {
                    faults,
                    interval,
                    partitions,
                })
            }
        };
        let checks = raw
            .check
            .iter()
            .map(|c| self.cluster_check(c))
            .collect::<Result<Vec<_>, _>>()?;
        if checks.is_empty() {
            return Err(self.err(
                spanned.span(),
                "a cluster test needs at least one [[check]] (for example name = \"linearizable\"): a history nobody judges proves nothing",
            ));
        }
        Ok(Some(Cluster {
            workload,
            nemesis,
            checks,
            nodes,
        }))
    }

    /// `client = { builtin = ... }`: `gauntlet client <system>` with the
    /// endpoints of the plan's nodes (the services on lab hosts or fleet
    /// nodes, at the system's port) unless the plan lists them.
    fn builtin_client(
        &self,
        b: &RawBuiltinClient,
        services: &[Service],
        places: Places<'_>,
        kind: &str,
    ) -> Result<ClusterClient, PlanError> {
        let system = b.builtin.get_ref();
        let Some(&(_, default_port, scheme, takes_reads)) =
            BUILTIN_CLIENTS.iter().find(|(n, ..)| n == system)
        else {
            let known: Vec<&str> = BUILTIN_CLIENTS.iter().map(|(n, ..)| *n).collect();
            return Err(self.err(
                b.builtin.span(),
                format!(
                    "no built-in client {system:?}; there are: {} (or give `client` a program)",
                    known.join(", ")
                ),
            ));
        };
        if !["register", "cas-register", "kv"].contains(&kind) {
            return Err(self.err(
                b.builtin.span(),
                format!("the built-in {system} client speaks the register, cas-register and kv workloads, not {kind:?}: give `client` a program"),
            ));
        }
        let port = match &b.port {
            None => default_port,
            Some(p) => u16::try_from(*p.get_ref())
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| self.err(p.span(), "`port` is from 1 to 65535"))?,
        };
        let mut reads = Vec::new();
        if let Some(r) = &b.reads {
            if !takes_reads {
                return Err(self.err(r.span(), format!("the {system} client has no `reads`")));
            }
            let value = self.expand(r)?;
            if !["linearizable", "serializable"].contains(&value.as_str()) {
                return Err(self.err(
                    r.span(),
                    format!("`reads` is \"linearizable\" (the default) or \"serializable\", not {value:?}"),
                ));
            }
            reads = vec!["--reads".to_owned(), value];
        }
        let endpoints: Vec<String> = match &b.endpoints {
            Some(list) => {
                if b.port.is_some() {
                    return Err(self.err(
                        list.span(),
                        "`endpoints` are whole URLs: give their ports there, not `port`",
                    ));
                }
                let urls = list
                    .get_ref()
                    .iter()
                    .map(|e| self.expand(e))
                    .collect::<Result<Vec<_>, _>>()?;
                if urls.is_empty() {
                    return Err(self.err(list.span(), "`endpoints` lists at least one URL"));
                }
                urls
            }
            None => {
                let address = |host: &str| match places {
                    Places::Lab(l) => l
                        .hosts
                        .iter()
                        .find(|h| h.name == host)
                        .map(|h| h.address().to_string()),
                    Places::Fleet(f) => f.node(host).map(|n| n.ssh.address.clone()),
                    Places::Here => None,
                };
                let urls: Vec<String> = services
                    .iter()
                    .filter_map(|s| s.host.as_deref().and_then(address))
                    .map(|a| format!("{scheme}://{a}:{port}"))
                    .collect();
                if urls.is_empty() {
                    return Err(self.err(
                        b.builtin.span(),
                        "the built-in client talks to the services on lab hosts or fleet nodes, and no [[service]] has `host` or `on`: list `endpoints`",
                    ));
                }
                urls
            }
        };
        let mut args = vec!["--endpoints".to_owned(), endpoints.join(",")];
        args.extend(reads);
        if b.failover.as_ref().is_some_and(|f| *f.get_ref()) {
            args.push("--failover".to_owned());
        }
        Ok(ClusterClient::Builtin {
            system: system.clone(),
            args,
        })
    }

    /// A `[[check]]`: `name` alone is a built-in checker over the run's
    /// history; with `program`, a checker program filed under `name`.
    fn cluster_check(&self, spanned: &Spanned<RawCheck>) -> Result<CheckStage, PlanError> {
        let c = spanned.get_ref();
        self.check_name(&c.name, "check")?;
        let name = c.name.get_ref().clone();
        let by = match &c.program {
            Some(program) => CheckBy::Program {
                run: Command {
                    command: self.command_line(program)?,
                    cwd: self.dir.clone(),
                    env: Default::default(),
                },
                timeout: self.duration_or(c.timeout.as_ref(), "timeout", CHECK_TIMEOUT)?,
            },
            None => {
                if let Some(t) = &c.timeout {
                    return Err(self.err(t.span(), "`timeout` goes with `program`"));
                }
                if let Err(e) = gauntlet_checkers::builtin().get(&name) {
                    return Err(self.err(
                        c.name.span(),
                        format!("{e} (or give this check a `program`)"),
                    ));
                }
                CheckBy::Builtin {
                    checker: name.clone(),
                    history: "history.jsonl".into(),
                }
            }
        };
        Ok(CheckStage { name, by })
    }
}
