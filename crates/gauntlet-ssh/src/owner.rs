//! Who started what on a host: every node, command and upload of one
//! [`Host`](crate::Host) connection lives under a directory of its own on
//! the host, `/tmp/gauntlet-ssh/<run dir>/`, whose name says which
//! gauntlet process made it, so a later gauntlet can tell a dead owner's
//! leftovers from a live one's.
//!
//! | part of the name | what | why |
//! |---|---|---|
//! | pid | the gauntlet process on its own machine | with the start time, names one process life |
//! | start | its start time (`/proc/<pid>/stat` field 22) | a recycled pid never passes for the owner |
//! | boot | its machine's boot id | a pid of an earlier boot never passes for a live one |
//! | index | which connection of that process (one per [`Host`](crate::Host)) | two connections to one host never clean up each other's nodes |
//! | host | its machine's host name | a pid means something only on its own machine: another machine's owners are never judged |
//!
//! The name is `<pid>.<start>.<boot>.<index>.<host>`.

use std::fmt;
use std::sync::OnceLock;

/// A gauntlet process, as the directories it makes on hosts name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The host name of the machine it runs on (letters, digits, `.`,
    /// `-`, `_`; anything else is written `_`).
    pub host: String,
    /// Its pid there.
    pub pid: i32,
    /// Its start time in clock ticks since boot.
    pub start: u64,
    /// Its machine's boot id (`/proc/sys/kernel/random/boot_id`).
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
                    start: gauntlet_node::start_time(pid).unwrap_or(0),
                    boot: this_boot().to_owned(),
                }
            })
            .clone()
    }

    /// Whether this owner still runs, judged from this machine.
    pub fn liveness(&self) -> Liveness {
        if self.host != this_host() {
            Liveness::OtherHost
        } else if self.boot != this_boot() || !gauntlet_node::owner_alive(self.pid, self.start) {
            Liveness::Dead
        } else {
            Liveness::Alive
        }
    }
}

/// One connection's directory on a host: its owner and which of the
/// owner's connections it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunDir {
    /// The gauntlet process.
    pub owner: Owner,
    /// Its connection's number (one per [`Host`](crate::Host)).
    pub index: u64,
}

impl RunDir {
    /// Parses a directory name; `None` for anything this crate did not
    /// make (it is never touched).
    pub fn parse(name: &str) -> Option<RunDir> {
        let mut parts = name.splitn(5, '.');
        let pid: i32 = digits(parts.next()?)?.parse().ok()?;
        let start: u64 = digits(parts.next()?)?.parse().ok()?;
        let boot = parts.next()?;
        let index: u64 = digits(parts.next()?)?.parse().ok()?;
        let host = parts.next()?;
        let boot_ok = boot.len() == 36 && boot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if pid <= 0 || !boot_ok || host.is_empty() || sanitize(host) != host {
            return None;
        }
        Some(RunDir {
            owner: Owner {
                host: host.to_owned(),
                pid,
                start,
                boot: boot.to_owned(),
            },
            index,
        })
    }
}

impl fmt::Display for RunDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.owner;
        write!(
            f,
            "{}.{}.{}.{}.{}",
            o.pid, o.start, o.boot, self.index, o.host
        )
    }
}

fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// A host name as a file name may hold it.
fn sanitize(host: &str) -> String {
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

/// This machine's host name, as owners name it.
pub fn this_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| sanitize(h.trim()))
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".to_owned())
    })
}

/// This machine's boot id.
pub fn this_boot() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|b| b.trim().to_owned())
            .ok()
            .filter(|b| b.len() == 36)
            // Never equal to a real boot id: every owner looks dead
            // to a machine that cannot tell its boot, except itself.
            .unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_dir_name_round_trips_and_strangers_are_refused() {
        let dir = RunDir {
            owner: Owner::current(),
            index: 7,
        };
        let name = dir.to_string();
        assert_eq!(RunDir::parse(&name), Some(dir.clone()));
        assert_eq!(dir.owner.liveness(), Liveness::Alive);
        let with_dots = RunDir {
            owner: Owner {
                host: "box.example.org".into(),
                ..Owner::current()
            },
            index: 0,
        };
        assert_eq!(
            RunDir::parse(&with_dots.to_string()),
            Some(with_dots.clone())
        );
        assert_eq!(with_dots.owner.liveness(), Liveness::OtherHost);
        for stranger in [
            "",
            "backup",
            "1.2.3.4",
            "x.1.6c1e8e0a-7a6c-4a44-9d0e-2a4b0c2d9f11.0.h",
            "1.2.short.0.h",
            "1.2.6c1e8e0a-7a6c-4a44-9d0e-2a4b0c2d9f11.0.",
            "1.2.6c1e8e0a-7a6c-4a44-9d0e-2a4b0c2d9f11.0.a/b",
            "0.2.6c1e8e0a-7a6c-4a44-9d0e-2a4b0c2d9f11.0.h",
        ] {
            assert_eq!(RunDir::parse(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn an_owner_of_another_boot_or_a_gone_pid_is_dead() {
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
            ..me
        };
        assert_eq!(recycled.liveness(), Liveness::Dead);
    }
}
