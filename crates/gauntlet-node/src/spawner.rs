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
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use crate::registry;
use crate::stderr::StderrShared;

/// What the spawner needs to start one child.
pub(crate) struct SpawnRequest {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(OsString, OsString)>,
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
}

struct Threads {
    spawner: Sender<Job>,
    reaper: Sender<Corpse>,
}

static THREADS: Mutex<Option<Threads>> = Mutex::new(None);

/// Returns senders to both threads, starting them on first use.
fn threads() -> io::Result<(Sender<Job>, Sender<Corpse>)> {
    let mut guard = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = guard.as_ref() {
        return Ok((t.spawner.clone(), t.reaper.clone()));
    }
    let (reaper_tx, reaper_rx) = channel::<Corpse>();
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
    match threads() {
        Ok((_, reaper)) => {
            if let Err(std::sync::mpsc::SendError(corpse)) = reaper.send(corpse) {
                reap_corpse(corpse);
            }
        }
        Err(_) => reap_corpse(corpse),
    }
}

fn spawner_loop(jobs: Receiver<Job>, reaper: Sender<Corpse>) {
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
            let _ = reaper.send(Corpse {
                pid,
                slot: spawned.slot,
                stderr: None,
            });
        }
    }
}

fn spawn_here(request: SpawnRequest) -> Reply {
    if registry::is_shutting_down() {
        return Err(SpawnFailure::ShuttingDown);
    }
    let slot = registry::reserve().ok_or(SpawnFailure::TooMany)?;
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
    // SAFETY: `child_setup` only makes async-signal-safe calls and touches no
    // memory but its argument.
    unsafe {
        command.pre_exec(move || child_setup(parent));
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            registry::release(slot);
            return Err(SpawnFailure::Io(err));
        }
    };
    // std's spawn returns only after exec succeeded, so `setpgid` has run and
    // the group exists: signalling it from now on reaches the child.
    let pid = child.id() as i32;
    registry::publish(slot, pid);
    // Checked after publishing, so a concurrent `shutdown` either sees the
    // slot (and kills the group) or we see its flag here.
    if registry::is_shutting_down() {
        let _ = signal_group(pid, libc::SIGKILL);
        drop(child);
        reap_corpse(Corpse {
            pid,
            slot,
            stderr: None,
        });
        return Err(SpawnFailure::ShuttingDown);
    }
    Ok(Spawned { child, slot })
}

/// Runs in the child between fork and exec. Only async-signal-safe calls:
/// the child of a multi-threaded parent may find any lock held.
fn child_setup(parent: libc::pid_t) -> io::Result<()> {
    // SAFETY: plain syscalls on integers.
    unsafe {
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

fn reaper_loop(corpses: Receiver<Corpse>) {
    while let Ok(corpse) = corpses.recv() {
        let _ = catch_unwind(AssertUnwindSafe(|| reap_corpse(corpse)));
    }
}

/// Blocks until the leader has exited, kills what is left of its group,
/// unregisters it and reaps it.
fn reap_corpse(corpse: Corpse) {
    match crate::wait::exited(corpse.pid, true) {
        Ok(_) => {
            finish_reap(corpse.pid, corpse.slot);
        }
        // Reaped behind our back (someone called waitpid(-1)): the group id
        // may already be recycled, so only leave the registry.
        Err(_) => registry::release(corpse.slot),
    }
    if let Some(stderr) = corpse.stderr {
        stderr.leader_gone();
    }
}

/// The leader is known to have exited (a zombie pins its pid, hence the group
/// id): kill the rest of its group, leave the registry, then reap it.
pub(crate) fn finish_reap(pid: i32, slot: usize) -> crate::Termination {
    let _ = signal_group(pid, libc::SIGKILL);
    let _ = signal_group(pid, libc::SIGCONT);
    registry::release(slot);
    crate::wait::reap(pid)
}
