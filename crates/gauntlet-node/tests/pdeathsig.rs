//! When gauntlet is SIGKILLed, its nodes die too (PR_SET_PDEATHSIG).
//!
//! The test re-executes this test binary as a helper that spawns a node
//! through the crate, prints the node's pid and waits to be SIGKILLed. This
//! binary makes itself a child subreaper, so the orphaned node is reparented
//! to it and can be reaped here, which shows exactly how it died.

// Prints a helper process's report (pids) to the test that re-executes it.
// The ban on print macros (clippy.toml) guards gauntlet's own output, not its
// tests'.
#![allow(clippy::disallowed_macros)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use gauntlet_node::{NodeProcess, NodeSpec};

const HELPER_ENV: &str = "GAUNTLET_NODE_PDEATHSIG_HELPER";

/// Only does something when run as the helper.
#[test]
fn helper_spawns_a_node_and_waits_to_be_killed() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // From a blocking-pool thread on purpose: the crate must not care.
    let node = runtime
        .block_on(runtime.spawn_blocking(|| {
            let _guard = tokio::runtime::Handle::current().enter();
            NodeProcess::spawn(&NodeSpec::new("sleep").arg("1000")).unwrap()
        }))
        .unwrap();
    println!("NODE_PID={}", node.pid());
    loop {
        std::thread::park();
    }
}

#[test]
fn a_node_dies_when_gauntlet_is_sigkilled() {
    if std::env::var_os(HELPER_ENV).is_some() {
        return;
    }
    // SAFETY: prctl on this process only.
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );

    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_spawns_a_node_and_waits_to_be_killed",
            "--nocapture",
        ])
        .env(HELPER_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(helper.stdout.take().unwrap()).lines();
    let node_pid: i32 = loop {
        let line = lines
            .next()
            .expect("helper ended before printing NODE_PID")
            .unwrap();
        if let Some(pid) = line.strip_prefix("NODE_PID=") {
            break pid.parse().unwrap();
        }
    };
    let node = common::stat(node_pid).expect("node not running");
    assert_eq!(node.ppid, helper.id() as i32);
    assert_ne!(node.state, 'Z');

    // If the node survives (the test fails), do not leave it behind.
    let mut cleanup = KillOnDrop(Some(node_pid));
    helper.kill().unwrap(); // SIGKILL
    helper.wait().unwrap();

    // The helper is reaped, so its exit (death signals, reparenting) is
    // complete: the node is our child now, dead or dying.
    let mut status = 0;
    common::eventually_blocking("orphaned node reaped", || {
        // SAFETY: `status` is a valid, writable int.
        let rc = unsafe { libc::waitpid(node_pid, &mut status, libc::WNOHANG) };
        assert!(
            rc >= 0,
            "node {node_pid} was not reparented to us: {}",
            std::io::Error::last_os_error()
        );
        rc == node_pid
    });
    cleanup.0 = None; // reaped: the pid is no longer ours to signal
    assert!(
        libc::WIFSIGNALED(status),
        "node exited instead: status {status:#x}"
    );
    assert_eq!(libc::WTERMSIG(status), libc::SIGKILL);
}

struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: plain syscalls; the pid is our (unreaped) child or
            // grandchild.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
}
