use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gauntlet_check::Availability;
use gauntlet_nemesis::FaultKind;
use gauntlet_net::{Latency, Topology};
use gauntlet_node::{Backend, LocalBackend};
use gauntlet_workload::WorkloadOptions;

use crate::net::{MAX_MESSAGE_BYTES, NetLimits, PACKET_OVERHEAD};

/// Everything a workbench run needs; `gauntlet test`'s flags map onto it.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub workload: String,
    /// The workload generator's knobs (`--key-count`, `--max-txn-length`,
    /// `--max-writes-per-key`); the transactional workloads read them.
    pub workload_options: WorkloadOptions,
    /// The consistency models a transactional history is checked against
    /// (`--consistency-models`), as given: the checker knows the names.
    pub consistency_models: Vec<String>,
    /// The node program and its arguments.
    pub bin: PathBuf,
    pub args: Vec<OsString>,
    pub node_count: usize,
    /// Length of the main phase; setup and the final phase come on top.
    pub time_limit: Duration,
    /// Client requests per second across all workers; 0 for none.
    pub rate: f64,
    /// Client workers; worker `i` talks to node `i mod node_count`.
    pub concurrency: usize,
    pub latency: Latency,
    pub topology: Topology,
    pub nemesis: Vec<FaultKind>,
    /// Mean seconds between nemesis actions.
    pub nemesis_interval: f64,
    pub availability: Option<Availability>,
    pub log_stderr: bool,
    /// Draws the op mix, latencies and the nemesis schedule.
    pub seed: u64,
    /// Root of the store: the run goes to `<store>/<workload>/<run_name>/`,
    /// and `<store>/latest` and `<store>/<workload>/latest` point at it.
    pub store: PathBuf,
    /// The run directory's name (`gauntlet test` uses the store's run id;
    /// `<store>/<run_name>` links to the directory). Without one the run
    /// goes to `<store>/<workload>/<timestamp>/`.
    pub run_name: Option<String>,
    /// How long the final phase waits, after healing, before final reads.
    pub recovery: Duration,
    pub rpc_timeout: Duration,
    pub init_timeout: Duration,
    /// The command line, recorded in run.json so the run can be repeated.
    pub command_line: Vec<String>,
    /// Where the nodes run: local child processes by default; a network
    /// namespace, a container or an SSH host is one more backend, chosen
    /// by the caller, with nothing here to change.
    pub backend: Arc<dyn Backend>,
    /// Per-node backends (node `i` on `node_backends[i % len]`): nodes on
    /// the hosts of a network lab. Empty: every node on [`backend`](Self::backend).
    pub node_backends: Vec<Arc<dyn Backend>>,
    /// A real network the nodes also share (the lab's), whose executor
    /// carries out every partition together with the simulated network,
    /// so nodes cannot route around a cut.
    pub network: Option<RealNetwork>,
    /// Extra checkers (`--checker`), each filed in `results.json` under
    /// its name after the history is written.
    pub checkers: Vec<CheckerSpec>,
    /// How long each checker program may run (`--checker-timeout`).
    pub checker_timeout: Duration,
    /// How much the simulated network holds before it drops messages
    /// (`inbox-full`): per inbox and in all.
    pub net_limits: NetLimits,
}

/// The check names every run files its own results under; an extra
/// checker cannot take one.
pub(crate) const RESERVED_CHECKS: [&str; 5] =
    ["workload", "stats", "availability", "protocol", "crashes"];

/// One `--checker`: a built-in checker by name, or an external program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckerSpec {
    /// A built-in checker (`linearizable`, `counter`, ...), filed under its
    /// name.
    Builtin(String),
    /// A checker program, filed under `name`: it gets the run's directory
    /// and prints one result object.
    Program { name: String, program: PathBuf },
}

impl CheckerSpec {
    /// Reads a `--checker` value: `NAME=PROGRAM` is a program filed under
    /// NAME; a path with a `/` (`./lease.py`) is a program filed under its
    /// file name without the extension (`lease`); anything else is a
    /// built-in checker's name, and an unknown one is an error listing the
    /// known names.
    pub fn parse(text: &str) -> Result<CheckerSpec, ConfigError> {
        if let Some((name, program)) = text.split_once('=') {
            if !valid_check_name(name) {
                return Err(ConfigError(format!(
                    "--checker {text:?}: the name before `=` must be letters, digits, `-`, `_` or `.`"
                )));
            }
            if program.is_empty() {
                return Err(ConfigError(format!(
                    "--checker {text:?}: no program after `=`"
                )));
            }
            return Ok(CheckerSpec::Program {
                name: name.to_owned(),
                program: program.into(),
            });
        }
        if text.contains('/') {
            let program = PathBuf::from(text);
            let name = program
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|n| valid_check_name(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "--checker {text:?}: cannot name a check after this path; give NAME={text}"
                    ))
                })?;
            return Ok(CheckerSpec::Program { name, program });
        }
        let registry = crate::checkers::checkers(None);
        if registry.contains(text) {
            return Ok(CheckerSpec::Builtin(text.to_owned()));
        }
        let e = registry.get(text).err().expect("not registered");
        Err(ConfigError(format!(
            "--checker: {e}; a checker program is given as a path (./{text}) or as NAME=PROGRAM"
        )))
    }

    /// The name its result is filed under.
    pub fn name(&self) -> &str {
        match self {
            CheckerSpec::Builtin(name) | CheckerSpec::Program { name, .. } => name,
        }
    }
}

