//! List-append inference (Elle §4): every committed read of a key is a
//! prefix of one total order of appends, so the longest read of each key
//! gives its version order, and each read names the version it saw.

use rustc_hash::FxHashMap;

use crate::anomaly::{Anomalies, Anomaly, is_prefix, list, who};
use crate::graph::{EdgeList, RW, WR, WW};
use crate::history::{MopKind, Status, Txns};

/// A transaction's view of a key from outside: what it read before its own
/// appends (its first read of the key, minus its own earlier appends).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExtRead {
    pub key: u32,
    /// See [`Txns::slice`].
    pub start: u32,
    pub len: u32,
}

/// Who appended what, and each key's version order.
#[derive(Debug, Default)]
pub(crate) struct AppendIndex {
    /// (key, value) → (txn, is that txn's last append to the key). Ok and
    /// indeterminate txns only.
    writer: FxHashMap<(u32, i64), (u32, bool)>,
    /// (key, value) → failed txn.
    failed: FxHashMap<(u32, i64), u32>,
    /// Per key: the longest read, as (start, len) (see [`Txns::slice`]).
    order: Vec<(u32, u32)>,
}

impl AppendIndex {
    fn order<'a>(&self, txns: &'a Txns, key: u32) -> &'a [i64] {
        let (s, l) = self.order[key as usize];
        txns.slice(key, s, l)
    }

    fn writer_of(&self, key: u32, v: i64) -> Option<u32> {
        self.writer.get(&(key, v)).map(|w| w.0)
    }

    /// Why `a -rel-> b` holds, in words; `None` if no reason is found.
    pub fn explain(&self, txns: &Txns, a: u32, b: u32, rel: u8) -> Option<String> {
        match rel {
            WW => {
                for m in txns.mops(a).iter().filter(|m| m.kind == MopKind::Write) {
                    let order = self.order(txns, m.key);
                    let Some(i) = order.iter().position(|&v| v == m.arg) else {
                        continue;
                    };
                    if let Some(&next) = order.get(i + 1)
                        && self.writer_of(m.key, next) == Some(b)
                    {
                        return Some(format!(
                            "{} appended {} to key {}; {} appended {} right after it: ww",
                            who(txns, a),
                            m.arg,
                            txns.keys[m.key as usize],
                            who(txns, b),
                            next
                        ));
                    }
                }
                None
            }
            WR => ext_reads(txns, b).into_iter().find_map(|r| {
                let read = txns.slice(r.key, r.start, r.len);
                let last = *read.last()?;
                (self.writer_of(r.key, last) == Some(a)).then(|| {
                    format!(
                        "{} appended {} to key {}; {} read key {} as {}, ending in it: wr",
                        who(txns, a),
                        last,
                        txns.keys[r.key as usize],
                        who(txns, b),
                        txns.keys[r.key as usize],
                        list(read)
                    )
                })
            }),
            RW => ext_reads(txns, a).into_iter().find_map(|r| {
                let read = txns.slice(r.key, r.start, r.len);
                let order = self.order(txns, r.key);
                let next = *order.get(read.len())?;
                (is_prefix(read, order) && self.writer_of(r.key, next) == Some(b)).then(|| {
                    format!(
                        "{} read key {} as {}, without {}; {} appended {}: rw",
                        who(txns, a),
                        txns.keys[r.key as usize],
                        list(read),
                        next,
                        who(txns, b),
                        next
                    )
                })
            }),
            _ => None,
        }
    }
}

/// Replays one committed txn's micro-ops against what it saw, key by key:
/// its external reads, and the internal anomalies (a read that disagrees
/// with its own earlier reads and appends).
fn replay(txns: &Txns, t: u32, internal: &mut Vec<Anomaly>) -> Vec<ExtRead> {
    // Per key in this txn: the external prefix if read (start, len), and
    // the values appended since.
    struct KeyState {
        key: u32,
        base: Option<(u32, u32)>,
        appended: Vec<i64>,
    }
    let mut states: Vec<KeyState> = Vec::new();
    let mut ext = Vec::new();
    for m in txns.mops(t) {
        let i = match states.iter().position(|s| s.key == m.key) {
            Some(i) => i,
            None => {
                states.push(KeyState {
                    key: m.key,
                    base: None,
                    appended: Vec::new(),
                });
                states.len() - 1
            }
        };
        let s = &mut states[i];
        match m.kind {
            MopKind::Write => s.appended.push(m.arg),
            MopKind::Read if m.read_known => {
                let read = txns.read(m);
                let expected: Option<Vec<i64>> = s.base.map(|(bs, bl)| {
                    let mut e = txns.slice(m.key, bs, bl).to_vec();
                    e.extend_from_slice(&s.appended);
                    e
                });
                let ok = match &expected {
                    Some(e) => e.as_slice() == read,
                    None => read.ends_with(&s.appended),
                };
                if !ok {
                    let wanted = match &expected {
                        Some(e) => list(e),
                        None => format!("a list ending in {}", list(&s.appended)),
                    };
                    internal.push(Anomaly {
                        kind: "internal",
                        ops: vec![txns.txns[t as usize].op_index()],
                        key: Some(txns.keys[m.key as usize]),
                        cycle: Vec::new(),
                        explanation: format!(
                            "{} read key {} as {}, but its own earlier reads and appends imply {}",
                            who(txns, t),
                            txns.keys[m.key as usize],
                            list(read),
                            wanted
                        ),
                    });
                    // Later reads of the key are judged against this one.
                    s.base = Some((m.read_start, m.read_len));
                    s.appended.clear();
                    continue;
                }
                if s.base.is_none() {
                    let len = m.read_len - s.appended.len() as u32;
                    s.base = Some((m.read_start, len));
                    ext.push(ExtRead {
                        key: m.key,
                        start: m.read_start,
                        len,
                    });
                }
            }
            MopKind::Read => {}
        }
    }
    ext
}

