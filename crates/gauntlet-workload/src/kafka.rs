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

use crate::keys::KeyPool;
use crate::rpc::{ErrorRule, Outcome, ReplySchema, malformed, timeout_outcome};
use crate::session::{Session, Step};
use crate::{Request, Workload};

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
    keys: KeyPool,
    shared: SharedState,
}

impl Kafka {
    pub(crate) fn new(options: &crate::WorkloadOptions) -> Kafka {
        Kafka {
            keys: KeyPool::new(options),
            shared: SharedState::default(),
        }
    }

    /// A key (an integer, sent as a string) and its next value.
    fn send(&mut self, rng: &mut dyn Rng) -> (String, u64) {
        let slot = self.keys.slot(rng);
        let (key, value) = self.keys.write_to(slot);
        (key.to_string(), value)
    }

    fn assign_keys(&self, rng: &mut dyn Rng) -> Vec<String> {
        let mut keys: BTreeSet<String> = self
            .keys
            .active()
            .iter()
            .filter(|_| rng.random_bool(0.5))
            .map(u64::to_string)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn kafka() -> Kafka {
        Kafka::new(&crate::WorkloadOptions::default())
    }

    fn call(step: Step) -> Value {
        match step {
            Step::Call(body) => body,
            other => panic!("expected a call, got {other:?}"),
        }
    }

    fn done(step: Step) -> Outcome {
        match step {
            Step::Done(outcome) => outcome,
            other => panic!("expected the end, got {other:?}"),
        }
    }

    #[test]
    fn the_generator_sends_unique_values_per_key_and_retires_keys() {
        let mut k = kafka();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        let mut per_key = BTreeMap::<String, u64>::new();
        let mut kinds = BTreeMap::<&str, usize>::new();
        for _ in 0..20_000 {
            let req = k.next(&mut rng);
            *kinds.entry(req.f).or_default() += 1;
            if req.f == "send" {
                let key = req.value[0][1].as_str().unwrap().to_owned();
                let value = req.value[0][2].as_u64().unwrap();
                assert!(seen.insert((key.clone(), value)), "{key} {value} twice");
                *per_key.entry(key).or_default() += 1;
            }
        }
        assert!(per_key.values().all(|&n| n <= 16), "{per_key:?}");
        assert!(per_key.len() > 100, "keys retire: {}", per_key.len());
        assert!(kinds["poll"] > 8_000 && kinds["send"] > 8_000, "{kinds:?}");
        assert!(kinds["assign"] > 100 && kinds["crash"] > 10, "{kinds:?}");
    }

    /// A send, then a poll that finds it: the poll moves the offsets past
    /// what it read and commits the highest offset read.
    #[test]
    fn poll_reads_from_the_assigned_offsets_then_commits() {
        let k = kafka();
        let mut s = KafkaClient::new(k.shared.clone());
        let send = op("send", json!([["send", "3", 1]]));
        assert_eq!(
            call(s.start(&send)),
            json!({"type": "send", "key": "3", "msg": 1})
        );
        let sent = s.reply(&send, Some(&json!({"type": "send_ok", "offset": 5})));
        assert_eq!(done(sent), Outcome::Ok(json!([["send", "3", [5, 1]]])));

        // Before any assign, a poll asks for nothing.
        let poll = op("poll", json!([["poll"]]));
        assert_eq!(call(s.start(&poll)), json!({"type": "poll", "offsets": {}}));
        let empty = s.reply(&poll, Some(&json!({"type": "poll_ok", "msgs": {}})));
        assert_eq!(done(empty), Outcome::Ok(json!([["poll", {}]])));

        let assign = op("assign", json!(["3"]));
        assert_eq!(
            call(s.start(&assign)),
            json!({"type": "list_committed_offsets", "keys": ["3"]})
        );
        let assigned = s.reply(
            &assign,
            Some(&json!({"type": "list_committed_offsets_ok", "offsets": {"3": 4}})),
        );
        assert_eq!(done(assigned), Outcome::Ok(json!(["3"])));

        assert_eq!(
            call(s.start(&poll)),
            json!({"type": "poll", "offsets": {"3": 4}})
        );
        let msgs = json!({"3": [[4, 9], [5, 1]]});
        let commit = call(s.reply(&poll, Some(&json!({"type": "poll_ok", "msgs": msgs}))));
        assert_eq!(
            commit,
            json!({"type": "commit_offsets", "offsets": {"3": 5}})
        );
        // A commit that times out does not undo the poll.
        assert_eq!(
            done(s.reply(&poll, None)),
            Outcome::Ok(json!([["poll", msgs]]))
        );
        assert_eq!(
            call(s.start(&poll)),
            json!({"type": "poll", "offsets": {"3": 6}})
        );
    }

    #[test]
    fn malformed_replies_and_errors_have_their_definiteness() {
        let k = kafka();
        let mut s = KafkaClient::new(k.shared.clone());
        let send = op("send", json!([["send", "1", 2]]));
        call(s.start(&send));
        // A send may have happened when it timed out; a definite error says
        // it did not.
        assert!(matches!(done(s.reply(&send, None)), Outcome::Info(_)));
        call(s.start(&send));
        let definite = json!({"type": "error", "code": 11});
        assert!(matches!(
            done(s.reply(&send, Some(&definite))),
            Outcome::Fail(_)
        ));

        let poll = op("poll", json!([["poll"]]));
        call(s.start(&poll));
        let bad = json!({"type": "poll_ok", "msgs": {"1": [[1]]}});
        assert!(matches!(done(s.reply(&poll, Some(&bad))), Outcome::Info(_)));
        call(s.start(&poll));
        // A poll only reads: an error or a timeout is a failure.
        assert!(matches!(done(s.reply(&poll, None)), Outcome::Fail(_)));
    }

    /// The final phase: a crash, an assign of every key from offset 0
    /// without an RPC, and polls until everything acknowledged is read;
    /// then the remaining polls are skipped, not recorded.
    #[test]
    fn final_polls_stop_once_everything_acknowledged_was_read() {
        let k = kafka();
        let mut sender = KafkaClient::new(k.shared.clone());
        let send = op("send", json!([["send", "0", 1]]));
        call(sender.start(&send));
        done(sender.reply(&send, Some(&json!({"type": "send_ok", "offset": 0}))));

        let finals = k.final_requests();
        assert_eq!(finals[0].f, "crash");
        assert_eq!(finals[1].f, "assign");
        assert_eq!(finals[1].value, json!(["0"]));
        assert_eq!(finals.len(), 2 + FINAL_POLLS);
        assert!(finals.iter().all(|r| r.is_final));

        let mut s = KafkaClient::new(k.shared.clone());
        assert_eq!(done(s.start(&finals[1])), Outcome::Ok(json!(["0"])));
        let poll = &finals[2];
        assert_eq!(
            call(s.start(poll)),
            json!({"type": "poll", "offsets": {"0": 0}})
        );
        let commit = s.reply(
            poll,
            Some(&json!({"type": "poll_ok", "msgs": {"0": [[0, 1]]}})),
        );
        call(commit);
        done(s.reply(poll, Some(&json!({"type": "commit_offsets_ok"}))));
        assert_eq!(s.start(&finals[3]), Step::Skip);

        // A client whose final poll went unanswered gives up on the rest.
        let mut late = KafkaClient::new(k.shared.clone());
        done(late.start(&finals[1]));
        call(late.start(poll));
        done(late.reply(poll, None));
        assert_eq!(late.start(&finals[3]), Step::Skip);
    }
}
