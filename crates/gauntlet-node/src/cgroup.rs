//! Containment in cgroup v2: one cgroup per gauntlet process, one child
//! cgroup per spawned process, each killed whole with `cgroup.kill`.
//!
//! # Why cgroups and not only process groups
//!
//! A process group is left with one `setsid()` or `setpgid()`: a node or a
//! service that double-forks a daemon escapes `kill(-pgid)`, and after a
//! SIGKILL of gauntlet nobody is left to kill even the grandchildren that
//! stayed in the group. A process cannot leave its cgroup without write access
//! to the hierarchy, and `cgroup.kill` SIGKILLs every process in a cgroup and
//! its descendants at once, forks racing with it included. The cgroup also
//! names its owner on disk, so the next gauntlet can sweep what a SIGKILLed
//! one left behind.
//!
//! # Layout
//!
//! ```text
//! <cgroup2 mount>/gauntlet/                 shared by every gauntlet on the machine
//! <cgroup2 mount>/gauntlet/<pid>-<start>/   one per gauntlet process (its owner)
//! <cgroup2 mount>/gauntlet/<pid>-<start>/<n>  one per spawned process
//! ```
//!
//! `<start>` is field 22 of `/proc/<pid>/stat` (start time in clock ticks
//! since boot), so a recycled pid is never mistaken for the owner. Nothing
//! outside `<mount>/gauntlet/` is ever written, and a directory whose owner
//! is alive (same pid, same start time, not a zombie) is never touched.
//!
//! When no writable cgroup v2 hierarchy exists (cgroup v1 only, no
//! permission, a read-only mount, a kernel without `cgroup.kill`), this crate
//! falls back to process groups and [`containment`] says so and why.

use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// How the processes this crate starts are contained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// Each process runs in its own cgroup v2 under `path` (this gauntlet
    /// process's run cgroup); `setsid` escapees die with it, and a later
    /// gauntlet sweeps it if this one is SIGKILLed.
    Cgroup {
        /// `<cgroup2 mount>/gauntlet/<pid>-<starttime>`.
        path: PathBuf,
    },
    /// Each process leads its own process group, as before cgroups: a
    /// descendant that calls `setsid` escapes, and grandchildren outlive a
    /// SIGKILL of gauntlet.
    ProcessGroup {
        /// Why no cgroup is used.
        why: String,
    },
}

impl std::fmt::Display for Containment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Containment::Cgroup { path } => write!(f, "cgroup v2 ({})", path.display()),
            Containment::ProcessGroup { why } => write!(f, "process groups only ({why})"),
        }
    }
}

/// The containment this process uses, deciding it (and sweeping dead
/// owners' cgroups) on first call. The first spawn calls it too.
pub fn containment() -> Containment {
    match state() {
        State::Cgroup(run) => Containment::Cgroup {
            path: run.dir.clone(),
        },
        State::ProcessGroup(why) => Containment::ProcessGroup { why: why.clone() },
    }
}

pub(crate) enum State {
    Cgroup(Run),
    ProcessGroup(String),
}

pub(crate) struct Run {
    /// `<mount>/gauntlet`.
    root: PathBuf,
    /// `<mount>/gauntlet/<pid>-<start>`.
    dir: PathBuf,
}

static STATE: OnceLock<State> = OnceLock::new();
/// The run cgroup's `cgroup.kill`, opened once so that [`kill_run`] needs no
/// allocation, no lock and no path lookup (panic hook, atexit, Ctrl-C).
static RUN_KILL_FD: AtomicI32 = AtomicI32::new(-1);
static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

pub(crate) fn state() -> &'static State {
    STATE.get_or_init(|| match Run::create() {
        Ok(run) => {
            // Removes the run cgroup at exit even if nothing is spawned.
            crate::registry::install_atexit();
            // The first spawn of every gauntlet reaps what dead ones left;
            // the CLI also calls the sweep explicitly before any work.
            let _ = sweep_under(&run.root, Some(&run.dir));
            State::Cgroup(run)
        }
        Err(why) => State::ProcessGroup(why),
    })
}

/// The pids of the node whose process this gauntlet started as `leader`,
/// for resource sampling: everything in the leader's own cgroup (daemons
/// that left its process group included) when it is one of this run's;
/// `None` when the leader is gone or not in a cgroup of this run (process-
/// group containment), so the caller falls back to its process group.
pub(crate) fn members_of(leader: i32) -> Option<Vec<u32>> {
    member_dir_of(leader).map(|dir| read_pids(&dir))
}

