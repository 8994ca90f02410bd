//! The `ssh` node backend: a node is a program run on a remote host over
//! the system's OpenSSH, and a small host API for a fleet (run a command
//! with a timeout, upload a file atomically, read a file).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use gauntlet_node::{Backend, NodeSpec};
//! use gauntlet_ssh::{Host, HostSpec, SshBackend};
//! let mut spec = HostSpec::new("db1", "10.0.0.11");
//! spec.fallback_address = Some("192.168.7.11".into());
//! spec.user = Some("deploy".into());
//! let host = Host::connect(spec).await?; // refused if its host key is unknown
//! gauntlet_ssh::sweep(&host).await?;      // what dead gauntlets left there
//! host.upload("target/release/kv".as_ref(), "/opt/kv/kv".as_ref(), 0o755).await?;
//! let out = host.run(&["/opt/kv/kv", "--version"], Duration::from_secs(10)).await?;
//! let backend = SshBackend::new(host.clone());
//! let mut node = backend.spawn(&NodeSpec::new("/opt/kv/kv").arg("--node"))?;
//! let (stdin, stdout) = (node.take_stdin(), node.take_stdout()); // the program's own
//! node.pause()?;  // SIGSTOP to its process group on db1
//! node.resume()?;
//! drop(node);     // its group on db1 is SIGKILLed
//! let log = host.read_file("/var/log/kv.log".as_ref(), 1 << 20).await?;
//! # let _ = (out, stdin, stdout, log); Ok(()) }
//! ```
//!
//! # The connection
//!
//! A [`Host`] is one ControlMaster of the system's `ssh` (the kept
//! `openssh` crate, process mux): the user's `~/.ssh/config`, agent and
//! keys apply, as for `ssh` at a prompt. Host keys are always checked
//! (`StrictHostKeyChecking=yes`): an unknown or changed key is refused,
//! and [`SshError::HostKey`] names the host and says how to accept the
//! key once its fingerprint is checked. `address` is tried, then
//! `fallback_address`; the error names both attempts. The control socket
//! lives in `/tmp/gssh-<pid>-<start>-<random>/` (0700; a socket's path
//! holds at most 108 bytes, so not under `$HOME`), removed with the
//! `Host`.
//!
//! Everything else is a local `ssh -S <socket> -o BatchMode=yes -o
//! ControlMaster=no -T -p 9 none -- <command>` through the master: a
//! node's stdin and stdout are that process's, real pipes, so a
//! Maelstrom node speaks JSON lines over them unchanged, and its stderr
//! (the program's) goes into the node's log and tail through
//! gauntlet-node's copier. (`-p 9 none`: if the master is gone, nothing
//! tries a connection of its own.) The command is one of this crate's
//! scripts for the host's `/bin/sh`, every value in it a quoted word
//! ([`quote`]); the host needs Linux's `/proc`,
//! `setsid` (util-linux) and `awk`, and a POSIX login shell.
//!
//! A node runs on the host as the leader of a process group of its own
//! (`setsid`), its group id recorded in a pid file under its
//! connection's run directory, `/tmp/gauntlet-ssh/<run dir>/<node>.pid`
//! ([`RunDir`] names the gauntlet process, its machine and boot), and
//! every process of it carries the marker [`MARKER_VAR`] in its
//! environment. Signals, pauses and kills are `kill -s SIG -- -<pgid>`
//! on the host, sent only to a group provably the node's (its leader's
//! recorded start time, or the marker), so a recycled id never reaches a
//! stranger.
//!
//! Each connection has a *keeper*, one session for the connection's
//! life: control steps (signals, usage, sweeps) are requests to it, so
//! they need no session of their own and cost one `sh` on the host. The
//! host's sshd allows `MaxSessions` sessions per connection (10 by
//! default): the keeper's, and one for each node, command, upload and
//! read in flight. Past it a start fails with [`SshError::NoSession`],
//! while the running nodes can still be signalled, sampled and killed.
//!
//! # How nothing leaks
//!
//! The keeper serves its input until it ends, then SIGKILLs every group
//! its run directory names and removes the directory. Its input ends when the connection
//! ends, however it ends, so what a gauntlet started on a host does not
//! outlive its connection to that host.
//!
//! | how gauntlet ends | what kills its processes on the hosts |
//! |---|---|
//! | normally | each node handle is waited for or dropped: a drop SIGKILLs its group on the host through the keeper (one bounded round trip). The last clone of a [`Host`] dropped ends the keeper's input: it kills what is left and removes the run directory; then the master exits and the control directory goes |
//! | a node exits by itself | its wrapper on the host kills what is left of its group and removes its pid file, then exits with the node's status |
//! | Ctrl-C, a panic, an exit without dropping | gauntlet-node's [`kill_all`](gauntlet_node::kill_all) (the CLI's handlers, its `atexit` handler) kills every local `ssh` of the nodes and of the keepers, which are gauntlet-node processes: each keeper sees its input end and kills its run directory's groups |
//! | SIGKILL, OOM kill, abort | `PR_SET_PDEATHSIG` kills the same local `ssh` processes: the keepers act as above. The masters exit 10 s after their last session; their control directories stay until the next [`Host::connect`] of this user ([`sweep_control_dirs`]) |
//! | the connection drops (the network, the master killed) | the host's sshd ends the sessions: the keeper acts as above. Each node's local `ssh` ends with 255 and its exit's tail says the connection is gone; control calls fail with [`SshError::Disconnected`] |
//! | what no keeper saw to (a host that has not noticed a dropped connection yet, a keeper killed on the host) | the next gauntlet's [`sweep`] (call it after connecting, before starting anything): the run directories of this machine's dead gauntlets, their groups killed when provably theirs |
//!
//! Never touched: processes this crate did not start (only groups its
//! pid files name, and only when provably theirs), run directories of
//! live gauntlets, of other machines and of other users.
//!
//! Not covered: a process that leaves its node's group (`setsid`,
//! `setpgid`) escapes every kill, as under gauntlet-node's process-group
//! containment (it keeps the marker, but nothing acts on a marker
//! alone). A host only notices a connection that vanished without a
//! word (a cable pulled) when TCP or its sshd's `ClientAliveInterval`
//! says so; until then its keeper waits, and so do the nodes.
//!
//! # Pitfalls this crate handles
//!
//! - **A program killed by a signal, `exec`ed by the remote shell, ends
//!   the local `ssh` with 255**, its own error code, not 128 + N (a mux
//!   client is not told the signal). So the wrapper stays as the
//!   program's parent and exits with `128 + N` itself; 129–192 read as
//!   signals, as the docker backend reads them.
//! - **sshd never signals a command without a terminal when its channel
//!   closes**: dropping the local `ssh` leaves the program running. Hence
//!   the explicit kill on drop, and the keeper.
//! - **Without job control, a background command's stdin is
//!   `/dev/null`**: the wrapper hands the program its stdin through
//!   another descriptor.
//! - **The synchronous [`Backend::spawn`](gauntlet_node::Backend::spawn)
//!   may be called on a single-threaded runtime**: it reads the node's
//!   first line with `poll(2)`, not through that runtime, and every
//!   other remote step of the synchronous traits runs on a runtime of its
//!   own in a thread of its own.
//! - **A config that says `ControlMaster auto`** would make a client try
//!   to become a master: every client says `ControlMaster=no`.

mod error;
mod host;
mod node;
mod owner;
mod quote;
mod script;
mod sweep;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Attempt, SshError};
pub use host::{Host, HostSpec, RemoteFile};
pub use node::{SshBackend, SshNode};
pub use owner::{Liveness, Owner, RunDir, this_boot, this_host};
pub use quote::quote;
pub use script::{MARKER_VAR, REMOTE_ROOT};
pub use sweep::{Swept, sweep, sweep_control_dirs};
