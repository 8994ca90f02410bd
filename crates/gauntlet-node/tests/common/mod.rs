//! Helpers shared by the integration tests: /proc scans and bounded polling.

// Prints why a test skipped, for the person running it. The ban on print
// macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Generous: these conditions normally hold within milliseconds; the bound
/// only turns a hang into a failure.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// One process as /proc/<pid>/stat describes it.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
}

pub fn stat(pid: i32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp ..."; comm may hold spaces and parens.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        state,
        ppid,
        pgid,
    })
}

/// Every process whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .filter(|p| p.pgid == pgid)
        .collect()
}

/// Members that still count against us: anything alive, and any zombie this
/// test process should have reaped. Zombies parented elsewhere are orphans
/// reparented to init, and reaping them is init's job (this sandbox's PID 1
/// does not reap, so they would otherwise make the check impossible).
pub fn leftovers(pgid: i32) -> Vec<Proc> {
    let me = std::process::id() as i32;
    group_members(pgid)
        .into_iter()
        .filter(|p| p.state != 'Z' || p.ppid == me)
        .collect()
}

pub fn live_members(pgid: i32) -> Vec<Proc> {
    group_members(pgid)
        .into_iter()
        .filter(|p| p.state != 'Z')
        .collect()
}

/// Polls `ready` until it holds, failing the test after [`DEADLINE`].
pub async fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Blocking twin of [`eventually`].
pub fn eventually_blocking(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A shell command whose group has three processes: `sh` (the node), a
/// child `sh`, and a grandchild `sleep`.
pub fn sh_with_grandchild() -> gauntlet_node::NodeSpec {
    gauntlet_node::NodeSpec::new("sh")
        .arg("-c")
        .arg("sh -c 'sleep 1000 & wait' & wait")
}

/// The pids of live processes whose environment holds `marker` (a
/// `NAME=value` pair). Zombies have no readable environment, so a process
/// that was killed but not yet reaped by init does not count.
pub fn with_marker(marker: &str) -> Vec<i32> {
    let needle = marker.as_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == needle))
        })
        .collect()
}

/// Whether this machine must contain by cgroup. The escape tests need a
/// writable cgroup2 hierarchy; on a machine without one they fail unless
/// `GAUNTLET_TEST_NO_CGROUP=1` says that is expected (then they skip,
/// saying so), so they never pass without having checked.
pub fn cgroup_or_skip(test: &str) -> Option<std::path::PathBuf> {
    match gauntlet_node::containment() {
        gauntlet_node::Containment::Cgroup { path } => Some(path),
        gauntlet_node::Containment::ProcessGroup { why } => {
            assert!(
                std::env::var_os("GAUNTLET_TEST_NO_CGROUP").is_some(),
                "{test}: no cgroup containment here ({why}); set GAUNTLET_TEST_NO_CGROUP=1 to skip"
            );
            eprintln!("{test}: SKIPPED, no cgroup containment ({why})");
            None
        }
    }
}

/// A node that daemonises a `sleep` into its own session (`setsid`), out of
/// its process group, then sleeps itself. Both carry `marker` in their
/// environment.
pub fn escaping_node(marker: &str) -> gauntlet_node::NodeSpec {
    let (name, value) = marker.split_once('=').unwrap();
    let mut spec = gauntlet_node::NodeSpec::new("sh")
        .arg("-c")
        .arg("setsid sleep 4777 </dev/null >/dev/null 2>&1 & exec sleep 1000");
    spec.env.push((name.into(), value.into()));
    spec
}

/// The pid of a marked process that has left process group `pgid` (the
/// `setsid` escapee), once there is one.
pub fn escapee(marker: &str, pgid: i32) -> Option<i32> {
    with_marker(marker)
        .into_iter()
        .find(|&pid| stat(pid).is_some_and(|p| p.pgid != pgid && p.state != 'Z'))
}
