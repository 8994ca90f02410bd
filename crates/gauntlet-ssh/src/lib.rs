//! gauntlet-ssh (docs to come)

mod error;
mod host;
mod node;
mod owner;
mod quote;
mod script;
mod sweep;

pub use error::{Attempt, SshError};
pub use host::{Host, HostSpec, RemoteFile};
pub use node::{SshBackend, SshNode};
pub use owner::{Liveness, Owner, RunDir, this_boot, this_host};
pub use quote::quote;
pub use script::{MARKER_VAR, REMOTE_ROOT};
pub use sweep::{Swept, sweep, sweep_control_dirs};
