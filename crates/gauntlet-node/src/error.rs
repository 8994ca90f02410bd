//! Errors, worded so a user knows which program and what to do.

use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// What went wrong starting or signalling a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The OS would not start the program (not found, not executable, ...).
    #[error("cannot start node program {}: {}", program.display(), spawn_hint(program, error))]
    Spawn {
        /// The program as given.
        program: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The working directory is missing or unusable.
    #[error("cannot start node program {}: working directory {}: {error}", program.display(), cwd.display())]
    Cwd {
        /// The program as given.
        program: PathBuf,
        /// The working directory asked for.
        cwd: PathBuf,
        /// Why it cannot be used.
        error: io::Error,
    },
    /// The network namespace of a lab host cannot be opened (the lab is
    /// down, or this is not root).
    #[error("cannot enter network namespace {} for node program {}: {error}", path.display(), program.display())]
    Netns {
        /// The program as given.
        program: PathBuf,
        /// The namespace's file.
        path: PathBuf,
        /// Why it cannot be opened.
        error: io::Error,
    },
    /// The stderr log cannot be opened for appending.
    #[error("cannot open stderr log {} for node program {}: {error}", path.display(), program.display())]
    StderrLog {
        /// The program as given.
        program: PathBuf,
        /// The log file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// [`MAX_LIVE_GROUPS`](crate::MAX_LIVE_GROUPS) nodes are already alive.
    #[error("cannot start node program {}: already {} live node processes", program.display(), crate::MAX_LIVE_GROUPS)]
    TooManyNodes {
        /// The program as given.
        program: PathBuf,
    },
    /// [`shutdown`](crate::shutdown) was called; no new nodes.
    #[error("not starting node program {}: gauntlet is shutting down", program.display())]
    ShuttingDown {
        /// The program as given.
        program: PathBuf,
    },
    /// `spawn` was called outside a tokio runtime (the pipes need one).
    #[error("cannot start node program {}: NodeProcess::spawn must be called within a tokio runtime", program.display())]
    NoRuntime {
        /// The program as given.
        program: PathBuf,
    },
    /// A backend that runs nodes elsewhere (a container engine) could not
    /// do what was asked; its own words.
    #[error("{node}: {source}")]
    Backend {
        /// The node as its backend names it (a container's name).
        node: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// [`NodeControl::exec`](crate::NodeControl::exec) on a node that is a
    /// process of this machine: it has no inside of its own.
    #[error("this node is a process of this machine: there is no inside to run a program in")]
    NoInside,
    /// The node has already exited and been reaped; it cannot be paused or
    /// resumed.
    #[error("cannot send {signal} to node process {pid}: it has already exited")]
    NotRunning {
        /// Its pid.
        pid: u32,
        /// `SIGSTOP` or `SIGCONT`.
        signal: &'static str,
    },
    /// `kill(2)` failed.
    #[error("cannot send {signal} to node process group {pid}: {errno}")]
    Signal {
        /// The group id (the node's pid).
        pid: u32,
        /// The signal's name.
        signal: &'static str,
        /// Why.
        errno: Errno,
    },
}

/// Turns an exec error into advice; keeps the OS's own words in parentheses.
fn spawn_hint(program: &Path, error: &io::Error) -> String {
    let has_slash = program.as_os_str().as_encoded_bytes().contains(&b'/');
    let hint = match error.raw_os_error() {
        Some(libc::ENOENT) if !has_slash => "not found on PATH".to_owned(),
        Some(libc::ENOENT) if program.exists() => {
            "the file exists but its interpreter (#! line) or dynamic loader was not found"
                .to_owned()
        }
        Some(libc::ENOENT) => "no such file".to_owned(),
        Some(libc::EACCES) if program.is_dir() => "it is a directory".to_owned(),
        Some(libc::EACCES) => "permission denied (is it executable? try chmod +x)".to_owned(),
        Some(libc::ENOEXEC) => "not an executable format (a script needs a #! line)".to_owned(),
        Some(libc::ETXTBSY) => "the file is still open for writing".to_owned(),
        _ => return error.to_string(),
    };
    format!("{hint} ({error})")
}
