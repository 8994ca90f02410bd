//! Node processes: spawn each in its own cgroup and process group, kill,
//! pause, resume, log stderr, and leave nothing behind.
//!
//! Gauntlet runs user programs ("nodes") as child processes and talks to them
//! over stdin/stdout (Maelstrom's transport: JSON lines in, JSON lines out,
//! free-form logs on stderr). Faults kill, pause and restart them. Whatever
//! happens, no process may outlive the run: not after a normal run, not on
//! Ctrl-C, not on a panic, not when gauntlet itself is SIGKILLed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gauntlet_node::NodeError> {
//! use gauntlet_node::{NodeProcess, NodeSpec};
//! let mut spec = NodeSpec::new("/usr/local/bin/my-node");
//! spec.stderr_log = Some("store/run-1/node-logs/n1.log".into());
//! // each stderr line also goes to a function of the caller's (the library never prints)
//! spec.echo_stderr = Some(gauntlet_node::LineSink::new(|line| { let _ = line; }));
//! let mut node = NodeProcess::spawn(&spec)?;
//! let (stdin, stdout) = (node.take_stdin().unwrap(), node.take_stdout().unwrap());
//! // ... talk to it ...
//! node.pause()?;   // fault
//! node.resume()?;  // heal
//! node.kill()?;
//! let exit = node.wait().await;
//! eprintln!("n1 {exit}; last stderr lines: {:?}", exit.stderr_tail);
//! # Ok(()) }
//! ```
//!
//! # How nothing leaks
//!
//! Where a writable cgroup v2 hierarchy exists (see [`containment`]), each
//! gauntlet process owns `<cgroup2>/gauntlet/<pid>-<starttime>/` and each
//! node runs in a child cgroup of it, joined before `exec`. A process cannot
//! leave its cgroup, so "kill the node" means `cgroup.kill`: the node, its
//! children and anything that daemonised itself with `setsid`. Without one,
//! containment is by process group only and a `setsid` escapee survives;
//! [`containment`] says which mode is active and why.
//!
//! | how gauntlet ends | what kills the nodes |
//! |---|---|
//! | normally | each [`NodeProcess`] is waited for or dropped: its cgroup and group are SIGKILLed, the child reaped, the cgroup removed |
//! | a node exits by itself | what it left in its cgroup and group is SIGKILLed before it is reaped |
//! | `std::process::exit` / returning from `main` without dropping | an `atexit` handler this crate installs calls [`kill_all`] and removes the run's cgroup |
//! | Ctrl-C | the CLI's handler calls [`shutdown`] (kill all, refuse new spawns) |
//! | a panic | the CLI's panic hook calls [`kill_all`]; unwinding then drops the `NodeProcess`es |
//! | SIGKILL, OOM kill, abort | `PR_SET_PDEATHSIG = SIGKILL` kills each direct child at once; the rest (grandchildren, daemons) stays in the dead owner's cgroup until the next gauntlet's [`sweep_dead_owners`] (the CLI calls it before every command that runs things; the first spawn does too) kills and removes it |
//!
//! [`kill_all`] writes `1` to the run cgroup's `cgroup.kill` through a
//! descriptor opened at start-up, so it stays lock-free, allocation-free
//! and async-signal-safe.
//!
//! A pause is `SIGSTOP` to the process group (at once: a paused node shows
//! as stopped, `T`, the way observers expect) and, under cgroup
//! containment, `SIGSTOP` to every other process in the node's cgroup, so
//! a `setsid` escapee is paused with its node; a resume sends `SIGCONT` the
//! same two ways. (Not `cgroup.freeze`: a freeze races the pending
//! `SIGSTOP` and leaves processes sleeping rather than stopped.) Without cgroups an escapee keeps running while its node
//! is paused (`containment()` says which mode this is).
//!
//! Hooking the CLI up (this crate installs no handlers of its own besides
//! `atexit`; what a panic means is the CLI's call):
//!
//! ```no_run
//! let previous = std::panic::take_hook();
//! std::panic::set_hook(Box::new(move |info| {
//!     gauntlet_node::kill_all();
//!     previous(info);
//! }));
//! # async fn ctrl_c() {
//! tokio::spawn(async {
//!     if tokio::signal::ctrl_c().await.is_ok() {
//!         gauntlet_node::shutdown();
//!     }
//! });
//! # }
//! ```
//!
//! # Pitfalls this crate handles, and the ones it cannot
//!
//! - **Process groups.** Each node calls `setpgid(0, 0)` before `exec`, so one
//!   `kill(-pgid)` reaches it and everything it forks (`sh -c 'a & b'`), and
//!   the terminal's Ctrl-C (sent to the foreground group) does not hit nodes
//!   behind gauntlet's back: gauntlet decides when they die. When a node's
//!   main process ends, the rest of its group is killed before it is reaped.
//! - **`PR_SET_PDEATHSIG` follows the forking thread, not the process.** A
//!   node forked from a tokio blocking-pool thread (`spawn_blocking`) would be
//!   killed when that thread retires after ten idle seconds. So every fork
//!   happens on one long-lived thread owned by this crate;
//!   [`NodeProcess::spawn`] can be called from anywhere inside a runtime.
//!   After `prctl`, the child checks `getppid()`: if gauntlet died between
//!   fork and `prctl` the signal was never armed, and the child exits.
//! - **Only async-signal-safe calls between fork and exec** (`setpgid`,
//!   `prctl`, `getppid`, `signal`, `_exit`): the child of a multi-threaded
//!   process may find any lock held by a thread that no longer exists.
//! - **If gauntlet is SIGKILLed, only direct children get the death signal.**
//!   Nobody is left to kill the rest, so a node's own children live on until
//!   the next gauntlet sweeps the dead owner's cgroup (the owner is named by
//!   pid *and* start time, so a recycled pid never passes for it, and a live
//!   owner's cgroup is never touched). Under process-group containment
//!   nothing sweeps them: wrapper scripts must `exec` the real program
//!   (Maelstrom gives the same advice), a descendant that leaves the group
//!   (`setsid`, `setpgid`) escapes [`NodeProcess::kill`], and exec of a
//!   set-user-ID program clears the death signal.
//! - **Joining the cgroup happens in the child, before `exec`.** The
//!   cgroup's `cgroup.procs` is opened `O_CLOEXEC` before the fork, and the
//!   child writes `0` to it (`open`/`write` are async-signal-safe; `0` means
//!   "me"), so not one instruction of the program runs outside it. If the
//!   write fails, the spawn fails: an uncontained node never passes as a
//!   contained one. Whether joining works at all is proven once at start-up
//!   by a forked probe, not assumed from a successful `mkdir`.
//! - **The sweep trusts only names it made** (`<pid>-<starttime>` directly
//!   under `<cgroup2>/gauntlet/`) and only the pid namespace it runs in: two
//!   gauntlets in different pid namespaces sharing one cgroup2 mount would
//!   misjudge each other's liveness. A zombie owner counts as dead.
//! - **Zombies are leaks.** Every child is reaped by pid (never `waitpid(-1)`,
//!   which would steal other crates' children): by [`NodeProcess::wait`] /
//!   [`NodeProcess::try_exit`], or, when dropped still running, by a reaper
//!   thread so `Drop` never blocks the runtime. A node's orphaned
//!   grandchildren are reparented to init, which must reap them (in a
//!   container, run gauntlet under an init such as `tini`).
//! - **Pid reuse.** A group is unregistered before its leader is reaped (the
//!   zombie pins the id), and [`kill_all`] coordinates with reapers, so no
//!   stale group id is ever signalled. A reaped node is never signalled again.
//! - **Inherited dispositions.** Signals gauntlet ignores would stay ignored
//!   in the node; the child resets them to their defaults before `exec`.
//!
//! Linux only (`prctl`, pidfd). `wait` uses a pidfd (Linux 5.3+) and falls
//! back to a watcher thread elsewhere. Cgroup containment needs cgroup v2
//! with `cgroup.kill` (Linux 5.14+) and permission to create cgroups (root,
//! or a delegated subtree mounted as the cgroup2 root).

