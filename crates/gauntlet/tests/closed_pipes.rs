//! Output to a closed pipe ends the printing, never the run, and never its
//! record: `gauntlet run plan.toml | true` and `... 2>&1 | head -1` exit
//! with the run's verdict, print no panic, and leave the run `finished` (or
//! `held`) in the store, not `interrupted`.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{TestRun, assert_no_processes_with_marker, gauntlet, stderr};
use serde_json::Value;

/// A pipe whose reader is already gone: every write to it fails (EPIPE).
fn closed() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

/// The runs of the store at `dir`, as `gauntlet runs --json` lists them.
fn runs(dir: &Path) -> Vec<Value> {
    let out = Command::new(gauntlet())
        .args(["runs", "--json", "--store"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The one run of the store: its state and result.
fn only_run(dir: &Path) -> (String, Value) {
    let runs = runs(dir);
    assert_eq!(runs.len(), 1, "{runs:?}");
    (
        runs[0]["state"].as_str().unwrap().to_owned(),
        runs[0]["result"].clone(),
    )
}

const PASSING: &str = r#"
[[stage]]
name = "first"
kind = "command"
command = "echo first"

[[stage]]
name = "pause"
kind = "wait"
duration = "100ms"

[[stage]]
name = "second"
kind = "command"
command = "echo second"
"#;

const HOLDING: &str = r#"
[[stage]]
name = "fine"
kind = "command"
command = "true"

[[stage]]
name = "broken"
kind = "command"
command = "exit 3"
"#;

struct Plan {
    dir: tempfile::TempDir,
    marker: String,
}

impl Plan {
    fn new(text: &str) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plan.toml"), text).unwrap();
        let marker = format!(
            "gauntlet-pipes-{}-{}",
            std::process::id(),
            common::free_port()
        );
        Plan { dir, marker }
    }

    fn store(&self) -> std::path::PathBuf {
        self.dir.path().join("store")
    }

    /// `gauntlet run plan.toml --store STORE` (not quiet: progress lines
    /// on stderr, the outcome on stdout).
    fn command(&self) -> Command {
        let mut cmd = Command::new(gauntlet());
        cmd.arg("run")
            .arg(self.dir.path().join("plan.toml"))
            .arg("--store")
            .arg(self.store())
            .env("GAUNTLET_TEST_MARKER", &self.marker);
        cmd
    }

    fn run(&self, stdout: Stdio, stderr: Stdio) -> Output {
        let out = self
            .command()
            .stdout(stdout)
            .stderr(stderr)
            .output()
            .unwrap();
        assert_no_processes_with_marker(&self.marker);
        out
    }
}

#[test]
fn a_plan_run_with_a_closed_stdout_ends_with_its_verdict_and_is_finished() {
    let plan = Plan::new(PASSING);
    let out = plan.run(closed(), Stdio::piped());
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    // The progress on stderr went on after stdout closed.
    assert!(err.contains("second passed"), "{err}");
    assert_eq!(
        only_run(&plan.store()),
        ("finished".into(), Value::Bool(true))
    );
}

#[test]
fn a_plan_run_with_both_streams_closed_ends_with_its_verdict_and_is_finished() {
    let plan = Plan::new(PASSING);
    let out = plan.run(closed(), closed());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        only_run(&plan.store()),
        ("finished".into(), Value::Bool(true))
    );
}

/// A non-zero verdict stays the exit code: a held run exits 1, held.
#[test]
fn a_held_run_with_closed_streams_still_exits_1_and_is_held() {
    let plan = Plan::new(HOLDING);
    let out = plan.run(closed(), closed());
    assert_eq!(out.status.code(), Some(1));
    let (state, _) = only_run(&plan.store());
    assert_eq!(state, "held");
}

/// `gauntlet run plan.toml 2>&1 | head -1`: both streams into one pipe
/// whose reader leaves after the first line, while the run goes on.
#[test]
fn a_reader_that_leaves_after_one_line_does_not_stop_the_run() {
    let plan = Plan::new(PASSING);
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut child = plan
        .command()
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    // The command holds the only writers now; read one line, then leave.
    let mut line = Vec::new();
    let mut byte = [0u8];
    while reader.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    assert!(!line.is_empty());
    drop(reader);
    let status = child.wait().unwrap();
    assert_no_processes_with_marker(&plan.marker);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        only_run(&plan.store()),
        ("finished".into(), Value::Bool(true))
    );
}

fn echo_test() -> TestRun {
    TestRun::new("echo", "node-echo")
        .arg("--node-count", 2)
        .arg("--time-limit", 1)
        .arg("--rate", 20)
}

#[test]
fn a_test_with_a_closed_stdout_ends_with_its_verdict_and_is_finished() {
    for json in [false, true] {
        let mut run = echo_test();
        if json {
            run.args.push("--json".into());
        }
        let out = run
            .command()
            .stdout(closed())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_no_processes_with_marker(&run.marker);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "json {json}: {err}");
        assert_eq!(out.status.code(), Some(0), "json {json}: {err}");
        assert_eq!(
            only_run(run.store.path()),
            ("finished".into(), Value::Bool(true))
        );
    }
}

fn chatty_test() -> TestRun {
    // Enough ops in a short run that every check has something to judge
    // even on a loaded machine (at the default rate of 5 a second, a 1 s
    // run once had too few and ended `unknown`).
    let mut run = TestRun::new("broadcast", "node-broadcast")
        .arg("--node-count", 2)
        .arg("--time-limit", 2)
        .arg("--rate", 20)
        .arg("--recovery-time", 1);
    run.args.extend(["--log-stderr".into(), "--quiet".into()]);
    run
}

/// `--log-stderr` lines reach stderr (through the run's events now, the
/// node library no longer prints); with both streams closed the run still
/// ends with its verdict.
#[test]
fn node_stderr_is_echoed_and_a_closed_stderr_does_not_stop_the_test() {
    let run = chatty_test();
    let out = run.run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("n0 n0: neighbours"), "{err}");
    assert!(err.contains("n1 n1: neighbours"), "{err}");

    let run = chatty_test();
    let out = run
        .command()
        .stdout(closed())
        .stderr(closed())
        .output()
        .unwrap();
    assert_no_processes_with_marker(&run.marker);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        only_run(run.store.path()),
        ("finished".into(), Value::Bool(true))
    );
}

/// The commands that only read the store print and exit 0 too.
#[test]
fn reading_commands_survive_a_closed_stdout() {
    let plan = Plan::new(PASSING);
    assert_eq!(
        plan.run(Stdio::null(), Stdio::null()).status.code(),
        Some(0)
    );
    let store = plan.store();
    let store = store.to_str().unwrap();
    for args in [
        vec!["runs", "--store", store],
        vec!["runs", "--json", "--store", store],
        vec!["show", "latest", "--store", store],
        vec!["show", "latest", "--json", "--store", store],
        vec!["report", "latest", "--store", store],
        vec!["test", "--help"],
    ] {
        let out = Command::new(gauntlet())
            .args(&args)
            .stdout(closed())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}
