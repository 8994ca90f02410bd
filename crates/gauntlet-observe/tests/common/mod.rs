//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::process::{Child, Command};
use std::time::Duration;

use gauntlet_plan::{HealthCheck, Probe};

/// A health check with short, test-friendly intervals.
pub fn check(probe: Probe, timeout_ms: u64) -> HealthCheck {
    HealthCheck {
        probe,
        timeout: Duration::from_millis(timeout_ms),
        interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        jitter: 0.2,
        probe_timeout: Duration::from_millis(500),
        warn_p95: None,
    }
}

/// A child leading its own process group, killed (the whole group) and
/// reaped on drop, so a failed assertion leaks nothing.
pub struct Group(pub Child);

impl Group {
    pub fn spawn(command: &mut Command) -> Group {
        use std::os::unix::process::CommandExt;
        Group(command.process_group(0).spawn().expect("spawn test child"))
    }

    pub fn pgid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions; the child is
        // not reaped yet, so its pgid still names its group.
        unsafe { libc::kill(-self.pgid(), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}