fn valid_check_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A program gauntlet will start: a file with an execute bit.
fn executable(flag: &str, path: &std::path::Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let bad = |m: String| Err(ConfigError(m));
    match std::fs::metadata(path) {
        Err(e) => bad(format!("{flag} {}: {e}", path.display())),
        Ok(m) if !m.is_file() => bad(format!("{flag} {}: not a file", path.display())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => bad(format!(
            "{flag} {}: not executable (chmod +x it)",
            path.display()
        )),
        Ok(_) => Ok(()),
    }
}

/// A configuration that cannot run; maps to exit code 254.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl TestConfig {
    /// The longest of the run's durations (time limit, recovery, timeouts,
    /// the nemesis interval): 365 days. Much longer ones overflow the clock
    /// arithmetic (`Instant + Duration`) that schedules them.
    pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
    /// The fewest client requests per second when there are any: the gap
    /// before each request is drawn on `[0, 2/rate)`, which must be a
    /// duration (1e-300 made it 2e300 s and panicked).
    pub const MIN_RATE: f64 = 0.001;
    /// The most client requests per second.
    pub const MAX_RATE: f64 = 1_000_000.0;
    /// The most nodes (each is a process with three pipes, and the
    /// partition matrix grows with the square of the count).
    pub const MAX_NODES: usize = 10_000;
    /// The most client workers.
    pub const MAX_CONCURRENCY: usize = 100_000;
    /// The shortest mean nemesis interval: a shorter one rounds to zero
    /// nanoseconds, and the nemesis would act without pause.
    pub const MIN_NEMESIS_INTERVAL_S: f64 = 0.001;

    /// A config with Maelstrom's defaults for everything but the workload
    /// and the program.
    pub fn new(workload: impl Into<String>, bin: impl Into<PathBuf>) -> TestConfig {
        TestConfig {
            workload: workload.into(),
            workload_options: WorkloadOptions::default(),
            consistency_models: vec!["strict-serializable".to_owned()],
            bin: bin.into(),
            args: Vec::new(),
            node_count: 5,
            time_limit: Duration::from_secs(60),
            rate: 5.0,
            concurrency: 5,
            latency: Latency::ZERO,
            topology: Topology::Grid,
            nemesis: Vec::new(),
            nemesis_interval: 10.0,
            availability: None,
            log_stderr: false,
            seed: 0,
            store: PathBuf::from("store"),
            run_name: None,
            recovery: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(5),
            init_timeout: Duration::from_secs(10),
            command_line: Vec::new(),
            backend: LocalBackend::shared(),
            node_backends: Vec::new(),
            network: None,
            checkers: Vec::new(),
            checker_timeout: gauntlet_check_program::DEFAULT_TIMEOUT,
            net_limits: NetLimits::default(),
        }
    }

    /// The settings of the run as recorded in `run.json` (and, by
    /// `gauntlet test`, as the stored run's plan text).
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "gauntlet-version": env!("CARGO_PKG_VERSION"),
            "command-line": self.command_line,
            "seed": self.seed,
            "workload": self.workload,
            "key-count": self.workload_options.key_count,
            "max-txn-length": self.workload_options.max_txn_length,
            "max-writes-per-key": self.workload_options.max_writes_per_key,
            "consistency-models": self.consistency_models,
            "bin": self.bin,
            "args": self.args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "node-count": self.node_count,
            "time-limit-s": self.time_limit.as_secs_f64(),
            "rate": self.rate,
            "concurrency": self.concurrency,
            "latency-ms": self.latency.mean_ms(),
            "latency-dist": format!("{:?}", self.latency.dist()).to_lowercase(),
            "topology": format!("{:?}", self.topology).to_lowercase(),
            "nemesis": self.nemesis.iter().map(|k| format!("{k:?}").to_lowercase()).collect::<Vec<_>>(),
            "nemesis-interval-s": self.nemesis_interval,
            "recovery-s": self.recovery.as_secs_f64(),
        })
    }

    /// Checks the configuration without running anything; a bad one is
    /// what [`run_test`](crate::run_test) would refuse with exit 254.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError(m));
        if let Err(e) = gauntlet_workload::workload(&self.workload, &self.workload_options) {
            return bad(e.to_string());
        }
        // Nothing here would carry a clock fault out: the nodes run
        // without libfaketime. Refused rather than skipped in silence.
        if self.nemesis.contains(&FaultKind::Clock) {
            return bad(
                "--nemesis clock needs real processes under libfaketime: it is a cluster test's \
                 fault (gauntlet test cluster.toml, see docs/cluster.md)"
                    .to_owned(),
            );
        }
        if self.consistency_models.is_empty()
            || self.consistency_models.iter().any(|m| m.trim().is_empty())
        {
            return bad(format!(
                "--consistency-models needs one or more model names, comma-separated, not {:?}",
                self.consistency_models.join(",")
            ));
        }
        // Judged before the run, whatever the workload: a typo must not
        // cost a run that then cannot be checked.
        if let Some(e) = self
            .consistency_models
            .iter()
            .find_map(|m| gauntlet_txn::parse_model(m).err())
        {
            return bad(format!("--consistency-models: {e}"));
        }
        let largest = MAX_MESSAGE_BYTES + 1024 + PACKET_OVERHEAD;
        if self.net_limits.inbox_bytes < largest
            || self.net_limits.network_bytes < self.net_limits.inbox_bytes
        {
            return bad(format!(
                "the network's limits must hold the largest message ({largest} bytes) in an \
                 inbox, and the network at least an inbox: inbox {} bytes, network {} bytes",
                self.net_limits.inbox_bytes, self.net_limits.network_bytes
            ));
        }
        if !(1..=Self::MAX_NODES).contains(&self.node_count) {
            return bad(format!(
                "--node-count must be from 1 to {}, not {}",
                Self::MAX_NODES,
                self.node_count
            ));
        }
        if !(1..=Self::MAX_CONCURRENCY).contains(&self.concurrency) {
            return bad(format!(
                "--concurrency must be from 1 to {} workers, not {}",
                Self::MAX_CONCURRENCY,
                self.concurrency
            ));
        }
        // Written so that NaN fails too.
        if !(self.rate == 0.0 || (Self::MIN_RATE..=Self::MAX_RATE).contains(&self.rate)) {
            return bad(format!(
                "--rate must be 0 (no requests) or from {} to {} requests per second, not {}",
                Self::MIN_RATE,
                Self::MAX_RATE,
                self.rate
            ));
        }
        let max_s = Self::MAX_DURATION.as_secs_f64();
        if !(Self::MIN_NEMESIS_INTERVAL_S..=max_s).contains(&self.nemesis_interval) {
            return bad(format!(
                "--nemesis-interval must be from {} to {max_s} s, not {}",
                Self::MIN_NEMESIS_INTERVAL_S,
                self.nemesis_interval
            ));
        }
        for (flag, d) in [
            ("--time-limit", self.time_limit),
            ("--recovery-time", self.recovery),
            ("--rpc-timeout", self.rpc_timeout),
            ("--checker-timeout", self.checker_timeout),
            ("the init timeout", self.init_timeout),
        ] {
            if d > Self::MAX_DURATION {
                return bad(format!(
                    "{flag} must be at most {max_s} s (365 days), not {} s",
                    d.as_secs_f64()
                ));
            }
        }
        if self.rpc_timeout.is_zero() {
            return bad("--rpc-timeout must be more than 0 s".into());
        }
        executable("--bin", &self.bin)?;
        let registry = crate::checkers::checkers(None);
        let mut names: Vec<&str> = Vec::new();
        for spec in &self.checkers {
            let name = spec.name();
            if RESERVED_CHECKS.contains(&name) {
                return bad(format!(
                    "--checker {name}: every run already files a check named {name:?}; give the checker another name (NAME=PROGRAM)"
                ));
            }
            if names.contains(&name) {
                return bad(format!(
                    "--checker: two checkers are named {name:?}; name them apart with NAME=PROGRAM"
                ));
            }
            names.push(name);
            match spec {
                CheckerSpec::Program { program, .. } => {
                    executable(&format!("--checker {name}:"), program)?;
                }
                // A config built in code skips `parse`; the lookup at the
                // end of the run must not be the first to find out.
                CheckerSpec::Builtin(name) => {
                    if let Err(e) = registry.get(name) {
                        return bad(format!("--checker: {e}"));
                    }
                }
            }
        }
        if self.checker_timeout.is_zero() {
            return bad("--checker-timeout must be more than 0 s".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_specs_read_as_names_paths_or_name_equals_program() {
        assert_eq!(
            CheckerSpec::parse("linearizable").unwrap(),
            CheckerSpec::Builtin("linearizable".into())
        );
        assert_eq!(
            CheckerSpec::parse("./checks/lease.py").unwrap(),
            CheckerSpec::Program {
                name: "lease".into(),
                program: "./checks/lease.py".into()
            }
        );
        assert_eq!(
            CheckerSpec::parse("fences=/opt/x/check").unwrap(),
            CheckerSpec::Program {
                name: "fences".into(),
                program: "/opt/x/check".into()
            }
        );
        let e = CheckerSpec::parse("lease.py").unwrap_err().to_string();
        assert!(
            e.contains("unknown checker \"lease.py\"")
                && e.contains("linearizable")
                && e.contains("./lease.py"),
            "{e}"
        );
        assert!(CheckerSpec::parse("=./x").is_err());
        assert!(CheckerSpec::parse("a b=./x").is_err());
        assert!(CheckerSpec::parse("x=").is_err());
    }

    #[test]
    fn validate_rejects_unknown_builtins_reserved_and_duplicate_names() {
        let mut cfg = TestConfig::new("echo", "/bin/sh");
        cfg.checkers = vec![CheckerSpec::Builtin("nope".into())];
        assert!(
            cfg.validate()
                .unwrap_err()
                .0
                .contains("unknown checker \"nope\"")
        );
        cfg.checkers = vec![CheckerSpec::Builtin("stats".into())];
        assert!(cfg.validate().unwrap_err().0.contains("already files"));
        cfg.checkers = vec![
            CheckerSpec::Builtin("counter".into()),
            CheckerSpec::Program {
                name: "counter".into(),
                program: "/bin/sh".into(),
            },
        ];
        assert!(cfg.validate().unwrap_err().0.contains("two checkers"));
        cfg.checkers = vec![CheckerSpec::Builtin("counter".into())];
        assert!(cfg.validate().is_ok());
    }

    /// Values the run's clock and RNG arithmetic cannot take are refused
    /// here, naming the option, instead of panicking (or wrapping) mid-run.
    #[test]
    fn validate_refuses_numbers_out_of_range() {
        let base = TestConfig::new("echo", "/bin/sh");
        assert!(base.validate().is_ok());
        type Change = fn(&mut TestConfig);
        let cases: Vec<(&str, Change)> = vec![
            ("--node-count", |c| c.node_count = 0),
            ("--node-count", |c| c.node_count = 10_001),
            ("--concurrency", |c| c.concurrency = 0),
            ("--concurrency", |c| c.concurrency = usize::MAX),
            ("--rate", |c| c.rate = 1e-300),
            ("--rate", |c| c.rate = f64::NAN),
            ("--rate", |c| c.rate = -1.0),
            ("--rate", |c| c.rate = 1e7),
            ("--nemesis-interval", |c| c.nemesis_interval = 0.0),
            ("--nemesis-interval", |c| c.nemesis_interval = 1e20),
            ("--time-limit", |c| {
                c.time_limit = Duration::from_secs(u64::MAX)
            }),
            ("--recovery-time", |c| {
                c.recovery = TestConfig::MAX_DURATION * 2
            }),
            ("--rpc-timeout", |c| c.rpc_timeout = Duration::ZERO),
            ("--key-count", |c| c.workload_options.key_count = 0),
            ("--max-txn-length", |c| {
                c.workload_options.max_txn_length = WorkloadOptions::MAX_TXN_LENGTH + 1
            }),
            ("--max-writes-per-key", |c| {
                c.workload_options.max_writes_per_key = 0
            }),
            ("--consistency-models", |c| c.consistency_models.clear()),
            ("--consistency-models", |c| {
                c.consistency_models = vec!["serializable".into(), " ".into()]
            }),
            ("unknown workload", |c| c.workload = "txn-kafka".into()),
            ("--nemesis clock", |c| c.nemesis = vec![FaultKind::Clock]),
        ];
        for (flag, change) in cases {
            let mut cfg = base.clone();
            change(&mut cfg);
            let e = cfg.validate().unwrap_err().0;
            assert!(e.starts_with(flag), "{flag}: {e}");
        }
        let mut edge = base.clone();
        edge.rate = 0.0;
        edge.time_limit = TestConfig::MAX_DURATION;
        edge.nemesis_interval = TestConfig::MAX_DURATION.as_secs_f64();
        assert!(edge.validate().is_ok());
    }
}

/// The executor of a real network the nodes share (see
/// [`TestConfig::network`]).
#[derive(Clone)]
pub struct RealNetwork(pub Arc<dyn gauntlet_nemesis::FaultExecutor>);

impl std::fmt::Debug for RealNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RealNetwork(..)")
    }
}