/// The cgroup of the node led by `leader`, when it is one of this run's.
fn member_dir_of(leader: i32) -> Option<PathBuf> {
    let State::Cgroup(run) = state() else {
        return None;
    };
    let text = fs::read_to_string(format!("/proc/{leader}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    // `run.dir` is `<mount>/gauntlet/<owner>`; the leader's path is
    // `/gauntlet/<owner>/<n>` relative to the same mount.
    let mount = run.root.parent()?;
    let dir = mount.join(path.trim_start_matches('/'));
    (dir.parent() == Some(run.dir.as_path())).then_some(dir)
}

/// SIGKILL to everything in the cgroup of the node led by `leader`, when
/// it has one of this run's (`cgroup.kill`); `false` when it has none.
pub(crate) fn kill_members_of(leader: i32) -> bool {
    member_dir_of(leader).is_some_and(|dir| fs::write(dir.join("cgroup.kill"), b"1").is_ok())
}

/// Writes "1" to the run cgroup's `cgroup.kill`: every process this gauntlet
/// started, and everything they forked or daemonised, is SIGKILLed. No lock,
/// no allocation; only `write(2)`, which is async-signal-safe.
pub(crate) fn kill_run() -> bool {
    let fd = RUN_KILL_FD.load(SeqCst);
    // SAFETY: the fd is opened once and never closed; writing a static byte.
    fd >= 0 && unsafe { libc::write(fd, b"1".as_ptr().cast(), 1) } == 1
}

impl Run {
    fn create() -> Result<Run, String> {
        let mount = find_cgroup2(
            &fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?,
        )
        .ok_or_else(|| "no cgroup2 file system is mounted".to_owned())?;
        let root = mount.join("gauntlet");
        match fs::create_dir(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", root.display())),
        }
        let me = std::process::id() as i32;
        let start = start_time(me)
            .ok_or_else(|| format!("cannot read the start time of pid {me} from /proc"))?;
        let dir = root.join(format!("{me}-{start}"));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
        let run = Run { root, dir };
        // Until proven otherwise, the directory is ours to remove.
        let fail = |why: String| {
            let _ = fs::remove_dir(&run.dir);
            Err(why)
        };
        let kill = match open_write(&run.dir.join("cgroup.kill")) {
            Ok(fd) => fd,
            Err(e) => {
                return fail(format!(
                    "{}: {e} (cgroup.kill needs Linux 5.14+)",
                    run.dir.join("cgroup.kill").display()
                ));
            }
        };
        if let Err(why) = run.probe() {
            return fail(why);
        }
        RUN_KILL_FD.store(kill.as_raw_fd(), SeqCst);
        // The fd lives as long as the process: kill_run may use it anytime.
        std::mem::forget(kill);
        Ok(run)
    }

    /// Proves that a forked child can join a cgroup here (mkdir alone does
    /// not: moving a process also needs write access to the common
    /// ancestor's `cgroup.procs`, and some sandboxes forbid it).
    fn probe(&self) -> Result<(), String> {
        let member = Member::create(self).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let procs = member.procs.as_ref().map(|fd| fd.as_raw_fd()).unwrap_or(-1);
        // SAFETY: the child only calls write(2) and _exit(2), which are
        // async-signal-safe, so forking a multi-threaded process is sound.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = unsafe { join(procs) };
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        if pid < 0 {
            return Err(format!("fork: {}", io::Error::last_os_error()));
        }
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child by pid.
            let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
            if rc == pid || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
        let joined = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        member.remove(Duration::from_secs(1));
        if joined {
            Ok(())
        } else {
            Err(format!(
                "a child cannot join a cgroup under {} (writing its cgroup.procs failed)",
                self.dir.display()
            ))
        }
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is open
/// as `procs` ("0" means "the writer"). Async-signal-safe: one `write(2)`.
///
/// # Safety
///
/// `procs` must be an open descriptor (or -1, which fails).
pub(crate) unsafe fn join(procs: RawFd) -> bool {
    // SAFETY: write(2) of a static byte; a bad fd only fails.
    procs >= 0 && unsafe { libc::write(procs, b"0".as_ptr().cast(), 1) } == 1
}

/// The cgroup of one spawned process.
pub(crate) struct Member {
    dir: PathBuf,
    /// `cgroup.procs`, opened `O_CLOEXEC` before the fork so the child joins
    /// with one `write` and the descriptor does not leak into the program.
    /// Closed once the child runs.
    procs: Option<OwnedFd>,
    kill: OwnedFd,
}

impl Member {
    /// A new, empty cgroup for a process about to be spawned; `None` when
    /// containment is by process group only.
    pub(crate) fn new() -> io::Result<Option<Member>> {
        match state() {
            State::Cgroup(run) => Member::create(run).map(Some),
            State::ProcessGroup(_) => Ok(None),
        }
    }

    fn create(run: &Run) -> io::Result<Member> {
        let n = NEXT_MEMBER.fetch_add(1, SeqCst);
        let dir = run.dir.join(n.to_string());
        fs::create_dir(&dir)?;
        let opened = open_write(&dir.join("cgroup.procs"))
            .and_then(|procs| Ok((procs, open_write(&dir.join("cgroup.kill"))?)));
        match opened {
            Ok((procs, kill)) => Ok(Member {
                dir,
                procs: Some(procs),
                kill,
            }),
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// The raw `cgroup.procs` descriptor for the pre-exec hook.
    pub(crate) fn procs_fd(&self) -> RawFd {
        self.procs.as_ref().map(|fd| fd.as_raw_fd()).unwrap_or(-1)
    }

    /// Closes `cgroup.procs` once the child has joined (after exec).
    pub(crate) fn joined(&mut self) {
        self.procs = None;
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// SIGKILLs every process in the cgroup (`setsid` escapees included).
    pub(crate) fn kill(&self) -> io::Result<()> {
        // SAFETY: write(2) of a static byte to a descriptor we own.
        if unsafe { libc::write(self.kill.as_raw_fd(), b"1".as_ptr().cast(), 1) } == 1 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Pids in the cgroup now (zombies are not listed).
    pub(crate) fn pids(&self) -> Vec<u32> {
        read_pids(&self.dir)
    }

    /// Kills the cgroup, waits (up to `bound`) until it is empty and removes
    /// it, on the calling thread.
    pub(crate) fn remove(mut self, bound: Duration) {
        let _ = self.kill();
        remove_when_empty(&std::mem::take(&mut self.dir), bound);
    }
}

impl Drop for Member {
    /// Kills whatever is left in the cgroup at once, and has the reaper
    /// thread remove the directory once it is empty (waiting for that must
    /// not block the async runtime).
    fn drop(&mut self) {
        if self.dir.as_os_str().is_empty() {
            return;
        }
        let _ = self.kill();
        crate::spawner::remove_cgroup_later(std::mem::take(&mut self.dir));
    }
}

/// Waits (up to `bound`) until the cgroup `dir` is empty, then removes it.
/// A cgroup still populated after that is left for this process's exit or,
/// if it is SIGKILLed, the next gauntlet's sweep.
pub(crate) fn remove_when_empty(dir: &Path, bound: Duration) {
    if wait_empty(dir, bound) {
        let _ = fs::remove_dir(dir);
    }
}

fn open_write(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid C string; on success the fd is new and ours.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: freshly opened, owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// The mount point of the first cgroup2 file system in `mountinfo` text.
pub(crate) fn find_cgroup2(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // "id parent major:minor root mountpoint options [optional...] - fstype source superopts"
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mount = left.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_mount(mount)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mount(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        if let (b'\\', Some(v)) = (bytes[i], octal) {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Field 22 of `/proc/<pid>/stat`; `None` if the process does not exist or
/// is a zombie (a zombie owns nothing: its cgroups may be swept).
///
/// Together with the pid this names one process for as long as the machine
/// is up: pids are reused, start times (clock ticks since boot) of one pid
/// are not. Anything that names its owner this way (the run cgroups here,
/// the Docker objects of gauntlet-docker) judges liveness with
/// [`owner_alive`], so every sweep agrees on who is dead.
pub fn start_time(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ..."; comm may hold spaces and parens.
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // state is field 3, so field 22 is 19 further on.
    fields.nth(18)?.parse().ok()
}

/// Whether the owner named `<pid>-<start>` still runs on this machine: the
/// same pid with the same start time, and not a zombie. A recycled pid
/// (another start time) is a dead owner.
pub fn owner_alive(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid) == Some(start)
}

fn read_pids(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Whether `cgroup.events` says the cgroup (with its descendants) holds no
/// process.
fn is_empty(dir: &Path) -> bool {
    match fs::read_to_string(dir.join("cgroup.events")) {
        Ok(text) => text.lines().any(|l| l.trim() == "populated 0"),
        // Gone already counts as empty.
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

fn wait_empty(dir: &Path, bound: Duration) -> bool {
    let start = Instant::now();
    loop {
        if is_empty(dir) {
            return true;
        }
        if start.elapsed() >= bound {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What [`sweep_dead_owners`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Run cgroups of dead gauntlet processes that were killed and removed.
    pub removed: Vec<PathBuf>,
    /// Run cgroups of dead owners that could not be removed, with why
    /// (say, a process stuck in uninterruptible sleep kept one populated).
    pub failed: Vec<(PathBuf, String)>,
}

/// Kills and removes the cgroup of every gauntlet process that is no longer
/// alive (`<mount>/gauntlet/<pid>-<start>` where no live process has that pid
/// *and* that start time): this reaps the grandchildren and daemonised
/// descendants a SIGKILLed gauntlet left running. Touches nothing outside
/// `<mount>/gauntlet/`, never a live owner's cgroup, and does nothing at all
/// when containment is by process group. Blocking, bounded by a few seconds
/// per dead owner; call it before starting work.
pub fn sweep_dead_owners() -> Sweep {
    match state() {
        State::Cgroup(run) => sweep_under(&run.root, Some(&run.dir)),
        State::ProcessGroup(_) => Sweep::default(),
    }
}

/// Sweeps dead owners under `root`, never `own`.
fn sweep_under(root: &Path, own: Option<&Path>) -> Sweep {
    let mut sweep = Sweep::default();
    let Ok(entries) = fs::read_dir(root) else {
        return sweep;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if Some(path.as_path()) == own || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        // Only names this crate makes; anything else is not ours to judge.
        let Some((pid, start)) = name
            .split_once('-')
            .and_then(|(p, s)| Some((p.parse::<i32>().ok()?, s.parse::<u64>().ok()?)))
        else {
            continue;
        };
        if pid <= 0 || owner_alive(pid, start) {
            continue;
        }
        match remove_tree(&path, Duration::from_secs(5)) {
            Ok(()) => sweep.removed.push(path),
            Err(why) => sweep.failed.push((path, why)),
        }
    }
    sweep
}

/// `cgroup.kill` on `dir` (which kills every descendant cgroup too), waits
/// until it is empty, then removes it, children first.
fn remove_tree(dir: &Path, bound: Duration) -> Result<(), String> {
    match fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"))
    {
        Ok(mut f) => {
            let _ = f.write_all(b"1");
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && !dir.exists() => return Ok(()),
        Err(e) => return Err(format!("cgroup.kill: {e}")),
    }
    if !wait_empty(dir, bound) {
        return Err(format!(
            "still populated after {bound:?} (pids {:?})",
            read_pids(dir)
        ));
    }
    remove_dirs(dir)
}

/// Removes an empty cgroup tree, deepest first. A cgroup directory holds only
/// the kernel's interface files (which `rmdir` takes along) and child
/// cgroups, so `rmdir` is the only call needed.
fn remove_dirs(dir: &Path) -> Result<(), String> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_dirs(&entry.path())?;
            }
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("rmdir {}: {e}", dir.display())),
    }
}

/// At exit: kill the run cgroup and remove it (bounded), so a normal exit
/// leaves no directory for the next sweep. Best effort.
pub(crate) fn remove_run_at_exit() {
    if let Some(State::Cgroup(run)) = STATE.get() {
        kill_run();
        let _ = remove_tree(&run.dir, Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cgroup2_in_mountinfo() {
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";
        assert_eq!(find_cgroup2(v1), None);
        let hybrid =
            format!("{v1}41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
        assert_eq!(
            find_cgroup2(&hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified =
            "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(find_cgroup2(unified), Some(PathBuf::from("/sys/fs/cgroup")));
        let escaped = "1 2 0:1 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(find_cgroup2(escaped), Some(PathBuf::from("/mnt/my cg")));
    }

    #[test]
    fn start_time_of_self_and_of_nobody() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        assert_eq!(start_time(i32::MAX), None);
    }
}
