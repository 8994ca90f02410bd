//! A soak on lab hosts: two services, each on its own host, reached from
//! this machine over the lab's control link; a partition fault cuts one
//! host off from the other on the real network (nftables) and heals.
//! Needs root (CI runs as root).

#![allow(
    clippy::disallowed_macros,
    reason = "a skipped test says why on stderr"
)]

mod common;

use common::{Bench, stderr, stdout};
use serde_json::Value;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: the network lab needs root");
    }
    root
}

#[test]
fn a_soak_partitions_a_lab_host_on_the_real_network() {
    if !root() {
        return;
    }
    let b = Bench::new();
    let plan = format!(
        r#"[vars]
bin_dir = "{bin}"
[[segment]]
name = "dc"
subnet = "10.99.1.0/24"
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
[[fault]]
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
"#,
        bin = b.bin_dir(),
        dir = b.path().display()
    );
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
    // The ticker's clock jumped an hour ahead and came back.
    let ticks: Vec<i64> = std::fs::read_to_string(b.path().join("ticks"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let jumps_ahead = ticks.windows(2).filter(|w| w[1] - w[0] > 3000).count();
    let jumps_back = ticks.windows(2).filter(|w| w[0] - w[1] > 3000).count();
    assert!(jumps_ahead >= 1 && jumps_back >= 1, "{ticks:?}");
    // What the store recorded of each injection: the lab's executor cut
    // the real network (it answers only once the nftables rules are in).
    let runs = b.runs();
    let id = runs[0]["id"].as_str().unwrap();
    let out = b.gauntlet(&["show", id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("\"network\":\"lab\"") || shown.contains("\"network\": \"lab\""),
        "{shown}"
    );
    // Each step of the clock is recorded: the offset set, then reset.
    let report: Value = serde_json::from_str(&shown).unwrap();
    let clock_rows: Vec<&Value> = report["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "clock")
        .collect();
    assert!(!clock_rows.is_empty(), "{shown}");
    assert!(
        clock_rows
            .iter()
            .all(|f| f["value"]["value"]["offset-s"] == 3600 && f["healed_at"].is_number()),
        "{clock_rows:?}"
    );
    // The offset files went with the run.
    let dir = b.artifact_dir(&runs[0]);
    assert!(
        !dir.join("clock").exists(),
        "clock files left in {}",
        dir.display()
    );
}
