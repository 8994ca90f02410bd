//! How a node process ended.

use std::fmt;
use std::path::PathBuf;

/// How a process ended, as `wait(2)` reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Termination {
    /// It called `exit` with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled {
        /// The signal number (`libc::SIGKILL` etc.).
        signal: i32,
        /// The kernel wrote a core dump.
        core_dumped: bool,
    },
    /// Someone else in this process reaped the child (a `waitpid(-1)`
    /// elsewhere), so its status is lost.
    Unknown,
}

impl Termination {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        *self == Termination::Exited(0)
    }

    /// The exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match *self {
            Termination::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        match *self {
            Termination::Signaled { signal, .. } => Some(signal),
            _ => None,
        }
    }
}

/// `SIGKILL`, `SIGSEGV`, ..., or `SIGRTMIN+3`, or `signal 99`.
pub fn signal_name(signal: i32) -> String {
    if let Ok(known) = nix::sys::signal::Signal::try_from(signal) {
        return known.as_str().to_owned();
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&signal) {
        format!("SIGRTMIN+{}", signal - min)
    } else {
        format!("signal {signal}")
    }
}

impl fmt::Display for Termination {
    /// "exited with code 3", "killed by SIGKILL", "killed by SIGSEGV (core
    /// dumped)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Termination::Exited(code) => write!(f, "exited with code {code}"),
            Termination::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by {}", signal_name(signal))?;
                if core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
            Termination::Unknown => f.write_str("exit status unknown (reaped elsewhere)"),
        }
    }
}

/// A node process that has ended and been reaped: what a crash report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Its pid (and process group id) while it lived.
    pub pid: u32,
    /// The program that was run.
    pub program: PathBuf,
    /// How it ended.
    pub termination: Termination,
    /// The last [`NodeSpec::stderr_tail`](crate::NodeSpec::stderr_tail)
    /// lines it wrote to stderr, oldest first.
    pub stderr_tail: Vec<String>,
    /// How many bytes it wrote to stderr in all (its log may hold fewer:
    /// [`NodeSpec::stderr_log_limit`](crate::NodeSpec::stderr_log_limit)).
    pub stderr_bytes: u64,
    /// Where its stderr went, if anywhere.
    pub stderr_log: Option<PathBuf>,
    /// Whether the kernel's OOM killer ended it, when the backend knows
    /// (a container engine records it); `None` for a local process, whose
    /// caller judges from its own cgroup's OOM counter.
    pub oom_killed: Option<bool>,
}

impl Exit {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.termination.success()
    }
}

impl fmt::Display for Exit {
    /// The termination alone ("exited with code 3", "killed by SIGKILL"); the
    /// caller knows which node this was.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.termination.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_reads_like_a_report() {
        assert_eq!(Termination::Exited(3).to_string(), "exited with code 3");
        let killed = Termination::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false,
        };
        assert_eq!(killed.to_string(), "killed by SIGKILL");
        let segv = Termination::Signaled {
            signal: libc::SIGSEGV,
            core_dumped: true,
        };
        assert_eq!(segv.to_string(), "killed by SIGSEGV (core dumped)");
        assert_eq!(signal_name(libc::SIGRTMIN() + 2), "SIGRTMIN+2");
        assert!(Termination::Exited(0).success());
        assert!(!killed.success());
        assert_eq!(killed.signal(), Some(libc::SIGKILL));
    }
}
