//! Maelstrom's `kafka` workload: append-only logs by string key, polled
//! by clients that remember their offsets (§3.9 of the research notes).
//!
//! History shapes follow Jepsen's kafka test, so its checker's ideas carry
//! over: a `send` op's value is `[["send", k, v]]`, completed as
//! `[["send", k, [offset, v]]]`; a `poll` is `[["poll"]]`, completed as
//! `[["poll", {k: [[offset, v], ...]}]]`; an `assign` carries its keys; a
//! `crash` is `info` and replaces the client.
//!
//! The client ([`KafkaClient`]) is a [`Session`]: `poll` sends the offsets
//! it holds for its assigned keys, moves each to one past the highest
//! returned, then commits the highest polled offset of each key (a failed
//! commit does not undo the poll). `assign` asks `list_committed_offsets`
//! and starts each key at what it already knew, else the committed offset,
//! else 0; the final phase's assign seeks every key to 0 without an RPC.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rand::{Rng, RngExt};
use serde_json::{Map, Value, json};

use crate::rpc::{ErrorRule, Outcome, ReplySchema, malformed, timeout_outcome};
use crate::session::{Session, Step};
use crate::{Request, Workload};

/// Active keys at a time (Maelstrom's default).
const KEY_COUNT: u64 = 10;
/// Sends to a key before it retires and the next new key takes its place.
const SENDS_PER_KEY: u64 = 16;
/// One op in this many is an `assign` (Jepsen's 1/64).
const ASSIGN_EVERY: u64 = 64;
/// One op in this many is a client crash. Jepsen staggers crashes at a mean
/// of 30 s / concurrency; the generator has no clock, so a fixed share.
const CRASH_EVERY: u64 = 500;
/// Polls each client makes at most in the final phase; a client stops
/// early once it has read up to every acknowledged send, or after a poll
/// that got no answer.
const FINAL_POLLS: usize = 20;

/// What the generator and every client share: the keys in use and the
/// highest offset known for each (from acknowledged sends and polls).
#[derive(Debug, Default)]
struct Shared {
    highest: BTreeMap<String, u64>,
    /// Keys sent to and not yet polled by anyone.
    unpolled: BTreeSet<String>,
}

type SharedState = Arc<Mutex<Shared>>;

fn lock(shared: &SharedState) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The generator: Jepsen's kafka workload without transactions.
pub(crate) struct Kafka {
    /// The lowest active key; active keys are `base..base + KEY_COUNT`,
    /// each with its own count of sends, retired in order.
    active: Vec<(u64, u64)>,
    next_key: u64,
    shared: SharedState,
}

impl Default for Kafka {
    fn default() -> Kafka {
        Kafka {
            active: (0..KEY_COUNT).map(|k| (k, 0)).collect(),
            next_key: KEY_COUNT,
            shared: SharedState::default(),
        }
    }
}

impl Kafka {
    /// A key from the active ones, the first ones exponentially more often
    /// (Jepsen's exponential distribution, base 2), and its next value.
    fn send(&mut self, rng: &mut dyn Rng) -> (String, u64) {
        let mut slot = 0;
        while slot + 1 < self.active.len() && rng.random_bool(0.5) {
            slot += 1;
        }
        let (key, sent) = &mut self.active[slot];
        *sent += 1;
        let (key, value) = (key.to_string(), *sent);
        if *sent == SENDS_PER_KEY {
            self.active[slot] = (self.next_key, 0);
            self.next_key += 1;
        }
        (key, value)
    }

    fn assign_keys(&self, rng: &mut dyn Rng) -> Vec<String> {
        let mut keys: BTreeSet<String> = self
            .active
            .iter()
            .filter(|_| rng.random_bool(0.5))
            .map(|(k, _)| k.to_string())
            .collect();
        if rng.random_range(0..3) == 0 {
            keys.extend(lock(&self.shared).unpolled.iter().cloned());
        }
        keys.into_iter().collect()
    }
}

fn op(f: &'static str, value: Value) -> Request {
    Request {
        f,
        value,
        key: None,
        // The client builds each RPC itself.
        body: Value::Null,
        is_final: false,
    }
}

