//! Transaction nodes for Maelstrom's `txn-list-append` and `txn-rw-register`
//! workloads: one correct transactor and two deliberately broken ones. Each
//! serves `{"type":"txn","txn":[[f,k,v],...]}` with `txn_ok`, reads filled
//! in; the micro-op `append` adds to a list, `w` sets a register, `r` reads
//! either (`null` for a key never written).
//!
//! * [`Mode::SingleKey`]: the whole database is one value under one
//!   `lin-kv` key. A transaction reads it, applies every micro-op to a
//!   private copy and installs the copy with a `cas` from the value it read,
//!   starting over when another transaction got there first. Every
//!   transaction is one atomic step of a linearizable register: strict
//!   serializable. (Maelstrom's `single_key_txn` demos.)
//! * [`Mode::NoAtomicity`]: each micro-op on its own, one `lin-kv` key per
//!   key, an append a read then a blind write, with a pause between
//!   micro-ops. Concurrent transactions interleave and appends overwrite
//!   each other: lost updates, G1 and G-single.
//! * [`Mode::StaleCache`]: each node runs transactions against its own
//!   local copy of the database and only writes it through to `lin-kv`,
//!   never reading back. Nodes never see each other's writes, so two nodes
//!   read one key's list in orders no single history allows
//!   (incompatible-order; not even read committed).

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gauntlet_proto::node::{self, Kv, Node, RpcError};
use gauntlet_proto::{Envelope, ErrorCode};
use serde_json::{Value, json};

/// Which transaction node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    SingleKey,
    NoAtomicity,
    StaleCache,
}

/// The `lin-kv` key that holds the whole database in the single-key modes.
const ROOT: &str = "txn-root";

/// How often a transaction starts over after losing a `cas` race before
/// it gives up with a definite `txn-conflict` (nothing was installed).
const MAX_ATTEMPTS: usize = 100;

/// Runs the node on stdin/stdout.
pub fn run(mode: Mode) -> io::Result<()> {
    node::run(|node: &Node| {
        let mut kv = Kv::new(node, "lin-kv");
        kv.timeout = Duration::from_secs(2);
        let server = Arc::new(Server {
            mode,
            kv,
            local: Mutex::new(Db::new()),
        });
        move |node: &Node, msg: Envelope| match msg.body_type() {
            Some("txn") => {
                let server = Arc::clone(&server);
                node.spawn(move |node| server.serve(&node, msg));
            }
            _ => node.reply_unsupported(&msg),
        }
    })
}

/// The database: each key's JSON text to its list or register.
type Db = serde_json::Map<String, Value>;

struct Server {
    mode: Mode,
    kv: Kv,
    /// The stale-cache mode's private copy of the database.
    local: Mutex<Db>,
}

impl Server {
    fn serve(&self, node: &Node, msg: Envelope) {
        let Some(txn) = msg.body.get("txn").and_then(Value::as_array) else {
            node.reply_error(
                &msg,
                ErrorCode::MALFORMED_REQUEST,
                "txn without a txn array",
            );
            return;
        };
        let result = match self.mode {
            Mode::SingleKey => self.single_key(txn),
            Mode::NoAtomicity => self.no_atomicity(txn),
            Mode::StaleCache => self.stale_cache(txn),
        };
        match result {
            Ok(done) => node.reply(&msg, json!({"type": "txn_ok", "txn": done})),
            Err(Failure::Rpc(e)) => node.reply(&msg, e.to_reply(&msg)),
            Err(Failure::Code(code, text)) => node.reply_error(&msg, code, text),
        }
    }

    /// Read the root, apply the transaction to a copy, `cas` the copy in;
    /// on a lost race, start over.
    fn single_key(&self, txn: &[Value]) -> Result<Vec<Value>, Failure> {
        for _ in 0..MAX_ATTEMPTS {
            let (before, exists) = match self.kv.read(ROOT) {
                Ok(Value::Object(db)) => (db, true),
                Ok(other) => {
                    return Err(Failure::Code(
                        ErrorCode::CRASH,
                        format!("the root holds {other}, not a database"),
                    ));
                }
                Err(RpcError::Remote { code, .. }) if code == ErrorCode::KEY_DOES_NOT_EXIST => {
                    (Db::new(), false)
                }
                Err(e) => return Err(Failure::Rpc(e)),
            };
            let mut after = before.clone();
            let (done, wrote) = apply(&mut after, txn)?;
            if !wrote {
                // A read-only transaction is the one read of the root.
                return Ok(done);
            }
            let from = if exists {
                Value::Object(before)
            } else {
                Value::Null
            };
            match self.kv.cas(ROOT, from, Value::Object(after), !exists) {
                Ok(()) => return Ok(done),
                // Another transaction installed its database first: ours
                // was not installed, so starting over is safe.
                Err(RpcError::Remote { code, .. }) if code == ErrorCode::PRECONDITION_FAILED => {}
                // A timeout may or may not have installed it: indefinite.
                Err(e) => return Err(Failure::Rpc(e)),
            }
        }
        Err(Failure::Code(
            ErrorCode::TXN_CONFLICT,
            format!("lost the race for the root {MAX_ATTEMPTS} times"),
        ))
    }

