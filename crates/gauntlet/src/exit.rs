//! Exit codes, as Jepsen's (DESIGN.md).

use gauntlet_check::Validity;

pub const VALID: u8 = 0;
pub const INVALID: u8 = 1;
pub const UNKNOWN: u8 = 2;
/// A fleet command: some node could not be reached.
pub const UNREACHABLE: u8 = 1;
/// Bad arguments or a bad plan.
pub const BAD_ARGS: u8 = 254;
/// The run could not be carried out.
pub const CRASHED: u8 = 255;

pub fn for_validity(v: Validity) -> u8 {
    match v {
        Validity::Valid => VALID,
        Validity::Invalid => INVALID,
        Validity::Unknown => UNKNOWN,
    }
}

/// An error whose exit code is known; anything else is a crash (255).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn bad_args(message: impl Into<String>) -> anyhow::Error {
        Failure {
            code: BAD_ARGS,
            message: message.into(),
        }
        .into()
    }
}

pub fn code_for(e: &anyhow::Error) -> u8 {
    if let Some(f) = e.downcast_ref::<Failure>() {
        return f.code;
    }
    match e.downcast_ref::<gauntlet_workbench::RunError>() {
        Some(gauntlet_workbench::RunError::Config(_)) => BAD_ARGS,
        _ => CRASHED,
    }
}
