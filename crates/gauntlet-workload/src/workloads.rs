use rand::{Rng, RngExt};
use serde_json::{Value, json};

use crate::rpc::{ErrorRule, Outcome, ReplySchema, malformed, timeout_outcome};
use crate::txn::{Flavor, Txn};
use crate::{Request, Workload, WorkloadError, WorkloadOptions};

/// Every workload `workload` can build, in the order `--help` lists them.
pub const WORKLOAD_NAMES: [&str; 10] = [
    "echo",
    "unique-ids",
    "broadcast",
    "g-set",
    "g-counter",
    "pn-counter",
    "lin-kv",
    "txn-list-append",
    "txn-rw-register",
    "kafka",
];

/// Builds a workload by its Maelstrom name, with the generator's `options`
/// (checked first, whichever workload reads them, so a bad option is
/// refused the same way for every workload).
pub fn workload(name: &str, options: &WorkloadOptions) -> Result<Box<dyn Workload>, WorkloadError> {
    options.validate()?;
    Ok(match name {
        "echo" => Box::new(Echo),
        "unique-ids" => Box::new(UniqueIds),
        "broadcast" => Box::new(SetWorkload::broadcast()),
        "g-set" => Box::new(SetWorkload::g_set()),
        "g-counter" => Box::new(Counter { grow_only: true }),
        "pn-counter" => Box::new(Counter { grow_only: false }),
        "lin-kv" => Box::new(LinKv::default()),
        "txn-list-append" => Box::new(Txn::new(Flavor::ListAppend, options)),
        "txn-rw-register" => Box::new(Txn::new(Flavor::RwRegister, options)),
        "kafka" => Box::new(crate::kafka::Kafka::new(options)),
        _ => {
            return Err(WorkloadError::Unknown {
                name: name.to_owned(),
            });
        }
    })
}

pub(crate) fn request(f: &'static str, value: Value, body: Value) -> Request {
    Request {
        f,
        value,
        key: None,
        body,
        is_final: false,
    }
}

fn complete_with(
    schema: ReplySchema,
    rule: ErrorRule,
    reply: &Value,
    value: impl FnOnce(&serde_json::Map<String, Value>) -> Result<Value, String>,
) -> Outcome {
    match schema.judge(reply, rule) {
        Ok(body) => match value(body) {
            Ok(v) => Outcome::Ok(v),
            Err(why) => Outcome::Info(malformed(&why)),
        },
        Err(outcome) => outcome,
    }
}

/// `echo`: the node returns what it was sent.
struct Echo;

impl Workload for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn next(&mut self, rng: &mut dyn Rng) -> Request {
        let text = format!("Please echo {}", rng.random_range(0..128));
        request("echo", json!(text), json!({"type": "echo", "echo": text}))
    }
    fn complete(&self, _req: &Request, reply: &Value) -> Outcome {
        const SCHEMA: ReplySchema = ReplySchema {
            ok_type: "echo_ok",
            fields: &["echo"],
        };
        complete_with(
            SCHEMA,
            ErrorRule::Definite { idempotent: false },
            reply,
            |b| Ok(b["echo"].clone()),
        )
    }
    fn timeout(&self, _req: &Request) -> Outcome {
        timeout_outcome(ErrorRule::Definite { idempotent: false })
    }
}

/// `unique-ids`: every `generate` must return an id never returned before.
struct UniqueIds;

impl Workload for UniqueIds {
    fn name(&self) -> &'static str {
        "unique-ids"
    }
    fn next(&mut self, _rng: &mut dyn Rng) -> Request {
        request("generate", Value::Null, json!({"type": "generate"}))
    }
    fn complete(&self, _req: &Request, reply: &Value) -> Outcome {
        const SCHEMA: ReplySchema = ReplySchema {
            ok_type: "generate_ok",
            fields: &["id"],
        };
        complete_with(
            SCHEMA,
            ErrorRule::Definite { idempotent: false },
            reply,
            |b| Ok(b["id"].clone()),
        )
    }
    fn timeout(&self, _req: &Request) -> Outcome {
        timeout_outcome(ErrorRule::Definite { idempotent: false })
    }
}

/// `broadcast` and `g-set`: adds of unique integers mixed with reads of the
/// whole set, checked by set-full.
struct SetWorkload {
    name: &'static str,
    add_f: &'static str,
    add_field: &'static str,
    read_field: &'static str,
    rule: ErrorRule,
    next_element: u64,
}

impl SetWorkload {
    fn broadcast() -> SetWorkload {
        SetWorkload {
            name: "broadcast",
            add_f: "broadcast",
            add_field: "message",
            read_field: "messages",
            rule: ErrorRule::Definite { idempotent: false },
            next_element: 0,
        }
    }

