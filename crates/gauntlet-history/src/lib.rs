//! The history model shared by every part of Gauntlet.
//!
//! A history is what clients did, in real-time order: each client operation is
//! an `invoke` followed by exactly one completion (`ok`, `fail` or `info`), and
//! faults injected by the nemesis are `info` ops of the `nemesis` process. This
//! is Jepsen's model; on disk it is one JSON object per line (see DESIGN.md).
//!
//! [`read_history`] reads that JSONL or a Jepsen EDN history, keeping the line
//! each op came from; [`calls::pair_calls`] checks that invokes and
//! completions pair up.

pub mod calls;
mod edn;
mod history;
mod io;
mod op;
mod recorder;
mod scan;
mod stream;

pub use calls::{Call, PairError, PairErrorKind, pair_calls};
pub use history::{
    Format, History, Visited, for_each_op, for_each_op_from, parse_history, read_history,
    read_history_from, read_history_str, split_independent_tuples,
};
pub use io::{HistoryError, HistoryWriter, read_jsonl, read_jsonl_str};
pub use op::{Op, OpType, Process};
pub use recorder::{Observer, Recorder};
pub use stream::MAX_LINE_BYTES;
