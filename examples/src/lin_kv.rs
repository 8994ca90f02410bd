//! Maelstrom's `lin-kv` workload served by proxying every request to the
//! `lin-kv` service, with the service's errors passed through unchanged
//! (20 for a missing key, 22 for a `cas` whose `from` does not match; a
//! timeout becomes error 0, which is indefinite).
//!
//! With `cache` set it becomes the deliberately broken variant: it remembers
//! the last value it wrote (or `cas`ed) to each key and answers reads of those
//! keys from that memory without asking the service, so it misses other
//! nodes' writes and is not linearizable.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gauntlet_proto::node::{self, Kv, Node};
use gauntlet_proto::{Envelope, ErrorCode};
use serde_json::{Value, json};

/// Runs the proxy on stdin/stdout.
pub fn run(cache: bool) -> io::Result<()> {
    node::run(|node: &Node| {
        let mut kv = Kv::new(node, "lin-kv");
        kv.timeout = Duration::from_secs(2);
        let proxy = Arc::new(Proxy {
            kv,
            cache: cache.then(Mutex::default),
        });
        move |node: &Node, msg: Envelope| {
            let proxy = Arc::clone(&proxy);
            match msg.body_type() {
                Some("read" | "write" | "cas") => node.spawn(move |node| proxy.serve(&node, msg)),
                _ => node.reply_unsupported(&msg),
            }
        }
    })
}

struct Proxy {
    kv: Kv,
    /// The broken variant's memory of its own writes, keyed by the key's JSON.
    cache: Option<Mutex<HashMap<String, Value>>>,
}

impl Proxy {
    fn serve(&self, node: &Node, msg: Envelope) {
        let body = &msg.body;
        let (Some(kind), Some(key)) = (msg.body_type(), body.get("key")) else {
            node.reply_error(&msg, ErrorCode::MALFORMED_REQUEST, "request without a key");
            return;
        };
        let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
        let reply = match kind {
            "read" => match self.cached(key) {
                Some(value) => Ok(json!({"type": "read_ok", "value": value})),
                None => self
                    .kv
                    .read(key.clone())
                    .map(|value| json!({"type": "read_ok", "value": value})),
            },
            "write" => self.kv.write(key.clone(), field("value")).map(|()| {
                self.remember(key, field("value"));
                json!({"type": "write_ok"})
            }),
            _ => self
                .kv
                .cas(key.clone(), field("from"), field("to"), false)
                .map(|()| {
                    self.remember(key, field("to"));
                    json!({"type": "cas_ok"})
                }),
        };
        match reply {
            Ok(body) => node.reply(&msg, body),
            Err(e) => node.reply(&msg, e.to_reply(&msg)),
        }
    }

    fn cached(&self, key: &Value) -> Option<Value> {
        let cache = self.cache.as_ref()?;
        let cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(&key.to_string()).cloned()
    }

    fn remember(&self, key: &Value, value: Value) {
        if let Some(cache) = &self.cache {
            let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.insert(key.to_string(), value);
        }
    }
}
