//! Transaction nodes for Maelstrom's `txn-list-append` and `txn-rw-register`
//! workloads: two correct transactors and two deliberately broken ones. Each
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
//! * [`Mode::MultiKey`]: the same commit rule, but the `lin-kv` root holds
//!   only a map from each key to the id of an immutable "thunk" in
//!   `lww-kv` holding that key's value; see [`Server::multi_key`].
//!   (Maelstrom's `multi_key_txn` demos.)
//! * [`Mode::NoAtomicity`]: each micro-op on its own, one `lin-kv` key per
//!   key, an append a read then a blind write, with a pause between
//!   micro-ops. Concurrent transactions interleave and appends overwrite
//!   each other: lost updates, G1 and G-single.
//! * [`Mode::StaleCache`]: each node runs transactions against its own
//!   local copy of the database and only writes it through to `lin-kv`,
//!   never reading back. Nodes never see each other's writes, so two nodes
//!   read one key's list in orders no single history allows
//!   (incompatible-order; not even read committed).

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gauntlet_proto::node::{self, Kv, Node, RpcError};
use gauntlet_proto::{Envelope, ErrorCode};
use serde_json::{Value, json};

/// Which transaction node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    SingleKey,
    MultiKey,
    NoAtomicity,
    StaleCache,
}

/// The `lin-kv` key that holds the whole database in the single-key modes,
/// and the map from keys to thunk ids in the multi-key mode.
const ROOT: &str = "txn-root";

/// How often a transaction starts over after losing a `cas` race before
/// it gives up with a definite `txn-conflict` (nothing was installed).
const MAX_ATTEMPTS: usize = 100;

/// How often the multi-key mode asks `lww-kv` for a thunk that the root
/// names before it gives up: the replica that serves a read may not have
/// the thunk yet, and another request reaches one that does.
const THUNK_READ_ATTEMPTS: usize = 50;

/// How many thunks the multi-key mode keeps in its cache; when full, the
/// cache starts again empty.
const THUNK_CACHE: usize = 100_000;

