//! Seeded histories for tests and benchmarks: a sequential run of a
//! built-in model, stretched into concurrency windows.
//!
//! Each client invokes an operation, which takes effect at a random point
//! of its window (invoke .. completion) on a sequential model, and
//! completes with what the model returned; windows of different clients
//! overlap freely. Such a history is linearizable by construction (the
//! effect points are a witness). Some operations end `info` (taking
//! effect or not, and the client continues as a new process, as in
//! Jepsen), some `fail` (no effect). [`corrupt`] then makes one result
//! impossible.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

use gauntlet_history::{Op, OpType, Process};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// A built-in model name ([`crate::MODEL_NAMES`]).
    pub model: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Client operations (each is an invoke and a completion).
    pub ops: usize,
    /// 0: no `key` field; otherwise each op picks one of `keys` keys
    /// (`"0"`, `"1"`, ...), each an independent object.
    pub keys: usize,
    /// Distinct values written (register, cas-register) .
    pub values: u64,
    /// Share of operations that end `info` (half of them take effect).
    pub info_rate: f64,
    /// Share of operations that `fail` without effect (besides those the
    /// model refuses, such as a cas whose `from` does not match).
    pub fail_rate: f64,
    /// Operation windows last 1..=this many time units; gaps between a
    /// client's operations are as long. Longer windows, more overlap.
    pub window: u64,
    pub seed: u64,
}

impl GenConfig {
    /// A config with Jepsen-like defaults: 5 values, 1% info, 1% fail.
    pub fn new(model: &str, clients: usize, ops: usize, keys: usize, seed: u64) -> GenConfig {
        GenConfig {
            model: model.to_owned(),
            clients,
            ops,
            keys,
            values: 5,
            info_rate: 0.01,
            fail_rate: 0.01,
            window: 100,
            seed,
        }
    }
}

/// One object's state in the sequential run.
#[derive(Debug, Clone)]
enum Seq {
    Reg(Value),
    Kv(String),
    Set(BTreeSet<i64>),
    Queue(VecDeque<i64>),
    Mutex(bool),
    Counter(i64),
}

fn initial(model: &str) -> Seq {
    match model {
        "kv" => Seq::Kv(String::new()),
        "set" => Seq::Set(BTreeSet::new()),
        "fifo-queue" => Seq::Queue(VecDeque::new()),
        "mutex" => Seq::Mutex(false),
        "counter" => Seq::Counter(0),
        _ => Seq::Reg(Value::Null),
    }
}

struct Source {
    model: String,
    values: u64,
    unique: i64,
}

impl Source {
    /// A random operation: (f, invoke value).
    fn next(&mut self, rng: &mut ChaCha8Rng, process: u64) -> (&'static str, Value) {
        self.unique += 1;
        let u = self.unique;
        let v = rng.random_range(0..self.values.max(1));
        let read = rng.random_bool(0.5);
        match self.model.as_str() {
            "register" => match read {
                true => ("read", Value::Null),
                false => ("write", json!(v)),
            },
            "cas-register" => match rng.random_range(0..3) {
                0 => ("read", Value::Null),
                1 => ("write", json!(v)),
                _ => ("cas", json!([v, rng.random_range(0..self.values.max(1))])),
            },
            "kv" => match (read, rng.random_range(0..10)) {
                (true, _) => ("get", Value::Null),
                (false, 0) => ("put", json!(format!("p{process}.{u} "))),
                (false, _) => ("append", json!(format!("x{process}.{u} "))),
            },
            "set" => match read {
                true => ("read", Value::Null),
                false => ("add", json!(u)),
            },
            "fifo-queue" => match read {
                true => ("dequeue", Value::Null),
                false => ("enqueue", json!(u)),
            },
            "mutex" => match read {
                true => ("acquire", Value::Null),
                false => ("release", Value::Null),
            },
            _ => match read {
                true => ("read", Value::Null),
                false => ("add", json!(rng.random_range(-5i64..=5))),
            },
        }
    }
}

