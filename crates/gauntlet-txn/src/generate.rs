//! Generated list-append histories, shaped like the Elle paper's: 1–5
//! micro-ops per transaction over 100 active keys, a key retired after 100
//! appends, run by concurrent processes against an in-memory database that
//! executes each transaction atomically at one instant between its invoke
//! and its completion — so the history is strict serializable by
//! construction. [`corrupt`] then breaks it in known ways.

use gauntlet_history::{Op, OpType, Process};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Transactions in all.
    pub txns: usize,
    /// Concurrent processes.
    pub processes: usize,
    /// Keys in use at any time.
    pub active_keys: usize,
    /// Appends after which a key is retired for a fresh one.
    pub appends_per_key: usize,
    /// Micro-ops per transaction: 1..=max_mops.
    pub max_mops: usize,
    /// Probability a transaction aborts (`fail`, no effect).
    pub fail_rate: f64,
    /// Probability a transaction's outcome is lost (`info`; it took effect
    /// or not, at random). The process is then replaced, as in Jepsen.
    pub info_rate: f64,
    pub seed: u64,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            txns: 1000,
            processes: 10,
            active_keys: 100,
            appends_per_key: 100,
            max_mops: 5,
            fail_rate: 0.0,
            info_rate: 0.0,
            seed: 0,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// Invoked, not yet executed.
    Invoked,
    /// Executed (or decided); waiting to report.
    Done,
}

struct Proc {
    id: u64,
    phase: Phase,
    /// The invoke's micro-ops: (is append, key, value).
    mops: Vec<(bool, i64, i64)>,
    result: Value,
    outcome: OpType,
}

/// A strict-serializable list-append history of `cfg.txns` transactions.
pub fn list_append(cfg: &GenConfig) -> Vec<Op> {
    let mut history = Vec::with_capacity(cfg.txns * 2);
    list_append_each(cfg, |op| history.push(op));
    history
}

/// [`list_append`], each op handed to `emit` (indexed, in order) as it is
/// made, none kept: a big history can go straight to a file or a checker.
pub fn list_append_each(cfg: &GenConfig, mut emit: impl FnMut(Op)) {
    let mut index = 0u64;
    let mut emit = |mut op: Op| {
        op.index = index;
        index += 1;
        emit(op);
    };
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let nproc = cfg.processes.max(1);
    let mut procs: Vec<Proc> = (0..nproc)
        .map(|p| Proc {
            id: p as u64,
            phase: Phase::Idle,
            mops: Vec::new(),
            result: Value::Null,
            outcome: OpType::Ok,
        })
        .collect();
    let mut next_process = nproc as u64;
    let mut db: FxHashMap<i64, Vec<i64>> = FxHashMap::default();
    let mut active: Vec<i64> = (0..cfg.active_keys.max(1) as i64).collect();
    let mut next_key = active.len() as i64;
    let mut appends: FxHashMap<i64, usize> = FxHashMap::default();
    let mut invoked = 0usize;
    let mut completed = 0usize;
    let mut time = 0u64;
    while completed < cfg.txns {
        let p = rng.random_range(0..nproc);
        let proc = &mut procs[p];
        time += 1;
        match proc.phase {
            Phase::Idle => {
                if invoked >= cfg.txns {
                    continue;
                }
                invoked += 1;
                let n = rng.random_range(1..=cfg.max_mops.max(1));
                proc.mops.clear();
                for _ in 0..n {
                    let i = rng.random_range(0..active.len());
                    let k = active[i];
                    if rng.random_bool(0.5) {
                        let c = appends.entry(k).or_insert(0);
                        *c += 1;
                        let v = *c as i64;
                        if *c >= cfg.appends_per_key.max(1) {
                            active[i] = next_key;
                            next_key += 1;
                        }
                        proc.mops.push((true, k, v));
                    } else {
                        proc.mops.push((false, k, 0));
                    }
                }
                let value: Vec<Value> = proc
                    .mops
                    .iter()
                    .map(|&(a, k, v)| {
                        if a {
                            json!(["append", k, v])
                        } else {
                            json!(["r", k, null])
                        }
                    })
                    .collect();
                let mut op = Op::invoke(proc.id, "txn", Value::Array(value));
                op.time = Some(time);
                emit(op);
                proc.phase = Phase::Invoked;
            }
            Phase::Invoked => {
                let roll: f64 = rng.random();
                let (apply, outcome) = if roll < cfg.fail_rate {
                    (false, OpType::Fail)
                } else if roll < cfg.fail_rate + cfg.info_rate {
                    (rng.random_bool(0.5), OpType::Info)
                } else {
                    (true, OpType::Ok)
                };
                let mut out = Vec::with_capacity(proc.mops.len());
                for &(a, k, v) in &proc.mops {
                    if a {
                        if apply {
                            db.entry(k).or_default().push(v);
                        }
                        out.push(json!(["append", k, v]));
                    } else {
                        let read = db.get(&k).cloned().unwrap_or_default();
                        out.push(json!(["r", k, read]));
                    }
                }
                proc.result = Value::Array(out);
                proc.outcome = outcome;
                proc.phase = Phase::Done;
            }
            Phase::Done => {
                let mut op = history_invoke(proc);
                op.kind = proc.outcome;
                op.time = Some(time);
                if proc.outcome == OpType::Info {
                    // Reads of an indeterminate txn are unknown.
                    op.value = json!(
                        proc.mops
                            .iter()
                            .map(|&(a, k, v)| if a {
                                json!(["append", k, v])
                            } else {
                                json!(["r", k, null])
                            })
                            .collect::<Vec<_>>()
                    );
                } else if proc.outcome == OpType::Fail {
                    op.value = json!(
                        proc.mops
                            .iter()
                            .map(|&(a, k, v)| if a {
                                json!(["append", k, v])
                            } else {
                                json!(["r", k, null])
                            })
                            .collect::<Vec<_>>()
                    );
                }
                emit(op);
                completed += 1;
                if proc.outcome == OpType::Info {
                    proc.id = next_process;
                    next_process += 1;
                }
                proc.phase = Phase::Idle;
            }
        }
    }
}

