//! Deliberately broken `echo`: answers correctly, then exits with code 3 on
//! its fifth echo, after saying why on stderr. The workbench must report the
//! crash (node, exit status, last stderr lines) and keep the run going.

use std::sync::atomic::{AtomicU32, Ordering};

use gauntlet_proto::Envelope;
use gauntlet_proto::node::{self, Node};
use serde_json::json;

pub fn main() -> std::io::Result<()> {
    static ECHOES: AtomicU32 = AtomicU32::new(0);
    node::run(|_: &Node| {
        |node: &Node, msg: Envelope| match msg.body_type() {
            Some("echo") => {
                if ECHOES.fetch_add(1, Ordering::SeqCst) + 1 == 5 {
                    eprintln!("{}: fifth echo, crashing on purpose", node.id());
                    std::process::exit(3);
                }
                let echo = msg.body.get("echo").cloned().unwrap_or_default();
                node.reply(&msg, json!({"type": "echo_ok", "echo": echo}));
            }
            _ => node.reply_unsupported(&msg),
        }
    })
}
