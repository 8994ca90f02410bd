//! A soak on lab hosts: two services, each on its own host, reached from
//! this machine over the lab's control link; a partition fault cuts one
//! host off from the other on the real network (nftables) and heals.
//! Needs root (CI runs as root).

mod common;

use common::{Bench, stderr, stdout};
use serde_json::Value;

/// Runs the soak plan with `faults` on subnets 10.`net`.x.0/24; returns
/// the bench, its verdict and the run's report (`gauntlet show --json`).
fn soak(net: u8, link_faults: &str, other_faults: &str) -> (Bench, Value, Value) {
    let b = Bench::new();
    let plan = format!(
        r#"[vars]
bin_dir = "{bin}"
[[segment]]
name = "dc"
subnet = "10.99.1.0/24"
[[segment]]
name = "dr"
subnet = "10.99.2.0/24"
[[link]]
between = ["dc", "dr"]
latency = "1ms"
[[host]]
name = "standby"
segment = "dr"
[[host]]
name = "web1"
segment = "dc"
[[host]]
name = "web2"
segment = "dc"
[[service]]
name = "api1"
host = "web1"
command = ["${{bin_dir}}/http-service", "--bind", "10.99.1.2", "--port", "8080", "--data-file", "{dir}/one.data"]
[service.health]
http = "http://10.99.1.2:8080/health"
interval = "50ms"
[[service]]
name = "api2"
host = "web2"
command = ["${{bin_dir}}/http-service", "--bind", "10.99.1.3", "--port", "8080", "--data-file", "{dir}/two.data"]
[service.health]
http = "http://10.99.1.3:8080/health"
interval = "50ms"
# Notes the time its clock says, five times a second.
[[service]]
name = "ticker"
host = "web1"
command = "while :; do date +%s >> {dir}/ticks; sleep 0.2; done"
[soak]
duration = "9s"
warmup = "500ms"
calm_timeout = "20s"
[users]
count = 2
think_min = "20ms"
think_max = "50ms"
keys_per_user = 10
unreachable_after = "5s"
[[users.step]]
name = "put"
method = "PUT"
url = "http://10.99.1.2:8080/kv/{{{{key}}}}"
body = "{{{{value}}}}"
write = true
timeout = "2s"
[readback]
http = "http://10.99.1.2:8080/kv/{{{{key}}}}"
# A short soak with overlapping faults cannot judge responsiveness, leaks
# or recovery (too few samples): the verdict rests on acknowledged writes
# surviving (I4).
[invariants]
gate = ["I4"]
{link_faults}{other_faults}"#,
        bin = b.bin_dir(),
        dir = b.path().display()
    )
    .replace("10.99.", &format!("10.{net}."));
    let file = b.path().join("soak.toml");
    std::fs::write(&file, plan).unwrap();
    let out = b.gauntlet(&["soak", file.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let verdict: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let runs = b.runs();
    let id = runs[0]["id"].as_str().unwrap();
    let out = b.gauntlet(&["show", id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    (b, verdict, report)
}

/// The fault records of `kind` in a run's report.
fn rows<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[test]
fn a_soak_partitions_a_lab_host_and_skews_a_clock() {
    if !common::lab_allowed() {
        return;
    }
    let clock_and_partition = r#"[[fault]]
kind = "clock"
service = "ticker"
offset = "+1h"
every = "2s..3s"
duration = "1s"
[[fault]]
kind = "partition"
service = "api2"
every = "3s..4s"
duration = "700ms"
"#;
    let (b, verdict, report) = soak(99, "", clock_and_partition);
    let windows = verdict["faults"].as_array().unwrap();
    assert!(
        windows
            .iter()
            .any(|w| w["kind"] == "partition" && w["target"] == "api2"),
        "no partition was injected: {verdict}"
    );
    assert!(
        windows
            .iter()
            .any(|w| w["kind"] == "clock" && w["target"] == "ticker"),
        "{verdict}"
    );
    // What the store recorded of each partition: the lab's executor cut
    // the real network (it answers only once the nftables rules are in).
    let partitions = rows(&report, "partition");
    assert!(!partitions.is_empty());
    assert!(
        partitions
            .iter()
            .all(|f| f["value"]["value"]["network"] == "lab"),
        "{partitions:?}"
    );

    // The ticker's clock jumped an hour ahead and came back.
    let ticks: Vec<i64> = std::fs::read_to_string(b.path().join("ticks"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let jumps_ahead = ticks.windows(2).filter(|w| w[1] - w[0] > 3000).count();
    let jumps_back = ticks.windows(2).filter(|w| w[0] - w[1] > 3000).count();
    assert!(jumps_ahead >= 1 && jumps_back >= 1, "{ticks:?}");
    // Each step of the clock is recorded: the offset set, then reset.
    let clocks = rows(&report, "clock");
    assert!(!clocks.is_empty());
    assert!(
        clocks
            .iter()
            .all(|f| f["value"]["value"]["offset-s"] == 3600 && f["healed_at"].is_number()),
        "{clocks:?}"
    );
    // The offset files went with the run.
    let runs = b.runs();
    let dir = b.artifact_dir(&runs[0]);
    assert!(
        !dir.join("clock").exists(),
        "clock files left in {}",
        dir.display()
    );
}

#[test]
fn a_soak_slows_a_lab_link_and_pulls_a_host_s_cable() {
    if !common::lab_allowed() {
        return;
    }
    let link_faults = r#"[[fault]]
kind = "link"
link = ["dc", "dr"]
latency = "200ms"
loss = 30
every = "2s..3s"
duration = "1s"
[[fault]]
kind = "link-down"
host = "standby"
every = "3s..4s"
duration = "1s"
"#;
    let (_b, _verdict, report) = soak(89, link_faults, "");
    // The link's properties were replaced and restored, the standby's
    // cable pulled and plugged back, each by the lab.
    let links = rows(&report, "link");
    assert!(!links.is_empty(), "{report}");
    assert!(
        links
            .iter()
            .all(|f| f["value"]["value"]["loss-percent"] == 30.0 && f["healed_at"].is_number()),
        "{links:?}"
    );
    let downs = rows(&report, "link-down");
    assert!(!downs.is_empty(), "{report}");
    assert!(
        downs.iter().all(|f| f["value"]["value"]["link"] == "down"),
        "{downs:?}"
    );
}
