//! `txn-list-append` and `txn-rw-register`: transactions of micro-ops over
//! integer keys, generated as Elle's `wr-txns` and judged later by Elle-style
//! checkers. This file only makes the requests and checks that each reply
//! answers its own request.

use rand::{Rng, RngExt};
use serde_json::{Map, Value, json};

use crate::keys::KeyPool;
use crate::rpc::{ErrorRule, Outcome, ReplySchema, malformed, timeout_outcome};
use crate::{Request, Workload, WorkloadOptions};

/// Maelstrom's `txn`: nothing about a transaction is idempotent, so a
/// definite error is a fail and anything else (an indefinite error, a
/// timeout) is info.
const RULE: ErrorRule = ErrorRule::Definite { idempotent: false };

const SCHEMA: ReplySchema = ReplySchema {
    ok_type: "txn_ok",
    fields: &["txn"],
};

/// Which of the two transactional workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Writes are `append`s; a read returns the whole list.
    ListAppend,
    /// Writes are `w`s; a read returns the register's value.
    RwRegister,
}

impl Flavor {
    fn write_f(self) -> &'static str {
        match self {
            Flavor::ListAppend => "append",
            Flavor::RwRegister => "w",
        }
    }
}

/// Elle's `wr-txns`: `key_count` active keys, a transaction of 1 to
/// `max_txn_length` micro-ops, each a read or a write with equal
/// probability. A key retires after `max_writes_per_key` writes and its slot
/// takes the next integer never used as a key, so every written value is
/// unique per key (1, 2, ...).
pub(crate) struct Txn {
    flavor: Flavor,
    max_txn_length: usize,
    keys: KeyPool,
}

impl Txn {
    pub(crate) fn new(flavor: Flavor, options: &WorkloadOptions) -> Txn {
        Txn {
            flavor,
            // Options are validated by the caller; the floor only keeps a
            // bad one from panicking here.
            max_txn_length: options.max_txn_length.max(1),
            keys: KeyPool::new(options),
        }
    }

    /// Checks that `reply`'s txn answers `req`'s: same length, each micro-op
    /// with the same f and key, writes unchanged and reads filled in with a
    /// value of the workload's shape. Returns the reply's txn.
    fn answer(&self, req: &Request, body: &Map<String, Value>) -> Result<Value, String> {
        let sent = req.value.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let Some(got) = body["txn"].as_array() else {
            return Err(format!("txn_ok txn is not an array: {}", body["txn"]));
        };
        if got.len() != sent.len() {
            return Err(format!(
                "txn_ok has {} micro-ops, the request had {}",
                got.len(),
                sent.len()
            ));
        }
        for (i, (mop, asked)) in got.iter().zip(sent).enumerate() {
            let Some([f, k, v]) = mop.as_array().map(Vec::as_slice) else {
                return Err(format!("micro-op {i} is not an [f, k, v] triple: {mop}"));
            };
            if *f != asked[0] || *k != asked[1] {
                return Err(format!(
                    "micro-op {i} is {mop}, but the request's was {asked}"
                ));
            }
            if asked[0] == "r" {
                self.check_read(v)
                    .map_err(|why| format!("micro-op {i} reads {v}, which is not {why}: {mop}"))?;
            } else if *v != asked[2] {
                return Err(format!(
                    "micro-op {i} writes {v}, but the request wrote {}: {mop}",
                    asked[2]
                ));
            }
        }
        Ok(body["txn"].clone())
    }

    fn check_read(&self, v: &Value) -> Result<(), &'static str> {
        let int = |v: &Value| v.is_i64() || v.is_u64();
        let ok = match self.flavor {
            Flavor::ListAppend => {
                v.is_null() || v.as_array().is_some_and(|items| items.iter().all(int))
            }
            Flavor::RwRegister => v.is_null() || int(v),
        };
        if ok {
            Ok(())
        } else {
            Err(match self.flavor {
                Flavor::ListAppend => "null or a list of integers",
                Flavor::RwRegister => "null or an integer",
            })
        }
    }
}

