//! Helpers shared by the integration tests: /proc scans and bounded polling.
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
