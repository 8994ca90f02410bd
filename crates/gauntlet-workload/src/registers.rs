//! Registers over independent keys, as Jepsen's `independent` generator
//! runs them against a real cluster: `keys` keys active at once, each op
//! on one of them at random, a key retired after its share of operations
//! and a fresh key put in its place, so no key's history grows too long
//! or too concurrent to check. The final phase reads every active key.

use rand::{Rng, RngExt};
use serde_json::{Value, json};

use crate::workloads::{KvOp, complete_kv, kv_request, request, timeout_kv};
use crate::{Outcome, Request, Workload};

/// Reads and writes (`register`), or reads, writes and compare-and-sets
/// (`cas-register`), of small integers.
#[derive(Debug, Clone)]
pub struct Registers {
    with_cas: bool,
    ops_per_key: u64,
    /// The active keys and the ops each had.
    active: Vec<(u64, u64)>,
    next_key: u64,
}

impl Registers {
    /// The default share of operations a key gets before it retires.
    pub const OPS_PER_KEY: u64 = 200;

    /// `keys` active keys (at least one), `ops_per_key` ops each (at
    /// least one).
    pub fn new(with_cas: bool, keys: usize, ops_per_key: u64) -> Registers {
        let keys = keys.max(1) as u64;
        Registers {
            with_cas,
            ops_per_key: ops_per_key.max(1),
            active: (0..keys).map(|k| (k, 0)).collect(),
            next_key: keys,
        }
    }

    fn read(key: u64) -> Request {
        let mut req = request("read", Value::Null, json!({"type": "read", "key": key}));
        req.key = Some(json!(key));
        req
    }
}

impl Workload for Registers {
    fn name(&self) -> &'static str {
        if self.with_cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn next(&mut self, rng: &mut dyn Rng) -> Request {
        let slot = rng.random_range(0..self.active.len());
        let (key, ops) = &mut self.active[slot];
        let key = *key;
        *ops += 1;
        if *ops == self.ops_per_key {
            self.active[slot] = (self.next_key, 0);
            self.next_key += 1;
        }
        // Reads, writes and compare-and-sets in equal shares, as Jepsen's
        // etcd and Redis tests mix them.
        let kinds = if self.with_cas { 3 } else { 2 };
        let op = match rng.random_range(0..kinds) {
            0 => KvOp::Read,
            1 => KvOp::Write,
            _ => KvOp::Cas,
        };
        kv_request(op, key, rng)
    }

    /// A read of every active key, after the faults healed.
    fn final_requests(&self) -> Vec<Request> {
        self.active
            .iter()
            .map(|&(key, _)| Request {
                is_final: true,
                ..Self::read(key)
            })
            .collect()
    }

    fn complete(&self, req: &Request, reply: &Value) -> Outcome {
        complete_kv(req, reply)
    }

    fn timeout(&self, req: &Request) -> Outcome {
        timeout_kv(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeMap;

    #[test]
    fn keys_retire_after_their_share_and_fresh_ones_take_their_place() {
        let mut w = Registers::new(true, 3, 10);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut per_key: BTreeMap<u64, u64> = BTreeMap::new();
        for _ in 0..300 {
            let req = w.next(&mut rng);
            *per_key
                .entry(req.key.unwrap().as_u64().unwrap())
                .or_default() += 1;
        }
        assert!(per_key.values().all(|&n| n <= 10), "{per_key:?}");
        // 300 ops at 10 per key: 30 keys retired or active.
        assert!(per_key.len() >= 30, "{per_key:?}");
        let finals = w.final_requests();
        assert_eq!(finals.len(), 3);
        assert!(finals.iter().all(|r| r.f == "read" && r.is_final));
    }

    #[test]
    fn a_register_without_cas_only_reads_and_writes() {
        let mut w = Registers::new(false, 2, 100);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let fs: std::collections::BTreeSet<&str> = (0..200).map(|_| w.next(&mut rng).f).collect();
        assert_eq!(fs.into_iter().collect::<Vec<_>>(), ["read", "write"]);
        let mut w = Registers::new(true, 2, 100);
        let fs: std::collections::BTreeSet<&str> = (0..200).map(|_| w.next(&mut rng).f).collect();
        assert_eq!(fs.into_iter().collect::<Vec<_>>(), ["cas", "read", "write"]);
    }

    #[test]
    fn answers_are_judged_as_lin_kv_replies() {
        let w = Registers::new(true, 1, 10);
        let read = Registers::read(0);
        assert_eq!(
            w.complete(&read, &json!({"type": "read_ok", "value": 3})),
            Outcome::Ok(json!(3))
        );
        assert!(matches!(
            w.complete(&read, &json!({"type": "read_ok"})),
            Outcome::Info(_)
        ));
    }
}
