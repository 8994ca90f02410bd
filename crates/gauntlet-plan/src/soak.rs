//! The soak sections of a plan (`gauntlet soak plan.toml`): simulated
//! users, the readback, the fault schedule, the observer and the
//! invariants. A run plan with a `[soak]` table is a soak plan; its
//! `[[stage]]` list may then be empty.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Command;

/// Everything `gauntlet soak` needs beyond the services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Soak {
    /// How long users and faults run (`--minutes`, `SOAK_MINUTES`).
    pub duration: Duration,
    /// Samples before this are not judged by I1 (the system warms up).
    pub warmup: Duration,
    /// After STOP, how long to wait at most for users to be quiet and the
    /// services idle before reading back.
    pub calm_timeout: Duration,
    /// The fault scenario to run (`--scenario`); `all` runs every fault.
    pub scenario: String,
    /// Seeds think times, key choice and the fault schedule.
    pub seed: Option<u64>,
    pub users: Users,
    pub readback: Readback,
    /// In the file's order.
    pub faults: Vec<FaultSpec>,
    pub observer: ObserverSpec,
    pub invariants: InvariantSpec,
    /// TCP proxies gauntlet runs in front of services, by service name:
    /// proxy faults act on them, and users should talk to `listen`.
    pub proxies: BTreeMap<String, ProxySpec>,
}

/// The simulated users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Users {
    /// How many (`--users`, `USERS`).
    pub count: u32,
    /// Each loop waits a uniform time in [think_min, think_max] between
    /// scenario runs.
    pub think_min: Duration,
    pub think_max: Duration,
    /// Keys per user; user `u` owns keys `k` with `k % count == u`, so the
    /// last acknowledged write of a key is unambiguous.
    pub keys_per_user: u32,
    pub scenario: UserScenario,
    /// A user whose requests all fail for this long (none ever succeeded)
    /// ends the soak early: the service is unreachable.
    pub unreachable_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserScenario {
    /// HTTP steps, run in order each loop.
    Http(Vec<HttpStep>),
    /// A program speaking JSON lines on stdin/stdout (one process per
    /// user): gauntlet sends `{"op":"write","key":K,"value":V}` (and
    /// `{"op":"read","key":K}`), the program answers
    /// `{"ok":true}` / `{"ok":true,"value":V}` / `{"ok":false,"error":"…"}`.
    Program(Command),
}

/// One HTTP request of a user scenario. Templates may use `{{user}}`,
/// `{{key}}`, `{{value}}`, `{{seq}}` and captured names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpStep {
    pub name: String,
    pub method: String,
    pub url: String,
    pub body: Option<String>,
    /// The status that counts as success (default 200).
    pub expect_status: u16,
    /// A successful step writes `{{value}}` to `{{key}}`: journal it.
    pub write: bool,
    /// Names to capture from a JSON response: name → JSON pointer.
    pub capture: BTreeMap<String, String>,
    pub timeout: Duration,
}

/// How to read a key's final value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Readback {
    /// `GET url` (templated with `{{key}}`): 200 with the value as body;
    /// 404 means absent.
    Http { url: String },
    /// A command (templated with `{{key}}`) printing the value; empty
    /// output means absent (after trimming one trailing newline).
    Command(Command),
    /// Ask the user program (`{"op":"read","key":K}`).
    Program,
}

/// One `[[fault]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Unique; default `<kind>` or `<kind>-<n>`.
    pub name: String,
    pub kind: FaultKind,
    /// The service it hits (`None` for `power-cut`: every service).
    pub target: Option<String>,
    /// Time between two injections, drawn uniformly from this range.
    pub every_min: Duration,
    pub every_max: Duration,
    /// How long it lasts (pause and proxy faults; kill/power-cut: the
    /// downtime before the restart).
    pub duration: Duration,
    /// Scenarios that include it (`all` always does).
    pub scenarios: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FaultKind {
    /// SIGKILL the service's group, restart it after `duration`.
    Kill,
    /// SIGKILL every service at once, restart all (dependency order).
    PowerCut,
    /// SIGSTOP, SIGCONT after `duration`.
    Pause,
    /// SIGTERM, wait, start again.
    Restart,
    /// Through the service's proxy.
    Partition {
        mode: PartitionMode,
    },
    Latency {
        latency: Duration,
        jitter: Duration,
    },
    Bandwidth {
        bytes_per_sec: u64,
    },
    /// Every connection reset (RST).
    Reset,
    /// Connections stall and are closed after `after`.
    Timeout {
        after: Duration,
    },
    /// The service's clock jumps by `offset_s` seconds (negative: back)
    /// for the fault's duration. The service runs under libfaketime
    /// (Debian `faketime`) whenever a clock fault names it.
    Clock {
        offset_s: i64,
    },
    /// A lab link's properties replaced for the fault's duration (the
    /// heal restores the plan's): `between` two segments.
    Link {
        between: [String; 2],
        shape: crate::lab::LinkShape,
    },
    /// A lab host's link goes down (its cable pulled), up again on heal.
    LinkDown {
        host: String,
    },
    /// A container taken off its networks, connected again on heal
    /// (a `docker` service only).
    Disconnect,
}

