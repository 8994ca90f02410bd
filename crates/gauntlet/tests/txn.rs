//! The transactional workloads end to end: `gauntlet test -w txn-list-append`
//! and `-w txn-rw-register` against the bundled transaction nodes, judged
//! by the transaction checker (gauntlet-txn) and, independently, by simple
//! checks on the history itself that a correct node can never fail: the
//! correct transactor is the negative control of each broken one.

mod common;

use std::collections::HashMap;

use common::{TestRun, stdout};
use serde_json::Value;

/// Runs the example and checks the verdict: the workload check `valid`
/// (exit 0) or, for a broken node, invalid (exit 1) with its anomalies.
/// `extra` flags replace the defaults (2 nodes, 5 s, rate 50).
fn run(
    workload: &str,
    example: &str,
    seed: u64,
    extra: &[(&str, &str)],
    valid: bool,
) -> (TestRun, Vec<Value>, Value) {
    let mut run = TestRun::new(workload, example).arg("--seed", seed);
    for (flag, value) in [
        ("--node-count", "2"),
        ("--time-limit", "5"),
        ("--rate", "50"),
    ] {
        if !extra.iter().any(|(f, _)| *f == flag) {
            run = run.arg(flag, value);
        }
    }
    for (flag, value) in extra {
        run = run.arg(flag, value);
    }
    let out = run.run();
    let results = run.results();
    let code = if valid { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(code), "{}", stdout(&out));
    assert_eq!(results["checks"]["workload"]["valid"], valid, "{results:#}");
    assert_eq!(results["checks"]["protocol"]["valid"], true, "{results:#}");
    assert_eq!(results["checks"]["protocol"]["bad-line-count"], 0);
    assert_eq!(results["checks"]["crashes"]["valid"], true, "{results:#}");
    let text = std::fs::read_to_string(run.latest().join("history.jsonl")).unwrap();
    let history: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let workload_check = results["checks"]["workload"].clone();
    (run, history, workload_check)
}