/// The external reads of a committed txn (none for others: their reads
/// are unknown).
pub(crate) fn ext_reads(txns: &Txns, t: u32) -> Vec<ExtRead> {
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
) -> Result<AppendIndex, crate::TxnError> {
    let mut idx = AppendIndex::default();
    let nkeys = txns.keys.len();
    // Writers, with each txn's last append per key marked.
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
            let prev = if x.status == Status::Fail {
                idx.failed.insert((m.key, m.arg), t)
            } else {
                idx.writer.insert((m.key, m.arg), (t, last)).map(|p| p.0)
            };
            let other = prev.or_else(|| {
                if x.status == Status::Fail {
                    idx.writer.get(&(m.key, m.arg)).map(|p| p.0)
                } else {
                    idx.failed.get(&(m.key, m.arg)).copied()
                }
            });
            if let Some(first) = other.filter(|&f| f != t) {
                return Err(crate::TxnError::DuplicateWrite {
                    index: x.op_index(),
                    key: txns.keys[m.key as usize],
                    value: m.arg,
                    first: txns.txns[first as usize].op_index(),
                });
            }
        }
    }
    // Every committed read per key (for the version order), and the
    // external reads (for edges).
    let mut all_reads: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); nkeys];
    let mut ext_by_key: Vec<Vec<(u32, ExtRead)>> = vec![Vec::new(); nkeys];
    let mut internal = Vec::new();
    for (t, x) in txns.txns.iter().enumerate() {
        if x.status != Status::Ok {
            continue;
        }
        let t = t as u32;
        for m in txns.mops(t) {
            if m.kind == MopKind::Read && m.read_known {
                all_reads[m.key as usize].push((t, m.read_start, m.read_len));
            }
        }
        for r in replay(txns, t, &mut internal) {
            ext_by_key[r.key as usize].push((t, r));
        }
    }
    for a in internal {
        found.push(a);
    }
    idx.order = vec![(0, 0); nkeys];
    for (key, reads) in all_reads.iter().enumerate() {
        let Some(&(longest_t, ls, ll)) = reads.iter().max_by_key(|r| r.2) else {
            continue;
        };
        idx.order[key] = (ls, ll);
        let k = txns.keys[key];
        let key = key as u32;
        let order = txns.slice(key, ls, ll);
        // Reads that are no prefix of the longest: no single order explains
        // both.
        let mut odd: Vec<(u32, u32, u32)> = Vec::new();
        for &(t, s, l) in reads {
            let read = txns.slice(key, s, l);
            if !is_prefix(read, order) {
                if odd.is_empty() {
                    found.push(Anomaly {
                        kind: "incompatible-order",
                        ops: vec![txns.txns[longest_t as usize].op_index(), txns.txns[t as usize].op_index()],
                        key: Some(k),
                        cycle: Vec::new(),
                        explanation: format!(
                            "{} read key {k} as {}, {} as {}: neither is a prefix of the other, so no single order of appends explains both",
                            who(txns, longest_t),
                            list(order),
                            who(txns, t),
                            list(read)
                        ),
                    });
                }
                odd.push((t, s, l));
            }
        }
        // Duplicates, aborted and unknown elements: in the longest read,
        // which contains every read that agrees with it, and in the odd ones.
        for &(t, s, l) in std::iter::once(&(longest_t, ls, ll)).chain(odd.iter()) {
            let read = txns.slice(key, s, l);
            check_elements(txns, &idx, t, key, read, reads, found);
        }
        // Dirty update: a committed append ordered after an aborted one.
        if let Some((i, &bad)) = order
            .iter()
            .enumerate()
            .find(|(_, v)| idx.failed.contains_key(&(key, **v)))
            && let Some(&later) = order[i + 1..]
                .iter()
                .find(|v| idx.writer.contains_key(&(key, **v)))
        {
            let (f, w) = (idx.failed[&(key, bad)], idx.writer[&(key, later)].0);
            found.push(Anomaly {
                kind: "dirty-update",
                ops: vec![txns.txns[f as usize].op_index(), txns.txns[w as usize].op_index()],
                key: Some(k),
                cycle: Vec::new(),
                explanation: format!(
                    "key {k} is {}: {} appended {later} after {bad}, which {} appended and which was aborted",
                    list(order),
                    who(txns, w),
                    who(txns, f)
                ),
            });
        }
        // ww: consecutive versions.
        for pair in order.windows(2) {
            if let (Some(a), Some(b)) = (idx.writer_of(key, pair[0]), idx.writer_of(key, pair[1])) {
                edges.add(a, b, WW);
            }
        }
        // wr, rw, G1b and lost updates from the external reads.
        let ext = &mut ext_by_key[key as usize];
        for &(t, r) in ext.iter() {
            let read = txns.slice(key, r.start, r.len);
            if let Some(&last) = read.last()
                && let Some(&(w, is_last)) = idx.writer.get(&(key, last))
            {
                edges.add(w, t, WR);
                if !is_last && w != t {
                    found.push(Anomaly {
                        kind: "G1b",
                        ops: vec![txns.txns[w as usize].op_index(), txns.txns[t as usize].op_index()],
                        key: Some(k),
                        cycle: Vec::new(),
                        explanation: format!(
                            "{} read key {k} as {}, ending in {last}, an intermediate append of {}, which appended to key {k} again later",
                            who(txns, t),
                            list(read),
                            who(txns, w)
                        ),
                    });
                }
            }
            if is_prefix(read, order)
                && let Some(&next) = order.get(read.len())
                && let Some(w) = idx.writer_of(key, next)
            {
                edges.add(t, w, RW);
            }
        }
        // Lost update: two committed txns read the same version and both
        // appended to the key.
        ext.retain(|&(t, r)| {
            txns.mops(t)
                .iter()
                .any(|m| m.kind == MopKind::Write && m.key == r.key)
                && is_prefix(txns.slice(key, r.start, r.len), order)
        });
        ext.sort_unstable_by_key(|&(t, r)| (r.len, t));
        for group in ext.chunk_by(|a, b| a.1.len == b.1.len) {
            if group.len() < 2 {
                continue;
            }
            let read = txns.slice(key, group[0].1.start, group[0].1.len);
            let names: Vec<String> = group.iter().map(|&(t, _)| who(txns, t)).collect();
            found.push(Anomaly {
                kind: "lost-update",
                ops: group.iter().map(|&(t, _)| txns.txns[t as usize].op_index()).collect(),
                key: Some(k),
                cycle: Vec::new(),
                explanation: format!(
                    "{} all read key {k} as {} and all appended to it: one's update is lost to the others",
                    names.join(", "),
                    list(read)
                ),
            });
        }
    }
    Ok(idx)
}

