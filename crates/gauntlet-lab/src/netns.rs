//! Entering a network namespace from a thread.
//!
//! The network namespace is a per-thread attribute: `setns(fd, CLONE_NEWNET)`
//! moves only the calling thread, which stays there until it ends. Sockets
//! belong to the namespace they were created in, whatever thread uses them
//! later, so a short-lived thread can enter a namespace, create a socket and
//! hand it back to a thread in the root namespace.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where `ip netns add <name>` keeps the namespace's handle.
pub fn named(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// Why the thread could not enter a namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("opening network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("entering network namespace {path} (setns): {source}")]
    Setns {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Moves the calling thread into the network namespace at `path` (a file
/// such as `/run/netns/<name>` or `/proc/<pid>/ns/net`). Other threads of the
/// process stay where they are. Needs `CAP_SYS_ADMIN`.
pub fn enter(path: &Path) -> Result<(), NetnsError> {
    let file = File::open(path).map_err(|source| NetnsError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: setns only reads its two integer arguments; the fd is open and
    // owned by `file`, which outlives the call. CLONE_NEWNET changes the
    // calling thread's network namespace and nothing of Rust's memory.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(NetnsError::Setns {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Runs `f` on a new thread inside the network namespace at `path` and
/// returns its result: a way to create sockets there (they stay in that
/// namespace) without moving the calling thread. A panic in `f` is passed on.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            enter(path)?;
            Ok(f())
        });
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
