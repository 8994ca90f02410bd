//! The history turned once into compact transactions: integer keys and
//! values in flat arrays, so the inference never touches JSON again.

use gauntlet_history::{Op, OpType, Process};
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::error::TxnError;

/// Which data type the transactions operate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// `["append", k, v]` and `["r", k, [v ...]]`.
    ListAppend,
    /// `["w", k, v]` and `["r", k, v]`.
    RwRegister,
}

impl Workload {
    /// The checker name the workload goes by (Maelstrom's workload name).
    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }

    fn write_f(self) -> &'static str {
        match self {
            Workload::ListAppend => "append",
            Workload::RwRegister => "w",
        }
    }
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Committed.
    Ok,
    /// Did not happen: its writes are aborted.
    Fail,
    /// May or may not have happened (`info`, or never completed).
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MopKind {
    /// An append (list-append) or a write (rw-register).
    Write,
    Read,
}

/// One micro-op. A read's result is `elems[read_start..read_start +
/// read_len]`: the list read (list-append) or zero or one value
/// (rw-register, zero meaning nil).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mop {
    pub kind: MopKind,
    /// Interned key id (see [`Txns::keys`]).
    pub key: u32,
    /// The value written or appended.
    pub arg: i64,
    pub read_start: u32,
    pub read_len: u32,
    /// False for reads whose result is unknown (not an `ok` completion).
    pub read_known: bool,
}

/// One transaction: an invoke and its completion, if any.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    /// The invoke's `index` field.
    pub invoke_index: u64,
    /// The completion's `index` field.
    pub complete_index: Option<u64>,
    /// Positions in the history slice, the real-time order.
    pub invoke_pos: u32,
    pub complete_pos: Option<u32>,
    pub process: u64,
    pub status: Status,
    pub mops_start: u32,
    pub mops_end: u32,
}

impl Txn {
    /// The op index a person looks for: the completion's when there is one
    /// (it carries the reads), else the invoke's.
    pub fn op_index(&self) -> u64 {
        self.complete_index.unwrap_or(self.invoke_index)
    }
}

/// The transactions of a history, in invoke order.
#[derive(Debug, Default)]
pub(crate) struct Txns {
    pub txns: Vec<Txn>,
    pub mops: Vec<Mop>,
    pub elems: Vec<i64>,
    /// Key id → key.
    pub keys: Vec<i64>,
}

impl Txns {
    pub fn mops(&self, t: u32) -> &[Mop] {
        let t = &self.txns[t as usize];
        &self.mops[t.mops_start as usize..t.mops_end as usize]
    }

    pub fn read(&self, m: &Mop) -> &[i64] {
        &self.elems[m.read_start as usize..(m.read_start + m.read_len) as usize]
    }

    pub fn ok_count(&self) -> usize {
        self.txns.iter().filter(|t| t.status == Status::Ok).count()
    }
}

/// The most transactions (and micro-ops) the u32 ids address.
pub(crate) const MAX_LEN: usize = (u32::MAX - 1) as usize;