    fn g_set() -> SetWorkload {
        SetWorkload {
            name: "g-set",
            add_f: "add",
            add_field: "element",
            read_field: "value",
            rule: ErrorRule::AlwaysInfo,
            next_element: 0,
        }
    }

    fn read_rule(&self) -> ErrorRule {
        match self.rule {
            ErrorRule::Definite { .. } => ErrorRule::Definite { idempotent: true },
            ErrorRule::AlwaysInfo => ErrorRule::AlwaysInfo,
        }
    }

    fn read(&self) -> Request {
        request("read", Value::Null, json!({"type": "read"}))
    }
}

impl Workload for SetWorkload {
    fn name(&self) -> &'static str {
        self.name
    }

    fn setup(&self, topology: &Value) -> Option<(Value, &'static str)> {
        (self.name == "broadcast").then(|| {
            (
                json!({"type": "topology", "topology": topology}),
                "topology_ok",
            )
        })
    }

    fn next(&mut self, rng: &mut dyn Rng) -> Request {
        if rng.random_bool(0.5) {
            let element = self.next_element;
            self.next_element += 1;
            let mut body = json!({"type": self.add_f});
            body[self.add_field] = json!(element);
            request(self.add_f, json!(element), body)
        } else {
            self.read()
        }
    }

    fn final_requests(&self) -> Vec<Request> {
        let mut read = self.read();
        read.is_final = true;
        vec![read]
    }

    fn complete(&self, req: &Request, reply: &Value) -> Outcome {
        if req.f == "read" {
            let fields: &'static [&'static str] = if self.read_field == "messages" {
                &["messages"]
            } else {
                &["value"]
            };
            let schema = ReplySchema {
                ok_type: "read_ok",
                fields,
            };
            let field = self.read_field;
            complete_with(schema, self.read_rule(), reply, |b| match &b[field] {
                v @ Value::Array(_) => Ok(v.clone()),
                other => Err(format!("read_ok {field:?} is not an array: {other}")),
            })
        } else {
            let schema = ReplySchema {
                ok_type: if self.add_f == "broadcast" {
                    "broadcast_ok"
                } else {
                    "add_ok"
                },
                fields: &[],
            };
            complete_with(schema, self.rule, reply, |_| Ok(req.value.clone()))
        }
    }

    fn timeout(&self, req: &Request) -> Outcome {
        timeout_outcome(if req.f == "read" {
            self.read_rule()
        } else {
            self.rule
        })
    }
}

/// `g-counter` and `pn-counter`: adds of small deltas mixed with reads; only
/// final reads are judged.
struct Counter {
    grow_only: bool,
}

impl Workload for Counter {
    fn name(&self) -> &'static str {
        if self.grow_only {
            "g-counter"
        } else {
            "pn-counter"
        }
    }

    fn next(&mut self, rng: &mut dyn Rng) -> Request {
        if rng.random_bool(0.5) {
            let delta: i64 = if self.grow_only {
                rng.random_range(0..5)
            } else {
                rng.random_range(-5..5)
            };
            request("add", json!(delta), json!({"type": "add", "delta": delta}))
        } else {
            request("read", Value::Null, json!({"type": "read"}))
        }
    }

    fn final_requests(&self) -> Vec<Request> {
        let mut read = request("read", Value::Null, json!({"type": "read"}));
        read.is_final = true;
        vec![read]
    }

    fn complete(&self, req: &Request, reply: &Value) -> Outcome {
        if req.f == "read" {
            const SCHEMA: ReplySchema = ReplySchema {
                ok_type: "read_ok",
                fields: &["value"],
            };
            complete_with(
                SCHEMA,
                ErrorRule::AlwaysInfo,
                reply,
                |b| match &b["value"] {
                    v if v.is_i64() => Ok(v.clone()),
                    other => Err(format!("read_ok value is not an integer: {other}")),
                },
            )
        } else {
            const SCHEMA: ReplySchema = ReplySchema {
                ok_type: "add_ok",
                fields: &[],
            };
            complete_with(SCHEMA, ErrorRule::AlwaysInfo, reply, |_| {
                Ok(req.value.clone())
            })
        }
    }

    fn timeout(&self, _req: &Request) -> Outcome {
        timeout_outcome(ErrorRule::AlwaysInfo)
    }
}

/// `lin-kv`: reads, writes and compare-and-sets of small integers on keys
/// 0, 1, 2, ..., checked for linearizability key by key. A key retires after
/// [`LinKv::OPS_PER_KEY`] operations, so no single key's history grows too
/// concurrent and long to check (Jepsen retires keys after 20 processes).
#[derive(Default)]
struct LinKv {
    key: u64,
    ops_on_key: u64,
}

