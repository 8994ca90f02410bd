//! Maelstrom `unique-ids`: `generate` → `generate_ok` with an id that is
//! unique across nodes and across restarts of a node, without coordination:
//! `<node id>-<random 64-bit nonce chosen at start, hex>-<counter>`. Node ids
//! separate nodes, the nonce separates lives of one node (a restarted node
//! has lost its counter), the counter separates ids within one life.

use gauntlet_proto::Envelope;
use gauntlet_proto::node::{self, Node};
use serde_json::json;

pub fn main() -> std::io::Result<()> {
    node::run(|node: &Node| {
        let prefix = format!("{}-{:016x}", node.id(), crate::random_u64());
        let mut next = 0u64;
        move |node: &Node, msg: Envelope| match msg.body_type() {
            Some("generate") => {
                next += 1;
                node.reply(
                    &msg,
                    json!({"type": "generate_ok", "id": format!("{prefix}-{next}")}),
                );
            }
            _ => node.reply_unsupported(&msg),
        }
    })
}