impl FaultKind {
    pub fn word(&self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::PowerCut => "power-cut",
            FaultKind::Pause => "pause",
            FaultKind::Restart => "restart",
            FaultKind::Partition { .. } => "partition",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Bandwidth { .. } => "bandwidth",
            FaultKind::Reset => "reset",
            FaultKind::Timeout { .. } => "timeout",
            FaultKind::Clock { .. } => "clock",
            FaultKind::Link { .. } => "link",
            FaultKind::LinkDown { .. } => "link-down",
            FaultKind::Disconnect => "disconnect",
        }
    }

    /// Faults that act through the service's proxy.
    pub fn needs_proxy(&self) -> bool {
        matches!(
            self,
            FaultKind::Partition {
                mode: PartitionMode::Refuse | PartitionMode::Blackhole
            } | FaultKind::Latency { .. }
                | FaultKind::Bandwidth { .. }
                | FaultKind::Reset
                | FaultKind::Timeout { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionMode {
    /// New connections are refused (closed at once); open ones are cut.
    Refuse,
    /// Connections are accepted and nothing ever comes back.
    Blackhole,
    /// The service's lab host is cut off from every other service's host
    /// on the real network (nftables, both ways); no proxy involved.
    Network,
}

/// A proxy in front of a service's TCP port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySpec {
    /// `host:port` gauntlet listens on (loopback by default).
    pub listen: String,
    /// `host:port` of the service.
    pub upstream: String,
}

/// The observer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObserverSpec {
    /// Health probe and resource sample interval (default 1 s).
    pub interval: Duration,
    /// Substrings counted in service logs (e.g. `panic`).
    pub log_patterns: Vec<String>,
}

/// Thresholds of the invariants and which gate the exit code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvariantSpec {
    /// I1: health p95 at most this.
    pub p95_max: Duration,
    /// I1: the longest time without a healthy answer at most this.
    pub gap_max: Duration,
    /// I1: samples within this after a fault starts (or heals) are not judged.
    pub grace: Duration,
    /// I2: RSS slope at most this many MB per hour (per service).
    pub rss_slope_max_mb_per_hour: f64,
    /// I3: healthy again within this after every fault heals.
    pub recover_within: Duration,
    /// I5: restarts and health flaps allowed beyond what the faults explain.
    pub restart_budget: u32,
    pub flap_budget: u32,
    /// Invariants whose verdict decides the exit code (`I1` … `I5`;
    /// default all).
    pub gate: Vec<String>,
}

/// The scenario that runs every fault (the default).
pub const ALL: &str = "all";
/// The built-in scenario without faults: users and the observer only.
pub const CLEAN: &str = "clean";
/// The invariants, as `[invariants] gate` names them.
pub const INVARIANTS: [&str; 5] = ["I1", "I2", "I3", "I4", "I5"];

/// The faults a scenario runs, in the plan's order: `all` every fault,
/// `clean` none, any other name the faults that list it.
pub fn faults_in_scenario<'a>(soak: &'a Soak, scenario: &str) -> Vec<&'a FaultSpec> {
    match scenario {
        ALL => soak.faults.iter().collect(),
        CLEAN => Vec::new(),
        name => soak
            .faults
            .iter()
            .filter(|f| f.scenarios.iter().any(|s| s == name))
            .collect(),
    }
}

/// Every scenario `--scenario` accepts: `all`, `clean`, then those the
/// faults list, in the order they first appear.
pub fn known_scenarios(soak: &Soak) -> Vec<String> {
    scenario_names(&soak.faults)
}

pub(crate) fn scenario_names(faults: &[FaultSpec]) -> Vec<String> {
    let mut names = vec![ALL.to_owned(), CLEAN.to_owned()];
    for name in faults.iter().flat_map(|f| &f.scenarios) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}