impl Workload for Txn {
    fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::ListAppend => "txn-list-append",
            Flavor::RwRegister => "txn-rw-register",
        }
    }

    fn next(&mut self, rng: &mut dyn Rng) -> Request {
        let length = rng.random_range(1..=self.max_txn_length);
        let mut txn = Vec::with_capacity(length);
        for _ in 0..length {
            let slot = self.keys.slot(rng);
            if rng.random_bool(0.5) {
                txn.push(json!(["r", self.keys.key(slot), null]));
            } else {
                let (key, value) = self.keys.write_to(slot);
                txn.push(json!([self.flavor.write_f(), key, value]));
            }
        }
        let txn = Value::Array(txn);
        Request {
            f: "txn",
            value: txn.clone(),
            key: None,
            body: json!({"type": "txn", "txn": txn}),
            is_final: false,
        }
    }

    fn complete(&self, req: &Request, reply: &Value) -> Outcome {
        match SCHEMA.judge(reply, RULE) {
            Ok(body) => match self.answer(req, body) {
                Ok(txn) => Outcome::Ok(txn),
                Err(why) => Outcome::Info(malformed(&why)),
            },
            Err(outcome) => outcome,
        }
    }

    fn timeout(&self, _req: &Request) -> Outcome {
        timeout_outcome(RULE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashMap;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn list_append() -> Box<dyn Workload> {
        workload("txn-list-append", &WorkloadOptions::default()).unwrap()
    }

    fn rw_register() -> Box<dyn Workload> {
        workload("txn-rw-register", &WorkloadOptions::default()).unwrap()
    }

    fn req(txn: Value) -> Request {
        Request {
            f: "txn",
            value: txn.clone(),
            key: None,
            body: json!({"type": "txn", "txn": txn}),
            is_final: false,
        }
    }

    fn ok(txn: Value) -> Value {
        json!({"type": "txn_ok", "in_reply_to": 1, "msg_id": 9, "txn": txn})
    }

    fn is_malformed(o: &Outcome) -> bool {
        matches!(o, Outcome::Info(e) if e[0] == "malformed-response")
    }

    #[test]
    fn requests_have_maelstroms_shape() {
        for (mut w, write) in [(list_append(), "append"), (rw_register(), "w")] {
            let mut r = rng();
            let mut lengths = [0usize; 5];
            for _ in 0..2_000 {
                let q = w.next(&mut r);
                assert_eq!(q.f, "txn");
                assert_eq!(q.key, None);
                assert_eq!(q.body["type"], "txn");
                assert_eq!(q.body["txn"], q.value);
                let txn = q.value.as_array().unwrap();
                lengths[txn.len()] += 1;
                for mop in txn {
                    let [f, k, v] = mop.as_array().unwrap().as_slice() else {
                        panic!("{mop}")
                    };
                    assert!(k.is_u64(), "{mop}");
                    match f.as_str().unwrap() {
                        "r" => assert!(v.is_null(), "{mop}"),
                        f => {
                            assert_eq!(f, write);
                            assert!(v.as_u64().unwrap() >= 1, "{mop}");
                        }
                    }
                }
            }
            // 1 to 4 micro-ops, each length about a quarter of the time.
            assert_eq!(lengths[0], 0);
            assert!(lengths[1..].iter().all(|&n| n > 400), "{lengths:?}");
        }
    }

    /// Values are 1, 2, ... per key, a key gets `max_writes_per_key`
    /// writes, and a retired key never comes back.
    #[test]
    fn keys_retire_after_their_writes_and_values_are_unique() {
        let opts = WorkloadOptions {
            key_count: 3,
            max_txn_length: 4,
            max_writes_per_key: 5,
        };
        let mut w = workload("txn-rw-register", &opts).unwrap();
        let mut r = rng();
        let mut writes: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut last_seen: HashMap<u64, usize> = HashMap::new();
        let mut first_seen: HashMap<u64, usize> = HashMap::new();
        for i in 0..3_000 {
            for mop in w.next(&mut r).value.as_array().unwrap() {
                let k = mop[1].as_u64().unwrap();
                first_seen.entry(k).or_insert(i);
                last_seen.insert(k, i);
                if mop[0] == "w" {
                    writes.entry(k).or_default().push(mop[2].as_u64().unwrap());
                }
            }
        }
        assert!(writes.len() > 50, "keys rotate: {}", writes.len());
        for (k, vs) in &writes {
            let expected: Vec<u64> = (1..=vs.len() as u64).collect();
            assert_eq!(vs, &expected, "key {k}");
            assert!(vs.len() <= 5, "key {k}");
        }
        // At most 3 keys are active at once: after no transaction are more
        // than 3 keys in use that are used again later. (Within one, a key
        // may retire and its successor appear.)
        for i in 0..3_000 {
            let live = first_seen
                .iter()
                .filter(|(k, first)| **first <= i && i < last_seen[*k])
                .count();
            assert!(live <= 3, "{live} keys live at transaction {i}");
        }
    }

    /// Elle's exponential distribution: each active slot is twice as likely
    /// as the one before it.
    #[test]
    fn keys_follow_elles_exponential_distribution() {
        let opts = WorkloadOptions {
            key_count: 4,
            max_txn_length: 1,
            max_writes_per_key: u64::MAX,
        };
        let w = Txn::new(Flavor::ListAppend, &opts);
        let mut r = rng();
        let mut counts = [0u32; 4];
        for _ in 0..30_000 {
            counts[w.keys.slot(&mut r)] += 1;
        }
        // Expected shares 1/15, 2/15, 4/15, 8/15.
        for i in 0..3 {
            let ratio = counts[i + 1] as f64 / counts[i] as f64;
            assert!((1.7..2.3).contains(&ratio), "{counts:?}");
        }
        // A huge key count neither overflows nor leaves the range.
        let big = Txn::new(
            Flavor::ListAppend,
            &WorkloadOptions {
                key_count: 100_000,
                ..opts
            },
        );
        for _ in 0..1_000 {
            assert!(big.keys.slot(&mut r) < 100_000);
        }
    }

    #[test]
    fn a_reply_filling_in_the_reads_is_ok() {
        let w = list_append();
        let q = req(json!([["r", 1, null], ["append", 1, 3], ["r", 2, null]]));
        let txn = json!([["r", 1, [1, 2]], ["append", 1, 3], ["r", 2, null]]);
        assert_eq!(w.complete(&q, &ok(txn.clone())), Outcome::Ok(txn));
        let w = rw_register();
        let q = req(json!([["r", 1, null], ["w", 1, 3]]));
        let txn = json!([["r", 1, 2], ["w", 1, 3]]);
        assert_eq!(w.complete(&q, &ok(txn.clone())), Outcome::Ok(txn));
    }

    #[test]
    fn replies_that_do_not_answer_the_request_are_malformed() {
        let la = list_append();
        let q = req(json!([["r", 1, null], ["append", 1, 3]]));
        let bad = [
            json!([["r", 1, [1]]]),                                   // too short
            json!([["r", 1, [1]], ["append", 1, 3], ["r", 1, null]]), // too long
            json!([["r", 2, [1]], ["append", 1, 3]]),                 // another key
            json!([["w", 1, [1]], ["append", 1, 3]]),                 // another f
            json!([["r", 1, [1]], ["append", 1, 4]]),                 // write changed
            json!([["r", 1, 1], ["append", 1, 3]]),                   // not a list
            json!([["r", 1, [1, "2"]], ["append", 1, 3]]),            // not integers
            json!([["r", 1], ["append", 1, 3]]),                      // not a triple
            json!("nope"),
        ];
        for txn in bad {
            assert!(is_malformed(&la.complete(&q, &ok(txn.clone()))), "{txn}");
        }
        let rw = rw_register();
        let q = req(json!([["r", 1, null], ["w", 1, 3]]));
        assert!(is_malformed(
            &rw.complete(&q, &ok(json!([["r", 1, [2]], ["w", 1, 3]])))
        ));
        assert!(is_malformed(
            &rw.complete(&q, &ok(json!([["r", 1, 2.5], ["w", 1, 3]])))
        ));
        // The closed schema: an extra key, a missing txn, the wrong type.
        let txn = json!([["r", 1, null], ["w", 1, 3]]);
        let extra = json!({"type": "txn_ok", "txn": txn, "x": 1});
        assert!(is_malformed(&rw.complete(&q, &extra)));
        assert!(is_malformed(&rw.complete(&q, &json!({"type": "txn_ok"}))));
        assert!(is_malformed(
            &rw.complete(&q, &json!({"type": "txn", "txn": txn}))
        ));
        // The negative control: the same reply with the read filled in.
        assert_eq!(
            rw.complete(&q, &ok(json!([["r", 1, null], ["w", 1, 3]]))),
            Outcome::Ok(json!([["r", 1, null], ["w", 1, 3]]))
        );
    }

    /// Nothing is idempotent: definite errors fail, indefinite ones and
    /// timeouts are info, even for a read-only transaction.
    #[test]
    fn errors_follow_definiteness() {
        let w = list_append();
        let q = req(json!([["r", 1, null]]));
        let conflict = json!({"type": "error", "code": 30, "text": "conflict"});
        assert_eq!(
            w.complete(&q, &conflict),
            Outcome::Fail(json!(["txn-conflict", "conflict"]))
        );
        let crash = json!({"type": "error", "code": 13});
        assert!(matches!(w.complete(&q, &crash), Outcome::Info(e) if e[0] == "crash"));
        let user = json!({"type": "error", "code": 1000});
        assert!(matches!(w.complete(&q, &user), Outcome::Info(_)));
        assert_eq!(w.timeout(&q), Outcome::Info(json!("net-timeout")));
    }
}
