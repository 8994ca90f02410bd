//! `lww-kv`: an eventually consistent, last-write-wins key-value store.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use crate::Service;
use crate::kv::{KvOp, eval};
use crate::wire::Key;

/// How many replicas `lww-kv` simulates by default (Maelstrom's code says 2).
pub const LWW_KV_REPLICAS: usize = 2;

/// Maelstrom's `lww-kv`: several replicas of a last-write-wins store, each
/// request served by a random one, so reads may be stale or miss a key that
/// another replica has (retrying eventually reaches it).
///
/// Each replica keeps a Lamport clock; a write (or successful cas) stores
/// its value stamped `(clock, replica)` and advances the clock. Before each
/// request a random replica is merged into another random one (possibly
/// itself, which does nothing): per key the higher stamp wins, and the
/// clocks take their maximum. Stamps are unique, so ties between different
/// writes cannot happen and the winner does not depend on which way a merge
/// goes.
///
/// **Deliberate fix.** Maelstrom computes that merge and then throws it away
/// (a shadowed binding rebuilds the replica vector from the pre-merge
/// state), so its replicas never converge. Here the merge takes effect: once
/// writes stop, a few requests later all replicas agree.
///
/// `cas` has no `create_if_not_exists` here (as in Maelstrom): the flag is
/// accepted and ignored, and a key the serving replica lacks is error 20.
///
/// A merge visits only the keys that changed on its source since the last
/// merge into its destination, so requests cost O(1) amortised however many
/// keys the store holds.
#[derive(Debug)]
pub struct LwwKv {
    rng: ChaCha8Rng,
    replicas: Vec<Replica>,
    /// `unsent[a][b]`: keys whose entry on replica `a` may be newer than on
    /// replica `b`. Every other key is at least as new on `b` as on `a`.
    unsent: Vec<Vec<FxHashSet<Key>>>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Replica {
    /// The Lamport clock: the stamp the next write gets.
    clock: u64,
    map: FxHashMap<Key, Stamped>,
}

#[derive(Debug, Clone, PartialEq)]
struct Stamped {
    ts: u64,
    /// The replica that wrote the value; breaks ties between equal `ts`.
    origin: usize,
    value: Value,
}

impl Stamped {
    fn newer_than(&self, other: &Stamped) -> bool {
        (self.ts, self.origin) > (other.ts, other.origin)
    }
}

impl LwwKv {
    /// An empty store with [`LWW_KV_REPLICAS`] replicas; its random choices
    /// come from `seed`.
    pub fn new(seed: u64) -> LwwKv {
        LwwKv::with_replicas(seed, LWW_KV_REPLICAS)
    }

    /// An empty store with `replicas` replicas (1 makes it linearizable).
    ///
    /// # Panics
    /// If `replicas` is 0.
    pub fn with_replicas(seed: u64, replicas: usize) -> LwwKv {
        assert!(replicas > 0, "lww-kv needs at least one replica");
        LwwKv {
            rng: ChaCha8Rng::seed_from_u64(seed),
            replicas: vec![Replica::default(); replicas],
            unsent: vec![vec![FxHashSet::default(); replicas]; replicas],
        }
    }

    /// Merges replica `from` into replica `to`.
    fn merge(&mut self, from: usize, to: usize) {
        if from == to {
            return;
        }
        let keys = std::mem::take(&mut self.unsent[from][to]);
        for key in keys {
            let Some(theirs) = self.replicas[from].map.get(&key) else {
                continue;
            };
            let newer = match self.replicas[to].map.get(&key) {
                Some(ours) => theirs.newer_than(ours),
                None => true,
            };
            if newer {
                let theirs = theirs.clone();
                self.replicas[to].map.insert(key.clone(), theirs);
                self.changed(to, &key, Some(from));
            }
        }
        self.replicas[to].clock = self.replicas[to].clock.max(self.replicas[from].clock);
    }

    /// Notes that `key` changed on `replica`, so every other replica except
    /// `source` (which already has that entry) may be behind on it.
    fn changed(&mut self, replica: usize, key: &Key, source: Option<usize>) {
        for (other, unsent) in self.unsent[replica].iter_mut().enumerate() {
            if other != replica && Some(other) != source {
                unsent.insert(key.clone());
            }
        }
    }

