//! [`NodeProcess`]: one node, its process group, its pipes and its reaping.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::unix::AsyncFd;
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::watch;

use crate::capped::CappedLog;
use crate::cgroup::Member;
use crate::control::GroupControl;
use crate::spawner::{self, Corpse, SpawnFailure, SpawnRequest, signal_group};
use crate::stderr::{self, LineSink, StderrShared};
use crate::{Exit, NodeError, Termination, registry, wait};

/// How to start a node program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The program. Without a `/` it is looked up on `PATH` (Maelstrom
    /// resolves `--bin` to an absolute path first; that is the caller's job).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its working directory; `None` inherits gauntlet's. (Maelstrom runs
    /// nodes in the system temp dir.)
    pub cwd: Option<PathBuf>,
    /// Variables set or overridden on top of gauntlet's inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// Where stderr goes. Appended to (its directory is created); when it
    /// already has content (a restart), a separator line is written first.
    /// It grows to at most [`stderr_log_limit`](Self::stderr_log_limit)
    /// bytes.
    pub stderr_log: Option<PathBuf>,
    /// The most bytes [`stderr_log`](Self::stderr_log) may hold, earlier
    /// incarnations included. Past it the bytes are counted, not written,
    /// and a note at the end of each incarnation's part says how many: a
    /// node printing without end fills no disk. The tail, the echo and
    /// [`Exit::stderr_bytes`](crate::Exit::stderr_bytes) still see every
    /// byte.
    pub stderr_log_limit: u64,
    /// How many of the last stderr lines to keep for crash reports
    /// (Maelstrom keeps 32).
    pub stderr_tail: usize,
    /// When `Some(sink)`, each stderr line (without its newline, cut at
    /// 16 KiB) is also handed to the sink, for Maelstrom's `--log-stderr`.
    /// The library never prints it itself.
    pub echo_stderr: Option<LineSink>,
}

impl NodeSpec {
    /// A spec for `program` with no arguments, inherited cwd and environment,
    /// no log file, a 32-line stderr tail and no echo.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        NodeSpec {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            stderr_log: None,
            stderr_log_limit: crate::DEFAULT_STDERR_LOG_LIMIT,
            stderr_tail: 32,
            echo_stderr: None,
        }
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }
}

/// A running node: a child process leading its own process group.
///
/// The caller takes its stdin and stdout ([`take_stdin`](Self::take_stdin),
/// [`take_stdout`](Self::take_stdout)) and talks to it; this type owns the
/// process's life: signals, stderr and reaping. Dropping it kills the whole
/// group and reaps the child without blocking.
///
/// When the node itself exits (or is killed), whatever is left of its
/// process group is SIGKILLed before it is reaped: a node is its whole group,
/// and a background process it left behind would be a leak.
pub struct NodeProcess {
    pid: i32,
    program: PathBuf,
    stderr_log: Option<PathBuf>,
    slot: usize,
    /// The node's own cgroup while it runs; `None` under process-group
    /// containment, and once reaped (dropping it kills what is left and
    /// removes the directory).
    cgroup: Option<Member>,
    state: State,
    exit_signal: ExitSignal,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Arc<StderrShared>,
    stderr_done: watch::Receiver<bool>,
    /// Set once the leader is reaped, shared with its [`GroupControl`]s.
    reaped: Arc<AtomicBool>,
}

enum State {
    /// Not yet reaped (it may be a zombie already).
    Running,
    /// Reaped; waiting for the stderr copier to drain the pipe.
    Reaped(Termination),
    /// Reaped and drained.
    Done(Exit),
}

/// Wakes [`NodeProcess::wait`] when the child exits.
enum ExitSignal {
    /// A pidfd (Linux 5.3+) registered with the runtime: no thread, no timer.
    Pidfd(AsyncFd<OwnedFd>),
    /// Fallback: a thread blocked in `waitid(WNOWAIT)`.
    Watcher(watch::Receiver<bool>),
}

