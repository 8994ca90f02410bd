//! Errors, worded so a user knows which host, what was tried and what to
//! do about it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// One try at reaching a host (its address, then its fallback address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The address tried (a name or an IP, as given).
    pub address: String,
    /// The port (`None`: ssh's own choice, from `~/.ssh/config` or 22).
    pub port: Option<u16>,
    /// What ssh said.
    pub failure: String,
    /// ssh refused the host's key: unknown, or changed.
    pub host_key: bool,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}: {}", self.address, self.failure),
            None => write!(f, "{}: {}", self.address, self.failure),
        }
    }
}

/// What went wrong reaching a host or running something on it.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// No address of the host answered with a working ssh login.
    #[error("cannot connect to host {host}: {}", attempts_text(attempts))]
    Connect {
        /// The host's name.
        host: String,
        /// Each address tried, in order, with what ssh said.
        attempts: Vec<Attempt>,
    },
    /// ssh refused the host's key (unknown, or different from the one
    /// known): host keys are always checked, so the host is not used
    /// until its key is known.
    #[error(
        "cannot connect to host {host}: its host key is unknown or has changed, and host keys are always checked ({}). {}",
        attempts_text(attempts),
        host_key_hint(attempts, known_hosts.as_ref())
    )]
    HostKey {
        /// The host's name.
        host: String,
        /// Each address tried, in order, with what ssh said.
        attempts: Vec<Attempt>,
        /// The `known_hosts` file the host's spec names, if any.
        known_hosts: Option<PathBuf>,
    },
    /// The local directory for the control socket could not be made.
    #[error("cannot create a control socket directory under /tmp for host {host}: {error}")]
    ControlDir {
        /// The host's name.
        host: String,
        /// The OS error.
        error: io::Error,
    },
    /// The local `ssh` program could not be started.
    #[error("cannot run ssh (the OpenSSH client) for host {host}: {error}")]
    Ssh {
        /// The host's name.
        host: String,
        /// The OS error.
        error: io::Error,
    },
    /// The connection to the host is gone (its master connection ended,
    /// or the network dropped it).
    #[error("the connection to host {host} is gone ({detail}); connect again")]
    Disconnected {
        /// The host's name.
        host: String,
        /// What ssh said, or what was seen.
        detail: String,
    },
    /// Something run on the host failed; `what` names it, `message` is
    /// what the host said.
    #[error("host {host}: {what}: {message}")]
    Remote {
        /// The host's name.
        host: String,
        /// What was being done ("start node n3-api", "upload to /opt/x").
        what: String,
        /// The host's own words.
        message: String,
    },
    /// The host's sshd refused one more session over this connection
    /// (its `MaxSessions`).
    #[error(
        "host {host}: {what}: its sshd refused another session over this connection \
         (sshd_config's MaxSessions, 10 by default, counts the connection's keeper and each \
         node, command, upload and read in flight): raise MaxSessions on the host, or run \
         fewer at once"
    )]
    NoSession {
        /// The host's name.
        host: String,
        /// What was being started.
        what: String,
    },
    /// Something run on the host did not end in time (it was killed).
    #[error("host {host}: {what}: no answer within {after:?}")]
    Timeout {
        /// The host's name.
        host: String,
        /// What was being done.
        what: String,
        /// The bound.
        after: Duration,
    },
    /// A value that cannot travel in a remote command (a NUL byte, an
    /// environment variable's name that is no shell identifier).
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was given.
        what: String,
        /// Why it cannot be used.
        why: String,
    },
    /// The local `ssh` of a node could not be started (no `ssh` on
    /// `PATH`, gauntlet shutting down, too many nodes).
    #[error(transparent)]
    Node(gauntlet_node::NodeError),
    /// A local file could not be read (an upload's source).
    #[error("{}: {error}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
}

impl SshError {
    /// Whether the connection is gone (as opposed to a command failing).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SshError::Disconnected { .. })
    }
}

fn attempts_text(attempts: &[Attempt]) -> String {
    let parts: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
    match parts.len() {
        0 => "no address to try".to_owned(),
        1 => parts[0].clone(),
        _ => format!("tried {}", parts.join("; then ")),
    }
}

fn host_key_hint(attempts: &[Attempt], known_hosts: Option<&PathBuf>) -> String {
    let file = known_hosts.map_or_else(
        || "~/.ssh/known_hosts".to_owned(),
        |p| p.display().to_string(),
    );
    let scans: Vec<String> = attempts
        .iter()
        .filter(|a| a.host_key)
        .map(|a| match a.port {
            Some(port) => format!("ssh-keyscan -p {port} {} >> {file}", a.address),
            None => format!("ssh-keyscan {} >> {file}", a.address),
        })
        .collect();
    let setting = if known_hosts.is_some() {
        " (the file the host's known_hosts setting names)"
    } else {
        " (or to the file a known_hosts setting of the host names)"
    };
    format!(
        "To accept the key, first check its fingerprint with the host's administrator \
         (ssh-keygen -lf on the host's key), then add it to {file}{setting}: {}",
        scans.join(", or ")
    )
}
