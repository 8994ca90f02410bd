//! Faults on the real network of a lab: a workbench run whose nodes run on
//! lab hosts injects partitions that cut the simulated network and the
//! hosts' real one together (nftables rules, recorded in the history).
//! Needs root (CI runs as root).

mod common;

use std::process::Command;

use common::{TestRun, gauntlet, stderr};

const LAB: &str = r#"
[[segment]]
name = "eu"
subnet = "10.96.1.0/24"
[[segment]]
name = "us"
subnet = "10.96.2.0/24"
[[link]]
between = ["eu", "us"]
latency = "2ms"
[[host]]
name = "h1"
segment = "eu"
[[host]]
name = "h2"
segment = "eu"
[[host]]
name = "h3"
segment = "us"
"#;

#[test]
fn a_workbench_run_on_lab_hosts_partitions_the_real_network() {
    if !common::lab_allowed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab.toml");
    std::fs::write(&lab, LAB).unwrap();
    // Each node notes where it runs (its host's address), then becomes the
    // broadcast example node.
    let wrapper = dir.path().join("node.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nip -4 -o addr show dev eth0 > '{}/where-'$$ 2>&1\nexec '{}' example-node node-broadcast\n",
            dir.path().display(),
            gauntlet().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let mut run = TestRun::new("broadcast", "node-broadcast");
    // Replace `--bin gauntlet example-node node-broadcast` by the wrapper.
    let at = run.args.iter().position(|a| a == "--bin").unwrap();
    run.args
        .splice(at + 1..at + 4, [wrapper.display().to_string()]);
    let run = run
        .arg("--node-count", 3)
        .arg("--time-limit", 4)
        .arg("--rate", 20)
        .arg("--nemesis", "partition")
        .arg("--nemesis-interval", 1)
        .arg("--recovery-time", 2)
        .arg("--seed", 3)
        .arg("--lab", lab.display());
    let out = run.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Every node ran inside a lab host: three hosts, three addresses.
    let mut seen: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("where-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .filter_map(|text| text.split_whitespace().nth(3).map(str::to_owned))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["10.96.1.2/24", "10.96.1.3/24", "10.96.2.2/24"]);

    // The partitions reached the lab's hosts: each injection's value says
    // so (LabNet answers only once the nftables rules are in place).
    let history = std::fs::read_to_string(run.latest().join("history.jsonl")).unwrap();
    let starts: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|op| {
            op["process"] == "nemesis" && op["f"] == "start-partition" && op["type"] == "info"
        })
        .collect();
    assert!(!starts.is_empty(), "no partition in the history");
    let applied = starts
        .iter()
        .filter(|op| op["value"]["network"] == "lab")
        .count();
    assert!(applied > 0, "{starts:?}");

    // And the lab is gone with the run.
    let status = Command::new(gauntlet())
        .args(["lab", "status", "--json"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        !listed.contains("10.96.1.0"),
        "the run's lab is still up: {listed}"
    );
}