/// Pairs invokes with completions by process and converts every `txn` op.
/// Nemesis ops and ops with another `f` are ignored.
pub(crate) fn parse(history: &[Op], workload: Workload) -> Result<Txns, TxnError> {
    if history.len() > MAX_LEN {
        return Err(TxnError::TooLong {
            len: history.len(),
            max: MAX_LEN,
        });
    }
    let mut out = Txns::default();
    out.txns.reserve(history.len() / 2 + 1);
    let mut open: FxHashMap<u64, u32> = FxHashMap::default();
    let mut key_ids: FxHashMap<i64, u32> = FxHashMap::default();
    let mut completion_of: Vec<u32> = Vec::with_capacity(history.len() / 2 + 1);
    for (pos, op) in history.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        if op.f != "txn" {
            continue;
        }
        if op.kind == OpType::Invoke {
            let id = out.txns.len() as u32;
            if let Some(prev) = open.insert(p, id) {
                return Err(TxnError::InvokeWhileOpen {
                    index: op.index,
                    process: p,
                    open_index: out.txns[prev as usize].invoke_index,
                });
            }
            completion_of.push(u32::MAX);
            out.txns.push(Txn {
                invoke_index: op.index,
                complete_index: None,
                invoke_pos: pos as u32,
                complete_pos: None,
                process: p,
                status: Status::Info,
                mops_start: 0,
                mops_end: 0,
            });
            continue;
        }
        let Some(id) = open.remove(&p) else {
            return Err(TxnError::CompletionWithoutInvoke {
                index: op.index,
                process: p,
            });
        };
        completion_of[id as usize] = pos as u32;
        let t = &mut out.txns[id as usize];
        t.complete_index = Some(op.index);
        t.status = match op.kind {
            OpType::Ok => Status::Ok,
            OpType::Fail => Status::Fail,
            _ => Status::Info,
        };
        // Only an info completion lacks a completion time: it may take
        // effect at any later moment, so it precedes nothing.
        if t.status != Status::Info {
            t.complete_pos = Some(pos as u32);
        }
    }
    // Micro-ops after pairing, so each txn reads the op that carries its
    // results (the ok completion) or else its invoke.
    for (id, &completion) in completion_of.iter().enumerate() {
        let t = &out.txns[id];
        let (source, known) = match (t.status, completion) {
            (Status::Ok, pos) if pos != u32::MAX => (&history[pos as usize], true),
            _ => (&history[t.invoke_pos as usize], false),
        };
        let start = out.mops.len() as u32;
        parse_mops(source, workload, known, &mut key_ids, &mut out)?;
        if out.mops.len() > MAX_LEN || out.elems.len() > MAX_LEN {
            return Err(TxnError::TooLong {
                len: out.mops.len().max(out.elems.len()),
                max: MAX_LEN,
            });
        }
        let end = out.mops.len() as u32;
        let t = &mut out.txns[id];
        t.mops_start = start;
        t.mops_end = end;
    }
    Ok(out)
}

fn bad(op: &Op, message: String) -> TxnError {
    TxnError::BadTxn {
        index: op.index,
        message,
    }
}

fn int(op: &Op, what: &str, v: &Value) -> Result<i64, TxnError> {
    v.as_i64()
        .ok_or_else(|| bad(op, format!("{what} must be an integer, found {v}")))
}

fn parse_mops(
    op: &Op,
    workload: Workload,
    known: bool,
    key_ids: &mut FxHashMap<i64, u32>,
    out: &mut Txns,
) -> Result<(), TxnError> {
    let Some(list) = op.value.as_array() else {
        return Err(bad(
            op,
            format!(
                "a txn's value must be a list of micro-ops, found {}",
                op.value
            ),
        ));
    };
    for m in list {
        let parts = match m.as_array() {
            Some(parts) if parts.len() == 3 => parts,
            _ => {
                return Err(bad(
                    op,
                    format!("a micro-op must be [f, key, value], found {m}"),
                ));
            }
        };
        let f = parts[0].as_str().map(|s| s.strip_prefix(':').unwrap_or(s));
        let key = int(op, "a key", &parts[1])?;
        let next = key_ids.len() as u32;
        let key = *key_ids.entry(key).or_insert_with(|| {
            out.keys.push(key);
            next
        });
        let mut mop = Mop {
            kind: MopKind::Read,
            key,
            arg: 0,
            read_start: out.elems.len() as u32,
            read_len: 0,
            read_known: false,
        };
        match f {
            Some(w) if w == workload.write_f() => {
                mop.kind = MopKind::Write;
                mop.arg = int(op, "a written value", &parts[2])?;
            }
            Some("r") => {
                if known {
                    mop.read_known = true;
                    match (workload, &parts[2]) {
                        (_, Value::Null) => {}
                        (Workload::ListAppend, Value::Array(vs)) => {
                            for v in vs {
                                out.elems.push(int(op, "a list element", v)?);
                            }
                        }
                        (Workload::RwRegister, v) => out.elems.push(int(op, "a read value", v)?),
                        (Workload::ListAppend, v) => {
                            return Err(bad(
                                op,
                                format!("a read must be a list or null, found {v}"),
                            ));
                        }
                    }
                    mop.read_len = out.elems.len() as u32 - mop.read_start;
                }
            }
            _ => {
                return Err(bad(
                    op,
                    format!(
                        "{}: unknown micro-op {} (expected \"{}\" or \"r\")",
                        workload.name(),
                        parts[0],
                        workload.write_f()
                    ),
                ));
            }
        }
        out.mops.push(mop);
    }
    Ok(())
}