    fn apply(&mut self, op: KvOp<'_>) -> Value {
        let n = self.replicas.len();
        let (from, to) = (self.rng.random_range(0..n), self.rng.random_range(0..n));
        self.merge(from, to);

        let at = self.rng.random_range(0..n);
        let key = Key::of(op.key());
        let replica = &mut self.replicas[at];
        let out = eval(&op, replica.map.get(&key).map(|s| &s.value), false);
        if let Some(value) = out.write {
            let stamped = Stamped {
                ts: replica.clock,
                origin: at,
                value: value.clone(),
            };
            replica.clock += 1;
            replica.map.insert(key.clone(), stamped);
            self.changed(at, &key, None);
        }
        out.reply
    }

    #[cfg(test)]
    fn converged(&self) -> bool {
        self.replicas.windows(2).all(|w| w[0].map == w[1].map)
    }
}

impl Service for LwwKv {
    fn handle(&mut self, _src: &str, body: &Value) -> Option<Value> {
        crate::handle_kv(body, "lww-kv", |op| self.apply(op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(kv: &mut LwwKv, body: Value) -> Value {
        kv.handle("n1", &body).unwrap()
    }

    #[test]
    fn replicas_converge_once_writes_stop() {
        for seed in 0..50 {
            let mut kv = LwwKv::new(seed);
            for i in 0..200 {
                req(&mut kv, json!({"type": "write", "key": i % 7, "value": i}));
                req(
                    &mut kv,
                    json!({"type": "cas", "key": i % 5, "from": i - 1, "to": i}),
                );
            }
            let mut quiet = 0;
            while !kv.converged() {
                req(&mut kv, json!({"type": "read", "key": 0}));
                quiet += 1;
                assert!(
                    quiet < 100,
                    "seed {seed}: not converged after {quiet} reads"
                );
            }
            // Converged replicas stay converged under reads and merges.
            for _ in 0..20 {
                req(&mut kv, json!({"type": "read", "key": 1}));
                assert!(kv.converged());
            }
        }
    }

    #[test]
    fn merges_only_visit_changed_keys_and_agree_with_a_full_merge() {
        let mut kv = LwwKv::with_replicas(3, 3);
        for i in 0..500 {
            req(&mut kv, json!({"type": "write", "key": i % 13, "value": i}));
            // Reference: a full per-key merge of every replica pair must not
            // change anything the incremental merge already settled.
            for a in 0..3 {
                for b in 0..3 {
                    if a == b {
                        continue;
                    }
                    for (key, theirs) in &kv.replicas[a].map {
                        let behind = match kv.replicas[b].map.get(key) {
                            Some(ours) => theirs.newer_than(ours),
                            None => true,
                        };
                        if behind {
                            assert!(kv.unsent[a][b].contains(key), "{a}->{b} lost {key:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn equal_timestamps_resolve_the_same_way_both_directions() {
        let mut kv = LwwKv::new(0);
        // Both replicas write key 1 at clock 0, unaware of each other.
        for (at, value) in [(0, "a"), (1, "b")] {
            kv.replicas[at].map.insert(
                Key::of(&json!(1)),
                Stamped {
                    ts: 0,
                    origin: at,
                    value: json!(value),
                },
            );
            kv.replicas[at].clock = 1;
            kv.changed(at, &Key::of(&json!(1)), None);
        }
        kv.merge(0, 1);
        kv.merge(1, 0);
        assert!(kv.converged());
        assert_eq!(kv.replicas[0].map[&Key::of(&json!(1))].value, json!("b"));
    }

    #[test]
    fn cas_never_creates() {
        let mut kv = LwwKv::new(1);
        let reply = req(
            &mut kv,
            json!({"type": "cas", "key": "k", "from": 1, "to": 2, "create_if_not_exists": true, "msg_id": 4}),
        );
        assert_eq!(reply["code"], 20);
        assert_eq!(reply["in_reply_to"], 4);
        assert!(
            reply["text"]
                .as_str()
                .unwrap()
                .contains("create_if_not_exists")
        );
        assert!(kv.replicas.iter().all(|r| r.map.is_empty()));
    }

    #[test]
    fn writes_are_stamped_with_the_lamport_clock() {
        let mut kv = LwwKv::with_replicas(5, 1);
        for v in 0..3 {
            req(&mut kv, json!({"type": "write", "key": "k", "value": v}));
        }
        let stamped = &kv.replicas[0].map[&Key::of(&json!("k"))];
        assert_eq!((stamped.ts, stamped.value.clone()), (2, json!(2)));
        assert_eq!(kv.replicas[0].clock, 3);
    }
}
