//! Nothing escapes: a service's grandchildren and `setsid` daemons outlive a
//! SIGKILL of `gauntlet run` only until the next gauntlet command that runs
//! things (here `retry`), which sweeps the dead gauntlet's cgroup.

// Prints why a test skipped, for the person running it. The ban on print
// macros (clippy.toml) guards gauntlet's own output, not its tests'.
#![allow(clippy::disallowed_macros)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Bench, assert_no_processes_with_marker, processes_with_marker, stderr, stdout};

#[test]
fn a_sigkilled_run_leaves_grandchildren_that_the_next_command_sweeps() {
    if let gauntlet_node::Containment::ProcessGroup { why } = gauntlet_node::containment() {
        // Without cgroups nothing can reap what left the group; never pass
        // without having checked.
        assert!(
            std::env::var_os("GAUNTLET_TEST_NO_CGROUP").is_some(),
            "no cgroup containment here ({why}); set GAUNTLET_TEST_NO_CGROUP=1 to skip"
        );
        eprintln!("SKIPPED: no cgroup containment ({why})");
        return;
    }
    let b = Bench::new();
    let plan = b.write_plan(
        "escape.toml",
        r#"[[service]]
name = "escaper"
command = "setsid sleep 4777 </dev/null >/dev/null 2>&1 & sleep 4777; true"

[[stage]]
kind = "up"

[[stage]]
kind = "wait"
duration = "3s"
"#,
    );
    let mut child = b
        .command(&["run", plan.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The service's shell, its `sleep` and the `setsid` daemon.
    let deadline = Instant::now() + Duration::from_secs(20);
    let gauntlet_pid = child.id();
    let service_procs = || {
        processes_with_marker(&b.marker)
            .into_iter()
            .filter(|&p| p != gauntlet_pid)
            .count()
    };
    while service_procs() < 3 {
        assert!(Instant::now() < deadline, "the service never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The parent-death signal took the shell; its children live on.
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_with_marker(&b.marker);
    assert!(
        !left.is_empty(),
        "expected the service's grandchildren to outlive the SIGKILL until a sweep"
    );

    // `retry` sweeps them before it resumes the run (its own service dies
    // with it as usual); `b.gauntlet` fails on any marked process left.
    let out = b.gauntlet(&["retry", "latest", "--quiet"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_no_processes_with_marker(&b.marker);
}
