//! [`Host`]: one connection to one host, through one OpenSSH
//! ControlMaster, and what runs over it: nodes, commands, uploads, reads.

use std::ffi::{OsStr, OsString};
use std::io;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet_node::{GroupControl, NodeControl, NodeProcess, NodeSpec, Output, Usage};
use openssh::{ControlPersist, KnownHosts, SessionBuilder};
use tokio::io::AsyncReadExt;

use crate::node::SshNode;
use crate::owner::{Owner, RunDir};
use crate::script;
use crate::{Attempt, SshError};

/// How long the master stays after its last session ends: the keeper is
/// a session for as long as the [`Host`] lives, so this is how long a
/// master outlives a gauntlet that was killed.
const MASTER_LINGERS: usize = 10;

/// How often ssh asks a silent server whether it is still there (ssh
/// gives up after three unanswered): a dead network is noticed in
/// seconds, not at TCP's pace.
const SERVER_ALIVE: Duration = Duration::from_secs(5);

/// The longest first line a node or the keeper may send.
const MAX_HEADER: usize = 4096;

/// How to reach one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Its name in reports and errors.
    pub name: String,
    /// Where to connect first: a name `~/.ssh/config` may know, or an IP.
    pub address: String,
    /// Where to connect when `address` does not answer (another network
    /// of the same machine).
    pub fallback_address: Option<String>,
    /// The port; `None` is ssh's own choice (`~/.ssh/config`, else 22).
    pub port: Option<u16>,
    /// The user to log in as; `None` is ssh's own choice.
    pub user: Option<String>,
    /// The private key to log in with, and only it (`IdentitiesOnly`);
    /// `None`: the agent's and ssh's default keys.
    pub identity: Option<PathBuf>,
    /// A `known_hosts` file to check the host's key against
    /// (`UserKnownHostsFile`); `None`: `~/.ssh/known_hosts`. Host keys are
    /// always checked: an unknown or changed key is refused.
    pub known_hosts: Option<PathBuf>,
    /// How long one address may take to answer (ssh's `ConnectTimeout`,
    /// whole seconds, at least one).
    pub connect_timeout: Duration,
    /// How long a remote control step may take (a signal, a usage look,
    /// a node's start); past it, it is abandoned with an error.
    pub command_timeout: Duration,
}

impl HostSpec {
    /// A host named `name` at `address`, with ssh's own port, user and
    /// keys, and 10 s bounds.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> HostSpec {
        HostSpec {
            name: name.into(),
            address: address.into(),
            fallback_address: None,
            port: None,
            user: None,
            identity: None,
            known_hosts: None,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
        }
    }
}

/// What [`Host::read_file`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// The file's first bytes, at most the bound asked for.
    pub bytes: Vec<u8>,
    /// Its size on the host when it was read.
    pub size: u64,
}

impl RemoteFile {
    /// Whether the file holds more than [`bytes`](Self::bytes).
    pub fn truncated(&self) -> bool {
        (self.bytes.len() as u64) < self.size
    }
}

/// One connection to a host: a ControlMaster of the system's `ssh`
/// (`~/.ssh/config`, the agent and keys honoured; host keys always
/// checked), its control socket in a short-named 0700 directory under
/// `/tmp`, and a *keeper* session that kills everything started through
/// this connection when the connection ends however it ends. Cheap to
/// clone; the connection closes when the last clone (and the last node
/// started through it) is dropped.
#[derive(Debug, Clone)]
pub struct Host(pub(crate) Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    spec: HostSpec,
    /// The address that answered.
    address: String,
    ip: Option<IpAddr>,
    run_dir: RunDir,
    run_dir_name: String,
    ctl: PathBuf,
    /// The remote host's boot id when connected.
    remote_boot: String,
    next: AtomicU64,
    /// The keeper's local ssh; the end of its stdin is the keeper's
    /// signal to clean up.
    keeper: Option<NodeProcess>,
    keeper_alive: GroupControl,
    /// Requests to the keeper, one at a time.
    channel: Mutex<Option<Channel>>,
    session: Option<openssh::Session>,
    /// Declared last: removed after the master has exited.
    _ctl_dir: tempfile::TempDir,
}

