//! The two long-lived threads this crate owns: the spawner and the reaper.
//!
//! # Why spawning goes through one dedicated thread
//!
//! `PR_SET_PDEATHSIG` is tied to the *thread* that forked the child, not to
//! the process: the child gets its signal when that thread exits. tokio's
//! blocking-pool threads exit after ten idle seconds, so a node spawned from
//! `spawn_blocking` (or from any short-lived thread) would be SIGKILLed at a
//! random later moment while gauntlet is perfectly alive. Every fork in this
//! crate therefore happens on one thread that is started on first use and
//! never returns (its request loop cannot end and each request runs under
//! `catch_unwind`), so the death signal fires exactly when the gauntlet
//! process dies. Callers may call [`NodeProcess::spawn`](crate::NodeProcess::spawn)
//! from any thread.
//!
//! # Why reaping after `Drop` goes through another
//!
//! `Drop` must not block the async runtime, but a SIGKILLed child is only
//! reapable once the kernel has torn it down. Children that are still dying
//! when their `NodeProcess` is dropped are handed to the reaper thread, which
//! waits for each one, so no zombie is left behind.

use std::ffi::OsString;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use crate::cgroup::{self, Member};
use crate::registry;
use crate::stderr::StderrShared;

/// What the spawner needs to start one child.
pub(crate) struct SpawnRequest {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(OsString, OsString)>,
    /// A network namespace to enter before exec (`/run/netns/<name>`,
    /// opened by the caller so a bad path fails there, with its name).
    pub netns: Option<std::fs::File>,
}

pub(crate) enum SpawnFailure {
    /// The OS refused to start the program.
    Io(io::Error),
    /// The registry is full.
    TooMany,
    /// [`registry::shutdown`] was called; the child (if any) has been killed.
    ShuttingDown,
}

pub(crate) struct Spawned {
    pub child: Child,
    pub slot: usize,
    /// The child's own cgroup; `None` when containment is by process group.
    pub member: Option<Member>,
}

type Reply = Result<Spawned, SpawnFailure>;

struct Job {
    request: SpawnRequest,
    reply: SyncSender<Reply>,
}

/// A child that was killed and must be reaped off the caller's thread.
pub(crate) struct Corpse {
    pub pid: i32,
    pub slot: usize,
    pub stderr: Option<Arc<StderrShared>>,
    pub member: Option<Member>,
}

/// Work for the reaper thread.
enum Reap {
    /// Wait for a killed child, reap it, then remove its cgroup.
    Corpse(Corpse),
    /// Remove the cgroup (already killed) of a child once it is empty:
    /// blocking, so never on the async runtime.
    Cgroup(PathBuf),
}

struct Threads {
    spawner: Sender<Job>,
    reaper: Sender<Reap>,
}

static THREADS: Mutex<Option<Threads>> = Mutex::new(None);

/// Returns senders to both threads, starting them on first use.
fn threads() -> io::Result<(Sender<Job>, Sender<Reap>)> {
    let mut guard = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = guard.as_ref() {
        return Ok((t.spawner.clone(), t.reaper.clone()));
    }
    let (reaper_tx, reaper_rx) = channel::<Reap>();
    std::thread::Builder::new()
        .name("gauntlet-node-reaper".into())
        .spawn(move || reaper_loop(reaper_rx))?;
    let (spawner_tx, spawner_rx) = channel::<Job>();
    let reaper_for_spawner = reaper_tx.clone();
    std::thread::Builder::new()
        .name("gauntlet-node-spawner".into())
        .spawn(move || spawner_loop(spawner_rx, reaper_for_spawner))?;
    registry::install_atexit();
    *guard = Some(Threads {
        spawner: spawner_tx.clone(),
        reaper: reaper_tx.clone(),
    });
    Ok((spawner_tx, reaper_tx))
}

/// Spawns a child on the spawner thread and waits for the outcome. Blocks the
/// calling thread for the duration of fork + exec (std waits until exec has
/// succeeded or failed), typically well under a millisecond.
pub(crate) fn spawn(request: SpawnRequest) -> Reply {
    let (spawner, _) = threads().map_err(SpawnFailure::Io)?;
    let (reply_tx, reply_rx) = sync_channel(1);
    let gone = || SpawnFailure::Io(io::Error::other("gauntlet-node spawner thread is gone"));
    spawner
        .send(Job {
            request,
            reply: reply_tx,
        })
        .map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())?
}

