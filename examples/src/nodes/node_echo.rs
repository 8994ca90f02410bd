//! Maelstrom `echo`: answers `echo` with `echo_ok` carrying the same `echo`.

use gauntlet_proto::Envelope;
use gauntlet_proto::node::{self, Node};
use serde_json::json;

pub fn main() -> std::io::Result<()> {
    node::run(|_: &Node| {
        |node: &Node, msg: Envelope| match msg.body_type() {
            Some("echo") => {
                let echo = msg.body.get("echo").cloned().unwrap_or_default();
                node.reply(&msg, json!({"type": "echo_ok", "echo": echo}));
            }
            _ => node.reply_unsupported(&msg),
        }
    })
}