/// The anomaly types the checker named.
fn anomaly_types(check: &Value) -> Vec<String> {
    check["anomaly-types"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

/// A transaction that completed ok, with its invoke's time.
struct Txn {
    invoked: u64,
    completed: u64,
    mops: Vec<Value>,
}

/// The ok transactions, after checking that every client op is a txn and
/// that no reply was malformed.
fn ok_txns(history: &[Value]) -> Vec<Txn> {
    let mut invoked: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    for op in history.iter().filter(|op| op["process"] != "nemesis") {
        assert_eq!(op["f"], "txn", "{op}");
        assert_ne!(op["error"][0], "malformed-response", "{op}");
        let process = op["process"].to_string();
        let time = op["time"].as_u64().unwrap();
        match op["type"].as_str().unwrap() {
            "invoke" => {
                for mop in op["value"].as_array().unwrap() {
                    if mop[0] == "r" {
                        assert!(mop[2].is_null(), "an invoke's read is null: {op}");
                    }
                }
                invoked.insert(process, time);
            }
            "ok" => out.push(Txn {
                invoked: invoked[&process],
                completed: time,
                mops: op["value"].as_array().unwrap().clone(),
            }),
            _ => {}
        }
    }
    out
}

/// What a history of list-append transactions shows that no serializable
/// (let alone read-committed) system may show.
#[derive(Debug, Default)]
struct ListAnomalies {
    /// Pairs of reads of one key, neither a prefix of the other.
    incompatible_order: usize,
    /// Appends that completed ok before a read of their key began, missing
    /// from that read.
    lost_appends: usize,
    /// Reads, and reads that returned a list.
    reads: usize,
    nonempty_reads: usize,
}

fn list_anomalies(txns: &[Txn]) -> ListAnomalies {
    let mut a = ListAnomalies::default();
    let mut reads: HashMap<String, Vec<(u64, Vec<Value>)>> = HashMap::new();
    let mut appends: Vec<(String, Value, u64)> = Vec::new();
    for t in txns {
        for mop in &t.mops {
            let key = mop[1].to_string();
            match mop[0].as_str().unwrap() {
                "r" => {
                    a.reads += 1;
                    let list = match &mop[2] {
                        Value::Null => Vec::new(),
                        Value::Array(items) => {
                            assert!(items.iter().all(Value::is_u64), "{mop}");
                            a.nonempty_reads += 1;
                            items.clone()
                        }
                        other => panic!("a list-append read of {other}"),
                    };
                    reads.entry(key).or_default().push((t.invoked, list));
                }
                "append" => appends.push((key, mop[2].clone(), t.completed)),
                f => panic!("micro-op {f} in list-append"),
            }
        }
    }
    for lists in reads.values() {
        for (i, (_, x)) in lists.iter().enumerate() {
            for (_, y) in &lists[i + 1..] {
                let (short, long) = if x.len() <= y.len() { (x, y) } else { (y, x) };
                if long[..short.len()] != short[..] {
                    a.incompatible_order += 1;
                }
            }
        }
    }
    for (key, value, completed) in &appends {
        let later = reads.get(key).into_iter().flatten();
        a.lost_appends += later
            .filter(|(invoked, list)| invoked > completed && !list.contains(value))
            .count();
    }
    a
}

/// Reads of a register that began after a write of it completed ok, and
/// still found nothing. A key is never deleted, so no linearizable store
/// returns null then.
fn registers_unwritten_after_a_write(txns: &[Txn]) -> (usize, usize) {
    let mut first_write: HashMap<String, u64> = HashMap::new();
    let mut reads = 0;
    for t in txns {
        for mop in &t.mops {
            match mop[0].as_str().unwrap() {
                "w" => {
                    let at = first_write.entry(mop[1].to_string()).or_insert(t.completed);
                    *at = (*at).min(t.completed);
                }
                "r" => {
                    reads += 1;
                    assert!(mop[2].is_null() || mop[2].is_u64(), "{mop}");
                }
                f => panic!("micro-op {f} in rw-register"),
            }
        }
    }
    let stale = txns
        .iter()
        .flat_map(|t| t.mops.iter().map(move |m| (t.invoked, m)))
        .filter(|(invoked, m)| {
            m[0] == "r"
                && m[2].is_null()
                && first_write
                    .get(&m[1].to_string())
                    .is_some_and(|w| w < invoked)
        })
        .count();
    (stale, reads)
}

#[test]
fn the_single_key_transactor_serves_list_append_cleanly() {
    let (run, history, check) = run("txn-list-append", "node-txn-single-key", 3, &[], true);
    assert_eq!(check["checker"], "list-append");
    assert!(check["ok-count"].as_u64().unwrap() > 100, "{check}");
    let txns = ok_txns(&history);
    assert!(txns.len() > 100, "{} ok txns", txns.len());
    let a = list_anomalies(&txns);
    assert!(a.nonempty_reads > 20, "{a:?}");
    assert_eq!((a.incompatible_order, a.lost_appends), (0, 0), "{a:?}");
    // The options are recorded with the run.
    let settings = common::read_json(&run.latest().join("run.json"));
    assert_eq!(settings["key-count"], 10);
    assert_eq!(settings["max-txn-length"], 4);
    assert_eq!(settings["consistency-models"][0], "strict-serializable");
}

#[test]
fn the_single_key_transactor_serves_rw_register_cleanly() {
    let (run, history, check) = run(
        "txn-rw-register",
        "node-txn-single-key",
        4,
        &[
            ("--key-count", "3"),
            ("--max-txn-length", "2"),
            ("--consistency-models", "serializable , read-committed"),
        ],
        true,
    );
    assert_eq!(check["checker"], "rw-register");
    let models: Vec<&str> = check["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["serializable", "read-committed"], "{check}");
    let txns = ok_txns(&history);
    assert!(txns.len() > 100, "{} ok txns", txns.len());
    assert!(txns.iter().all(|t| t.mops.len() <= 2));
    let nonnull = txns
        .iter()
        .flat_map(|t| &t.mops)
        .filter(|m| m[0] == "r" && m[2].is_u64())
        .count();
    assert!(nonnull > 20, "{nonnull} reads found a value");
    let (stale, reads) = registers_unwritten_after_a_write(&txns);
    assert!(reads > 50);
    assert_eq!(stale, 0);
    let settings = common::read_json(&run.latest().join("run.json"));
    assert_eq!(settings["key-count"], 3);
    assert_eq!(
        settings["consistency-models"],
        serde_json::json!(["serializable", "read-committed"])
    );
}

/// Each node sees only its own appends: the nodes' reads of a key disagree
/// on its order.
#[test]
fn a_stale_cache_reads_lists_in_incompatible_orders() {
    let (_run, history, check) = run("txn-list-append", "broken-txn-stale-cache", 3, &[], false);
    let types = anomaly_types(&check);
    assert!(
        types.contains(&"incompatible-order".to_owned()),
        "{types:?}"
    );
    // Not even read committed holds.
    assert!(
        check["not"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "read-committed"),
        "{check}"
    );
    let a = list_anomalies(&ok_txns(&history));
    assert!(a.incompatible_order > 0, "{a:?}");
    assert!(a.lost_appends > 0, "{a:?}");
}

#[test]
fn a_stale_cache_misses_registers_written_elsewhere() {
    let (_run, history, check) = run("txn-rw-register", "broken-txn-stale-cache", 4, &[], false);
    assert!(!anomaly_types(&check).is_empty(), "{check}");
    let (stale, _) = registers_unwritten_after_a_write(&ok_txns(&history));
    assert!(stale > 0);
}

/// Micro-ops one by one, appends as read-then-write: concurrent
/// transactions overwrite each other's appends.
#[test]
fn transactions_without_atomicity_lose_appends() {
    let (_run, history, check) = run(
        "txn-list-append",
        "broken-txn-no-atomicity",
        5,
        &[("--concurrency", "4n"), ("--key-count", "3")],
        false,
    );
    assert!(!anomaly_types(&check).is_empty(), "{check}");
    let txns = ok_txns(&history);
    assert!(txns.len() > 100, "{} ok txns", txns.len());
    let a = list_anomalies(&txns);
    assert!(a.incompatible_order + a.lost_appends > 0, "{a:?}");
}

/// The same node on registers: only the checker can tell (reads of
/// another transaction's intermediate writes, or of values the reader's
/// own writes should have replaced).
#[test]
fn transactions_without_atomicity_break_registers() {
    let (_run, _history, check) = run(
        "txn-rw-register",
        "broken-txn-no-atomicity",
        6,
        &[("--concurrency", "4n"), ("--key-count", "3")],
        false,
    );
    let types = anomaly_types(&check);
    assert!(!types.is_empty(), "{check}");
    assert_eq!(check["models"][0]["valid"], false, "{check}");
}

/// Three nodes share one root: most transactions race for it, and the
/// losers start over. Every value lives in an `lww-kv` thunk, which the
/// replica asked may not have yet.
#[test]
fn the_multi_key_transactor_serves_list_append_cleanly() {
    let (_run, history, check) = run(
        "txn-list-append",
        "node-txn-multi-key",
        7,
        &[("--node-count", "3")],
        true,
    );
    assert_eq!(check["checker"], "list-append");
    let txns = ok_txns(&history);
    assert!(txns.len() > 100, "{} ok txns", txns.len());
    let a = list_anomalies(&txns);
    assert!(a.nonempty_reads > 20, "{a:?}");
    assert_eq!((a.incompatible_order, a.lost_appends), (0, 0), "{a:?}");
}

#[test]
fn the_multi_key_transactor_serves_rw_register_cleanly() {
    let (_run, history, check) = run(
        "txn-rw-register",
        "node-txn-multi-key",
        8,
        &[("--node-count", "3")],
        true,
    );
    assert_eq!(check["checker"], "rw-register");
    assert_eq!(
        check["models"][0]["model"], "strict-serializable",
        "{check}"
    );
    let txns = ok_txns(&history);
    assert!(txns.len() > 100, "{} ok txns", txns.len());
    let nonnull = txns
        .iter()
        .flat_map(|t| &t.mops)
        .filter(|m| m[0] == "r" && m[2].is_u64())
        .count();
    assert!(nonnull > 20, "{nonnull} reads found a value");
    let (stale, reads) = registers_unwritten_after_a_write(&txns);
    assert!(reads > 50);
    assert_eq!(stale, 0);
}

/// Partitions cut only node-to-node traffic; these transactors talk only
/// to the services, so they stay correct and keep serving through them.
fn valid_under_partitions(workload: &str, example: &str, seed: u64) {
    let (_run, history, check) = run(
        workload,
        example,
        seed,
        &[
            ("--nemesis", "partition"),
            ("--nemesis-interval", "2"),
            ("--node-count", "3"),
            ("--time-limit", "6"),
        ],
        true,
    );
    // The nemesis did partition the network during the run (its first
    // action comes within 2 x the interval, 4 s, inside the 6 s).
    let partitions = history
        .iter()
        .filter(|op| op["process"] == "nemesis" && op["type"] == "info")
        .filter(|op| op["f"] == "start-partition")
        .count();
    assert!(partitions > 0, "no partition in the history");
    let txns = ok_txns(&history);
    assert!(txns.len() > 100, "{} ok txns", txns.len());
    assert!(check["ok-count"].as_u64().unwrap() > 100, "{check}");
    if workload == "txn-list-append" {
        let a = list_anomalies(&txns);
        assert!(a.nonempty_reads > 20, "{a:?}");
        assert_eq!((a.incompatible_order, a.lost_appends), (0, 0), "{a:?}");
    } else {
        assert_eq!(registers_unwritten_after_a_write(&txns).0, 0);
    }
}

#[test]
fn the_single_key_transactor_stays_valid_under_partitions() {
    valid_under_partitions("txn-list-append", "node-txn-single-key", 9);
}

#[test]
fn the_multi_key_transactor_stays_valid_under_partitions() {
    valid_under_partitions("txn-list-append", "node-txn-multi-key", 10);
}

#[test]
fn the_multi_key_transactor_keeps_registers_valid_under_partitions() {
    valid_under_partitions("txn-rw-register", "node-txn-multi-key", 11);
}
