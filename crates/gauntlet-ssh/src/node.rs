//! The `ssh` node backend: a node is a program on a host, run through
//! the host's master by a local `ssh` whose stdin and stdout are the
//! program's.
//!
//! | the node handle | on the host |
//! |---|---|
//! | spawn | the wrapper: run directory, cwd, environment, marker; `setsid` makes the program a group leader; its pid file; the `started` line |
//! | stdin, stdout | the local `ssh`'s pipes: the program's, byte for byte (a Maelstrom node speaks JSON lines over them unchanged) |
//! | stderr | the local `ssh`'s stderr (the program's, and ssh's own complaints) into the log (capped) and the tail, by gauntlet-node's copier |
//! | signal, terminate, kill, pause, resume | `kill -s SIG -- -<pgid>` when the group is provably ours, a request to the connection's keeper (no session of its own), bounded by the host's command timeout |
//! | is_running, usage | the group's members in `/proc`: how many, their RSS and CPU time, in one request to the keeper |
//! | exec | the program, run on the host as a command of its own ([`Host::run`]) |
//! | wait | the local `ssh`'s end: the wrapper's status (129–192 read as signals); 255 with the master gone is a lost connection, said in the tail |
//! | drop | the group is SIGKILLed through the keeper, then the local `ssh` |
//!
//! The trait is synchronous, and a caller on any runtime (a
//! single-threaded one included) waits one round trip to the host, never
//! for its own runtime: a spawn reads the node's first line with
//! `poll(2)`, control steps are plain reads and writes on the keeper's
//! pipes, and `exec` runs on a runtime of its own in a thread of its own
//! ([`blocking`]).

use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gauntlet_node::{
    Backend, BoxFuture, ExecOutput, Exit, GroupControl, Node, NodeControl, NodeError, NodeHandle,
    NodeProcess, NodeSpec, Termination, Usage,
};
use tokio::process::{ChildStdin, ChildStdout};

use crate::host::{read_line, read_line_blocking};
use crate::script::{self, Launch};
use crate::{Host, SshError};

/// Runs `work` to its end on a fresh single-threaded runtime in a thread
/// of its own, and blocks until it is done: the synchronous trait's way
/// to the host from anywhere, a runtime's own thread included.
pub(crate) fn blocking<F>(work: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for one ssh step")
                    .block_on(work)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Nodes on one host: each spawn runs its program there through the
/// host's master.
#[derive(Debug, Clone)]
pub struct SshBackend {
    host: Host,
    address: IpAddr,
}

impl SshBackend {
    /// A backend for `host`, whose nodes others reach at the address it
    /// answered at (unspecified when it has none).
    pub fn new(host: Host) -> SshBackend {
        let address = host
            .ip()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        SshBackend { host, address }
    }

    /// A backend for `host` whose nodes others reach at `address` (a
    /// host with a network of its own for its services).
    pub fn with_address(host: Host, address: IpAddr) -> SshBackend {
        SshBackend { host, address }
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }
}

impl Backend for SshBackend {
    fn name(&self) -> &'static str {
        "ssh"
    }

    /// Blocks for the start's round trip to the host.
    fn spawn(&self, spec: &NodeSpec) -> Result<Node, NodeError> {
        match SshNode::start_blocking(&self.host, spec, self.address) {
            Ok(node) => Ok(Box::new(node)),
            Err(SshError::Node(error)) => Err(error),
            Err(error) => Err(NodeError::Backend {
                node: format!("{} on host {}", spec.program.display(), self.host.name()),
                source: Box::new(error),
            }),
        }
    }
}

/// What a node's first line said.
enum Header {
    Started { pgid: i32, start: u64 },
    Failed(String),
}

fn parse_header(line: &[u8]) -> Option<Header> {
    let line = String::from_utf8_lossy(line);
    if let Some(error) = line.strip_prefix(script::ERROR) {
        return Some(Header::Failed(error.to_owned()));
    }
    let mut fields = line.strip_prefix(script::STARTED)?.split_whitespace();
    let pgid: i32 = fields.next()?.parse().ok()?;
    let start: u64 = fields.next()?.parse().ok()?;
    (pgid > 1).then_some(Header::Started { pgid, start })
}

