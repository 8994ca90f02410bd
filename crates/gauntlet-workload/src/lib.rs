//! Maelstrom's workloads, free of IO: what clients ask, and how a node's
//! reply becomes a history completion.
//!
//! The runtime asks a [`Workload`] for the next [`Request`], sends its body to
//! a node, and hands the reply (or a timeout) back to [`Workload::complete`],
//! which validates it against the RPC's closed schema and says whether the
//! operation happened (`ok`), did not (`fail`) or may have (`info`).
//! Workloads whose clients keep state between operations (kafka) hand each
//! client a [`Session`] instead.

mod kafka;
mod keys;
mod locks;
mod registers;
mod rpc;
mod session;
mod txn;
mod workloads;

pub use locks::Locks;
pub use registers::Registers;
pub use rpc::{Outcome, ReplySchema};
pub use session::{Session, Step};
pub use workloads::{WORKLOAD_NAMES, workload};

use rand::Rng;
use serde_json::Value;

/// One client operation to perform.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The history's `f`.
    pub f: &'static str,
    /// The history's invoke value.
    pub value: Value,
    /// The independent key, for workloads checked per key.
    pub key: Option<Value>,
    /// The RPC body, without `msg_id` (the client assigns it).
    pub body: Value,
    /// Part of the final phase (after faults heal).
    pub is_final: bool,
}

/// A Maelstrom workload.
pub trait Workload: Send {
    fn name(&self) -> &'static str;

    /// A request every node gets once after `init`, with the reply type it
    /// must answer with: broadcast's `topology`, given the topology's map.
    fn setup(&self, _topology: &Value) -> Option<(Value, &'static str)> {
        None
    }

    /// The next main-phase operation.
    fn next(&mut self, rng: &mut dyn Rng) -> Request;

    /// Operations each worker performs once in the final phase, after faults
    /// heal and the system had time to recover. Empty when the workload has
    /// no final phase.
    fn final_requests(&self) -> Vec<Request> {
        Vec::new()
    }

    /// The completion of `req`, given the node's reply body.
    fn complete(&self, req: &Request, reply: &Value) -> Outcome;

    /// The completion of `req` when no reply came in time.
    fn timeout(&self, req: &Request) -> Outcome;

    /// A fresh client for a new Jepsen process, for workloads whose
    /// clients keep state or make several RPCs per operation (kafka).
    /// `None`, the default: each operation is one RPC, judged by
    /// [`complete`](Self::complete) and [`timeout`](Self::timeout).
    fn session(&self) -> Option<Box<dyn Session>> {
        None
    }
}

/// The generator's knobs (Maelstrom's `--key-count`, `--max-txn-length`,
/// `--max-writes-per-key`). Only the transactional workloads read them
/// today; the others ignore them. `Default` is Maelstrom's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadOptions {
    /// Keys active at once (Elle's default for its exponential key
    /// distribution, which Maelstrom keeps: 10).
    pub key_count: usize,
    /// The most micro-ops in one transaction (at least 1): 4.
    pub max_txn_length: usize,
    /// Writes a key gets before it retires and a fresh key replaces it: 16.
    pub max_writes_per_key: u64,
}

impl Default for WorkloadOptions {
    fn default() -> WorkloadOptions {
        WorkloadOptions {
            key_count: 10,
            max_txn_length: 4,
            max_writes_per_key: 16,
        }
    }
}

impl WorkloadOptions {
    /// The most active keys. Past this the key distribution puts
    /// vanishingly little weight on the first slots anyway.
    pub const MAX_KEY_COUNT: usize = 100_000;
    /// The most micro-ops per transaction: a read of a list-append key
    /// returns its whole list, and a reply must fit the network's 1 MiB
    /// message limit.
    pub const MAX_TXN_LENGTH: usize = 1_000;
    /// The most writes per key (a list-append read returns all of them).
    pub const MAX_WRITES_PER_KEY: u64 = 1_000_000;

    /// Checks every option against its range, naming the option as the
    /// command line spells it.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let check = |option: &'static str, value: u64, max: u64| {
            if (1..=max).contains(&value) {
                Ok(())
            } else {
                Err(WorkloadError::OutOfRange { option, value, max })
            }
        };
        check(
            "--key-count",
            self.key_count as u64,
            Self::MAX_KEY_COUNT as u64,
        )?;
        check(
            "--max-txn-length",
            self.max_txn_length as u64,
            Self::MAX_TXN_LENGTH as u64,
        )?;
        check(
            "--max-writes-per-key",
            self.max_writes_per_key,
            Self::MAX_WRITES_PER_KEY,
        )
    }
}

/// Why [`workload`] could not build a workload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    #[error("unknown workload {name:?}; expected one of: {}", WORKLOAD_NAMES.join(", "))]
    Unknown { name: String },
    #[error("{option} must be from 1 to {max}, not {value}")]
    OutOfRange {
        option: &'static str,
        value: u64,
        max: u64,
    },
}
