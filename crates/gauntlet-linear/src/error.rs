//! Why a history could not be checked at all.

use gauntlet_history::OpType;
use serde_json::Value;

/// A history that breaks the invoke/complete model, or an op a model cannot
/// read. Every variant names the offending op by its `index` field (the CLI
/// maps it to a line of the history file). These are errors, not verdicts:
/// a malformed history proves nothing either way.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinearError {
    /// An `ok`, `fail` or `info` whose process has no open invoke.
    #[error("op {index}: {kind} of {f:?} by process {process} has no open invoke to complete")]
    CompletionWithoutInvoke {
        index: u64,
        process: u64,
        kind: &'static str,
        f: String,
    },
    /// A second invoke while the same process still has one open.
    #[error("op {index}: process {process} invokes {f:?} while its op {open_index} is still open")]
    InvokeWhileOpen {
        index: u64,
        process: u64,
        f: String,
        open_index: u64,
    },
    /// The completion's `f` is not its invoke's.
    #[error(
        "op {index}: completion has f {found:?} but its invoke (op {invoke_index}) has f {expected:?}"
    )]
    FMismatch {
        index: u64,
        invoke_index: u64,
        expected: String,
        found: String,
    },
    /// The completion names another `key` than its invoke.
    #[error(
        "op {index}: completion has key {found} but its invoke (op {invoke_index}) has key {expected}"
    )]
    KeyMismatch {
        index: u64,
        invoke_index: u64,
        expected: Value,
        found: Value,
    },
    /// The model cannot read the op: an unknown `f` or a value of the wrong
    /// shape.
    #[error("op {index}: model {model}: {message}")]
    BadOp {
        index: u64,
        model: String,
        message: String,
    },
    /// More entries than the checker indexes (2^32 - 2).
    #[error("history has {len} entries; the checker handles at most {max}")]
    TooLong { len: usize, max: usize },
}

impl LinearError {
    /// The `index` of the op the error is about, if it is about one op.
    pub fn index(&self) -> Option<u64> {
        match self {
            LinearError::CompletionWithoutInvoke { index, .. }
            | LinearError::InvokeWhileOpen { index, .. }
            | LinearError::FMismatch { index, .. }
            | LinearError::KeyMismatch { index, .. }
            | LinearError::BadOp { index, .. } => Some(*index),
            LinearError::TooLong { .. } => None,
        }
    }
}

pub(crate) fn kind_name(kind: OpType) -> &'static str {
    match kind {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        OpType::Info => "info",
    }
}
