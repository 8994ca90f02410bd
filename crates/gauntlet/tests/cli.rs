//! The command line as a user meets it: output files, bad input, exit codes,
//! and cleanup on Ctrl-C and SIGKILL.

mod common;

use std::time::{Duration, Instant};

use common::{TestRun, gauntlet, read_json, stderr};

#[test]
fn a_run_writes_every_artifact() {
    let run = TestRun::new("echo", "node-echo")
        .arg("--node-count", 2)
        .arg("--time-limit", 1)
        .arg("--rate", 30)
        .arg("--seed", 99);
    let out = run.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = run.latest();
    assert!(dir.starts_with(std::fs::canonicalize(run.store.path().join("echo")).unwrap()));
    let history = gauntlet_history::read_jsonl(&dir.join("history.jsonl")).unwrap();
    assert!(history.len() >= 10, "{} ops", history.len());
    assert!(
        history.windows(2).all(|w| w[0].time <= w[1].time),
        "history is in real-time order"
    );
    let first = std::fs::read_to_string(dir.join("messages.jsonl")).unwrap();
    let msg: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(msg["message"]["body"]["type"], "init");
    assert!(msg["delivered"].as_u64().unwrap() >= msg["sent"].as_u64().unwrap());
    assert!(dir.join("node-logs/n0.log").exists());
    assert!(dir.join("node-logs/n1.log").exists());
    let run_json = read_json(&dir.join("run.json"));
    assert_eq!(run_json["seed"], 99);
    assert_eq!(run_json["finished"], true);
    let results = read_json(&dir.join("results.json"));
    assert_eq!(results["valid"], true);
    let net = &results["net"];
    assert!(net["clients"]["msg-count"].as_u64().unwrap() > 0);
    assert!(
        results["latency"]["by-f"]["echo"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn bad_arguments_exit_254_and_say_what_is_wrong() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["test", "-w", "nope", "--bin", "/bin/cat"],
            "unknown workload \"nope\"",
        ),
        (
            &["test", "-w", "echo", "--bin", "/does/not/exist"],
            "/does/not/exist",
        ),
        (
            &[
                "test",
                "-w",
                "echo",
                "--bin",
                "/bin/cat",
                "--nemesis",
                "meteor",
            ],
            "meteor",
        ),
        (
            &[
                "test",
                "-w",
                "echo",
                "--bin",
                "/bin/cat",
                "--latency-dist",
                "gauss",
            ],
            "gauss",
        ),
        (
            &[
                "test",
                "-w",
                "echo",
                "--bin",
                "/bin/cat",
                "--concurrency",
                "x",
            ],
            "--concurrency",
        ),
        (
            &[
                "test",
                "-w",
                "echo",
                "--bin",
                "/bin/cat",
                "--availability",
                "2",
            ],
            "--availability",
        ),
        (&["test", "-w", "echo"], "--bin"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let out = std::process::Command::new(gauntlet())
            .args(*args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(254), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{args:?} should mention {needle:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_node_that_never_answers_init_is_named() {
    let store = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(gauntlet())
        .args([
            "test",
            "-w",
            "echo",
            "--bin",
            "/bin/sleep",
            "600",
            "--node-count",
            "2",
        ])
        .args(["--time-limit", "1", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("node n0 did not answer init within 10 s"),
        "{err}"
    );
    assert!(err.contains("node n1 did not answer init"), "{err}");
}

#[test]
fn help_has_examples() {
    let out = std::process::Command::new(gauntlet())
        .args(["test", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Examples:") && help.contains("--nemesis"),
        "{help}"
    );
}

/// Starts a long run and waits until its nodes are up.
fn start_long_run() -> (TestRun, std::process::Child) {
    let run = TestRun::new("broadcast", "node-broadcast")
        .arg("--node-count", 3)
        .arg("--time-limit", 60)
        .arg("--rate", 20)
        .arg("--nemesis", "pause")
        .arg("--nemesis-interval", 0.5);
    let child = run
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // gauntlet itself plus three nodes.
    while common::processes_with_marker(&run.marker).len() < 4 {
        assert!(Instant::now() < deadline, "nodes never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    (run, child)
}

#[test]
fn ctrl_c_tears_everything_down_and_keeps_the_results() {
    let (run, child) = start_long_run();
    let out = common::interrupt(child);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    common::assert_no_processes_with_marker(&run.marker);
    let results = run.results();
    assert!(
        results["checks"]["stats"]["count"].as_u64().unwrap() > 0,
        "{results}"
    );
    assert_eq!(
        read_json(&run.latest().join("run.json"))["interrupted"],
        true
    );
}

#[test]
fn sigkill_of_gauntlet_takes_the_nodes_with_it() {
    let (run, mut child) = start_long_run();
    child.kill().unwrap();
    child.wait().unwrap();
    common::assert_no_processes_with_marker(&run.marker);
}
