//! Thin wrappers over `waitid(2)` and `waitpid(2)` for one specific child.
//!
//! Only ever by pid: waiting for "any child" would steal the children of
//! tokio and of other crates in the same process.

use nix::errno::Errno;

use crate::Termination;

/// Whether the child `pid` has exited, *without reaping it* (`WNOWAIT`): its
/// zombie keeps the pid (and so the process group id) from being recycled
/// while we finish up. With `block`, waits until it has exited. Stops and
/// continues are not exits. `Err(ECHILD)` means it is not our child (any
/// more).
pub(crate) fn exited(pid: i32, block: bool) -> Result<bool, Errno> {
    let mut options = libc::WEXITED | libc::WNOWAIT;
    if !block {
        options |= libc::WNOHANG;
    }
    loop {
        // SAFETY: an all-zero siginfo_t is valid; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t.
        let rc = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, options) };
        if rc == 0 {
            // With WNOHANG and no state change, si_pid stays 0.
            // SAFETY: waitid filled in a SIGCHLD siginfo (or left it zeroed).
            return Ok(unsafe { info.si_pid() } != 0);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            err => return Err(err),
        }
    }
}

/// Reaps the child `pid`, blocking until it has exited (call it once
/// [`exited`] said so, and it returns at once).
pub(crate) fn reap(pid: i32) -> Termination {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid, writable int.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return if libc::WIFEXITED(status) {
                Termination::Exited(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                Termination::Signaled {
                    signal: libc::WTERMSIG(status),
                    core_dumped: libc::WCOREDUMP(status),
                }
            } else {
                Termination::Unknown
            };
        }
        match Errno::last() {
            Errno::EINTR => continue,
            _ => return Termination::Unknown,
        }
    }
}

/// `pidfd_open(2)`: a file descriptor that becomes readable when `pid` exits.
/// `None` on kernels older than 5.3 (or where a sandbox forbids it).
pub(crate) fn pidfd_open(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain syscall; on success the fd is new and ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        None
    } else {
        // SAFETY: `fd` is a freshly opened descriptor nobody else owns.
        Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
    }
}
