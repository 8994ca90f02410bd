//! `gauntlet check --model list-append|rw-register` on small Jepsen EDN
//! and JSONL histories with known verdicts: a write skew next to the same
//! transactions run one after the other (the negative control).

mod common;

use std::process::{Command, Output};

use common::{gauntlet, stderr, stdout};

fn check(args: &[&str]) -> Output {
    Command::new(gauntlet())
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

/// T1 appends to key 1 and reads key 2 empty while T2 appends to key 2
/// and reads key 1 empty; a later read shows both appends: a write skew
/// (G2-item), which serializability rules out and read committed allows.
const WRITE_SKEW: &str = r#"{:type :invoke, :f :txn, :value [[:append 1 1] [:r 2 nil]], :process 0, :time 10, :index 0}
{:type :invoke, :f :txn, :value [[:append 2 1] [:r 1 nil]], :process 1, :time 11, :index 1}
{:type :ok, :f :txn, :value [[:append 1 1] [:r 2 []]], :process 0, :time 20, :index 2}
{:type :ok, :f :txn, :value [[:append 2 1] [:r 1 []]], :process 1, :time 21, :index 3}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]], :process 0, :time 30, :index 4}
{:type :ok, :f :txn, :value [[:r 1 [1]] [:r 2 [1]]], :process 0, :time 40, :index 5}
"#;

/// The same, but T2 saw T1's append: a serial order exists.
const SERIAL: &str = r#"{:type :invoke, :f :txn, :value [[:append 1 1] [:r 2 nil]], :process 0, :time 10, :index 0}
{:type :ok, :f :txn, :value [[:append 1 1] [:r 2 []]], :process 0, :time 20, :index 1}
{:type :invoke, :f :txn, :value [[:append 2 1] [:r 1 nil]], :process 1, :time 30, :index 2}
{:type :ok, :f :txn, :value [[:append 2 1] [:r 1 [1]]], :process 1, :time 40, :index 3}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]], :process 0, :time 50, :index 4}
{:type :ok, :f :txn, :value [[:r 1 [1]] [:r 2 [1]]], :process 0, :time 60, :index 5}
"#;

#[test]
fn a_write_skew_in_a_jepsen_history_is_named_and_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.edn");
    std::fs::write(&history, WRITE_SKEW).unwrap();
    let html = dir.path().join("anomalies");
    let out = check(&[
        "--model",
        "list-append",
        "--consistency-models",
        "serializable , read-committed",
        history.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("G2-item: 1"), "{text}");
    assert!(
        text.contains("serializable: RULED OUT by G2-item"),
        "{text}"
    );
    assert!(text.contains("read-committed: holds"), "{text}");
    // Each edge in words.
    assert!(text.contains("read key 2 as [], without 1"), "{text}");
    let page = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(
        page.contains("G2-item #1") && page.contains("<svg"),
        "{page}"
    );
    assert!(html.join("G2-item-1.svg").is_file());

    let json = check(&[
        "--model",
        "list-append",
        history.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(json.status.code(), Some(1));
    let result: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(result["valid"], false);
    assert_eq!(result["checker"], "list-append");
    assert_eq!(result["anomaly-types"], serde_json::json!(["G2-item"]));
}

#[test]
fn the_serial_control_is_valid_and_nothing_committed_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.edn");
    std::fs::write(&history, SERIAL).unwrap();
    let out = check(&["--model", "list-append", history.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("strict-serializable: holds"));

    let failed = dir.path().join("failed.jsonl");
    std::fs::write(
        &failed,
        r#"{"type":"invoke","f":"txn","value":[["w",1,1]],"process":0}
{"type":"fail","f":"txn","value":[["w",1,1]],"process":0}
"#,
    )
    .unwrap();
    let out = check(&["--model", "rw-register", failed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("nothing to check"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_transactions_and_model_names_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("bad.jsonl");
    std::fs::write(
        &history,
        "{\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,1]],\"process\":0}\n\
         {\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"append\",\"one\",1]],\"process\":0}\n",
    )
    .unwrap();
    let out = check(&["--model", "list-append", history.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254));
    assert!(stderr(&out).contains("bad.jsonl:2:"), "{}", stderr(&out));

    let out = check(&[
        "--model",
        "list-append",
        "--consistency-models",
        "serialisable",
        history.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(254));
    assert!(stderr(&out).contains("serialisable"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("strict-serializable"),
        "{}",
        stderr(&out)
    );
}

/// `gauntlet bench elle` runs each case in a child process and reports
/// its figures; generated histories are strict serializable.
#[test]
fn bench_elle_reports_each_case() {
    let out = Command::new(gauntlet())
        .args([
            "bench",
            "elle",
            "--sizes",
            "300",
            "--clients",
            "2,5",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let figures: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let figures = figures.as_array().unwrap();
    assert_eq!(figures.len(), 2);
    for (f, p) in figures.iter().zip([2, 5]) {
        assert_eq!(f["txns"], 300);
        assert_eq!(f["processes"], p);
        assert_eq!(f["valid"], "true");
        assert!(f["peak_rss_mib"].as_f64().unwrap() > 0.0);
        assert!(f["check_seconds"].as_f64().is_some());
    }
}