fn history_invoke(proc: &mut Proc) -> Op {
    Op {
        index: 0,
        time: None,
        process: Process::Client(proc.id),
        kind: OpType::Ok,
        f: "txn".to_owned(),
        key: None,
        value: std::mem::take(&mut proc.result),
        error: None,
        is_final: false,
    }
}

/// A known way to break a valid history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Remove one element from the middle of a committed read of length
    /// ≥ 2: an order no other read agrees with, or a missed write
    /// (incompatible-order, or a cycle with an rw edge).
    DropElement,
    /// Turn a committed transaction whose append someone read into a
    /// failed one: an aborted read (G1a).
    AbortObservedWrite,
    /// Make a committed read miss the last element of the longest read of
    /// its key while reading after it completed (stale read): a real-time
    /// cycle, or incompatible order.
    StaleRead,
}

/// Applies `c` at a random place chosen by `seed`; false if the history
/// offers no place for it.
pub fn corrupt(history: &mut [Op], c: Corruption, seed: u64) -> bool {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let reads: Vec<(usize, usize)> = history
        .iter()
        .enumerate()
        .filter(|(_, op)| op.kind == OpType::Ok && op.f == "txn")
        .flat_map(|(i, op)| {
            op.value
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter(|(_, m)| m[0] == "r" && m[2].as_array().is_some_and(|l| l.len() >= 2))
                .map(move |(j, _)| (i, j))
                .collect::<Vec<_>>()
        })
        .collect();
    match c {
        Corruption::DropElement | Corruption::StaleRead => {
            if reads.is_empty() {
                return false;
            }
            let (i, j) = reads[rng.random_range(0..reads.len())];
            let Some(list) = history[i].value[j][2].as_array_mut() else {
                return false;
            };
            if c == Corruption::DropElement {
                let at = rng.random_range(0..list.len() - 1);
                list.remove(at);
            } else {
                list.pop();
            }
            true
        }
        Corruption::AbortObservedWrite => {
            // Find (key, value) read by someone, then its writer's completion.
            let Some(&(i, j)) =
                (!reads.is_empty()).then(|| &reads[rng.random_range(0..reads.len())])
            else {
                return false;
            };
            let k = history[i].value[j][1].clone();
            let v = history[i].value[j][2][0].clone();
            let target = json!(["append", k, v]);
            let Some(w) = history.iter().position(|op| {
                op.kind == OpType::Ok && op.value.as_array().is_some_and(|ms| ms.contains(&target))
            }) else {
                return false;
            };
            if w == i {
                return false;
            }
            history[w].kind = OpType::Fail;
            true
        }
    }
}
