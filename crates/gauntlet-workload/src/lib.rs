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
mod rpc;
mod session;
mod workloads;

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
