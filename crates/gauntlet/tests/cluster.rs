//! Jepsen mode on real systems: the cluster plans in examples/cluster/,
//! run by `gauntlet test PLAN` on lab hosts, reach the verdicts they
//! document — and a negative control beside each positive one (etcd's
//! serializable reads next to its linearizable ones, Redis without an
//! append-only file next to Redis fsyncing every write). Each run is the
//! shipped example with a shorter time limit; they need root, etcd and
//! redis-server, and say they skipped otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_no_processes_with_marker, gauntlet, have, lab_allowed, read_json, stdout};
use serde_json::Value;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/cluster/{name}"))
}

/// The example's text with `time_limit` and the nemesis changed.
fn shortened(name: &str, time_limit: &str, faults: Option<&str>) -> String {
    let text = std::fs::read_to_string(example(name)).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{name} has no {key} line"))
            .to_owned()
    };
    let mut text = text.replace(
        &line("time_limit ="),
        &format!("time_limit = \"{time_limit}\""),
    );
    if let Some(f) = faults {
        text = text.replace(&line("faults ="), &format!("faults = {f}"));
    }
    text
}

struct Cluster {
    dir: tempfile::TempDir,
    marker: String,
}

impl Cluster {
    /// `name`: this test's, so the leak check sees only its own processes.
    fn new(name: &str) -> Cluster {
        Cluster {
            dir: tempfile::tempdir().unwrap(),
            marker: format!("gauntlet-cluster-{name}-{}", std::process::id()),
        }
    }

    /// Runs `gauntlet test` on `text` (written beside the store) with
    /// `args`; nothing it started may outlive it.
    fn test(&self, file: &str, text: &str, args: &[&str]) -> Output {
        let plan = self.dir.path().join(file);
        std::fs::write(&plan, text).unwrap();
        let out = std::process::Command::new(gauntlet())
            .arg("test")
            .arg(&plan)
            .args([
                "--store",
                &self.dir.path().join("store").display().to_string(),
            ])
            .args(args)
            .env("GAUNTLET_TEST_MARKER", &self.marker)
            .output()
            .unwrap();
        assert_no_processes_with_marker(&self.marker);
        out
    }

    /// The newest run's directory.
    fn latest(&self) -> PathBuf {
        let store = self.dir.path().join("store");
        let mut runs: Vec<PathBuf> = std::fs::read_dir(&store)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        runs.sort();
        runs.pop().expect("a run directory")
    }
}

fn history(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Ops of `process` "nemesis" with one of `fs`.
fn nemesis_ops<'a>(h: &'a [Value], fs: &[&str]) -> Vec<&'a Value> {
    h.iter()
        .filter(|o| o["process"] == "nemesis" && fs.contains(&o["f"].as_str().unwrap_or("")))
        .collect()
}

fn ok_ops(h: &[Value]) -> usize {
    h.iter().filter(|o| o["type"] == "ok").count()
}

fn explain(out: &Output) -> String {
    format!("{}\n{}", stdout(out), common::stderr(out))
}

#[test]
fn etcd_is_linearizable_and_its_serializable_reads_are_not() {
    if !lab_allowed() || !have("etcd", "etcd-server") {
        return;
    }
    let cluster = Cluster::new("etcd");

    // Linearizable reads under partitions, kills and pauses: valid.
    let out = cluster.test(
        "etcd.toml",
        &shortened("etcd.toml", "15s", None),
        &["--seed", "7"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let dir = cluster.latest();
    assert_eq!(read_json(&dir.join("results.json"))["valid"], true);
    let h = history(&dir);
    assert!(ok_ops(&h) > 100, "too little was checked: {}", ok_ops(&h));
    assert!(
        !nemesis_ops(&h, &["start-partition", "kill", "pause"]).is_empty(),
        "the nemesis never acted"
    );
    assert!(!dir.join("data").exists(), "data directories are removed");

    // Serializable reads from a member cut off by a partition: invalid,
    // with the stale read beside the partition.
    let out = cluster.test(
        "etcd.toml",
        &shortened("etcd.toml", "20s", Some(r#"["partition"]"#)),
        &["--seed", "7", "--set", "reads=serializable"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let dir = cluster.latest();
    let results = read_json(&dir.join("results.json"));
    assert_eq!(results["valid"], false);
    let anomalies = std::fs::read_to_string(dir.join("checks/linearizable/anomalies.txt"))
        .expect("the anomaly is put beside its faults");
    assert!(anomalies.contains("start-partition"), "{anomalies}");
    let marked = anomalies
        .lines()
        .find(|l| l.ends_with('◀'))
        .expect("the op that cannot happen");
    assert!(marked.contains("read on key"), "{anomalies}");
    assert!(stdout(&out).contains("FAIL"), "{}", explain(&out));
}

#[test]
fn redis_loses_acknowledged_writes_at_a_power_cut_unless_it_fsyncs_them() {
    if !lab_allowed() || !have("redis-server", "redis-server") {
        return;
    }
    let cluster = Cluster::new("redis");
    let text = shortened("redis.toml", "10s", None);

    let out = cluster.test("redis.toml", &text, &["--seed", "7"]);
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let dir = cluster.latest();
    assert_eq!(read_json(&dir.join("results.json"))["valid"], false);
    let anomalies = std::fs::read_to_string(dir.join("checks/linearizable/anomalies.txt")).unwrap();
    assert!(anomalies.contains("power-cut"), "{anomalies}");

    let out = cluster.test(
        "redis.toml",
        &text,
        &["--seed", "7", "--set", "appendonly=yes"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let dir = cluster.latest();
    assert_eq!(read_json(&dir.join("results.json"))["valid"], true);
    let h = history(&dir);
    assert!(ok_ops(&h) > 100, "too little was checked: {}", ok_ops(&h));
    assert!(
        nemesis_ops(&h, &["power-cut"]).len() >= 2,
        "power cuts were not carried out"
    );
    // Every power cut was followed by a start that brought Redis back.
    let reads_after: Vec<&Value> = h
        .iter()
        .filter(|o| o["f"] == "read" && o["type"] == "ok" && o["final"] == true)
        .collect();
    assert!(!reads_after.is_empty(), "the final reads happened");
}
