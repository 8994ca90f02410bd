//! The `docker` node backend: a service whose node is a container.
//!
//! One [`DockerBackend`] per service: it holds the container's
//! [`ContainerSpec`] (image, command, ports, memory limit, mounts,
//! networks, the run's labels). The first spawn creates the container;
//! later spawns start the same container again, with its file system and
//! volumes, as `docker start` does after a crash or a kill fault. The
//! [`NodeSpec`] a caller hands in adds its environment and says where
//! the output goes; its program and arguments only name the node in
//! reports (the container's command is the spec's, or the image's).
//!
//! A node life:
//!
//! | the node handle | through the Engine API |
//! |---|---|
//! | spawn | create (first life), attach to stdout and stderr, start |
//! | output | the attach stream, both streams, into the log file (capped) and the tail |
//! | signal, terminate, kill | `POST /containers/{id}/kill?signal=` |
//! | pause, resume | the freezer (`/pause`, `/unpause`) |
//! | wait | `/wait` (not-running), then inspect: `OOMKilled`; exit codes 129–192 read as signals, the shells' and Docker's convention |
//! | usage | a stats stream (the engine sends one a second): memory less page cache, CPU time |
//! | power off | killed; the next spawn removes it and creates a new one from the image, with the volumes |
//! | drop | the container is killed; the run's teardown removes it ([`remove_run`](crate::remove_run)) |
//!
//! The trait is synchronous and callers sit on their own runtimes (even
//! single-threaded ones), so every Engine call runs on this crate's own
//! runtime ([`on_engine`]): a spawn blocks its caller for the engine's
//! round trips (tens of milliseconds), never a runtime that could need
//! to make progress for it.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::{AttachContainerOptionsBuilder, StatsOptionsBuilder};
use futures_util::StreamExt;
use gauntlet_node::{
    Backend, BoxFuture, CappedLog, ExecOutput, Exit, LineTail, Node, NodeControl, NodeError,
    NodeHandle, NodeSpec, Termination, Usage,
};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::watch;

use crate::{Container, ContainerSpec, DockerError, Engine};

/// How long an ended container's output may take to drain before its exit
/// is reported without the rest.
const DRAIN: Duration = Duration::from_secs(2);

/// The runtime every Engine call of this backend runs on: two threads of
/// its own, for the life of the process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gauntlet-docker")
            .enable_all()
            .build()
            .expect("a runtime for the Docker Engine calls")
    })
}

/// Runs `work` on the engine runtime and blocks this thread until it is
/// done. Never called from the engine runtime itself.
pub fn on_engine<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime().spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv()
        .expect("the engine runtime lives as long as the process")
}

/// Runs `work` on the engine runtime and awaits it from any runtime.
pub async fn on_engine_async<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> T {
    runtime()
        .spawn(work)
        .await
        .expect("an engine call does not panic")
}

/// Where one service's container runs.
#[derive(Debug)]
pub struct DockerBackend {
    engine: Engine,
    spec: ContainerSpec,
    /// The container, once created.
    container: Mutex<Option<Container>>,
    /// Set by a power cut: the next spawn starts a new container from the
    /// image (with the volumes), as a rebooted machine's containers start
    /// from their images.
    fresh: Arc<AtomicBool>,
}

impl DockerBackend {
    /// A backend for the container `spec` describes, on `engine`.
    pub fn new(engine: Engine, spec: ContainerSpec) -> DockerBackend {
        DockerBackend {
            engine,
            spec,
            container: Mutex::new(None),
            fresh: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The container's spec.
    pub fn spec(&self) -> &ContainerSpec {
        &self.spec
    }

    fn failed(&self, error: DockerError) -> NodeError {
        NodeError::Backend {
            node: format!("container {}", self.spec.name),
            source: Box::new(error),
        }
    }
}

impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn spawn(&self, node: &NodeSpec) -> Result<Node, NodeError> {
        if gauntlet_node::is_shutting_down() {
            return Err(NodeError::ShuttingDown {
                program: node.program.clone(),
            });
        }
        let log = match &node.stderr_log {
            Some(path) => Some(CappedLog::append(path, node.stderr_log_limit).map_err(
                |error| NodeError::StderrLog {
                    program: node.program.clone(),
                    path: path.clone(),
                    error,
                },
            )?),
            None => None,
        };
        let mut spec = self.spec.clone();
        spec.env.extend(node.env.iter().map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        }));
        let engine = self.engine.clone();
        let mut existing = self
            .container
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if self.fresh.swap(false, Ordering::AcqRel)
            && let Some(old) = existing.take()
        {
            // Its file system goes; named volumes stay.
            on_engine(async move { old.remove().await }).map_err(|e| self.failed(e))?;
        }
        let started = on_engine(start(engine, spec, existing));
        let (container, attached, pid) = match started {
            Ok(s) => s,
            Err((created, error)) => {
                // A container created and never started is removed by
                // `start`; one that existed stays for the next spawn.
                *self.container.lock().unwrap_or_else(|e| e.into_inner()) = created;
                return Err(self.failed(error));
            }
        };
        *self.container.lock().unwrap_or_else(|e| e.into_inner()) = Some(container.clone());

