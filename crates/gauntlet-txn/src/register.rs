//! Read-write register inference. A register's versions carry no history
//! of their own, so the version order is only what is provable: the
//! initial nil precedes every written value, and within a committed txn a
//! write that follows a read of the same key installs a later version than
//! the one read (writes follow reads, Elle's `wfr-keys?`).

use rustc_hash::{FxHashMap, FxHashSet};

use crate::anomaly::{Anomalies, Anomaly, who};
use crate::graph::{EdgeList, RW, WR, WW};
use crate::history::{MopKind, Status, Txns};

/// A committed txn's first read of a key, before writing it: `None` is nil.
#[derive(Debug, Clone, Copy)]
struct ExtRead {
    key: u32,
    value: Option<i64>,
    /// The txn later wrote the key; its final write installs this.
    then_wrote: Option<i64>,
}

fn show(v: Option<i64>) -> String {
    v.map_or_else(|| "nil".to_owned(), |v| v.to_string())
}

/// Who wrote what, and the provable version order.
#[derive(Debug, Default)]
pub(crate) struct RegisterIndex {
    /// (key, value) → (txn, is that txn's last write to the key).
    writer: FxHashMap<(u32, i64), (u32, bool)>,
    failed: FxHashMap<(u32, i64), u32>,
    /// (key, earlier version, later version, the txn that proves it).
    versions: Vec<(u32, Option<i64>, i64, u32)>,
}

impl RegisterIndex {
    fn writer_of(&self, key: u32, v: i64) -> Option<u32> {
        self.writer.get(&(key, v)).map(|w| w.0)
    }

    fn why_order(&self, txns: &Txns, key: u32, earlier: Option<i64>, later: i64) -> String {
        let k = txns.keys[key as usize];
        match earlier {
            None => format!("every value of key {k} follows the initial nil"),
            Some(e) => self
                .versions
                .iter()
                .find(|&&(kk, a, b, _)| kk == key && a == Some(e) && b == later)
                .map_or_else(
                    || format!("{e} precedes {later} on key {k}"),
                    |&(_, _, _, via)| {
                        format!("{} read key {k} as {e}, then wrote {later}", who(txns, via))
                    },
                ),
        }
    }

    /// Why `a -rel-> b` holds, in words.
    pub fn explain(&self, txns: &Txns, a: u32, b: u32, rel: u8) -> Option<String> {
        match rel {
            WW => self.versions.iter().find_map(|&(key, e, l, _)| {
                let e = e?;
                (self.writer_of(key, e) == Some(a) && self.writer_of(key, l) == Some(b)).then(
                    || {
                        format!(
                            "{} wrote key {} = {e}; {} wrote {l}, a later version ({}): ww",
                            who(txns, a),
                            txns.keys[key as usize],
                            who(txns, b),
                            self.why_order(txns, key, Some(e), l)
                        )
                    },
                )
            }),
            WR => ext_reads(txns, b).into_iter().find_map(|r| {
                let v = r.value?;
                (self.writer_of(r.key, v) == Some(a)).then(|| {
                    format!(
                        "{} wrote key {} = {v}; {} read it: wr",
                        who(txns, a),
                        txns.keys[r.key as usize],
                        who(txns, b)
                    )
                })
            }),
            RW => ext_reads(txns, a).into_iter().find_map(|r| {
                self.versions.iter().find_map(|&(key, e, l, _)| {
                    (key == r.key && e == r.value && self.writer_of(key, l) == Some(b)).then(|| {
                        format!(
                            "{} read key {} = {}; {} wrote {l}, a later version ({}): rw",
                            who(txns, a),
                            txns.keys[key as usize],
                            show(e),
                            who(txns, b),
                            self.why_order(txns, key, e, l)
                        )
                    })
                })
            }),
            _ => None,
        }
    }
}

fn replay(txns: &Txns, t: u32, internal: &mut Vec<Anomaly>) -> Vec<ExtRead> {
    // Per key: the value the txn knows the key has, if any.
    let mut known: Vec<(u32, Option<i64>)> = Vec::new();
    let mut ext: Vec<ExtRead> = Vec::new();
    for m in txns.mops(t) {
        let at = known.iter().position(|s| s.0 == m.key);
        match m.kind {
            MopKind::Write => {
                match at {
                    Some(i) => known[i].1 = Some(m.arg),
                    None => known.push((m.key, Some(m.arg))),
                }
                if let Some(r) = ext.iter_mut().find(|r| r.key == m.key) {
                    r.then_wrote = Some(m.arg);
                }
            }
            MopKind::Read if m.read_known => {
                let v = txns.read(m).first().copied();
                match at {
                    Some(i) if known[i].1 != v => {
                        internal.push(Anomaly {
                            kind: "internal",
                            ops: vec![txns.txns[t as usize].op_index()],
                            key: Some(txns.keys[m.key as usize]),
                            cycle: Vec::new(),
                            explanation: format!(
                                "{} read key {} = {}, but its own earlier reads and writes imply {}",
                                who(txns, t),
                                txns.keys[m.key as usize],
                                show(v),
                                show(known[i].1)
                            ),
                        });
                        known[i].1 = v;
                    }
                    Some(_) => {}
                    None => {
                        known.push((m.key, v));
                        ext.push(ExtRead {
                            key: m.key,
                            value: v,
                            then_wrote: None,
                        });
                    }
                }
            }
            MopKind::Read => {}
        }
    }
    ext
}

fn ext_reads(txns: &Txns, t: u32) -> Vec<ExtRead> {
    if txns.txns[t as usize].status != Status::Ok {
        return Vec::new();
    }
    replay(txns, t, &mut Vec::new())
}

