//! Jepsen's kafka checker (`jepsen.tests.kafka/checker`) for Maelstrom's
//! `kafka` workload, sans-IO: a history in, a [`CheckResult`] out.
//!
//! History shapes (see `gauntlet-workload`'s kafka module): a `send` is
//! `[["send", k, v]]`, completed ok as `[["send", k, [offset, v]]]`; a
//! `poll` completes as `[["poll", {k: [[offset, v], ...]}]]`; an `assign`
//! carries its keys; an `info` op ends its process (the next op of that
//! worker has another process number); final-phase ops carry `"final"`.
//!
//! As in Jepsen, every send and poll contributes to each key's version
//! order (offset → messages): ok sends, `info` sends proven visible by an
//! ok poll, and every poll. Offsets may have holes; an *index* is a
//! position in the dense order. From that:
//!
//! * `inconsistent-offsets`: one offset of a key holding several messages;
//! * `duplicate`: one message at several offsets;
//! * `G1a`: an ok poll read a message whose send failed;
//! * `lost-write`: an acknowledged message at an index at or below the
//!   highest index some ok poll read, never read by any ok poll;
//! * `poll-skip` / `nonmonotonic-poll`: a process's consecutive ok polls of
//!   a key jump over known messages / start at or before where the last one
//!   ended (an `assign` forgets the keys it drops; a poll that returned
//!   nothing for a key says nothing about it);
//! * `int-poll-skip` / `int-nonmonotonic-poll`: the same within one poll's
//!   list for a key;
//! * `nonmonotonic-send` / `int-send-skip` / `int-nonmonotonic-send`: a
//!   process's (or one op's) sends to a key going backwards / skipping;
//! * `unseen`: acknowledged messages the final phase's polls did not read
//!   although they read past the message's offset. Judged on the final
//!   phase's ok polls only (all ok polls when the history has no final
//!   phase). A key the final polls never caught up on is reported under
//!   `final-polls` and makes the verdict `unknown` for its unread messages,
//!   never invalid: nothing read proves them lost;
//! * `G0`, `G1c` and their `-process`/`-realtime` variants: cycles over ww
//!   (offset order of sends) and wr (a send to the highest message a poll
//!   read) edges plus process and real-time order, found by this crate's
//!   list-append analysis on a translation of the history (sends are
//!   appends, an ok poll reads the key's log up to the highest message it
//!   read). Keys with inconsistent offsets or duplicates are left out of
//!   it, since their order is not one list. rw edges are not used (a poll
//!   does not claim the log ends where its batch does), so only these
//!   classes are reported. The search treats G0 as implying G1c (Elle's
//!   lattice), so a component that holds a G0 cycle of one family is not
//!   searched for G1c of that family: a G1c hidden behind an allowed G0 in
//!   the same component goes unreported.
//!
//! Allowed (reported, but not failing) types are Jepsen's: `int-send-skip`,
//! `G0`, `G0-process`, `G0-realtime`. `precommitted-read` needs
//! transactions, which this workload does not have.
//!
//! Result: `valid`, `error-types` and `bad-error-types` (sorted), for each
//! type `{count, errs}` with the first [`ERRS_PER_TYPE`] examples (op
//! indices, keys, offsets, messages), `unseen` in Jepsen's shape,
//! `final-polls`, counts of sends and polls, and evidence (the first few
//! examples of each bad type). Nothing sent and acknowledged: `unknown`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gauntlet_check::{CheckInput, CheckResult, Checker, Validity};
use gauntlet_history::{Op, OpType, Process};
use serde_json::{Map, Value, json};

use crate::{Options, Workload};

/// Error types that do not make a history invalid (Jepsen's
/// `allowed-error-types` without subscribe or ww-deps).
pub const ALLOWED_ERROR_TYPES: &[&str] = &[
    "int-send-skip",
    "G0",
    "G0-process",
    "G0-realtime",
    "PL-1-cycle-exists",
    "strong-PL-1-cycle-exists",
];

/// Examples kept per error type in the result.
pub const ERRS_PER_TYPE: usize = 8;

/// Examples of each bad type copied into the evidence.
const EVIDENCE_PER_TYPE: usize = 4;

/// Unseen messages listed per key.
const UNSEEN_PER_KEY: usize = 32;

/// The `kafka` checker by name.
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaChecker;

impl Checker for KafkaChecker {
    fn name(&self) -> &str {
        "kafka"
    }

    fn check(&self, input: &CheckInput<'_>) -> CheckResult {
        check(input.history)
    }
}

type Key = String;
/// A message, as its JSON text (so any JSON value can be compared).
type Msg = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fun {
    Send,
    Poll,
    Assign,
}

/// One completed kafka op.
#[derive(Debug)]
struct KOp {
    /// Position in the history slice.
    pos: usize,
    index: u64,
    process: u64,
    kind: OpType,
    f: Fun,
    is_final: bool,
    /// (key, offset if known, message), in micro-op order.
    sends: Vec<(Key, Option<u64>, Msg)>,
    /// key → [(offset, message)] as polled.
    polls: BTreeMap<Key, Vec<(Option<u64>, Msg)>>,
    assign: BTreeSet<Key>,
}

impl KOp {
    /// Messages written per key, in order.
    fn writes(&self) -> BTreeMap<&Key, Vec<&Msg>> {
        let mut out: BTreeMap<&Key, Vec<&Msg>> = BTreeMap::new();
        for (k, _, m) in &self.sends {
            out.entry(k).or_default().push(m);
        }
        out
    }
}