    /// Broken: every micro-op on its own against `lin-kv`, with time
    /// between them for other transactions to interleave.
    fn no_atomicity(&self, txn: &[Value]) -> Result<Vec<Value>, Failure> {
        let mut done = Vec::with_capacity(txn.len());
        for (i, mop) in txn.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(3));
            }
            let (f, k, v) = parts(mop)?;
            let read = |k: &Value| match self.kv.read(k.clone()) {
                Ok(v) => Ok(v),
                Err(RpcError::Remote { code, .. }) if code == ErrorCode::KEY_DOES_NOT_EXIST => {
                    Ok(Value::Null)
                }
                Err(e) => Err(Failure::Rpc(e)),
            };
            match f {
                "r" => done.push(json!(["r", k, read(k)?])),
                "append" => {
                    let mut list = read(k)?.as_array().cloned().unwrap_or_default();
                    std::thread::sleep(Duration::from_millis(1));
                    list.push(v.clone());
                    self.kv.write(k.clone(), list).map_err(Failure::Rpc)?;
                    done.push(mop.clone());
                }
                _ => {
                    self.kv.write(k.clone(), v.clone()).map_err(Failure::Rpc)?;
                    done.push(mop.clone());
                }
            }
        }
        Ok(done)
    }

    /// Broken: the transaction runs atomically, but against this node's own
    /// copy, written through to `lin-kv` and never read back.
    fn stale_cache(&self, txn: &[Value]) -> Result<Vec<Value>, Failure> {
        let (done, snapshot) = {
            let mut db = self.local.lock().unwrap_or_else(PoisonError::into_inner);
            let (done, wrote) = apply(&mut db, txn)?;
            (done, wrote.then(|| Value::Object(db.clone())))
        };
        if let Some(db) = snapshot {
            self.kv.write(ROOT, db).map_err(Failure::Rpc)?;
        }
        Ok(done)
    }
}

enum Failure {
    /// A service call failed; passed on with its code (a timeout stays
    /// indefinite).
    Rpc(RpcError),
    Code(ErrorCode, String),
}

fn parts(mop: &Value) -> Result<(&str, &Value, &Value), Failure> {
    match mop.as_array().map(Vec::as_slice) {
        Some([Value::String(f), k, v]) if matches!(f.as_str(), "r" | "append" | "w") => {
            Ok((f.as_str(), k, v))
        }
        _ => Err(Failure::Code(
            ErrorCode::MALFORMED_REQUEST,
            format!("not a micro-op: {mop}"),
        )),
    }
}

/// Applies `txn` to `db` in order (a read sees the transaction's own
/// earlier writes) and returns the completed micro-ops and whether any
/// wrote.
fn apply(db: &mut Db, txn: &[Value]) -> Result<(Vec<Value>, bool), Failure> {
    let mut done = Vec::with_capacity(txn.len());
    let mut wrote = false;
    for mop in txn {
        let (f, k, v) = parts(mop)?;
        let key = k.to_string();
        match f {
            "r" => done.push(json!([
                "r",
                k,
                db.get(&key).cloned().unwrap_or(Value::Null)
            ])),
            "append" => {
                let list = db.entry(key).or_insert_with(|| json!([]));
                match list.as_array_mut() {
                    Some(items) => items.push(v.clone()),
                    None => {
                        return Err(Failure::Code(
                            ErrorCode::ABORT,
                            format!("key {k} holds a register, not a list"),
                        ));
                    }
                }
                wrote = true;
                done.push(mop.clone());
            }
            _ => {
                db.insert(key, v.clone());
                wrote = true;
                done.push(mop.clone());
            }
        }
    }
    Ok((done, wrote))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_reads_its_own_writes_in_order() {
        let mut db = Db::new();
        let txn = json!([
            ["r", 1, null],
            ["append", 1, 5],
            ["r", 1, null],
            ["append", 1, 6]
        ]);
        let (done, wrote) = apply(&mut db, txn.as_array().unwrap()).ok().unwrap();
        assert!(wrote);
        assert_eq!(
            Value::Array(done),
            json!([
                ["r", 1, null],
                ["append", 1, 5],
                ["r", 1, [5]],
                ["append", 1, 6]
            ])
        );
        let txn = json!([["r", 1, null], ["w", 2, 3], ["r", 2, null]]);
        let (done, _) = apply(&mut db, txn.as_array().unwrap()).ok().unwrap();
        assert_eq!(
            Value::Array(done),
            json!([["r", 1, [5, 6]], ["w", 2, 3], ["r", 2, 3]])
        );
        let read_only = json!([["r", 7, null]]);
        let (_, wrote) = apply(&mut db, read_only.as_array().unwrap()).ok().unwrap();
        assert!(!wrote);
        assert!(apply(&mut db, &[json!(["x", 1, 2])]).is_err());
    }
}