impl Host {
    /// Connects to the host as this gauntlet process: `address`, then
    /// `fallback_address`; the error names every attempt. Starts the
    /// keeper. Removes the control directories dead gauntlets of this
    /// user left here ([`sweep_control_dirs`](crate::sweep_control_dirs)).
    /// Call it inside the tokio runtime that will use the host.
    pub async fn connect(spec: HostSpec) -> Result<Host, SshError> {
        Self::connect_as(spec, Owner::current()).await
    }

    /// [`connect`](Self::connect) with the run directory named for
    /// `owner` rather than this process (a test simulating another
    /// gauntlet's leftovers, say).
    pub async fn connect_as(spec: HostSpec, owner: Owner) -> Result<Host, SshError> {
        static NEXT_INDEX: AtomicU64 = AtomicU64::new(0);
        let run_dir = RunDir {
            owner,
            index: NEXT_INDEX.fetch_add(1, Ordering::Relaxed),
        };
        // What dead gauntlets of this user left here goes first.
        crate::sweep_control_dirs();
        let me = Owner::current();
        let ctl_dir = tempfile::Builder::new()
            .prefix(&format!("{CONTROL_PREFIX}{}-{}-", me.pid, me.start))
            .rand_bytes(6)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in("/tmp")
            .map_err(|error| SshError::ControlDir {
                host: spec.name.clone(),
                error,
            })?;
        let mut addresses = vec![spec.address.clone()];
        addresses.extend(spec.fallback_address.clone());
        let mut attempts = Vec::new();
        let mut connected = None;
        for address in addresses {
            match master(&spec, ctl_dir.path(), &address).await {
                Ok(session) => {
                    connected = Some((session, address));
                    break;
                }
                Err(failure) => {
                    let host_key = is_host_key_failure(&failure);
                    attempts.push(Attempt {
                        address,
                        port: spec.port,
                        failure,
                        host_key,
                    });
                }
            }
        }
        let Some((session, address)) = connected else {
            let host = spec.name.clone();
            return Err(if attempts.iter().any(|a| a.host_key) {
                SshError::HostKey {
                    host,
                    attempts,
                    known_hosts: spec.known_hosts.clone(),
                }
            } else {
                SshError::Connect { host, attempts }
            });
        };
        let ctl = session.control_socket().to_owned();
        let ip = match address.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => tokio::net::lookup_host((address.as_str(), spec.port.unwrap_or(22)))
                .await
                .ok()
                .and_then(|mut found| found.next())
                .map(|a| a.ip()),
        };
        let run_dir_name = run_dir.to_string();
        let (keeper, stdin, stdout, remote_boot) = start_keeper(&spec, &ctl, &run_dir_name).await?;
        let keeper_alive = keeper.control();
        Ok(Host(Arc::new(Inner {
            spec,
            address,
            ip,
            run_dir,
            run_dir_name,
            ctl,
            remote_boot,
            next: AtomicU64::new(0),
            keeper: Some(keeper),
            keeper_alive,
            channel: Mutex::new(Some(Channel::new(stdin, stdout))),
            session: Some(session),
            _ctl_dir: ctl_dir,
        })))
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.0.spec.name
    }

    /// How it was asked to be reached.
    pub fn spec(&self) -> &HostSpec {
        &self.0.spec
    }

    /// The address that answered (`address` or `fallback_address`).
    pub fn address(&self) -> &str {
        &self.0.address
    }

    /// That address as an IP (resolved when it is a name), if it has one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.0.ip
    }

    /// The master's control socket.
    pub fn control_socket(&self) -> &Path {
        &self.0.ctl
    }

    /// This connection's run directory on the host (its name under
    /// `/tmp/gauntlet-ssh/`).
    pub fn run_dir(&self) -> &RunDir {
        &self.0.run_dir
    }

    /// The host's boot id, read when connecting.
    pub fn remote_boot(&self) -> &str {
        &self.0.remote_boot
    }

    /// Whether the connection still stands: its master answers and its
    /// keeper runs. Once it does not, everything started through it has
    /// been killed on the host (or is being killed) and nothing new can
    /// start: connect again.
    pub fn is_connected(&self) -> bool {
        self.0.keeper_alive.is_running() && self.master_answers()
    }

    pub(crate) fn master_answers(&self) -> bool {
        std::os::unix::net::UnixStream::connect(&self.0.ctl).is_ok()
    }

    pub(crate) fn run_dir_name(&self) -> &str {
        &self.0.run_dir_name
    }

    /// A fresh name for a node (its pid file's name): a number, then the
    /// program's file name as far as it is tame.
    pub(crate) fn next_node_name(&self, program: &Path) -> String {
        let n = self.0.next.fetch_add(1, Ordering::Relaxed);
        let base: String = program
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .take(24)
            .collect();
        if base.is_empty() {
            format!("n{n}")
        } else {
            format!("n{n}-{base}")
        }
    }

    /// The local `ssh` arguments that run `script` on the host through
    /// the master (never a connection of their own: port 9 and the host
    /// `none` go nowhere if the master is gone).
    pub(crate) fn ssh_args(&self, script: &[u8]) -> Result<Vec<OsString>, SshError> {
        Ok(ssh_args(&self.0.ctl, script::remote_command(script)?))
    }

    /// The error for a local `ssh` that ended with `code` and `stderr`
    /// while doing `what`.
    pub(crate) fn failure(&self, what: &str, stdout: &[u8], stderr: &[u8]) -> SshError {
        let stderr = String::from_utf8_lossy(stderr);
        if let Some(refused) = self.refused(what, stderr.lines()) {
            return refused;
        }
        let stderr = tidy(stderr.lines());
        if !self.master_answers() {
            return SshError::Disconnected {
                host: self.name().to_owned(),
                detail: if stderr.is_empty() {
                    "its master connection has ended".to_owned()
                } else {
                    stderr
                },
            };
        }
        let stdout = String::from_utf8_lossy(stdout);
        let mut message: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix(script::ERROR))
            .collect();
        if !stderr.is_empty() {
            message.push(&stderr);
        }
        SshError::Remote {
            host: self.name().to_owned(),
            what: what.to_owned(),
            message: if message.is_empty() {
                "failed, and said nothing".to_owned()
            } else {
                message.join("; ")
            },
        }
    }

    /// [`SshError::NoSession`] when ssh's words say the host refused
    /// the session.
    pub(crate) fn refused<'a>(
        &self,
        what: &str,
        mut said: impl Iterator<Item = &'a str>,
    ) -> Option<SshError> {
        said.any(|l| l.contains("Session open refused by peer"))
            .then(|| SshError::NoSession {
                host: self.name().to_owned(),
                what: what.to_owned(),
            })
    }

    /// What a new session over the master says when it fails (nothing
    /// when it works): why a node's `ssh` ended before its program
    /// started, when its own stderr could not be read.
    pub(crate) fn session_probe(&self) -> Vec<String> {
        let Ok(args) = self.ssh_args(b"exit 0") else {
            return Vec::new();
        };
        match std::process::Command::new("ssh")
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if !out.status.success() => String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A local `ssh` running `script` on the host: its own process group
    /// (the terminal's Ctrl-C is gauntlet's to act on, not ssh's), killed
    /// when dropped, stdout and stderr piped.
    fn ssh_command(&self, script: &[u8]) -> Result<tokio::process::Command, SshError> {
        let mut command = tokio::process::Command::new("ssh");
        command
            .args(self.ssh_args(script)?)
            .process_group(0)
            .kill_on_drop(true)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(command)
    }

    pub(crate) fn ssh_error(&self, error: io::Error) -> SshError {
        SshError::Ssh {
            host: self.name().to_owned(),
            error,
        }
    }

    /// Starts `spec` on the host as a node: its stdin and stdout are the
    /// program's, its stderr goes where the spec says. The program is
    /// looked up on the host's `PATH` when it has no `/`; its working
    /// directory and environment are the host's.
    pub async fn spawn(&self, spec: &NodeSpec) -> Result<SshNode, SshError> {
        let address = self
            .ip()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        SshNode::start(self, spec, address).await
    }

    /// Runs `argv` on the host to its end, as a node of its own (its own
    /// process group there): its stdout (up to 16 MiB is kept), its exit
    /// and stderr tail (the last 1,000 lines). Past `timeout` the whole
    /// group is killed and [`Output::timed_out`] says so. Dropping the
    /// future kills it too.
    pub async fn run(
        &self,
        argv: &[impl AsRef<OsStr>],
        timeout: Duration,
    ) -> Result<Output, SshError> {
        const STDOUT_LIMIT: usize = 16 << 20;
        let Some((program, args)) = argv.split_first() else {
            return Err(SshError::Invalid {
                what: "command".into(),
                why: "it is empty".into(),
            });
        };
        let mut spec = NodeSpec::new(program.as_ref());
        spec.args = args.iter().map(|a| a.as_ref().to_owned()).collect();
        spec.stderr_tail = 1000;
        let node = self.spawn(&spec).await?;
        // gauntlet-node's one loop: stdin closed, stdout kept up to the
        // limit, the group killed (through the keeper) past the timeout.
        Ok(gauntlet_node::finish_node(Box::new(node), None, timeout, STDOUT_LIMIT).await)
    }

    /// Copies the local file `local` to `remote` on the host with `mode`:
    /// written to a temporary name beside it, checked to be whole, then
    /// renamed over it, so a program running from `remote` keeps running
    /// (it holds the old file) and no reader ever sees half a file. The
    /// directory must exist. Unbounded in time (a large file takes what
    /// it takes); dropping the future stops it and the temporary file is
    /// removed.
    pub async fn upload(&self, local: &Path, remote: &Path, mode: u32) -> Result<(), SshError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let local_error = |error| SshError::Local {
            path: local.to_owned(),
            error,
        };
        let mut file = tokio::fs::File::open(local).await.map_err(local_error)?;
        let size = file.metadata().await.map_err(local_error)?.len();
        let Some(name) = remote.file_name() else {
            return Err(SshError::Invalid {
                what: format!("remote path {}", remote.display()),
                why: "it names no file".into(),
            });
        };
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".gauntlet-{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = match remote.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp_name),
            _ => PathBuf::from(tmp_name),
        };
        let script = script::upload(tmp.as_os_str(), remote.as_os_str(), size, mode)?;
        let mut child = self
            .ssh_command(&script)?
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|error| self.ssh_error(error))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A short copy (a local read error, the host gone) leaves the
        // file short: the host refuses to rename it and removes it.
        let copied = tokio::io::copy(&mut file, &mut stdin).await;
        drop(stdin);
        let out = child
            .wait_with_output()
            .await
            .map_err(|error| self.ssh_error(error))?;
        let what = format!("upload {} to {}", local.display(), remote.display());
        if !out.status.success() {
            return Err(self.failure(&what, &out.stdout, &out.stderr));
        }
        copied.map_err(local_error)?;
        Ok(())
    }

    /// The first `max_bytes` bytes of the regular file `remote` on the
    /// host, and its size. Unbounded in time; dropping the future stops
    /// it.
    pub async fn read_file(&self, remote: &Path, max_bytes: u64) -> Result<RemoteFile, SshError> {
        let what = format!("read {}", remote.display());
        let script = script::read_file(remote.as_os_str(), max_bytes)?;
        let out = self
            .ssh_command(&script)?
            .stdin(Stdio::null())
            .spawn()
            .map_err(|error| self.ssh_error(error))?
            .wait_with_output()
            .await
            .map_err(|error| self.ssh_error(error))?;
        if !out.status.success() {
            return Err(self.failure(&what, &out.stdout, &out.stderr));
        }
        let bad = || SshError::Remote {
            host: self.name().to_owned(),
            what: what.clone(),
            message: "the host's answer did not start with the file's size".into(),
        };
        let end = out
            .stdout
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(bad)?;
        let size = std::str::from_utf8(&out.stdout[..end])
            .ok()
            .and_then(|l| l.strip_prefix("gauntlet-ssh size "))
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?;
        Ok(RemoteFile {
            bytes: out.stdout[end + 1..].to_vec(),
            size,
        })
    }

    /// Runs one of this crate's control scripts through the keeper (no
    /// session of its own), bounded by the command timeout: its output
    /// (stdout and stderr) when it succeeds.
    pub(crate) fn control(&self, what: &str, script: &str) -> Result<String, SshError> {
        let mut channel = self.0.channel.lock().unwrap_or_else(|e| e.into_inner());
        let gone = |detail: String| SshError::Disconnected {
            host: self.name().to_owned(),
            detail,
        };
        let Some(open) = channel.as_mut() else {
            return Err(gone("its keeper has ended".into()));
        };
        let timeout = self.0.spec.command_timeout;
        match open.request(script, Instant::now() + timeout) {
            Ok((0, output)) => Ok(output),
            Ok((_, output)) => Err(SshError::Remote {
                host: self.name().to_owned(),
                what: what.to_owned(),
                message: if output.trim().is_empty() {
                    "failed, and said nothing".to_owned()
                } else {
                    output.trim().to_owned()
                },
            }),
            Err(error) if error.kind() == io::ErrorKind::TimedOut => Err(SshError::Timeout {
                host: self.name().to_owned(),
                what: what.to_owned(),
                after: timeout,
            }),
            Err(error) => {
                // The keeper is gone, and with it everything it kept.
                *channel = None;
                Err(gone(format!("its keeper has ended: {error}")))
            }
        }
    }

    /// [`control`](Self::control) from async code, off the runtime's
    /// threads.
    pub(crate) async fn control_async(
        &self,
        what: String,
        script: String,
    ) -> Result<String, SshError> {
        let host = self.clone();
        tokio::task::spawn_blocking(move || host.control(&what, &script))
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
    }

    /// Records `undo`, a POSIX `sh` script, under `name` (letters, digits,
    /// `-` and `_`) in this connection's run directory on the host, to be
    /// run when that directory is cleaned up: when the connection ends
    /// however it ends (its keeper's cleanup: a drop, a dead gauntlet, a
    /// lost connection) or, if the host never noticed, at the next sweep
    /// of a dead owner's directory ([`sweep`](crate::sweep)). For what a
    /// run changes on a host besides its processes (a firewall table);
    /// `None` forgets it. The script runs with no input and its output
    /// discarded, after the run directory's groups are killed.
    pub async fn set_undo(&self, name: &str, undo: Option<&str>) -> Result<(), SshError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            return Err(SshError::Invalid {
                what: format!("undo name {name:?}"),
                why: "use letters, digits, '-' and '_'".into(),
            });
        }
        if undo.is_some_and(|u| u.lines().any(|l| l.starts_with("gauntlet-ssh "))) {
            return Err(SshError::Invalid {
                what: format!("undo script {name:?}"),
                why: "a line may not begin with \"gauntlet-ssh \"".into(),
            });
        }
        self.control_async(
            format!("record undo {name}"),
            script::set_undo(self.run_dir_name(), name, undo),
        )
        .await
        .map(drop)
    }

    /// Sends `signal` to the group `pgid` (led by a process started at
    /// `start`) when it is still the node `marker` names.
    pub(crate) fn signal_group(
        &self,
        signal: i32,
        pgid: i32,
        start: u64,
        marker: &str,
    ) -> Result<(), SshError> {
        let spec = script::signal_spec(signal);
        let script = script::signal(&spec, pgid, start, marker);
        self.control(&format!("send SIG{spec} to process group {pgid}"), &script)
            .map(drop)
    }

    /// The group's member count and footprint.
    pub(crate) fn group_usage(&self, pgid: i32) -> Result<(u64, Usage), SshError> {
        let what = format!("read the usage of process group {pgid}");
        let text = self.control(&what, &script::usage(pgid))?;
        let numbers: Vec<u64> = text
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        let [members, ticks, pages, hz, page_size] = numbers[..] else {
            return Err(SshError::Remote {
                host: self.name().to_owned(),
                what,
                message: format!("unexpected answer {:?}", text.trim()),
            });
        };
        Ok((
            members,
            Usage {
                rss_bytes: pages.saturating_mul(page_size),
                cpu_ns: ticks.saturating_mul(1_000_000_000) / hz.max(1),
            },
        ))
    }

    /// Kills what a node's pid file names (if ours) and removes it: for
    /// a node whose start was not seen through.
    pub(crate) fn abandon(&self, node: &str) -> Result<(), SshError> {
        let script = script::abandon(self.run_dir_name(), node);
        self.control(&format!("abandon node {node}"), &script)
            .map(drop)
    }
}

