//! What can go wrong building, using or sweeping a lab.

use std::io;
use std::path::PathBuf;

/// A lab that could not be built, entered or removed. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Namespaces, veths and nftables need root.
    #[error(
        "the network lab needs root: it makes network namespaces, veth pairs, bridges and nftables rules (run it as root, e.g. with sudo)"
    )]
    NotRoot,
    /// A program the lab runs is not installed.
    #[error("the network lab needs `{program}`, which is not installed (Debian package {package})")]
    MissingTool {
        program: &'static str,
        package: &'static str,
    },
    /// A command the lab ran failed.
    #[error("`{command}` in {place} failed ({status}): {stderr}")]
    Command {
        command: String,
        /// The namespace it ran in.
        place: String,
        status: String,
        stderr: String,
    },
    /// A namespace could not be entered (gone, or not root).
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// The link shaper failed.
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    /// A file or namespace operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// No lab of that id, or none at all.
    #[error("{0}")]
    NotFound(String),
    /// A host name the lab does not have.
    #[error("the lab has no host called {name:?} (it has: {known})")]
    UnknownHost { name: String, known: String },
    /// The lab cannot serve its run as it stands on this machine (a
    /// subnet another lab already routes).
    #[error("{0}")]
    Conflict(String),
    /// The lab's state file is unreadable (written by another version?).
    #[error("{}: {message}", path.display())]
    State { path: PathBuf, message: String },
}

impl LabError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        LabError::Io {
            what: what.into(),
            source,
        }
    }
}