/// A program running on a host as a node.
#[derive(Debug)]
pub struct SshNode {
    /// The local `ssh`.
    process: NodeProcess,
    stdout: Option<ChildStdout>,
    program: PathBuf,
    address: IpAddr,
    control: Arc<SshControl>,
    exit: Option<Exit>,
}

/// A node's start, before its first line is read.
struct Starting {
    process: NodeProcess,
    stdout: ChildStdout,
    node: String,
}

impl SshNode {
    fn launch(host: &Host, spec: &NodeSpec) -> Result<Starting, SshError> {
        let node = host.next_node_name(&spec.program);
        let script = script::wrapper(&Launch {
            dir: host.run_dir_name(),
            node: &node,
            program: spec.program.as_os_str(),
            args: &spec.args,
            cwd: spec.cwd.as_deref().map(Path::as_os_str),
            env: &spec.env,
        })?;
        let local = NodeSpec {
            program: "ssh".into(),
            args: host.ssh_args(&script)?,
            // The program's, applied on the host by the wrapper.
            cwd: None,
            env: Vec::new(),
            stderr_log: spec.stderr_log.clone(),
            stderr_log_limit: spec.stderr_log_limit,
            stderr_tail: spec.stderr_tail,
            echo_stderr: spec.echo_stderr.clone(),
        };
        let mut process = NodeProcess::spawn(&local).map_err(SshError::Node)?;
        let stdout = process.take_stdout().expect("a fresh node has its stdout");
        Ok(Starting {
            process,
            stdout,
            node,
        })
    }

    /// Starts `spec` on `host`, reading its first line without a
    /// runtime (the caller's may be the one this blocks).
    pub(crate) fn start_blocking(
        host: &Host,
        spec: &NodeSpec,
        address: IpAddr,
    ) -> Result<SshNode, SshError> {
        let starting = Self::launch(host, spec)?;
        let deadline = Instant::now() + host.spec().command_timeout;
        let line = read_line_blocking(&starting.stdout, deadline);
        let ended = |process: &NodeProcess| {
            // Its stderr, as far as its copier got: the caller's runtime
            // may be the one blocked here, and then the copier got
            // nowhere; a session of our own then says what ssh would.
            let control = process.control();
            let until = Instant::now() + Duration::from_secs(2);
            while control.is_running() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            let tail = process.stderr_tail();
            if tail.is_empty() {
                host.session_probe()
            } else {
                tail
            }
        };
        Self::started(host, spec, address, starting, line, ended, |host, node| {
            host.abandon(node)
        })
    }

