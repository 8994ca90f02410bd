//! The kafka workload end to end: `gauntlet test -w kafka` against the
//! bundled kafka nodes, judged by the `kafka` checker (gauntlet-txn's
//! `kafka`). The correct nodes are the negative control of the broken one.

mod common;

use std::time::{Duration, Instant};

use common::{TestRun, stdout};
use serde_json::Value;

/// Runs the example on `nodes` nodes with 2 clients each, checks the exit
/// code against `valid`, and returns the workload check and the history.
fn run(example: &str, nodes: u64, valid: bool) -> (Value, Vec<Value>) {
    let started = Instant::now();
    let run = TestRun::new("kafka", example)
        .arg("--node-count", nodes)
        .arg("--concurrency", 2 * nodes)
        .arg("--time-limit", 5)
        .arg("--rate", 200)
        .arg("--recovery-time", 1)
        .arg("--seed", 7);
    let out = run.run();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let results = run.results();
    assert_eq!(
        out.status.code(),
        Some(if valid { 0 } else { 1 }),
        "{}\n{results:#}",
        stdout(&out)
    );
    let check = results["checks"]["workload"].clone();
    assert_eq!(check["checker"], "kafka", "{results:#}");
    assert_eq!(check["valid"], valid, "{check:#}");
    for other in ["protocol", "crashes", "stats"] {
        assert_eq!(
            results["checks"][other]["valid"], true,
            "{other}: {results:#}"
        );
    }
    let text = std::fs::read_to_string(run.latest().join("history.jsonl")).unwrap();
    let history = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (check, history)
}

/// Ok completions of `f` in the history.
fn ok(history: &[Value], f: &str) -> usize {
    history
        .iter()
        .filter(|op| op["f"] == f && op["type"] == "ok")
        .count()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// A correct node: valid, with sends and polls in the history and the
/// final polls caught up (nothing left unjudged).
fn assert_clean(example: &str, nodes: u64) {
    let (check, history) = run(example, nodes, true);
    assert!(strings(&check["error-types"]).is_empty(), "{check:#}");
    let (sends, polls) = (ok(&history, "send"), ok(&history, "poll"));
    assert!(sends > 200 && polls > 200, "{sends} sends, {polls} polls");
    assert_eq!(check["send-ok-count"], sends);
    assert_eq!(check["poll-ok-count"], polls);
    assert!(check["polled-message-count"].as_u64().unwrap() > sends as u64);
    assert_eq!(
        check["final-polls"]["judged-on"], "final-polls",
        "{check:#}"
    );
    assert_eq!(check["final-polls"]["caught-up"], true, "{check:#}");
    assert_eq!(check["cycle-search"]["searched"], true, "{check:#}");
    // The final phase ran: a crash, an assign and polls, all marked final.
    let finals: Vec<&Value> = history.iter().filter(|op| op["final"] == true).collect();
    for f in ["crash", "assign", "poll"] {
        assert!(finals.iter().any(|op| op["f"] == f), "no final {f}");
    }
}

#[test]
fn one_in_memory_node_is_valid() {
    assert_clean("node-kafka-single", 1);
}

#[test]
fn lin_kv_backed_nodes_are_valid_on_two_nodes() {
    assert_clean("node-kafka-lin-kv", 2);
}

#[test]
fn polls_out_of_offset_order_are_caught() {
    let (check, _) = run("broken-kafka-reorder", 1, false);
    let bad = strings(&check["bad-error-types"]);
    assert!(bad.contains(&"int-nonmonotonic-poll"), "{check:#}");
    assert!(check["int-nonmonotonic-poll"]["count"].as_u64().unwrap() > 0);
    let example = &check["int-nonmonotonic-poll"]["errs"][0];
    assert!(example["ops"][0].is_u64(), "{example:#}");
    let evidence = check["evidence"].as_array().unwrap();
    assert!(
        evidence.iter().any(|e| e["type"] == "int-nonmonotonic-poll"
            && e["problem"].as_str().unwrap().contains("not in log order")),
        "{check:#}"
    );
}
