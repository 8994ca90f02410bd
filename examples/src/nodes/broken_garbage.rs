//! Deliberately broken: a correct `echo` node that also pollutes stdout. On
//! the 1st, 4th, 7th … echo it prints a line that is not JSON; on the 2nd,
//! 5th, 8th … it sends a message to `n999`, a node that does not exist. The
//! harness must report both, naming this node, and keep running.

use gauntlet_proto::Envelope;
use gauntlet_proto::node::{self, Node};
use serde_json::json;

pub fn main() -> std::io::Result<()> {
    node::run(|_: &Node| {
        let mut echoes = 0u64;
        move |node: &Node, msg: Envelope| match msg.body_type() {
            Some("echo") => {
                echoes += 1;
                match echoes % 3 {
                    1 => node.send_raw_line(&format!("garbage #{echoes}: this line is not JSON")),
                    2 => {
                        node.send("n999", json!({"type": "echo", "echo": "anyone there?"}));
                    }
                    _ => {}
                }
                let echo = msg.body.get("echo").cloned().unwrap_or_default();
                node.reply(&msg, json!({"type": "echo_ok", "echo": echo}));
            }
            _ => node.reply_unsupported(&msg),
        }
    })
}
