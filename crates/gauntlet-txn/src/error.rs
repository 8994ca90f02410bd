//! Why a history could not be checked at all.

/// A history that breaks the invoke/complete model, or a transaction the
/// checker cannot read. Every variant about one op names it by its `index`
/// field (the CLI maps it to a line of the history file). These are errors,
/// not verdicts: a malformed history proves nothing either way.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TxnError {
    /// An `ok`, `fail` or `info` whose process has no open invoke.
    #[error("op {index}: completion by process {process} has no open invoke to complete")]
    CompletionWithoutInvoke { index: u64, process: u64 },
    /// A second invoke while the same process still has one open.
    #[error("op {index}: process {process} invokes while its op {open_index} is still open")]
    InvokeWhileOpen {
        index: u64,
        process: u64,
        open_index: u64,
    },
    /// The value is not a list of `[f, key, value]` micro-ops this workload
    /// knows, or a key or value is not an integer.
    #[error("op {index}: {message}")]
    BadTxn { index: u64, message: String },
    /// Two transactions wrote (or appended) the same value to the same key;
    /// the checker relies on written values being unique per key.
    #[error("op {index}: value {value} is written to key {key} again (first by op {first})")]
    DuplicateWrite {
        index: u64,
        key: i64,
        value: i64,
        first: u64,
    },
    /// More transactions than the checker indexes.
    #[error("history has {len} entries; the checker handles at most {max}")]
    TooLong { len: usize, max: usize },
    /// A consistency model name the checker does not know.
    #[error("unknown consistency model {name:?}; known models are: {}", known.join(", "))]
    UnknownModel { name: String, known: Vec<String> },
}

impl TxnError {
    /// The `index` of the op the error is about, if it is about one op.
    pub fn index(&self) -> Option<u64> {
        match self {
            TxnError::CompletionWithoutInvoke { index, .. }
            | TxnError::InvokeWhileOpen { index, .. }
            | TxnError::BadTxn { index, .. }
            | TxnError::DuplicateWrite { index, .. } => Some(*index),
            TxnError::TooLong { .. } | TxnError::UnknownModel { .. } => None,
        }
    }
}