impl LinKv {
    const OPS_PER_KEY: u64 = 200;
}

impl Workload for LinKv {
    fn name(&self) -> &'static str {
        "lin-kv"
    }

    fn next(&mut self, rng: &mut dyn Rng) -> Request {
        if self.ops_on_key == Self::OPS_PER_KEY {
            self.key += 1;
            self.ops_on_key = 0;
        }
        self.ops_on_key += 1;
        // Half reads, a quarter each writes and compare-and-sets.
        let op = match rng.random_range(0..4) {
            0 | 1 => KvOp::Read,
            2 => KvOp::Write,
            _ => KvOp::Cas,
        };
        kv_request(op, self.key, rng)
    }

    fn complete(&self, req: &Request, reply: &Value) -> Outcome {
        complete_kv(req, reply)
    }

    fn timeout(&self, req: &Request) -> Outcome {
        timeout_kv(req)
    }
}

/// A key-value operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KvOp {
    Read,
    Write,
    Cas,
}

/// The request of `op` on `key`: values (and a cas's pair) drawn from
/// `0..5`, so that writes collide and compare-and-sets sometimes match.
pub(crate) fn kv_request(op: KvOp, key: u64, rng: &mut dyn Rng) -> Request {
    let mut req = match op {
        KvOp::Read => request("read", Value::Null, json!({"type": "read", "key": key})),
        KvOp::Write => {
            let v = rng.random_range(0..5);
            request(
                "write",
                json!(v),
                json!({"type": "write", "key": key, "value": v}),
            )
        }
        KvOp::Cas => {
            let (from, to) = (rng.random_range(0..5), rng.random_range(0..5));
            request(
                "cas",
                json!([from, to]),
                json!({"type": "cas", "key": key, "from": from, "to": to}),
            )
        }
    };
    req.key = Some(json!(key));
    req
}

/// The completion of a key-value `read`, `write` or `cas` (lin-kv's
/// replies; the cluster registers judge their clients' answers by them).
pub(crate) fn complete_kv(req: &Request, reply: &Value) -> Outcome {
    let rule = ErrorRule::Definite {
        idempotent: req.f == "read",
    };
    match req.f {
        "read" => {
            const SCHEMA: ReplySchema = ReplySchema {
                ok_type: "read_ok",
                fields: &["value"],
            };
            complete_with(SCHEMA, rule, reply, |b| Ok(b["value"].clone()))
        }
        "write" => {
            const SCHEMA: ReplySchema = ReplySchema {
                ok_type: "write_ok",
                fields: &[],
            };
            complete_with(SCHEMA, rule, reply, |_| Ok(req.value.clone()))
        }
        _ => {
            const SCHEMA: ReplySchema = ReplySchema {
                ok_type: "cas_ok",
                fields: &[],
            };
            complete_with(SCHEMA, rule, reply, |_| Ok(req.value.clone()))
        }
    }
}