/// The keeper's input and output, as plain blocking descriptors: a
/// control step is a request written and its answer read, from any
/// thread, runtime or none.
#[derive(Debug)]
struct Channel {
    input: std::fs::File,
    output: std::fs::File,
    /// Bytes read past the last answer.
    pending: Vec<u8>,
    next: u64,
}

impl Channel {
    fn new(input: OwnedFd, output: OwnedFd) -> Channel {
        for fd in [&input, &output] {
            use std::os::fd::AsRawFd;
            // SAFETY: fcntl on a descriptor this owns.
            unsafe {
                let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
                if flags >= 0 {
                    libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
                }
            }
        }
        Channel {
            input: input.into(),
            output: output.into(),
            pending: Vec::new(),
            next: 0,
        }
    }

    /// Sends `script`, and reads until its answer is whole: its status
    /// and output. A late answer to an earlier request (one that timed
    /// out) is skipped by its id.
    fn request(&mut self, script: &str, deadline: Instant) -> io::Result<(i32, String)> {
        use std::io::Write;
        self.next += 1;
        let id = self.next;
        self.input
            .write_all(script::request(id, script).as_bytes())?;
        let begin = format!("gauntlet-ssh begin {id}");
        let done = format!("gauntlet-ssh done {id} ");
        let mut begun = false;
        let mut output = String::new();
        loop {
            let line = self.line(deadline)?;
            if !begun {
                begun = line == begin;
                continue;
            }
            if let Some(status) = line.strip_prefix(&done) {
                return Ok((status.trim().parse().unwrap_or(-1), output));
            }
            output.push_str(&line);
            output.push('\n');
        }
    }