    /// Starts `spec` on `host`.
    pub(crate) async fn start(
        host: &Host,
        spec: &NodeSpec,
        address: IpAddr,
    ) -> Result<SshNode, SshError> {
        let mut starting = Self::launch(host, spec)?;
        let timeout = host.spec().command_timeout;
        let line = match tokio::time::timeout(timeout, read_line(&mut starting.stdout)).await {
            Ok(line) => line,
            Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut)),
        };
        let tail = if matches!(line, Ok(None)) {
            let exit = tokio::time::timeout(Duration::from_secs(2), starting.process.wait()).await;
            Some(exit.map_or_else(|_| starting.process.stderr_tail(), |e| e.stderr_tail))
        } else {
            None
        };
        let ended = move |_: &NodeProcess| tail.clone().unwrap_or_default();
        let abandoned = if matches!(&line, Err(e) if e.kind() == std::io::ErrorKind::TimedOut) {
            let (host, node) = (host.clone(), starting.node.clone());
            let abandon = tokio::task::spawn_blocking(move || host.abandon(&node)).await;
            Some(abandon.unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic())))
        } else {
            None
        };
        Self::started(host, spec, address, starting, line, ended, move |_, _| {
            abandoned.unwrap_or(Ok(()))
        })
    }

    /// Judges the first line: a node, or why there is none (the local
    /// `ssh` is dropped, so killed, with the error).
    fn started(
        host: &Host,
        spec: &NodeSpec,
        address: IpAddr,
        starting: Starting,
        line: std::io::Result<Option<Vec<u8>>>,
        ended: impl FnOnce(&NodeProcess) -> Vec<String>,
        abandon: impl FnOnce(&Host, &str) -> Result<(), SshError>,
    ) -> Result<SshNode, SshError> {
        let what = format!("start {}", spec.program.display());
        let failed = |message: String| SshError::Remote {
            host: host.name().to_owned(),
            what: what.clone(),
            message,
        };
        let Starting {
            process,
            stdout,
            node,
        } = starting;
        let header = match line {
            Ok(Some(line)) => parse_header(&line).ok_or_else(|| {
                failed(format!(
                    "unexpected first line {:?}",
                    String::from_utf8_lossy(&line)
                ))
            })?,
            Ok(None) => {
                let tail = ended(&process);
                if let Some(refused) = host.refused(&what, tail.iter().map(String::as_str)) {
                    return Err(refused);
                }
                let said = crate::host::tidy(tail.iter().map(String::as_str));
                if !host.master_answers() {
                    return Err(SshError::Disconnected {
                        host: host.name().to_owned(),
                        detail: said,
                    });
                }
                return Err(failed(format!(
                    "ssh ended before the program started: {said}"
                )));
            }
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                // Whatever may have started is killed; the local ssh
                // goes with `process`.
                let _ = abandon(host, &node);
                return Err(SshError::Timeout {
                    host: host.name().to_owned(),
                    what,
                    after: host.spec().command_timeout,
                });
            }
            Err(error) => return Err(failed(error.to_string())),
        };
        let (pgid, start) = match header {
            Header::Started { pgid, start } => (pgid, start),
            Header::Failed(message) => return Err(failed(message)),
        };
        let control = Arc::new(SshControl {
            host: host.clone(),
            program: spec.program.clone(),
            marker: format!("{}/{node}", host.run_dir_name()),
            pgid,
            start,
            local: process.control(),
        });
        Ok(SshNode {
            process,
            stdout: Some(stdout),
            program: spec.program.clone(),
            address,
            control,
            exit: None,
        })
    }

    /// The node's process group on the host (its leader's pid there).
    pub fn remote_pgid(&self) -> i32 {
        self.control.pgid
    }

    /// The host it runs on.
    pub fn host(&self) -> &Host {
        &self.control.host
    }

    pub(crate) async fn wait_inner(&mut self) -> Exit {
        if let Some(exit) = &self.exit {
            return exit.clone();
        }
        let exit = self.process.wait().await;
        let exit = self.control.as_node_exit(exit);
        self.exit = Some(exit.clone());
        exit
    }
}

impl NodeHandle for SshNode {
    fn program(&self) -> &Path {
        &self.program
    }

    /// The local `ssh`'s pid: it stands for the node here (its pid on
    /// the host is [`remote_pgid`](SshNode::remote_pgid)).
    fn pid(&self) -> u32 {
        self.process.pid()
    }

    fn address(&self) -> IpAddr {
        self.address
    }

    fn signal(&self, signal: i32) -> Result<(), NodeError> {
        self.control.signal(signal)
    }

    fn terminate(&self) -> Result<(), NodeError> {
        self.control.signal(libc::SIGTERM)
    }

    fn kill(&self) -> Result<(), NodeError> {
        self.control.signal(libc::SIGKILL)
    }

    fn kill_async(&self) -> BoxFuture<'_, Result<(), NodeError>> {
        Box::pin(async move {
            self.control
                .signal_async(libc::SIGKILL)
                .await
                .map_err(|e| self.control.failed(e))
        })
    }

    fn pause(&self) -> Result<(), NodeError> {
        self.control.pause()
    }

    fn resume(&self) -> Result<(), NodeError> {
        self.control.resume()
    }

    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        Box::pin(self.wait_inner())
    }

    fn try_exit(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            let exit = self.process.try_exit()?;
            self.exit = Some(self.control.as_node_exit(exit));
        }
        self.exit.clone()
    }

    fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.process.take_stdin()
    }

    fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.process.stderr_tail()
    }

    /// None: its processes are on the host ([`usage`](NodeControl::usage)
    /// has their footprint).
    fn member_pids(&self) -> Vec<u32> {
        Vec::new()
    }

    fn control(&self) -> Arc<dyn NodeControl> {
        self.control.clone()
    }
}