        let tail = Arc::new(LineTail::new(node.stderr_tail));
        let usage = Arc::new(Mutex::new(None));
        let ended = Arc::new(AtomicBool::new(false));
        let (exit_tx, exit_rx) = watch::channel(None);
        let life = Life {
            container: container.clone(),
            program: node.program.clone(),
            pid,
            log,
            log_path: node.stderr_log.clone(),
            tail: tail.clone(),
            echo: node.echo_stderr.clone(),
            usage: usage.clone(),
            ended: ended.clone(),
        };
        runtime().spawn(life.follow(attached, exit_tx));
        Ok(Box::new(DockerNode {
            program: node.program.clone(),
            pid,
            exit: exit_rx,
            tail,
            control: Arc::new(ContainerControl {
                container,
                usage,
                ended,
                fresh: self.fresh.clone(),
            }),
        }))
    }
}

type Attached = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
>;

/// Creates the container if there is none yet, attaches to its output
/// and starts it: its output from the first byte on, and its main
/// process's pid. On an error, the container that is left (the existing
/// one; a new one that never started is removed).
async fn start(
    engine: Engine,
    spec: ContainerSpec,
    existing: Option<Container>,
) -> Result<(Container, Attached, u32), (Option<Container>, DockerError)> {
    let fresh = existing.is_none();
    let container = match existing {
        Some(c) => c,
        None => Container::create(&engine, &spec)
            .await
            .map_err(|e| (None, e))?,
    };
    let give_up = |container: Container, error: DockerError| async move {
        if fresh {
            let _ = container.remove().await;
            (None, error)
        } else {
            (Some(container), error)
        }
    };
    let options = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdout(true)
        .stderr(true)
        .build();
    let attached = match engine
        .client()
        .attach_container(container.id(), Some(options))
        .await
    {
        Ok(a) => a.output,
        Err(e) => {
            let error = DockerError::engine(format!("attach to container {}", container.name()))(e);
            return Err(give_up(container, error).await);
        }
    };
    if let Err(error) = container.start().await {
        return Err(give_up(container, error).await);
    }
    let pid = container
        .inspect()
        .await
        .ok()
        .and_then(|s| s.pid)
        .unwrap_or(0);
    Ok((container, attached, pid))
}

/// What follows one container life on the engine runtime.
struct Life {
    container: Container,
    program: PathBuf,
    pid: u32,
    log: Option<CappedLog>,
    log_path: Option<PathBuf>,
    tail: Arc<LineTail>,
    echo: Option<gauntlet_node::LineSink>,
    usage: Arc<Mutex<Option<Usage>>>,
    ended: Arc<AtomicBool>,
}

impl Life {
    /// Copies the output, keeps the usage figures, and reports the exit
    /// once the container has stopped and its output drained.
    async fn follow(mut self, attached: Attached, exit: watch::Sender<Option<Exit>>) {
        let stats = runtime().spawn(keep_usage(self.container.clone(), self.usage.clone()));
        let (tail, log, echo) = (self.tail.clone(), self.log.take(), self.echo.clone());
        let mut output = tokio::spawn(copy_output(attached, log, tail, echo));
        let code = self.container.wait_exit().await;
        self.ended.store(true, Ordering::Release);
        // The attach stream ends with the container; bounded all the same.
        let bytes = match tokio::time::timeout(DRAIN, &mut output).await {
            Ok(Ok(bytes)) => bytes,
            _ => {
                output.abort();
                0
            }
        };
        stats.abort();
        let oom_killed = self.container.inspect().await.ok().map(|s| s.oom_killed);
        let termination = match code {
            Ok(code) => termination_of(code),
            Err(_) => Termination::Unknown,
        };
        let tail = self.tail.lines();
        let _ = exit.send(Some(Exit {
            pid: self.pid,
            program: self.program,
            termination,
            stderr_tail: tail,
            stderr_bytes: bytes,
            stderr_log: self.log_path,
            oom_killed,
        }));
    }
}

