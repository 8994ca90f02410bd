//! Test commands: run in their own process group (through gauntlet-node,
//! so a Ctrl-C or a panic takes them down too), stdout and stderr kept as
//! artifacts, judged by exit status and `expect`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gauntlet_node::{Backend, LocalBackend, NodeSpec};
use gauntlet_plan::{CommandLine, TestCommand, no_tests_found};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

/// How many lines of a command's output a summary keeps.
const TAIL: usize = 20;

/// One test command's result, as stage summaries and reports show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestRecord {
    pub name: String,
    pub command: String,
    pub passed: bool,
    pub exit: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub timed_out: bool,
    pub no_tests_found: bool,
    /// Relative to the run's artifact directory.
    pub stdout_artifact: String,
    pub stderr_artifact: String,
    pub stdout_tail: Vec<String>,
    pub stderr_tail: Vec<String>,
    /// Why it failed, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl TestRecord {
    /// A test that did not run (or ran without its output files), with why.
    pub fn not_run(test: &TestCommand, failure: String) -> TestRecord {
        TestRecord {
            name: test.name.clone(),
            command: display(&test.run.command),
            passed: false,
            exit: None,
            signal: None,
            duration_ms: 0,
            timed_out: false,
            no_tests_found: false,
            stdout_artifact: String::new(),
            stderr_artifact: String::new(),
            stdout_tail: Vec::new(),
            stderr_tail: Vec::new(),
            failure: Some(failure),
        }
    }
}

/// The program and arguments of a command line (`sh -c` for a string).
pub(crate) fn argv(c: &CommandLine) -> (PathBuf, Vec<String>) {
    match c {
        CommandLine::Shell(s) => ("sh".into(), vec!["-c".into(), s.clone()]),
        CommandLine::Argv(v) => (
            v.first().cloned().unwrap_or_default().into(),
            v.iter().skip(1).cloned().collect(),
        ),
    }
}

/// How to start a plan's command: its argv (`sh -c` for a string), its
/// working directory and its environment; the caller adds logs and limits.
pub(crate) fn node_spec(command: &gauntlet_plan::Command) -> NodeSpec {
    let (program, args) = argv(&command.command);
    let mut spec = NodeSpec::new(program);
    spec.args = args.into_iter().map(Into::into).collect();
    spec.cwd = Some(command.cwd.clone());
    spec.env = command
        .env
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    spec
}

/// The command line as a person would type it.
pub(crate) fn display(c: &CommandLine) -> String {
    match c {
        CommandLine::Shell(s) => s.clone(),
        CommandLine::Argv(v) => v
            .iter()
            .map(|a| {
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"') {
                    format!("{a:?}")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The last `n` lines of a text file (empty if it cannot be read).
pub(crate) fn lines_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Runs a test command, writing its output to `<artifact_dir>/<rel>.stdout.log`
/// and `.stderr.log`. `Err` only when the output files cannot be created.
pub(crate) async fn run_test(
    test: &TestCommand,
    artifact_dir: &Path,
    rel: &str,
) -> std::io::Result<TestRecord> {
    let stdout_rel = format!("{rel}.stdout.log");
    let stderr_rel = format!("{rel}.stderr.log");
    let stdout_path = artifact_dir.join(&stdout_rel);
    let stderr_path = artifact_dir.join(&stderr_rel);
    if let Some(parent) = stdout_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // A retried stage starts its logs afresh.
    std::fs::write(&stdout_path, b"")?;
    std::fs::write(&stderr_path, b"")?;

    let mut spec = node_spec(&test.run);
    spec.stderr_log = Some(stderr_path.clone());

    let began = Instant::now();
    let mut record = TestRecord {
        stdout_artifact: stdout_rel,
        stderr_artifact: stderr_rel,
        failure: None,
        ..TestRecord::not_run(test, String::new())
    };
    let mut process = match LocalBackend.spawn(&spec) {
        Ok(p) => p,
        Err(e) => {
            record.failure = Some(format!("could not start: {e}"));
            std::fs::write(&stderr_path, format!("gauntlet: could not start: {e}\n"))?;
            record.stderr_tail = lines_tail(&stderr_path, TAIL);
            return Ok(record);
        }
    };
    drop(process.take_stdin());
    let copier = process.take_stdout().map(|mut out| {
        let path = stdout_path.clone();
        tokio::spawn(async move {
            if let Ok(mut file) = tokio::fs::File::create(&path).await {
                let _ = tokio::io::copy(&mut out, &mut file).await;
                let _ = file.flush().await;
            }
        })
    });
    let exit = match tokio::time::timeout(test.timeout, process.wait()).await {
        Ok(exit) => Some(exit),
        Err(_) => {
            let _ = process.kill();
            process.wait().await;
            None
        }
    };
    if let Some(copier) = copier {
        // The group is gone, so the pipe closes; do not wait forever on a
        // grandchild that escaped the group and holds it open.
        let _ = tokio::time::timeout(Duration::from_secs(2), copier).await;
    }
    record.duration_ms = began.elapsed().as_millis() as u64;
    record.stdout_tail = lines_tail(&stdout_path, TAIL);
    record.stderr_tail = lines_tail(&stderr_path, TAIL);
    let Some(exit) = exit else {
        record.timed_out = true;
        record.failure = Some(format!(
            "timed out after {:.0} s and was killed",
            test.timeout.as_secs_f64()
        ));
        return Ok(record);
    };
    record.exit = exit.termination.code();
    record.signal = exit.termination.signal();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    if let Some(code) = record.exit {
        record.no_tests_found = no_tests_found(code, &stdout, &stderr);
    }
    record.failure = match record.exit {
        None => Some(format!("killed by {}", exit.termination)),
        Some(code) if code != test.expect.exit => {
            Some(format!("exit status {code}, expected {}", test.expect.exit))
        }
        Some(_) => match &test.expect.stdout_contains {
            Some(want) if !stdout.contains(want.as_str()) => {
                Some(format!("stdout does not contain {want:?}"))
            }
            _ => None,
        },
    };
    // pytest's "no tests collected" (exit 5) is not a failure but a
    // finding: a module with no tests is WARN, not FAIL.
    if record.no_tests_found && record.exit != Some(0) && test.expect.exit == 0 {
        record.failure = None;
    }
    record.passed = record.failure.is_none();
    Ok(record)
}
