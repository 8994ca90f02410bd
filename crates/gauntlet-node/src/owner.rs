//! Who made something — a run's cgroups, a container, a directory on an
//! SSH host — and whether that process still runs, judged the same way
//! by every sweep: a pid alone cannot tell (pids are reused, and after a
//! reboot every pid is someone else's), so an owner is its machine's host
//! name, its pid, its start time (field 22 of `/proc/<pid>/stat`, clock
//! ticks since boot) and its machine's boot id.
//!
//! - another machine: [`Liveness::OtherHost`], never judged from here;
//! - this machine, another boot: dead;
//! - no such process, a zombie, or another start time: dead;
//! - otherwise alive.

use std::sync::OnceLock;

/// A gauntlet process, as what it makes names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// Its machine's host name, as [`this_host`] writes it.
    pub host: String,
    /// Its pid there.
    pub pid: i32,
    /// Its start time in clock ticks since boot.
    pub start: u64,
    /// Its machine's boot id; empty where the record did not keep it
    /// (then the pid and start time alone decide).
    pub boot: String,
}

/// What this process can tell about an [`Owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// This machine, this boot, and a process with that pid and start
    /// time runs.
    Alive,
    /// This machine, and either another boot or no such process (gone, a
    /// zombie, or the pid reused).
    Dead,
    /// Another machine: nothing can be told from here, so nothing is
    /// touched.
    OtherHost,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id() as i32;
                Owner {
                    host: this_host().to_owned(),
                    pid,
                    // Our own stat is always readable; 0 would only make
                    // this process look dead to itself, never to another.
                    start: crate::start_time(pid).unwrap_or(0),
                    boot: this_boot().to_owned(),
                }
            })
            .clone()
    }

    /// Whether this owner still runs, judged from this machine.
    pub fn liveness(&self) -> Liveness {
        if self.host != this_host() {
            Liveness::OtherHost
        } else if (!self.boot.is_empty() && self.boot != this_boot())
            || !crate::owner_alive(self.pid, self.start)
        {
            Liveness::Dead
        } else {
            Liveness::Alive
        }
    }

    /// Asks this owner to stop as Ctrl-C would (SIGTERM), only once it is
    /// judged alive: a dead owner's pid may be anyone's now, and another
    /// machine's pid means nothing here. `Ok(false)`: not alive, nothing
    /// sent.
    pub fn terminate(&self) -> std::io::Result<bool> {
        if self.liveness() != Liveness::Alive {
            return Ok(false);
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .map_err(std::io::Error::from)?;
        Ok(true)
    }
}

/// A host name as a file name or a label may hold it: letters, digits,
/// `.`, `-`, `_`; anything else is written `_`.
pub fn sanitize_host(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// This machine's host name (`/proc/sys/kernel/hostname`), as owners name
/// it ([`sanitize_host`]).
pub fn this_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| sanitize_host(h.trim()))
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".to_owned())
    })
}

/// This machine's boot id (`/proc/sys/kernel/random/boot_id`).
pub fn this_boot() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|b| b.trim().to_owned())
            .ok()
            .filter(|b| b.len() == 36)
            // Never equal to a real boot id: every owner that recorded
            // one looks dead to a machine that cannot tell its boot,
            // except itself.
            .unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_another_host_is_not_judged() {
        let me = Owner::current();
        assert_eq!(me.liveness(), Liveness::Alive);
        let elsewhere = Owner {
            host: "elsewhere.invalid".into(),
            pid: i32::MAX,
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::OtherHost);
    }

    #[test]
    fn another_boot_a_gone_pid_or_a_recycled_one_is_dead() {
        let me = Owner::current();
        let rebooted = Owner {
            boot: "6c1e8e0a-7a6c-4a44-9d0e-2a4b0c2d9f11".into(),
            ..me.clone()
        };
        assert_eq!(rebooted.liveness(), Liveness::Dead);
        let gone = Owner {
            pid: i32::MAX,
            ..me.clone()
        };
        assert_eq!(gone.liveness(), Liveness::Dead);
        let recycled = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(recycled.liveness(), Liveness::Dead);
        // Without a boot id, the pid and start time decide.
        let unbooted = Owner {
            boot: String::new(),
            ..me
        };
        assert_eq!(unbooted.liveness(), Liveness::Alive);
    }

    #[test]
    fn host_names_are_kept_to_safe_characters() {
        assert_eq!(sanitize_host("db-1.example_net"), "db-1.example_net");
        assert_eq!(sanitize_host("a/b c"), "a_b_c");
    }
}
