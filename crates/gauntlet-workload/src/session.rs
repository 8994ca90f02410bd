//! Clients that keep state between operations and make several RPCs in
//! one: Maelstrom's kafka client remembers its offsets per key, and its
//! `poll` is a `poll` RPC followed by a `commit_offsets`.
//!
//! A [`Session`] is a sans-IO state machine: the worker asks it for the
//! first [`Step`] of an operation, sends the body a [`Step::Call`] names to
//! its node, and feeds the reply (or `None` after a timeout) back until a
//! [`Step::Done`]. A worker whose operation ended indefinitely (`info`)
//! becomes a new Jepsen process and starts a new session: a crashed client
//! forgets what it knew, as Jepsen replaces it.

use serde_json::Value;

use crate::{Outcome, Request};

/// What the client does next within one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this body (without `msg_id`; the client numbers it) to the
    /// client's node, then come back with the reply.
    Call(Value),
    /// The operation ended: record this completion.
    Done(Outcome),
    /// Nothing to do: the operation is not performed and not recorded
    /// (a final poll of a client that has already read everything).
    Skip,
}

/// One client's state across its operations; see the module docs.
pub trait Session: Send {
    /// The first step of `req`. Called before the invoke is recorded, so a
    /// [`Step::Skip`] leaves no trace in the history.
    fn start(&mut self, req: &Request) -> Step;

    /// The step after the reply to the last [`Step::Call`] (`None`: no
    /// reply came in time).
    fn reply(&mut self, req: &Request, reply: Option<&Value>) -> Step;
}
