//! Deliberately broken `broadcast`: each message new to this node is sent
//! once to each neighbour and never again. No acknowledgements, no retries,
//! no catch-up after a restart, so a partition (or a kill) loses messages
//! for good and the checker reports them as lost.

use std::collections::HashSet;

use gauntlet_proto::Envelope;
use gauntlet_proto::node::{self, Node};
use serde_json::{Value, json};

pub fn main() -> std::io::Result<()> {
    node::run(|node: &Node| {
        let mut neighbours: Vec<String> = node.peers().map(str::to_owned).collect();
        let mut seen = HashSet::new();
        let mut values: Vec<Value> = Vec::new();
        move |node: &Node, msg: Envelope| {
            let body = &msg.body;
            match msg.body_type() {
                Some("topology") => {
                    if let Some(list) = body["topology"].get(node.id()).and_then(Value::as_array) {
                        neighbours = list
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect();
                    }
                    node.reply(&msg, json!({"type": "topology_ok"}));
                }
                Some("broadcast" | "gossip") => {
                    let value = body.get("message").cloned().unwrap_or_default();
                    if seen.insert(value.to_string()) {
                        values.push(value.clone());
                        for to in neighbours.iter().filter(|to| **to != msg.src) {
                            node.send(to, json!({"type": "gossip", "message": value}));
                        }
                    }
                    if msg.body_type() == Some("broadcast") {
                        node.reply(&msg, json!({"type": "broadcast_ok"}));
                    }
                }
                Some("read") => node.reply(&msg, json!({"type": "read_ok", "messages": values})),
                _ => node.reply_unsupported(&msg),
            }
        }
    })
}
