//! The resolved plan: what the runtime consumes. Built by [`crate::load()`]
//! from the TOML; serializable so a run can keep its resolved plan
//! (`store/<run-id>/plan.resolved.json`) and resume from it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A checked, resolved plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `name` from the file, else the file's stem.
    pub name: String,
    pub description: Option<String>,
    /// The plan file (absolute), if it came from one.
    pub path: Option<PathBuf>,
    /// `[vars]` after `--set` overrides.
    pub vars: BTreeMap<String, String>,
    /// In the file's order.
    pub services: Vec<Service>,
    /// In the file's order (a `cycle` stage not yet expanded; see [`crate::expand`]).
    pub stages: Vec<StageSpec>,
    /// The soak sections, when the plan has a `[soak]` table.
    #[serde(default)]
    pub soak: Option<crate::soak::Soak>,
    /// The network lab its services run on, when it has one.
    #[serde(default)]
    pub lab: Option<crate::lab::LabSpec>,
    /// The fleet its services run on (`fleet = "fleet.toml"`), when it
    /// names one: kept whole, so a resumed run reaches the same nodes.
    #[serde(default)]
    pub fleet: Option<crate::fleet::Fleet>,
    /// The cluster test, when the plan has a `[workload]`.
    #[serde(default)]
    pub cluster: Option<crate::cluster::Cluster>,
    /// The Compose file its services came from, when it has `[compose]`.
    #[serde(default)]
    pub compose: Option<crate::compose::ComposeSource>,
    /// Who is told what happens in a run (`[[notify]]`), in the file's
    /// order.
    #[serde(default)]
    pub notify: Vec<crate::notify::Notify>,
    /// What loading noticed and let pass, each naming its file and line
    /// (a Compose key that changes nothing under gauntlet); shown before
    /// the run starts.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The devices a destructive stage may name (`allowed_devices`).
    #[serde(default)]
    pub allowed_devices: Vec<PathBuf>,
    /// The sensor sampler's settings.
    #[serde(default)]
    pub sensors: crate::Sensors,
}

/// How to start a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandLine {
    /// A string in the plan: run as `sh -c STRING`.
    Shell(String),
    /// An array in the plan: the program and its arguments, no shell.
    Argv(Vec<String>),
}

/// A program to run with its place and environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub command: CommandLine,
    /// Absolute (relative paths in the plan are relative to the plan's directory).
    pub cwd: PathBuf,
    /// Added to gauntlet's own environment.
    pub env: BTreeMap<String, String>,
}

/// A long-running program: a service, and a module when it has `tests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub run: Command,
    /// Names of services that must be ready (see `ready`) before this
    /// one starts.
    pub depends_on: Vec<String>,
    /// What "ready" means for the services that depend on this one.
    #[serde(default)]
    pub ready: Readiness,
    pub health: Option<HealthCheck>,
    pub limits: Limits,
    pub restart: RestartPolicy,
    /// How long to wait after SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
    /// The module's test commands, run by `cycle` stages.
    pub tests: Vec<TestCommand>,
    /// The lab host it runs on; `None`: on this machine.
    #[serde(default)]
    pub host: Option<String>,
    /// The `[[service]]` it is an instance of, when that has `on = [...]`
    /// (its name is then `<group>-<host>`).
    #[serde(default)]
    pub group: Option<String>,
    /// Its container, when its backend is `docker`.
    #[serde(default)]
    pub container: Option<crate::ContainerService>,
}

/// When a service counts as ready for the services that depend on it
/// (Compose's `depends_on` conditions, folded onto the dependency: every
/// dependent of one service asks the same of it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Readiness {
    /// Its health check passes (without one: it has stayed up for a
    /// moment). Gauntlet's default; Compose's `service_healthy`.
    #[default]
    Healthy,
    /// It has started; nobody waits for its health check (Compose's
    /// `service_started`, and a `depends_on` list).
    Started,
    /// It ran to its end with exit status 0: a one-shot job such as a
    /// migration (Compose's `service_completed_successfully`).
    Completed,
}

/// How to tell a service is healthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub probe: Probe,
    /// Give up on becoming healthy after this long.
    pub timeout: Duration,
    /// The first wait between attempts; it doubles up to `max_interval`.
    pub interval: Duration,
    pub max_interval: Duration,
    /// Each wait is scaled by a random factor in `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
    /// One probe's own time limit.
    pub probe_timeout: Duration,
    /// A healthy module whose probes' p95 latency is above this is WARN.
    pub warn_p95: Option<Duration>,
}

/// One health probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    /// `GET url` (plain HTTP) answers with this status.
    Http { url: String, status: u16 },
    /// A TCP connection to `host:port` succeeds.
    Tcp { address: String },
    /// The command exits 0.
    Command(Command),
    /// The program (and its arguments) exits 0 run inside the service's
    /// container, through the engine (Compose's `healthcheck: test`).
    Exec { argv: Vec<String> },
}

/// Figures that flag a service. Exceeding one fails the stage it happens in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Resident memory of the service's process group, bytes.
    pub max_rss: Option<u64>,
    /// CPU, percent of one core, averaged over a sampling interval.
    pub max_cpu: Option<f64>,
    /// Restarts (with `restart = "on-failure"`) before the service counts as failed.
    pub max_restarts: Option<u32>,
    /// RSS growth from the first cycle to the last above this percentage is WARN.
    pub rss_growth_warn_pct: f64,
}

/// What to do when a service exits on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// It stays down; the stage it happens in fails.
    Never,
    /// It is started again when it exits with a failure (counted in
    /// `restarts`).
    OnFailure,
    /// It is started again whenever it exits on its own, even with
    /// status 0 (Compose's `always` and `unless-stopped`).
    Always,
}

