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

/// One micro-op. A read's result is [`Txns::read`]: the list read
/// (list-append) or zero or one value (rw-register, zero meaning nil).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mop {
    pub kind: MopKind,
    /// Interned key id (see [`Txns::keys`]).
    pub key: u32,
    /// The value written or appended.
    pub arg: i64,
    /// Where the read's values are: `elems[read_start..]`, or the first
    /// `read_len` of the key's canonical list when `read_start` is
    /// [`CANON`].
    pub read_start: u32,
    pub read_len: u32,
    /// False for reads whose result is unknown (not an `ok` completion).
    pub read_known: bool,
}

/// A `read_start` meaning "a prefix of the key's canonical list".
pub(crate) const CANON: u32 = u32::MAX;

/// One transaction: an invoke and its completion, if any.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    /// The invoke's `index` field.
    pub invoke_index: u64,
    /// The completion's `index` field.
    pub complete_index: Option<u64>,
    /// Positions in the history, the real-time order.
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
///
/// List-append reads are nearly all prefixes of one growing list per key,
/// so each key keeps one canonical list (the longest read so far, grown
/// when a read extends it) and such reads are a length into it; only reads
/// that disagree with it are copied into `elems`. A million transactions
/// then hold a few MiB of list elements instead of hundreds.
#[derive(Debug, Default)]
pub(crate) struct Txns {
    pub txns: Vec<Txn>,
    pub mops: Vec<Mop>,
    pub elems: Vec<i64>,
    /// Per key id: its canonical list (list-append).
    pub canon: Vec<Vec<i64>>,
    /// Key id → key.
    pub keys: Vec<i64>,
}

impl Txns {
    pub fn mops(&self, t: u32) -> &[Mop] {
        let t = &self.txns[t as usize];
        &self.mops[t.mops_start as usize..t.mops_end as usize]
    }

    pub fn read(&self, m: &Mop) -> &[i64] {
        self.slice(m.key, m.read_start, m.read_len)
    }

    /// The values a (start, len) of key `key` stands for.
    pub fn slice(&self, key: u32, start: u32, len: u32) -> &[i64] {
        if start == CANON {
            &self.canon[key as usize][..len as usize]
        } else {
            &self.elems[start as usize..(start + len) as usize]
        }
    }

    pub fn ok_count(&self) -> usize {
        self.txns.iter().filter(|t| t.status == Status::Ok).count()
    }
}

/// The most transactions (and micro-ops) the u32 ids address.
pub(crate) const MAX_LEN: usize = (u32::MAX - 1) as usize;

/// A parsed history of transactions, compact: what
/// [`crate::check_transactions`] checks. Made by a [`TxnBuilder`], op by
/// op, so a history read from a file need never be held whole as [`Op`]s.
#[derive(Debug)]
pub struct Transactions {
    pub(crate) txns: Txns,
    pub(crate) workload: Workload,
}

impl Transactions {
    /// How many transactions (ok, fail and indeterminate).
    pub fn len(&self) -> usize {
        self.txns.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.txns.is_empty()
    }

    pub fn workload(&self) -> Workload {
        self.workload
    }
}

/// An open transaction: its id, and the micro-ops of its invoke (used if
/// it does not commit) or the error they gave (raised only then).
#[derive(Debug)]
struct Open {
    id: u32,
    mops: Result<Vec<Mop>, TxnError>,
}

/// Turns a history into [`Transactions`], one op at a time, in history
/// order: pairs invokes with completions by process and converts every
/// `txn` op. Nemesis ops and ops with another `f` are ignored (but count
/// as positions). A committed transaction's micro-ops are its completion's
/// (which carry the reads); any other's are its invoke's, whose errors
/// count only then.
#[derive(Debug)]
pub struct TxnBuilder {
    workload: Workload,
    out: Txns,
    open: FxHashMap<u64, Open>,
    key_ids: FxHashMap<i64, u32>,
    /// Ops seen: the next op's position.
    pos: usize,
    scratch: Vec<i64>,
}

