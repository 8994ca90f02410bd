//! Which gauntlet process drives a run, and whether it still lives.
//!
//! A pid alone cannot tell: pids are reused, and after a reboot every pid
//! is someone else's. So a run records the pid together with the process's
//! start time (field 22 of `/proc/PID/stat`, clock ticks since boot), the
//! kernel's boot id and the host name. A later process decides:
//!
//! - another host: [`Liveness::Unknown`] (it cannot look);
//! - same host, other boot id: dead;
//! - no `/proc/PID`, a zombie, or another start time: dead;
//! - otherwise alive.

use serde::Serialize;

/// A gauntlet process, as recorded with the runs it drives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22); `None` where unknown.
    pub start_ticks: Option<u64>,
    /// `/proc/sys/kernel/random/boot_id`; `None` where unknown.
    pub boot_id: Option<String>,
    /// The host name; `None` where unknown.
    pub host: Option<String>,
}

/// What can be said about an [`Owner`] from this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Dead,
    /// Another host, or no `/proc` to look in. Treated as alive: a run is
    /// only declared interrupted on proof.
    Unknown,
}

impl Owner {
    /// This process, as gauntlet-node names it.
    pub fn current() -> Owner {
        let me = gauntlet_node::Owner::current();
        Owner {
            pid: me.pid as u32,
            start_ticks: (me.start > 0).then_some(me.start),
            boot_id: Some(me.boot),
            host: Some(me.host),
        }
    }

    /// Whether this process is still running, as far as can be told from
    /// here: gauntlet-node's one judgement of owners, where the record
    /// holds what it needs.
    pub fn liveness(&self) -> Liveness {
        let Some(host) = &self.host else {
            return Liveness::Unknown;
        };
        // Another machine's pid means nothing here, whatever it is.
        if *host != gauntlet_node::this_host() {
            return Liveness::Unknown;
        }
        if std::fs::metadata("/proc/self/stat").is_err() {
            return Liveness::Unknown;
        }
        let Ok(pid) = i32::try_from(self.pid) else {
            return Liveness::Dead;
        };
        let Some(start) = self.start_ticks else {
            // No start time recorded: the pid alone, if it is this
            // machine's and this boot's.
            if *host != gauntlet_node::this_host() {
                return Liveness::Unknown;
            }
            if self
                .boot_id
                .as_deref()
                .is_some_and(|b| b != gauntlet_node::this_boot())
            {
                return Liveness::Dead;
            }
            return if gauntlet_node::start_time(pid).is_some() {
                Liveness::Alive
            } else {
                Liveness::Dead
            };
        };
        let owner = gauntlet_node::Owner {
            host: host.clone(),
            pid,
            start,
            boot: self.boot_id.clone().unwrap_or_default(),
        };
        match owner.liveness() {
            gauntlet_node::Liveness::Alive => Liveness::Alive,
            gauntlet_node::Liveness::Dead => Liveness::Dead,
            gauntlet_node::Liveness::OtherHost => Liveness::Unknown,
        }
    }

    /// Asks the owner to stop as Ctrl-C would (SIGTERM), only when it is
    /// this machine's live process (by pid, start time and boot: never a
    /// recycled pid). `Ok(false)`: it is not, and nothing was sent.
    pub fn terminate(&self) -> std::io::Result<bool> {
        if self.liveness() != Liveness::Alive {
            return Ok(false);
        }
        let (Some(host), Some(start), Ok(pid)) =
            (&self.host, self.start_ticks, i32::try_from(self.pid))
        else {
            // Alive by the pid alone (an older record): too little to be
            // sure whom a signal would reach.
            return Ok(false);
        };
        gauntlet_node::Owner {
            host: host.clone(),
            pid,
            start,
            boot: self.boot_id.clone().unwrap_or_default(),
        }
        .terminate()
    }

    /// Proven dead; see [`Owner::liveness`].
    pub fn is_dead(&self) -> bool {
        self.liveness() == Liveness::Dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive() {
        let me = Owner::current();
        assert_eq!(me.pid, std::process::id());
        assert!(me.start_ticks.is_some(), "Linux has /proc/self/stat");
        assert_eq!(me.liveness(), Liveness::Alive);
    }

    #[test]
    fn a_reused_pid_is_dead() {
        let mut other = Owner::current();
        other.start_ticks = other.start_ticks.map(|t| t + 1);
        assert_eq!(other.liveness(), Liveness::Dead);
    }

    #[test]
    fn another_boot_is_dead_and_another_host_unknown() {
        let mut rebooted = Owner::current();
        rebooted.boot_id = Some("00000000-0000-0000-0000-000000000000".into());
        assert_eq!(rebooted.liveness(), Liveness::Dead);
        let mut elsewhere = Owner::current();
        elsewhere.host = Some("not-this-host.invalid".into());
        elsewhere.pid = u32::MAX;
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
    }

    #[test]
    fn a_missing_pid_is_dead() {
        let mut gone = Owner::current();
        gone.pid = u32::MAX; // above pid_max, never a live process
        assert_eq!(gone.liveness(), Liveness::Dead);
    }
}