    /// The next line of the keeper's output, waiting until `deadline`.
    fn line(&mut self, deadline: Instant) -> io::Result<String> {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            wait_readable(self.output.as_raw_fd(), deadline)?;
            let mut chunk = [0u8; 4096];
            let n = self.output.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "its output ended",
                ));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Waits until `fd` can be read, or `deadline` passes (`TimedOut`).
fn wait_readable(fd: std::os::fd::RawFd, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, for the duration of the call.
        match unsafe { libc::poll(&mut poll, 1, ms) } {
            n if n > 0 => return Ok(()),
            0 => continue,
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

/// ssh's lines without the noise of a mux client whose master would
/// not serve it (it then tries the host `none` itself, and says so).
pub(crate) fn tidy<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    lines
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("Could not resolve hostname none"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The prefix of a control socket directory's name under `/tmp`:
/// `gssh-<pid>-<start>-<random>`, short (a socket's path holds at most
/// 108 bytes) and naming its owner for [`sweep_control_dirs`](crate::sweep_control_dirs).
pub(crate) const CONTROL_PREFIX: &str = "gssh-";

/// The local `ssh` arguments that run `command` through the master at
/// `ctl`.
pub(crate) fn ssh_args(ctl: &Path, command: OsString) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-S".into(), ctl.into()];
    for arg in [
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=no",
        "-T",
        "-p",
        "9",
        "none",
        "--",
    ] {
        args.push(arg.into());
    }
    args.push(command);
    args
}

/// Starts a master to `address`: strict host key checking, always.
async fn master(spec: &HostSpec, dir: &Path, address: &str) -> Result<openssh::Session, String> {
    let mut builder = SessionBuilder::default();
    builder
        .known_hosts_check(KnownHosts::Strict)
        .control_directory(dir)
        .control_persist(ControlPersist::IdleFor(
            NonZeroUsize::new(MASTER_LINGERS).expect("not zero"),
        ))
        .connect_timeout(spec.connect_timeout.max(Duration::from_secs(1)))
        .server_alive_interval(SERVER_ALIVE);
    if let Some(port) = spec.port {
        builder.port(port);
    }
    if let Some(user) = &spec.user {
        builder.user(user.clone());
    }
    if let Some(identity) = &spec.identity {
        builder.keyfile(identity);
    }
    if let Some(known_hosts) = &spec.known_hosts {
        builder.user_known_hosts_file(known_hosts);
    }
    builder.connect(address).await.map_err(|e| describe(&e))
}

/// openssh's error with ssh's own words (they are in its source chain).
fn describe(error: &openssh::Error) -> String {
    let mut innermost = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !text.trim().is_empty() {
            innermost = text;
        }
        source = inner.source();
    }
    innermost
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_host_key_failure(text: &str) -> bool {
    text.contains("Host key verification failed")
        || text.contains("host key is known")
        || text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || text.contains("Host key for")
}

/// Starts the keeper and waits for its `ready` line: the local ssh, its
/// stdin and stdout as plain descriptors, and the host's boot id.
async fn start_keeper(
    spec: &HostSpec,
    ctl: &Path,
    dir: &str,
) -> Result<(NodeProcess, OwnedFd, OwnedFd, String), SshError> {
    let mut local = NodeSpec::new("ssh");
    local.args = ssh_args(ctl, script::remote_command(script::keeper(dir).as_bytes())?);
    local.stderr_tail = 16;
    let mut keeper = NodeProcess::spawn(&local).map_err(SshError::Node)?;
    let stdin = keeper.take_stdin().expect("a fresh node has its stdin");
    let mut stdout = keeper.take_stdout().expect("a fresh node has its stdout");
    let line = tokio::time::timeout(spec.command_timeout, read_line(&mut stdout)).await;
    let failed = |message: String| SshError::Remote {
        host: spec.name.clone(),
        what: "start the keeper".into(),
        message,
    };
    let boot = match line {
        Err(_) => {
            return Err(SshError::Timeout {
                host: spec.name.clone(),
                what: "start the keeper".into(),
                after: spec.command_timeout,
            });
        }
        Ok(Err(error)) => return Err(failed(error.to_string())),
        Ok(Ok(None)) => {
            let exit = tokio::time::timeout(Duration::from_secs(2), keeper.wait()).await;
            let said = exit.map(|e| e.stderr_tail.join("; ")).unwrap_or_default();
            return Err(failed(format!("the keeper ended at once: {said}")));
        }
        Ok(Ok(Some(line))) => {
            let line = String::from_utf8_lossy(&line).into_owned();
            match (
                line.strip_prefix(script::READY),
                line.strip_prefix(script::ERROR),
            ) {
                (Some(boot), _) => boot.trim().to_owned(),
                (_, Some(error)) => return Err(failed(error.to_owned())),
                _ => return Err(failed(format!("unexpected first line {line:?}"))),
            }
        }
    };
    let stdin = stdin.into_owned_fd().map_err(|e| failed(e.to_string()))?;
    let stdout = stdout.into_owned_fd().map_err(|e| failed(e.to_string()))?;
    Ok((keeper, stdin, stdout, boot))
}

/// One line from `pipe`, read a byte at a time so nothing after it is
/// taken from the program; `None` at end of file.
pub(crate) async fn read_line(
    pipe: &mut tokio::process::ChildStdout,
) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        if pipe.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        if byte[0] == b'\n' {
            return Ok(Some(line));
        }
        line.push(byte[0]);
        if line.len() > MAX_HEADER {
            return Err(io::Error::other("the first line is too long"));
        }
    }
}