impl Drop for SshNode {
    /// SIGKILLs the group on the host while the node runs (one bounded
    /// round trip), then the local `ssh` goes with its `NodeProcess`.
    fn drop(&mut self) {
        if self.exit.is_none() && self.control.local.is_running() {
            let _ = self.control.signal_now(libc::SIGKILL);
        }
    }
}

/// Signals, pauses and samples one node life on its host.
#[derive(Debug)]
pub(crate) struct SshControl {
    host: Host,
    program: PathBuf,
    /// `<run dir>/<node>`: the value of the marker its processes carry.
    marker: String,
    pgid: i32,
    start: u64,
    /// The local `ssh`'s: once it has ended, so has the node (or its
    /// connection), and nothing is sent.
    local: GroupControl,
}

impl SshControl {
    fn failed(&self, error: SshError) -> NodeError {
        NodeError::Backend {
            node: format!("{} on host {}", self.program.display(), self.host.name()),
            source: Box::new(error),
        }
    }

    fn signal_now(&self, signal: i32) -> Result<(), SshError> {
        if !self.local.is_running() {
            return Ok(());
        }
        self.host
            .signal_group(signal, self.pgid, self.start, &self.marker)
    }

    pub(crate) async fn signal_async(&self, signal: i32) -> Result<(), SshError> {
        if !self.local.is_running() {
            return Ok(());
        }
        let spec = script::signal_spec(signal);
        let script = script::signal(&spec, self.pgid, self.start, &self.marker);
        let what = format!("send SIG{spec} to process group {}", self.pgid);
        self.host.control_async(what, script).await.map(drop)
    }

    /// The local `ssh`'s exit as the node's: the program's name, signals
    /// read from 128 + N, and a lost connection said in the tail.
    fn as_node_exit(&self, mut exit: Exit) -> Exit {
        exit.program = self.program.clone();
        exit.termination = match exit.termination {
            Termination::Exited(code @ 129..=192) => Termination::Signaled {
                signal: code - 128,
                core_dumped: false,
            },
            other => other,
        };
        if exit.termination == Termination::Exited(255) && !self.host.master_answers() {
            exit.stderr_tail.push(format!(
                "gauntlet-ssh: the connection to host {} is gone: how {} ended is unknown \
                 (its keeper kills what is left on the host)",
                self.host.name(),
                self.program.display()
            ));
        }
        exit
    }
}

impl NodeControl for SshControl {
    fn signal(&self, signal: i32) -> Result<(), NodeError> {
        self.signal_now(signal).map_err(|e| self.failed(e))
    }

    fn pause(&self) -> Result<(), NodeError> {
        self.signal(libc::SIGSTOP)
    }

    fn resume(&self) -> Result<(), NodeError> {
        self.signal(libc::SIGCONT)
    }

    fn member_pids(&self) -> Vec<u32> {
        Vec::new()
    }

    /// RSS and CPU time summed over the group on the host.
    fn usage(&self) -> Option<Usage> {
        if !self.local.is_running() {
            return None;
        }
        match self.host.group_usage(self.pgid) {
            Ok((members, usage)) if members > 0 => Some(usage),
            _ => None,
        }
    }

    /// The local `ssh` runs and the group on the host has a live member
    /// (when the host cannot be asked, the local `ssh`'s word).
    fn is_running(&self) -> bool {
        if !self.local.is_running() {
            return false;
        }
        match self.host.group_usage(self.pgid) {
            Ok((members, _)) => members > 0,
            Err(_) => self.local.is_running(),
        }
    }

    /// `argv` run on the host as a command of its own, at most
    /// `timeout` (then its group is killed): its exit code, and its
    /// stdout followed by its stderr's last lines.
    fn exec(&self, argv: &[String], timeout: Duration) -> Result<ExecOutput, NodeError> {
        let out = blocking(self.host.run(argv, timeout)).map_err(|e| self.failed(e))?;
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        for line in &out.exit.stderr_tail {
            output.push_str(line);
            output.push('\n');
        }
        Ok(ExecOutput {
            exit_code: if out.timed_out {
                None
            } else {
                out.exit.termination.code().map(i64::from)
            },
            output,
            timed_out: out.timed_out,
        })
    }
}
