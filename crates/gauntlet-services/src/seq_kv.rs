//! `seq-kv`: a sequentially consistent key-value store.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::Service;
use crate::kv::{KvOp, eval};
use crate::wire::Key;

/// How many states `seq-kv` keeps by default (Maelstrom's ring buffer size).
pub const SEQ_KV_HISTORY: usize = 32;

/// Maelstrom's `seq-kv`: sequentially consistent, and visibly not
/// linearizable.
///
/// The store is a sequence of states numbered 0, 1, 2, … (state 0 is empty);
/// the last [`SEQ_KV_HISTORY`] of them stay reachable. For each client (the
/// request's `src`) it remembers the newest state that client has observed.
/// A request is handled like this:
///
/// 1. Pick a state uniformly at random between the client's state and the
///    newest one, **both included** (Maelstrom before v0.2.3 left the newest
///    state out, so a client that had seen the one before it could never
///    catch up: issue jepsen-io/maelstrom#47). A client whose state has left
///    the history starts from the oldest state kept.
/// 2. Run the operation against that state. If it leaves the state unchanged
///    (a read, a failed cas, a cas from `x` to `x`, a write of the value the
///    key already has), its reply is returned, possibly stale, and the client
///    is now at that state.
/// 3. Otherwise run it against the newest state instead. If that changes the
///    key, the result is a new newest state; either way the reply is
///    returned and the client is at the newest state.
///
/// So every client sees states in order (monotonic reads, read-your-writes),
/// all writes are totally ordered, and a client that keeps reading reaches
/// the newest state; but a read may return a value that another client has
/// already overwritten (issue #39: a stale identity cas may succeed).
///
/// Unlike Maelstrom, an operation that changes nothing even on the newest
/// state (say, a write of the value the key already has) adds no state:
/// the new state would be indistinguishable from the old one.
///
/// Storage: every operation touches one key, so instead of whole-map
/// snapshots each key keeps the few versions it had across the states still
/// reachable (`(state, value)` pairs, oldest first). An operation costs a
/// hash lookup plus a scan of at most `history + 1` versions of one key,
/// whatever the number of keys.
#[derive(Debug)]
pub struct SeqKv {
    rng: ChaCha8Rng,
    /// How many states stay reachable (at least 1).
    history: u64,
    /// The newest state's number.
    latest: u64,
    /// Per client, the newest state it has observed.
    clients: FxHashMap<String, u64>,
    keys: FxHashMap<Key, Versions>,
}

/// One key's values across states, oldest first: `(state, value)` means the
/// key has `value` from `state` on, until the next entry.
#[derive(Debug, Default)]
struct Versions(Vec<(u64, Value)>);

impl Versions {
    /// The key's value in `state`; `None` when it did not exist yet.
    fn at(&self, state: u64) -> Option<&Value> {
        self.0
            .iter()
            .rev()
            .find(|(from, _)| *from <= state)
            .map(|(_, value)| value)
    }

    /// Records that the key has `value` from `state` (the newest) on, and
    /// forgets versions no state from `oldest` on can see.
    fn push(&mut self, state: u64, value: Value, oldest: u64) {
        self.0.push((state, value));
        let hidden = self
            .0
            .iter()
            .skip(1)
            .take_while(|(from, _)| *from <= oldest)
            .count();
        self.0.drain(..hidden);
    }
}

impl SeqKv {
    /// An empty store keeping [`SEQ_KV_HISTORY`] states; its random choices
    /// come from `seed`.
    pub fn new(seed: u64) -> SeqKv {
        SeqKv::with_history(seed, SEQ_KV_HISTORY)
    }

    /// An empty store keeping `history` states (1 makes it linearizable).
    ///
    /// # Panics
    /// If `history` is 0.
    pub fn with_history(seed: u64, history: usize) -> SeqKv {
        assert!(history > 0, "seq-kv must keep at least one state");
        SeqKv {
            rng: ChaCha8Rng::seed_from_u64(seed),
            history: history as u64,
            latest: 0,
            clients: FxHashMap::default(),
            keys: FxHashMap::default(),
        }
    }

    /// The oldest state still reachable.
    fn oldest(&self) -> u64 {
        self.latest.saturating_sub(self.history - 1)
    }

    fn apply(&mut self, src: &str, op: KvOp<'_>) -> Value {
        let seen = self.clients.get(src).copied().unwrap_or(0);
        let state = self.rng.random_range(seen.max(self.oldest())..=self.latest);
        let key = Key::of(op.key());
        let versions = self.keys.get(&key);

        let current = versions.and_then(|v| v.at(state));
        let out = eval(&op, current, true);
        if !out.changes(current) {
            self.observe(src, state);
            return out.reply;
        }

        let current = versions.and_then(|v| v.at(self.latest));
        let out = eval(&op, current, true);
        let write = out.write.filter(|_| out.changes(current));
        if let Some(value) = write {
            self.latest += 1;
            let (latest, oldest) = (self.latest, self.oldest());
            self.keys
                .entry(key)
                .or_default()
                .push(latest, value.clone(), oldest);
        }
        self.observe(src, self.latest);
        out.reply
    }

    fn observe(&mut self, src: &str, state: u64) {
        match self.clients.get_mut(src) {
            Some(seen) => *seen = state,
            None => {
                self.clients.insert(src.to_owned(), state);
            }
        }
    }
}

impl Service for SeqKv {
    fn handle(&mut self, src: &str, body: &Value) -> Option<Value> {
        crate::handle_kv(body, "seq-kv", |op| self.apply(src, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_answer_by_state_and_forget_what_nobody_can_see() {
        let mut v = Versions::default();
        assert_eq!(v.at(0), None);
        v.push(1, json!("a"), 0);
        v.push(3, json!("b"), 0);
        assert_eq!(v.at(0), None);
        assert_eq!(v.at(2), Some(&json!("a")));
        assert_eq!(v.at(3), Some(&json!("b")));
        // Oldest reachable state 4: "a" is hidden behind "b" (from 3).
        v.push(5, json!("c"), 4);
        assert_eq!(v.0.len(), 2);
        assert_eq!(v.at(4), Some(&json!("b")));
        v.push(9, json!("d"), 9);
        assert_eq!(v.0, vec![(9, json!("d"))]);
    }

    #[test]
    fn memory_per_key_stays_bounded() {
        let mut kv = SeqKv::new(7);
        for i in 0..10_000 {
            let body = json!({"type": "write", "key": i % 10, "value": i, "msg_id": i});
            kv.handle(&format!("n{}", i % 3), &body).unwrap();
        }
        assert_eq!(kv.latest, 10_000);
        for versions in kv.keys.values() {
            assert!(
                versions.0.len() <= SEQ_KV_HISTORY + 1,
                "{}",
                versions.0.len()
            );
        }
    }
}
