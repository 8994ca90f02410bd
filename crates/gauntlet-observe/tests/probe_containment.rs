//! A command probe runs through the node backend: a probe that hangs, even
//! one whose command daemonised itself with `setsid`, leaves nothing behind
//! after its timeout or a `kill_all`. Its own test binary, because
//! `kill_all` kills every process this test process started.

// Prints why a test skipped, for the person running it. The ban on print
// macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gauntlet_observe::probe_once;
use gauntlet_plan::{Command, CommandLine, Probe};

fn marked(marker: &str) -> Probe {
    let (name, value) = marker.split_once('=').unwrap();
    Probe::Command(Command {
        command: CommandLine::Shell(
            "setsid sleep 4777 </dev/null >/dev/null 2>&1 & exec sleep 4777".into(),
        ),
        cwd: std::env::temp_dir(),
        env: BTreeMap::from([(name.to_owned(), value.to_owned())]),
    })
}

/// Live processes whose environment holds `marker`.
fn with_marker(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()))
        })
        .collect()
}

async fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn cgroups_or_skip() -> bool {
    match gauntlet_node::containment() {
        gauntlet_node::Containment::Cgroup { .. } => true,
        gauntlet_node::Containment::ProcessGroup { why } => {
            assert!(
                std::env::var_os("GAUNTLET_TEST_NO_CGROUP").is_some(),
                "no cgroup containment here ({why}); set GAUNTLET_TEST_NO_CGROUP=1 to skip"
            );
            eprintln!("SKIPPED: no cgroup containment ({why})");
            false
        }
    }
}

#[tokio::test]
async fn a_hanging_probe_and_its_daemon_die_at_its_timeout_or_with_kill_all() {
    if !cgroups_or_skip() {
        return;
    }
    let marker = format!("GAUNTLET_PROBE_TEST=timeout-{}", std::process::id());
    let outcome = probe_once(&marked(&marker), Duration::from_millis(500)).await;
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "timed out after 500ms");
    eventually("nothing marked left after the timeout", || {
        with_marker(&marker).is_empty()
    })
    .await;

    // A probe still running when the run is killed dies with it.
    let marker = format!("GAUNTLET_PROBE_TEST=kill-all-{}", std::process::id());
    let probe = marked(&marker);
    let running = tokio::spawn(async move { probe_once(&probe, Duration::from_secs(60)).await });
    eventually("probe and its daemon started", || {
        with_marker(&marker).len() >= 2
    })
    .await;
    gauntlet_node::kill_all();
    let outcome = running.await.unwrap();
    assert!(!outcome.healthy);
    assert_eq!(outcome.detail, "killed by signal 9");
    eventually("nothing marked left after kill_all", || {
        with_marker(&marker).is_empty()
    })
    .await;
}