/// Hands a killed child to the reaper thread. Falls back to reaping inline
/// (a SIGKILLed child dies promptly) if the thread cannot be started.
pub(crate) fn reap_later(corpse: Corpse) {
    send_to_reaper(Reap::Corpse(corpse));
}

/// Hands the cgroup directory of a killed child to the reaper thread for
/// removal once it is empty.
pub(crate) fn remove_cgroup_later(dir: PathBuf) {
    send_to_reaper(Reap::Cgroup(dir));
}

fn send_to_reaper(job: Reap) {
    match threads() {
        Ok((_, reaper)) => {
            if let Err(std::sync::mpsc::SendError(job)) = reaper.send(job) {
                run_reap(job);
            }
        }
        Err(_) => run_reap(job),
    }
}

fn spawner_loop(jobs: Receiver<Job>, reaper: Sender<Reap>) {
    // `jobs` never disconnects: the matching sender lives in a static. So
    // this thread, and with it every child's PDEATHSIG, lives as long as the
    // process.
    while let Ok(job) = jobs.recv() {
        let Job { request, reply } = job;
        let outcome = catch_unwind(AssertUnwindSafe(|| spawn_here(request)))
            .unwrap_or_else(|_| Err(SpawnFailure::Io(io::Error::other("spawn panicked"))));
        if let Err(std::sync::mpsc::SendError(Ok(spawned))) = reply.send(outcome) {
            // The caller vanished; nobody owns this child. Kill and reap it.
            let pid = spawned.child.id() as i32;
            let _ = signal_group(pid, libc::SIGKILL);
            if let Some(member) = &spawned.member {
                let _ = member.kill();
            }
            let _ = reaper.send(Reap::Corpse(Corpse {
                pid,
                slot: spawned.slot,
                stderr: None,
                member: spawned.member,
            }));
        }
    }
}

fn spawn_here(request: SpawnRequest) -> Reply {
    if registry::is_shutting_down() {
        return Err(SpawnFailure::ShuttingDown);
    }
    let slot = registry::reserve().ok_or(SpawnFailure::TooMany)?;
    // The cgroup exists, and its cgroup.procs is open, before the fork: the
    // child joins it with one write(2) before exec, so not even the
    // program's first instruction runs outside it.
    let mut member = match Member::new() {
        Ok(member) => member,
        Err(err) => {
            registry::release(slot);
            return Err(SpawnFailure::Io(io::Error::new(
                err.kind(),
                format!("cannot create its cgroup: {err}"),
            )));
        }
    };
    let procs = member.as_ref().map_or(-1, Member::procs_fd);
    let mut command = Command::new(&request.program);
    command
        .args(&request.args)
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &request.cwd {
        command.current_dir(cwd);
    }
    let parent = std::process::id() as libc::pid_t;
    let netns = request.netns.as_ref().map_or(-1, |f| {
        use std::os::fd::AsRawFd;
        f.as_raw_fd()
    });
    // SAFETY: `child_setup` only makes async-signal-safe calls and touches no
    // memory but its arguments (`netns` stays open: `request` lives until
    // `spawn` has returned).
    unsafe {
        command.pre_exec(move || child_setup(parent, procs, netns));
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            registry::release(slot);
            if let Some(member) = member {
                member.remove(std::time::Duration::from_secs(1));
            }
            return Err(SpawnFailure::Io(err));
        }
    };
    if let Some(member) = &mut member {
        member.joined();
    }
    // std's spawn returns only after exec succeeded, so `setpgid` has run and
    // the group exists: signalling it from now on reaches the child.
    let pid = child.id() as i32;
    registry::publish(slot, pid);
    // Checked after publishing, so a concurrent `shutdown` either sees the
    // slot (and kills the group) or we see its flag here.
    if registry::is_shutting_down() {
        let _ = signal_group(pid, libc::SIGKILL);
        if let Some(member) = &member {
            let _ = member.kill();
        }
        drop(child);
        reap_corpse(Corpse {
            pid,
            slot,
            stderr: None,
            member,
        });
        return Err(SpawnFailure::ShuttingDown);
    }
    Ok(Spawned {
        child,
        slot,
        member,
    })
}

