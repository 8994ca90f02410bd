//! The fleet file (`fleet.toml`): the hosts a fleet loop deploys to and
//! tests on, reached over SSH. Each node has a name, an address (or an
//! alias of the user's `~/.ssh/config`) and a fallback address, the SSH
//! settings that differ from `[defaults]`, and what the loop and its
//! reports group nodes by: a role (`bootstrap`, `test`, `monitor`, ...), a
//! region, the NAT it sits behind, labels. See `docs/fleet.md`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::NatType;

/// A loaded fleet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// `name`, else the file's stem.
    pub name: String,
    /// The file, absolute.
    pub path: PathBuf,
    /// In the file's order.
    pub nodes: Vec<FleetNode>,
    /// In the file's order.
    pub projects: Vec<Project>,
    /// Who is told of the loops' transitions (`[[notify]]`, as in a plan).
    #[serde(default)]
    pub notify: Vec<crate::Notify>,
}

impl Fleet {
    pub fn node(&self, name: &str) -> Option<&FleetNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn project(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.name == name)
    }
}

/// One `[[node]]`, with `[defaults]` applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetNode {
    /// Unique in the fleet.
    pub name: String,
    pub ssh: SshTarget,
    /// `bootstrap`, `test`, `monitor`, ... (`test` unless said).
    pub role: String,
    pub region: Option<String>,
    /// The NAT in front of it; `None`: a public address.
    pub nat: Option<NatType>,
    pub labels: BTreeMap<String, String>,
}

impl FleetNode {
    /// `public` or the NAT's name, for tables and reports.
    pub fn nat_word(&self) -> &'static str {
        self.nat.map_or("public", NatType::name)
    }
}

/// How to reach a node over SSH. What is `None` is left to the user's
/// `~/.ssh/config` and OpenSSH's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SshTarget {
    /// A host name, an IP address or an `~/.ssh/config` alias.
    pub address: String,
    /// Tried when `address` does not answer.
    pub fallback_address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// A private key (`ssh -i`).
    pub identity: Option<PathBuf>,
    /// A known-hosts file of the fleet's own (`UserKnownHostsFile`); host
    /// keys are checked against it, or the user's, always.
    pub known_hosts: Option<PathBuf>,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
}

/// How long a connection attempt may take unless the fleet says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `[[project]]`: what the loop builds here, deploys to its nodes and
/// runs there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub name: String,
    /// The project's work tree on this machine (absolute): the build and
    /// the fix hook run here, and the fix commits are read from its log.
    pub repo: PathBuf,
    /// Run here, never on the nodes.
    pub build: crate::Command,
    pub build_timeout: Duration,
    /// What the build makes (absolute).
    pub artifact: PathBuf,
    /// Where the artifact goes on each node (absolute): uploaded beside it,
    /// then renamed over it, so a running binary is never written in place.
    pub install: String,
    /// The nodes that run it, in the fleet's order.
    pub nodes: Vec<String>,
    pub service: ProjectService,
    /// Given the evidence directory; exit 0 means it committed a fix.
    pub fix_hook: Option<crate::Command>,
    pub fix_timeout: Duration,
    /// Checkpoints, build and fix bounds, regression tolerance.
    pub loop_spec: gauntlet_fleet::LoopSpec,
    /// The tests of its TEST phase, in the file's order.
    pub suites: Vec<Suite>,
    /// The program the `check` criterion runs (`[project.criteria] check`):
    /// given the evidence directory, exit 0 means the test passed.
    pub check: Option<crate::TestCommand>,
}

impl Project {
    /// The suites a focus runs: those that name it, or all of them for
    /// [`FULL_SUITE`].
    pub fn suites_of(&self, focus: &str) -> Vec<&Suite> {
        self.suites
            .iter()
            .filter(|s| focus == FULL_SUITE || s.focus.iter().any(|f| f == focus))
            .collect()
    }

    /// Every focus a suite names, and [`FULL_SUITE`], each once, in the
    /// file's order.
    pub fn focuses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.suites.iter().flat_map(|s| &s.focus) {
            if !out.contains(f) {
                out.push(f.clone());
            }
        }
        out.push(FULL_SUITE.to_owned());
        out
    }
}

/// The focus that runs every suite.
pub const FULL_SUITE: &str = "full-suite";

/// One `[[project.suite]]`: a command run here or on each node, passed by
/// its exit status and judged by its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suite {
    /// The focuses that run it (`connectivity`, `nat-traversal`, ...;
    /// every suite is in `full-suite`).
    pub focus: Vec<String>,
    pub on: SuiteRuns,
    /// Its command, timeout and figures. `{{nodes}}` and `{{addresses}}`
    /// in the command are the deployed nodes' names and addresses (space
    /// separated); on each node, `{{node}}` and `{{address}}` its own.
    pub test: crate::TestCommand,
}

impl Suite {
    pub fn name(&self) -> &str {
        &self.test.name
    }
}

/// Where a suite runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SuiteRuns {
    /// Once, on this machine (it reaches the nodes itself).
    Here,
    /// On every deployed node, over SSH.
    EachNode,
}

/// How a TEST phase's results are judged (`--criteria`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Criteria {
    /// Every suite exits 0 on every node and every figure is read.
    AllPass,
    /// Every figure within its `min` / `max` (per-category thresholds),
    /// whatever the exit statuses.
    Threshold,
    /// All pass, and no figure worse than the project's last green test
    /// (in this loop or an earlier one).
    Improvement,
    /// The project's `[project.criteria] check` program says so.
    Check,
}

impl Criteria {
    pub const ALL: [Criteria; 4] = [
        Criteria::AllPass,
        Criteria::Threshold,
        Criteria::Improvement,
        Criteria::Check,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Criteria::AllPass => "all-pass",
            Criteria::Threshold => "threshold",
            Criteria::Improvement => "improvement",
            Criteria::Check => "check",
        }
    }

    pub fn parse(word: &str) -> Option<Criteria> {
        Criteria::ALL.into_iter().find(|c| c.word() == word)
    }
}

/// What the proof bundle holds (`--proof`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proof {
    /// The summary (PROOF.md, proof.json) and the reports.
    Summary,
    /// And every node's service log.
    Logs,
    /// And every suite's output and every phase's log.
    AllEvidence,
}

impl Proof {
    pub const ALL: [Proof; 3] = [Proof::Summary, Proof::Logs, Proof::AllEvidence];

    pub fn word(self) -> &'static str {
        match self {
            Proof::Summary => "summary",
            Proof::Logs => "logs",
            Proof::AllEvidence => "all-evidence",
        }
    }

    pub fn parse(word: &str) -> Option<Proof> {
        Proof::ALL.into_iter().find(|p| p.word() == word)
    }
}

/// How the project runs on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectService {
    pub control: ServiceControl,
    /// Checked after each start; `{{address}}` and `{{node}}` are the
    /// node's.
    pub health: Option<crate::HealthCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServiceControl {
    /// A command Gauntlet starts and supervises on the node.
    Supervised {
        command: crate::CommandLine,
        stop_timeout: Duration,
    },
    /// A systemd unit: `systemctl stop`, `start`, `is-active`.
    Systemd { unit: String },
}

/// How long a build may take unless the project says otherwise.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long the fix hook may take unless the project says otherwise.
pub const FIX_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a suite (or the `check` program) may take unless it says
/// otherwise.
pub const SUITE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
