//! Deliberately broken `echo`: answers with the wrong `echo` value (a string
//! comes back reversed, anything else as "not-right"), so the echo checker
//! reports every op as an error.

use gauntlet_proto::Envelope;
use gauntlet_proto::node::{self, Node};
use serde_json::{Value, json};

pub fn main() -> std::io::Result<()> {
    node::run(|_: &Node| {
        |node: &Node, msg: Envelope| match msg.body_type() {
            Some("echo") => {
                let wrong = match msg.body.get("echo") {
                    Some(Value::String(s)) if s.chars().rev().ne(s.chars()) => {
                        Value::String(s.chars().rev().collect())
                    }
                    _ => Value::from("not-right"),
                };
                node.reply(&msg, json!({"type": "echo_ok", "echo": wrong}));
            }
            _ => node.reply_unsupported(&msg),
        }
    })
}
