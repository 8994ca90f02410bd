//! gauntlet-ssh (docs to come)

mod error;
mod owner;
mod quote;
mod script;

pub use error::{Attempt, SshError};
pub use owner::{Liveness, Owner, RunDir, this_boot, this_host};
pub use quote::quote;
