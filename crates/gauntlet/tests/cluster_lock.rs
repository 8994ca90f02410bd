//! A custom invariant over a cluster test's history: examples/cluster/lock.toml
//! runs our own lock server on a lab host under kills, and a checker
//! program (examples/python/one_holder.py) checks that no two processes
//! hold a lock at once. The forgetful server (the deliberate bug: holders
//! in memory only) fails with the checker's own evidence, both grants put
//! beside the kill between them; the durable one (`--set server_flags=`,
//! the negative control) passes. Each run is the shipped example with a
//! shorter time limit; they need root and python3, and say they skipped
//! otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_no_processes_with_marker, gauntlet, have, lab_allowed, read_json, stdout};
use serde_json::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The example's text with `time_limit` shortened and the checker found
/// from wherever the text is written.
fn shortened(time_limit: &str) -> String {
    let text = std::fs::read_to_string(examples().join("cluster/lock.toml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("time_limit ="))
        .expect("lock.toml has a time_limit line")
        .to_owned();
    let checker = "${plan_dir}/../python/one_holder.py";
    assert!(text.contains(checker), "lock.toml runs {checker}");
    text.replace(&line, &format!("time_limit = \"{time_limit}\""))
        .replace(
            checker,
            &examples()
                .join("python/one_holder.py")
                .display()
                .to_string(),
        )
}

struct Cluster {
    dir: tempfile::TempDir,
    marker: String,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            dir: tempfile::tempdir().unwrap(),
            marker: format!("gauntlet-cluster-lock-{}", std::process::id()),
        }
    }

    /// Runs `gauntlet test` on `text` with `args`, the example programs
    /// being this gauntlet's own (`bin_dir`); nothing it started may
    /// outlive it.
    fn test(&self, text: &str, args: &[&str]) -> Output {
        let plan = self.dir.path().join("lock.toml");
        std::fs::write(&plan, text).unwrap();
        let bin_dir = gauntlet().parent().unwrap().display().to_string();
        let out = std::process::Command::new(gauntlet())
            .arg("test")
            .arg(&plan)
            .args([
                "--store",
                &self.dir.path().join("store").display().to_string(),
            ])
            .args(["--set", &format!("bin_dir={bin_dir}")])
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

fn explain(out: &Output) -> String {
    format!("{}\n{}", stdout(out), common::stderr(out))
}

#[test]
fn a_forgetful_lock_server_grants_held_locks_after_a_kill_and_a_durable_one_does_not() {
    if !lab_allowed() || !have("python3", "python3") {
        return;
    }
    let cluster = Cluster::new();
    let text = shortened("12s");

    // Forgetful: after a kill and a start, locks still held are granted
    // to others. The checker's evidence names both grants.
    let out = cluster.test(&text, &["--seed", "7"]);
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let dir = cluster.latest();
    let results = read_json(&dir.join("results.json"));
    assert_eq!(results["valid"], false, "{results}");
    let check = &results["checks"]["one-holder"]["result"];
    assert_eq!(check["problem"], "two holders", "{check}");
    let evidence = check["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "{check}");
    for e in evidence {
        let (first, second) = (&e["first"]["process"], &e["second"]["process"]);
        assert!(
            first.is_u64() && second.is_u64() && first != second,
            "two processes: {e}"
        );
        assert!(e["first"]["index"].is_u64() && e["second"]["index"].is_u64());
        assert!(e["key"].is_u64(), "{e}");
    }
    let anomalies = std::fs::read_to_string(dir.join("checks/one-holder/anomalies.txt"))
        .expect("the grants are put beside the faults");
    assert!(anomalies.contains("kill locks-n1"), "{anomalies}");
    let marked = anomalies
        .lines()
        .find(|l| l.ends_with('◀'))
        .expect("the second grant is marked");
    assert!(marked.contains("acquire on key"), "{anomalies}");
    assert!(stdout(&out).contains("FAIL"), "{}", explain(&out));

    // Durable: the holders are on disk before a grant is answered, and
    // the restarted server still knows them.
    let out = cluster.test(&text, &["--seed", "7", "--set", "server_flags="]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let dir = cluster.latest();
    let results = read_json(&dir.join("results.json"));
    assert_eq!(results["valid"], true, "{results}");
    let h = history(&dir);
    let granted = h
        .iter()
        .filter(|o| o["f"] == "acquire" && o["type"] == "ok")
        .count();
    assert!(
        granted > 20,
        "too little was checked: {granted} ok acquires"
    );
    assert_eq!(
        results["checks"]["one-holder"]["result"]["acquired"],
        granted
    );
    let kills = h
        .iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == "kill")
        .count();
    assert!(kills >= 1, "the nemesis never killed the server");
    assert!(!dir.join("data").exists(), "data directories are removed");
}
