//! Running a checker program: start it through gauntlet-node's backend
//! (own cgroup and process group, in the kill registry, parent-death
//! signal), give it the run's
//! directory, read a bounded stdout, keep the stderr tail, kill it at its
//! timeout, and judge what came back.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gauntlet_check::CheckResult;
use gauntlet_node::{LocalBackend, NodeSpec, Termination, run_to_end, signal_name};

use crate::judge::{Ended, judge};

/// How long a checker program may run unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of a checker program's stdout is read; a result object is
/// small, and a runaway program must not fill gauntlet's memory.
pub const STDOUT_LIMIT: usize = 1 << 20;

/// The environment variable that holds the run's directory (also the
/// program's last argument).
pub const RUN_DIR_ENV: &str = "GAUNTLET_RUN_DIR";

/// A checker program and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The name its result is filed under (and its `checker` when it
    /// prints none).
    pub name: String,
    /// The program; without a `/` it is looked up on `PATH`.
    pub program: PathBuf,
    /// Arguments before the run directory, which always comes last.
    pub args: Vec<OsString>,
    /// Its working directory; `None` inherits gauntlet's.
    pub cwd: Option<PathBuf>,
    /// Variables set on top of gauntlet's environment (`GAUNTLET_RUN_DIR`
    /// is added).
    pub env: Vec<(OsString, OsString)>,
    /// Past this it is killed, with its whole process group, and the
    /// verdict is `unknown`.
    pub timeout: Duration,
    /// How many bytes of stdout are read; more is `unknown`.
    pub stdout_limit: usize,
    /// Where its stderr goes, if anywhere (the tail is kept either way).
    pub stderr_log: Option<PathBuf>,
    /// How many of its last stderr lines go into the evidence.
    pub stderr_tail: usize,
}

impl ProgramSpec {
    /// `program` filed under `name`, with the default timeout and limits.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> ProgramSpec {
        ProgramSpec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            stdout_limit: STDOUT_LIMIT,
            stderr_log: None,
            stderr_tail: 20,
        }
    }

    /// The command line as a person would read it (for evidence and logs).
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What running a checker program gave.
#[derive(Debug, Clone)]
pub struct ProgramRun {
    /// Its verdict: what it printed, or `unknown` with why.
    pub result: CheckResult,
    /// How it ended.
    pub ended: Ended,
    /// How long it ran.
    pub duration: Duration,
}

/// Runs `spec` over `run_dir` and judges it. Never fails: a program that
/// cannot be started is an `unknown` result saying why.
///
/// Must be called within a tokio runtime (the pipes are registered with it).
pub async fn run_checker(spec: &ProgramSpec, run_dir: &Path) -> ProgramRun {
    let began = Instant::now();
    let collected = spawn_and_collect(spec, run_dir).await;
    let result = judge(
        &spec.name,
        &spec.display(),
        &collected.ended,
        &collected.stdout,
        collected.stdout_truncated,
        spec.stdout_limit,
        &collected.stderr_tail,
    );
    ProgramRun {
        result,
        ended: collected.ended,
        duration: began.elapsed(),
    }
}

/// What a finished program left.
struct Collected {
    ended: Ended,
    stdout: Vec<u8>,
    stdout_truncated: bool,
    stderr_tail: Vec<String>,
}

/// Runs the program to its end through gauntlet-node's `run_to_end`
/// (stdout bounded, killed whole past the timeout) and says how it ended.
async fn spawn_and_collect(spec: &ProgramSpec, run_dir: &Path) -> Collected {
    // The program may run in another directory (a plan's checks run in the
    // plan's): a relative run directory would point elsewhere there.
    let run_dir = std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_owned());
    let run_dir = run_dir.as_path();
    let mut node = NodeSpec::new(&spec.program);
    node.args = spec.args.clone();
    node.args.push(run_dir.as_os_str().to_owned());
    node.cwd = spec.cwd.clone();
    node.env = spec.env.clone();
    node.env
        .push((RUN_DIR_ENV.into(), run_dir.as_os_str().to_owned()));
    node.stderr_log = spec.stderr_log.clone();
    node.stderr_tail = spec.stderr_tail;
    let not_started = |why: String| Collected {
        ended: Ended::NotStarted(why),
        stdout: Vec::new(),
        stdout_truncated: false,
        stderr_tail: Vec::new(),
    };
    if let Some(log) = &spec.stderr_log {
        // A retried stage starts its log afresh.
        let _ = std::fs::remove_file(log);
    }
    // Through the backend's one run-to-completion: in the kill registry and
    // its own cgroup, stdin closed at once (it reads the run's files),
    // stdout bounded, killed whole at the timeout.
    let out = match run_to_end(&LocalBackend, &node, None, spec.timeout, spec.stdout_limit).await {
        Ok(out) => out,
        Err(e) => return not_started(e.to_string()),
    };
    let ended = if out.timed_out {
        Ended::TimedOut(spec.timeout)
    } else {
        match out.exit.termination {
            Termination::Exited(code) => Ended::Exited(code),
            Termination::Signaled { signal, .. } => Ended::Signaled(signal_name(signal)),
            Termination::Unknown => Ended::StatusLost,
        }
    };
    Collected {
        ended,
        stdout: out.stdout,
        stdout_truncated: out.stdout_truncated,
        stderr_tail: out.exit.stderr_tail,
    }
}
