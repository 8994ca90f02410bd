//! [`Backend`]: where a process runs. Every process a run starts (workbench
//! nodes, plan services, test commands, soak user programs, readback
//! commands, command probes, external checkers) is spawned through one, so
//! containment, the kill registry and teardown are the backend's job, not
//! each call site's.
//!
//! # Adding a backend
//!
//! A type implementing [`Backend`] whose `spawn` returns a type
//! implementing [`NodeHandle`], whose [`control`](NodeHandle::control)
//! signals, pauses and samples the node while its owner waits on it:
//! beside this file when it needs nothing but the kernel (`netns.rs`), in
//! the crate of its edge otherwise (the `docker` backend is
//! `gauntlet_docker::DockerBackend`, on the Engine API). Callers hold an
//! `Arc<dyn Backend>` and never name the implementation, so the workbench,
//! the pipeline and the soak need no change. A backend whose nodes talk
//! over stdin/stdout (the workbench's) has a local process whose pipes are
//! the program's (`ip netns exec`; the `ssh` of `gauntlet_ssh::SshBackend`):
//! that is why the stdio types are tokio's concrete pipe types rather than
//! boxed readers; a backend
//! that runs services only (a container) hands out none. The workbench router reads
//! node stdout at ~700k messages a second; a concrete `ChildStdout` keeps
//! that path free of dynamic dispatch and allocation. `wait` is the only
//! boxed future, once per node life.
//!
//! Such a backend must keep the promises [`LocalBackend`] keeps: `kill`
//! reaches everything the node started, dropping the handle kills it, and
//! [`kill_all`](crate::kill_all) reaches it (for a local stand-in process,
//! spawning it through [`NodeProcess`] gives all three).

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, ChildStdout};

use crate::{Exit, NodeControl, NodeError, NodeProcess, NodeSpec};

/// A boxed, sendable future (what [`NodeHandle::wait`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A running node as its backend hands it out.
pub type Node = Box<dyn NodeHandle>;

/// Where processes run.
pub trait Backend: Send + Sync + fmt::Debug {
    /// A short name for reports: `"local"`, later `"netns"`, `"docker"`.
    fn name(&self) -> &'static str;

    /// Starts `spec` and returns its handle. Errors name the program and say
    /// why (see [`NodeError`]).
    fn spawn(&self, spec: &NodeSpec) -> Result<Node, NodeError>;
}

/// One running node, whatever backend runs it. Dropping the handle kills
/// the node and everything it started.
pub trait NodeHandle: Send + Sync + fmt::Debug {
    /// The program it runs.
    fn program(&self) -> &Path;

    /// The pid of the local process that is (or stands for) the node. For
    /// [`LocalBackend`] it is also the node's process group id.
    fn pid(&self) -> u32;

    /// The address other nodes and clients reach it at (loopback for
    /// [`LocalBackend`]).
    fn address(&self) -> IpAddr;

    /// Sends `signal` to the whole node. `SIGKILL` is [`kill`](Self::kill).
    fn signal(&self, signal: i32) -> Result<(), NodeError>;

    /// SIGTERM to the whole node: the polite stop.
    fn terminate(&self) -> Result<(), NodeError>;

    /// SIGKILL to everything the node started. Does not reap.
    fn kill(&self) -> Result<(), NodeError>;

    /// [`kill`](Self::kill) for async callers: a node whose kill is a round
    /// trip (a remote host) does it without blocking the runtime. The
    /// default is the synchronous kill, instant for local processes.
    fn kill_async(&self) -> BoxFuture<'_, Result<(), NodeError>> {
        Box::pin(async move { self.kill() })
    }

    /// Freezes the node (a pause fault).
    fn pause(&self) -> Result<(), NodeError>;

    /// Heals a pause.
    fn resume(&self) -> Result<(), NodeError>;

    /// Waits until the node has ended and is cleaned up. Cancel-safe, and
    /// callable again (later calls return the same [`Exit`]).
    fn wait(&mut self) -> BoxFuture<'_, Exit>;

    /// [`wait`](Self::wait) without blocking: `None` while it runs.
    fn try_exit(&mut self) -> Option<Exit>;

    /// Its stdin, once.
    fn take_stdin(&mut self) -> Option<ChildStdin>;

    /// Its stdout, once.
    fn take_stdout(&mut self) -> Option<ChildStdout>;

    /// The last stderr lines seen so far, oldest first.
    fn stderr_tail(&self) -> Vec<String>;

    /// The pids that make up the node now, for resource sampling (its cgroup,
    /// or its process group).
    fn member_pids(&self) -> Vec<u32>;

    /// Signals, pauses and samples this node life from anywhere, while
    /// the owner of this handle waits on it.
    fn control(&self) -> Arc<dyn NodeControl>;
}

/// Processes on this machine, as children of gauntlet: each in its own
/// cgroup and process group (see [`containment`](crate::containment)).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalBackend;

