//! The process-wide registry of live node process groups.
//!
//! Why a fixed table of atomics and not a `Mutex<HashSet>`: [`kill_all`] must
//! be callable from a panic hook (the panicking thread may hold any lock,
//! including one we would want) and, with care, from a signal handler. So the
//! kill path takes no lock, allocates nothing and makes only `kill(2)` calls,
//! which are async-signal-safe.
//!
//! # Never signalling a recycled pid
//!
//! A group id is the pid of the group's leader (the node process). Once the
//! leader has been reaped *and* the rest of the group is gone, the kernel may
//! hand that number to an unrelated process; `kill(-pgid)` would then hit a
//! stranger. This crate therefore removes a group from the registry *before*
//! it reaps the leader (while the leader's zombie still pins the number), and
//! [`release`] waits for any [`kill_all`] that is in flight to finish its scan.
//! With sequentially consistent atomics either the scan sees the slot empty,
//! or the releaser sees the scan in progress and waits; a scan never holds a
//! stale id past the reap.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::SeqCst};

/// How many node process groups can be alive at once in one gauntlet process.
pub const MAX_LIVE_GROUPS: usize = 4096;

/// A slot reserved by a spawn in progress (the child does not exist yet).
const RESERVED: i32 = -1;
const FREE: i32 = 0;

static SLOTS: [AtomicI32; MAX_LIVE_GROUPS] = [const { AtomicI32::new(FREE) }; MAX_LIVE_GROUPS];
/// Number of `kill_all` scans in progress.
static KILLERS: AtomicUsize = AtomicUsize::new(0);
/// Set by [`shutdown`]: no new node may be spawned.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Reserves a slot for a spawn about to happen; `None` when the table is full.
pub(crate) fn reserve() -> Option<usize> {
    SLOTS.iter().position(|slot| {
        slot.compare_exchange(FREE, RESERVED, SeqCst, SeqCst)
            .is_ok()
    })
}

/// Records the group of the child just spawned into its reserved slot.
pub(crate) fn publish(slot: usize, pgid: i32) {
    debug_assert!(pgid > 0);
    SLOTS[slot].store(pgid, SeqCst);
}

/// Frees a slot. Called before the group leader is reaped; returns only once
/// no `kill_all` scan can still be holding the slot's old value.
pub(crate) fn release(slot: usize) {
    SLOTS[slot].store(FREE, SeqCst);
    while KILLERS.load(SeqCst) != 0 {
        std::hint::spin_loop();
        std::thread::yield_now();
    }
}

/// Whether [`shutdown`] was called: a backend of another crate refuses
/// new nodes then, as this crate's spawns do.
pub fn is_shutting_down() -> bool {
    SHUTTING_DOWN.load(SeqCst)
}

/// Kills every process this gauntlet started: writes `1` to the run
/// cgroup's `cgroup.kill` (every node's cgroup and all they forked or
/// daemonised, when containment is by cgroup), and sends `SIGKILL` then
/// `SIGCONT` to every registered node process group. Returns how many groups
/// were signalled.
///
/// This is the emergency brake for a Ctrl-C handler, a panic hook or an
/// `atexit` path: it takes no lock, allocates nothing and only calls
/// `write(2)` on a descriptor opened beforehand and `kill(2)`, so it is safe
/// to call from a panic hook and async-signal-safe.
/// It does not reap: each [`NodeProcess`](crate::NodeProcess) still reaps
/// its own child in `wait`, `try_exit` or `Drop`, which is also when the group
/// leaves the registry. New spawns are still allowed afterwards; use
/// [`shutdown`] when the run is over.
pub fn kill_all() -> usize {
    KILLERS.fetch_add(1, SeqCst);
    crate::cgroup::kill_run();
    let mut signalled = 0;
    for slot in &SLOTS {
        let pgid = slot.load(SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
                // A stopped process dies from SIGKILL too; SIGCONT is belt
                // and braces so a paused group never lingers.
                libc::kill(-pgid, libc::SIGCONT);
            }
            signalled += 1;
        }
    }
    KILLERS.fetch_sub(1, SeqCst);
    signalled
}

/// Forbids new spawns for the rest of this process's life, then [`kill_all`].
///
/// Call this from a Ctrl-C handler: a supervisor that notices its node died
/// (because `kill_all` killed it) and restarts it would otherwise leak the
/// new node. A spawn racing with `shutdown` either is killed by it or fails
/// with [`NodeError::ShuttingDown`](crate::NodeError::ShuttingDown) (and its
/// child is killed and reaped); it never slips through.
pub fn shutdown() -> usize {
    SHUTTING_DOWN.store(true, SeqCst);
    kill_all()
}

/// Process group ids of the node processes currently registered (spawned and
/// not yet reaped), in no particular order.
pub fn live_groups() -> Vec<i32> {
    SLOTS
        .iter()
        .map(|slot| slot.load(SeqCst))
        .filter(|&pgid| pgid > 0)
        .collect()
}

/// Registered from the first spawn with `atexit(3)`, so that returning from
/// `main` or calling `std::process::exit` (which skips destructors) still
/// kills every node group, grandchildren included.
extern "C" fn kill_all_at_exit() {
    // A forked child of gauntlet that calls exit(3) runs atexit handlers too;
    // it must not kill its parent's nodes.
    if std::process::id() == OWNER_PID.load(SeqCst) as u32 {
        SHUTTING_DOWN.store(true, SeqCst);
        kill_all();
        // Leave no empty cgroup directory behind (bounded; the next
        // gauntlet's sweep removes what this could not).
        crate::cgroup::remove_run_at_exit();
    }
}

static OWNER_PID: AtomicI32 = AtomicI32::new(0);

/// Installs [`kill_all_at_exit`] once.
pub(crate) fn install_atexit() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        OWNER_PID.store(std::process::id() as i32, SeqCst);
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe {
            libc::atexit(kill_all_at_exit);
        }
    });
}
