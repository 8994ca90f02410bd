//! A g-counter / pn-counter on top of the `seq-kv` service (Maelstrom
//! workloads `g-counter` and `pn-counter`).
//!
//! * Each node keeps its own running total under its own key (its node id).
//!   `add{delta}` reads that key, then `cas`es it from the value read to
//!   value + delta with `create_if_not_exists`, retrying on a precondition
//!   failure (error 22). `add_ok` is sent only once a `cas` succeeded. A
//!   `cas` that timed out may have been applied, so it is never retried: the
//!   add answers with an indefinite error instead.
//! * `read` sums every node's key. seq-kv may serve a stale state, so the read
//!   first writes a value never written before to a scratch key of its own:
//!   a write that changes the store is applied to the newest state and moves
//!   this client's view there, so the reads that follow see every add
//!   acknowledged before the read began.
//! * Adds on one node are serialised by a lock, and the node remembers the
//!   value its last `cas` wrote, so a typical add costs one `cas` and no read.
//!   A restarted node has forgotten it and reads its key again.
//!
//! Requests are served on their own threads, so a slow add does not hold up
//! reads. `double` makes the deliberately broken variant that adds each
//! delta twice.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gauntlet_proto::node::{self, Kv, Node, RpcError};
use gauntlet_proto::{Envelope, ErrorCode};
use serde_json::{Value, json};

/// How many times an add retries a `cas` that lost to a stale read.
const CAS_ATTEMPTS: usize = 50;
/// How many times a read starts over after a service error.
const READ_ATTEMPTS: usize = 3;

/// Runs the counter node on stdin/stdout.
pub fn run(double: bool) -> io::Result<()> {
    node::run(|node: &Node| {
        let counter = Arc::new(Counter {
            kv: Kv::new(node, "seq-kv"),
            own: Mutex::new(None),
            nonce: crate::random_u64(),
            stamps: AtomicU64::new(0),
            double,
        });
        move |node: &Node, msg: Envelope| handle(&counter, node, msg)
    })
}

struct Counter {
    kv: Kv,
    /// The value this node's key had after our last successful `cas`; `None`
    /// when unknown (at start, or after a failure). The lock also serialises
    /// adds on this node.
    own: Mutex<Option<i64>>,
    /// Makes scratch writes unique across restarts.
    nonce: u64,
    stamps: AtomicU64,
    double: bool,
}

fn handle(counter: &Arc<Counter>, node: &Node, msg: Envelope) {
    match msg.body_type() {
        Some("add") => {
            let Some(delta) = msg.body.get("delta").and_then(Value::as_i64) else {
                node.reply_error(
                    &msg,
                    ErrorCode::MALFORMED_REQUEST,
                    "add needs an integer delta",
                );
                return;
            };
            let counter = Arc::clone(counter);
            node.spawn(move |node| match counter.add(&node, delta) {
                Ok(()) => node.reply(&msg, json!({"type": "add_ok"})),
                Err(e) => {
                    eprintln!("add {delta} failed: {e}");
                    node.reply(&msg, e.to_reply(&msg));
                }
            });
        }
        Some("read") => {
            let counter = Arc::clone(counter);
            node.spawn(move |node| match counter.read(&node) {
                Ok(total) => node.reply(&msg, json!({"type": "read_ok", "value": total})),
                Err(e) => {
                    eprintln!("read failed: {e}");
                    node.reply(&msg, e.to_reply(&msg));
                }
            });
        }
        _ => node.reply_unsupported(&msg),
    }
}

/// A key's value as a counter total: missing (error 20) counts as 0.
fn total(read: Result<Value, RpcError>) -> Result<i64, RpcError> {
    match read {
        Ok(v) => v.as_i64().ok_or_else(|| RpcError::Remote {
            code: ErrorCode::CRASH,
            text: format!("seq-kv holds a non-integer total {v}"),
        }),
        Err(e) if e.code() == ErrorCode::KEY_DOES_NOT_EXIST => Ok(0),
        Err(e) => Err(e),
    }
}

impl Counter {
    fn add(&self, node: &Node, delta: i64) -> Result<(), RpcError> {
        let delta = if self.double { delta * 2 } else { delta };
        let key = node.id();
        let mut own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
        for _ in 0..CAS_ATTEMPTS {
            let current = match *own {
                Some(v) => v,
                None => total(self.kv.read(key))?,
            };
            match self.kv.cas(key, current, current + delta, true) {
                Ok(()) => {
                    *own = Some(current + delta);
                    return Ok(());
                }
                Err(e) if e.code() == ErrorCode::PRECONDITION_FAILED => *own = None,
                Err(e) => {
                    // A timeout is indefinite: the cas may have been applied,
                    // so retrying could add the delta twice.
                    *own = None;
                    return Err(e);
                }
            }
        }
        Err(RpcError::Remote {
            code: ErrorCode::TEMPORARILY_UNAVAILABLE,
            text: format!("cas on {key} kept failing"),
        })
    }

    fn read(&self, node: &Node) -> Result<i64, RpcError> {
        let mut last = RpcError::Timeout;
        for _ in 0..READ_ATTEMPTS {
            match self.read_once(node) {
                Ok(sum) => return Ok(sum),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn read_once(&self, node: &Node) -> Result<i64, RpcError> {
        let stamp = self.stamps.fetch_add(1, Ordering::Relaxed);
        let scratch = format!("scratch-{}", node.id());
        self.kv
            .write(scratch, format!("{:016x}-{stamp}", self.nonce))?;
        let mut sum = 0i64;
        for id in node.node_ids() {
            sum += total(self.kv.read(id.as_str()))?;
        }
        Ok(sum)
    }
}