impl Workload for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn next(&mut self, rng: &mut dyn Rng) -> Request {
        if rng.random_range(0..CRASH_EVERY) == 0 {
            return op("crash", Value::Null);
        }
        if rng.random_range(0..ASSIGN_EVERY) == 0 {
            return op("assign", json!(self.assign_keys(rng)));
        }
        if rng.random_bool(0.5) {
            let (key, value) = self.send(rng);
            op("send", json!([["send", key, value]]))
        } else {
            op("poll", json!([["poll"]]))
        }
    }

    /// Each client crashes, assigns every key seeking to the beginning,
    /// and polls until it has read everything acknowledged.
    fn final_requests(&self) -> Vec<Request> {
        let keys: Vec<String> = lock(&self.shared).highest.keys().cloned().collect();
        let mut finals = vec![op("crash", Value::Null), op("assign", json!(keys))];
        finals.extend((0..FINAL_POLLS).map(|_| op("poll", json!([["poll"]]))));
        for r in &mut finals {
            r.is_final = true;
        }
        finals
    }

    // Every kafka op goes through a session; these answer only a caller
    // that ignores `session`, honestly: nothing was judged.
    fn complete(&self, _req: &Request, _reply: &Value) -> Outcome {
        Outcome::Info(malformed("kafka ops are performed by a session"))
    }

    fn timeout(&self, _req: &Request) -> Outcome {
        Outcome::Info(json!("net-timeout"))
    }

    fn session(&self) -> Option<Box<dyn Session>> {
        Some(Box::new(KafkaClient::new(self.shared.clone())))
    }
}

/// Where a client is within its current operation.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    None,
    Send {
        key: String,
        value: Value,
    },
    Poll,
    /// The poll's result, while its offsets are committed.
    Commit {
        result: Value,
    },
    Assign {
        keys: Vec<String>,
    },
}

/// One kafka client (one Jepsen process).
pub(crate) struct KafkaClient {
    assigned: BTreeSet<String>,
    /// The next offset to poll from, per key.
    next: BTreeMap<String, u64>,
    pending: Pending,
    /// A final poll got no answer: the rest of the final polls are skipped.
    gave_up: bool,
    shared: SharedState,
}

impl KafkaClient {
    fn new(shared: SharedState) -> KafkaClient {
        KafkaClient {
            assigned: BTreeSet::new(),
            next: BTreeMap::new(),
            pending: Pending::None,
            gave_up: false,
            shared,
        }
    }

    /// Has this client polled past every acknowledged send?
    fn caught_up(&self) -> bool {
        lock(&self.shared).highest.iter().all(|(k, &high)| {
            self.assigned.contains(k) && self.next.get(k).is_some_and(|&n| n > high)
        })
    }

    fn call(&mut self, pending: Pending, body: Value) -> Step {
        self.pending = pending;
        Step::Call(body)
    }

    fn finish(&mut self, outcome: Outcome) -> Step {
        self.pending = Pending::None;
        Step::Done(outcome)
    }

    fn start_poll(&mut self, req: &Request) -> Step {
        if req.is_final && (self.gave_up || self.caught_up()) {
            return Step::Skip;
        }
        let offsets: Map<String, Value> = self
            .assigned
            .iter()
            .map(|k| (k.clone(), json!(self.next.get(k).copied().unwrap_or(0))))
            .collect();
        self.call(Pending::Poll, json!({"type": "poll", "offsets": offsets}))
    }