impl ExitSignal {
    async fn changed(&mut self) {
        match self {
            ExitSignal::Pidfd(fd) => match fd.readable().await {
                Ok(mut guard) => guard.clear_ready(),
                // The runtime is shutting down; nothing will poll us long.
                Err(_) => tokio::task::yield_now().await,
            },
            ExitSignal::Watcher(rx) => {
                if rx.wait_for(|exited| *exited).await.is_err() {
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}

impl NodeProcess {
    /// Starts `spec.program` as a node.
    ///
    /// The child leads its own process group (`setpgid`), has
    /// `PR_SET_PDEATHSIG = SIGKILL` so it dies with gauntlet even on SIGKILL,
    /// starts with default signal dispositions, and has stdin and stdout
    /// piped for the caller and stderr copied by a task into the log file,
    /// the tail ring buffer and optionally gauntlet's stderr.
    ///
    /// Must be called within a tokio runtime with IO enabled (the pipes are
    /// registered with it), from any thread: the fork itself happens on a long-lived thread
    /// this crate owns, because the death signal fires when the *forking
    /// thread* exits. Blocks the calling thread for the fork + exec, well
    /// under a millisecond normally.
    ///
    /// Errors name the program and say why: not found on `PATH`, no such
    /// file, not executable, missing `#!` interpreter, bad working directory,
    /// unopenable log.
    pub fn spawn(spec: &NodeSpec) -> Result<NodeProcess, NodeError> {
        Self::spawn_in(spec, None)
    }

    /// [`spawn`](Self::spawn) inside the network namespace at `netns`
    /// (`/run/netns/<name>`): the netns backend's way in.
    pub(crate) fn spawn_in(
        spec: &NodeSpec,
        netns: Option<&Path>,
    ) -> Result<NodeProcess, NodeError> {
        let program = spec.program.clone();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(NodeError::NoRuntime { program });
        }
        if let Some(cwd) = &spec.cwd {
            // std reports a bad cwd as a bare ENOENT, indistinguishable from
            // a missing program; check it here to say which.
            let problem = match std::fs::metadata(cwd) {
                Ok(m) if m.is_dir() => None,
                Ok(_) => Some(io::Error::from_raw_os_error(libc::ENOTDIR)),
                Err(e) => Some(e),
            };
            if let Some(error) = problem {
                return Err(NodeError::Cwd {
                    program,
                    cwd: cwd.clone(),
                    error,
                });
            }
        }
        let log = match &spec.stderr_log {
            Some(path) => Some(CappedLog::append(path, spec.stderr_log_limit).map_err(
                |error| NodeError::StderrLog {
                    program: program.clone(),
                    path: path.clone(),
                    error,
                },
            )?),
            None => None,
        };

        let netns = match netns {
            Some(path) => Some(std::fs::File::open(path).map_err(|error| NodeError::Netns {
                program: program.clone(),
                path: path.to_owned(),
                error,
            })?),
            None => None,
        };
        let spawned = spawner::spawn(SpawnRequest {
            program: program.clone(),
            args: spec.args.clone(),
            cwd: spec.cwd.clone(),
            env: spec.env.clone(),
            netns,
        })
        .map_err(|failure| match failure {
            SpawnFailure::Io(error) => NodeError::Spawn {
                program: program.clone(),
                error,
            },
            SpawnFailure::TooMany => NodeError::TooManyNodes {
                program: program.clone(),
            },
            SpawnFailure::ShuttingDown => NodeError::ShuttingDown {
                program: program.clone(),
            },
        })?;
        let mut child = spawned.child;
        let pid = child.id() as i32;
        let slot = spawned.slot;

        // From here on a child exists: an early return (or a panic, say from
        // a runtime without IO) must not leave it behind.
        let mut pending = Pending {
            pid,
            slot,
            stderr: None,
            member: spawned.member,
        };
        let failed = |error: io::Error| NodeError::Spawn {
            program: program.clone(),
            error,
        };
        let (Some(stdin), Some(stdout), Some(stderr_pipe)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(failed(io::Error::other("child pipes missing")));
        };
        // `child` holds nothing more; we reap by pid, never through it.
        drop(child);
        let stdin = ChildStdin::from_std(stdin).map_err(failed)?;
        let stdout = ChildStdout::from_std(stdout).map_err(failed)?;
        let separator = format!(
            "--- gauntlet: node restarted: {} (pid {pid}) ---\n",
            program.display()
        );
        let copier = stderr::start(
            stderr_pipe,
            log,
            Some(separator),
            spec.stderr_tail,
            spec.echo_stderr.clone(),
        )
        .map_err(failed)?;
        pending.stderr = Some(Arc::clone(&copier.shared));
        let exit_signal = exit_signal(pid).map_err(failed)?;
        // The NodeProcess owns the child now; disarm.
        pending.stderr = None;
        let cgroup = pending.member.take();
        std::mem::forget(pending);

        Ok(NodeProcess {
            pid,
            program,
            stderr_log: spec.stderr_log.clone(),
            slot,
            cgroup,
            state: State::Running,
            exit_signal,
            stdin: Some(stdin),
            stdout: Some(stdout),
            stderr: copier.shared,
            stderr_done: copier.done,
            reaped: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The node's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The node's process group id: the same number as [`pid`](Self::pid),
    /// typed for `killpg` and the `/proc` group scans of observers.
    pub fn pgid(&self) -> i32 {
        self.pid
    }

    /// The node's own cgroup directory, when containment is by cgroup and
    /// the node has not been reaped yet.
    pub fn cgroup(&self) -> Option<&std::path::Path> {
        self.cgroup.as_ref().map(Member::dir)
    }

    /// The pids of the processes that make up this node now, for resource
    /// sampling: its cgroup's `cgroup.procs` (everything it started,
    /// daemons included) or, under process-group containment, the live
    /// members of its process group. Empty once reaped.
    pub fn member_pids(&self) -> Vec<u32> {
        if !matches!(self.state, State::Running) {
            return Vec::new();
        }
        match &self.cgroup {
            Some(member) => member.pids(),
            None => group_pids(self.pid),
        }
    }

    /// Signals, pauses and looks at this node from anywhere while the
    /// owner of this handle waits on it.
    pub fn control(&self) -> GroupControl {
        GroupControl::new(self.pid, Arc::clone(&self.reaped))
    }

    /// The program this node runs.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }

    /// The node's stdin; `None` once taken. Dropping it closes the node's
    /// stdin (the node sees EOF).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// The node's stdout; `None` once taken. Read it steadily: a node
    /// blocks when the pipe buffer (64 KiB) is full.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// SIGKILL to the whole node: its cgroup (everything it started,
    /// `setsid` escapees included) and its process group. Does not reap;
    /// [`wait`](Self::wait) reports "killed by SIGKILL". Succeeds without
    /// doing anything if the node has already been reaped (its pid may
    /// belong to someone else by then, so it is never signalled again; its
    /// cgroup was killed when it was reaped).
    pub fn kill(&self) -> Result<(), NodeError> {
        match self.state {
            State::Running => {
                if let Some(member) = &self.cgroup {
                    // A failure here (the cgroup is gone) still leaves the
                    // group kill below, which reports its own errors.
                    let _ = member.kill();
                }
                match signal_group(self.pid, libc::SIGKILL) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                    Err(errno) => Err(self.signal_error("SIGKILL", errno)),
                }
            }
            _ => Ok(()),
        }
    }

    /// SIGTERM to the whole process group: the polite stop that gives a
    /// service the chance to shut down cleanly, to be followed by
    /// [`kill`](Self::kill) if it does not exit in time. Like `kill`, it
    /// does not reap, and succeeds without doing anything once the node has
    /// been reaped.
    pub fn terminate(&self) -> Result<(), NodeError> {
        match self.state {
            State::Running => match signal_group(self.pid, libc::SIGTERM) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                Err(errno) => Err(self.signal_error("SIGTERM", errno)),
            },
            _ => Ok(()),
        }
    }

    /// Sends `signal` to the whole node: `SIGKILL` is [`kill`](Self::kill)
    /// (cgroup and group), anything else goes to the process group. Like
    /// `kill`, succeeds without doing anything once the node is reaped.
    pub fn signal(&self, signal: libc::c_int) -> Result<(), NodeError> {
        if signal == libc::SIGKILL {
            return self.kill();
        }
        match self.state {
            State::Running => match signal_group(self.pid, signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                Err(errno) => Err(self.signal_error(
                    nix::sys::signal::Signal::try_from(signal).map_or("signal", |s| s.as_str()),
                    errno,
                )),
            },
            _ => Ok(()),
        }
    }

    /// A "pause" fault: SIGSTOP to the whole group (at once, and the node
    /// shows as stopped, `T`), and under cgroup containment SIGSTOP to
    /// every other process in its cgroup, so what escaped the group
    /// (`setsid`) is paused too. A paused node still counts as alive;
    /// [`kill`](Self::kill) and `Drop` work on it.
    pub fn pause(&self) -> Result<(), NodeError> {
        self.signal_running(libc::SIGSTOP, "SIGSTOP")?;
        self.signal_escapees(libc::SIGSTOP);
        Ok(())
    }

    /// Heals a pause: SIGCONT to the whole group and to every escapee in
    /// its cgroup.
    pub fn resume(&self) -> Result<(), NodeError> {
        self.signal_running(libc::SIGCONT, "SIGCONT")?;
        self.signal_escapees(libc::SIGCONT);
        Ok(())
    }

    /// Sends `signal` to every process in the node's cgroup (see
    /// [`signal_members`]).
    fn signal_escapees(&self, signal: libc::c_int) {
        if let (Some(member), State::Running) = (&self.cgroup, &self.state) {
            signal_members(|| member.pids(), signal);
        }
    }

    fn signal_running(&self, signal: libc::c_int, name: &'static str) -> Result<(), NodeError> {
        let not_running = || NodeError::NotRunning {
            pid: self.pid as u32,
            signal: name,
        };
        match self.state {
            State::Running => match signal_group(self.pid, signal) {
                Ok(()) => Ok(()),
                Err(nix::errno::Errno::ESRCH) => Err(not_running()),
                Err(errno) => Err(self.signal_error(name, errno)),
            },
            _ => Err(not_running()),
        }
    }

    fn signal_error(&self, signal: &'static str, errno: nix::errno::Errno) -> NodeError {
        NodeError::Signal {
            pid: self.pid as u32,
            signal,
            errno,
        }
    }

    /// Waits for the node to end, reaps it and returns how it ended with its
    /// stderr tail. Cancel-safe (use it in `select!`), and callable again:
    /// later calls return the same [`Exit`].
    ///
    /// When the node exits, the rest of its group is killed before it is
    /// reaped. The returned tail is complete: this also waits for the stderr
    /// copier to drain the pipe (bounded by a short grace if a process that
    /// escaped the group with `setsid` still holds it).
    pub async fn wait(&mut self) -> Exit {
        loop {
            if let Some(exit) = self.try_exit() {
                return exit;
            }
            match self.state {
                State::Running => self.exit_signal.changed().await,
                _ => {
                    let _ = self.stderr_done.wait_for(|done| *done).await;
                }
            }
        }
    }

    /// Like [`wait`](Self::wait) but never blocks: `None` while the node
    /// runs. The child is reaped as soon as it has exited; `Some` comes once
    /// its stderr has also been drained, which follows within moments.
    pub fn try_exit(&mut self) -> Option<Exit> {
        if let State::Running = self.state {
            let termination = match wait::exited(self.pid, false) {
                Ok(false) => return None,
                Ok(true) => spawner::finish_reap(self.pid, self.slot, self.cgroup.as_ref()),
                // Reaped behind our back; the group id may be recycled, so
                // do not signal it.
                Err(_) => {
                    registry::release(self.slot);
                    Termination::Unknown
                }
            };
            self.stderr.leader_gone();
            // Killed in finish_reap; dropping removes the directory.
            self.cgroup = None;
            self.reaped.store(true, Ordering::Release);
            self.state = State::Reaped(termination);
        }
        match &self.state {
            State::Done(exit) => Some(exit.clone()),
            State::Reaped(termination) => {
                let drained = *self.stderr_done.borrow() || self.stderr_done.has_changed().is_err();
                if !drained {
                    return None;
                }
                let exit = Exit {
                    pid: self.pid as u32,
                    program: self.program.clone(),
                    termination: *termination,
                    stderr_tail: self.stderr.tail(),
                    stderr_bytes: self.stderr.bytes(),
                    stderr_log: self.stderr_log.clone(),
                    oom_killed: None,
                };
                self.state = State::Done(exit.clone());
                Some(exit)
            }
            State::Running => None,
        }
    }

    /// The last stderr lines seen so far, oldest first.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr.tail()
    }
}

/// A child spawned but not yet wrapped in a [`NodeProcess`]: dropped, it
/// kills and reaps the child.
struct Pending {
    pid: i32,
    slot: usize,
    stderr: Option<Arc<StderrShared>>,
    member: Option<Member>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let _ = signal_group(self.pid, libc::SIGKILL);
        if let Some(member) = &self.member {
            let _ = member.kill();
        }
        spawner::reap_later(Corpse {
            pid: self.pid,
            slot: self.slot,
            stderr: self.stderr.take(),
            member: self.member.take(),
        });
    }
}

/// Sends `signal` to every process `members` lists (a node's cgroup), in
/// passes until a pass finds no pid it has not signalled: a child forked
/// between reading `cgroup.procs` and the signal shows up in the next
/// pass, and a stopped process forks no more. Not `cgroup.freeze`: a
/// freeze can catch a process before it acts on its pending SIGSTOP, and
/// it then sleeps (`S`) instead of showing as stopped. Best effort: a pid
/// that is gone by the time it is signalled needs nothing.
pub(crate) fn signal_members(members: impl Fn() -> Vec<u32>, signal: libc::c_int) {
    /// A fork bomb outruns any bound; the group itself is signalled
    /// regardless, and the cgroup kill still takes everything.
    const MAX_PASSES: usize = 8;
    let mut signalled = std::collections::HashSet::new();
    for _ in 0..MAX_PASSES {
        let fresh: Vec<u32> = members()
            .into_iter()
            .filter(|pid| signalled.insert(*pid))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for pid in fresh {
            let Ok(pid) = i32::try_from(pid) else {
                continue;
            };
            // SAFETY: kill(2) has no memory-safety preconditions; the pid
            // is in a node's cgroup, which only this run creates.
            unsafe { libc::kill(pid, signal) };
        }
    }
}

/// Live pids whose process group is `pgid` (a scan of `/proc`).
pub(crate) fn group_pids(pgid: i32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // "pid (comm) state ppid pgrp ..."; comm may hold parens.
                let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                    return false;
                };
                let mut fields = rest.split_whitespace();
                let state = fields.next();
                let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
                state != Some("Z") && pgrp == Some(pgid)
            })
        })
        .collect()
}

