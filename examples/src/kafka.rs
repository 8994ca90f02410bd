//! Kafka nodes for Maelstrom's `kafka` workload: append-only logs by key,
//! `send` / `poll` / `commit_offsets` / `list_committed_offsets`.
//!
//! * [`Mode::Single`]: every log in this node's memory, offsets dense from
//!   0. Correct on one node (each node has its own logs, so on several
//!   nodes clients see different logs).
//! * [`Mode::LinKv`]: each key's whole log is one `lin-kv` value (a list of
//!   messages). A send reads the log and `cas`es it to the log plus the
//!   message, starting over when another send won the race: the offset is
//!   the list's length before, allocated by the `cas`. A poll reads the
//!   logs (linearizably, so every acknowledged send is there); committed
//!   offsets are `lin-kv` values too. Correct on any number of nodes.
//! * [`Mode::BrokenReorder`]: [`Mode::Single`], except that a poll returns
//!   a key's messages newest first. The checker sees polls out of log
//!   order (`int-nonmonotonic-poll`).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gauntlet_proto::node::{self, Kv, Node, RpcError};
use gauntlet_proto::{Envelope, ErrorCode};
use serde_json::{Map, Value, json};

/// Which kafka node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Single,
    LinKv,
    BrokenReorder,
}

/// How often a send starts over after losing the `cas` race for its key's
/// log before it gives up (definitely: nothing was appended).
const MAX_ATTEMPTS: usize = 100;

/// Messages a poll returns per key at most.
const POLL_MAX: usize = 64;

/// Runs the node on stdin/stdout.
pub fn run(mode: Mode) -> io::Result<()> {
    node::run(|node: &Node| {
        let mut kv = Kv::new(node, "lin-kv");
        kv.timeout = Duration::from_secs(2);
        let server = Arc::new(Server {
            mode,
            kv,
            local: Mutex::default(),
        });
        move |node: &Node, msg: Envelope| match msg.body_type() {
            Some("send" | "poll" | "commit_offsets" | "list_committed_offsets") => {
                let server = Arc::clone(&server);
                if mode == Mode::LinKv {
                    node.spawn(move |node| server.serve(&node, msg));
                } else {
                    // In memory: answered at once, in arrival order.
                    server.serve(node, msg);
                }
            }
            _ => node.reply_unsupported(&msg),
        }
    })
}

/// The in-memory modes' state.
#[derive(Debug, Default)]
struct Local {
    logs: HashMap<String, Vec<Value>>,
    committed: HashMap<String, u64>,
}

struct Server {
    mode: Mode,
    kv: Kv,
    local: Mutex<Local>,
}

type Reply = Result<Value, Failure>;

enum Failure {
    Rpc(RpcError),
    Code(ErrorCode, String),
}

fn malformed(what: &str) -> Failure {
    Failure::Code(ErrorCode::MALFORMED_REQUEST, what.to_owned())
}

fn log_key(key: &str) -> String {
    format!("log/{key}")
}

fn committed_key(key: &str) -> String {
    format!("committed/{key}")
}

/// `[[offset, msg], ...]` from `offset` on, at most [`POLL_MAX`].
fn slice(log: &[Value], offset: u64) -> Vec<Value> {
    log.iter()
        .enumerate()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(POLL_MAX)
        .map(|(o, m)| json!([o, m]))
        .collect()
}

/// A body's `offsets` object as (key, offset) pairs.
fn offsets(body: &Value) -> Result<Vec<(String, u64)>, Failure> {
    let map = body
        .get("offsets")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("offsets is not an object"))?;
    map.iter()
        .map(|(k, o)| {
            o.as_u64()
                .map(|o| (k.clone(), o))
                .ok_or_else(|| malformed("an offset is not a whole number"))
        })
        .collect()
}