/// Exit codes 129–192 are 128 plus the signal that ended the main
/// process (Docker's own convention: 137 is a SIGKILL); anything else is
/// the code it exited with.
fn termination_of(code: i64) -> Termination {
    match code {
        129..=192 => Termination::Signaled {
            signal: (code - 128) as i32,
            core_dumped: false,
        },
        other => Termination::Exited(i32::try_from(other).unwrap_or(i32::MAX)),
    }
}

/// The longest line the tail and the echo keep whole (as for a process's
/// stderr): a program printing without a newline cannot grow gauntlet.
const MAX_LINE: usize = 16 * 1024;

/// Copies the container's stdout and stderr into its log (capped), and
/// line by line into its tail and the echo; returns how many bytes the
/// container wrote.
async fn copy_output(
    mut attached: Attached,
    mut log: Option<CappedLog>,
    tail: Arc<LineTail>,
    echo: Option<gauntlet_node::LineSink>,
) -> u64 {
    let mut bytes = 0u64;
    let mut partial = Vec::new();
    while let Some(Ok(chunk)) = attached.next().await {
        let message = match chunk {
            LogOutput::StdOut { message }
            | LogOutput::StdErr { message }
            | LogOutput::Console { message } => message,
            LogOutput::StdIn { .. } => continue,
        };
        bytes += message.len() as u64;
        if let Some(log) = log.as_mut() {
            let _ = log.write(&message);
        }
        partial.extend_from_slice(&message);
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            keep_line(&tail, &echo, text);
        }
        if partial.len() > MAX_LINE {
            let cut: Vec<u8> = partial.drain(..MAX_LINE).collect();
            keep_line(&tail, &echo, String::from_utf8_lossy(&cut).into_owned());
        }
    }
    if !partial.is_empty() {
        keep_line(&tail, &echo, String::from_utf8_lossy(&partial).into_owned());
    }
    if let Some(log) = log {
        log.finish();
    }
    bytes
}

fn keep_line(tail: &LineTail, echo: &Option<gauntlet_node::LineSink>, line: String) {
    if let Some(echo) = echo {
        echo.send(&line);
    }
    tail.push(line);
}

/// Follows the engine's stats stream (one a second) into `usage`.
async fn keep_usage(container: Container, usage: Arc<Mutex<Option<Usage>>>) {
    let options = StatsOptionsBuilder::default().stream(true).build();
    let mut stream = container
        .engine()
        .client()
        .stats(container.id(), Some(options));
    while let Some(Ok(sample)) = stream.next().await {
        let stats = crate::container::stats_of(sample);
        // A sample of a stopped container carries no figures.
        if let (Some(rss_bytes), Some(cpu_ns)) = (stats.memory_bytes, stats.cpu_total_ns) {
            *usage.lock().unwrap_or_else(|e| e.into_inner()) = Some(Usage { rss_bytes, cpu_ns });
        }
    }
}

/// A running container as a node handle.
#[derive(Debug)]
struct DockerNode {
    program: PathBuf,
    pid: u32,
    exit: watch::Receiver<Option<Exit>>,
    tail: Arc<LineTail>,
    control: Arc<ContainerControl>,
}