/// Sets up how `wait` learns that `pid` exited.
fn exit_signal(pid: i32) -> io::Result<ExitSignal> {
    if let Some(fd) = wait::pidfd_open(pid) {
        // SAFETY: an OwnedFd stays open, and is the same descriptor, for as
        // long as the AsyncFd owns it.
        if let Ok(fd) =
            unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        {
            return Ok(ExitSignal::Pidfd(fd));
        }
    }
    exit_watcher(pid)
}

/// The fallback when there is no pidfd: a thread blocked in `waitid`.
fn exit_watcher(pid: i32) -> io::Result<ExitSignal> {
    let (tx, rx) = watch::channel(false);
    std::thread::Builder::new()
        .name(format!("gauntlet-exit-{pid}"))
        .spawn(move || {
            // Does not reap (WNOWAIT): the NodeProcess does that.
            let _ = wait::exited(pid, true);
            let _ = tx.send(true);
        })?;
    Ok(ExitSignal::Watcher(rx))
}

impl Drop for NodeProcess {
    /// SIGKILLs the cgroup and the group (and SIGCONTs the group, so a
    /// paused group dies promptly whatever the kernel's mood), then reaps
    /// the child and removes its cgroup: at once if it is already dead,
    /// otherwise on this crate's reaper thread so the async runtime never
    /// blocks.
    fn drop(&mut self) {
        if !matches!(self.state, State::Running) {
            return;
        }
        self.reaped.store(true, Ordering::Release);
        if let Some(member) = &self.cgroup {
            let _ = member.kill();
        }
        let _ = signal_group(self.pid, libc::SIGKILL);
        let _ = signal_group(self.pid, libc::SIGCONT);
        match wait::exited(self.pid, false) {
            Ok(true) => {
                spawner::finish_reap(self.pid, self.slot, self.cgroup.as_ref());
                self.stderr.leader_gone();
            }
            Ok(false) => spawner::reap_later(Corpse {
                pid: self.pid,
                slot: self.slot,
                stderr: Some(Arc::clone(&self.stderr)),
                member: self.cgroup.take(),
            }),
            Err(_) => {
                registry::release(self.slot);
                self.stderr.leader_gone();
            }
        }
    }
}