/// Duplicates, aborted reads (G1a) and elements nobody appended, in one
/// read `read` by `t`; aborted reads are reported for every committed read
/// of the key that includes the element.
fn check_elements(
    txns: &Txns,
    idx: &AppendIndex,
    t: u32,
    key: u32,
    read: &[i64],
    reads: &[(u32, u32, u32)],
    found: &mut Anomalies,
) {
    let k = txns.keys[key as usize];
    let mut seen: rustc_hash::FxHashSet<i64> = rustc_hash::FxHashSet::default();
    let mut dup_reported = false;
    for (i, &v) in read.iter().enumerate() {
        if !seen.insert(v) && !dup_reported {
            dup_reported = true;
            found.push(Anomaly {
                kind: "duplicate-elements",
                ops: vec![txns.txns[t as usize].op_index()],
                key: Some(k),
                cycle: Vec::new(),
                explanation: format!(
                    "{} read key {k} as {}, which holds {v} more than once",
                    who(txns, t),
                    list(read)
                ),
            });
        }
        if idx.writer.contains_key(&(key, v)) {
            continue;
        }
        let failed = idx.failed.get(&(key, v)).copied();
        // Every read that includes the element saw it.
        for &(r, s, l) in reads {
            let other = txns.slice(key, s, l);
            if other.len() <= i || other[i] != v {
                continue;
            }
            found.push(match failed {
                Some(f) => Anomaly {
                    kind: "G1a",
                    ops: vec![txns.txns[f as usize].op_index(), txns.txns[r as usize].op_index()],
                    key: Some(k),
                    cycle: Vec::new(),
                    explanation: format!(
                        "{} read key {k} as {}, including {v}, which {} appended and which was aborted",
                        who(txns, r),
                        list(other),
                        who(txns, f)
                    ),
                },
                None => Anomaly {
                    kind: "garbage-read",
                    ops: vec![txns.txns[r as usize].op_index()],
                    key: Some(k),
                    cycle: Vec::new(),
                    explanation: format!(
                        "{} read key {k} as {}, including {v}, which no transaction appended",
                        who(txns, r),
                        list(other)
                    ),
                },
            });
        }
    }
}
