//! The Maelstrom wire protocol, shared by Gauntlet's router and by node programs.
//!
//! Every message is one JSON object on one line:
//! `{"src": "n1", "dest": "c3", "body": {"type": "echo_ok", "in_reply_to": 1, ...}}`,
//! optionally with a numeric `id` that the network assigns. Bodies carry a
//! `type`, an optional `msg_id` and, in replies, `in_reply_to`.

mod envelope;
mod error;
pub mod node;

pub use envelope::{Envelope, EnvelopeError, RawEnvelope, body_msg_id, body_type};
pub use error::ErrorCode;

/// Node ids that start with `c` are clients (Maelstrom's rule).
pub fn is_client_id(id: &str) -> bool {
    id.starts_with('c')
}
