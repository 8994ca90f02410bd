//! Locks, as a lease or mutex service is tested: `keys` named locks (the
//! integers `0..keys`), each op an `acquire` or a `release` of one of them
//! at random, in equal shares, by whichever process the op lands on. A
//! process releases locks it does not hold and acquires locks others hold;
//! the service refuses those (`fail`), and the history shows who held what
//! when. Nothing is read back at the end, so there is no final phase: the
//! invariant (at most one holder per lock at a time) is checked over the
//! grants as they happened, by a checker program such as
//! `examples/python/one_holder.py`.
//!
//! Through a cluster test's client protocol an op is
//! `{"f":"acquire","key":3}` or `{"f":"release","key":3}`, and the client's
//! `{"type":"ok"}` reaches [`Workload::complete`] as `{"type":"acquire_ok"}`
//! (or `release_ok`), with no other fields.

use rand::{Rng, RngExt};
use serde_json::{Value, json};

use crate::rpc::{ErrorRule, ReplySchema, timeout_outcome};
use crate::workloads::request;
use crate::{Outcome, Request, Workload};

/// Acquires and releases of `keys` locks.
#[derive(Debug, Clone)]
pub struct Locks {
    keys: u64,
}

/// Neither op is idempotent: an acquire that errs indefinitely may have
/// granted the lock, a release may have freed it.
const RULE: ErrorRule = ErrorRule::Definite { idempotent: false };

impl Locks {
    /// `keys` locks (at least one).
    pub fn new(keys: usize) -> Locks {
        Locks {
            keys: keys.max(1) as u64,
        }
    }

    fn op(f: &'static str, key: u64) -> Request {
        let mut req = request(f, Value::Null, json!({"type": f, "key": key}));
        req.key = Some(json!(key));
        req
    }
}

impl Workload for Locks {
    fn name(&self) -> &'static str {
        "lock"
    }

    fn next(&mut self, rng: &mut dyn Rng) -> Request {
        let key = rng.random_range(0..self.keys);
        let f = if rng.random_range(0..2) == 0 {
            "acquire"
        } else {
            "release"
        };
        Self::op(f, key)
    }

    /// `acquire_ok` for an acquire, `release_ok` for a release, with no
    /// fields: the op happened, its completion's value null.
    fn complete(&self, req: &Request, reply: &Value) -> Outcome {
        const ACQUIRE: ReplySchema = ReplySchema {
            ok_type: "acquire_ok",
            fields: &[],
        };
        const RELEASE: ReplySchema = ReplySchema {
            ok_type: "release_ok",
            fields: &[],
        };
        let schema = if req.f == "acquire" { ACQUIRE } else { RELEASE };
        match schema.judge(reply, RULE) {
            Ok(_) => Outcome::Ok(Value::Null),
            Err(outcome) => outcome,
        }
    }

    /// No answer: the lock may have been granted or freed.
    fn timeout(&self, _req: &Request) -> Outcome {
        timeout_outcome(RULE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeMap;

    #[test]
    fn acquires_and_releases_spread_over_the_keys() {
        let mut w = Locks::new(3);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen: BTreeMap<(&str, u64), u64> = BTreeMap::new();
        for _ in 0..600 {
            let req = w.next(&mut rng);
            assert_eq!(req.value, Value::Null);
            assert!(!req.is_final);
            let key = req.key.as_ref().unwrap().as_u64().unwrap();
            assert_eq!(req.body, json!({"type": req.f, "key": key}));
            *seen.entry((req.f, key)).or_default() += 1;
        }
        // Both ops on each of the three keys, each about a sixth.
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert!(seen.values().all(|&n| n > 60), "{seen:?}");
        assert!(w.final_requests().is_empty());
        assert_eq!(w.name(), "lock");
        // No keys is one key.
        let mut one = Locks::new(0);
        assert_eq!(one.next(&mut rng).key, Some(json!(0)));
    }

    #[test]
    fn the_same_seed_draws_the_same_ops() {
        let draw = |seed| {
            let mut w = Locks::new(4);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..50).map(|_| w.next(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn ok_replies_without_fields_complete_the_op() {
        let w = Locks::new(2);
        let acquire = Locks::op("acquire", 1);
        let release = Locks::op("release", 1);
        assert_eq!(
            w.complete(&acquire, &json!({"type": "acquire_ok"})),
            Outcome::Ok(Value::Null)
        );
        assert_eq!(
            w.complete(&release, &json!({"type": "release_ok"})),
            Outcome::Ok(Value::Null)
        );
        // The wrong type, or a field the schema does not have, may be
        // anything: info.
        for (req, reply) in [
            (&acquire, json!({"type": "release_ok"})),
            (&release, json!({"type": "acquire_ok"})),
            (&acquire, json!({"type": "acquire_ok", "holder": "x"})),
            (&acquire, json!("ok")),
        ] {
            assert!(
                matches!(w.complete(req, &reply), Outcome::Info(_)),
                "{reply}"
            );
        }
        // A definite error (Maelstrom's precondition-failed) did not
        // happen; an indefinite one (crash) may have.
        assert!(matches!(
            w.complete(&acquire, &json!({"type": "error", "code": 22})),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            w.complete(&release, &json!({"type": "error", "code": 13})),
            Outcome::Info(_)
        ));
        assert!(matches!(w.timeout(&acquire), Outcome::Info(_)));
        assert!(matches!(w.timeout(&release), Outcome::Info(_)));
    }
}
