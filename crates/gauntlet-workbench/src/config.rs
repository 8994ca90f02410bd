use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use gauntlet_check::Availability;
use gauntlet_nemesis::FaultKind;
use gauntlet_net::{Latency, Topology};

/// Everything a workbench run needs; `gauntlet test`'s flags map onto it.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub workload: String,
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
}

/// A configuration that cannot run; maps to exit code 254.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl TestConfig {
    /// A config with Maelstrom's defaults for everything but the workload
    /// and the program.
    pub fn new(workload: impl Into<String>, bin: impl Into<PathBuf>) -> TestConfig {
        TestConfig {
            workload: workload.into(),
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
            "bin": self.bin,
            "args": self.args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "node-count": self.node_count,
            "time-limit-s": self.time_limit.as_secs_f64(),
            "rate": self.rate,
            "concurrency": self.concurrency,
            "latency-ms": self.latency.mean_ms,
            "latency-dist": format!("{:?}", self.latency.dist).to_lowercase(),
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
        if gauntlet_workload::workload(&self.workload).is_none() {
            return bad(format!(
                "unknown workload {:?}; expected one of: {}",
                self.workload,
                gauntlet_workload::WORKLOAD_NAMES.join(", ")
            ));
        }
        if self.node_count == 0 {
            return bad("--node-count must be at least 1".into());
        }
        if self.concurrency == 0 {
            return bad("--concurrency must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return bad(format!("--rate must be a number >= 0, not {}", self.rate));
        }
        if !(self.latency.mean_ms.is_finite() && self.latency.mean_ms >= 0.0) {
            return bad(format!(
                "--latency must be >= 0 ms, not {}",
                self.latency.mean_ms
            ));
        }
        if !(self.nemesis_interval.is_finite() && self.nemesis_interval > 0.0) {
            return bad(format!(
                "--nemesis-interval must be > 0 s, not {}",
                self.nemesis_interval
            ));
        }
        match std::fs::metadata(&self.bin) {
            Err(e) => return bad(format!("--bin {}: {e}", self.bin.display())),
            Ok(m) if !m.is_file() => {
                return bad(format!("--bin {}: not a file", self.bin.display()));
            }
            Ok(m) => {
                use std::os::unix::fs::PermissionsExt;
                if m.permissions().mode() & 0o111 == 0 {
                    return bad(format!(
                        "--bin {}: not executable (chmod +x it)",
                        self.bin.display()
                    ));
                }
            }
        }
        Ok(())
    }
}
