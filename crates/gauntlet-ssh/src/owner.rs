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

use gauntlet_node::sanitize_host as sanitize;
pub use gauntlet_node::{Liveness, Owner, this_boot, this_host};

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
}
