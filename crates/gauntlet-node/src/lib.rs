//! Node processes: spawn in their own process group, kill, pause, resume, log
//! stderr, and leave nothing behind.
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
//! spec.echo_stderr = Some("n1".into()); // each line echoed as "n1 <line>"
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
//! | how gauntlet ends | what kills the nodes |
//! |---|---|
//! | normally | each [`NodeProcess`] is waited for or dropped: its group is SIGKILLed and the child reaped |
//! | `std::process::exit` / returning from `main` without dropping | an `atexit` handler this crate installs calls [`kill_all`] |
//! | Ctrl-C | the CLI's handler calls [`shutdown`] (kill all, refuse new spawns) |
//! | a panic | the CLI's panic hook calls [`kill_all`]; unwinding then drops the `NodeProcess`es |
//! | SIGKILL, OOM kill, abort | `PR_SET_PDEATHSIG = SIGKILL`: the kernel kills each node |
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
//!   Nobody is left to kill the rest of the group, so a node's own children
//!   survive. Wrapper scripts must `exec` the real program (Maelstrom gives
//!   the same advice), and nodes that fork should set `PR_SET_PDEATHSIG`
//!   themselves. Likewise a descendant that leaves the group (`setsid`,
//!   `setpgid`) escapes [`NodeProcess::kill`], and exec of a set-user-ID
//!   program clears the death signal.
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
//! back to a watcher thread elsewhere.

#[cfg(not(target_os = "linux"))]
compile_error!("gauntlet-node relies on Linux (prctl PR_SET_PDEATHSIG, pidfd)");

mod error;
mod exit;
mod process;
mod registry;
mod spawner;
mod stderr;
mod wait;

pub use error::NodeError;
pub use exit::{Exit, Termination, signal_name};
pub use process::{NodeProcess, NodeSpec};
pub use registry::{MAX_LIVE_GROUPS, kill_all, live_groups, shutdown};