/// Infers ww, wr and rw edges and the non-cycle anomalies.
pub(crate) fn infer(
    txns: &Txns,
    edges: &mut EdgeList,
    found: &mut Anomalies,
) -> Result<RegisterIndex, crate::TxnError> {
    let mut idx = RegisterIndex::default();
    let nkeys = txns.keys.len();
    // Final writes per key (the versions a txn installs), by key.
    let mut finals: Vec<Vec<i64>> = vec![Vec::new(); nkeys];
    for (t, x) in txns.txns.iter().enumerate() {
        let t = t as u32;
        let mops = txns.mops(t);
        for (i, m) in mops.iter().enumerate() {
            if m.kind != MopKind::Write {
                continue;
            }
            let last = !mops[i + 1..]
                .iter()
                .any(|n| n.kind == MopKind::Write && n.key == m.key);
            let dup = if x.status == Status::Fail {
                idx.failed.insert((m.key, m.arg), t).is_some()
                    || idx.writer.contains_key(&(m.key, m.arg))
            } else {
                if last {
                    finals[m.key as usize].push(m.arg);
                }
                idx.writer.insert((m.key, m.arg), (t, last)).is_some()
                    || idx.failed.contains_key(&(m.key, m.arg))
            };
            if dup {
                let first = idx
                    .writer
                    .get(&(m.key, m.arg))
                    .map(|w| w.0)
                    .into_iter()
                    .chain(idx.failed.get(&(m.key, m.arg)).copied())
                    .find(|&f| f != t)
                    .unwrap_or(t);
                return Err(crate::TxnError::DuplicateWrite {
                    index: x.op_index(),
                    key: txns.keys[m.key as usize],
                    value: m.arg,
                    first: txns.txns[first as usize].op_index(),
                });
            }
        }
    }
    let mut internal = Vec::new();
    let mut readers: FxHashMap<(u32, Option<i64>), Vec<u32>> = FxHashMap::default();
    // (key, value read) → committed txns that read it and wrote the key.
    let mut updaters: FxHashMap<(u32, Option<i64>), Vec<u32>> = FxHashMap::default();
    for (t, x) in txns.txns.iter().enumerate() {
        if x.status != Status::Ok {
            continue;
        }
        let t = t as u32;
        for r in replay(txns, t, &mut internal) {
            let k = txns.keys[r.key as usize];
            readers.entry((r.key, r.value)).or_default().push(t);
            if let Some(w) = r.then_wrote {
                idx.versions.push((r.key, r.value, w, t));
                updaters.entry((r.key, r.value)).or_default().push(t);
            }
            let Some(v) = r.value else { continue };
            match idx.writer.get(&(r.key, v)) {
                Some(&(w, is_last)) => {
                    edges.add(w, t, WR);
                    if !is_last && w != t {
                        found.push(Anomaly {
                            kind: "G1b",
                            ops: vec![txns.txns[w as usize].op_index(), x.op_index()],
                            key: Some(k),
                            cycle: Vec::new(),
                            explanation: format!(
                                "{} read key {k} = {v}, an intermediate write of {}, which wrote key {k} again later",
                                who(txns, t),
                                who(txns, w)
                            ),
                        });
                    }
                }
                None => found.push(match idx.failed.get(&(r.key, v)) {
                    Some(&f) => Anomaly {
                        kind: "G1a",
                        ops: vec![txns.txns[f as usize].op_index(), x.op_index()],
                        key: Some(k),
                        cycle: Vec::new(),
                        explanation: format!(
                            "{} read key {k} = {v}, which {} wrote and which was aborted",
                            who(txns, t),
                            who(txns, f)
                        ),
                    },
                    None => Anomaly {
                        kind: "garbage-read",
                        ops: vec![x.op_index()],
                        key: Some(k),
                        cycle: Vec::new(),
                        explanation: format!(
                            "{} read key {k} = {v}, which no transaction wrote",
                            who(txns, t)
                        ),
                    },
                }),
            }
        }
    }
    for a in internal {
        found.push(a);
    }
    // The initial nil precedes the versions with no other known
    // predecessor; the rest follow nil through those (transitively).
    let has_pred: FxHashSet<(u32, i64)> = idx
        .versions
        .iter()
        .filter(|v| v.1.is_some())
        .map(|v| (v.0, v.2))
        .collect();
    let mut nil_edges = Vec::new();
    for (key, vs) in finals.iter().enumerate() {
        let key = key as u32;
        if !readers.contains_key(&(key, None)) {
            continue;
        }
        for &v in vs {
            if !has_pred.contains(&(key, v)) {
                nil_edges.push((key, None, v, u32::MAX));
            }
        }
    }
    let mut seen: FxHashSet<(u32, Option<i64>, i64)> = FxHashSet::default();
    for &(key, e, l, _) in idx.versions.iter().chain(nil_edges.iter()) {
        if !seen.insert((key, e, l)) {
            continue;
        }
        let Some(lw) = idx.writer_of(key, l) else {
            continue;
        };
        if let Some(ew) = e.and_then(|e| idx.writer_of(key, e)) {
            edges.add(ew, lw, WW);
        }
        if let Some(rs) = readers.get(&(key, e)) {
            for &r in rs {
                edges.add(r, lw, RW);
            }
        }
    }
    for ((key, v), ts) in updaters {
        if ts.len() < 2 {
            continue;
        }
        let k = txns.keys[key as usize];
        let names: Vec<String> = ts.iter().map(|&t| who(txns, t)).collect();
        found.push(Anomaly {
            kind: "lost-update",
            ops: ts
                .iter()
                .map(|&t| txns.txns[t as usize].op_index())
                .collect(),
            key: Some(k),
            cycle: Vec::new(),
            explanation: format!(
                "{} all read key {k} = {} and all wrote it: one's update is lost to the others",
                names.join(", "),
                show(v)
            ),
        });
    }
    Ok(idx)
}
