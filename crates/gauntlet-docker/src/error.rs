//! Errors, worded so a user knows which engine, which object and what the
//! engine itself said.

use std::io;
use std::path::PathBuf;

/// What went wrong talking to a Docker Engine or preparing what it needs.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// `DOCKER_HOST` (or the host given) names no transport this crate
    /// speaks (`unix://`, `tcp://`, `http://`, `ssh://`).
    #[error("cannot use Docker host {host}: {}", describe(error))]
    BadHost {
        /// The host as given.
        host: String,
        /// bollard's reason.
        error: bollard::errors::Error,
    },
    /// Nothing answered at the engine's address, or what answered is no
    /// Docker Engine.
    #[error("no Docker Engine at {host}: {}", describe(error))]
    Unreachable {
        /// Where this crate tried (`unix:///var/run/docker.sock`, ...).
        host: String,
        /// Why the request failed.
        error: bollard::errors::Error,
    },
    /// The engine refused or failed a request; `what` names the request and
    /// its object ("create container api-1"), the rest is the engine's own
    /// message.
    #[error("{what}: {}", describe(error))]
    Engine {
        /// The request and its object.
        what: String,
        /// The engine's answer.
        error: bollard::errors::Error,
    },
    /// `ldd` could not list an executable's shared libraries.
    #[error("cannot list the shared libraries of {}: {why}", executable.display())]
    Ldd {
        /// The executable.
        executable: PathBuf,
        /// ldd's complaint, or why it could not run.
        why: String,
    },
    /// `ldd` found no file for a library the executable needs: the image
    /// would not start.
    #[error("{} needs {library}, which is not installed here (ldd: not found)", executable.display())]
    MissingLibrary {
        /// The executable.
        executable: PathBuf,
        /// The library's soname.
        library: String,
    },
    /// A local file could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The engine's builder reported an error; `log` holds the last lines
    /// of its output.
    #[error("building image {tag} failed: {message}{}", log_suffix(log))]
    Build {
        /// The image's tag.
        tag: String,
        /// The builder's error message.
        message: String,
        /// The builder's last output lines.
        log: Vec<String>,
    },
    /// An argument this crate checks before asking the engine.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was given (a run id, a tag, ...).
        what: String,
        /// Why it cannot be used.
        why: String,
    },
}

impl DockerError {
    /// The engine's HTTP status, when the engine answered with an error
    /// (404 no such object, 409 conflict, 500 the daemon failed).
    pub fn status(&self) -> Option<u16> {
        match self {
            DockerError::Engine {
                error: bollard::errors::Error::DockerResponseServerError { status_code, .. },
                ..
            } => Some(*status_code),
            _ => None,
        }
    }

    /// Whether the engine said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub(crate) fn engine(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let what = what.into();
        move |error| DockerError::Engine { what, error }
    }
}

/// bollard's errors, with the engine's message first: "Docker responded
/// with status code 409: ..." says less than the message itself.
fn describe(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("{} (HTTP {status_code})", message.trim()),
        other => {
            // Hyper's connection errors hide the OS error in their chain.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(inner) = source {
                let inner_text = inner.to_string();
                if !text.contains(&inner_text) {
                    text.push_str(": ");
                    text.push_str(&inner_text);
                }
                source = inner.source();
            }
            text
        }
    }
}

fn log_suffix(log: &[String]) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("\nlast builder output:\n  {}", log.join("\n  "))
    }
}
