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

use std::sync::OnceLock;

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

struct Machine {
    boot_id: Option<String>,
    host: Option<String>,
}

fn machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(|| Machine {
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        host: read_trimmed("/proc/sys/kernel/hostname"),
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// State letter and start ticks of a process, from `/proc/PID/stat`; `None`
/// if there is no such process (or no `/proc`).
fn proc_stat(pid: u32) -> Option<(char, Option<u64>)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(stat: &str) -> Option<(char, Option<u64>)> {
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so split
    // after the last `)`. Field 3 (state) is then the first, field 22
    // (starttime) the twentieth.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18).and_then(|s| s.parse().ok());
    Some((state, start))
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                Owner {
                    pid,
                    start_ticks: proc_stat(pid).and_then(|(_, t)| t),
                    boot_id: machine().boot_id.clone(),
                    host: machine().host.clone(),
                }
            })
            .clone()
    }

    /// Whether this process is still running, as far as can be told from here.
    pub fn liveness(&self) -> Liveness {
        let here = machine();
        match (&self.host, &here.host) {
            (Some(a), Some(b)) if a == b => {}
            _ => return Liveness::Unknown,
        }
        if let (Some(a), Some(b)) = (&self.boot_id, &here.boot_id)
            && a != b
        {
            return Liveness::Dead;
        }
        if std::fs::metadata("/proc/self/stat").is_err() {
            return Liveness::Unknown;
        }
        match proc_stat(self.pid) {
            None => Liveness::Dead,
            Some(('Z' | 'X' | 'x', _)) => Liveness::Dead,
            Some((_, start)) => match (self.start_ticks, start) {
                (Some(a), Some(b)) if a != b => Liveness::Dead,
                _ => Liveness::Alive,
            },
        }
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

    #[test]
    fn comm_with_spaces_and_parentheses_parses() {
        let line = "4242 (a b) (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 1000 200 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', Some(987654))));
        assert_eq!(parse_stat("4242 (x) Z"), Some(('Z', None)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