/// A key-value op without a reply: a read changed nothing, a write or cas
/// may have happened.
pub(crate) fn timeout_kv(req: &Request) -> Outcome {
    timeout_outcome(ErrorRule::Definite {
        idempotent: req.f == "read",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(1)
    }

    fn build(name: &str) -> Box<dyn Workload> {
        workload(name, &WorkloadOptions::default()).unwrap()
    }

    #[test]
    fn every_listed_workload_builds() {
        for name in WORKLOAD_NAMES {
            assert_eq!(build(name).name(), name);
        }
        let e = workload("kafka-ish", &WorkloadOptions::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("txn-rw-register"), "{e}");
        let bad = WorkloadOptions {
            max_txn_length: 0,
            ..WorkloadOptions::default()
        };
        assert_eq!(
            workload("echo", &bad).err(),
            Some(WorkloadError::OutOfRange {
                option: "--max-txn-length",
                value: 0,
                max: WorkloadOptions::MAX_TXN_LENGTH as u64
            })
        );
    }

    #[test]
    fn echo_accepts_the_echo_and_rejects_extra_keys() {
        let mut w = build("echo");
        let req = w.next(&mut rng());
        let text = req.value.clone();
        assert_eq!(req.body["echo"], text);
        let ok = json!({"type": "echo_ok", "in_reply_to": 1, "echo": text});
        assert_eq!(w.complete(&req, &ok), Outcome::Ok(text.clone()));
        let extra = json!({"type": "echo_ok", "in_reply_to": 1, "echo": text, "x": 1});
        assert!(
            matches!(w.complete(&req, &extra), Outcome::Info(e) if e[1].as_str().unwrap().contains("\"x\""))
        );
        let wrong_type = json!({"type": "echo", "echo": text});
        assert!(matches!(w.complete(&req, &wrong_type), Outcome::Info(_)));
        let missing = json!({"type": "echo_ok"});
        assert!(matches!(w.complete(&req, &missing), Outcome::Info(_)));
        assert!(matches!(w.timeout(&req), Outcome::Info(_)));
    }

    #[test]
    fn errors_follow_definiteness_and_idempotence() {
        let w = build("broadcast");
        let add = request("broadcast", json!(1), json!({}));
        let read = request("read", Value::Null, json!({}));
        let definite = json!({"type": "error", "code": 11, "text": "no quorum"});
        let indefinite = json!({"type": "error", "code": 13});
        assert_eq!(
            w.complete(&add, &definite),
            Outcome::Fail(json!(["temporarily-unavailable", "no quorum"]))
        );
        assert!(matches!(w.complete(&add, &indefinite), Outcome::Info(_)));
        // Reads are idempotent: any error, and a timeout, is a fail.
        assert!(matches!(w.complete(&read, &indefinite), Outcome::Fail(_)));
        assert!(matches!(w.timeout(&read), Outcome::Fail(_)));
        assert!(matches!(w.timeout(&add), Outcome::Info(_)));
    }

    #[test]
    fn counters_treat_every_error_as_indefinite() {
        let w = build("pn-counter");
        let add = request("add", json!(3), json!({}));
        let definite = json!({"type": "error", "code": 22});
        assert!(matches!(w.complete(&add, &definite), Outcome::Info(_)));
        let read = request("read", Value::Null, json!({}));
        assert_eq!(
            w.complete(&read, &json!({"type": "read_ok", "value": 7})),
            Outcome::Ok(json!(7))
        );
        assert!(matches!(
            w.complete(&read, &json!({"type": "read_ok", "value": "7"})),
            Outcome::Info(_)
        ));
    }

    #[test]
    fn set_adds_are_unique_and_deltas_in_range() {
        let mut w = build("g-set");
        let mut r = rng();
        let adds: Vec<Value> = (0..200)
            .map(|_| w.next(&mut r))
            .filter(|q| q.f == "add")
            .map(|q| q.body["element"].clone())
            .collect();
        assert!(adds.len() > 50);
        let mut sorted = adds.clone();
        sorted.dedup();
        assert_eq!(sorted, adds);
        let mut g = build("g-counter");
        for _ in 0..200 {
            let q = g.next(&mut r);
            if q.f == "add" {
                assert!((0..5).contains(&q.value.as_i64().unwrap()));
            }
        }
        assert!(
            g.final_requests()
                .iter()
                .all(|q| q.is_final && q.f == "read")
        );
    }

    #[test]
    fn lin_kv_keys_rotate_and_errors_are_definite() {
        let mut w = build("lin-kv");
        let mut r = rng();
        let reqs: Vec<Request> = (0..450).map(|_| w.next(&mut r)).collect();
        assert_eq!(reqs[0].key, Some(json!(0)));
        assert_eq!(reqs[199].key, Some(json!(0)));
        assert_eq!(reqs[200].key, Some(json!(1)));
        assert_eq!(reqs[449].key, Some(json!(2)));
        let cas = reqs.iter().find(|q| q.f == "cas").unwrap();
        assert_eq!(cas.body["from"], cas.value[0]);
        assert_eq!(cas.body["key"], cas.key.clone().unwrap());
        let mismatch = json!({"type": "error", "code": 22, "text": "current value 1 is not 2"});
        assert!(matches!(w.complete(cas, &mismatch), Outcome::Fail(_)));
        let crash = json!({"type": "error", "code": 13});
        assert!(matches!(w.complete(cas, &crash), Outcome::Info(_)));
        let read = reqs.iter().find(|q| q.f == "read").unwrap();
        assert_eq!(
            w.complete(read, &json!({"type": "read_ok", "value": 3})),
            Outcome::Ok(json!(3))
        );
        assert!(matches!(w.timeout(read), Outcome::Fail(_)));
        assert!(matches!(w.timeout(cas), Outcome::Info(_)));
    }

    #[test]
    fn broadcast_read_needs_an_array() {
        let w = build("broadcast");
        let read = request("read", Value::Null, json!({}));
        assert_eq!(
            w.complete(&read, &json!({"type": "read_ok", "messages": [1, 2]})),
            Outcome::Ok(json!([1, 2]))
        );
        assert!(matches!(
            w.complete(&read, &json!({"type": "read_ok", "messages": 3})),
            Outcome::Info(_)
        ));
        let (body, reply) = w.setup(&json!({"n0": ["n1"]})).unwrap();
        assert_eq!(body["topology"]["n0"], json!(["n1"]));
        assert_eq!(reply, "topology_ok");
        assert!(build("g-set").setup(&json!({})).is_none());
    }
}