/// Applies an operation to the sequential state: `Some(result)` if it
/// happened, `None` if the model refuses it (it then `fail`s).
fn apply(state: &mut Seq, f: &str, value: &Value) -> Option<Value> {
    match (state, f) {
        (Seq::Reg(s), "read") => Some(s.clone()),
        (Seq::Reg(s), "write") => {
            *s = value.clone();
            Some(value.clone())
        }
        (Seq::Reg(s), "cas") => {
            if *s == value[0] {
                *s = value[1].clone();
                Some(value.clone())
            } else {
                None
            }
        }
        (Seq::Kv(s), "get") => Some(json!(s)),
        (Seq::Kv(s), "put") => {
            *s = value.as_str().unwrap_or_default().to_owned();
            Some(value.clone())
        }
        (Seq::Kv(s), "append") => {
            s.push_str(value.as_str().unwrap_or_default());
            Some(value.clone())
        }
        (Seq::Set(s), "read") => Some(json!(s.iter().collect::<Vec<_>>())),
        (Seq::Set(s), "add") => {
            s.insert(value.as_i64().unwrap_or_default());
            Some(value.clone())
        }
        (Seq::Queue(q), "dequeue") => Some(q.pop_front().map_or(Value::Null, Value::from)),
        (Seq::Queue(q), "enqueue") => {
            q.push_back(value.as_i64().unwrap_or_default());
            Some(value.clone())
        }
        (Seq::Mutex(held), "acquire") if !*held => {
            *held = true;
            Some(Value::Null)
        }
        (Seq::Mutex(held), "release") if *held => {
            *held = false;
            Some(Value::Null)
        }
        (Seq::Counter(n), "read") => Some(json!(*n)),
        (Seq::Counter(n), "add") => {
            *n += value.as_i64().unwrap_or_default();
            Some(value.clone())
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Invoke = 0,
    Effect = 1,
    Complete = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ok,
    Fail,
    /// Ends `info`; the bool says whether it takes effect.
    Info(bool),
}

struct Pending {
    process: u64,
    f: &'static str,
    key: Option<usize>,
    value: Value,
    fate: Fate,
    result: Option<Value>,
}

/// Generates a linearizable history (see the module docs).
///
/// # Panics
/// If `cfg.model` is not a built-in model name.
pub fn generate(cfg: &GenConfig) -> Vec<Op> {
    assert!(
        crate::MODEL_NAMES.contains(&cfg.model.as_str()),
        "unknown model {}",
        cfg.model
    );
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let clients = cfg.clients.max(1);
    let window = cfg.window.max(1);
    let mut source = Source {
        model: cfg.model.clone(),
        values: cfg.values,
        unique: 0,
    };
    let mut states: Vec<Seq> = (0..cfg.keys.max(1)).map(|_| initial(&cfg.model)).collect();
    let mut process: Vec<u64> = (0..clients as u64).collect();
    let mut pending: Vec<Option<Pending>> = (0..clients).map(|_| None).collect();
    // (time, event, sequence, client)
    let mut heap: BinaryHeap<Reverse<(u64, Event, u64, usize)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut issued = 0usize;
    for c in 0..clients {
        heap.push(Reverse((
            rng.random_range(0..window),
            Event::Invoke,
            seq,
            c,
        )));
        seq += 1;
    }
    let mut history = Vec::with_capacity(cfg.ops * 2);
    while let Some(Reverse((t, event, _, c))) = heap.pop() {
        match event {
            Event::Invoke => {
                if issued == cfg.ops {
                    continue;
                }
                issued += 1;
                let p = process[c];
                let (f, value) = source.next(&mut rng, p);
                let key = (cfg.keys > 0).then(|| rng.random_range(0..cfg.keys));
                let roll: f64 = rng.random();
                let fate = if roll < cfg.info_rate {
                    Fate::Info(rng.random_bool(0.5))
                } else if roll < cfg.info_rate + cfg.fail_rate {
                    Fate::Fail
                } else {
                    Fate::Ok
                };
                let mut op = Op::invoke(p, f, value.clone());
                op.key = key.map(|k| json!(k.to_string()));
                op.time = Some(t);
                op.index = history.len() as u64;
                history.push(op);
                let dur = rng.random_range(1..=window);
                let effect = t + rng.random_range(0..=dur);
                heap.push(Reverse((effect, Event::Effect, seq, c)));
                heap.push(Reverse((t + dur, Event::Complete, seq + 1, c)));
                seq += 2;
                pending[c] = Some(Pending {
                    process: p,
                    f,
                    key,
                    value,
                    fate,
                    result: None,
                });
            }
            Event::Effect => {
                let Some(op) = pending[c].as_mut() else {
                    continue;
                };
                let happens = match op.fate {
                    Fate::Ok | Fate::Info(true) => true,
                    Fate::Fail | Fate::Info(false) => false,
                };
                if happens {
                    let state = &mut states[op.key.unwrap_or(0)];
                    op.result = apply(state, op.f, &op.value);
                    if op.result.is_none() && op.fate == Fate::Ok {
                        op.fate = Fate::Fail;
                    }
                }
            }
            Event::Complete => {
                let Some(op) = pending[c].take() else {
                    continue;
                };
                let (kind, value) = match op.fate {
                    Fate::Ok => (OpType::Ok, op.result.unwrap_or(Value::Null)),
                    Fate::Fail => (OpType::Fail, op.value.clone()),
                    Fate::Info(_) => (OpType::Info, op.value.clone()),
                };
                let mut done = Op::invoke(op.process, op.f, value);
                done.kind = kind;
                done.key = op.key.map(|k| json!(k.to_string()));
                done.time = Some(t);
                done.index = history.len() as u64;
                history.push(done);
                if matches!(op.fate, Fate::Info(_)) {
                    process[c] += clients as u64;
                }
                let gap = rng.random_range(1..=window);
                heap.push(Reverse((t + gap, Event::Invoke, seq, c)));
                seq += 1;
            }
        }
    }
    history
}

/// The `f` whose `ok` value is a read result, per model.
pub fn read_f(model: &str) -> Option<&'static str> {
    match model {
        "register" | "cas-register" | "set" | "counter" => Some("read"),
        "kv" => Some("get"),
        "fifo-queue" => Some("dequeue"),
        _ => None,
    }
}

/// Makes a valid generated history impossible: one read's result (picked
/// by `seed`) becomes a value no write could produce; for `mutex`, which
/// has no reads, releases nobody could have made are appended. Returns the
/// `index` of the changed op, or `None` if the history has no read to
/// change.
pub fn corrupt(history: &mut Vec<Op>, model: &str, seed: u64) -> Option<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    if model == "mutex" {
        // Each release needs an acquire before it; only indeterminate
        // acquires are unaccounted for.
        let mut open = std::collections::HashSet::new();
        let mut unknown_acquires = 0;
        for op in history.iter() {
            match op.kind {
                OpType::Invoke => {
                    open.insert(op.process);
                }
                _ => {
                    open.remove(&op.process);
                    if op.kind == OpType::Info && op.f == "acquire" {
                        unknown_acquires += 1;
                    }
                }
            }
        }
        unknown_acquires += open.len();
        let p = history
            .iter()
            .filter_map(|o| match o.process {
                Process::Client(p) => Some(p + 1),
                Process::Nemesis => None,
            })
            .max()
            .unwrap_or(0);
        let first = history.len() as u64;
        for _ in 0..unknown_acquires + 2 {
            let mut inv = Op::invoke(p, "release", Value::Null);
            inv.index = history.len() as u64;
            let mut ok = inv.complete(OpType::Ok, Value::Null);
            ok.index = inv.index + 1;
            history.push(inv);
            history.push(ok);
        }
        return Some(first);
    }
    let f = read_f(model)?;
    let reads: Vec<usize> = history
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OpType::Ok && o.f == f)
        .map(|(i, _)| i)
        .collect();
    if reads.is_empty() {
        return None;
    }
    let at = reads[rng.random_range(0..reads.len())];
    let impossible = 1i64 << 40;
    let total: i64 = history
        .iter()
        .filter(|o| o.kind == OpType::Invoke && o.f == "add")
        .filter_map(|o| o.value.as_i64())
        .map(i64::abs)
        .sum();
    let op = &mut history[at];
    op.value = match model {
        "kv" => json!("!never written!"),
        "set" => {
            let mut items = op.value.as_array().cloned().unwrap_or_default();
            items.push(json!(impossible));
            Value::Array(items)
        }
        "counter" => json!(total + 1),
        _ => json!(impossible),
    };
    Some(op.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_history() {
        for model in crate::MODEL_NAMES {
            let cfg = GenConfig::new(model, 4, 200, 2, 7);
            let a = generate(&cfg);
            assert_eq!(a, generate(&cfg), "{model}");
            assert_eq!(a.len(), 400, "{model}");
            assert!(a.iter().enumerate().all(|(i, o)| o.index == i as u64));
            let mut b = GenConfig::new(model, 4, 200, 2, 8);
            b.seed = 8;
            assert_ne!(a, generate(&b), "{model}");
        }
    }
}
