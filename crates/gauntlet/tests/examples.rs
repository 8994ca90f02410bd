//! Every bundled example, end to end through the real binary: the correct
//! nodes pass under partitions, kills and pauses; the broken ones fail for
//! the reason they were broken.

mod common;

use common::{TestRun, stderr, stdout};
use serde_json::Value;

/// A short run under every fault kind, with timeouts short enough that a
/// killed node costs little time.
fn faulty(workload: &str, example: &str, seed: u64) -> TestRun {
    TestRun::new(workload, example)
        .arg("--node-count", 3)
        .arg("--time-limit", 6)
        .arg("--rate", 40)
        .arg("--latency", 5)
        .arg("--nemesis", "partition,kill,pause")
        .arg("--nemesis-interval", 0.4)
        .arg("--rpc-timeout", 1)
        .arg("--recovery-time", 3)
        .arg("--seed", seed)
}

fn nemesis_fs(run: &TestRun) -> Vec<String> {
    let text = std::fs::read_to_string(run.latest().join("history.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|op| op["process"] == "nemesis")
        .map(|op| op["f"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_passes_under_every_fault(workload: &str, example: &str) {
    let run = faulty(workload, example, 11);
    let out = run.run();
    let results = run.results();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{example} should pass:\n{}\n{}",
        stdout(&out),
        serde_json::to_string_pretty(&results).unwrap()
    );
    assert_eq!(results["valid"], true);
    // The verdict only means something if the faults happened.
    let fs = nemesis_fs(&run);
    for f in ["start-partition", "kill", "start", "pause", "resume"] {
        assert!(
            fs.iter().any(|x| x == f),
            "no {f} in the run's nemesis events {fs:?}"
        );
    }
}

#[test]
fn echo_passes_under_faults() {
    assert_passes_under_every_fault("echo", "node-echo");
}

#[test]
fn unique_ids_pass_under_faults() {
    assert_passes_under_every_fault("unique-ids", "node-unique-ids");
}

#[test]
fn broadcast_gossip_passes_under_faults() {
    assert_passes_under_every_fault("broadcast", "node-broadcast");
}

#[test]
fn g_counter_passes_under_faults() {
    assert_passes_under_every_fault("g-counter", "node-g-counter");
}

#[test]
fn pn_counter_passes_under_faults() {
    assert_passes_under_every_fault("pn-counter", "node-pn-counter");
}

#[test]
fn wrong_echo_fails_naming_what_came_back() {
    let run = TestRun::new("echo", "broken-echo-wrong")
        .arg("--node-count", 1)
        .arg("--time-limit", 2)
        .arg("--rate", 20);
    let out = run.run();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let wl = &run.results()["checks"]["workload"];
    assert_eq!(wl["valid"], false);
    let e = &wl["evidence"][0];
    assert_eq!(e["problem"], "received a different message");
    assert_ne!(e["sent"], e["received"]);
    assert!(stdout(&out).contains("Analysis invalid"));
}

#[test]
fn broadcast_without_retries_loses_messages_under_partitions() {
    let run = TestRun::new("broadcast", "broken-broadcast-no-retry")
        .arg("--node-count", 5)
        .arg("--time-limit", 5)
        .arg("--rate", 50)
        .arg("--latency", 10)
        .arg("--nemesis", "partition")
        .arg("--nemesis-interval", 0.5)
        .arg("--recovery-time", 2)
        .arg("--seed", 3);
    let out = run.run();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let wl = &run.results()["checks"]["workload"];
    assert_eq!(wl["valid"], false);
    assert!(wl["lost-count"].as_u64().unwrap() > 0, "{wl}");
    // Messages the grudge dropped are in the journal.
    let journal = std::fs::read_to_string(run.latest().join("messages.jsonl")).unwrap();
    assert!(journal.contains("\"dropped\":\"partition\""));
}

#[test]
fn double_counting_counter_fails_its_final_reads() {
    let run = TestRun::new("g-counter", "broken-counter-double")
        .arg("--node-count", 2)
        .arg("--time-limit", 3)
        .arg("--rate", 30)
        .arg("--recovery-time", 1);
    let out = run.run();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let wl = &run.results()["checks"]["workload"];
    assert_eq!(wl["valid"], false);
    let acceptable = &wl["acceptable"][0];
    let reads = wl["final-reads"].as_array().unwrap();
    assert!(!reads.is_empty());
    assert!(
        reads.iter().any(|r| r.as_i64() > acceptable[1].as_i64()),
        "{wl}"
    );
}

#[test]
fn garbage_output_is_dropped_counted_and_fails_the_protocol_check() {
    let run = TestRun::new("echo", "broken-garbage")
        .arg("--node-count", 1)
        .arg("--time-limit", 2)
        .arg("--rate", 20);
    let out = run.run();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let results = run.results();
    // The node kept being read: its echoes still passed.
    assert_eq!(results["checks"]["workload"]["valid"], true);
    let protocol = &results["checks"]["protocol"];
    assert_eq!(protocol["valid"], false);
    assert!(
        protocol["by-class"]["not-json"].as_u64().unwrap() > 0,
        "{protocol}"
    );
    assert!(
        protocol["by-class"]["unknown-dest"].as_u64().unwrap() > 0,
        "{protocol}"
    );
    assert_eq!(protocol["evidence"][0]["node"], "n0");
    assert!(stderr(&out).contains("n0: dropped a bad line"));
}

#[test]
fn a_node_that_crashes_is_reported_and_the_run_goes_on() {
    let run = TestRun::new("echo", "broken-echo-crash")
        .arg("--node-count", 2)
        .arg("--time-limit", 3)
        .arg("--rate", 20)
        .arg("--rpc-timeout", 0.5);
    let out = run.run();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let crashes = &run.results()["checks"]["crashes"];
    assert_eq!(crashes["valid"], false);
    let first = &crashes["evidence"][0];
    assert!(first["node"].as_str().unwrap().starts_with('n'));
    assert_eq!(first["exit"], "exited with code 3");
    let tail = first["stderr_tail"].to_string();
    assert!(tail.contains("crashing on purpose"), "{first}");
    assert!(stderr(&out).contains("exited with code 3 while the run went on"));
}

#[test]
fn a_python_node_works_like_any_other() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python/echo.py");
    let store = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::gauntlet())
        .args(["test", "-w", "echo", "--bin"])
        .arg(&script)
        .args([
            "--node-count",
            "2",
            "--time-limit",
            "2",
            "--rate",
            "20",
            "--store",
        ])
        .arg(store.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let log = std::fs::read_to_string(store.path().join("latest/node-logs/n1.log")).unwrap();
    assert!(log.contains("n1: initialised"), "{log}");
}
