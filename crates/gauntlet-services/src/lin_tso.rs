//! `lin-tso`: a linearizable timestamp oracle.

use serde_json::Value;

use crate::Service;
use crate::wire::{Request, ok};

/// Maelstrom's `lin-tso`: `{"type":"ts"}` gets `{"type":"ts_ok","ts":N}`,
/// where N counts requests from 0, so timestamps are unique and increase in
/// the order requests arrive.
#[derive(Debug, Default)]
pub struct LinTso {
    next: u64,
}

impl LinTso {
    /// A counter at 0. It draws no randomness, so it needs no seed.
    pub fn new() -> LinTso {
        LinTso::default()
    }
}

impl Service for LinTso {
    fn handle(&mut self, _src: &str, body: &Value) -> Option<Value> {
        let req = match Request::parse(body) {
            Ok(req) => req,
            Err(reply) => return reply,
        };
        let reply = if req.kind == "ts" {
            let mut reply = ok("ts_ok");
            reply["ts"] = Value::from(self.next);
            self.next += 1;
            reply
        } else {
            req.not_supported("lin-tso", "only ts")
        };
        Some(req.finish(reply))
    }
}