fn key_of(v: &Value) -> Key {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn msg_value(m: &str) -> Value {
    serde_json::from_str(m).unwrap_or_else(|_| Value::String(m.to_owned()))
}

/// Parses a completion; `Err` names what is malformed.
fn parse_op(pos: usize, op: &Op) -> Result<Option<KOp>, String> {
    let Process::Client(process) = op.process else {
        return Ok(None);
    };
    if op.kind == OpType::Invoke {
        return Ok(None);
    }
    let f = match op.f.as_str() {
        "send" => Fun::Send,
        "poll" => Fun::Poll,
        "assign" => Fun::Assign,
        _ => return Ok(None),
    };
    let mut k = KOp {
        pos,
        index: op.index,
        process,
        kind: op.kind,
        f,
        is_final: op.is_final,
        sends: Vec::new(),
        polls: BTreeMap::new(),
        assign: BTreeSet::new(),
    };
    if f == Fun::Assign {
        if let Some(keys) = op.value.as_array() {
            k.assign = keys.iter().map(key_of).collect();
        }
        return Ok(Some(k));
    }
    let Some(mops) = op.value.as_array() else {
        return Err(format!(
            "a {} whose value is not a list: {}",
            op.f, op.value
        ));
    };
    for mop in mops {
        match mop.as_array().map(Vec::as_slice) {
            Some([f, key, v]) if f == "send" => {
                // Jepsen: a vector is an [offset, message] pair.
                let (offset, msg) = match v.as_array().map(Vec::as_slice) {
                    Some([o, m]) if o.is_u64() || o.is_null() => (o.as_u64(), m),
                    _ => (None, v),
                };
                k.sends.push((key_of(key), offset, msg.to_string()));
            }
            Some([f, polled]) if f == "poll" => {
                let Some(map) = polled.as_object() else {
                    return Err(format!("a poll result that is not an object: {polled}"));
                };
                for (key, pairs) in map {
                    let Some(pairs) = pairs.as_array() else {
                        return Err(format!("poll of key {key}: {pairs} is not a list"));
                    };
                    let mut list = Vec::with_capacity(pairs.len());
                    for pair in pairs {
                        match pair.as_array().map(Vec::as_slice) {
                            Some([o, m]) if o.is_u64() || o.is_null() => {
                                list.push((o.as_u64(), m.to_string()));
                            }
                            _ => {
                                return Err(format!(
                                    "poll of key {key}: {pair} is not an [offset, message] pair"
                                ));
                            }
                        }
                    }
                    k.polls.entry(key.clone()).or_default().extend(list);
                }
            }
            // An invoke-shaped [["poll"]] (a failed or info poll).
            Some([f]) if f == "poll" => {}
            _ => return Err(format!("a micro-op that is neither send nor poll: {mop}")),
        }
    }
    Ok(Some(k))
}

/// One key's version order.
#[derive(Debug, Default)]
struct Order {
    /// offset → the messages seen there.
    log: BTreeMap<u64, BTreeSet<Msg>>,
    /// Dense index → (offset, a message there).
    by_index: Vec<(u64, Msg)>,
    /// Message → the last index it appears at.
    by_value: HashMap<Msg, usize>,
    /// Message → the first index it appears at.
    first_index: HashMap<Msg, usize>,
}

impl Order {
    fn finish(&mut self) {
        for (i, (&offset, msgs)) in self.log.iter().enumerate() {
            if let Some(first) = msgs.iter().next() {
                self.by_index.push((offset, first.clone()));
            }
            for m in msgs {
                self.by_value.insert(m.clone(), i);
                self.first_index.entry(m.clone()).or_insert(i);
            }
        }
    }

    /// Whether the order is one list: no offset with two messages, no
    /// message at two offsets.
    fn clean(&self) -> bool {
        self.log.values().all(|m| m.len() == 1) && self.by_value.len() == self.log.len()
    }

    /// `index2 - index1`, 1 when either is unknown (Jepsen's delta).
    fn delta(&self, a: &Msg, b: &Msg) -> i64 {
        match (self.by_value.get(a), self.by_value.get(b)) {
            (Some(&i), Some(&j)) => j as i64 - i as i64,
            _ => 1,
        }
    }

    fn skipped(&self, a: &Msg, b: &Msg) -> Vec<Value> {
        let (Some(&i), Some(&j)) = (self.by_value.get(a), self.by_value.get(b)) else {
            return Vec::new();
        };
        self.by_index[i + 1..j]
            .iter()
            .take(ERRS_PER_TYPE)
            .map(|(o, m)| json!([o, msg_value(m)]))
            .collect()
    }

    fn offset_of(&self, m: &Msg) -> Option<u64> {
        self.by_value.get(m).map(|&i| self.by_index[i].0)
    }
}

/// The errors found, by type, each with its examples in history order.
#[derive(Debug, Default)]
struct Errors {
    by_type: BTreeMap<String, (usize, Vec<Value>)>,
}

impl Errors {
    fn add(&mut self, kind: &str, err: Value) {
        let e = self.by_type.entry(kind.to_owned()).or_default();
        e.0 += 1;
        if e.1.len() < ERRS_PER_TYPE {
            e.1.push(err);
        }
    }

    fn count(&self, kind: &str) -> usize {
        self.by_type.get(kind).map_or(0, |e| e.0)
    }
}

/// Checks a kafka history.
pub fn check(history: &[Op]) -> CheckResult {
    let mut result = CheckResult::new("kafka");
    let mut ops = Vec::new();
    let mut malformed = 0usize;
    for (pos, op) in history.iter().enumerate() {
        match parse_op(pos, op) {
            Ok(Some(k)) => ops.push(k),
            Ok(None) => {}
            Err(why) => {
                malformed += 1;
                if malformed <= 4 {
                    result.undecided(json!({
                        "problem": format!("a malformed kafka op, left out: {why}"),
                        "ops": [op.index],
                    }));
                }
            }
        }
    }
    let a = Analysis::new(&ops);
    let mut errors = Errors::default();
    a.inconsistent_offsets(&mut errors);
    a.duplicates(&mut errors);
    a.g1a(&mut errors);
    a.lost_writes(&mut errors);
    a.internal(&mut errors);
    a.poll_skips(&mut errors);
    a.nonmonotonic_sends(&mut errors);
    let final_polls = a.unseen(&mut errors);
    let cycles = a.cycles(history, &mut errors);

    let send_ok = ops
        .iter()
        .filter(|o| o.f == Fun::Send && o.kind == OpType::Ok)
        .count();
    let acked = a.acked.len();
    let poll_ok = ops
        .iter()
        .filter(|o| o.f == Fun::Poll && o.kind == OpType::Ok)
        .count();
    let polled_msgs: usize = ops
        .iter()
        .filter(|o| o.f == Fun::Poll && o.kind == OpType::Ok)
        .flat_map(|o| o.polls.values())
        .map(Vec::len)
        .sum();
    result.set(
        "send-count",
        ops.iter().filter(|o| o.f == Fun::Send).count(),
    );
    result.set("send-ok-count", send_ok);
    result.set(
        "poll-count",
        ops.iter().filter(|o| o.f == Fun::Poll).count(),
    );
    result.set("poll-ok-count", poll_ok);
    result.set("polled-message-count", polled_msgs);
    result.set("key-count", a.orders.len());
    if malformed > 0 {
        result.set("malformed-count", malformed);
    }

    let error_types: Vec<&str> = errors.by_type.keys().map(String::as_str).collect();
    let bad: Vec<&str> = error_types
        .iter()
        .copied()
        .filter(|t| !ALLOWED_ERROR_TYPES.contains(t))
        .collect();
    result.set("error-types", json!(error_types));
    result.set("bad-error-types", json!(bad));
    for (kind, (count, errs)) in &errors.by_type {
        if kind == "unseen" {
            continue;
        }
        result.set(kind, json!({"count": count, "errs": errs}));
    }
    if let Some(unseen) = &final_polls.unseen {
        result.set("unseen", unseen.clone());
    }
    result.set("final-polls", final_polls.summary.clone());
    result.set("cycle-search", cycles);
    for kind in &bad {
        let (_, errs) = &errors.by_type[*kind];
        for e in errs.iter().take(EVIDENCE_PER_TYPE) {
            let mut item = json!({"problem": describe(kind, e), "type": kind});
            if let (Some(obj), Some(e)) = (item.as_object_mut(), e.as_object()) {
                for (k, v) in e {
                    obj.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            result.fail(item);
        }
    }
    if acked == 0 {
        result.undecided(json!({"problem": "nothing was sent and acknowledged: nothing to judge"}));
    }
    if !final_polls.behind.is_empty() {
        result.undecided(json!({
            "problem": format!(
                "the final polls never caught up on {} key(s); their {} acknowledged \
                 message(s) past what was read are neither seen nor proven lost",
                final_polls.behind.len(),
                final_polls.behind_msgs
            ),
            "keys": final_polls.behind.iter().take(8).collect::<Vec<_>>(),
        }));
    }
    debug_assert!(bad.is_empty() || result.valid == Validity::Invalid);
    result
}

fn describe(kind: &str, e: &Value) -> String {
    let key = e["key"].as_str().unwrap_or("?");
    match kind {
        "inconsistent-offsets" => format!(
            "offset {} of key {key} holds different messages: {}",
            e["offset"], e["values"]
        ),
        "duplicate" => format!(
            "message {} of key {key} appears at several offsets: {}",
            e["value"], e["offsets"]
        ),
        "G1a" => format!(
            "a poll read message {} of key {key}, whose send failed",
            e["value"]
        ),
        "lost-write" => format!(
            "acknowledged message {} (offset {}) of key {key} was never polled, \
             though a poll read up to offset {}",
            e["value"], e["offset"], e["max-read-offset"]
        ),
        "unseen" => format!(
            "acknowledged message {} (offset {}) of key {key} was not read by the final polls, \
             which read key {key} up to offset {}",
            e["value"], e["offset"], e["read-to"]
        ),
        "poll-skip" => format!(
            "process {}'s consecutive polls of key {key} skipped over {} ([offset, message]): {} then {}",
            e["process"], e["skipped"], e["values"][0], e["values"][1]
        ),
        "nonmonotonic-poll" => format!(
            "process {}'s poll of key {key} went back (or stood still) in the log: {} then {}",
            e["process"], e["values"][0], e["values"][1]
        ),
        "int-poll-skip" => format!(
            "one poll's list for key {key} skips over known messages between {} and {}",
            e["values"][0], e["values"][1]
        ),
        "int-nonmonotonic-poll" => format!(
            "one poll's list for key {key} is not in log order: {} then {}",
            e["values"][0], e["values"][1]
        ),
        "nonmonotonic-send" => format!(
            "process {}'s sends to key {key} went back in the log: {} then {}",
            e["process"], e["values"][0], e["values"][1]
        ),
        "int-nonmonotonic-send" => format!(
            "one op's sends to key {key} are not in log order: {} then {}",
            e["values"][0], e["values"][1]
        ),
        _ => e["explanation"]
            .as_str()
            .map_or_else(|| format!("{kind}: {e}"), String::from),
    }
}

/// What the final phase read.
struct FinalPolls {
    summary: Value,
    unseen: Option<Value>,
    /// Keys the final polls did not catch up on.
    behind: BTreeMap<Key, Value>,
    behind_msgs: usize,
}

struct Analysis<'a> {
    ops: &'a [KOp],
    orders: BTreeMap<Key, Order>,
    /// (key, message) → positions in `ops` of its writers (completions).
    writer_of: HashMap<(Key, Msg), usize>,
    /// key → messages read by ok polls.
    ok_reads: BTreeMap<Key, BTreeSet<Msg>>,
    /// key → messages whose send failed.
    failed: HashMap<Key, BTreeSet<Msg>>,
    /// Acknowledged sends: (key, offset, message, op position).
    acked: Vec<(Key, u64, Msg, usize)>,
    /// (key, offset, message) → the first op index that showed it.
    witness: HashMap<(Key, u64, Msg), u64>,
}

impl<'a> Analysis<'a> {
    fn new(ops: &'a [KOp]) -> Analysis<'a> {
        let mut ok_reads: BTreeMap<Key, BTreeSet<Msg>> = BTreeMap::new();
        let mut failed: HashMap<Key, BTreeSet<Msg>> = HashMap::new();
        let mut writer_of = HashMap::new();
        let mut acked = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if op.f == Fun::Poll && op.kind == OpType::Ok {
                for (k, pairs) in &op.polls {
                    ok_reads
                        .entry(k.clone())
                        .or_default()
                        .extend(pairs.iter().map(|(_, m)| m.clone()));
                }
            }
            for (k, offset, m) in &op.sends {
                writer_of.insert((k.clone(), m.clone()), i);
                if op.kind == OpType::Fail {
                    failed.entry(k.clone()).or_default().insert(m.clone());
                }
                if let (OpType::Ok, Some(o)) = (op.kind, offset) {
                    acked.push((k.clone(), *o, m.clone(), i));
                }
            }
        }
        let mut a = Analysis {
            ops,
            orders: BTreeMap::new(),
            writer_of,
            ok_reads,
            failed,
            acked,
            witness: HashMap::new(),
        };
        for op in ops {
            let committed = a.must_have_committed(op);
            for (k, offset, m) in &op.sends {
                if let (true, Some(o)) = (committed, offset) {
                    a.note(k, *o, m, op.index);
                }
            }
            for (k, pairs) in &op.polls {
                for (o, m) in pairs {
                    if let Some(o) = o {
                        a.note(k, *o, m, op.index);
                    }
                }
            }
        }
        for order in a.orders.values_mut() {
            order.finish();
        }
        a
    }

    fn note(&mut self, k: &Key, offset: u64, m: &Msg, index: u64) {
        self.orders
            .entry(k.clone())
            .or_default()
            .log
            .entry(offset)
            .or_default()
            .insert(m.clone());
        self.witness
            .entry((k.clone(), offset, m.clone()))
            .or_insert(index);
    }

    /// Ok, or info with one of its messages read by an ok poll.
    fn must_have_committed(&self, op: &KOp) -> bool {
        op.kind == OpType::Ok
            || (op.kind == OpType::Info
                && op
                    .sends
                    .iter()
                    .any(|(k, _, m)| self.ok_reads.get(k).is_some_and(|r| r.contains(m))))
    }

    fn inconsistent_offsets(&self, errors: &mut Errors) {
        for (k, order) in &self.orders {
            for (&offset, msgs) in order.log.iter().filter(|(_, m)| m.len() > 1) {
                let ops: Vec<u64> = msgs
                    .iter()
                    .filter_map(|m| self.witness.get(&(k.clone(), offset, m.clone())))
                    .copied()
                    .collect();
                errors.add(
                    "inconsistent-offsets",
                    json!({
                        "key": k,
                        "offset": offset,
                        "values": msgs.iter().map(|m| msg_value(m)).collect::<Vec<_>>(),
                        "ops": ops,
                    }),
                );
            }
        }
    }

    fn duplicates(&self, errors: &mut Errors) {
        for (k, order) in &self.orders {
            let mut offsets: BTreeMap<&Msg, Vec<u64>> = BTreeMap::new();
            for (&o, msgs) in &order.log {
                for m in msgs {
                    offsets.entry(m).or_default().push(o);
                }
            }
            for (m, os) in offsets.into_iter().filter(|(_, os)| os.len() > 1) {
                let ops: Vec<u64> = os
                    .iter()
                    .filter_map(|&o| self.witness.get(&(k.clone(), o, m.clone())))
                    .copied()
                    .collect();
                errors.add(
                    "duplicate",
                    json!({
                        "key": k, "value": msg_value(m), "count": os.len(),
                        "offsets": os, "ops": ops,
                    }),
                );
            }
        }
    }

    fn g1a(&self, errors: &mut Errors) {
        for op in self.ops {
            if op.f != Fun::Poll || op.kind != OpType::Ok {
                continue;
            }
            for (k, pairs) in &op.polls {
                let Some(failed) = self.failed.get(k) else {
                    continue;
                };
                for (o, m) in pairs.iter().filter(|(_, m)| failed.contains(m)) {
                    let writer = self.writer_of.get(&(k.clone(), m.clone()));
                    errors.add(
                        "G1a",
                        json!({
                            "key": k, "offset": o, "value": msg_value(m),
                            "writer": writer.map(|&w| self.ops[w].index),
                            "reader": op.index,
                            "ops": [writer.map(|&w| self.ops[w].index), Some(op.index)],
                        }),
                    );
                }
            }
        }
    }

    fn lost_writes(&self, errors: &mut Errors) {
        for (k, read) in &self.ok_reads {
            let Some(order) = self.orders.get(k) else {
                continue;
            };
            let Some(bound) = read.iter().filter_map(|m| order.first_index.get(m)).max() else {
                continue;
            };
            let bound = *bound;
            // The messages whose last appearance is at or below the bound.
            let mut must: Vec<(usize, &Msg)> = order
                .by_value
                .iter()
                .filter(|(_, i)| **i <= bound)
                .map(|(m, i)| (*i, m))
                .collect();
            must.sort();
            let max_read = &order.by_index[bound];
            let max_reader = self
                .ops
                .iter()
                .find(|op| {
                    op.f == Fun::Poll
                        && op.kind == OpType::Ok
                        && op
                            .polls
                            .get(k)
                            .is_some_and(|p| p.iter().any(|(_, m)| *m == max_read.1))
                })
                .map(|op| op.index);
            for (i, m) in must {
                if read.contains(m) {
                    continue;
                }
                let Some(&w) = self.writer_of.get(&(k.clone(), m.clone())) else {
                    continue;
                };
                let writer = &self.ops[w];
                if !self.must_have_committed(writer) {
                    continue;
                }
                errors.add(
                    "lost-write",
                    json!({
                        "key": k, "value": msg_value(m), "offset": order.offset_of(m),
                        "index": i, "max-read-index": bound,
                        "max-read-offset": max_read.0, "max-read-value": msg_value(&max_read.1),
                        "writer": writer.index, "max-read": max_reader,
                        "ops": [Some(writer.index), max_reader],
                    }),
                );
            }
        }
    }

    /// Pairs within one op: int-poll-skip, int-nonmonotonic-poll,
    /// int-send-skip, int-nonmonotonic-send.
    fn internal(&self, errors: &mut Errors) {
        for op in self.ops {
            if op.f == Fun::Poll {
                for (k, pairs) in &op.polls {
                    let msgs: Vec<&Msg> = pairs.iter().map(|(_, m)| m).collect();
                    self.pairs(errors, op, k, &msgs, "poll");
                }
            }
            if op.f == Fun::Send {
                for (k, msgs) in op.writes() {
                    self.pairs(errors, op, k, &msgs, "send");
                }
            }
        }
    }

    fn pairs(&self, errors: &mut Errors, op: &KOp, k: &Key, msgs: &[&Msg], what: &str) {
        let Some(order) = self.orders.get(k) else {
            return;
        };
        for w in msgs.windows(2) {
            let delta = order.delta(w[0], w[1]);
            let kind = if delta > 1 {
                format!("int-{what}-skip")
            } else if delta < 1 {
                format!("int-nonmonotonic-{what}")
            } else {
                continue;
            };
            let mut e = json!({
                "key": k,
                "values": [msg_value(w[0]), msg_value(w[1])],
                "offsets": [order.offset_of(w[0]), order.offset_of(w[1])],
                "delta": delta,
                "op": op.index,
                "ops": [op.index],
            });
            if delta > 1 {
                e["skipped"] = json!(order.skipped(w[0], w[1]));
            }
            errors.add(&kind, e);
        }
    }

    /// Per process, in history order: poll-skip and nonmonotonic-poll.
    fn poll_skips(&self, errors: &mut Errors) {
        let mut last: HashMap<u64, BTreeMap<&Key, (&Msg, u64)>> = HashMap::new();
        for op in self.ops {
            let reads = last.entry(op.process).or_default();
            match op.f {
                Fun::Assign if op.kind == OpType::Ok || op.kind == OpType::Info => {
                    reads.retain(|k, _| op.assign.contains(*k));
                }
                Fun::Poll if op.kind == OpType::Ok => {
                    for (k, pairs) in &op.polls {
                        let (Some((_, first)), Some((_, newest))) = (pairs.first(), pairs.last())
                        else {
                            continue;
                        };
                        if let (Some(&(prev, prev_op)), Some(order)) =
                            (reads.get(k), self.orders.get(k))
                        {
                            let delta = order.delta(prev, first);
                            let base = json!({
                                "key": k,
                                "process": op.process,
                                "values": [msg_value(prev), msg_value(first)],
                                "offsets": [order.offset_of(prev), order.offset_of(first)],
                                "delta": delta,
                                "ops": [prev_op, op.index],
                            });
                            if delta > 1 {
                                let mut e = base;
                                e["skipped"] = json!(order.skipped(prev, first));
                                errors.add("poll-skip", e);
                            } else if delta < 1 {
                                errors.add("nonmonotonic-poll", base);
                            }
                        }
                        reads.insert(k, (newest, op.index));
                    }
                }
                _ => {}
            }
        }
    }

    /// Per process: sends to a key going backwards in the log.
    fn nonmonotonic_sends(&self, errors: &mut Errors) {
        let mut last: HashMap<u64, BTreeMap<&Key, (&Msg, u64)>> = HashMap::new();
        for op in self.ops {
            let sent = last.entry(op.process).or_default();
            match op.f {
                Fun::Assign if op.kind == OpType::Ok || op.kind == OpType::Info => {
                    sent.retain(|k, _| op.assign.contains(*k));
                }
                Fun::Send if op.kind == OpType::Ok || op.kind == OpType::Info => {
                    for (k, msgs) in op.writes() {
                        if let (Some(&(prev, prev_op)), Some(order)) =
                            (sent.get(k), self.orders.get(k))
                        {
                            let delta = order.delta(prev, msgs[0]);
                            if delta < 1 {
                                errors.add(
                                    "nonmonotonic-send",
                                    json!({
                                        "key": k,
                                        "process": op.process,
                                        "values": [msg_value(prev), msg_value(msgs[0])],
                                        "offsets": [order.offset_of(prev), order.offset_of(msgs[0])],
                                        "delta": delta,
                                        "ops": [prev_op, op.index],
                                    }),
                                );
                            }
                        }
                        if let Some(newest) = msgs.last() {
                            sent.insert(k, (newest, op.index));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Acknowledged messages the final polls did not read.
    fn unseen(&self, errors: &mut Errors) -> FinalPolls {
        let has_final = self
            .ops
            .iter()
            .any(|o| o.is_final && o.f == Fun::Poll && o.kind == OpType::Ok);
        let judged: Vec<&KOp> = self
            .ops
            .iter()
            .filter(|o| o.f == Fun::Poll && o.kind == OpType::Ok && (o.is_final || !has_final))
            .collect();
        let mut read: HashMap<&Key, BTreeSet<&Msg>> = HashMap::new();
        let mut reached: HashMap<&Key, u64> = HashMap::new();
        for op in &judged {
            for (k, pairs) in &op.polls {
                read.entry(k)
                    .or_default()
                    .extend(pairs.iter().map(|(_, m)| m));
                if let Some(high) = pairs.iter().filter_map(|(o, _)| *o).max() {
                    let r = reached.entry(k).or_insert(high);
                    *r = (*r).max(high);
                }
            }
        }
        let mut acked_to: BTreeMap<&Key, u64> = BTreeMap::new();
        let mut unseen: BTreeMap<&Key, Vec<(u64, &Msg)>> = BTreeMap::new();
        let mut behind: BTreeMap<&Key, usize> = BTreeMap::new();
        for (k, o, m, w) in &self.acked {
            let t = acked_to.entry(k).or_insert(*o);
            *t = (*t).max(*o);
            if read.get(k).is_some_and(|r| r.contains(m)) {
                continue;
            }
            match reached.get(k) {
                Some(&r) if *o <= r => {
                    unseen.entry(k).or_default().push((*o, m));
                    errors.add(
                        "unseen",
                        json!({
                            "key": k, "offset": o, "value": msg_value(m), "read-to": r,
                            "writer": self.ops[*w].index, "ops": [self.ops[*w].index],
                        }),
                    );
                }
                _ => {
                    let seen_earlier = self.ok_reads.get(k).is_some_and(|r| r.contains(m));
                    if !seen_earlier {
                        *behind.entry(k).or_default() += 1;
                    }
                }
            }
        }
        let behind_msgs = behind.values().sum();
        let behind: BTreeMap<Key, Value> = behind
            .into_iter()
            .map(|(k, n)| {
                (
                    k.clone(),
                    json!({
                        "read-to": reached.get(k),
                        "acknowledged-to": acked_to.get(k),
                        "unread": n,
                    }),
                )
            })
            .collect();
        let summary = json!({
            "judged-on": if has_final { "final-polls" } else { "all-polls" },
            "poll-count": judged.len(),
            "caught-up": behind.is_empty(),
            "behind": behind.iter().take(32).map(|(k, v)| (k.clone(), v.clone())).collect::<Map<_, _>>(),
            "behind-key-count": behind.len(),
        });
        let unseen_value = (!unseen.is_empty()).then(|| {
            let mut counts = Map::new();
            let mut messages = Map::new();
            for (k, mut msgs) in unseen {
                msgs.sort();
                counts.insert(k.clone(), json!(msgs.len()));
                messages.insert(
                    k.clone(),
                    json!(
                        msgs.iter()
                            .take(UNSEEN_PER_KEY)
                            .map(|(_, m)| msg_value(m))
                            .collect::<Vec<_>>()
                    ),
                );
            }
            json!({
                "count": errors.count("unseen"),
                "unseen": counts,
                "messages": messages,
                "errs": errors.by_type.get("unseen").map(|e| e.1.clone()),
            })
        });
        FinalPolls {
            summary,
            unseen: unseen_value,
            behind,
            behind_msgs,
        }
    }

    /// G0 and G1c (and their process/realtime variants) through the
    /// list-append analysis; returns a summary of what was searched.
    fn cycles(&self, history: &[Op], errors: &mut Errors) -> Value {
        let clean: BTreeMap<&Key, &Order> = self.orders.iter().filter(|(_, o)| o.clean()).collect();
        let left_out = self.orders.len() - clean.len();
        // Keys and messages as integers: the keys themselves when they are
        // integers (the generator's are), else their rank.
        let numeric = clean.keys().all(|k| k.parse::<i64>().is_ok());
        let key_ids: HashMap<&Key, i64> = clean
            .keys()
            .enumerate()
            .map(|(i, k)| {
                (
                    *k,
                    if numeric {
                        k.parse().unwrap_or(0)
                    } else {
                        i as i64
                    },
                )
            })
            .collect();
        let int = |m: &Msg| m.parse::<i64>().ok();
        if clean
            .values()
            .any(|o| o.by_index.iter().any(|(_, m)| int(m).is_none()))
        {
            return json!({"searched": false, "why": "messages are not all integers"});
        }
        let by_pos: HashMap<usize, &KOp> = self.ops.iter().map(|o| (o.pos, o)).collect();
        let mut txns: Vec<Op> = Vec::new();
        let mut max_process = 0;
        let mut max_index = 0;
        for (pos, op) in history.iter().enumerate() {
            let Process::Client(p) = op.process else {
                continue;
            };
            max_index = max_index.max(op.index);
            max_process = max_process.max(p);
            if op.f != "send" && op.f != "poll" {
                continue;
            }
            let mops: Vec<Value> = if op.kind == OpType::Invoke {
                if op.f == "send" {
                    sends_of(op)
                        .into_iter()
                        .filter_map(|(k, m)| Some(json!(["append", key_ids.get(&k)?, int(&m)?])))
                        .collect()
                } else {
                    Vec::new()
                }
            } else {
                let Some(k) = by_pos.get(&pos) else {
                    continue;
                };
                let mut mops = Vec::new();
                for (key, _, m) in &k.sends {
                    if let (Some(id), Some(v)) = (key_ids.get(key), int(m)) {
                        mops.push(json!(["append", id, v]));
                    }
                }
                if k.kind == OpType::Ok {
                    for (key, pairs) in &k.polls {
                        let (Some(id), Some(order)) = (key_ids.get(key), clean.get(key)) else {
                            continue;
                        };
                        let Some(top) = pairs
                            .iter()
                            .filter_map(|(_, m)| order.by_value.get(m))
                            .max()
                        else {
                            continue;
                        };
                        let prefix: Vec<i64> = order.by_index[..=*top]
                            .iter()
                            .filter_map(|(_, m)| int(m))
                            .collect();
                        mops.push(json!(["r", id, prefix]));
                    }
                }
                mops
            };
            let mut t = op.clone();
            t.f = "txn".to_owned();
            t.value = json!(mops);
            txns.push(t);
        }
        // One last reader of every key's whole log, so every send is in the
        // version order the analysis infers. It only has incoming ww/wr
        // edges, so it is on no G0 or G1c cycle.
        let whole: Vec<Value> = clean
            .iter()
            .map(|(k, o)| {
                let list: Vec<i64> = o.by_index.iter().filter_map(|(_, m)| int(m)).collect();
                json!(["r", key_ids[k], list])
            })
            .collect();
        let mut reader = Op::invoke(max_process + 1, "txn", json!([]));
        reader.index = max_index + 1;
        let mut done = reader.complete(OpType::Ok, json!(whole));
        done.index = max_index + 2;
        txns.push(reader);
        txns.push(done);
        let analysis = match crate::check(&txns, Workload::ListAppend, &Options::default()) {
            Ok(a) => a,
            Err(e) => return json!({"searched": false, "why": e.to_string()}),
        };
        let keys: Vec<&Key> = clean.keys().copied().collect();
        for anomaly in analysis.anomalies.iter() {
            if !(anomaly.kind.starts_with("G0") || anomaly.kind.starts_with("G1c")) {
                continue;
            }
            let mut explanation = anomaly.explanation.replace("append", "send");
            if !numeric {
                // The list-append explanation names keys by rank.
                explanation.push_str(" (keys by rank: ");
                explanation.push_str(
                    &keys
                        .iter()
                        .take(16)
                        .enumerate()
                        .map(|(i, k)| format!("{i}={k}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                explanation.push(')');
            }
            errors.add(
                anomaly.kind,
                json!({
                    "ops": anomaly.ops,
                    "cycle": anomaly.cycle,
                    "explanation": explanation,
                }),
            );
        }
        json!({
            "searched": true,
            "keys-left-out": left_out,
            "timeouts": analysis.timeouts.len(),
        })
    }
}

/// An invoke's sends: (key, message).
fn sends_of(op: &Op) -> Vec<(Key, Msg)> {
    op.value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|mop| match mop.as_array().map(Vec::as_slice) {
            Some([f, k, v]) if f == "send" => Some((key_of(k), v.to_string())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history built op by op; each op completes before the next starts.
    #[derive(Default)]
    struct H(Vec<Op>);

    impl H {
        fn push(&mut self, invoke: Op, kind: OpType, value: Value, is_final: bool) -> &mut H {
            let mut invoke = invoke;
            invoke.is_final = is_final;
            let done = invoke.complete(kind, value);
            for mut op in [invoke, done] {
                op.index = self.0.len() as u64;
                op.time = Some(op.index * 1_000);
                self.0.push(op);
            }
            self
        }

        fn send(&mut self, p: u64, k: &str, v: u64, offset: u64) -> &mut H {
            let inv = Op::invoke(p, "send", json!([["send", k, v]]));
            self.push(inv, OpType::Ok, json!([["send", k, [offset, v]]]), false)
        }

        fn send_as(&mut self, p: u64, k: &str, v: u64, kind: OpType) -> &mut H {
            let inv = Op::invoke(p, "send", json!([["send", k, v]]));
            self.push(inv, kind, json!([["send", k, v]]), false)
        }

        fn poll_final(&mut self, p: u64, msgs: Value, is_final: bool) -> &mut H {
            let inv = Op::invoke(p, "poll", json!([["poll"]]));
            self.push(inv, OpType::Ok, json!([["poll", msgs]]), is_final)
        }

        fn poll(&mut self, p: u64, msgs: Value) -> &mut H {
            self.poll_final(p, msgs, false)
        }

        fn assign(&mut self, p: u64, keys: Value) -> &mut H {
            let inv = Op::invoke(p, "assign", keys.clone());
            self.push(inv, OpType::Ok, keys, false)
        }

        fn check(&self) -> Value {
            serde_json::to_value(check(&self.0)).unwrap()
        }
    }

    fn types(r: &Value, field: &str) -> Vec<String> {
        r[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    }

    fn assert_valid(r: &Value) {
        assert_eq!(r["valid"], true, "{r:#}");
        assert_eq!(types(r, "error-types"), Vec::<String>::new(), "{r:#}");
    }

    fn assert_bad(r: &Value, bad: &[&str]) {
        assert_eq!(r["valid"], false, "{r:#}");
        assert_eq!(types(r, "bad-error-types"), bad, "{r:#}");
        for t in bad {
            assert!(r[*t]["count"].as_u64().unwrap() > 0, "{t}: {r:#}");
        }
        let evidence = r["evidence"].as_array().unwrap();
        assert!(
            evidence
                .iter()
                .any(|e| e["type"] == bad[0] && e["ops"].is_array())
        );
    }

    /// Three messages to key "1", offsets 0..3.
    fn three(h: &mut H) -> &mut H {
        h.send(0, "1", 10, 0)
            .send(0, "1", 11, 1)
            .send(0, "1", 12, 2)
    }

    #[test]
    fn a_clean_history_is_valid_and_counted() {
        let mut h = H::default();
        three(&mut h)
            .assign(1, json!(["1"]))
            .poll(1, json!({"1": [[0, 10], [1, 11]]}))
            .poll(1, json!({"1": [[2, 12]]}))
            .poll(1, json!({}))
            .poll_final(2, json!({"1": [[0, 10], [1, 11], [2, 12]]}), true);
        let r = h.check();
        assert_valid(&r);
        assert_eq!(r["send-ok-count"], 3);
        assert_eq!(r["poll-ok-count"], 4);
        assert_eq!(r["final-polls"]["caught-up"], true);
        assert_eq!(r["final-polls"]["judged-on"], "final-polls");
        assert_eq!(r["cycle-search"]["searched"], true, "{r:#}");
    }

    #[test]
    fn nothing_acknowledged_is_unknown() {
        let mut h = H::default();
        h.send_as(0, "1", 10, OpType::Info).poll(1, json!({}));
        assert_eq!(h.check()["valid"], "unknown");
        assert_eq!(H::default().check()["valid"], "unknown");
    }

    #[test]
    fn one_offset_with_two_messages_is_inconsistent() {
        let mut h = H::default();
        h.send(0, "1", 10, 0)
            .send(1, "1", 11, 0)
            .poll(2, json!({"1": [[0, 10]]}));
        let r = h.check();
        // 11 is also never read though offset 0 was.
        assert_bad(&r, &["inconsistent-offsets", "lost-write", "unseen"]);
        assert_eq!(
            r["inconsistent-offsets"]["errs"][0]["values"],
            json!([10, 11])
        );
        assert_eq!(r["inconsistent-offsets"]["errs"][0]["ops"], json!([1, 3]));
        assert_eq!(r["cycle-search"]["keys-left-out"], 1);
        // Control: distinct offsets.
        let mut h = H::default();
        h.send(0, "1", 10, 0)
            .send(1, "1", 11, 1)
            .poll(2, json!({"1": [[0, 10], [1, 11]]}));
        assert_valid(&h.check());
    }

    #[test]
    fn one_message_at_two_offsets_is_a_duplicate() {
        let mut h = H::default();
        h.send(0, "1", 10, 0)
            .poll(1, json!({"1": [[0, 10], [1, 10]]}));
        let r = h.check();
        assert!(
            types(&r, "bad-error-types").contains(&"duplicate".to_owned()),
            "{r:#}"
        );
        assert_eq!(r["duplicate"]["errs"][0]["offsets"], json!([0, 1]));
        let mut h = H::default();
        h.send(0, "1", 10, 0).poll(1, json!({"1": [[0, 10]]}));
        assert_valid(&h.check());
    }

    #[test]
    fn reading_a_failed_send_is_g1a() {
        let mut h = H::default();
        h.send(0, "1", 10, 0)
            .send_as(0, "1", 11, OpType::Fail)
            .poll(1, json!({"1": [[0, 10], [1, 11]]}));
        let r = h.check();
        assert_bad(&r, &["G1a"]);
        assert_eq!(r["G1a"]["errs"][0]["writer"], 3);
        // Control: an info send may be read.
        let mut h = H::default();
        h.send(0, "1", 10, 0)
            .send_as(0, "1", 11, OpType::Info)
            .poll(1, json!({"1": [[0, 10], [1, 11]]}));
        assert_valid(&h.check());
    }

    #[test]
    fn an_acknowledged_message_below_a_read_one_and_never_read_is_lost() {
        let mut h = H::default();
        three(&mut h)
            .poll(1, json!({"1": [[0, 10]]}))
            .poll(2, json!({"1": [[2, 12]]}));
        let r = h.check();
        // Without a final phase, every poll judges unseen too.
        assert_bad(&r, &["lost-write", "unseen"]);
        let e = &r["lost-write"]["errs"][0];
        assert_eq!(
            (e["value"].clone(), e["offset"].clone()),
            (json!(11), json!(1))
        );
        assert_eq!(e["max-read-offset"], 2);
        assert_eq!(e["ops"], json!([3, 9]));
        // Control: a third process read it.
        h.poll(3, json!({"1": [[1, 11]]}));
        assert_valid(&h.check());
    }

    #[test]
    fn the_final_polls_missing_a_message_they_read_past_is_unseen() {
        let mut h = H::default();
        three(&mut h)
            .poll(1, json!({"1": [[0, 10], [1, 11], [2, 12]]}))
            .poll_final(2, json!({"1": [[0, 10]]}), true)
            .poll_final(3, json!({"1": [[2, 12]]}), true);
        let r = h.check();
        assert_bad(&r, &["unseen"]);
        assert_eq!(r["unseen"]["unseen"], json!({"1": 1}));
        assert_eq!(r["unseen"]["messages"], json!({"1": [11]}));
        // Control: the final polls read everything.
        let mut h = H::default();
        three(&mut h).poll_final(2, json!({"1": [[0, 10], [1, 11], [2, 12]]}), true);
        assert_valid(&h.check());
    }

    #[test]
    fn final_polls_that_never_caught_up_are_unknown_not_unseen() {
        let mut h = H::default();
        three(&mut h).poll_final(2, json!({"1": [[0, 10]]}), true);
        let r = h.check();
        assert_eq!(r["valid"], "unknown", "{r:#}");
        assert_eq!(types(&r, "error-types"), Vec::<String>::new());
        assert_eq!(r["final-polls"]["caught-up"], false);
        assert_eq!(
            r["final-polls"]["behind"]["1"],
            json!({"read-to": 0, "acknowledged-to": 2, "unread": 2})
        );
        // Without a final phase, every ok poll counts (Jepsen's rule).
        let mut h = H::default();
        three(&mut h).poll(2, json!({"1": [[0, 10], [1, 11], [2, 12]]}));
        let r = h.check();
        assert_valid(&r);
        assert_eq!(r["final-polls"]["judged-on"], "all-polls");
    }

    #[test]
    fn a_process_polling_over_a_known_message_skips() {
        let mut h = H::default();
        three(&mut h)
            .poll(1, json!({"1": [[0, 10]]}))
            .poll(1, json!({"1": [[2, 12]]}))
            .poll(2, json!({"1": [[1, 11]]}));
        let r = h.check();
        assert_bad(&r, &["poll-skip"]);
        assert_eq!(r["poll-skip"]["errs"][0]["skipped"], json!([[1, 11]]));
        // Control: an assign that drops the key in between resets it.
        let mut h = H::default();
        three(&mut h)
            .poll(1, json!({"1": [[0, 10]]}))
            .assign(1, json!(["2"]))
            .poll(1, json!({"1": [[2, 12]]}))
            .poll(2, json!({"1": [[1, 11]]}));
        assert_valid(&h.check());
    }

    #[test]
    fn a_process_polling_backwards_is_nonmonotonic() {
        let mut h = H::default();
        three(&mut h)
            .poll(1, json!({"1": [[0, 10], [1, 11]]}))
            .poll(1, json!({"1": [[1, 11], [2, 12]]}));
        let r = h.check();
        assert_bad(&r, &["nonmonotonic-poll"]);
        assert_eq!(r["nonmonotonic-poll"]["errs"][0]["delta"], 0);
        // Control: another process may start anywhere.
        let mut h = H::default();
        three(&mut h)
            .poll(1, json!({"1": [[0, 10], [1, 11]]}))
            .poll(2, json!({"1": [[1, 11], [2, 12]]}));
        assert_valid(&h.check());
    }

    #[test]
    fn one_poll_out_of_order_or_with_a_gap_is_internal() {
        let mut h = H::default();
        three(&mut h).poll(1, json!({"1": [[1, 11], [0, 10], [2, 12]]}));
        let r = h.check();
        assert_bad(&r, &["int-nonmonotonic-poll", "int-poll-skip"]);
        let mut h = H::default();
        three(&mut h)
            .poll(1, json!({"1": [[0, 10], [2, 12]]}))
            .poll(2, json!({"1": [[1, 11]]}));
        assert_bad(&h.check(), &["int-poll-skip"]);
        // Control: holes in the offsets are not skips.
        let mut h = H::default();
        h.send(0, "1", 10, 0)
            .send(0, "1", 12, 5)
            .poll(1, json!({"1": [[0, 10], [5, 12]]}));
        assert_valid(&h.check());
    }

    #[test]
    fn a_process_sending_backwards_is_nonmonotonic_and_g0_is_allowed() {
        let mut h = H::default();
        h.send(0, "1", 10, 1)
            .send(0, "1", 11, 0)
            .poll(1, json!({"1": [[0, 11], [1, 10]]}));
        let r = h.check();
        assert_bad(&r, &["nonmonotonic-send"]);
        // The same order against process and real time: allowed G0.
        let all = types(&r, "error-types");
        assert!(all.iter().any(|t| t.starts_with("G0")), "{r:#}");
        // Control: two processes may interleave either way.
        let mut h = H::default();
        h.send(0, "1", 10, 1)
            .send(1, "1", 11, 0)
            .poll(1, json!({"1": [[0, 11], [1, 10]]}));
        let r = h.check();
        assert_eq!(r["valid"], true, "{r:#}");
        assert_eq!(types(&r, "error-types"), ["G0-realtime"]);
    }

    #[test]
    fn a_poll_reading_a_message_before_it_was_sent_is_g1c_realtime() {
        let mut h = H::default();
        h.poll(1, json!({"1": [[0, 10]]})).send(0, "1", 10, 0);
        let r = h.check();
        assert_bad(&r, &["G1c-realtime"]);
        let e = &r["G1c-realtime"]["errs"][0];
        assert_eq!(e["ops"], json!([3, 1]), "{e:#}");
        assert!(
            e["explanation"].as_str().unwrap().contains("-wr->"),
            "{e:#}"
        );
        // Control: the send first.
        let mut h = H::default();
        h.send(0, "1", 10, 0).poll(1, json!({"1": [[0, 10]]}));
        assert_valid(&h.check());
    }

    #[test]
    fn malformed_ops_make_it_unknown_not_a_panic() {
        let mut h = H::default();
        h.send(0, "1", 10, 0).poll(1, json!({"1": [[0, 10]]}));
        let inv = Op::invoke(2, "poll", json!([["poll"]]));
        h.push(inv, OpType::Ok, json!([["poll", {"1": [7]}]]), false);
        let r = h.check();
        assert_eq!(r["valid"], "unknown", "{r:#}");
        assert_eq!(r["malformed-count"], 1);
    }
}
