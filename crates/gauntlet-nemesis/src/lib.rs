//! The nemesis: which fault to inject next, on whom, and when — drawn from a
//! seed and free of IO. The runtime carries out each [`Action`] (signals a
//! process, swaps the router's grudge) and records it on the timeline.

mod actions;
mod fault;
mod partition;
mod replay;
mod schedule;
mod together;

pub use actions::{NemesisActions, NemesisOps};
pub use fault::{
    Fault, FaultError, FaultExecutor, FaultFuture, FaultId, FaultLog, LoggedFault, Processes,
    Signals, VerbFuture, executor_for,
};
pub use partition::{PartitionShape, partition};
pub use replay::{RecordedOp, Replay, ReplayError};
pub use schedule::{Action, FaultKind, Nemesis, Schedule, parse_faults};
pub use together::Together;
