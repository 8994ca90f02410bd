//! `lin-kv`: a linearizable key-value store.

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::Service;
use crate::kv::{KvOp, eval};
use crate::wire::Key;

/// Maelstrom's `lin-kv`: one map; each operation is applied atomically in
/// the order requests arrive, so every reply reflects every earlier
/// operation.
#[derive(Debug, Default)]
pub struct LinKv {
    map: FxHashMap<Key, Value>,
}

impl LinKv {
    /// An empty store. It draws no randomness, so it needs no seed.
    pub fn new() -> LinKv {
        LinKv::default()
    }

    fn apply(&mut self, op: KvOp<'_>) -> Value {
        let key = Key::of(op.key());
        let out = eval(&op, self.map.get(&key), true);
        if let Some(value) = out.write {
            self.map.insert(key, value.clone());
        }
        out.reply
    }
}

impl Service for LinKv {
    fn handle(&mut self, _src: &str, body: &Value) -> Option<Value> {
        crate::handle_kv(body, "lin-kv", |op| self.apply(op))
    }
}