impl LocalBackend {
    /// The local backend behind the shared handle callers keep.
    pub fn shared() -> Arc<dyn Backend> {
        Arc::new(LocalBackend)
    }
}

impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn spawn(&self, spec: &NodeSpec) -> Result<Node, NodeError> {
        Ok(Box::new(NodeProcess::spawn(spec)?))
    }
}

impl NodeHandle for NodeProcess {
    fn program(&self) -> &Path {
        NodeProcess::program(self)
    }

    fn pid(&self) -> u32 {
        NodeProcess::pid(self)
    }

    fn address(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    fn signal(&self, signal: i32) -> Result<(), NodeError> {
        NodeProcess::signal(self, signal)
    }

    fn terminate(&self) -> Result<(), NodeError> {
        NodeProcess::terminate(self)
    }

    fn kill(&self) -> Result<(), NodeError> {
        NodeProcess::kill(self)
    }

    fn pause(&self) -> Result<(), NodeError> {
        NodeProcess::pause(self)
    }

    fn resume(&self) -> Result<(), NodeError> {
        NodeProcess::resume(self)
    }

    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        Box::pin(NodeProcess::wait(self))
    }

    fn try_exit(&mut self) -> Option<Exit> {
        NodeProcess::try_exit(self)
    }

    fn take_stdin(&mut self) -> Option<ChildStdin> {
        NodeProcess::take_stdin(self)
    }

    fn take_stdout(&mut self) -> Option<ChildStdout> {
        NodeProcess::take_stdout(self)
    }

    fn stderr_tail(&self) -> Vec<String> {
        NodeProcess::stderr_tail(self)
    }

    fn member_pids(&self) -> Vec<u32> {
        NodeProcess::member_pids(self)
    }

    fn control(&self) -> Arc<dyn NodeControl> {
        Arc::new(NodeProcess::control(self))
    }
}

/// What [`run_to_end`] saw.
#[derive(Debug, Clone)]
pub struct Output {
    /// How it ended (with the stderr tail, and the log path if the spec
    /// named one). After a timeout: killed by SIGKILL.
    pub exit: Exit,
    /// Everything it printed on stdout, up to the limit given.
    pub stdout: Vec<u8>,
    /// Whether stdout went past the limit (the rest was read and dropped).
    pub stdout_truncated: bool,
    /// Whether it ran past its timeout and was killed.
    pub timed_out: bool,
}

/// Runs `spec` to completion through `backend`: writes `stdin` (then closes
/// it), collects stdout (at most `stdout_limit` bytes are kept), and kills
/// the node, everything it started included, if it outlives `timeout`.
/// Stderr goes where the spec says (its tail is in [`Exit::stderr_tail`]).
///
/// Cancel-safe in the sense that matters: dropping the future drops the
/// node, which kills it. Errors only when it cannot be started.
pub async fn run_to_end(
    backend: &dyn Backend,
    spec: &NodeSpec,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    stdout_limit: usize,
) -> Result<Output, NodeError> {
    let node = backend.spawn(spec)?;
    Ok(finish_node(node, stdin, timeout, stdout_limit).await)
}

/// [`run_to_end`] for a node already started (by an async start of its
/// backend's own, such as an SSH host's).
pub async fn finish_node(
    mut node: Node,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    stdout_limit: usize,
) -> Output {
    let input = node.take_stdin();
    let mut out = node.take_stdout();
    let mut stdout = Vec::new();
    let mut stdout_truncated = false;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut timed_out = false;
    let exit = {
        let feeder = async move {
            if let (Some(mut pipe), Some(bytes)) = (input, stdin) {
                // A program that does not read its input is not an error.
                let _ = pipe.write_all(&bytes).await;
            }
            // Dropping the pipe closes it: the program sees EOF.
        };
        let reader = async {
            if let Some(pipe) = out.as_mut() {
                let mut chunk = vec![0u8; 16 * 1024];
                while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                    let room = stdout_limit.saturating_sub(stdout.len());
                    stdout_truncated |= n > room;
                    stdout.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        };
        let io = async { tokio::join!(reader, feeder) };
        tokio::pin!(io);
        let mut io_done = false;
        // The exit and the pipes are watched together: a program that exits
        // while something it left holds stdout open is done, not hung.
        let exit = loop {
            tokio::select! {
                _ = &mut io, if !io_done => io_done = true,
                exit = node.wait() => break Some(exit),
                _ = tokio::time::sleep_until(deadline) => break None,
            }
        };
        let exit = match exit {
            Some(exit) => exit,
            None => {
                timed_out = true;
                let _ = node.kill_async().await;
                node.wait().await
            }
        };
        // The node is reaped and what it started killed, so the pipe closes
        // at once; bounded in case a process outside our reach (process-group
        // containment) still holds it. What arrived so far is kept.
        if !io_done {
            let _ = tokio::time::timeout(Duration::from_secs(1), &mut io).await;
        }
        exit
    };
    Output {
        exit,
        stdout,
        stdout_truncated,
        timed_out,
    }
}