impl Server {
    fn serve(&self, node: &Node, msg: Envelope) {
        let body = &msg.body;
        let reply = match msg.body_type() {
            Some("send") => match (body.get("key").and_then(Value::as_str), body.get("msg")) {
                (Some(key), Some(m)) => self.send(key, m.clone()),
                _ => Err(malformed("send needs a string key and a msg")),
            },
            Some("poll") => offsets(body).and_then(|o| self.poll(&o)),
            Some("commit_offsets") => offsets(body).and_then(|o| self.commit(&o)),
            _ => match body.get("keys").and_then(Value::as_array) {
                Some(keys) => self.committed(keys.iter().filter_map(Value::as_str)),
                None => Err(malformed("keys is not a list")),
            },
        };
        match reply {
            Ok(body) => node.reply(&msg, body),
            Err(Failure::Rpc(e)) => node.reply(&msg, e.to_reply(&msg)),
            Err(Failure::Code(code, text)) => node.reply_error(&msg, code, text),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, key: &str, m: Value) -> Reply {
        if self.mode != Mode::LinKv {
            let mut local = self.local();
            let log = local.logs.entry(key.to_owned()).or_default();
            log.push(m);
            return Ok(json!({"type": "send_ok", "offset": log.len() - 1}));
        }
        for _ in 0..MAX_ATTEMPTS {
            let (before, exists) = match self.kv.read(log_key(key)) {
                Ok(Value::Array(log)) => (log, true),
                Ok(other) => {
                    return Err(Failure::Code(
                        ErrorCode::CRASH,
                        format!("log {key} holds {other}, not a list"),
                    ));
                }
                Err(RpcError::Remote { code, .. }) if code == ErrorCode::KEY_DOES_NOT_EXIST => {
                    (Vec::new(), false)
                }
                Err(e) => return Err(Failure::Rpc(e)),
            };
            let offset = before.len();
            let mut after = before.clone();
            after.push(m.clone());
            let from = if exists {
                Value::Array(before)
            } else {
                Value::Null
            };
            match self.kv.cas(log_key(key), from, after, !exists) {
                Ok(()) => return Ok(json!({"type": "send_ok", "offset": offset})),
                // Another send appended first; ours was not: try again.
                Err(RpcError::Remote { code, .. }) if code == ErrorCode::PRECONDITION_FAILED => {}
                // A timeout may have appended it: indefinite.
                Err(e) => return Err(Failure::Rpc(e)),
            }
        }
        Err(Failure::Code(
            ErrorCode::TEMPORARILY_UNAVAILABLE,
            format!("lost the race for log {key} {MAX_ATTEMPTS} times"),
        ))
    }

    fn poll(&self, wanted: &[(String, u64)]) -> Reply {
        let mut msgs = Map::new();
        if self.mode != Mode::LinKv {
            let local = self.local();
            for (key, offset) in wanted {
                let Some(log) = local.logs.get(key) else {
                    continue;
                };
                let mut pairs = slice(log, *offset);
                if self.mode == Mode::BrokenReorder {
                    pairs.reverse();
                }
                if !pairs.is_empty() {
                    msgs.insert(key.clone(), Value::Array(pairs));
                }
            }
            return Ok(json!({"type": "poll_ok", "msgs": msgs}));
        }
        // One read per key, all at once.
        let reads: Vec<Result<Value, RpcError>> = std::thread::scope(|s| {
            let handles: Vec<_> = wanted
                .iter()
                .map(|(key, _)| s.spawn(move || self.kv.read(log_key(key))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(RpcError::Remote {
                            code: ErrorCode::CRASH,
                            text: "a poll thread panicked".to_owned(),
                        })
                    })
                })
                .collect()
        });
        for ((key, offset), read) in wanted.iter().zip(reads) {
            match read {
                Ok(Value::Array(log)) => {
                    let pairs = slice(&log, *offset);
                    if !pairs.is_empty() {
                        msgs.insert(key.clone(), Value::Array(pairs));
                    }
                }
                Ok(_) => {}
                Err(RpcError::Remote { code, .. }) if code == ErrorCode::KEY_DOES_NOT_EXIST => {}
                Err(e) => return Err(Failure::Rpc(e)),
            }
        }
        Ok(json!({"type": "poll_ok", "msgs": msgs}))
    }

    fn commit(&self, offsets: &[(String, u64)]) -> Reply {
        if self.mode != Mode::LinKv {
            let mut local = self.local();
            for (key, offset) in offsets {
                let c = local.committed.entry(key.clone()).or_insert(*offset);
                *c = (*c).max(*offset);
            }
            return Ok(json!({"type": "commit_offsets_ok"}));
        }
        for (key, offset) in offsets {
            self.kv
                .write(committed_key(key), *offset)
                .map_err(Failure::Rpc)?;
        }
        Ok(json!({"type": "commit_offsets_ok"}))
    }

    fn committed<'k>(&self, keys: impl Iterator<Item = &'k str>) -> Reply {
        let mut out = Map::new();
        for key in keys {
            let offset = if self.mode == Mode::LinKv {
                match self.kv.read(committed_key(key)) {
                    Ok(v) => v.as_u64(),
                    Err(RpcError::Remote { code, .. }) if code == ErrorCode::KEY_DOES_NOT_EXIST => {
                        None
                    }
                    Err(e) => return Err(Failure::Rpc(e)),
                }
            } else {
                self.local().committed.get(key).copied()
            };
            if let Some(o) = offset {
                out.insert(key.to_owned(), json!(o));
            }
        }
        Ok(json!({"type": "list_committed_offsets_ok", "offsets": out}))
    }
}