/// Runs the node on stdin/stdout.
pub fn run(mode: Mode) -> io::Result<()> {
    node::run(|node: &Node| {
        let mut kv = Kv::new(node, "lin-kv");
        kv.timeout = Duration::from_secs(2);
        let mut lww = Kv::new(node, "lww-kv");
        lww.timeout = Duration::from_secs(2);
        let server = Arc::new(Server {
            mode,
            kv,
            local: Mutex::new(Db::new()),
            lww,
            thunks: Mutex::new(HashMap::new()),
            thunk_prefix: format!("{}-{:016x}", node.id(), crate::random_u64()),
            next_thunk: AtomicU64::new(0),
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
    /// The multi-key mode's thunk store.
    lww: Kv,
    /// Thunks this node has read or written, by id: they never change.
    thunks: Mutex<HashMap<String, Value>>,
    /// Thunk ids are `<node id>-<random nonce, hex>-<counter>`: unique
    /// across nodes and across restarts of a node (which lose the counter),
    /// so a thunk id is written once, with one value, ever.
    thunk_prefix: String,
    next_thunk: AtomicU64,
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
            Mode::MultiKey => self.multi_key(txn),
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
            if self.install_root(exists.then_some(before), after)? {
                return Ok(done);
            }
        }
        Err(Failure::Code(
            ErrorCode::TXN_CONFLICT,
            format!("lost the race for the root {MAX_ATTEMPTS} times"),
        ))
    }

    /// `cas`es the root from `before` (`None`: it does not exist yet) to
    /// `after`. `Ok(false)` when another transaction installed its root
    /// first: ours was not installed, so starting over is safe. A timeout
    /// may or may not have installed it: an indefinite error.
    fn install_root(&self, before: Option<Db>, after: Db) -> Result<bool, Failure> {
        let exists = before.is_some();
        let from = before.map_or(Value::Null, Value::Object);
        match self.kv.cas(ROOT, from, Value::Object(after), !exists) {
            Ok(()) => Ok(true),
            Err(RpcError::Remote { code, .. }) if code == ErrorCode::PRECONDITION_FAILED => {
                Ok(false)
            }
            Err(e) => Err(Failure::Rpc(e)),
        }
    }

    /// Multi-key: the root in `lin-kv` maps each key's JSON text to the id
    /// of an immutable thunk in `lww-kv` that holds the key's value. A
    /// transaction reads the root, reads the thunks of the keys whose old
    /// value it needs, applies its micro-ops, writes each key it changed as
    /// a new thunk under a fresh id, and `cas`es the root from the exact map
    /// it read to the map naming the new thunks; when another transaction
    /// got there first it starts over from a fresh read of the root.
    ///
    /// Strict serializable. A writing transaction takes effect at its
    /// successful `cas`: the root was then still the one whose thunks it
    /// read. A read-only transaction takes effect at its read of the root,
    /// which is itself the validation: a linearizable read made during the
    /// transaction (never a locally cached root), naming thunks that can
    /// never change (ids are never reused), so every value it returns is
    /// the key's value at that instant.
    ///
    /// Errors: nothing before the `cas` is visible (a thunk no root names is
    /// garbage), so a failure there is definite (`temporarily-unavailable`).
    /// A `cas` that timed out may have installed the root: indefinite.
    fn multi_key(&self, txn: &[Value]) -> Result<Vec<Value>, Failure> {
        let (needed, written) = touched_keys(txn)?;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                // Lost a race: let the winners' transactions clear first.
                let most = attempt.min(8) as u64;
                std::thread::sleep(Duration::from_millis(crate::random_u64() % (most + 1)));
            }
            let (root, exists) = match self.kv.read(ROOT) {
                Ok(Value::Object(root)) => (root, true),
                Ok(other) => {
                    return Err(Failure::Code(
                        ErrorCode::CRASH,
                        format!("the root holds {other}, not a map of thunk ids"),
                    ));
                }
                Err(RpcError::Remote { code, .. }) if code == ErrorCode::KEY_DOES_NOT_EXIST => {
                    (serde_json::Map::new(), false)
                }
                Err(e) => return Err(unavailable("reading the root", &e)),
            };
            let mut db = Db::new();
            for key in &needed {
                if let Some(id) = root.get(key) {
                    let Some(id) = id.as_str() else {
                        return Err(Failure::Code(
                            ErrorCode::CRASH,
                            format!("the root names thunk {id}, not a string id"),
                        ));
                    };
                    db.insert(key.clone(), self.read_thunk(id)?);
                }
            }
            let (done, wrote) = apply(&mut db, txn)?;
            if !wrote {
                return Ok(done);
            }
            let mut after = root.clone();
            for key in &written {
                let value = db.get(key).cloned().unwrap_or(Value::Null);
                after.insert(key.clone(), Value::String(self.write_thunk(value)?));
            }
            // Not installed: our new thunks are garbage, start over.
            if self.install_root(exists.then_some(root), after)? {
                return Ok(done);
            }
        }
        Err(Failure::Code(
            ErrorCode::TXN_CONFLICT,
            format!("lost the race for the root {MAX_ATTEMPTS} times"),
        ))
    }

    /// A thunk's value: from the cache, or from `lww-kv`, asking again
    /// while the replica that answers does not have it yet.
    fn read_thunk(&self, id: &str) -> Result<Value, Failure> {
        if let Some(value) = self.cached_thunks().get(id) {
            return Ok(value.clone());
        }
        for attempt in 0..THUNK_READ_ATTEMPTS {
            match self.lww.read(id) {
                Ok(value) => {
                    self.cache_thunk(id, &value);
                    return Ok(value);
                }
                Err(RpcError::Remote { code, .. }) if code == ErrorCode::KEY_DOES_NOT_EXIST => {
                    std::thread::sleep(Duration::from_millis(attempt.min(10) as u64));
                }
                Err(e) => return Err(unavailable(&format!("reading thunk {id}"), &e)),
            }
        }
        Err(Failure::Code(
            ErrorCode::TEMPORARILY_UNAVAILABLE,
            format!("thunk {id} not found in lww-kv after {THUNK_READ_ATTEMPTS} reads"),
        ))
    }

    /// Stores `value` as a new thunk and returns its id.
    fn write_thunk(&self, value: Value) -> Result<String, Failure> {
        let n = self.next_thunk.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("{}-{n}", self.thunk_prefix);
        // Writing one id again with its one value is harmless: retry a
        // timeout a few times.
        let mut result = Ok(());
        for _ in 0..3 {
            result = self.lww.write(id.as_str(), value.clone());
            if !matches!(result, Err(RpcError::Timeout)) {
                break;
            }
        }
        match result {
            Ok(()) => {
                self.cache_thunk(&id, &value);
                Ok(id)
            }
            Err(e) => Err(unavailable(&format!("writing thunk {id}"), &e)),
        }
    }

    fn cached_thunks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        self.thunks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache_thunk(&self, id: &str, value: &Value) {
        let mut thunks = self.cached_thunks();
        if thunks.len() >= THUNK_CACHE {
            thunks.clear();
        }
        thunks.insert(id.to_owned(), value.clone());
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

/// A failure before the multi-key `cas`: nothing was installed, so the
/// transaction certainly had no effect.
fn unavailable(what: &str, e: &RpcError) -> Failure {
    Failure::Code(
        ErrorCode::TEMPORARILY_UNAVAILABLE,
        format!("{what}: {e}; nothing was installed"),
    )
}

/// The keys (as JSON text) whose value before `txn` it needs, those whose
/// first micro-op is not a blind `w`, and the keys it writes, each once,
/// in order of first appearance.
fn touched_keys(txn: &[Value]) -> Result<(Vec<String>, Vec<String>), Failure> {
    let mut needed: Vec<String> = Vec::new();
    let mut written: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for mop in txn {
        let (f, k, _) = parts(mop)?;
        let key = k.to_string();
        if !seen.contains(&key) {
            if f != "w" {
                needed.push(key.clone());
            }
            seen.push(key.clone());
        }
        if f != "r" && !written.contains(&key) {
            written.push(key);
        }
    }
    Ok((needed, written))
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

    #[test]
    fn a_blind_write_needs_no_old_value() {
        let txn = json!([
            ["w", 1, 5],
            ["r", 1, null],
            ["r", 2, null],
            ["append", 3, 1],
            ["w", 2, 6],
            ["append", 3, 2]
        ]);
        let (needed, written) = touched_keys(txn.as_array().unwrap()).ok().unwrap();
        assert_eq!(needed, ["2", "3"]);
        assert_eq!(written, ["1", "3", "2"]);
        assert!(touched_keys(&[json!(["x", 1, 2])]).is_err());
    }
}