#[cfg(not(target_os = "linux"))]
compile_error!("gauntlet-node relies on Linux (prctl PR_SET_PDEATHSIG, pidfd)");

mod backend;
mod capped;
mod cgroup;
mod control;
mod error;
mod exit;
mod netns;
mod owner;
mod process;
mod registry;
mod spawner;
mod stderr;
mod wait;

pub use backend::{
    Backend, BoxFuture, LocalBackend, Node, NodeHandle, Output, finish_node, run_to_end,
};
pub use capped::{CappedLog, DEFAULT_STDERR_LOG_LIMIT, truncation_note};
pub use cgroup::{Containment, Sweep, containment, owner_alive, start_time, sweep_dead_owners};
pub use control::{ExecOutput, GroupControl, NodeControl, Usage};
pub use error::NodeError;
pub use exit::{Exit, Termination, signal_name};
pub use netns::NetnsBackend;
pub use owner::{Liveness, Owner, sanitize_host, this_boot, this_host};
pub use process::{NodeProcess, NodeSpec};
pub use registry::{MAX_LIVE_GROUPS, is_shutting_down, kill_all, live_groups, shutdown};
pub use stderr::{LineSink, LineTail};

/// `VmRSS` from a `/proc/<pid>/status` text, in bytes. `None` when absent,
/// as for a zombie or a kernel thread.
pub fn status_rss_bytes(status: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix("VmRSS:")?;
        let kib: u64 = value.split_ascii_whitespace().next()?.parse().ok()?;
        Some(kib * 1024)
    })
}

/// This process's resident memory, in bytes.
pub fn self_rss_bytes() -> Option<u64> {
    status_rss_bytes(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// This process's CPU time so far, user and system, all its threads
/// (`getrusage(RUSAGE_SELF)`): what benchmarks charge to gauntlet.
pub fn self_cpu_time() -> std::time::Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec.max(0) as u64)
            + std::time::Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The pids that make up the node led by `leader` (a pid this process
/// spawned), for resource sampling: its whole cgroup when it has one of
/// this run's (daemons that called `setsid` included), else its process
/// group. Empty when it is gone.
pub fn member_pids_of(leader: i32) -> Vec<u32> {
    cgroup::members_of(leader).unwrap_or_else(|| process::group_pids(leader))
}
