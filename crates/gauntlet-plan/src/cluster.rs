//! A cluster test: the plan's services on lab hosts, driven by client
//! programs (`[workload]`), broken by a nemesis (`[nemesis]`), the history
//! judged by checkers (`[[check]]`). `gauntlet test cluster.toml` runs it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{CheckStage, Command};

/// The cluster sections of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub workload: ClusterWorkload,
    pub nemesis: Option<ClusterNemesis>,
    /// Judged over the run's history, in order; the verdict is the worst.
    pub checks: Vec<CheckStage>,
    /// The services the nemesis acts on (those placed on lab hosts), in
    /// plan order.
    pub nodes: Vec<String>,
}

/// `[workload]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterWorkload {
    /// As the plan says it (`register`, `list-append`, ...).
    pub kind: String,
    /// The generator's name in `gauntlet-workload`.
    pub generator: String,
    /// The client program, one per worker.
    pub client: ClusterClient,
    /// Keys active at once.
    pub keys: usize,
    /// Operations a key gets before it retires (register workloads).
    pub ops_per_key: u64,
    pub concurrency: usize,
    /// Operations per second, all workers together.
    pub rate: f64,
    pub time_limit: Duration,
    /// One operation's limit; past it the op is `info` and the client is
    /// replaced.
    pub op_timeout: Duration,
    /// After everything heals, how long to wait before the final reads.
    pub recovery: Duration,
}

/// The workload kinds, with the generator each uses.
pub const CLUSTER_WORKLOADS: [(&str, &str); 7] = [
    ("register", "register"),
    ("cas-register", "cas-register"),
    // Independent keys read, written and compare-and-set: a key-value
    // store checked key by key.
    ("kv", "cas-register"),
    // Adds of unique elements and reads of the whole set (Maelstrom's
    // g-set), judged by `set-full`.
    ("set", "g-set"),
    ("list-append", "txn-list-append"),
    ("rw-register", "txn-rw-register"),
    // Acquires and releases of `keys` locks, judged by a checker program.
    ("lock", "lock"),
];

/// Who a worker's operations go through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterClient {
    /// The plan's program, speaking the client protocol.
    Program(Command),
    /// `gauntlet client <system> <args>`: a client built into gauntlet,
    /// run as a program like any other.
    Builtin { system: String, args: Vec<String> },
}

/// The built-in clients: their name, their default port, their URL
/// scheme, and whether they take `reads`.
pub const BUILTIN_CLIENTS: [(&str, u16, &str, bool); 2] = [
    ("etcd", 2379, "http", true),
    ("redis", 6379, "redis", false),
];

/// `[nemesis]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterNemesis {
    /// `partition`, `kill`, `pause`, `power-cut`, `clock`: the
    /// nemesis's words.
    pub faults: Vec<String>,
    /// The mean time between two nemesis actions.
    pub interval: Duration,
    /// The partition shapes drawn from, by name; empty for all of them.
    pub partitions: Vec<String>,
}

/// The nemesis faults a cluster test knows.
pub const CLUSTER_FAULTS: [&str; 5] = ["partition", "kill", "pause", "power-cut", "clock"];

/// The partition shapes `partitions = [...]` names (the nemesis's own
/// names; a test in gauntlet-pipeline keeps the two lists one).
pub const PARTITION_SHAPES: [&str; 6] = [
    "one",
    "majority",
    "minority-third",
    "majorities-ring",
    "bridge",
    "asymmetric",
];