/// Runs in the child between fork and exec. Only async-signal-safe calls:
/// the child of a multi-threaded parent may find any lock held.
fn child_setup(parent: libc::pid_t, procs: RawFd, netns: RawFd) -> io::Result<()> {
    // SAFETY: plain syscalls on integers.
    unsafe {
        // A lab host's namespace (the netns backend): only the network
        // namespace changes, so the cgroup, process group and death signal
        // below work as for any local node.
        if netns >= 0 && libc::setns(netns, libc::CLONE_NEWNET) != 0 {
            return Err(io::Error::last_os_error());
        }
        // Into the child's own cgroup first ("0" moves the writer), so
        // everything it ever forks is born inside and `cgroup.kill` reaches
        // it whatever process group or session it moves to. A failure
        // fails the spawn: an uncontained node must not pass as contained.
        if procs >= 0 && !cgroup::join(procs) {
            return Err(io::Error::last_os_error());
        }
        // Own process group: Ctrl-C at the terminal (sent to the foreground
        // group) does not reach nodes behind gauntlet's back, and one
        // kill(-pgid) reaches the node and everything it forked.
        if libc::setpgid(0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        // If gauntlet died between fork and prctl, the death signal was never
        // armed for us; we have already been reparented, so notice and die.
        if libc::getppid() != parent {
            libc::_exit(127);
        }
        // Ignored signals stay ignored across exec; a node must start with
        // default dispositions whatever gauntlet did (std already resets
        // SIGPIPE and the signal mask). Errors (for SIGKILL, SIGSTOP and the
        // real-time signals libc keeps for itself) are expected and ignored.
        for signal in 1..libc::SIGRTMIN() {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }
    Ok(())
}

/// `kill(-pgid, signal)`, returning the errno on failure.
pub(crate) fn signal_group(pgid: i32, signal: libc::c_int) -> Result<(), nix::errno::Errno> {
    debug_assert!(pgid > 0);
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(-pgid, signal) } == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last())
    }
}

fn reaper_loop(jobs: Receiver<Reap>) {
    while let Ok(job) = jobs.recv() {
        let _ = catch_unwind(AssertUnwindSafe(|| run_reap(job)));
    }
}

fn run_reap(job: Reap) {
    match job {
        Reap::Corpse(corpse) => reap_corpse(corpse),
        Reap::Cgroup(dir) => cgroup::remove_when_empty(&dir, CGROUP_EMPTY_BOUND),
    }
}

/// How long the reaper waits for a killed cgroup to empty before leaving the
/// directory (for this process's exit or the next sweep). SIGKILLed
/// processes leave within milliseconds; only one stuck in uninterruptible
/// sleep takes longer.
const CGROUP_EMPTY_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// Blocks until the leader has exited, kills what is left of its group,
/// unregisters it and reaps it.
fn reap_corpse(corpse: Corpse) {
    match crate::wait::exited(corpse.pid, true) {
        Ok(_) => {
            finish_reap(corpse.pid, corpse.slot, corpse.member.as_ref());
        }
        // Reaped behind our back (someone called waitpid(-1)): the group id
        // may already be recycled, so only leave the registry.
        Err(_) => registry::release(corpse.slot),
    }
    if let Some(stderr) = corpse.stderr {
        stderr.leader_gone();
    }
    if let Some(member) = corpse.member {
        member.remove(CGROUP_EMPTY_BOUND);
    }
}

/// The leader is known to have exited (a zombie pins its pid, hence the group
/// id): kill the rest of its group and of its cgroup (a node is all it
/// started, `setsid` escapees included), leave the registry, then reap it.
pub(crate) fn finish_reap(pid: i32, slot: usize, member: Option<&Member>) -> crate::Termination {
    let _ = signal_group(pid, libc::SIGKILL);
    let _ = signal_group(pid, libc::SIGCONT);
    if let Some(member) = member {
        let _ = member.kill();
    }
    registry::release(slot);
    crate::wait::reap(pid)
}