impl std::fmt::Debug for NodeProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeProcess")
            .field("pid", &self.pid)
            .field("program", &self.program)
            .field(
                "state",
                &match &self.state {
                    State::Running => "running".to_owned(),
                    State::Reaped(t) | State::Done(Exit { termination: t, .. }) => t.to_string(),
                },
            )
            .finish_non_exhaustive()
    }
}

/// The errno of an IO error, for errors reported as a failed signal.
#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of learning about an exit wake the waiter, and neither
    /// reaps (the exit status is still there for `reap`).
    #[tokio::test]
    #[allow(clippy::zombie_processes)] // reaped by pid, with wait::reap
    async fn exit_signals_wake_without_reaping() {
        for use_pidfd in [true, false] {
            let child = std::process::Command::new("sh")
                .args(["-c", "exit 5"])
                .spawn()
                .unwrap();
            let pid = child.id() as i32;
            let mut signal = if use_pidfd {
                exit_signal(pid).unwrap()
            } else {
                exit_watcher(pid).unwrap()
            };
            assert_eq!(matches!(signal, ExitSignal::Pidfd(_)), use_pidfd);
            while !wait::exited(pid, false).unwrap() {
                signal.changed().await;
            }
            assert_eq!(wait::reap(pid), Termination::Exited(5));
        }
    }
}