    fn start_assign(&mut self, req: &Request) -> Step {
        let keys: Vec<String> = req
            .value
            .as_array()
            .map(|ks| {
                ks.iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if req.is_final {
            // Seek to the beginning: no RPC.
            self.assigned = keys.iter().cloned().collect();
            for k in &keys {
                self.next.insert(k.clone(), 0);
            }
            return self.finish(Outcome::Ok(req.value.clone()));
        }
        self.call(
            Pending::Assign { keys: keys.clone() },
            json!({"type": "list_committed_offsets", "keys": keys}),
        )
    }

    fn sent(&mut self, reply: &Value, key: String, value: Value) -> Step {
        const SCHEMA: ReplySchema = ReplySchema {
            ok_type: "send_ok",
            fields: &["offset"],
        };
        let rule = ErrorRule::Definite { idempotent: false };
        let outcome = match SCHEMA.judge(reply, rule) {
            Ok(body) => match body["offset"].as_u64() {
                Some(offset) => {
                    let mut shared = lock(&self.shared);
                    let high = shared.highest.entry(key.clone()).or_insert(offset);
                    *high = (*high).max(offset);
                    shared.unpolled.insert(key.clone());
                    Outcome::Ok(json!([["send", key, [offset, value]]]))
                }
                None => Outcome::Info(malformed("send_ok's offset is not a whole number")),
            },
            Err(outcome) => outcome,
        };
        self.finish(outcome)
    }

    fn polled(&mut self, reply: &Value) -> Step {
        const SCHEMA: ReplySchema = ReplySchema {
            ok_type: "poll_ok",
            fields: &["msgs"],
        };
        // A poll only reads: any error is a definite failure.
        let rule = ErrorRule::Definite { idempotent: true };
        let body = match SCHEMA.judge(reply, rule) {
            Ok(body) => body,
            Err(outcome) => return self.finish(outcome),
        };
        let msgs = match poll_msgs(&body["msgs"]) {
            Ok(msgs) => msgs,
            Err(why) => return self.finish(Outcome::Info(malformed(&why))),
        };
        let mut commit = Map::new();
        {
            let mut shared = lock(&self.shared);
            for (key, pairs) in &msgs {
                if let Some(high) = pairs.iter().map(|(o, _)| *o).max() {
                    self.next.insert(key.clone(), high + 1);
                    commit.insert(key.clone(), json!(high));
                    let known = shared.highest.entry(key.clone()).or_insert(high);
                    *known = (*known).max(high);
                    shared.unpolled.remove(key);
                }
            }
        }
        let result = json!([["poll", body["msgs"].clone()]]);
        if commit.is_empty() {
            return self.finish(Outcome::Ok(result));
        }
        self.call(
            Pending::Commit { result },
            json!({"type": "commit_offsets", "offsets": commit}),
        )
    }

    fn assigned_keys(&mut self, reply: &Value, keys: Vec<String>) -> Step {
        const SCHEMA: ReplySchema = ReplySchema {
            ok_type: "list_committed_offsets_ok",
            fields: &["offsets"],
        };
        let rule = ErrorRule::Definite { idempotent: true };
        let body = match SCHEMA.judge(reply, rule) {
            Ok(body) => body,
            Err(outcome) => return self.finish(outcome),
        };
        let Some(committed) = body["offsets"].as_object() else {
            return self.finish(Outcome::Info(malformed(
                "list_committed_offsets_ok's offsets is not an object",
            )));
        };
        for key in &keys {
            if self.next.contains_key(key) {
                continue;
            }
            let start = committed.get(key).and_then(Value::as_u64).unwrap_or(0);
            self.next.insert(key.clone(), start);
        }
        self.assigned = keys.into_iter().collect();
        let value = json!(self.assigned.iter().collect::<Vec<_>>());
        self.finish(Outcome::Ok(value))
    }
}

/// A `poll_ok`'s msgs: `{key: [[offset, msg], ...]}`.
fn poll_msgs(msgs: &Value) -> Result<BTreeMap<String, Vec<(u64, Value)>>, String> {
    let map = msgs.as_object().ok_or("poll_ok's msgs is not an object")?;
    let mut out = BTreeMap::new();
    for (key, pairs) in map {
        let pairs = pairs
            .as_array()
            .ok_or_else(|| format!("poll_ok's msgs for key {key:?} is not an array"))?;
        let mut list = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match pair.as_array().map(Vec::as_slice) {
                Some([offset, msg]) if offset.as_u64().is_some() => {
                    list.push((offset.as_u64().unwrap_or_default(), msg.clone()));
                }
                _ => {
                    return Err(format!(
                        "poll_ok's msgs for key {key:?} holds {pair}, not an [offset, msg] pair"
                    ));
                }
            }
        }
        out.insert(key.clone(), list);
    }
    Ok(out)
}

impl Session for KafkaClient {
    fn start(&mut self, req: &Request) -> Step {
        match req.f {
            "send" => {
                let (key, value) = match req.value.pointer("/0") {
                    Some(Value::Array(mop)) if mop.len() == 3 => (
                        mop[1].as_str().unwrap_or_default().to_owned(),
                        mop[2].clone(),
                    ),
                    _ => return self.finish(Outcome::Fail(json!("malformed send request"))),
                };
                let body = json!({"type": "send", "key": key, "msg": value});
                self.call(Pending::Send { key, value }, body)
            }
            "poll" => self.start_poll(req),
            "assign" => self.start_assign(req),
            // A crash: the worker records it as info and starts a new client.
            _ => self.finish(Outcome::Info(json!("crash"))),
        }
    }

    fn reply(&mut self, req: &Request, reply: Option<&Value>) -> Step {
        let pending = std::mem::replace(&mut self.pending, Pending::None);
        let Some(reply) = reply else {
            return match pending {
                // A commit that timed out: the poll still happened.
                Pending::Commit { result } => self.finish(Outcome::Ok(result)),
                Pending::Poll | Pending::Assign { .. } => {
                    if req.is_final {
                        self.gave_up = true;
                    }
                    self.finish(timeout_outcome(ErrorRule::Definite { idempotent: true }))
                }
                _ => self.finish(timeout_outcome(ErrorRule::Definite { idempotent: false })),
            };
        };
        match pending {
            Pending::Send { key, value } => self.sent(reply, key, value),
            Pending::Poll => self.polled(reply),
            Pending::Commit { result } => self.finish(Outcome::Ok(result)),
            Pending::Assign { keys } => self.assigned_keys(reply, keys),
            Pending::None => self.finish(Outcome::Info(malformed("a reply nobody waited for"))),
        }
    }
}