impl NodeHandle for DockerNode {
    fn program(&self) -> &Path {
        &self.program
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    /// Its published ports are on this machine's loopback.
    fn address(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
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

    fn pause(&self) -> Result<(), NodeError> {
        self.control.pause()
    }

    fn resume(&self) -> Result<(), NodeError> {
        self.control.resume()
    }

    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        Box::pin(async move {
            loop {
                if let Some(exit) = self.exit.borrow_and_update().clone() {
                    return exit;
                }
                if self.exit.changed().await.is_err() {
                    // The follower is gone without a word (the runtime
                    // shut down): say so rather than hang.
                    return Exit {
                        pid: self.pid,
                        program: self.program.clone(),
                        termination: Termination::Unknown,
                        stderr_tail: self.stderr_tail(),
                        stderr_bytes: 0,
                        stderr_log: None,
                        oom_killed: None,
                    };
                }
            }
        })
    }

    fn try_exit(&mut self) -> Option<Exit> {
        self.exit.borrow().clone()
    }

    fn take_stdin(&mut self) -> Option<ChildStdin> {
        None
    }

    fn take_stdout(&mut self) -> Option<ChildStdout> {
        None
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.tail.lines()
    }

    fn member_pids(&self) -> Vec<u32> {
        self.control.member_pids()
    }

    fn control(&self) -> Arc<dyn NodeControl> {
        self.control.clone()
    }
}

impl Drop for DockerNode {
    /// Dropping a node kills it, as for every backend; the container
    /// stays for the run's teardown to remove (or the next spawn to
    /// start again).
    fn drop(&mut self) {
        if self.exit.borrow().is_none() {
            let container = self.control.container.clone();
            runtime().spawn(async move {
                let _ = container.kill("SIGKILL").await;
            });
        }
    }
}

/// Signals, pauses and usage of one container life.
#[derive(Debug)]
struct ContainerControl {
    container: Container,
    usage: Arc<Mutex<Option<Usage>>>,
    ended: Arc<AtomicBool>,
    /// The backend's: set by a power cut.
    fresh: Arc<AtomicBool>,
}

impl ContainerControl {
    fn act(
        &self,
        what: impl Future<Output = Result<(), DockerError>> + Send + 'static,
    ) -> Result<(), NodeError> {
        if self.ended.load(Ordering::Acquire) {
            return Ok(());
        }
        match on_engine(what) {
            Ok(()) => Ok(()),
            // It stopped between the look and the request: nothing to do.
            Err(e) if e.status() == Some(409) && self.ended.load(Ordering::Acquire) => Ok(()),
            Err(e) => Err(NodeError::Backend {
                node: format!("container {}", self.container.name()),
                source: Box::new(e),
            }),
        }
    }
}

impl NodeControl for ContainerControl {
    fn signal(&self, signal: i32) -> Result<(), NodeError> {
        let container = self.container.clone();
        let name = signal.to_string();
        self.act(async move { container.kill(&name).await })
    }

    fn pause(&self) -> Result<(), NodeError> {
        let container = self.container.clone();
        self.act(async move { container.pause().await })
    }

    fn resume(&self) -> Result<(), NodeError> {
        let container = self.container.clone();
        self.act(async move { container.unpause().await })
    }

    /// Killed, and the next start is a new container from the image with
    /// the volumes: what was written anywhere else is gone.
    fn power_off(&self) -> Result<(), NodeError> {
        self.fresh.store(true, Ordering::Release);
        self.signal(libc::SIGKILL)
    }

    /// None: a container's processes are the engine's business (and may
    /// be on another machine); its footprint is [`usage`](Self::usage).
    fn member_pids(&self) -> Vec<u32> {
        Vec::new()
    }

    fn is_running(&self) -> bool {
        !self.ended.load(Ordering::Acquire)
    }

    /// Through the engine's exec (a Compose healthcheck's `CMD`). Its
    /// exit code and output as the engine reports them; a program the
    /// image lacks is exit code 126 with the runtime's reason.
    fn exec(&self, argv: &[String], timeout: Duration) -> Result<ExecOutput, NodeError> {
        let container = self.container.clone();
        let argv = argv.to_vec();
        let outcome =
            on_engine(async move { container.exec(&argv, timeout).await }).map_err(|e| {
                NodeError::Backend {
                    node: format!("container {}", self.container.name()),
                    source: Box::new(e),
                }
            })?;
        Ok(ExecOutput {
            exit_code: outcome.exit_code,
            output: outcome.output,
            timed_out: outcome.timed_out,
        })
    }

    /// The stats stream's last figures; before its first (the engine
    /// sends it a second or two after it starts), a one-shot read, so a
    /// short-lived module still has a figure.
    fn usage(&self) -> Option<Usage> {
        if self.ended.load(Ordering::Acquire) {
            return None;
        }
        if let Some(usage) = *self.usage.lock().unwrap_or_else(|e| e.into_inner()) {
            return Some(usage);
        }
        let container = self.container.clone();
        let stats = on_engine(async move { container.stats_once().await }).ok()?;
        Some(Usage {
            rss_bytes: stats.memory_bytes?,
            cpu_ns: stats.cpu_total_ns?,
        })
    }
}