/// A module test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCommand {
    /// Shown in reports and JUnit; defaults to the command text.
    pub name: String,
    pub run: Command,
    pub timeout: Duration,
    pub expect: Expect,
}

/// What a command must do to pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    /// Exit status (default 0).
    pub exit: i32,
    /// A substring stdout must contain, if set.
    pub stdout_contains: Option<String>,
    /// Numbers read from stdout, each recorded and judged.
    #[serde(default)]
    pub figures: Vec<Figure>,
}

/// A number a command prints (`fio`'s IOPS, `iperf3`'s throughput): read
/// from its stdout after it ends, recorded as a measurement, judged. A
/// figure that cannot be read fails the stage, whatever its severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub from: FigureSource,
    /// Every check it must meet (`min` and `max` may go together).
    pub checks: Vec<ExpectCheck>,
    /// Only `Critical` fails the stage; the others are noted.
    pub severity: Severity,
    pub unit: Option<String>,
}

/// Where in stdout a figure is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FigureSource {
    /// Stdout is one JSON document; the number is at this pointer
    /// (RFC 6901).
    Json { pointer: String },
    /// The first match of this regex; its first capture group is the
    /// number.
    Regex { pattern: String },
}

/// One `[[stage]]` of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// Unique; defaults to `<kind>` or `<kind>-<n>` when a kind repeats.
    pub name: String,
    pub kind: StageKind,
    /// What it needs, may destroy and may not exceed.
    #[serde(default)]
    pub guards: crate::Guards,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StageKind {
    /// Start these services (and their dependencies) in dependency order
    /// and wait until each is healthy. Holds the services as the plan
    /// lists them (all when it lists none); [`crate::expand`] adds the
    /// dependencies and sorts them dependencies first.
    Up { services: Vec<String> },
    /// Run a test command.
    Command(TestCommand),
    /// Inventory the machine and compare it with `expected`.
    Probe { expected: Vec<Expectation> },
    /// Keep sampling the running services' health and resources.
    Wait { duration: Duration },
    /// Stop these services, dependents first (as listed here;
    /// [`crate::expand`] puts them in stop order).
    Down { services: Vec<String> },
    /// Module cycling: `cycles` rounds over `modules` (dependency order).
    Cycle { modules: Vec<String>, cycles: u32 },
    /// Judge the run's files: a checker program, or a built-in checker
    /// over a history. `false` or `unknown` fails the stage.
    Check(CheckStage),
    /// A connectivity matrix over lab hosts (see [`MatrixStage`]).
    Matrix(MatrixStage),
}

/// A `matrix` stage: for every ordered pair of `hosts`, `attempts` runs of
/// the `connect` command on the first host towards the second. Exit 0 is
/// connected; its stdout says how (`direct`, `nat-traversed`, `relayed`;
/// `direct` when it says none). The verdict is each category's success
/// rate against its threshold (`gauntlet_lab::matrix` judges).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixStage {
    /// Lab hosts, in the plan's order (all of the lab's by default).
    pub hosts: Vec<String>,
    /// Rendered per attempt: `{{from}}`, `{{to}}`, `{{to_addr}}`.
    pub connect: Command,
    pub attempts: u32,
    /// The wait between two attempts of a pair.
    pub cool_off: Duration,
    /// One attempt's limit; past it the attempt failed.
    pub timeout: Duration,
    /// The least success rate (percent) of each category.
    pub thresholds: BTreeMap<String, f64>,
}

/// The categories a `connect` command reports, in the order reports list
/// them, with their default thresholds (percent).
pub const MATRIX_CATEGORIES: [(&str, f64); 3] = [
    ("direct", 99.0),
    ("nat-traversed", 85.0),
    ("relayed", 100.0),
];

/// A `check` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckStage {
    /// The stage's name; the result is filed under it.
    pub name: String,
    pub by: CheckBy,
}

/// What judges a `check` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CheckBy {
    /// A checker program. It gets the run's artifact directory as its last
    /// argument (and in `GAUNTLET_RUN_DIR`) and prints one JSON result
    /// object.
    Program {
        /// Argv, or a shell line to which the directory is passed as `"$@"`.
        run: Command,
        /// Past this the program is killed and the verdict is `unknown`.
        timeout: Duration,
    },
    /// A built-in checker (`linearizable`, `counter`, ...) over a history
    /// file (JSONL or Jepsen EDN).
    Builtin {
        /// The registered name, checked when the plan loads.
        checker: String,
        /// The history; a relative path is relative to the run's
        /// artifact directory.
        history: PathBuf,
    },
}

impl StageKind {
    /// The word used in the plan and the store.
    pub fn word(&self) -> &'static str {
        match self {
            StageKind::Up { .. } => "up",
            StageKind::Command(_) => "command",
            StageKind::Probe { .. } => "probe",
            StageKind::Wait { .. } => "wait",
            StageKind::Down { .. } => "down",
            StageKind::Cycle { .. } => "cycle",
            StageKind::Check(_) => "check",
            StageKind::Matrix(_) => "matrix",
        }
    }
}

/// One field of a `probe` stage's `expected` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// An inventory field: `cpus`, `mem_total_mib`, `kernel`, `arch`, ...
    pub field: String,
    pub check: ExpectCheck,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExpectCheck {
    Equals(serde_json::Value),
    /// A number at least this.
    Min(f64),
    /// A number at most this.
    Max(f64),
    /// A string containing this.
    Contains(String),
}

/// How much a difference from `expected` matters. Only `Critical` fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The word used in plans and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