impl TxnBuilder {
    pub fn new(workload: Workload) -> TxnBuilder {
        TxnBuilder {
            workload,
            out: Txns::default(),
            open: FxHashMap::default(),
            key_ids: FxHashMap::default(),
            pos: 0,
            scratch: Vec::new(),
        }
    }

    /// The next op of the history.
    pub fn push(&mut self, op: &Op) -> Result<(), TxnError> {
        let pos = self.pos;
        self.pos += 1;
        if self.pos > MAX_LEN {
            return Err(TxnError::TooLong {
                len: self.pos,
                max: MAX_LEN,
            });
        }
        let Process::Client(p) = op.process else {
            return Ok(());
        };
        if op.f != "txn" {
            return Ok(());
        }
        if op.kind == OpType::Invoke {
            let id = self.out.txns.len() as u32;
            if let Some(prev) = self.open.get(&p) {
                return Err(TxnError::InvokeWhileOpen {
                    index: op.index,
                    process: p,
                    open_index: self.out.txns[prev.id as usize].invoke_index,
                });
            }
            let start = self.out.mops.len();
            let mops = self
                .parse_mops(op, false)
                .map(|()| self.out.mops[start..].to_vec());
            self.out.mops.truncate(start);
            self.open.insert(p, Open { id, mops });
            self.out.txns.push(Txn {
                invoke_index: op.index,
                complete_index: None,
                invoke_pos: pos as u32,
                complete_pos: None,
                process: p,
                status: Status::Info,
                mops_start: 0,
                mops_end: 0,
            });
            return Ok(());
        }
        let Some(open) = self.open.remove(&p) else {
            return Err(TxnError::CompletionWithoutInvoke {
                index: op.index,
                process: p,
            });
        };
        let status = match op.kind {
            OpType::Ok => Status::Ok,
            OpType::Fail => Status::Fail,
            _ => Status::Info,
        };
        let start = self.out.mops.len();
        if status == Status::Ok {
            self.parse_mops(op, true)?;
        } else {
            self.out.mops.extend(open.mops?);
        }
        self.check_len()?;
        let end = self.out.mops.len();
        let t = &mut self.out.txns[open.id as usize];
        t.complete_index = Some(op.index);
        t.status = status;
        // Only an info completion lacks a completion time: it may take
        // effect at any later moment, so it precedes nothing.
        if status != Status::Info {
            t.complete_pos = Some(pos as u32);
        }
        t.mops_start = start as u32;
        t.mops_end = end as u32;
        Ok(())
    }

    /// The transactions, once every op has been pushed. Invokes never
    /// completed are indeterminate.
    pub fn finish(mut self) -> Result<Transactions, TxnError> {
        let mut open: Vec<Open> = self.open.drain().map(|(_, o)| o).collect();
        open.sort_unstable_by_key(|o| o.id);
        for o in open {
            let start = self.out.mops.len();
            self.out.mops.extend(o.mops?);
            self.check_len()?;
            let t = &mut self.out.txns[o.id as usize];
            t.mops_start = start as u32;
            t.mops_end = self.out.mops.len() as u32;
        }
        let mut txns = self.out;
        txns.mops.shrink_to_fit();
        txns.elems.shrink_to_fit();
        txns.txns.shrink_to_fit();
        for c in &mut txns.canon {
            c.shrink_to_fit();
        }
        Ok(Transactions {
            txns,
            workload: self.workload,
        })
    }

    fn check_len(&self) -> Result<(), TxnError> {
        let len = self.out.mops.len().max(self.out.elems.len());
        if len > MAX_LEN {
            return Err(TxnError::TooLong { len, max: MAX_LEN });
        }
        Ok(())
    }

    fn key_id(&mut self, key: i64) -> u32 {
        let next = self.key_ids.len() as u32;
        let out = &mut self.out;
        *self.key_ids.entry(key).or_insert_with(|| {
            out.keys.push(key);
            out.canon.push(Vec::new());
            next
        })
    }