/// [`read_line`] without a runtime: poll(2) and read(2) on the
/// descriptor, until `deadline`. For a synchronous spawn, whose caller's
/// runtime may be the one blocked.
pub(crate) fn read_line_blocking(
    pipe: &tokio::process::ChildStdout,
    deadline: Instant,
) -> io::Result<Option<Vec<u8>>> {
    use std::os::fd::AsRawFd;
    let fd = pipe.as_raw_fd();
    let mut line = Vec::new();
    loop {
        wait_readable(fd, deadline)?;
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a live byte.
        let n = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        match n {
            0 => return Ok(None),
            1 if byte == b'\n' => return Ok(Some(line)),
            1 => {
                line.push(byte);
                if line.len() > MAX_HEADER {
                    return Err(io::Error::other("the first line is too long"));
                }
            }
            _ => {
                let error = io::Error::last_os_error();
                if !matches!(
                    error.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) {
                    return Err(error);
                }
            }
        }
    }
}

impl Drop for Inner {
    /// Ends the keeper's input (the keeper kills whatever is left and
    /// removes the run directory), waits for it a bounded while, then
    /// closes the master and removes the control directory.
    fn drop(&mut self) {
        let channel = self.channel.get_mut().unwrap_or_else(|e| e.into_inner());
        drop(channel.take());
        let until = Instant::now() + self.spec.command_timeout;
        while self.keeper_alive.is_running() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(self.keeper.take());
        // `ssh -O exit`: the master goes; its directory after it.
        drop(self.session.take());
    }
}
