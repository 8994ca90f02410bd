//! [`NodeControl`]: what anyone may do to a running node while its keeper
//! owns the handle and waits on it — a fault's signal or pause, a
//! sampler's look at its footprint. Every backend hands one out
//! ([`NodeHandle::control`](crate::NodeHandle::control)), so a supervisor
//! that signals, pauses and samples its services never needs to know
//! whether a service is a process group here, in a namespace, or a
//! container behind an engine.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::NodeError;
use crate::process::signal_members;
use crate::spawner::signal_group;

/// Signals, pauses and looks at one node life. Cheap to clone behind an
/// `Arc`; acting on a node that has ended does nothing and succeeds.
pub trait NodeControl: Send + Sync + fmt::Debug {
    /// Sends `signal` to the whole node; `SIGKILL` reaches everything it
    /// started.
    fn signal(&self, signal: i32) -> Result<(), NodeError>;

    /// Freezes the node (a pause fault).
    fn pause(&self) -> Result<(), NodeError>;

    /// Heals a pause.
    fn resume(&self) -> Result<(), NodeError>;

    /// The processes on this machine that make up the node now, for looks
    /// into `/proc` (threads, open files, and the footprint when
    /// [`usage`](Self::usage) has none); empty where it runs elsewhere.
    fn member_pids(&self) -> Vec<u32>;

    /// The backend's own footprint figures (a container engine's stats),
    /// when it keeps them; `None`: look at [`member_pids`](Self::member_pids).
    fn usage(&self) -> Option<Usage> {
        None
    }

    /// Whether the node still runs: `false` from the moment it has ended,
    /// before its keeper has noticed (a zombie, a stopped container).
    fn is_running(&self) -> bool;

    /// A power cut: killed at once, and its next start begins from what a
    /// machine keeps across a reboot. For a process that is what SIGKILL
    /// leaves (its files); a container's backend also starts a new
    /// container from its image, with its volumes.
    fn power_off(&self) -> Result<(), NodeError> {
        self.signal(libc::SIGKILL)
    }

    /// Runs `argv` inside the node and waits for it, at most `timeout`: a
    /// health check of a container (Compose's `healthcheck`). Blocks; call
    /// it off an async task. A node that is a process of this machine has
    /// no inside to run a program in ([`NodeError::NoInside`]): run the
    /// program here instead.
    fn exec(&self, argv: &[String], timeout: Duration) -> Result<ExecOutput, NodeError> {
        let _ = (argv, timeout);
        Err(NodeError::NoInside)
    }
}

/// What a program run inside a node ([`NodeControl::exec`]) did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Its exit code; `None` when it did not end in time.
    pub exit_code: Option<i64>,
    /// The end of what it wrote (stdout and stderr together).
    pub output: String,
    /// It was still running when `timeout` ran out.
    pub timed_out: bool,
}

/// A node's footprint at one moment, as its backend measures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Memory in use: resident set for processes, the cgroup's usage less
    /// its page cache for a container (what `docker stats` shows).
    pub rss_bytes: u64,
    /// CPU time used since it started, in nanoseconds.
    pub cpu_ns: u64,
}

/// The control of a local process group (the local and netns backends):
/// signals to the group, and for a kill or a pause also to every process
/// in the node's cgroup, so what escaped the group (`setsid`) is reached.
/// Shares a flag with its [`NodeProcess`](crate::NodeProcess), set when
/// the leader is reaped: a reaped group's id may be someone else's, so it
/// is never signalled again.
#[derive(Debug, Clone)]
pub struct GroupControl {
    pgid: i32,
    reaped: Arc<AtomicBool>,
}

impl GroupControl {
    pub(crate) fn new(pgid: i32, reaped: Arc<AtomicBool>) -> GroupControl {
        GroupControl { pgid, reaped }
    }

    fn gone(&self) -> bool {
        self.reaped.load(Ordering::Acquire)
    }

    fn to_group(&self, signal: i32) -> Result<(), NodeError> {
        match signal_group(self.pgid, signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(errno) => Err(NodeError::Signal {
                pid: self.pgid as u32,
                signal: nix::sys::signal::Signal::try_from(signal).map_or("signal", |s| s.as_str()),
                errno,
            }),
        }
    }

    fn stop_or_continue(&self, signal: i32) -> Result<(), NodeError> {
        if self.gone() {
            return Ok(());
        }
        self.to_group(signal)?;
        signal_members(|| self.member_pids(), signal);
        Ok(())
    }
}

impl NodeControl for GroupControl {
    fn signal(&self, signal: i32) -> Result<(), NodeError> {
        if self.gone() {
            return Ok(());
        }
        if signal == libc::SIGKILL {
            crate::cgroup::kill_members_of(self.pgid);
        }
        self.to_group(signal)
    }

    fn pause(&self) -> Result<(), NodeError> {
        self.stop_or_continue(libc::SIGSTOP)
    }

    fn resume(&self) -> Result<(), NodeError> {
        self.stop_or_continue(libc::SIGCONT)
    }

    fn member_pids(&self) -> Vec<u32> {
        if self.gone() {
            return Vec::new();
        }
        crate::member_pids_of(self.pgid)
    }

    fn is_running(&self) -> bool {
        // The leader exited when it is a zombie (or gone): its group's
        // end is then the keeper's to collect.
        // `start_time` reads no zombie.
        !self.gone() && crate::cgroup::start_time(self.pgid).is_some()
    }
}