    /// Appends `op`'s micro-ops to `self.out.mops`; `known`: its reads'
    /// results are known (an ok completion).
    fn parse_mops(&mut self, op: &Op, known: bool) -> Result<(), TxnError> {
        let workload = self.workload;
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
            let key = self.key_id(key);
            let mut mop = Mop {
                kind: MopKind::Read,
                key,
                arg: 0,
                read_start: self.out.elems.len() as u32,
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
                                self.scratch.clear();
                                for v in vs {
                                    self.scratch.push(int(op, "a list element", v)?);
                                }
                                (mop.read_start, mop.read_len) = self.store_list(key);
                            }
                            (Workload::RwRegister, v) => {
                                self.out.elems.push(int(op, "a read value", v)?);
                                mop.read_len = 1;
                            }
                            (Workload::ListAppend, v) => {
                                return Err(bad(
                                    op,
                                    format!("a read must be a list or null, found {v}"),
                                ));
                            }
                        }
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
            self.out.mops.push(mop);
        }
        Ok(())
    }

    /// Stores the list in `scratch`, read from key `key`: as a prefix of
    /// the key's canonical list when it is one or extends it, else copied.
    fn store_list(&mut self, key: u32) -> (u32, u32) {
        let read = &self.scratch;
        let canon = &mut self.out.canon[key as usize];
        let n = read.len().min(canon.len());
        if read[..n] == canon[..n] {
            if read.len() > canon.len() {
                canon.extend_from_slice(&read[n..]);
            }
            return (CANON, read.len() as u32);
        }
        let start = self.out.elems.len() as u32;
        self.out.elems.extend_from_slice(read);
        (start, read.len() as u32)
    }
}

/// The transactions of a history held whole.
pub(crate) fn parse(history: &[Op], workload: Workload) -> Result<Transactions, TxnError> {
    if history.len() > MAX_LEN {
        return Err(TxnError::TooLong {
            len: history.len(),
            max: MAX_LEN,
        });
    }
    let mut b = TxnBuilder::new(workload);
    b.out.txns.reserve(history.len() / 2 + 1);
    for op in history {
        b.push(op)?;
    }
    b.finish()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn txn(p: u64, invoke: Value, ok: Value) -> [Op; 2] {
        let i = Op::invoke(p, "txn", invoke);
        let c = i.complete(OpType::Ok, ok);
        [i, c]
    }

    #[test]
    fn reads_share_the_canonical_list_unless_they_disagree() {
        let mut h = Vec::new();
        for (p, read) in [
            (0, json!([1])),
            (1, json!([1, 2])),
            (2, json!([1, 3])),
            (3, json!([])),
        ] {
            h.extend(txn(p, json!([["r", 5, null]]), json!([["r", 5, read]])));
        }
        let t = parse(&h, Workload::ListAppend).unwrap().txns;
        let reads: Vec<Vec<i64>> = (0..4).map(|i| t.read(&t.mops(i)[0]).to_vec()).collect();
        assert_eq!(reads, [vec![1], vec![1, 2], vec![1, 3], vec![]]);
        assert_eq!(t.canon[0], [1, 2]);
        // Only the read that disagrees is copied.
        assert_eq!(t.elems, [1, 3]);
    }

    #[test]
    fn an_invokes_errors_count_only_if_it_does_not_commit() {
        let h = txn(0, json!("garbage"), json!([["append", 1, 1]]));
        assert_eq!(parse(&h, Workload::ListAppend).unwrap().len(), 1);
        let mut h = txn(0, json!("garbage"), json!([["append", 1, 1]]));
        h[1].kind = OpType::Fail;
        h[1].index = 1;
        let e = parse(&h, Workload::ListAppend).unwrap_err();
        assert_eq!(e.index(), Some(0));
        // Never completed: the same, at the end.
        let e = parse(&h[..1], Workload::ListAppend).unwrap_err();
        assert!(matches!(e, TxnError::BadTxn { index: 0, .. }));
    }
}
